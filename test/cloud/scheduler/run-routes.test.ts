import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tokenRoutes } from '../../../src/cloud/auth/token-routes.js';
import { pauseRoutes } from '../../../src/cloud/pauses/pause-routes.js';
import { runRoutes } from '../../../src/cloud/scheduler/run-routes.js';
import { startTestCloud, type TestCloud } from '../../helpers/cloud.js';
import { storeTargets, type StoreTarget } from '../../helpers/stores.js';
import {
  DAY,
  FULL,
  HOUR,
  INCREMENTAL,
  MIDNIGHT,
  PLAN_TIME,
  mutableClock,
  recordPlanBackfill,
  starterSnapshots,
  writeEnvironment,
  type MutableClock,
} from './starter-state.js';

const targets = await storeTargets();

async function cloudWithState(
  target: StoreTarget,
  environments: Array<{ name: string; expirationTs?: number }> = [
    { name: 'prod' },
    { name: 'dev' },
  ],
): Promise<{ cloud: TestCloud; clock: MutableClock }> {
  const clock = mutableClock(PLAN_TIME);
  const cloud = await startTestCloud(target, {
    clock,
    settings: { accessTokenTtlMs: 30 * DAY },
    routes: [tokenRoutes, runRoutes, pauseRoutes],
  });
  const db = cloud.server.ctx.store.db;
  const snapshots = await starterSnapshots();
  for (const env of environments) {
    await writeEnvironment(db, cloud.projectId, env.name, snapshots, {
      ...(env.expirationTs !== undefined ? { expirationTs: env.expirationTs } : {}),
    });
  }
  await recordPlanBackfill(db, cloud.projectId, snapshots);
  return { cloud, clock };
}

async function storedRuns(cloud: TestCloud): Promise<number> {
  const rows = await cloud.server.ctx.store.db.selectFrom('runs').select('id').execute();
  return rows.length;
}

for (const target of targets) {
  describe(`runs API on ${target.kind}`, () => {
    it('lets developers run dev but not prod, admins run prod, and viewers run nothing', async () => {
      const { cloud, clock } = await cloudWithState(target);
      clock.t = PLAN_TIME + DAY;
      const viewer = await cloud.token(cloud.clients.viewer);
      const developer = await cloud.token(cloud.clients.developer);

      const denied = await cloud.api('/runs', { body: { environment: 'dev' }, token: viewer });
      assert.equal(denied.status, 403);
      assert.match(denied.body.error.message, /role viewer may not run/);
      const prodByDev = await cloud.api('/runs', {
        body: { environment: 'prod' },
        token: developer,
      });
      assert.equal(prodByDev.status, 403);
      assert.match(prodByDev.body.error.message, /may not run prod/);
      assert.equal(await storedRuns(cloud), 0);

      const dev = await cloud.api('/runs', { body: { environment: 'DEV' }, token: developer });
      assert.equal(dev.status, 201);
      assert.equal(dev.body.run.environment, 'dev');
      assert.equal(dev.body.run.trigger, 'manual');
      assert.equal(dev.body.run.status, 'pending');
      assert.equal(dev.body.run.executionTs, PLAN_TIME + DAY);
      assert.equal(dev.body.run.createdBy, cloud.clients.developer.clientId);
      assert.deepEqual(
        dev.body.run.tasks.map((t: { model: string }) => t.model),
        [INCREMENTAL, FULL],
      );
      assert.deepEqual(dev.body.run.tasks[0].batches, [[MIDNIGHT, MIDNIGHT + DAY]]);
      assert.deepEqual(dev.body.run.tasks[1].dependsOn, [dev.body.run.tasks[0].id]);

      // prod shares dev's table versions, whose day is already queued.
      const prod = await cloud.api('/runs', { body: { environment: 'prod' } });
      assert.equal(prod.status, 200);
      assert.equal(prod.body.run, null);
      assert.match(prod.body.message, /nothing is due in environment "prod"/);
      assert.equal(await storedRuns(cloud), 1);
    });

    it('answers 404 for unknown environments and 409 for paused or expired ones', async () => {
      const { cloud, clock } = await cloudWithState(target, [
        { name: 'prod' },
        { name: 'old', expirationTs: PLAN_TIME + HOUR },
      ]);
      clock.t = PLAN_TIME + DAY;
      const unknown = await cloud.api('/runs', { body: { environment: 'staging' } });
      assert.equal(unknown.status, 404);
      assert.match(unknown.body.error.message, /environment "staging" does not exist/);
      const expired = await cloud.api('/runs', { body: { environment: 'old' } });
      assert.equal(expired.status, 409);
      assert.match(expired.body.error.message, /expired/);
      assert.equal((await cloud.api('/environments/prod/pause', { body: {} })).status, 201);
      const paused = await cloud.api('/runs', { body: { environment: 'prod' } });
      assert.equal(paused.status, 409);
      assert.equal(paused.body.error.code, 'paused');
      assert.equal(await storedRuns(cloud), 0);
      assert.equal((await cloud.api('/environments/prod/pause', { method: 'DELETE' })).status, 200);
      const resumed = await cloud.api('/runs', { body: { environment: 'prod' } });
      assert.equal(resumed.status, 201);
    });

    it('lists runs newest first, filters them, and shows a run with its tasks', async () => {
      const { cloud, clock } = await cloudWithState(target, [{ name: 'prod' }]);
      clock.t = PLAN_TIME + DAY;
      const first = await cloud.api('/runs', { body: { environment: 'prod' } });
      assert.equal(first.status, 201);
      clock.t = PLAN_TIME + 2 * DAY;
      const second = await cloud.api('/runs', { body: { environment: 'prod' } });
      assert.equal(second.status, 201);

      const viewer = await cloud.token(cloud.clients.viewer);
      const all = await cloud.api('/runs', { token: viewer });
      assert.equal(all.status, 200);
      assert.deepEqual(
        all.body.runs.map((r: { id: string }) => r.id),
        [second.body.run.id, first.body.run.id],
      );
      const one = await cloud.api('/runs?limit=1&environment=prod', { token: viewer });
      assert.deepEqual(
        one.body.runs.map((r: { id: string }) => r.id),
        [second.body.run.id],
      );
      const none = await cloud.api('/runs?environment=dev', { token: viewer });
      assert.deepEqual(none.body.runs, []);
      const executor = await cloud.token(cloud.clients.executor);
      assert.equal((await cloud.api('/runs', { token: executor })).status, 403);

      // Finishing the first run's tasks shows in its record.
      const db = cloud.server.ctx.store.db;
      await db
        .updateTable('tasks')
        .set({ status: 'succeeded', started_ts: clock.now(), finished_ts: clock.now() })
        .where('run_id', '=', first.body.run.id)
        .execute();
      const shown = await cloud.api(`/runs/${first.body.run.id}`, { token: viewer });
      assert.equal(shown.status, 200);
      assert.equal(shown.body.run.status, 'succeeded');
      assert.equal(shown.body.run.finishedTs, clock.now());
      assert.deepEqual(
        shown.body.run.tasks.map((t: { status: string }) => t.status),
        ['succeeded', 'succeeded'],
      );
      const missing = await cloud.api('/runs/00000000-0000-0000-0000-000000000000');
      assert.equal(missing.status, 404);
    });

    it('serves freshness per model', async () => {
      const { cloud, clock } = await cloudWithState(target, [{ name: 'prod' }]);
      clock.t = PLAN_TIME + DAY;
      const viewer = await cloud.token(cloud.clients.viewer);
      const res = await cloud.api('/environments/prod/freshness', { token: viewer });
      assert.equal(res.status, 200);
      const states = Object.fromEntries(
        res.body.models.map((m: { model: string; state: string }) => [m.model, m.state]),
      );
      assert.equal(states[INCREMENTAL], 'behind');
      assert.equal(states[FULL], 'behind');
      await cloud.api('/runs', { body: { environment: 'prod' } });
      const after = await cloud.api('/environments/prod/freshness', { token: viewer });
      assert.equal(
        after.body.models.find((m: { model: string }) => m.model === INCREMENTAL).state,
        'pending',
      );
      assert.equal((await cloud.api('/environments/nope/freshness')).status, 404);
    });

    it('refuses bad input with a 4xx and a clear message, storing nothing', async () => {
      const { cloud, clock } = await cloudWithState(target);
      clock.t = PLAN_TIME + DAY;
      const bodies: Array<{ body: unknown; status: number; message: RegExp }> = [
        { body: '{"environment": "dev"', status: 400, message: /not valid JSON/ },
        { body: '[]', status: 400, message: /expected object/i },
        { body: 'null', status: 400, message: /expected object/i },
        { body: {}, status: 400, message: /environment/ },
        { body: { environment: 42 }, status: 400, message: /environment/ },
        { body: { environment: '' }, status: 400, message: /environment/ },
        { body: { environment: '   ' }, status: 400, message: /environment/ },
        { body: { environment: 'x'.repeat(10_000) }, status: 400, message: /environment/ },
        { body: { environment: 'dev', ignoreCron: 'yes' }, status: 400, message: /ignoreCron/ },
        { body: { environment: 'dev', extra: 1 }, status: 400, message: /unknown field.*extra/ },
        {
          body: { environment: "dev'; DROP TABLE runs; --" },
          status: 404,
          message: /does not exist/,
        },
        { body: { environment: 'dev\u0000' }, status: 400, message: /control characters/ },
      ];
      for (const { body, status, message } of bodies) {
        const res = await cloud.api('/runs', { body });
        assert.equal(res.status, status, JSON.stringify(body).slice(0, 80));
        assert.match(res.body.error.message, message);
        assert.doesNotMatch(res.body.error.message, /\n|at .*\.js/);
      }
      const noType = await cloud.api('/runs', {
        body: '{"environment":"dev"}',
        headers: { 'content-type': 'text/plain' },
      });
      assert.equal(noType.status, 415);
      for (const query of ['limit=0', 'limit=-1', 'limit=abc', 'limit=100000', 'limit=1.5']) {
        const res = await cloud.api(`/runs?${query}`);
        assert.equal(res.status, 400, query);
        assert.match(res.body.error.message, /^limit: /);
      }
      const longId = await cloud.api(`/runs/${'a'.repeat(5000)}`);
      assert.equal(longId.status, 404);
      const sqlId = await cloud.api(`/runs/${encodeURIComponent("1' OR '1'='1")}`);
      assert.equal(sqlId.status, 404);
      const unauth = await cloud.api('/runs', { body: { environment: 'dev' }, token: null });
      assert.equal(unauth.status, 401);
      assert.equal(await storedRuns(cloud), 0);
      const tasks = await cloud.server.ctx.store.db.selectFrom('tasks').select('id').execute();
      assert.equal(tasks.length, 0);
    });
  });
}
