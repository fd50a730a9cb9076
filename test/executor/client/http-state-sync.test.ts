/**
 * HttpStateSync against a real cloud on SQLite and PostgreSQL: the StateSync
 * contract over HTTP, and the engine's plan and apply of the starter project
 * on a local DuckDB warehouse with its state kept by the cloud.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { tokenRoutes } from '../../../src/cloud/auth/token-routes.js';
import { stateRoutes } from '../../../src/cloud/state/state-routes.js';
import { createClient, ensureProject } from '../../../src/cloud/tenancy.js';
import { createAdapter } from '../../../src/engine/adapters/adapter-factory.js';
import { SnapshotEvaluator } from '../../../src/engine/evaluate/snapshot-evaluator.js';
import { applyPlan } from '../../../src/engine/plan/plan-applier.js';
import { buildPlan } from '../../../src/engine/plan/plan-builder.js';
import { planHasWork, type Plan } from '../../../src/engine/plan/plan-types.js';
import { loadProject } from '../../../src/engine/project/project-loader.js';
import { writeStarterProject } from '../../../src/engine/starter/starter-project.js';
import { buildSnapshots } from '../../../src/engine/snapshot/snapshot-builder.js';
import { StaleStateError, type StateSync } from '../../../src/engine/state/state-sync.js';
import { CloudClient } from '../../../src/executor/client/cloud-client.js';
import { HttpStateSync } from '../../../src/executor/client/http-state-sync.js';
import { startTestCloud, type TestCloud } from '../../helpers/cloud.js';
import { storeTargets } from '../../helpers/stores.js';
import { stateSyncContract } from '../../cloud/state/state-contract.js';

const DAY = 86_400_000;
const JAN_10 = Date.UTC(2020, 0, 10);

const targets = await storeTargets();
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function clientFor(cloud: TestCloud, url: string, id: string, secret: string): CloudClient {
  return new CloudClient({ url, clientId: id, clientSecret: secret, timeoutMs: 20_000 });
}

for (const target of targets) {
  describe(`HttpStateSync on ${target.kind}`, async () => {
    const cloud = await startTestCloud(target, { routes: [tokenRoutes, stateRoutes] });
    const credentials = new WeakMap<StateSync, { url: string; id: string; secret: string }>();
    let projects = 0;

    describe('the StateSync contract over HTTP', () => {
      stateSyncContract({
        async fresh() {
          const name = `p${++projects}`;
          const project = await ensureProject(cloud.server.ctx, 'acme', name);
          const admin = await createClient(cloud.server.ctx, project.id, {
            name: 'contract admin',
            role: 'admin',
          });
          const url = `${cloud.server.url}/sqlmesh/acme/${name}`;
          const state = new HttpStateSync(
            clientFor(cloud, url, admin.clientId, admin.clientSecret),
          );
          await state.migrate();
          credentials.set(state, { url, id: admin.clientId, secret: admin.clientSecret });
          return state;
        },
        async other(state) {
          const c = credentials.get(state)!;
          return new HttpStateSync(clientFor(cloud, c.url, c.id, c.secret));
        },
        bulk: 2_000,
        looseIntervals: false,
      });
    });

    describe('plan and apply with the cloud as state', () => {
      async function project() {
        const dir = mkdtempSync(join(tmpdir(), 'tideline-http-state-'));
        dirs.push(dir);
        writeStarterProject(dir, 'duckdb');
        const loaded = await loadProject(dir, { env: {}, now: JAN_10 });
        const adapter = createAdapter(loaded.gateway.connection!, { projectRoot: dir });
        after(() => adapter.close());
        const evaluator = new SnapshotEvaluator(adapter, { gateway: loaded.gatewayName });
        return { dir, adapter, evaluator };
      }

      async function planFor(dir: string, state: StateSync, now = JAN_10): Promise<Plan> {
        const loaded = await loadProject(dir, { env: {}, now });
        return buildPlan({
          environment: 'prod',
          snapshots: buildSnapshots(loaded, { now }),
          state,
          now,
        });
      }

      test('the starter project applies to prod, then plans with no changes', async () => {
        const { dir, adapter, evaluator } = await project();
        const name = `e2e${++projects}`;
        const record = await ensureProject(cloud.server.ctx, 'acme', name);
        const admin = await createClient(cloud.server.ctx, record.id, {
          name: 'cli',
          role: 'admin',
        });
        const url = `${cloud.server.url}/sqlmesh/acme/${name}`;
        const state = new HttpStateSync(clientFor(cloud, url, admin.clientId, admin.clientSecret));
        await state.migrate();

        const plan = await planFor(dir, state);
        assert.equal(plan.isNewEnvironment, true);
        assert.deepEqual(
          plan.changes.map((c) => c.type),
          ['added', 'added', 'added'],
        );
        const result = await applyPlan(plan, {
          state,
          evaluator,
          concurrency: 1,
          clock: () => JAN_10,
        });
        assert.equal(result.status, 'succeeded', result.error);

        // The warehouse has the data; the cloud has the environment, intervals and plan.
        const views = await adapter.query(
          'SELECT COUNT(*) AS n FROM sqlmesh_example.incremental_model',
        );
        assert.ok(Number(views.rows[0]?.n) > 0, 'the prod view returns rows');
        const env = await state.getEnvironment('prod');
        assert.equal(env?.planId, plan.id);
        assert.equal(env?.snapshots.length, 3);
        assert.equal((await state.getPlan(plan.id))?.status, 'succeeded');
        const inc = plan.snapshots.find((s) => s.name.includes('incremental_model'))!;
        const [intervals] = await state.getIntervals([inc]);
        assert.deepEqual(intervals?.intervals, [[Date.UTC(2020, 0, 1), JAN_10]]);
        const stored = await cloud.server.ctx.store.db
          .selectFrom('snapshots')
          .select('name')
          .where('project_id', '=', record.id)
          .execute();
        assert.equal(stored.length, 3);
        assert.ok(
          (await state.getSnapshots([inc])).get(`${inc.name}|${inc.identifier}`)?.unpausedTs,
          'prod unpaused its snapshots',
        );

        const again = await planFor(dir, state);
        assert.equal(planHasWork(again), false, JSON.stringify(again.changes));
        assert.deepEqual(again.backfill, []);

        // A day later only the new day is missing.
        const later = await planFor(dir, state, JAN_10 + DAY);
        assert.deepEqual(later.changes, []);
        const incLater = later.backfill.find((b) => b.name.includes('incremental_model'));
        assert.deepEqual(incLater?.batches, [[JAN_10, JAN_10 + DAY]]);
      });

      test('a second client that planned against stale state gets StaleStateError', async () => {
        const { dir, evaluator } = await project();
        const name = `e2e${++projects}`;
        const record = await ensureProject(cloud.server.ctx, 'acme', name);
        const admin = await createClient(cloud.server.ctx, record.id, {
          name: 'cli',
          role: 'admin',
        });
        const url = `${cloud.server.url}/sqlmesh/acme/${name}`;
        const first = new HttpStateSync(clientFor(cloud, url, admin.clientId, admin.clientSecret));
        const second = new HttpStateSync(clientFor(cloud, url, admin.clientId, admin.clientSecret));
        const apply = (plan: Plan, state: StateSync) =>
          applyPlan(plan, { state, evaluator, concurrency: 1, clock: () => JAN_10 });
        assert.equal((await apply(await planFor(dir, first), first)).status, 'succeeded');

        // Both plan the same edit; the first applies it; the second is now stale.
        const file = join(dir, 'models/full_model.sql');
        writeFileSync(file, readFileSync(file, 'utf8').replace('COUNT(DISTINCT id)', 'COUNT(id)'));
        const planA = await planFor(dir, first);
        const planB = await planFor(dir, second);
        assert.equal(planA.expectedPlanId, planB.expectedPlanId);
        assert.ok(planA.changes.length > 0);
        assert.equal((await apply(planA, first)).status, 'succeeded');
        await assert.rejects(apply(planB, second), (err: unknown) => {
          assert.ok(err instanceof StaleStateError, String(err));
          assert.match(err.message, /plan again/);
          return true;
        });
        // The server refuses the stale environment write itself, too.
        const env = (await second.getEnvironment('prod'))!;
        await assert.rejects(
          second.upsertEnvironment(
            { ...env, planId: planB.id },
            { expectedPlanId: planB.expectedPlanId },
          ),
          (err: unknown) => err instanceof StaleStateError && /run plan again/.test(err.message),
        );
        assert.equal((await first.getEnvironment('prod'))?.planId, planA.id);
      });
    });
  });
}
