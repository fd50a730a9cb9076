import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { enqueueTasks } from '../../../src/cloud/queue/task-queue.js';
import { settleWaitingTasks } from '../../../src/cloud/queue/completion.js';
import type { ClaimedTask } from '../../../src/protocol/messages.js';
import { storeTargets } from '../../helpers/stores.js';
import { runTask, startQueueCloud, type QueueCloud } from './queue-helpers.js';

const targets = await storeTargets();

function lease(task: ClaimedTask) {
  return { leaseId: task.lease.leaseId, fencingToken: task.lease.fencingToken };
}

async function statuses(cloud: QueueCloud, ids: string[]): Promise<string[]> {
  const rows = await cloud.server.ctx.store.db
    .selectFrom('tasks')
    .select(['id', 'status'])
    .where('id', 'in', ids)
    .execute();
  const byId = new Map(rows.map((r) => [r.id, r.status]));
  return ids.map((id) => byId.get(id) ?? 'missing');
}

for (const target of targets) {
  describe(`task completion on ${target.kind}`, () => {
    it('retries a retryable failure with exponential backoff, then fails for good', async () => {
      const cloud = await startQueueCloud(target, {
        settings: { maxAttempts: 3, retryBackoffMs: 10_000 },
      });
      const executor = await cloud.register('run');
      const [id] = await cloud.enqueue([runTask('db.a')]);
      const expectedDelays = [10_000, 20_000];
      for (let attempt = 1; attempt <= 3; attempt++) {
        const task = (await cloud.claim(executor))!;
        assert.equal(task.attempt, attempt);
        const res = await cloud.post(`/tasks/${id}/complete`, {
          ...lease(task),
          status: 'failed',
          error: 'connection reset',
          retryable: true,
        });
        assert.equal(res.status, 200);
        if (attempt === 3) {
          assert.deepEqual(res.body, { status: 'failed' });
          break;
        }
        const delay = expectedDelays[attempt - 1]!;
        assert.equal(res.body.status, 'pending');
        assert.equal(res.body.retryAtTs, cloud.clock.now() + delay);
        assert.equal(await cloud.claim(executor), undefined, 'not before its backoff');
        cloud.clock.advance(delay - 1);
        assert.equal(await cloud.claim(executor), undefined);
        cloud.clock.advance(1);
      }
      const row = await cloud.server.ctx.store.db
        .selectFrom('tasks')
        .selectAll()
        .where('id', '=', id!)
        .executeTakeFirstOrThrow();
      assert.equal(row.status, 'failed');
      assert.equal(row.error, 'connection reset');
      assert.equal(Number(row.attempts), 3);
      const list = await cloud.api('/executors');
      assert.equal(list.body.executors[0].failed, 3);
      assert.equal(list.body.executors[0].completed, 0);
    });

    it('fails a non-retryable failure at once', async () => {
      const cloud = await startQueueCloud(target);
      const executor = await cloud.register('run');
      const [id] = await cloud.enqueue([runTask('db.a')]);
      const task = (await cloud.claim(executor))!;
      const res = await cloud.post(`/tasks/${id}/complete`, {
        ...lease(task),
        status: 'failed',
        error: 'syntax error at or near "SELEC"',
      });
      assert.deepEqual(res.body, { status: 'failed' });
      assert.deepEqual(await statuses(cloud, [id!]), ['failed']);
    });

    it('releases dependants when their dependencies succeed, and cancels them on failure', async () => {
      const cloud = await startQueueCloud(target);
      const executor = await cloud.register('run');
      // a -> b -> c, a -> d, and e waits on both b and d.
      const ids = { a: 'task-a', b: 'task-b', c: 'task-c', d: 'task-d', e: 'task-e' };
      await cloud.enqueue([
        runTask('db.a', { id: ids.a }),
        runTask('db.b', { id: ids.b, dependsOn: [ids.a] }),
        runTask('db.c', { id: ids.c, dependsOn: [ids.b] }),
        runTask('db.d', { id: ids.d, dependsOn: [ids.a] }),
        runTask('db.e', { id: ids.e, dependsOn: [ids.b, ids.d] }),
      ]);
      const all = [ids.a, ids.b, ids.c, ids.d, ids.e];
      assert.deepEqual(await statuses(cloud, all), [
        'pending',
        'waiting',
        'waiting',
        'waiting',
        'waiting',
      ]);
      const a = (await cloud.claim(executor))!;
      assert.equal(a.taskId, ids.a);
      assert.equal(await cloud.claim(executor), undefined, 'dependants wait');
      const waiting = cloud.claim(executor, 5_000);
      await cloud.post(`/tasks/${ids.a}/complete`, { ...lease(a), status: 'succeeded' });
      const first = (await waiting)!;
      assert.ok([ids.b, ids.d].includes(first.taskId), 'a released dependant is claimed at once');
      assert.deepEqual(await statuses(cloud, [ids.c, ids.e]), ['waiting', 'waiting']);
      const second = (await cloud.claim(executor))!;
      const b = first.taskId === ids.b ? first : second;
      const d = first.taskId === ids.d ? first : second;
      await cloud.post(`/tasks/${ids.d}/complete`, { ...lease(d), status: 'succeeded' });
      assert.deepEqual(await statuses(cloud, [ids.e]), ['waiting'], 'e still waits on b');
      const failed = await cloud.post(`/tasks/${ids.b}/complete`, {
        ...lease(b),
        status: 'failed',
        error: 'boom',
      });
      assert.equal(failed.body.status, 'failed');
      assert.deepEqual(await statuses(cloud, all), [
        'succeeded',
        'failed',
        'cancelled',
        'succeeded',
        'cancelled',
      ]);
      const c = await cloud.server.ctx.store.db
        .selectFrom('tasks')
        .select('error')
        .where('id', '=', ids.c)
        .executeTakeFirstOrThrow();
      assert.match(c.error ?? '', /upstream task task-b \(db\.b\) failed/);
    });

    it('settles tasks queued after their dependencies finished', async () => {
      const cloud = await startQueueCloud(target);
      const ctx = cloud.server.ctx;
      const executor = await cloud.register('run');
      const [ok, bad] = await cloud.enqueue([runTask('db.ok'), runTask('db.bad')]);
      for (let i = 0; i < 2; i++) {
        const t = (await cloud.claim(executor))!;
        await cloud.post(`/tasks/${t.taskId}/complete`, {
          ...lease(t),
          status: t.taskId === ok ? 'succeeded' : 'failed',
        });
      }
      const [late, doomed, chained] = await enqueueTasks(ctx, cloud.projectId, [
        runTask('db.x', { dependsOn: [ok!] }),
        runTask('db.y', { dependsOn: [bad!], id: 'doomed' }),
        runTask('db.z', { dependsOn: ['doomed'] }),
      ]);
      assert.deepEqual(await statuses(cloud, [late!, doomed!, chained!]), [
        'pending',
        'cancelled',
        'cancelled',
      ]);
      // A waiting task that missed its dependency's completion is settled by the sweep.
      const [stuck] = await enqueueTasks(ctx, cloud.projectId, [
        runTask('db.w', { dependsOn: ['later'] }),
      ]);
      await enqueueTasks(ctx, cloud.projectId, [runTask('db.v', { id: 'later' })]);
      await ctx.store.db
        .updateTable('tasks')
        .set({ status: 'succeeded' })
        .where('id', '=', 'later')
        .execute();
      cloud.clock.advance(2_000);
      assert.equal(await settleWaitingTasks(ctx), 1);
      assert.deepEqual(await statuses(cloud, [stuck!]), ['pending']);
    });

    it('stores progress: log lines and evaluations with the task, run and plan', async () => {
      const cloud = await startQueueCloud(target);
      const executor = await cloud.register('run');
      const [id] = await cloud.enqueue([runTask('db.a', { runId: 'run-1' })]);
      const task = (await cloud.claim(executor))!;
      const events: string[] = [];
      cloud.server.ctx.events.subscribe((e) => events.push(e.type));
      const res = await cloud.post(`/tasks/${id}/progress`, {
        ...lease(task),
        logs: [
          { level: 'info', message: 'evaluating db.a', ts: cloud.clock.now() },
          { level: 'warn', message: 'slow query', ts: cloud.clock.now() + 1 },
        ],
        evaluations: [
          {
            model: 'db.a',
            identifier: 'i1',
            version: 'v1',
            interval: [0, 86_400_000],
            status: 'succeeded',
            rows: 42,
            durationMs: 15.4,
          },
        ],
        progress: { stage: 'evaluate', done: 1, total: 3 },
      });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { logs: 2, evaluations: 1, cancelRequested: false });
      const db = cloud.server.ctx.store.db;
      const logs = await db.selectFrom('logs').selectAll().orderBy('id').execute();
      assert.deepEqual(
        logs.map((l) => [l.task_id, l.run_id, l.executor_id, l.level, l.message]),
        [
          [id, 'run-1', executor, 'info', 'evaluating db.a'],
          [id, 'run-1', executor, 'warn', 'slow query'],
        ],
      );
      const evals = await db.selectFrom('evaluations').selectAll().execute();
      assert.equal(evals.length, 1);
      assert.equal(evals[0]!.run_id, 'run-1');
      assert.equal(evals[0]!.task_id, id);
      assert.equal(Number(evals[0]!.rows), 42);
      assert.equal(Number(evals[0]!.duration_ms), 15);
      assert.equal(Number(evals[0]!.attempt), 1);
      assert.equal(evals[0]!.environment, 'prod');
      assert.ok(events.includes('task.progress'));
      const done = await cloud.post(`/tasks/${id}/complete`, {
        ...lease(task),
        status: 'succeeded',
      });
      assert.deepEqual(done.body, { status: 'succeeded' });
      assert.ok(events.includes('task.succeeded'));
      const list = await cloud.api('/executors');
      assert.equal(list.body.executors[0].completed, 1);
      assert.deepEqual(list.body.executors[0].currentTasks, []);
    });
  });
}
