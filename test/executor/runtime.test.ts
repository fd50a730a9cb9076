/**
 * The executor against a real cloud over loopback HTTP: an apply executor
 * applies a submitted plan to its own DuckDB warehouse, then a run executor
 * evaluates the scheduled run a day later.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ALL_ROUTES } from '../../src/cloud/routes.js';
import { tick } from '../../src/cloud/scheduler/scheduler.js';
import { createAdapter } from '../../src/engine/adapters/adapter-factory.js';
import { buildPlan } from '../../src/engine/plan/plan-builder.js';
import { loadProject } from '../../src/engine/project/project-loader.js';
import { buildSnapshots } from '../../src/engine/snapshot/snapshot-builder.js';
import { writeStarterProject } from '../../src/engine/starter/starter-project.js';
import { CloudClient } from '../../src/executor/client/cloud-client.js';
import { HttpStateSync } from '../../src/executor/client/http-state-sync.js';
import { Executor } from '../../src/executor/runtime.js';
import { startTestCloud } from '../helpers/cloud.js';
import { storeTargets } from '../helpers/stores.js';

const targets = await storeTargets();
const JAN_10 = Date.UTC(2020, 0, 10);
const DAY = 86_400_000;

for (const target of targets) {
  describe(`executors against a cloud on ${target.kind}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tideline-exec-'));
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('applies a submitted plan, then evaluates a scheduled run', async () => {
      let now = JAN_10;
      const clock = { now: () => now };
      const cloud = await startTestCloud(target, { clock, routes: ALL_ROUTES });
      const project = join(dir, 'project');
      writeStarterProject(project, 'duckdb');
      // The same file name as the project's gateway, so the catalog (`db`) matches.
      const warehouse = join(dir, 'db.db');
      const executorEnv = {
        TCLOUD_URL: cloud.projectUrl,
        TCLOUD_CLIENT_ID: cloud.clients.executor.clientId,
        TCLOUD_CLIENT_SECRET: cloud.clients.executor.clientSecret,
        // The gateway named as in the project; the warehouse path is the executor's own.
        SQLMESH__GATEWAYS__DUCKDB__CONNECTION__TYPE: 'duckdb',
        SQLMESH__GATEWAYS__DUCKDB__CONNECTION__DATABASE: warehouse,
      };

      // The CLI's part: plan against the cloud's state, then submit.
      const loaded = await loadProject(project, { env: {}, now });
      const admin = new CloudClient({
        url: cloud.projectUrl,
        clientId: cloud.clients.admin.clientId,
        clientSecret: cloud.clients.admin.clientSecret,
        clock: () => now,
      });
      const state = new HttpStateSync(admin);
      const snapshots = buildSnapshots(loaded, { now });
      const plan = await buildPlan({ environment: 'prod', snapshots, state, now });
      const submitted = await admin.request<{ planId: string }>('POST', '/plans', {
        body: { plan },
      });
      assert.equal(submitted.planId, plan.id);

      const lines: string[] = [];
      const apply = new Executor({
        kind: 'apply',
        env: executorEnv,
        once: true,
        claimWaitMs: 2_000,
        log: (l) => lines.push(l),
      });
      await apply.run();
      assert.equal(apply.stats.completed, 1, lines.join('\n'));
      const info = await admin.request<{ status: string; error?: string }>(
        'GET',
        `/plans/${plan.id}`,
      );
      assert.equal(info.status, 'succeeded', JSON.stringify(info));
      const env = await state.getEnvironment('prod');
      assert.equal(env?.planId, plan.id);

      const db = createAdapter(
        {
          type: 'duckdb',
          database: warehouse,
          catalogs: {},
          extensions: [],
          connectorConfig: {},
          concurrentTasks: 1,
        },
        { projectRoot: dir },
      );
      try {
        const rows = await db.query('SELECT COUNT(*) AS n FROM sqlmesh_example.full_model');
        assert.equal(Number(rows.rows[0]!.n), 3);
      } finally {
        await db.close();
      }

      // A day later the scheduler queues the run; a run executor evaluates it.
      now += DAY;
      const ticked = await tick(cloud.server.ctx, now);
      assert.equal(ticked.created.length, 1);
      const run = new Executor({
        kind: 'run',
        env: executorEnv,
        once: true,
        claimWaitMs: 2_000,
        log: (l) => lines.push(l),
      });
      await run.run();
      const run2 = new Executor({
        kind: 'run',
        env: executorEnv,
        once: true,
        claimWaitMs: 2_000,
        log: (l) => lines.push(l),
      });
      await run2.run();
      assert.equal(run.stats.completed + run2.stats.completed, 2, lines.join('\n'));
      const intervals = await state.getIntervals(
        plan.snapshots.filter((s) => s.name.includes('incremental_model')),
      );
      assert.deepEqual(intervals[0]!.intervals, [[Date.UTC(2020, 0, 1), JAN_10 + DAY]]);

      // Two more days, each run by a long-running executor with free slots: one
      // speaking protocol 1.1 (claims of several tasks, completions together),
      // one announcing 1.0 (a task per claim, a completion per request).
      for (const announced of [undefined, '1.0']) {
        now += DAY;
        const day = await tick(cloud.server.ctx, now);
        assert.equal(day.created.length, 1);
        const worker = new Executor({
          kind: 'run',
          env: {
            ...executorEnv,
            TCLOUD_CONCURRENCY: '4',
            ...(announced ? { TCLOUD_PROTOCOL_VERSION: announced } : {}),
          },
          claimWaitMs: 200,
          log: (l) => lines.push(l),
        });
        const running = worker.run();
        const until = performance.now() + 20_000;
        for (;;) {
          const open = await cloud.server.ctx.store.db
            .selectFrom('tasks')
            .select(['id', 'status', 'model', 'not_before_ts', 'executor_id', 'error'])
            .where('queue', '=', 'run')
            .where('status', 'in', ['waiting', 'pending', 'claimed'])
            .execute();
          if (open.length === 0) break;
          assert.ok(
            performance.now() < until,
            `run tasks still open: ${JSON.stringify(open)} now=${now} ${lines.join('\n')}`,
          );
          await new Promise((r) => setTimeout(r, 50));
        }
        worker.drain();
        await running;
        // The long poll the drain cut short ends in the cloud within its 200 ms wait;
        // a task queued before that could go to it, and wait for its lease to expire.
        await new Promise((r) => setTimeout(r, 300));
        assert.ok(worker.stats.completed >= 1, lines.join('\n'));
        assert.equal(worker.stats.failed, 0, lines.join('\n'));
      }
      const later = await state.getIntervals(
        plan.snapshots.filter((s) => s.name.includes('incremental_model')),
      );
      assert.deepEqual(later[0]!.intervals, [[Date.UTC(2020, 0, 1), JAN_10 + 3 * DAY]]);
      const failed = await cloud.server.ctx.store.db
        .selectFrom('tasks')
        .select('id')
        .where('status', '!=', 'succeeded')
        .execute();
      assert.deepEqual(failed, []);
    });
  });
}
