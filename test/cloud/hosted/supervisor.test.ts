/**
 * The supervisor of cloud-hosted executors with stand-in child processes
 * (a small Node script that records its arguments and environment): what
 * each child is given, SIGKILL after the grace period for a child that
 * ignores SIGTERM, restarts, and what happens when a project's
 * connections are deleted or cannot be opened. On both stores.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { tokenRoutes } from '../../../src/cloud/auth/token-routes.js';
import { createConnectionRoutes } from '../../../src/cloud/connections/connection-routes.js';
import { MASTER_KEY_ENV, decodeMasterKey } from '../../../src/cloud/connections/master-key.js';
import {
  HOSTED_CLIENT_NAME,
  HostedExecutors,
  loopbackUrl,
} from '../../../src/cloud/hosted/hosted-executors.js';
import { startTestCloud, type TestCloud } from '../../helpers/cloud.js';
import { storeTargets } from '../../helpers/stores.js';

const targets = await storeTargets();

/** Records argv and env to <FAKE_DIR>/<pid>.json, logs a JSON line, then idles. */
const FAKE_CHILD = `
const fs = require('node:fs');
const path = require('node:path');
// The signal handler first: the record below tells the test the child is ready.
if (process.env.FAKE_IGNORE_TERM) process.on('SIGTERM', () => {});
else process.on('SIGTERM', () => process.exit(0));
fs.writeFileSync(path.join(process.env.FAKE_DIR, process.pid + '.json'),
  JSON.stringify({ argv: process.argv.slice(1), env: process.env }));
console.error(JSON.stringify({ level: 'info', msg: 'fake executor up' }));
setInterval(() => {}, 1000);
`;

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  ms = 10_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Recorded {
  argv: string[];
  env: Record<string, string>;
}

function recorded(dir: string, pid: number): Recorded | undefined {
  const file = join(dir, `${pid}.json`);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Recorded;
  } catch {
    return undefined; // still being written
  }
}

async function putDuckDb(cloud: TestCloud, gateway: string, file: string) {
  const res = await cloud.api(`/connections/${gateway}`, {
    method: 'PUT',
    body: `type: duckdb\ndatabase: ${JSON.stringify(file)}\n`,
    headers: { 'content-type': 'application/yaml' },
  });
  assert.ok(res.status === 201 || res.status === 200, JSON.stringify(res.body));
}

describe('the loopback address', () => {
  it('turns wildcard listen addresses into loopback ones', () => {
    assert.equal(loopbackUrl('0.0.0.0', 8000), 'http://127.0.0.1:8000');
    assert.equal(loopbackUrl('::', 8000), 'http://[::1]:8000');
    assert.equal(loopbackUrl('127.0.0.1', 9), 'http://127.0.0.1:9');
    assert.equal(loopbackUrl('::1', 9), 'http://[::1]:9');
  });
});

for (const target of targets) {
  describe(`the hosted executors supervisor on ${target.kind}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tideline-sup-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const keyText = randomBytes(32).toString('base64');
    const key = decodeMasterKey(MASTER_KEY_ENV, keyText);
    const hosted = new HostedExecutors({
      masterKey: key,
      runExecutors: 2,
      applyExecutors: 1,
      command: { execPath: process.execPath, args: ['-e', FAKE_CHILD] },
      graceMs: 400,
      restartDelayMs: 50,
      maxRestartDelayMs: 200,
      pollMs: 60_000,
      env: { FAKE_DIR: dir },
      baseEnv: {
        PATH: process.env['PATH'],
        [MASTER_KEY_ENV]: keyText,
        TIDELINE_STATE_URL: 'postgres://u:p@h/db',
      },
    });
    const cloud = await startTestCloud(target, {
      routes: [tokenRoutes, createConnectionRoutes({ masterKey: key, dataDir: dir })],
      services: [hosted],
    });
    after(() => hosted.stop());
    hosted.listening(`${cloud.server.url}/`);
    const db = cloud.server.ctx.store.db;

    it('gives each child the executor environment, and nothing secret of the cloud', async () => {
      await putDuckDb(cloud, 'local', join(dir, 'local.db'));
      const children = await until('three children', () => {
        const c = hosted.children().filter((x) => x.pid !== undefined);
        return c.length === 3 ? c : undefined;
      });
      assert.deepEqual(children.map((c) => c.name).sort(), [
        'cloud-apply-1',
        'cloud-run-1',
        'cloud-run-2',
      ]);
      const client = await db
        .selectFrom('oauth_clients')
        .selectAll()
        .where('project_id', '=', cloud.projectId)
        .where('name', '=', HOSTED_CLIENT_NAME)
        .executeTakeFirstOrThrow();
      assert.equal(client.role, 'executor');
      for (const child of children) {
        const rec = await until(`${child.name} to record`, () => recorded(dir, child.pid!));
        assert.deepEqual(rec.argv.slice(0, 4), ['executor', child.kind, '--hosting', 'cloud']);
        assert.equal(rec.env['TCLOUD_URL'], `${cloud.projectUrl}`);
        assert.equal(rec.env['TCLOUD_EXECUTOR_NAME'], child.name);
        assert.equal(rec.env['TCLOUD_CLIENT_ID'], client.id);
        assert.equal(rec.env['SQLMESH__GATEWAYS__LOCAL__CONNECTION__TYPE'], 'duckdb');
        assert.equal(
          rec.env['SQLMESH__GATEWAYS__LOCAL__CONNECTION__DATABASE'],
          join(dir, 'local.db'),
        );
        assert.equal(rec.env['SQLMESH__DEFAULT_GATEWAY'], 'local');
        assert.equal(rec.env[MASTER_KEY_ENV], undefined);
        assert.equal(rec.env['TIDELINE_STATE_URL'], undefined);
        assert.ok(!JSON.stringify(rec.env).includes(keyText));
      }
      // The secret is the client's: it gets an executor token.
      const rec = recorded(dir, children[0]!.pid!)!;
      const token = await fetch(`${cloud.projectUrl}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: rec.env['TCLOUD_CLIENT_ID']!,
          client_secret: rec.env['TCLOUD_CLIENT_SECRET']!,
        }),
      });
      assert.equal(token.status, 200);
      assert.equal(((await token.json()) as { scope: string }).scope, 'executor');
      // ... and only its hash is stored.
      assert.ok(!JSON.stringify(client).includes(rec.env['TCLOUD_CLIENT_SECRET']!));
    });

    it('restarts a child that exits, each time it exits', async () => {
      const victim = hosted.children().find((c) => c.name === 'cloud-run-2')!;
      process.kill(victim.pid!, 'SIGKILL');
      const second = await until('a restart', () => {
        const c = hosted.children().find((x) => x.name === 'cloud-run-2');
        return c?.pid !== undefined && c.pid !== victim.pid ? c : undefined;
      });
      process.kill(second.pid!, 'SIGKILL');
      const third = await until('another restart', () => {
        const c = hosted.children().find((x) => x.name === 'cloud-run-2');
        return c?.pid !== undefined && c.pid !== second.pid ? c : undefined;
      });
      assert.equal(third.restarts, victim.restarts + 2);
      assert.equal(hosted.children().length, 3);
    });

    it('stops the children and revokes the client when the connections are deleted', async () => {
      const pids = hosted.children().map((c) => c.pid!);
      const deleted = await cloud.api('/connections/local', { method: 'DELETE' });
      assert.equal(deleted.status, 200);
      await until('the children to stop', () =>
        hosted.children().length === 0 ? true : undefined,
      );
      for (const pid of pids) assert.ok(!alive(pid), `${pid} stopped`);
      const revoked = await db
        .selectFrom('oauth_clients')
        .select('revoked_ts')
        .where('project_id', '=', cloud.projectId)
        .where('name', '=', HOSTED_CLIENT_NAME)
        .execute();
      assert.ok(revoked.length >= 1 && revoked.every((r) => r.revoked_ts !== null));
    });

    it('starts nothing for a project whose connections cannot be opened', async () => {
      await putDuckDb(cloud, 'local', join(dir, 'local.db'));
      await until('children again', () => (hosted.children().length === 3 ? true : undefined));
      await db
        .updateTable('connections')
        .set({ encrypted: 'v1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAA' })
        .where('project_id', '=', cloud.projectId)
        .execute();
      await hosted.reconcileNow();
      assert.deepEqual(hosted.children(), []);
    });

    it('kills a child that ignores SIGTERM after the grace period when stopping', async () => {
      const ignoring = new HostedExecutors({
        masterKey: key,
        runExecutors: 1,
        applyExecutors: 0,
        command: { execPath: process.execPath, args: ['-e', FAKE_CHILD] },
        graceMs: 300,
        pollMs: 60_000,
        env: { FAKE_DIR: dir, FAKE_IGNORE_TERM: '1' },
        cloudUrl: cloud.server.url,
      });
      await putDuckDb(cloud, 'local', join(dir, 'local.db'));
      ignoring.start(cloud.server.ctx);
      const child = await until('the child', () =>
        ignoring.children().find((c) => c.pid !== undefined),
      );
      await until('it to record', () => recorded(dir, child.pid!));
      const started = Date.now();
      await ignoring.stop();
      const took = Date.now() - started;
      assert.ok(!alive(child.pid!), 'killed');
      assert.ok(took >= 250, `waited the grace period (${took} ms)`);
    });
  });
}
