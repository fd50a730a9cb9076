import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCloudContext } from '../../../src/cloud/context.js';
import { silentLogger } from '../../../src/cloud/logger.js';
import { addPause } from '../../../src/cloud/pauses/pauses.js';
import { freshness, type ModelFreshness } from '../../../src/cloud/scheduler/freshness.js';
import { tick } from '../../../src/cloud/scheduler/scheduler.js';
import { ensureProject } from '../../../src/cloud/tenancy.js';
import { newStore, storeTargets } from '../../helpers/stores.js';
import {
  DAY,
  FULL,
  INCREMENTAL,
  MIDNIGHT,
  PLAN_TIME,
  SEED,
  byName,
  mutableClock,
  recordInterval,
  recordPlanBackfill,
  starterSnapshots,
  writeEnvironment,
} from './starter-state.js';

const targets = await storeTargets();

for (const target of targets) {
  describe(`freshness on ${target.kind}`, () => {
    it('moves from complete to behind, pending, behind on failure, late, and complete again', async () => {
      const store = await newStore(target);
      const clock = mutableClock(PLAN_TIME);
      const ctx = createCloudContext({ store, clock, log: silentLogger });
      const { id: projectId } = await ensureProject(ctx, 'acme', 'analytics');
      const snapshots = await starterSnapshots();
      await writeEnvironment(store.db, projectId, 'prod', snapshots);
      await recordPlanBackfill(store.db, projectId, snapshots);

      const states = async (now: number): Promise<Map<string, ModelFreshness>> => {
        const result = await freshness(ctx, projectId, 'prod', now);
        assert.ok(result);
        assert.equal(result.asOf, now);
        return new Map(result.models.map((m) => [m.model, m]));
      };

      let models = await states(PLAN_TIME);
      assert.deepEqual([...models.keys()], [SEED, INCREMENTAL, FULL]);
      for (const m of models.values()) {
        assert.equal(m.state, 'complete', m.model);
        assert.deepEqual(m.missing, []);
        assert.equal(m.dueSince, null);
      }

      clock.t = PLAN_TIME + DAY;
      models = await states(clock.now());
      assert.equal(models.get(SEED)!.state, 'complete');
      for (const name of [INCREMENTAL, FULL]) {
        const m = models.get(name)!;
        assert.equal(m.state, 'behind', name);
        assert.deepEqual(m.missing, [[MIDNIGHT, MIDNIGHT + DAY]]);
        assert.deepEqual(m.queued, []);
        assert.equal(m.dueSince, MIDNIGHT + DAY);
        assert.equal(m.lateSince, null);
        assert.equal(m.lastTask, null);
      }

      const { created } = await tick(ctx, clock.now());
      models = await states(clock.now());
      for (const name of [INCREMENTAL, FULL]) {
        const m = models.get(name)!;
        assert.equal(m.state, 'pending', name);
        assert.deepEqual(m.queued, [[MIDNIGHT, MIDNIGHT + DAY]]);
        assert.equal(m.lastTask?.status, name === INCREMENTAL ? 'pending' : 'waiting');
      }

      const incTask = created[0]!.tasks.find((t) => t.model === INCREMENTAL)!;
      await store.db
        .updateTable('tasks')
        .set({ status: 'failed', error: 'boom', finished_ts: clock.now() })
        .where('id', '=', incTask.id)
        .execute();
      models = await states(clock.now());
      assert.equal(models.get(INCREMENTAL)!.state, 'behind');
      assert.equal(models.get(INCREMENTAL)!.lastTask?.error, 'boom');

      // A day after the interval became due it is still missing: late.
      clock.t = PLAN_TIME + 2 * DAY;
      models = await states(clock.now());
      const inc = models.get(INCREMENTAL)!;
      assert.equal(inc.state, 'late');
      assert.equal(inc.lateSince, MIDNIGHT + 2 * DAY);
      assert.deepEqual(inc.missing, [[MIDNIGHT, MIDNIGHT + 2 * DAY]]);
      // Not late yet one hour before that boundary.
      models = await states(MIDNIGHT + 2 * DAY - 3_600_000);
      assert.notEqual(models.get(INCREMENTAL)!.state, 'late');

      for (const name of [INCREMENTAL, FULL]) {
        await recordInterval(store.db, projectId, byName(snapshots, name), [
          MIDNIGHT,
          MIDNIGHT + 2 * DAY,
        ]);
      }
      models = await states(clock.now());
      for (const m of models.values()) assert.equal(m.state, 'complete', m.model);
    });

    it('marks paused models and their downstream, and knows no unknown environment', async () => {
      const store = await newStore(target);
      const clock = mutableClock(PLAN_TIME);
      const ctx = createCloudContext({ store, clock, log: silentLogger });
      const { id: projectId } = await ensureProject(ctx, 'acme', 'analytics');
      const snapshots = await starterSnapshots();
      await writeEnvironment(store.db, projectId, 'prod', snapshots);
      await recordPlanBackfill(store.db, projectId, snapshots);
      await addPause(ctx, projectId, { environment: 'prod', model: INCREMENTAL });
      const result = await freshness(ctx, projectId, 'prod', PLAN_TIME);
      assert.deepEqual(
        result!.models.map((m) => [m.model, m.paused]),
        [
          [SEED, false],
          [INCREMENTAL, true],
          [FULL, true],
        ],
      );
      assert.equal(result!.paused, false);
      assert.equal(await freshness(ctx, projectId, 'nope', PLAN_TIME), undefined);
    });
  });
}
