/**
 * The cloud going away while an executor works.
 *
 * - The cloud (a child process on a SQLite file) is killed and restarted in
 *   the middle of a plan: the executor keeps going and the plan finishes
 *   after the restart without being submitted again.
 * - The cloud stops for 20 s under the default 30 s lease, beginning just
 *   before the executor's next heartbeat (the worst moment): the executor's
 *   requests give up after their retries (about 3 s), it keeps trying its
 *   heartbeat every second, renews the lease soon after the cloud is back,
 *   keeps its task and reports what it did meanwhile. (The lease survives an
 *   outage that ends a heartbeat interval, a sixth of the lease, and about a
 *   second before the lease runs out.)
 * - The cloud stops for longer than the lease: the executor abandons the
 *   task, the cloud hands it out again once back, and it finishes; nothing is
 *   lost or done twice.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { silentLogger } from '../../src/cloud/logger.js';
import { createLeaseReaper } from '../../src/cloud/queue/lease-reaper.js';
import { ALL_ROUTES } from '../../src/cloud/routes.js';
import { startCloudServer, type CloudServer } from '../../src/cloud/server.js';
import { bootstrap, createClient } from '../../src/cloud/tenancy.js';
import { HttpStateSync } from '../../src/executor/client/http-state-sync.js';
import { Executor } from '../../src/executor/runtime.js';
import { heartbeatIntervalFor } from '../../src/protocol/version.js';
import {
  bootstrapChildProject,
  cloudClient,
  DAY,
  duckdbConfig,
  eventsSummary,
  freePort,
  START,
  startChildCloud,
  startCli,
  submitPlan,
  waitFor,
  writeBackfillProject,
} from './hybrid-fixtures.js';

const DAYS = 25;
const NOW = START + DAYS * DAY;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the cloud goes away while an executor works', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideline-outage-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a restarted cloud (child process) sees the plan through', { timeout: 90_000 }, async () => {
    const base = join(dir, 'restart');
    mkdirSync(base);
    const stateFile = join(base, 'cloud.db');
    const port = await freePort();
    const serverUrl = `http://127.0.0.1:${port}`;
    const creds = await bootstrapChildProject(stateFile, serverUrl);
    const cloud = await startChildCloud(stateFile, port);
    after(() => cloud.stop('SIGKILL'));
    const project = join(base, 'project');
    writeBackfillProject(project, { rowsPerDay: 80_000 });
    const admin = cloudClient(creds.projectUrl, creds.admin);
    const plan = await submitPlan(admin, project, NOW);
    const executor = startCli(['executor', 'apply', '--once'], {
      TCLOUD_URL: creds.projectUrl,
      TCLOUD_CLIENT_ID: creds.executor.clientId,
      TCLOUD_CLIENT_SECRET: creds.executor.clientSecret,
      SQLMESH__GATEWAYS__DUCKDB__CONNECTION__TYPE: 'duckdb',
      SQLMESH__GATEWAYS__DUCKDB__CONNECTION__DATABASE: join(base, 'db.db'),
    });
    after(() => executor.kill('SIGKILL'));
    const progress = () =>
      admin.request<{ evaluations: unknown[] }>('GET', `/plans/${plan.id}/progress`);
    await waitFor(
      'a few evaluations',
      async () => (await progress()).evaluations.length >= 3,
      30_000,
      30,
    );
    await cloud.stop('SIGKILL');
    const stoppedAt = Date.now();
    await sleep(3_500);
    await cloud.restart();
    const info = await waitFor(
      'the plan to finish',
      async () => {
        const p = await admin.request<{ status: string; error: string | null }>(
          'GET',
          `/plans/${plan.id}`,
        );
        return p.status === 'succeeded' || p.status === 'failed' ? p : undefined;
      },
      60_000,
      100,
    );
    assert.equal(info.status, 'succeeded', `${info.error ?? ''}\n${executor.stderr.join('\n')}`);
    assert.equal(await executor.exited, 0);
    const finishedTs = (await admin.request<{ finishedTs: number }>('GET', `/plans/${plan.id}`))
      .finishedTs;
    assert.ok(finishedTs > stoppedAt, 'the plan finished after the restart');
    assert.ok(
      executor.stderr.some((l) => l.includes('cannot reach') || l.includes('retrying')) ||
        executor.stderr.length > 0,
    );
    // One attempt: the executor kept its lease across the restart.
    const tasks = await admin.request<{
      evaluations: Array<{ attempt: number; interval: [number, number] }>;
    }>('GET', `/plans/${plan.id}/progress`);
    assert.ok(tasks.evaluations.every((e) => e.attempt === 1));
    const [recorded] = await new HttpStateSync(admin).getIntervals([
      plan.snapshots.find((s) => s.name.includes('events'))!,
    ]);
    assert.deepEqual(recorded?.intervals, [[START, NOW]]);
    const rows = await eventsSummary(duckdbConfig(join(base, 'db.db')), base);
    assert.equal(rows.length, DAYS);
    for (const r of rows) assert.equal(r.rows, r.ids);
  });

  /** A cloud in this process that can be stopped and started again on the same port and store. */
  async function restartableCloud(base: string, leaseTtlMs: number) {
    const state = `sqlite:${join(base, 'cloud.db')}`;
    const signingKey = randomBytes(32);
    const port = await freePort();
    const start = () =>
      startCloudServer({
        state,
        port,
        signingKey,
        log: silentLogger,
        settings: { secureCookies: false, leaseTtlMs },
        routes: ALL_ROUTES,
        services: [createLeaseReaper({ intervalMs: 200 })],
      });
    let server: CloudServer | undefined = await start();
    after(() => server?.close());
    const { project, client: admin } = await bootstrap(server.ctx, 'acme', 'analytics');
    const executor = await createClient(server.ctx, project.id, {
      name: 'executors',
      role: 'executor',
    });
    return {
      projectUrl: `${server.url}/sqlmesh/acme/analytics`,
      admin,
      executor,
      get db() {
        return server!.ctx.store.db;
      },
      async stop() {
        await server?.close();
        server = undefined;
      },
      async start() {
        server = await start();
      },
    };
  }

  for (const scenario of [
    {
      // The default lease (30 s) and a 20-second outage, as operators meet
      // them, beginning at the worst moment: just before the executor's next
      // heartbeat, when its lease has the least time left.
      name: 'of 20 s, shorter than the lease: the executor keeps its task',
      leaseTtlMs: 30_000,
      downMs: 20_000,
      rowsPerDay: 1_000_000,
      beforeHeartbeat: true,
    },
    {
      name: 'longer than the lease: the task is abandoned and handed out again',
      leaseTtlMs: 3_000,
      downMs: 6_000,
      rowsPerDay: 50_000,
      beforeHeartbeat: false,
    },
  ]) {
    it(`an outage ${scenario.name}`, { timeout: 120_000 }, async () => {
      const base = join(dir, `outage-${scenario.leaseTtlMs}`);
      mkdirSync(base);
      const cloud = await restartableCloud(base, scenario.leaseTtlMs);
      const project = join(base, 'project');
      writeBackfillProject(project, { rowsPerDay: scenario.rowsPerDay });
      const admin = cloudClient(cloud.projectUrl, cloud.admin);
      const plan = await submitPlan(admin, project, NOW);
      const lines: string[] = [];
      const executor = new Executor({
        kind: 'apply',
        env: {
          TCLOUD_URL: cloud.projectUrl,
          TCLOUD_CLIENT_ID: cloud.executor.clientId,
          TCLOUD_CLIENT_SECRET: cloud.executor.clientSecret,
          SQLMESH__GATEWAYS__DUCKDB__CONNECTION__TYPE: 'duckdb',
          SQLMESH__GATEWAYS__DUCKDB__CONNECTION__DATABASE: join(base, 'db.db'),
        },
        claimWaitMs: 1_000,
        graceMs: 5_000,
        log: (l) => lines.push(l),
      });
      const running = executor.run();
      after(async () => {
        executor.drain();
        await running;
      });
      const evaluations = () =>
        cloud.db
          .selectFrom('evaluations')
          .select(['start_ts', 'end_ts', 'attempt', 'status'])
          .where('plan_id', '=', plan.id)
          .execute();
      const lease = () =>
        cloud.db
          .selectFrom('tasks')
          .select(['status', 'lease_expires_ts'])
          .where('plan_id', '=', plan.id)
          .executeTakeFirstOrThrow();
      await waitFor('a few evaluations', async () => (await evaluations()).length >= 3, 30_000, 20);
      if (scenario.beforeHeartbeat) {
        const claimed = Number((await lease()).lease_expires_ts);
        await waitFor(
          'a heartbeat',
          async () => Number((await lease()).lease_expires_ts) > claimed,
          20_000,
          20,
        );
        await sleep(heartbeatIntervalFor(scenario.leaseTtlMs) - 500);
      }
      assert.equal((await lease()).status, 'claimed', 'the task is still in progress');
      await cloud.stop();
      await sleep(scenario.downMs);
      await cloud.start();
      // The task's end (the plan record says succeeded a moment before the task completes).
      const task = await waitFor(
        'the task to finish',
        async () => {
          const row = await cloud.db
            .selectFrom('tasks')
            .select(['status', 'attempts'])
            .where('plan_id', '=', plan.id)
            .executeTakeFirst();
          return row && ['succeeded', 'failed', 'cancelled'].includes(row.status) ? row : undefined;
        },
        40_000,
        100,
      );
      const status = await cloud.db
        .selectFrom('plans')
        .select(['status', 'error'])
        .where('id', '=', plan.id)
        .executeTakeFirstOrThrow();
      assert.equal(status.status, 'succeeded', `${status.error}\n${lines.join('\n')}`);
      // The cloud commits the completion before it answers the executor, so
      // the executor counts it a moment after the task row says succeeded.
      await waitFor(
        'the executor to count its completion',
        async () => (executor.stats.completed + executor.stats.failed > 0 ? true : undefined),
        10_000,
        20,
      );
      const lost = lines.some((l) => l.includes('lease lost'));
      if (scenario.leaseTtlMs > scenario.downMs) {
        assert.deepEqual(
          { ...task, attempts: Number(task.attempts) },
          { status: 'succeeded', attempts: 1 },
          lines.join('\n'),
        );
        assert.equal(lost, false, lines.join('\n'));
        assert.equal(executor.stats.aborted, 0);
      } else {
        assert.deepEqual(
          { ...task, attempts: Number(task.attempts) },
          { status: 'succeeded', attempts: 2 },
          lines.join('\n'),
        );
        assert.ok(lost, lines.join('\n'));
        assert.equal(executor.stats.aborted, 1);
      }
      assert.equal(executor.stats.completed, 1);
      assert.equal(executor.stats.failed, 0);
      // Evaluations reported while the cloud was away arrived once it was back.
      const done = (await evaluations()).filter((e) => e.status === 'succeeded');
      const keys = done.map((e) => `${Number(e.start_ts)}`);
      assert.equal(new Set(keys).size, DAYS, 'every interval reported');
      assert.ok(done.length <= DAYS + 1, 'at most the interval in flight evaluated twice');
      const [recorded] = await new HttpStateSync(admin).getIntervals([
        plan.snapshots.find((s) => s.name.includes('events'))!,
      ]);
      assert.deepEqual(recorded?.intervals, [[START, NOW]]);
      executor.drain();
      await running;
      const rows = await eventsSummary(duckdbConfig(join(base, 'db.db')), base);
      assert.equal(rows.length, DAYS);
      for (const r of rows) assert.equal(r.rows, r.ids, `${r.day}: no row twice`);
    });
  }
});
