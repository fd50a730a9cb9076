/**
 * An apply executor killed (SIGKILL) in the middle of a 25-day backfill: once
 * its lease expires the cloud hands the task to a second executor, which
 * resumes after the intervals already recorded. The warehouse ends equal to a
 * clean local apply, with no duplicated rows and every interval recorded.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createLeaseReaper } from '../../src/cloud/queue/lease-reaper.js';
import { ALL_ROUTES } from '../../src/cloud/routes.js';
import { HttpStateSync } from '../../src/executor/client/http-state-sync.js';
import { startTestCloud } from '../helpers/cloud.js';
import { storeTargets } from '../helpers/stores.js';
import {
  applyLocally,
  cloudClient,
  DAY,
  duckdbConfig,
  eventsSummary,
  START,
  startCli,
  submitPlan,
  waitFor,
  writeBackfillProject,
} from './hybrid-fixtures.js';

const targets = await storeTargets();
const DAYS = 25;
const NOW = START + DAYS * DAY;

describe('an apply executor killed mid-backfill', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideline-takeover-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(
    'is taken over after its lease expires; the result equals a clean run',
    { timeout: 60_000 },
    async () => {
      const sqlite = targets.find((t) => t.kind === 'sqlite')!;
      const cloud = await startTestCloud(sqlite, {
        routes: ALL_ROUTES,
        settings: { leaseTtlMs: 5_000 },
        services: [createLeaseReaper({ intervalMs: 200 })],
      });
      const project = join(dir, 'project');
      writeBackfillProject(project, { rowsPerDay: 80_000 });
      const hybridDir = join(dir, 'hybrid');
      const localDir = join(dir, 'local');
      mkdirSync(hybridDir);
      mkdirSync(localDir);
      const env = {
        TCLOUD_URL: cloud.projectUrl,
        TCLOUD_CLIENT_ID: cloud.clients.executor.clientId,
        TCLOUD_CLIENT_SECRET: cloud.clients.executor.clientSecret,
        TCLOUD_EXECUTOR_NAME: 'apply-1',
        SQLMESH__GATEWAYS__DUCKDB__CONNECTION__TYPE: 'duckdb',
        SQLMESH__GATEWAYS__DUCKDB__CONNECTION__DATABASE: join(hybridDir, 'db.db'),
      };
      const admin = cloudClient(cloud.projectUrl, cloud.clients.admin);
      const plan = await submitPlan(admin, project, NOW);
      assert.equal(plan.backfill[0]?.batches.length, DAYS);
      const db = cloud.server.ctx.store.db;
      const evaluations = (attempt: number) =>
        db
          .selectFrom('evaluations')
          .select(['start_ts', 'end_ts', 'status'])
          .where('plan_id', '=', plan.id)
          .where('attempt', '=', attempt)
          .execute();

      const first = startCli(['executor', 'apply'], env);
      // Some intervals are recorded (an evaluation is reported only after its interval is).
      const before = await waitFor(
        'the first executor to record some intervals',
        async () => {
          const done = await evaluations(1);
          return done.length >= 4 ? done : undefined;
        },
        30_000,
        20,
      );
      first.kill('SIGKILL');
      assert.equal(await first.exited, 'SIGKILL');
      const reported = await evaluations(1);
      assert.ok(reported.length < DAYS, 'killed before the backfill ended');
      const task = await db
        .selectFrom('tasks')
        .select(['status', 'attempts'])
        .where('plan_id', '=', plan.id)
        .executeTakeFirstOrThrow();
      assert.equal(task.status, 'claimed', 'the dead executor still holds the lease');

      const second = startCli(['executor', 'apply', '--once'], {
        ...env,
        TCLOUD_EXECUTOR_NAME: 'apply-2',
      });
      const code = await second.exited;
      assert.equal(code, 0, second.stderr.join('\n'));
      const info = await admin.request<{ status: string; error: string | null }>(
        'GET',
        `/plans/${plan.id}`,
      );
      assert.equal(info.status, 'succeeded', JSON.stringify(info));
      const done = await db
        .selectFrom('tasks')
        .select(['status', 'attempts'])
        .where('plan_id', '=', plan.id)
        .executeTakeFirstOrThrow();
      assert.deepEqual(done, { status: 'succeeded', attempts: 2 });

      // The takeover resumed: nothing the first executor recorded was evaluated again.
      const key = (e: { start_ts: number; end_ts: number }) =>
        `${Number(e.start_ts)}-${Number(e.end_ts)}`;
      const firstKeys = new Set(reported.filter((e) => e.status === 'succeeded').map(key));
      assert.ok(firstKeys.size >= before.length);
      const resumed = (await evaluations(2)).filter((e) => e.status === 'succeeded');
      assert.ok(resumed.length > 0);
      const redone = resumed.map(key).filter((k) => firstKeys.has(k));
      assert.deepEqual(redone, [], 'intervals recorded before the kill were evaluated again');
      assert.equal(new Set(resumed.map(key)).size, resumed.length);

      // Every interval recorded, as one range.
      const state = new HttpStateSync(admin);
      const events = plan.snapshots.find((s) => s.name.includes('events'))!;
      const [recorded] = await state.getIntervals([events]);
      assert.deepEqual(recorded?.intervals, [[START, NOW]]);

      // The same rows as a clean local apply; no row twice.
      await applyLocally(project, duckdbConfig(join(localDir, 'db.db')), NOW);
      const hybrid = await eventsSummary(duckdbConfig(join(hybridDir, 'db.db')), hybridDir);
      const local = await eventsSummary(duckdbConfig(join(localDir, 'db.db')), localDir);
      assert.equal(hybrid.length, DAYS);
      for (const day of hybrid) assert.equal(day.rows, day.ids, `${day.day} has duplicated rows`);
      assert.deepEqual(hybrid, local);
    },
  );
});
