/**
 * The connections API on both stores: admins save, list and delete
 * connections; other roles are refused; settings never come back and the
 * store holds only ciphertext; a connection that fails its test (refused
 * port, wrong password on a real PostgreSQL, unreachable file) is answered
 * 422 and not saved; bad input of every kind is a one-line 4xx.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tokenRoutes } from '../../../src/cloud/auth/token-routes.js';
import { ConnectionDecryptError } from '../../../src/cloud/connections/connection-crypto.js';
import { MAX_CONNECTION_BYTES } from '../../../src/cloud/connections/connection-input.js';
import { createConnectionRoutes } from '../../../src/cloud/connections/connection-routes.js';
import { openConnections } from '../../../src/cloud/connections/connection-store.js';
import {
  MASTER_KEY_ENV,
  decodeMasterKey,
  type MasterKey,
} from '../../../src/cloud/connections/master-key.js';
import { startTestCloud, type TestCloud } from '../../helpers/cloud.js';
import { withTestDatabase } from '../../helpers/postgres.js';
import { storeTargets } from '../../helpers/stores.js';
import { freePort } from '../../helpers/pg-server.js';

const targets = await storeTargets();
const warehouse = await withTestDatabase();
const dir = mkdtempSync(join(tmpdir(), 'tideline-conn-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const newKey = () => decodeMasterKey(MASTER_KEY_ENV, randomBytes(32).toString('base64'));

function postgresYaml(overrides: Record<string, string | number> = {}): string {
  const c = warehouse.config;
  const fields: Record<string, string | number> = {
    type: 'postgres',
    host: c.host,
    port: c.port,
    user: c.user,
    password: c.password ?? '',
    database: c.database,
    ...overrides,
  };
  return Object.entries(fields)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? JSON.stringify(v) : v}`)
    .join('\n');
}

function putYaml(cloud: TestCloud, gateway: string, yaml: string, token?: string) {
  return cloud.api(`/connections/${gateway}`, {
    method: 'PUT',
    body: yaml,
    headers: { 'content-type': 'application/yaml' },
    ...(token !== undefined ? { token } : {}),
  });
}

async function storedRows(cloud: TestCloud) {
  return cloud.server.ctx.store.db
    .selectFrom('connections')
    .selectAll()
    .where('project_id', '=', cloud.projectId)
    .orderBy('gateway')
    .execute();
}

function assertOneLine(res: { status: number; body: unknown }, what: string): string {
  const message = (res.body as { error?: { message?: unknown } })?.error?.message;
  assert.equal(typeof message, 'string', `${what}: ${JSON.stringify(res.body)}`);
  assert.ok(!(message as string).includes('\n'), `${what}: ${String(message)}`);
  assert.ok((message as string).length <= 400, `${what}: message of ${(message as string).length}`);
  return message as string;
}

for (const target of targets) {
  describe(`the connections API on ${target.kind}`, async () => {
    const key = newKey();
    let current: MasterKey | undefined = key;
    const cloud = await startTestCloud(target, {
      routes: [
        tokenRoutes,
        createConnectionRoutes({ masterKey: () => current, testTimeoutMs: 8_000, dataDir: dir }),
      ],
    });
    const password = warehouse.config.password ?? '';
    assert.ok(password.length >= 3, 'the test PostgreSQL has a password');

    it('lets admins save, list and delete; refuses other roles with 403', async () => {
      const created = await putYaml(cloud, 'warehouse', postgresYaml());
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.created, true);
      assert.equal(created.body.connection.gateway, 'warehouse');
      assert.equal(created.body.connection.engine, 'postgres');
      assert.equal(created.body.connection.default, true);
      assert.equal(created.headers.get('cache-control'), 'no-store');

      // Replacing, as JSON this time; the gateway name is case-insensitive.
      const replaced = await cloud.api('/connections/Warehouse', {
        method: 'PUT',
        body: { yaml: postgresYaml({ connect_timeout: 5 }) },
      });
      assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
      assert.equal(replaced.body.created, false);
      assert.equal(replaced.body.connection.gateway, 'warehouse');

      const local = await putYaml(
        cloud,
        'local',
        `type: duckdb\ndatabase: ${JSON.stringify(join(dir, 'local.db'))}\n`,
      );
      assert.equal(local.status, 201, JSON.stringify(local.body));
      assert.equal(local.body.connection.default, false);

      const listed = await cloud.api('/connections');
      assert.equal(listed.status, 200);
      assert.deepEqual(
        listed.body.connections.map((c: { gateway: string; engine: string }) => [
          c.gateway,
          c.engine,
        ]),
        [
          ['local', 'duckdb'],
          ['warehouse', 'postgres'],
        ],
      );
      for (const c of listed.body.connections) {
        assert.deepEqual(Object.keys(c).sort(), [
          'createdTs',
          'default',
          'engine',
          'gateway',
          'updatedTs',
        ]);
      }

      for (const role of ['viewer', 'developer', 'executor'] as const) {
        const token = await cloud.token(cloud.clients[role]);
        const put = await putYaml(cloud, 'other', postgresYaml(), token);
        assert.equal(put.status, 403, `${role} PUT`);
        assert.match(
          assertOneLine(put, role),
          new RegExp(`role ${role} may not manage connections`),
        );
        assert.equal((await cloud.api('/connections', { token })).status, 403, `${role} GET`);
        const del = await cloud.api('/connections/local', { method: 'DELETE', token });
        assert.equal(del.status, 403, `${role} DELETE`);
      }
      assert.equal((await cloud.api('/connections', { token: null })).status, 401);
      assert.equal((await storedRows(cloud)).length, 2);

      const deleted = await cloud.api('/connections/local', { method: 'DELETE' });
      assert.equal(deleted.status, 200);
      assert.deepEqual(deleted.body, { deleted: 'local' });
      const again = await cloud.api('/connections/local', { method: 'DELETE' });
      assert.equal(again.status, 404);
      assertOneLine(again, 'second delete');
      assert.deepEqual(
        (await cloud.api('/connections')).body.connections.map(
          (c: { gateway: string }) => c.gateway,
        ),
        ['warehouse'],
      );
    });

    it('never returns settings; the store holds only ciphertext', async () => {
      const saved = await putYaml(cloud, 'secretive', postgresYaml());
      assert.equal(saved.status, 201, JSON.stringify(saved.body));
      const answers = [
        JSON.stringify(saved.body),
        JSON.stringify((await cloud.api('/connections')).body),
      ];
      for (const text of answers) {
        assert.ok(!text.includes(password), 'no password in an answer');
        assert.ok(!text.includes(warehouse.config.database), 'no database name in an answer');
        assert.ok(!text.includes(warehouse.config.host), 'no host in an answer');
      }
      const rows = await storedRows(cloud);
      const row = rows.find((r) => r.gateway === 'secretive')!;
      assert.ok(!JSON.stringify(rows).includes(password), 'no password in the table');
      assert.match(row.encrypted, /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      // The key opens it, and it holds what was sent.
      const opened = await openConnections(cloud.server.ctx, key, cloud.projectId);
      const text = opened.find((c) => c.gateway === 'secretive')!.text;
      assert.match(text, new RegExp(`password: .*${password.replace(/[^A-Za-z0-9]/g, '.')}`));
    });

    it('fails to open a tampered, moved or wrongly keyed ciphertext with a clear error', async () => {
      const db = cloud.server.ctx.store.db;
      assert.equal((await putYaml(cloud, 'tamper', postgresYaml())).status, 201);
      const row = (await storedRows(cloud)).find((r) => r.gateway === 'tamper')!;
      const wrongKey = newKey();
      await assert.rejects(
        openConnections(cloud.server.ctx, wrongKey, cloud.projectId),
        (err: unknown) =>
          err instanceof ConnectionDecryptError &&
          /cannot decrypt the stored connection of gateway "[a-z]+": the master key/.test(
            err.message,
          ),
      );
      const last = row.encrypted.slice(-2, -1) === 'A' ? 'B' : 'A';
      const altered = `${row.encrypted.slice(0, -2)}${last}${row.encrypted.slice(-1)}`;
      await db
        .updateTable('connections')
        .set({ encrypted: altered })
        .where('project_id', '=', cloud.projectId)
        .where('gateway', '=', 'tamper')
        .execute();
      await assert.rejects(
        openConnections(cloud.server.ctx, key, cloud.projectId),
        (err: unknown) =>
          err instanceof ConnectionDecryptError &&
          err.message.includes('gateway "tamper"') &&
          err.message.includes('altered'),
      );
      // The original ciphertext under another gateway's row does not open either.
      await db
        .updateTable('connections')
        .set({ encrypted: row.encrypted })
        .where('project_id', '=', cloud.projectId)
        .where('gateway', '=', 'warehouse')
        .execute();
      await db
        .deleteFrom('connections')
        .where('project_id', '=', cloud.projectId)
        .where('gateway', '=', 'tamper')
        .execute();
      await assert.rejects(
        openConnections(cloud.server.ctx, key, cloud.projectId),
        (err: unknown) =>
          err instanceof ConnectionDecryptError && err.message.includes('"warehouse"'),
      );
      // Saving again repairs it.
      assert.equal((await putYaml(cloud, 'warehouse', postgresYaml())).status, 200);
      await openConnections(cloud.server.ctx, key, cloud.projectId);
    });

    it('answers 422 with the engine reason when the connection test fails, saving nothing', async () => {
      const before = await storedRows(cloud);
      const port = await freePort();
      const cases: Array<[string, string, RegExp]> = [
        ['refused', postgresYaml({ host: '127.0.0.1', port }), /connection refused/],
        [
          'wrong password',
          postgresYaml({ password: 'wrong-password-123' }),
          /password authentication failed/,
        ],
        [
          'unknown database',
          postgresYaml({ database: 'no_such_database_here' }),
          /no_such_database_here/,
        ],
        [
          'duckdb in a missing folder',
          `type: duckdb\ndatabase: ${JSON.stringify(join(dir, 'missing', 'deeper', 'x.db'))}`,
          /./,
        ],
      ];
      for (const [what, yaml, reason] of cases) {
        // Replacing a good connection with a failing one keeps the good one.
        const res = await putYaml(cloud, 'warehouse', yaml);
        assert.equal(res.status, 422, `${what}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, 'connection_test_failed');
        const message = assertOneLine(res, what);
        assert.match(message, /connection of gateway "warehouse" failed its test: /);
        assert.match(message, reason, what);
        assert.ok(!message.includes('wrong-password-123'), `${what}: the password is not echoed`);
        const fresh = await putYaml(cloud, 'fresh', yaml);
        assert.equal(fresh.status, 422, `${what} (new gateway)`);
      }
      assert.deepEqual(await storedRows(cloud), before);
    });

    it('answers bad input with a one-line 4xx and stores nothing', async () => {
      const before = await storedRows(cloud);
      const yamlCases: Array<[string, string, number, RegExp]> = [
        [
          'malformed YAML',
          'type: postgres\nhost: [unclosed\n',
          400,
          /not valid YAML: line \d+, column \d+/,
        ],
        ['duplicate keys', 'type: duckdb\ntype: postgres\n', 400, /not valid YAML: .*unique/i],
        ['several documents', 'type: duckdb\n---\ntype: duckdb\n', 400, /not valid YAML/],
        ['a list', '- type: duckdb\n', 400, /must be a mapping of connection settings/],
        ['a scalar', 'just some words', 400, /must be a mapping/],
        ['an empty body', '', 400, /must be a mapping/],
        ['no type', 'host: localhost\n', 400, /no connection type/],
        ['an unknown key', 'type: duckdb\nflavour: mint\n', 400, /flavour/],
        [
          'a wrong type',
          'type: postgres\nhost: h\nuser: u\ndatabase: d\nport: many\n',
          400,
          /connections\.gw\.port/,
        ],
        [
          'a port out of range',
          'type: postgres\nhost: h\nuser: u\ndatabase: d\nport: 70000\n',
          400,
          /port/,
        ],
        ['a missing host', 'type: postgres\nuser: u\ndatabase: d\n', 400, /needs `host`/],
        [
          'an engine not supported',
          'type: snowflake\naccount: x\n',
          400,
          /does not support the snowflake engine/,
        ],
        [
          'an SQL-looking engine',
          `type: "duckdb'; DROP TABLE connections; --"\n`,
          400,
          /unknown connection type/,
        ],
        ['an alias', 'base: &b duckdb\ntype: *b\n', 400, /alias|base/],
        ['an unknown tag', 'type: !!js/function "f()"\n', 400, /not valid YAML|tag/i],
        ['a NUL character', 'type: duckdb\u0000\n', 400, /NUL/],
        ['a list where a mapping goes', 'type: duckdb\ncatalogs: [a, b]\n', 400, /catalogs/],
        [
          'a password of the wrong type',
          'type: postgres\nhost: h\nuser: u\ndatabase: d\npassword: [s3cr3t-value]\n',
          400,
          /password/,
        ],
        [
          'a huge body',
          `type: duckdb\n# ${'x'.repeat(MAX_CONNECTION_BYTES)}\n`,
          413,
          /larger than/,
        ],
      ];
      for (const [what, yaml, status, pattern] of yamlCases) {
        const res = await putYaml(cloud, 'gw', yaml);
        assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body).slice(0, 300)}`);
        assert.match(assertOneLine(res, what), pattern, what);
        assert.ok(!JSON.stringify(res.body).includes('s3cr3t-value'), `${what}: no secret echoed`);
      }

      const otherCases: Array<[string, string, { body: unknown; type: string }, number, RegExp]> = [
        [
          'an SQL-looking gateway',
          `/connections/${encodeURIComponent("x'; DROP TABLE connections; --")}`,
          { body: 'type: duckdb', type: 'application/yaml' },
          400,
          /is not a gateway name/,
        ],
        [
          'a double underscore in the gateway',
          '/connections/a__b',
          { body: 'type: duckdb', type: 'application/yaml' },
          400,
          /single underscores/,
        ],
        [
          'a gateway too long',
          `/connections/${'g'.repeat(64)}`,
          { body: 'type: duckdb', type: 'text/yaml' },
          400,
          /gateway name/,
        ],
        [
          'plain text',
          '/connections/gw',
          { body: 'type: duckdb', type: 'text/plain' },
          415,
          /application\/yaml/,
        ],
        [
          'malformed JSON',
          '/connections/gw',
          { body: '{"yaml": ', type: 'application/json' },
          400,
          /not valid JSON/,
        ],
        [
          'an unknown JSON field',
          '/connections/gw',
          { body: JSON.stringify({ yaml: 'type: duckdb', host: 'x' }), type: 'application/json' },
          400,
          /unknown field/,
        ],
        [
          'a JSON number',
          '/connections/gw',
          { body: JSON.stringify({ yaml: 5 }), type: 'application/json' },
          400,
          /yaml/,
        ],
        [
          'a JSON string too long',
          '/connections/gw',
          {
            body: JSON.stringify({ yaml: 'x'.repeat(MAX_CONNECTION_BYTES + 1) }),
            type: 'application/json',
          },
          400,
          /at most/,
        ],
        [
          'a JSON body too large',
          '/connections/gw',
          {
            body: JSON.stringify({ yaml: '\u0001'.repeat(MAX_CONNECTION_BYTES) }),
            type: 'application/json',
          },
          413,
          /larger than/,
        ],
      ];
      for (const [what, path, { body, type }, status, pattern] of otherCases) {
        const res = await cloud.api(path, {
          method: 'PUT',
          body: body as string,
          headers: { 'content-type': type },
        });
        assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body).slice(0, 300)}`);
        assert.match(assertOneLine(res, what), pattern, what);
      }
      const badDelete = await cloud.api(`/connections/${encodeURIComponent('1 OR 1=1')}`, {
        method: 'DELETE',
      });
      assert.equal(badDelete.status, 400);
      assertOneLine(badDelete, 'delete with a bad name');
      assert.deepEqual(await storedRows(cloud), before);
    });

    it('answers 503 saying how to set a master key when none is configured', async () => {
      current = undefined;
      try {
        for (const [method, path, body] of [
          ['PUT', '/connections/gw', 'type: duckdb'],
          ['GET', '/connections', undefined],
          ['DELETE', '/connections/warehouse', undefined],
        ] as const) {
          const res = await cloud.api(path, {
            method,
            ...(body !== undefined
              ? { body, headers: { 'content-type': 'application/yaml' } }
              : {}),
          });
          assert.equal(res.status, 503, `${method} ${path}`);
          assert.equal(res.body.error.code, 'no_master_key');
          const message = assertOneLine(res, `${method} ${path}`);
          assert.match(message, /TIDELINE_MASTER_KEY/);
          assert.match(message, /--master-key-file/);
        }
        // Roles are still checked first: a viewer learns nothing about the key.
        const viewer = await cloud.token(cloud.clients.viewer);
        assert.equal((await cloud.api('/connections', { token: viewer })).status, 403);
        assert.ok((await storedRows(cloud)).some((r) => r.gateway === 'warehouse'));
      } finally {
        current = key;
      }
    });
  });
}
