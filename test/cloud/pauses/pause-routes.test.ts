import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tokenRoutes } from '../../../src/cloud/auth/token-routes.js';
import { pauseRoutes } from '../../../src/cloud/pauses/pause-routes.js';
import { runRoutes } from '../../../src/cloud/scheduler/run-routes.js';
import { tick } from '../../../src/cloud/scheduler/scheduler.js';
import { startTestCloud, type TestCloud } from '../../helpers/cloud.js';
import { storeTargets, type StoreTarget } from '../../helpers/stores.js';
import {
  DAY,
  FULL,
  INCREMENTAL,
  OTHER,
  PLAN_TIME,
  mutableClock,
  recordPlanBackfill,
  starterSnapshots,
  writeEnvironment,
  type MutableClock,
} from '../scheduler/starter-state.js';

const targets = await storeTargets();

async function cloudWithState(
  target: StoreTarget,
): Promise<{ cloud: TestCloud; clock: MutableClock }> {
  const clock = mutableClock(PLAN_TIME);
  const cloud = await startTestCloud(target, {
    clock,
    settings: { accessTokenTtlMs: 30 * DAY },
    routes: [tokenRoutes, runRoutes, pauseRoutes],
  });
  const db = cloud.server.ctx.store.db;
  const snapshots = await starterSnapshots({ other: true });
  await writeEnvironment(db, cloud.projectId, 'prod', snapshots);
  await recordPlanBackfill(db, cloud.projectId, snapshots);
  return { cloud, clock };
}

async function storedPauses(cloud: TestCloud): Promise<number> {
  const rows = await cloud.server.ctx.store.db.selectFrom('pauses').select('model').execute();
  return rows.length;
}

for (const target of targets) {
  describe(`pauses API on ${target.kind}`, () => {
    it('pauses and unpauses an environment (admins only), and scheduled runs follow', async () => {
      const { cloud, clock } = await cloudWithState(target);
      const developer = await cloud.token(cloud.clients.developer);
      const viewer = await cloud.token(cloud.clients.viewer);
      const denied = await cloud.api('/environments/prod/pause', {
        body: { reason: 'x' },
        token: developer,
      });
      assert.equal(denied.status, 403);
      assert.match(denied.body.error.message, /may not pause/);
      assert.equal(await storedPauses(cloud), 0);

      const paused = await cloud.api('/environments/Prod/pause', {
        body: { reason: 'warehouse maintenance' },
      });
      assert.equal(paused.status, 201);
      assert.deepEqual(
        {
          environment: paused.body.pause.environment,
          model: paused.body.pause.model,
          reason: paused.body.pause.reason,
          createdBy: paused.body.pause.createdBy,
          createdTs: paused.body.pause.createdTs,
        },
        {
          environment: 'prod',
          model: null,
          reason: 'warehouse maintenance',
          createdBy: cloud.clients.admin.clientId,
          createdTs: PLAN_TIME,
        },
      );
      const listed = await cloud.api('/environments/prod/pauses', { token: viewer });
      assert.equal(listed.status, 200);
      assert.equal(listed.body.paused, true);
      assert.equal(listed.body.pauses.length, 1);

      clock.t = PLAN_TIME + DAY;
      assert.deepEqual((await tick(cloud.server.ctx, clock.now())).created, []);

      assert.equal(
        (await cloud.api('/environments/prod/pause', { method: 'DELETE', token: developer }))
          .status,
        403,
      );
      const removed = await cloud.api('/environments/prod/pause', { method: 'DELETE' });
      assert.deepEqual(removed.body, { environment: 'prod', removed: true });
      const again = await cloud.api('/environments/prod/pause', { method: 'DELETE' });
      assert.deepEqual(again.body, { environment: 'prod', removed: false });
      const resumed = await tick(cloud.server.ctx, clock.now());
      assert.equal(resumed.created.length, 1);
      assert.equal(await storedPauses(cloud), 0);
    });

    it('pauses a model by its shown or canonical name, holding back its downstream only', async () => {
      const { cloud, clock } = await cloudWithState(target);
      const shown = await cloud.api('/environments/prod/models/pause', {
        body: { model: 'sqlmesh_example.incremental_model', reason: 'bad upstream data' },
      });
      assert.equal(shown.status, 201);
      assert.equal(shown.body.pause.model, INCREMENTAL);
      const canonical = await cloud.api('/environments/prod/models/pause', {
        body: { model: FULL },
      });
      assert.equal(canonical.status, 201);
      assert.equal(canonical.body.pause.model, FULL);
      // Pausing again keeps the pause (and its reason unless a new one is given).
      const repeat = await cloud.api('/environments/prod/models/pause', {
        body: { model: 'SQLMESH_EXAMPLE.INCREMENTAL_MODEL' },
      });
      assert.equal(repeat.status, 201);
      assert.equal(repeat.body.pause.reason, 'bad upstream data');

      const listed = await cloud.api('/environments/prod/pauses');
      assert.equal(listed.body.paused, false);
      assert.deepEqual(
        listed.body.pauses.map((p: { model: string }) => p.model).sort(),
        [FULL, INCREMENTAL].sort(),
      );

      clock.t = PLAN_TIME + DAY;
      const run = await cloud.api('/runs', { body: { environment: 'prod' } });
      assert.equal(run.status, 201);
      assert.deepEqual(
        run.body.run.tasks.map((t: { model: string }) => t.model),
        [OTHER],
      );

      const unpause = await cloud.api(
        `/environments/prod/models/pause?model=${encodeURIComponent('db.sqlmesh_example.incremental_model')}`,
        { method: 'DELETE' },
      );
      assert.equal(unpause.status, 200);
      assert.deepEqual(unpause.body, { environment: 'prod', model: INCREMENTAL, removed: true });
      assert.equal(
        (
          await cloud.api(`/environments/prod/models/pause?model=${encodeURIComponent(FULL)}`, {
            method: 'DELETE',
          })
        ).status,
        200,
      );
      const resumed = await tick(cloud.server.ctx, clock.now());
      assert.deepEqual(
        resumed.created[0]!.tasks.map((t) => t.model),
        [INCREMENTAL, FULL],
      );
    });

    it('refuses bad input with a 4xx and a clear message, storing nothing', async () => {
      const { cloud } = await cloudWithState(target);
      const cases: Array<{
        path: string;
        method?: string;
        body?: unknown;
        status: number;
        message: RegExp;
      }> = [
        {
          path: '/environments/nope/pause',
          body: {},
          status: 404,
          message: /"nope" does not exist/,
        },
        {
          path: `/environments/${encodeURIComponent("prod'; DELETE FROM pauses; --")}/pause`,
          body: {},
          status: 404,
          message: /does not exist/,
        },
        {
          path: `/environments/${'e'.repeat(300)}/pause`,
          body: {},
          status: 400,
          message: /at most/,
        },
        {
          path: '/environments/prod/pause',
          body: '{"reason":',
          status: 400,
          message: /not valid JSON/,
        },
        {
          path: '/environments/prod/pause',
          body: { reason: 7 },
          status: 400,
          message: /^reason: /,
        },
        {
          path: '/environments/prod/pause',
          body: { reason: 'r'.repeat(5000) },
          status: 400,
          message: /^reason: /,
        },
        {
          path: '/environments/prod/pause',
          body: { reason: 'x', model: 'a' },
          status: 400,
          message: /unknown field.*model/,
        },
        { path: '/environments/prod/models/pause', body: {}, status: 400, message: /^model: / },
        {
          path: '/environments/prod/models/pause',
          body: { model: ['a'] },
          status: 400,
          message: /^model: /,
        },
        {
          path: '/environments/prod/models/pause',
          body: { model: 'sqlmesh_example.nope' },
          status: 400,
          message: /is no model of environment "prod"/,
        },
        {
          path: '/environments/prod/models/pause',
          body: { model: "x'; DROP TABLE pauses; --" },
          status: 400,
          message: /is no model/,
        },
        {
          path: '/environments/prod/models/pause',
          body: { model: '"unterminated' },
          status: 400,
          message: /is no model/,
        },
        {
          path: '/environments/prod/models/pause',
          body: { model: 'm'.repeat(100_000) },
          status: 400,
          message: /^model: /,
        },
        {
          path: '/environments/prod/models/pause',
          body: { model: 'sqlmesh_example.full_model', by: 'me' },
          status: 400,
          message: /unknown field/,
        },
        {
          path: '/environments/nope/models/pause',
          body: { model: 'a.b' },
          status: 404,
          message: /does not exist/,
        },
        {
          path: '/environments/prod/models/pause',
          method: 'DELETE',
          status: 400,
          message: /^model: /,
        },
        {
          path: '/environments/prod/models/pause?model=a.b.c.d',
          method: 'DELETE',
          status: 400,
          message: /is no model/,
        },
        {
          path: '/environments/nope/pauses',
          method: 'GET',
          status: 404,
          message: /does not exist/,
        },
      ];
      for (const c of cases) {
        const res = await cloud.api(c.path, {
          ...(c.method ? { method: c.method } : {}),
          ...(c.body !== undefined ? { body: c.body } : {}),
        });
        assert.equal(res.status, c.status, `${c.method ?? 'POST'} ${c.path.slice(0, 80)}`);
        assert.match(res.body.error.message, c.message);
        assert.doesNotMatch(res.body.error.message, /\n/);
      }
      const plain = await cloud.api('/environments/prod/pause', {
        body: '{}',
        headers: { 'content-type': 'text/plain' },
      });
      assert.equal(plain.status, 415);
      assert.equal(await storedPauses(cloud), 0);
      // A bare POST (no body at all) pauses without a reason.
      const bare = await cloud.api('/environments/prod/pause', { method: 'POST' });
      assert.equal(bare.status, 201);
      assert.equal(bare.body.pause.reason, null);
    });
  });
}
