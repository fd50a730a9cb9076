import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClaimedTask } from '../../../src/protocol/messages.js';
import { storeTargets } from '../../helpers/stores.js';
import {
  countRows,
  minimalPlan,
  startQueueCloud,
  type QueueCloud,
} from '../queue/queue-helpers.js';

const targets = await storeTargets();

function lease(task: ClaimedTask) {
  return { leaseId: task.lease.leaseId, fencingToken: task.lease.fencingToken };
}

async function submit(cloud: QueueCloud, plan: Record<string, unknown>, token?: string) {
  return cloud.api('/plans', { method: 'POST', body: { plan }, ...(token ? { token } : {}) });
}

async function setEnvironment(cloud: QueueCloud, name: string, planId: string) {
  const now = cloud.clock.now();
  await cloud.server.ctx.store.db
    .insertInto('environments')
    .values({
      project_id: cloud.projectId,
      name,
      payload: '{}',
      plan_id: planId,
      expiration_ts: null,
      created_ts: now,
      updated_ts: now,
    })
    .execute();
}

for (const target of targets) {
  describe(`plans on ${target.kind}`, () => {
    it('applies plans of one environment in order and of different ones side by side', async () => {
      const cloud = await startQueueCloud(target);
      const a1 = await cloud.register('apply');
      const a2 = await cloud.register('apply');
      const run = await cloud.register('run');
      const p1 = await submit(cloud, minimalPlan('plan-1', 'dev', null));
      assert.equal(p1.status, 201);
      assert.deepEqual(p1.body, { planId: 'plan-1', status: 'pending' });
      cloud.clock.advance(1);
      assert.equal((await submit(cloud, minimalPlan('plan-2', 'dev', null))).status, 201);
      cloud.clock.advance(1);
      assert.equal((await submit(cloud, minimalPlan('plan-3', 'staging', null))).status, 201);

      assert.equal(await cloud.claim(run), undefined, 'plans go to apply executors only');
      const first = (await cloud.claim(a1))!;
      assert.equal(first.payload.kind, 'apply_plan');
      assert.equal(first.payload.kind === 'apply_plan' && first.payload.planId, 'plan-1');
      assert.deepEqual(
        first.payload.kind === 'apply_plan' && first.payload.plan,
        minimalPlan('plan-1', 'dev', null),
      );
      const second = (await cloud.claim(a2))!;
      assert.equal(second.payload.kind === 'apply_plan' && second.payload.planId, 'plan-3');
      assert.equal(await cloud.claim(a2), undefined, 'plan-2 waits for plan-1');
      assert.equal((await cloud.api('/plans/plan-1')).body.status, 'applying');
      assert.equal((await cloud.api('/plans/plan-2')).body.status, 'pending');

      await cloud.post(`/tasks/${first.taskId}/progress`, {
        ...lease(first),
        logs: [
          { level: 'info', message: 'creating tables', ts: cloud.clock.now() },
          { level: 'info', message: 'backfilling', ts: cloud.clock.now() },
        ],
        evaluations: [
          {
            model: 'db.a',
            identifier: 'i1',
            version: 'v1',
            interval: [1, 2],
            status: 'succeeded',
            durationMs: 3,
          },
        ],
      });
      const progress = await cloud.api('/plans/plan-1/progress');
      assert.equal(progress.status, 200);
      assert.deepEqual(
        progress.body.logs.map((l: { message: string }) => l.message),
        ['creating tables', 'backfilling'],
      );
      assert.equal(progress.body.evaluations.length, 1);
      assert.deepEqual(progress.body.evaluations[0].interval, [1, 2]);
      const later = await cloud.api(
        `/plans/plan-1/progress?after=${progress.body.logs[0].id}&evaluationsAfter=${progress.body.nextEvaluationsAfter}`,
      );
      assert.deepEqual(
        later.body.logs.map((l: { message: string }) => l.message),
        ['backfilling'],
      );
      assert.equal(later.body.evaluations.length, 0);

      const finished: unknown[] = [];
      cloud.server.ctx.events.subscribe((e) => {
        if (e.type === 'plan.finished') finished.push(e.payload);
      });
      const waiting = cloud.claim(a2, 5_000);
      await cloud.post(`/tasks/${first.taskId}/complete`, { ...lease(first), status: 'succeeded' });
      const third = (await waiting)!;
      assert.equal(third.payload.kind === 'apply_plan' && third.payload.planId, 'plan-2');
      const info = await cloud.api('/plans/plan-1');
      assert.equal(info.body.status, 'succeeded');
      assert.equal(info.body.finishedTs, cloud.clock.now());
      assert.equal(info.body.summary.changes.added, 1);
      assert.equal(info.body.summary.backfill.batches, 1);
      assert.deepEqual(finished, [{ planId: 'plan-1', status: 'succeeded', error: null }]);

      await cloud.post(`/tasks/${third.taskId}/complete`, {
        ...lease(third),
        status: 'failed',
        error: 'model db.a failed: division by zero',
      });
      const failed = await cloud.api('/plans/plan-2');
      assert.equal(failed.body.status, 'failed');
      assert.equal(failed.body.error, 'model db.a failed: division by zero');
    });

    it('refuses a plan computed against an older state of the environment', async () => {
      const cloud = await startQueueCloud(target);
      await setEnvironment(cloud, 'dev', 'plan-0');
      const stale = await submit(cloud, minimalPlan('plan-1', 'dev', null));
      assert.equal(stale.status, 409);
      assert.equal(stale.body.error.code, 'stale_plan');
      assert.equal(
        stale.body.error.message,
        'environment dev changed since this plan was computed; run plan again',
      );
      const wrong = await submit(cloud, minimalPlan('plan-1', 'dev', 'plan-x'));
      assert.equal(wrong.status, 409);
      const fresh = await submit(cloud, minimalPlan('plan-1', 'dev', 'plan-0'));
      assert.equal(fresh.status, 201);
      const again = await submit(cloud, minimalPlan('plan-1', 'dev', 'plan-0'));
      assert.equal(again.status, 409);
      assert.equal(again.body.error.code, 'plan_exists');
      assert.equal(await countRows(cloud, 'plans'), 1);
      assert.equal(await countRows(cloud, 'tasks'), 1);
    });

    it('checks who may plan which environment', async () => {
      const cloud = await startQueueCloud(target);
      const developer = await cloud.token(cloud.clients.developer);
      const viewer = await cloud.token(cloud.clients.viewer);
      const prod = await submit(cloud, minimalPlan('p-prod', 'prod', null), developer);
      assert.equal(prod.status, 403);
      assert.match(prod.body.error.message, /plan prod/);
      assert.equal((await submit(cloud, minimalPlan('p-dev', 'dev', null), developer)).status, 201);
      assert.equal((await submit(cloud, minimalPlan('p-v', 'dev', null), viewer)).status, 403);
      assert.equal(
        (await submit(cloud, minimalPlan('p-e', 'dev', null), cloud.executorToken)).status,
        403,
      );
      const anon = await cloud.api('/plans', {
        method: 'POST',
        body: { plan: minimalPlan('p-a', 'dev', null) },
        token: null,
      });
      assert.equal(anon.status, 401);
      assert.equal((await submit(cloud, minimalPlan('p-prod', 'prod', null))).status, 201);
      assert.equal((await cloud.api('/plans/p-prod', { token: viewer })).status, 200);
      assert.equal((await cloud.api('/plans/p-prod', { token: cloud.executorToken })).status, 403);
      assert.equal((await cloud.api('/plans/p-prod', { token: null })).status, 401);
      const cancelProd = await cloud.api('/plans/p-prod/cancel', {
        method: 'POST',
        token: developer,
      });
      assert.equal(cancelProd.status, 403);
      assert.equal(await countRows(cloud, 'plans'), 2);
    });

    it('cancels a pending plan at once and asks the executor to stop an applying one', async () => {
      const cloud = await startQueueCloud(target);
      const executor = await cloud.register('apply');
      await submit(cloud, minimalPlan('plan-1', 'dev', null));
      cloud.clock.advance(1);
      await submit(cloud, minimalPlan('plan-2', 'dev', null));
      const task = (await cloud.claim(executor))!;

      const pending = await cloud.api('/plans/plan-2/cancel', { method: 'POST' });
      assert.equal(pending.status, 200);
      assert.equal(pending.body.status, 'cancelled');
      const applying = await cloud.api('/plans/plan-1/cancel', { method: 'POST' });
      assert.equal(applying.body.status, 'applying');
      assert.equal(applying.body.cancelRequestedTs, cloud.clock.now());

      const beat = await cloud.post(`/tasks/${task.taskId}/heartbeat`, lease(task));
      assert.equal(beat.body.cancelRequested, true);
      const done = await cloud.post(`/tasks/${task.taskId}/complete`, {
        ...lease(task),
        status: 'failed',
        error: 'stopped',
        retryable: true,
      });
      assert.deepEqual(done.body, { status: 'cancelled' });
      assert.equal((await cloud.api('/plans/plan-1')).body.status, 'cancelled');
      assert.equal(await cloud.claim(executor), undefined, 'the cancelled plan-2 is not applied');
      const list = await cloud.api('/executors');
      assert.equal(list.body.executors[0].aborted, 1);
      const finished = await cloud.api('/plans/plan-1/cancel', { method: 'POST' });
      assert.equal(finished.status, 409);
      assert.equal(finished.body.error.code, 'plan_finished');
      assert.equal((await cloud.api('/plans/nope')).status, 404);
    });

    it('refuses bad plans with one-line messages and stores nothing', async () => {
      const cloud = await startQueueCloud(target);
      const plan = minimalPlan('plan-1', 'dev', null);
      const bodies: unknown[] = [
        {},
        { plan: null },
        { plan, extra: 1 },
        { plan: { ...plan, id: '' } },
        { plan: { ...plan, id: "p'; DROP TABLE plans; --" } },
        { plan: { ...plan, id: 'p'.repeat(1_000) } },
        { plan: { ...plan, environment: 'Prod' } },
        { plan: { ...plan, environment: "dev'; --" } },
        { plan: { ...plan, environment: 42 } },
        { plan: { ...plan, expectedPlanId: 7 } },
        { plan: { ...plan, start: 'yesterday' } },
        { plan: { ...plan, end: 1e300 } },
        { plan: { ...plan, changes: 'all' } },
        { plan: { ...plan, backfill: [{ name: 'a', batches: [[1]] }] } },
        { plan: { ...plan, snapshots: [1, 2] } },
        { plan: { ...plan, isNewEnvironment: 'yes' } },
        [plan],
      ];
      for (const body of bodies) {
        const res = await cloud.api('/plans', { method: 'POST', body });
        assert.equal(res.status, 400, JSON.stringify(body).slice(0, 150));
        assert.ok(!res.body.error.message.includes('\n'));
      }
      const malformed = await cloud.api('/plans', { method: 'POST', body: '{"plan": {' });
      assert.equal(malformed.status, 400);
      const text = await cloud.api('/plans', {
        method: 'POST',
        body: 'plan',
        headers: { 'content-type': 'text/plain' },
      });
      assert.equal(text.status, 415);
      for (const query of ['after=-1', 'after=abc', 'limit=0', 'limit=99999', 'sort=id']) {
        await submit(cloud, minimalPlan('p-q', 'qa', null));
        const res = await cloud.api(`/plans/p-q/progress?${query}`);
        assert.equal(res.status, 400, query);
      }
      const sqlish = await cloud.api(`/plans/${encodeURIComponent("x' OR 1=1 --")}`);
      assert.equal(sqlish.status, 404);
      assert.equal(await countRows(cloud, 'plans'), 1);
      assert.equal(await countRows(cloud, 'tasks'), 1);
    });
  });
}
