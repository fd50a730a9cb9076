/**
 * An executor process's life: a missing TCLOUD variable stops it at once,
 * the health port answers, SIGTERM drains (finishing work within the grace
 * period, or handing it back so another executor takes it at once), `--once`
 * handles one task, and TCLOUD_ENV_FILE changes apply from the next task.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createLeaseReaper } from '../../src/cloud/queue/lease-reaper.js';
import { ALL_ROUTES } from '../../src/cloud/routes.js';
import { tick } from '../../src/cloud/scheduler/scheduler.js';
import { Executor } from '../../src/executor/runtime.js';
import { startTestCloud } from '../helpers/cloud.js';
import { storeTargets } from '../helpers/stores.js';
import {
  cloudClient,
  DAY,
  duckdbConfig,
  eventsSummary,
  freePort,
  runCli,
  START,
  startCli,
  submitPlan,
  waitFor,
  withWarehouse,
  writeBackfillProject,
} from './hybrid-fixtures.js';

const targets = await storeTargets();
const sqlite = targets.find((t) => t.kind === 'sqlite')!;
const DAYS = 25;
const NOW = START + DAYS * DAY;

describe('an executor process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideline-lifecycle-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('stops at once, in one line naming it, when a TCLOUD variable is missing', async () => {
    for (const missing of ['TCLOUD_URL', 'TCLOUD_CLIENT_ID', 'TCLOUD_CLIENT_SECRET']) {
      const env: Record<string, string> = {
        TCLOUD_URL: 'http://127.0.0.1:9/sqlmesh/acme/analytics',
        TCLOUD_CLIENT_ID: 'tlc_x',
        TCLOUD_CLIENT_SECRET: 'tls_y',
        SQLMESH__GATEWAYS__DUCKDB__CONNECTION__TYPE: 'duckdb',
      };
      delete env[missing];
      const started = Date.now();
      const result = await runCli(['executor', 'run'], env, 15_000);
      assert.equal(result.code, 1);
      assert.ok(Date.now() - started < 10_000);
      assert.equal(result.stderr.filter((l) => l.trim()).length, 1, result.stderr.join('\n'));
      assert.match(result.stderr[0]!, new RegExp(`^Error: .*${missing}`));
    }
  });

  it(
    'serves /livez, /readyz and /metrics, 404 elsewhere; SIGTERM when idle exits 0',
    { timeout: 30_000 },
    async () => {
      const cloud = await startTestCloud(sqlite, { routes: ALL_ROUTES });
      const port = await freePort();
      const child = startCli(
        ['executor', 'run', '--health-port', String(port), '--health-host', '127.0.0.1'],
        {
          TCLOUD_URL: cloud.projectUrl,
          TCLOUD_CLIENT_ID: cloud.clients.executor.clientId,
          TCLOUD_CLIENT_SECRET: cloud.clients.executor.clientSecret,
          SQLMESH__GATEWAYS__DUCKDB__CONNECTION__TYPE: 'duckdb',
          SQLMESH__GATEWAYS__DUCKDB__CONNECTION__DATABASE: join(dir, 'health.db'),
        },
      );
      after(() => child.kill('SIGKILL'));
      const base = `http://127.0.0.1:${port}`;
      const live = await waitFor('/livez', async () => {
        const res = await fetch(`${base}/livez`);
        return res.status === 200 ? res.text() : undefined;
      });
      assert.equal(live, 'ok\n');
      await waitFor('/readyz', async () => (await fetch(`${base}/readyz`)).status === 200);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.match(metrics, /tideline_executor_tasks_total\{kind="run",result="completed"\} 0/);
      assert.match(metrics, /tideline_executor_cloud_up\{kind="run"\} 1/);
      assert.match(metrics, /process_resident_memory_bytes \d+/);
      for (const path of ['/', '/health', '/metrics/x', '/livez/']) {
        assert.equal((await fetch(`${base}${path}`)).status, 404, path);
      }
      const stopped = Date.now();
      child.kill('SIGTERM');
      assert.equal(await child.exited, 0, child.stderr.join('\n'));
      assert.ok(Date.now() - stopped < 5_000, 'an idle executor stops at once');
    },
  );

  it(
    'SIGTERM finishes the running task within the grace period, then exits 0',
    { timeout: 60_000 },
    async () => {
      const cloud = await startTestCloud(sqlite, { routes: ALL_ROUTES });
      const base = join(dir, 'finish');
      mkdirSync(base);
      writeBackfillProject(join(base, 'project'), { rowsPerDay: 50_000 });
      const admin = cloudClient(cloud.projectUrl, cloud.clients.admin);
      const plan = await submitPlan(admin, join(base, 'project'), NOW);
      const child = startCli(['executor', 'apply', '--grace', '60'], {
        TCLOUD_URL: cloud.projectUrl,
        TCLOUD_CLIENT_ID: cloud.clients.executor.clientId,
        TCLOUD_CLIENT_SECRET: cloud.clients.executor.clientSecret,
        SQLMESH__GATEWAYS__DUCKDB__CONNECTION__TYPE: 'duckdb',
        SQLMESH__GATEWAYS__DUCKDB__CONNECTION__DATABASE: join(base, 'db.db'),
      });
      after(() => child.kill('SIGKILL'));
      const evaluations = () =>
        cloud.server.ctx.store.db
          .selectFrom('evaluations')
          .select('id')
          .where('plan_id', '=', plan.id)
          .execute();
      await waitFor(
        'a first evaluation',
        async () => (await evaluations()).length >= 1,
        30_000,
        20,
      );
      const stopping = Date.now();
      child.kill('SIGTERM');
      assert.equal(await child.exited, 0, child.stderr.join('\n'));
      assert.ok(
        Date.now() - stopping < 30_000,
        'exits once the work is done, not at the grace end',
      );
      const info = await admin.request<{ status: string }>('GET', `/plans/${plan.id}`);
      assert.equal(info.status, 'succeeded');
      assert.equal((await evaluations()).length, DAYS);
    },
  );

  it(
    'SIGTERM hands back what does not finish in the grace period; --once takes it and exits',
    { timeout: 60_000 },
    async () => {
      const cloud = await startTestCloud(sqlite, {
        routes: ALL_ROUTES,
        settings: { leaseTtlMs: 10_000, retryBackoffMs: 60_000 },
        services: [createLeaseReaper({ intervalMs: 200 })],
      });
      const base = join(dir, 'handback');
      mkdirSync(base);
      writeBackfillProject(join(base, 'project'), { rowsPerDay: 50_000 });
      const admin = cloudClient(cloud.projectUrl, cloud.clients.admin);
      const plan = await submitPlan(admin, join(base, 'project'), NOW);
      const env = {
        TCLOUD_URL: cloud.projectUrl,
        TCLOUD_CLIENT_ID: cloud.clients.executor.clientId,
        TCLOUD_CLIENT_SECRET: cloud.clients.executor.clientSecret,
        SQLMESH__GATEWAYS__DUCKDB__CONNECTION__TYPE: 'duckdb',
        SQLMESH__GATEWAYS__DUCKDB__CONNECTION__DATABASE: join(base, 'db.db'),
      };
      const first = startCli(['executor', 'apply', '--grace', '0.2'], env);
      after(() => first.kill('SIGKILL'));
      const db = cloud.server.ctx.store.db;
      await waitFor(
        'a first evaluation',
        async () =>
          (await db.selectFrom('evaluations').select('id').where('plan_id', '=', plan.id).execute())
            .length >= 1,
        30_000,
        20,
      );
      const stopping = Date.now();
      first.kill('SIGTERM');
      assert.equal(await first.exited, 0, first.stderr.join('\n'));
      assert.ok(
        Date.now() - stopping < 8_000,
        'stopped within the grace period (and the hand-back)',
      );
      assert.ok(
        first.stderr.some((l) => l.includes('handed back')),
        first.stderr.join('\n'),
      );
      // Handed back: claimable at once, and the attempt does not count.
      const task = await db
        .selectFrom('tasks')
        .select(['status', 'attempts', 'not_before_ts'])
        .where('plan_id', '=', plan.id)
        .executeTakeFirstOrThrow();
      assert.equal(task.status, 'pending', first.stderr.join('\n'));
      assert.equal(Number(task.attempts), 0);
      assert.ok(Number(task.not_before_ts) <= Date.now());
      const plans = await admin.request<{ status: string }>('GET', `/plans/${plan.id}`);
      assert.notEqual(plans.status, 'failed');

      const second = startCli(['executor', 'apply', '--once'], env);
      after(() => second.kill('SIGKILL'));
      assert.equal(await second.exited, 0, second.stderr.join('\n'));
      const info = await admin.request<{ status: string }>('GET', `/plans/${plan.id}`);
      assert.equal(info.status, 'succeeded');
      const rows = await eventsSummary(duckdbConfig(join(base, 'db.db')), base);
      assert.equal(rows.length, DAYS);
      for (const r of rows) assert.equal(r.rows, r.ids);
    },
  );

  it(
    'uses TCLOUD_ENV_FILE changes from the next task on, without a restart',
    { timeout: 60_000 },
    async () => {
      let now = START + 3 * DAY;
      const cloud = await startTestCloud(sqlite, { routes: ALL_ROUTES, clock: { now: () => now } });
      const base = join(dir, 'envfile');
      const [a, b] = [join(base, 'a'), join(base, 'b')];
      mkdirSync(a, { recursive: true });
      mkdirSync(b, { recursive: true });
      writeBackfillProject(join(base, 'project'), { rowsPerDay: 10 });
      const admin = cloudClient(cloud.projectUrl, cloud.clients.admin);
      await submitPlan(admin, join(base, 'project'), now);
      const envFile = join(base, 'executor.env');
      const write = (db: string) =>
        writeFileSync(envFile, `SQLMESH__GATEWAYS__DUCKDB__CONNECTION__DATABASE=${db}\n`);
      write(join(a, 'db.db'));
      const env = {
        TCLOUD_URL: cloud.projectUrl,
        TCLOUD_CLIENT_ID: cloud.clients.executor.clientId,
        TCLOUD_CLIENT_SECRET: cloud.clients.executor.clientSecret,
        TCLOUD_ENV_FILE: envFile,
        SQLMESH__GATEWAYS__DUCKDB__CONNECTION__TYPE: 'duckdb',
      };
      const apply = new Executor({
        kind: 'apply',
        env,
        once: true,
        claimWaitMs: 2_000,
        log: () => undefined,
      });
      await apply.run();
      assert.equal(apply.stats.completed, 1);

      const runner = startCli(['executor', 'run'], env);
      after(() => runner.kill('SIGKILL'));
      const db = cloud.server.ctx.store.db;
      const runDone = async (runId: string) =>
        (await db.selectFrom('tasks').select('status').where('run_id', '=', runId).execute()).every(
          (t) => t.status === 'succeeded',
        );
      now += DAY;
      const first = await tick(cloud.server.ctx, now);
      assert.equal(first.created.length, 1);
      await waitFor('the first run', () => runDone(first.created[0]!.runId), 20_000);

      write(join(b, 'db.db'));
      await waitFor(
        'the executor to reload its settings',
        () => runner.stderr.some((l) => l.includes('settings reloaded')),
        10_000,
      );
      now += DAY;
      const second = await tick(cloud.server.ctx, now);
      assert.equal(second.created.length, 1);
      await waitFor('the second run', () => runDone(second.created[0]!.runId), 20_000);
      runner.kill('SIGTERM');
      assert.equal(await runner.exited, 0, runner.stderr.join('\n'));

      // The first run's day went to warehouse A, the second's to B.
      const days = async (folder: string) =>
        await withWarehouse(duckdbConfig(join(folder, 'db.db')), folder, async (w) => {
          const tables = await w.query(
            `SELECT table_schema AS s, table_name AS t FROM information_schema.tables
            WHERE table_schema LIKE 'sqlmesh__%' AND table_name LIKE '%events%'`,
          );
          const t = tables.rows[0]!;
          const rows = await w.query(
            `SELECT DISTINCT CAST(event_date AS VARCHAR) AS d FROM "${String(t['s'])}"."${String(t['t'])}" ORDER BY d`,
          );
          return rows.rows.map((r) => String(r['d']));
        });
      assert.deepEqual(await days(a), ['2020-01-01', '2020-01-02', '2020-01-03', '2020-01-04']);
      assert.deepEqual(await days(b), ['2020-01-05']);
    },
  );
});
