import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCloudContext, type CloudContext } from '../../../src/cloud/context.js';
import { silentLogger } from '../../../src/cloud/logger.js';
import { addPause, removePause } from '../../../src/cloud/pauses/pauses.js';
import { createRun } from '../../../src/cloud/scheduler/run-planner.js';
import { getRun, refreshRun } from '../../../src/cloud/scheduler/runs.js';
import { Scheduler, nextWakeTime, tick } from '../../../src/cloud/scheduler/scheduler.js';
import type { TaskStatus } from '../../../src/cloud/store/schema.js';
import { ensureProject } from '../../../src/cloud/tenancy.js';
import type { TaskPayload } from '../../../src/protocol/messages.js';
import { newStore, storeTargets, type StoreTarget } from '../../helpers/stores.js';
import {
  DAY,
  FULL,
  HOUR,
  INCREMENTAL,
  MIDNIGHT,
  OTHER,
  PLAN_TIME,
  SEED,
  byName,
  mutableClock,
  recordInterval,
  recordPlanBackfill,
  starterSnapshots,
  writeEnvironment,
  type MutableClock,
} from './starter-state.js';

const targets = await storeTargets();

interface Setup {
  ctx: CloudContext;
  clock: MutableClock;
  projectId: string;
}

async function setup(
  target: StoreTarget,
  options: { other?: boolean; environments?: string[] } = {},
): Promise<Setup> {
  const store = await newStore(target);
  const clock = mutableClock(PLAN_TIME);
  const ctx = createCloudContext({
    store,
    clock,
    settings: { maxAttempts: 5 },
    log: silentLogger,
  });
  const { id: projectId } = await ensureProject(ctx, 'acme', 'analytics');
  const snapshots = await starterSnapshots({ other: options.other ?? false });
  for (const env of options.environments ?? ['prod']) {
    await writeEnvironment(store.db, projectId, env, snapshots);
  }
  await recordPlanBackfill(store.db, projectId, snapshots);
  return { ctx, clock, projectId };
}

async function tasksOf(ctx: CloudContext, runId: string) {
  const rows = await ctx.store.db
    .selectFrom('tasks')
    .selectAll()
    .where('run_id', '=', runId)
    .execute();
  return rows.map((r) => ({
    ...r,
    payload: JSON.parse(r.payload) as Extract<TaskPayload, { kind: 'evaluate' }>,
    dependsOn: JSON.parse(r.depends_on) as string[],
  }));
}

async function countRuns(ctx: CloudContext): Promise<number> {
  const rows = await ctx.store.db.selectFrom('runs').select('id').execute();
  return rows.length;
}

async function setTaskStatus(
  ctx: CloudContext,
  ids: string | string[],
  status: TaskStatus,
  extra: { error?: string; started?: number } = {},
): Promise<void> {
  const now = ctx.clock.now();
  await ctx.store.db
    .updateTable('tasks')
    .set({
      status,
      updated_ts: now,
      ...(extra.started !== undefined ? { started_ts: extra.started } : {}),
      ...(status === 'succeeded' || status === 'failed' ? { finished_ts: now } : {}),
      ...(extra.error !== undefined ? { error: extra.error } : {}),
    })
    .where('id', 'in', Array.isArray(ids) ? ids : [ids])
    .execute();
}

for (const target of targets) {
  describe(`scheduler on ${target.kind}`, () => {
    it('creates nothing when nothing is due, then one run a day later with the DAG wired', async () => {
      const { ctx, clock, projectId } = await setup(target);
      const first = await tick(ctx, clock.now());
      assert.deepEqual(first.created, []);
      assert.deepEqual(first.errors, []);
      assert.equal(await countRuns(ctx), 0);

      clock.t = PLAN_TIME + DAY;
      const second = await tick(ctx, clock.now());
      assert.equal(second.created.length, 1);
      const runId = second.created[0]!.runId;
      const run = await ctx.store.db
        .selectFrom('runs')
        .selectAll()
        .where('id', '=', runId)
        .executeTakeFirstOrThrow();
      assert.equal(run.project_id, projectId);
      assert.equal(run.environment, 'prod');
      assert.equal(run.trigger, 'schedule');
      assert.equal(run.status, 'pending');
      assert.equal(Number(run.execution_ts), PLAN_TIME + DAY);

      const tasks = await tasksOf(ctx, runId);
      assert.deepEqual(tasks.map((t) => t.model).sort(), [FULL, INCREMENTAL].sort());
      const inc = tasks.find((t) => t.model === INCREMENTAL)!;
      const full = tasks.find((t) => t.model === FULL)!;
      assert.deepEqual(inc.dependsOn, []);
      assert.equal(inc.status, 'pending');
      assert.deepEqual(full.dependsOn, [inc.id]);
      assert.equal(full.status, 'waiting');
      const snapshots = await starterSnapshots();
      for (const t of tasks) {
        assert.equal(t.queue, 'run');
        assert.equal(t.kind, 'evaluate');
        assert.equal(t.max_attempts, 5);
        assert.equal(t.version, byName(snapshots, t.model!).version);
        assert.equal(t.payload.kind, 'evaluate');
        assert.equal(t.payload.runId, runId);
        assert.equal(t.payload.environment, 'prod');
        assert.equal(t.payload.executionTime, PLAN_TIME + DAY);
        assert.deepEqual(t.payload.batches, [[MIDNIGHT, MIDNIGHT + DAY]]);
        assert.equal((t.payload.snapshot as { name: string }).name, t.model);
      }
      assert.deepEqual(Object.keys(inc.payload.parents), [SEED]);
      assert.deepEqual(Object.keys(full.payload.parents), [INCREMENTAL]);
    });

    it('never queues the same interval twice, yet starts a new run while an older one runs', async () => {
      const { ctx, clock } = await setup(target);
      clock.t = PLAN_TIME + DAY;
      const first = await tick(ctx, clock.now());
      assert.equal(first.created.length, 1);
      const again = await tick(ctx, clock.now() + HOUR);
      assert.deepEqual(again.created, []);
      const manual = await createRun(ctx, first.created[0]!.projectId, 'prod', {
        trigger: 'manual',
        now: clock.now() + HOUR,
      });
      assert.equal(manual.created, false);

      const older = await tasksOf(ctx, first.created[0]!.runId);
      const olderInc = older.find((t) => t.model === INCREMENTAL)!;
      const olderFull = older.find((t) => t.model === FULL)!;
      await setTaskStatus(ctx, olderInc.id, 'claimed', { started: clock.now() });

      clock.t = PLAN_TIME + 2 * DAY;
      const next = await tick(ctx, clock.now());
      assert.equal(next.created.length, 1);
      const newer = await tasksOf(ctx, next.created[0]!.runId);
      const inc = newer.find((t) => t.model === INCREMENTAL)!;
      const full = newer.find((t) => t.model === FULL)!;
      // Only the new day: the older run still holds the first.
      assert.deepEqual(inc.payload.batches, [[MIDNIGHT + DAY, MIDNIGHT + 2 * DAY]]);
      assert.deepEqual(full.payload.batches, [[MIDNIGHT + DAY, MIDNIGHT + 2 * DAY]]);
      assert.deepEqual(new Set(inc.dependsOn), new Set([olderInc.id]));
      assert.deepEqual(new Set(full.dependsOn), new Set([inc.id, olderFull.id]));
    });

    it('leaves a paused environment alone until it is unpaused', async () => {
      const { ctx, clock, projectId } = await setup(target);
      await addPause(ctx, projectId, { environment: 'prod', reason: 'maintenance' });
      clock.t = PLAN_TIME + DAY;
      const paused = await tick(ctx, clock.now());
      assert.deepEqual(paused.created, []);
      assert.equal(await countRuns(ctx), 0);
      assert.equal(await removePause(ctx, projectId, { environment: 'prod' }), true);
      const resumed = await tick(ctx, clock.now());
      assert.deepEqual(
        resumed.created.map((r) => r.environment),
        ['prod'],
      );
    });

    it('queues an interval shared by two environments once', async () => {
      const { ctx, clock } = await setup(target, { environments: ['dev', 'prod'] });
      clock.t = PLAN_TIME + DAY;
      const result = await tick(ctx, clock.now());
      // dev and prod use the same table versions: the first queues the day, the second waits.
      assert.deepEqual(
        result.created.map((r) => r.environment),
        ['dev'],
      );
      const tasks = await ctx.store.db.selectFrom('tasks').select('model').execute();
      assert.equal(tasks.length, 2);
    });

    it('skips a paused model and its downstream but not independent models', async () => {
      const { ctx, clock, projectId } = await setup(target, { other: true });
      await addPause(ctx, projectId, { environment: 'prod', model: INCREMENTAL });
      clock.t = PLAN_TIME + DAY;
      const paused = await tick(ctx, clock.now());
      assert.equal(paused.created.length, 1);
      assert.deepEqual(
        paused.created[0]!.tasks.map((t) => t.model),
        [OTHER],
      );
      await removePause(ctx, projectId, { environment: 'prod', model: INCREMENTAL });
      const resumed = await tick(ctx, clock.now());
      assert.equal(resumed.created.length, 1);
      assert.deepEqual(
        resumed.created[0]!.tasks.map((t) => t.model).sort(),
        [FULL, INCREMENTAL].sort(),
      );
    });

    it('pausing the seed holds back everything downstream of it', async () => {
      const { ctx, clock, projectId } = await setup(target, { other: true });
      await addPause(ctx, projectId, { environment: 'prod', model: SEED });
      clock.t = PLAN_TIME + DAY;
      const result = await tick(ctx, clock.now());
      assert.deepEqual(
        result.created[0]!.tasks.map((t) => t.model),
        [OTHER],
      );
    });

    it('waits while a plan is being applied to the environment', async () => {
      const { ctx, clock, projectId } = await setup(target);
      await ctx.store.db
        .insertInto('plans')
        .values({
          id: 'plan-2',
          project_id: projectId,
          environment: 'prod',
          status: 'applying',
          payload: null,
          summary: '{}',
          created_by: null,
          created_ts: PLAN_TIME,
          updated_ts: PLAN_TIME,
          started_ts: PLAN_TIME,
          finished_ts: null,
          error: null,
        })
        .execute();
      clock.t = PLAN_TIME + DAY;
      assert.deepEqual((await tick(ctx, clock.now())).created, []);
      await ctx.store.db
        .updateTable('plans')
        .set({ status: 'succeeded', finished_ts: clock.now() })
        .where('id', '=', 'plan-2')
        .execute();
      assert.equal((await tick(ctx, clock.now())).created.length, 1);
    });

    it('skips expired environments', async () => {
      const { ctx, clock, projectId } = await setup(target);
      const snapshots = await starterSnapshots();
      await writeEnvironment(ctx.store.db, projectId, 'old_dev', snapshots, {
        expirationTs: PLAN_TIME + HOUR,
      });
      clock.t = PLAN_TIME + DAY;
      const result = await tick(ctx, clock.now());
      assert.deepEqual(
        result.created.map((r) => r.environment),
        ['prod'],
      );
    });

    it('finishes a run once its tasks are final: succeeded, or failed naming the model', async () => {
      const { ctx, clock, projectId } = await setup(target);
      clock.t = PLAN_TIME + DAY;
      const { created } = await tick(ctx, clock.now());
      const runId = created[0]!.runId;
      const tasks = await tasksOf(ctx, runId);
      const inc = tasks.find((t) => t.model === INCREMENTAL)!;
      const full = tasks.find((t) => t.model === FULL)!;

      await setTaskStatus(ctx, inc.id, 'claimed', { started: clock.now() + 1000 });
      assert.equal(await refreshRun(ctx, runId), 'running');
      let run = (await getRun(ctx, projectId, runId))!;
      assert.equal(run.status, 'running');
      assert.equal(run.startedTs, clock.now() + 1000);
      assert.equal(run.finishedTs, null);

      await setTaskStatus(ctx, inc.id, 'succeeded');
      assert.equal(await refreshRun(ctx, runId), 'running');
      clock.t += 5000;
      await setTaskStatus(ctx, full.id, 'succeeded');
      const finished: string[] = [];
      const off = ctx.events.subscribe((e) => {
        if (e.type === 'run.finished') finished.push(String(e.payload['runId']));
      });
      assert.equal(await refreshRun(ctx, runId), 'succeeded');
      assert.equal(await refreshRun(ctx, runId), 'succeeded');
      off();
      assert.deepEqual(finished, [runId]);
      run = (await getRun(ctx, projectId, runId))!;
      assert.equal(run.status, 'succeeded');
      assert.equal(run.finishedTs, clock.now());
      assert.equal(run.error, null);
      assert.deepEqual(
        run.tasks.map((t) => t.model),
        [INCREMENTAL, FULL],
      );

      // The next day fails: the run fails with the model's error; tick notices it too.
      const snapshots = await starterSnapshots();
      for (const name of [INCREMENTAL, FULL]) {
        await recordInterval(ctx.store.db, projectId, byName(snapshots, name), [
          MIDNIGHT,
          MIDNIGHT + DAY,
        ]);
      }
      clock.t = PLAN_TIME + 2 * DAY;
      const next = await tick(ctx, clock.now());
      const nextRun = next.created[0]!.runId;
      const nextTasks = await tasksOf(ctx, nextRun);
      await setTaskStatus(ctx, nextTasks.find((t) => t.model === INCREMENTAL)!.id, 'failed', {
        error: 'Binder Error: column x not found',
      });
      await setTaskStatus(ctx, nextTasks.find((t) => t.model === FULL)!.id, 'cancelled');
      const later = await tick(ctx, clock.now());
      assert.equal(later.finished, 1);
      const failed = (await getRun(ctx, projectId, nextRun))!;
      assert.equal(failed.status, 'failed');
      assert.match(failed.error ?? '', /incremental_model.*failed: Binder Error/);
    });

    it('marks the next wake-up at the earliest cron boundary of any model', async () => {
      const { ctx, clock } = await setup(target, { other: true });
      assert.equal(await nextWakeTime(ctx, clock.now()), PLAN_TIME + HOUR);
      const daily = await setup(target);
      assert.equal(await nextWakeTime(daily.ctx, PLAN_TIME), MIDNIGHT + DAY);
      await addPause(daily.ctx, daily.projectId, { environment: 'prod' });
      assert.equal(await nextWakeTime(daily.ctx, PLAN_TIME), undefined);
    });

    it('runs as a background service: ticks at start and when a plan finishes', async () => {
      const { ctx, clock, projectId } = await setup(target);
      const scheduler = new Scheduler({ maxSleepMs: 60_000 });
      const created = () =>
        ctx.events.waitFor((e) => e.type === 'run.created' && e.projectId === projectId, 5000);
      scheduler.start(ctx);
      try {
        // Nothing due at start; a day later the plan-finished event wakes it at once.
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(await countRuns(ctx), 0);
        clock.t = PLAN_TIME + DAY;
        const waiting = created();
        ctx.events.publish({ projectId, type: 'plan.finished', payload: {}, ts: clock.now() });
        const event = await waiting;
        assert.ok(event, 'a run was created after plan.finished');
        assert.equal(event.payload['trigger'], 'schedule');
        assert.equal(await countRuns(ctx), 1);
      } finally {
        await scheduler.stop();
      }
    });
  });
}
