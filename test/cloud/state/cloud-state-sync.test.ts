/**
 * CloudStateSync on the cloud's store, SQLite and PostgreSQL: the StateSync
 * contract, the interval log as rows, and the store's own checks.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createCloudContext } from '../../../src/cloud/context.js';
import { silentLogger } from '../../../src/cloud/logger.js';
import { CloudStateSync } from '../../../src/cloud/state/cloud-state-sync.js';
import { STORE_SCHEMA_VERSION } from '../../../src/cloud/store/migrations.js';
import { ensureProject } from '../../../src/cloud/tenancy.js';
import { testClock } from '../../../src/engine/time/clock.js';
import { makeEnvironment, makePlan, makeSnapshot } from '../../engine/state/state-fixtures.js';
import { newStore, storeTargets } from '../../helpers/stores.js';
import { stateSyncContract } from './state-contract.js';

const targets = await storeTargets();

for (const target of targets) {
  describe(`CloudStateSync on ${target.kind}`, async () => {
    const store = await newStore(target);
    const clock = testClock(1_700_000_000_000);
    const ctx = createCloudContext({ store, clock, log: silentLogger });
    let projects = 0;
    const fresh = async () => {
      const project = await ensureProject(ctx, 'acme', `p${++projects}`);
      return new CloudStateSync(store, project.id, { clock });
    };

    describe('the StateSync contract', () => {
      stateSyncContract({
        fresh,
        other: async (state) =>
          new CloudStateSync(store, (state as CloudStateSync).projectId, { clock }),
        bulk: 10_000,
        looseIntervals: true,
      });
    });

    test('versions name the store schema; migrate checks the project exists', async () => {
      const state = await fresh();
      await state.migrate();
      const versions = await state.getVersions();
      assert.equal(versions.schemaVersion, STORE_SCHEMA_VERSION);
      assert.match(versions.tidelineVersion, /^\d+\.\d+\.\d+/);
      await assert.rejects(new CloudStateSync(store, 'no-such-project').migrate(), /no project/);
    });

    test('interval writes append rows to the log, in order, under the project', async () => {
      const state = await fresh();
      const s = makeSnapshot('"db"."s"."log"', 'l1', 'v1', { devVersion: 'dv1' });
      await state.pushSnapshots([s]);
      await state.addInterval(s, 'v1', [0, 10]);
      await state.removeIntervals(s, 'v1', [2, 4]);
      await state.addInterval(s, 'dv1', [0, 5], { dev: true });
      const rows = await store.db
        .selectFrom('intervals')
        .select(['version', 'dev_version', 'start_ts', 'end_ts', 'is_dev', 'is_removed'])
        .where('project_id', '=', state.projectId)
        .orderBy('id')
        .execute();
      assert.deepEqual(
        rows.map((r) => [
          r.version,
          r.dev_version,
          Number(r.start_ts),
          Number(r.end_ts),
          Number(r.is_dev),
          Number(r.is_removed),
        ]),
        [
          ['v1', null, 0, 10, 0, 0],
          ['v1', null, 2, 4, 0, 1],
          ['v1', 'dv1', 0, 5, 1, 0],
        ],
      );
      await state.deleteSnapshots([s]);
      const left = await store.db
        .selectFrom('intervals')
        .select('id')
        .where('project_id', '=', state.projectId)
        .execute();
      assert.equal(left.length, 0, 'rows of versions no snapshot uses are dropped');
    });

    test('rows carry the store clock; an update keeps created_ts', async () => {
      const state = await fresh();
      clock.set(5_000_000);
      await state.upsertEnvironment(makeEnvironment('dev', 'p1'));
      clock.set(6_000_000);
      await state.upsertEnvironment(makeEnvironment('dev', 'p2'), { expectedPlanId: 'p1' });
      const row = await store.db
        .selectFrom('environments')
        .select(['created_ts', 'updated_ts', 'plan_id'])
        .where('project_id', '=', state.projectId)
        .executeTakeFirstOrThrow();
      assert.deepEqual(
        [Number(row.created_ts), Number(row.updated_ts), row.plan_id],
        [5_000_000, 6_000_000, 'p2'],
      );
    });

    test('recordPlan keeps a stored full plan and tracks start and finish', async () => {
      const state = await fresh();
      await store.db
        .insertInto('plans')
        .values({
          id: 'full-plan',
          project_id: state.projectId,
          environment: 'dev',
          status: 'pending',
          payload: '{"the":"plan"}',
          summary: '{}',
          created_by: null,
          created_ts: 1,
          updated_ts: 1,
          started_ts: null,
          finished_ts: null,
          error: null,
        })
        .execute();
      const plan = makePlan('full-plan', 'dev', 1);
      await state.recordPlan({ ...plan, status: 'applying', updatedTs: 10 });
      await state.recordPlan({ ...plan, status: 'succeeded', updatedTs: 20 });
      const row = await store.db
        .selectFrom('plans')
        .selectAll()
        .where('id', '=', 'full-plan')
        .executeTakeFirstOrThrow();
      assert.equal(row.payload, '{"the":"plan"}');
      assert.equal(row.status, 'succeeded');
      assert.deepEqual([Number(row.started_ts), Number(row.finished_ts)], [10, 20]);
      assert.deepEqual(await state.getPlan('full-plan'), {
        ...plan,
        status: 'succeeded',
        updatedTs: 20,
        // The submission's summary, not the one the executor sent.
        summary: {},
      });
    });

    test("recordPlan keeps what a submission recorded and updates only the plan's progress", async () => {
      const state = await fresh();
      const submitted = {
        changes: { added: 3 },
        backfill: { models: 3, batches: 7 },
        isNewEnvironment: true,
        start: 100,
        end: 200,
      };
      await store.db
        .insertInto('plans')
        .values({
          id: 'submitted-plan',
          project_id: state.projectId,
          environment: 'dev',
          status: 'pending',
          payload: '{"id":"submitted-plan"}',
          summary: JSON.stringify(submitted),
          created_by: 'client:tlc_submitter',
          created_ts: 1_000,
          updated_ts: 1_000,
          started_ts: null,
          finished_ts: null,
          error: null,
        })
        .execute();
      // The apply executor's record: its own summary shape, its own clock and identity.
      const applied = {
        id: 'submitted-plan',
        environment: 'dev',
        createdTs: 900,
        createdBy: 'executor:apply-1',
        summary: { added: 3, backfillModels: 3 },
      };
      await state.recordPlan({ ...applied, status: 'applying', updatedTs: 2_000 });
      const applying = await store.db
        .selectFrom('plans')
        .selectAll()
        .where('id', '=', 'submitted-plan')
        .executeTakeFirstOrThrow();
      assert.deepEqual(JSON.parse(applying.summary), submitted);
      assert.equal(applying.status, 'applying');
      assert.equal(Number(applying.started_ts), 2_000);

      await state.recordPlan({ ...applied, status: 'failed', updatedTs: 3_000, error: 'boom' });
      assert.deepEqual(await state.getPlan('submitted-plan'), {
        id: 'submitted-plan',
        environment: 'dev',
        status: 'failed',
        createdTs: 1_000,
        updatedTs: 3_000,
        createdBy: 'client:tlc_submitter',
        summary: submitted,
        error: 'boom',
      });
      const row = await store.db
        .selectFrom('plans')
        .selectAll()
        .where('id', '=', 'submitted-plan')
        .executeTakeFirstOrThrow();
      assert.equal(row.payload, '{"id":"submitted-plan"}');
      assert.deepEqual(
        [Number(row.started_ts), Number(row.finished_ts), Number(row.updated_ts)],
        [2_000, 3_000, 3_000],
      );

      // A plan recorded through the state alone has no submission: its record follows the latest.
      await state.recordPlan({ ...applied, id: 'state-only', status: 'applying', updatedTs: 10 });
      await state.recordPlan({
        ...applied,
        id: 'state-only',
        status: 'succeeded',
        updatedTs: 20,
        summary: { added: 4 },
      });
      assert.deepEqual((await state.getPlan('state-only'))?.summary, { added: 4 });
    });
  });
}
