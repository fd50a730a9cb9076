import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { storeTargets } from '../../helpers/stores.js';
import { runTask, startQueueCloud } from './queue-helpers.js';

const targets = await storeTargets();

for (const target of targets) {
  describe(`task claims on ${target.kind}`, () => {
    it('answers a waiting claim as soon as a task is queued', async () => {
      const cloud = await startQueueCloud(target);
      const executor = await cloud.register('run');
      const started = performance.now();
      const waiting = cloud.claim(executor, 20_000);
      await new Promise((r) => setTimeout(r, 300));
      const [id] = await cloud.enqueue([runTask('db.a')]);
      const queuedAt = performance.now();
      const task = await waiting;
      const answeredAt = performance.now();
      assert.ok(task, 'the claim got the task');
      assert.equal(task.taskId, id);
      assert.ok(answeredAt - started >= 250, 'the claim waited for the task');
      assert.ok(
        answeredAt - queuedAt < 2_000,
        `answered ${answeredAt - queuedAt} ms after queueing`,
      );
      assert.equal(task.queue, 'run');
      assert.equal(task.attempt, 1);
      assert.equal(task.lease.fencingToken, 1);
      assert.equal(task.lease.expiresTs, cloud.clock.now() + 30_000);
      assert.deepEqual(task.payload, runTask('db.a').payload);
    });

    it('answers 204 when nothing came within the wait, capped by the cloud', async () => {
      const cloud = await startQueueCloud(target, { settings: { claimWaitMs: 400 } });
      const executor = await cloud.register('run');
      let t0 = performance.now();
      assert.equal(await cloud.claim(executor, 250), undefined);
      let took = performance.now() - t0;
      assert.ok(took >= 240 && took < 2_000, `waited ${took} ms`);
      t0 = performance.now();
      assert.equal(await cloud.claim(executor, 600_000), undefined);
      took = performance.now() - t0;
      assert.ok(took >= 390 && took < 2_500, `waited ${took} ms with the cap`);
    });

    it('never hands one task to two claimers (20 claimers, 50 tasks)', async () => {
      const cloud = await startQueueCloud(target);
      const executors = await Promise.all(Array.from({ length: 20 }, () => cloud.register('run')));
      const ids = await cloud.enqueue(Array.from({ length: 50 }, () => runTask(undefined)));
      const claimed: string[] = [];
      await Promise.all(
        executors.map(async (executor) => {
          for (;;) {
            const task = await cloud.claim(executor, 0);
            if (!task) return;
            claimed.push(task.taskId);
          }
        }),
      );
      assert.equal(claimed.length, 50);
      assert.deepEqual([...claimed].sort(), [...ids].sort());
      const rows = await cloud.server.ctx.store.db
        .selectFrom('tasks')
        .select(['status', 'attempts', 'fencing_token'])
        .where('project_id', '=', cloud.projectId)
        .execute();
      assert.ok(rows.every((r) => r.status === 'claimed' && Number(r.attempts) === 1));
      assert.ok(rows.every((r) => Number(r.fencing_token) === 1));
    });

    it('wakes many waiting claimers and gives each queued task to exactly one', async () => {
      const cloud = await startQueueCloud(target);
      const executors = await Promise.all(Array.from({ length: 8 }, () => cloud.register('run')));
      const waits = executors.map((e) => cloud.claim(e, 1_500));
      await new Promise((r) => setTimeout(r, 200));
      const ids = await cloud.enqueue(Array.from({ length: 5 }, () => runTask(undefined)));
      const got = (await Promise.all(waits)).filter((t) => t !== undefined);
      assert.deepEqual(got.map((t) => t.taskId).sort(), [...ids].sort());
    });

    it('hands out tasks by the executor kind, and not before their time', async () => {
      const cloud = await startQueueCloud(target);
      const run = await cloud.register('run');
      const apply = await cloud.register('apply');
      await cloud.enqueue([runTask('db.a', { notBeforeTs: cloud.clock.now() + 5_000 })]);
      assert.equal(await cloud.claim(apply, 0), undefined);
      assert.equal(await cloud.claim(run, 0), undefined);
      cloud.clock.advance(5_000);
      const task = await cloud.claim(run, 0);
      assert.ok(task);
      const executors = await cloud.api('/executors');
      const me = executors.body.executors.find((e: { executorId: string }) => e.executorId === run);
      assert.deepEqual(me.currentTasks, [task.taskId]);
    });

    it('finds a task whose backoff ends while the claim waits', async () => {
      const cloud = await startQueueCloud(target);
      const run = await cloud.register('run');
      await cloud.enqueue([runTask('db.a', { notBeforeTs: cloud.clock.now() + 5_000 })]);
      const waiting = cloud.claim(run, 10_000);
      await new Promise((r) => setTimeout(r, 100));
      cloud.clock.advance(5_000);
      const t0 = performance.now();
      const task = await waiting;
      assert.ok(task);
      assert.ok(performance.now() - t0 < 2_000);
    });

    it('claims one task of a model and version at a time', async () => {
      const cloud = await startQueueCloud(target);
      const a = await cloud.register('run');
      const b = await cloud.register('run');
      const [first, second] = await cloud.enqueue([runTask('db.m'), runTask('db.m')]);
      const [other] = await cloud.enqueue([runTask('db.m', { version: 'v2' })]);
      const c1 = await cloud.claim(a, 0);
      const c2 = await cloud.claim(b, 0);
      assert.ok(c1 && c2);
      const got = [c1.taskId, c2.taskId];
      assert.ok(got.includes(other!), 'another version of the model is free');
      const t1 = c1.taskId === other ? c2 : c1;
      assert.ok([first, second].includes(t1.taskId));
      const sibling = t1.taskId === first ? second : first;
      assert.equal(await cloud.claim(b, 0), undefined, 'the same version waits');
      const waiting = cloud.claim(b, 5_000);
      const done = await cloud.post(`/tasks/${t1.taskId}/complete`, {
        leaseId: t1.lease.leaseId,
        fencingToken: t1.lease.fencingToken,
        status: 'succeeded',
      });
      assert.equal(done.status, 200);
      assert.equal((await waiting)?.taskId, sibling);
    });

    it('refuses unknown executors and callers that are not executors', async () => {
      const cloud = await startQueueCloud(target);
      const res = await cloud.post('/tasks/claim', { executorId: 'nope', waitMs: 0 });
      assert.equal(res.status, 404);
      assert.match(res.body.error.message, /register/);
      const executor = await cloud.register('run');
      for (const role of ['viewer', 'developer', 'admin'] as const) {
        const token = await cloud.token(cloud.clients[role]);
        const denied = await cloud.api('/tasks/claim', {
          method: 'POST',
          body: { executorId: executor, waitMs: 0 },
          token,
        });
        assert.equal(denied.status, 403, role);
      }
      const none = await cloud.api('/tasks/claim', {
        method: 'POST',
        body: { executorId: executor, waitMs: 0 },
        token: null,
      });
      assert.equal(none.status, 401);
    });
  });
}
