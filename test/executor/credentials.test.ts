/**
 * Warehouse credentials never reach the cloud: a whole hybrid flow (a plan to
 * prod, then a scheduled run) against a PostgreSQL warehouse reached with a
 * role whose password is made up for this test. Afterwards the password and
 * the executor's client secret are searched for in the cloud's store (the
 * SQLite file's bytes, or every PostgreSQL table), in every log line the
 * cloud wrote, and in every HTTP request and response exchanged. The only
 * place the client secret may appear is the body of its own token request.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { createLogger } from '../../src/cloud/logger.js';
import { ALL_ROUTES } from '../../src/cloud/routes.js';
import { tick } from '../../src/cloud/scheduler/scheduler.js';
import { startCloudServer } from '../../src/cloud/server.js';
import { bootstrap, createClient } from '../../src/cloud/tenancy.js';
import { Executor } from '../../src/executor/runtime.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { storeTargets } from '../helpers/stores.js';
import { cloudClient, DAY, submitPlan } from './hybrid-fixtures.js';

const targets = await storeTargets();
const JAN_10 = Date.UTC(2020, 0, 10);

interface Exchange {
  method: string;
  url: string;
  requestBody: string;
  status: number;
  responseBody: string;
}

/** Every way a secret could be spelled in text: as is, URL-encoded, JSON-escaped, base64. */
function spellings(secret: string): string[] {
  return [
    secret,
    encodeURIComponent(secret),
    JSON.stringify(secret).slice(1, -1),
    Buffer.from(secret).toString('base64'),
  ];
}

function hits(haystack: string | Buffer, secret: string): number {
  const text = typeof haystack === 'string' ? haystack : haystack.toString('latin1');
  return spellings(secret).filter((s) => text.includes(s)).length;
}

function writeProject(dir: string, database: string, user: string): void {
  mkdirSync(join(dir, 'models'), { recursive: true });
  // The project's own gateway has no password: the executor's settings supply it.
  writeFileSync(
    join(dir, 'config.yaml'),
    [
      'gateways:',
      '  warehouse:',
      '    connection:',
      '      type: postgres',
      '      host: 127.0.0.1',
      `      database: ${database}`,
      `      user: ${user}`,
      'default_gateway: warehouse',
      'model_defaults:',
      '  dialect: postgres',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'models', 'daily.sql'),
    [
      'MODEL (',
      '  name demo.daily,',
      '  kind INCREMENTAL_BY_TIME_RANGE (time_column day, batch_size 1),',
      "  start '2020-01-01',",
      "  cron '@daily'",
      ');',
      'SELECT CAST(@start_ds AS DATE) AS day, g AS n',
      'FROM generate_series(1, 10) AS g',
      'WHERE CAST(@start_ds AS DATE) BETWEEN @start_date AND @end_date',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'models', 'totals.sql'),
    [
      'MODEL (',
      '  name demo.totals,',
      '  kind FULL,',
      "  cron '@daily'",
      ');',
      'SELECT COUNT(*) AS days, SUM(n) AS total FROM demo.daily',
      '',
    ].join('\n'),
  );
}

for (const target of targets) {
  describe(`credentials stay with the executor (cloud store on ${target.kind})`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tideline-creds-'));
    after(() => rmSync(dir, { recursive: true, force: true }));

    it(
      'no password or client secret in the store, the logs or any exchange',
      { timeout: 60_000 },
      async () => {
        // The warehouse: its own database and a role with a fresh random password.
        const warehouse = await createTestDatabase();
        after(() => warehouse.drop());
        const role = `tl_exec_${randomBytes(4).toString('hex')}`;
        const password = `pw-${randomBytes(18).toString('hex')}`;
        const su = new pg.Client({ connectionString: warehouse.url });
        await su.connect();
        try {
          await su.query(`CREATE ROLE "${role}" LOGIN`);
          await su.query(`ALTER ROLE "${role}" PASSWORD '${password}'`);
          await su.query(`GRANT ALL ON DATABASE "${warehouse.name}" TO "${role}"`);
          await su.query(`ALTER DATABASE "${warehouse.name}" OWNER TO "${role}"`);
        } finally {
          await su.end();
        }

        // The cloud, with every log line kept.
        const logLines: string[] = [];
        const stateUrl = await target.newUrl();
        const server = await startCloudServer({
          state: stateUrl,
          log: createLogger({ level: 'debug', write: (l) => logLines.push(l) }),
          settings: { secureCookies: false },
          clock: { now: () => now },
          routes: ALL_ROUTES,
        });
        let closed = false;
        after(async () => {
          if (!closed) await server.close();
        });
        let now = JAN_10;
        const { project: proj, client: adminClient } = await bootstrap(
          server.ctx,
          'acme',
          'analytics',
        );
        const executorClient = await createClient(server.ctx, proj.id, {
          name: 'executors',
          role: 'executor',
        });
        const projectUrl = `${server.url}/sqlmesh/acme/analytics`;
        const secret = executorClient.clientSecret;

        // Every HTTP exchange of this process (CLI side and executors).
        const exchanges: Exchange[] = [];
        const realFetch = globalThis.fetch;
        globalThis.fetch = async (input, init) => {
          const url = input instanceof Request ? input.url : String(input);
          const requestBody =
            typeof init?.body === 'string'
              ? init.body
              : init?.body instanceof URLSearchParams
                ? init.body.toString()
                : init?.body === undefined || init.body === null
                  ? ''
                  : `<${typeof init.body}>`;
          const res = await realFetch(input, init);
          const responseBody = await res.clone().text();
          exchanges.push({
            method: init?.method ?? 'GET',
            url,
            requestBody,
            status: res.status,
            responseBody,
          });
          return res;
        };
        after(() => {
          globalThis.fetch = realFetch;
        });

        const project = join(dir, 'project');
        writeProject(project, warehouse.name, role);
        const env = {
          TCLOUD_URL: projectUrl,
          TCLOUD_CLIENT_ID: executorClient.clientId,
          TCLOUD_CLIENT_SECRET: secret,
          SQLMESH__GATEWAYS__WAREHOUSE__CONNECTION__TYPE: 'postgres',
          SQLMESH__GATEWAYS__WAREHOUSE__CONNECTION__HOST: warehouse.config.host,
          SQLMESH__GATEWAYS__WAREHOUSE__CONNECTION__PORT: String(warehouse.config.port),
          SQLMESH__GATEWAYS__WAREHOUSE__CONNECTION__DATABASE: warehouse.name,
          SQLMESH__GATEWAYS__WAREHOUSE__CONNECTION__USER: role,
          SQLMESH__GATEWAYS__WAREHOUSE__CONNECTION__PASSWORD: password,
        };
        const executorLines: string[] = [];
        const executor = (kind: 'apply' | 'run') =>
          new Executor({
            kind,
            env,
            once: true,
            claimWaitMs: 2_000,
            log: (l) => executorLines.push(l),
          });

        // A plan to prod, applied by an apply executor.
        const admin = cloudClient(projectUrl, adminClient);
        const plan = await submitPlan(admin, project, now);
        const apply = executor('apply');
        await apply.run();
        assert.equal(apply.stats.completed, 1, executorLines.join('\n'));

        // A day later a scheduled run, evaluated by run executors.
        now += DAY;
        const ticked = await tick(server.ctx, now);
        assert.equal(ticked.created.length, 1);
        const runId = ticked.created[0]!.runId;
        const openTasks = async () =>
          (
            await server.ctx.store.db
              .selectFrom('tasks')
              .select('status')
              .where('run_id', '=', runId)
              .execute()
          ).filter((t) => t.status !== 'succeeded').length;
        for (let i = 0; i < 4 && (await openTasks()) > 0; i++) await executor('run').run();
        assert.equal(await openTasks(), 0, executorLines.join('\n'));
        await tick(server.ctx, now);
        const runs = await server.ctx.store.db.selectFrom('runs').select('status').execute();
        assert.deepEqual(
          runs.map((r) => r.status),
          ['succeeded'],
        );

        // The data is in the warehouse, written by the role.
        const check = new pg.Client({
          host: warehouse.config.host,
          port: warehouse.config.port,
          database: warehouse.name,
          user: role,
          password,
        });
        await check.connect();
        try {
          const totals = await check.query('SELECT days, total FROM demo.totals');
          assert.deepEqual(
            totals.rows.map((r: { days: string; total: string }) => [
              Number(r.days),
              Number(r.total),
            ]),
            [[100, 550]],
          );
        } finally {
          await check.end();
        }
        assert.ok(plan.id);

        // The exchanges: nothing but the executor's own token requests carry its secret.
        assert.ok(exchanges.length > 10);
        const tokenRequests = exchanges.filter(
          (e) =>
            e.url === `${projectUrl}/oauth/token` &&
            new URLSearchParams(e.requestBody).get('client_id') === executorClient.clientId,
        );
        assert.ok(tokenRequests.length >= 1);
        // The search would see the secret where it is sent by design.
        assert.ok(hits(tokenRequests[0]!.requestBody, secret) > 0);
        for (const e of exchanges) {
          const where = `${e.method} ${e.url}`;
          assert.equal(hits(e.requestBody, password), 0, `the password went out in ${where}`);
          assert.equal(hits(e.responseBody, password), 0, `the password came back in ${where}`);
          assert.equal(hits(e.responseBody, secret), 0, `the secret came back in ${where}`);
          if (!tokenRequests.includes(e)) {
            assert.equal(hits(e.requestBody, secret), 0, `the secret went out in ${where}`);
          }
        }

        // The cloud's log lines.
        assert.ok(logLines.length > 0);
        for (const line of logLines) {
          assert.equal(hits(line, password), 0, `the password is in a cloud log line: ${line}`);
          assert.equal(hits(line, secret), 0, `the client secret is in a cloud log line: ${line}`);
        }

        // The stored client is a hash, not the secret.
        const stored = await server.ctx.store.db
          .selectFrom('oauth_clients')
          .select('secret_hash')
          .where('id', '=', executorClient.clientId)
          .executeTakeFirstOrThrow();
        assert.notEqual(stored.secret_hash, secret);
        assert.equal(hits(stored.secret_hash, secret), 0);

        // The store itself: every byte of the SQLite file, or every row of every table.
        closed = true;
        await server.close();
        let dump: string | Buffer;
        if (target.kind === 'sqlite') {
          const file = stateUrl.replace(/^sqlite:/, '');
          const parts = [file, `${file}-wal`, `${file}-journal`].filter((f) => existsSync(f));
          dump = Buffer.concat(parts.map((f) => readFileSync(f)));
          assert.ok(dump.length > 4096);
          assert.ok(dump.includes(executorClient.clientId), 'the search reads the store');
        } else {
          const store = new pg.Client({ connectionString: stateUrl });
          await store.connect();
          try {
            const tables = await store.query<{ s: string; t: string }>(
              `SELECT table_schema AS s, table_name AS t FROM information_schema.tables
              WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
                AND table_type = 'BASE TABLE'`,
            );
            assert.ok(tables.rows.length > 5);
            const chunks: string[] = [];
            for (const { s, t } of tables.rows) {
              const rows = await store.query(`SELECT * FROM "${s}"."${t}"`);
              chunks.push(JSON.stringify(rows.rows));
            }
            dump = chunks.join('\n');
            assert.ok(dump.includes(executorClient.clientId), 'the search reads the store');
          } finally {
            await store.end();
          }
        }
        assert.equal(hits(dump, password), 0, 'the password is in the store');
        assert.equal(hits(dump, secret), 0, 'the client secret is in the store');
      },
    );
  });
}
