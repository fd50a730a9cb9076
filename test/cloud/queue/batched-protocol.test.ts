/**
 * Protocol 1.1 on both stores: a claim takes up to `max` tasks, and
 * `POST /tasks/complete` reports several completions, each refused or
 * accepted on its own.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClaimedTask } from '../../../src/protocol/messages.js';
import { storeTargets } from '../../helpers/stores.js';
import { runTask, startQueueCloud, type QueueCloud } from './queue-helpers.js';

const targets = await storeTargets();

async function claimMany(
  cloud: QueueCloud,
  executorId: string,
  max: number,
  waitMs = 0,
): Promise<ClaimedTask[]> {
  const res = await cloud.post('/tasks/claim', { executorId, waitMs, max });
  if (res.status === 204) return [];
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return (res.body as { tasks: ClaimedTask[] }).tasks;
}

function item(t: ClaimedTask, status: 'succeeded' | 'failed' = 'succeeded') {
  return {
    taskId: t.taskId,
    leaseId: t.lease.leaseId,
    fencingToken: t.lease.fencingToken,
    status,
  };
}

async function statusOf(cloud: QueueCloud, id: string): Promise<string> {
  const row = await cloud.server.ctx.store.db
    .selectFrom('tasks')
    .select('status')
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  return row.status;
}

for (const target of targets) {
  describe(`batched claims and completions on ${target.kind}`, () => {
    it('claims up to max tasks, each under its own lease, and never more than are ready', async () => {
      const cloud = await startQueueCloud(target);
      const executor = await cloud.register('run');
      const ids = await cloud.enqueue([1, 2, 3, 4, 5].map((i) => runTask(`db.m${i}`)));
      const first = await claimMany(cloud, executor, 3);
      assert.equal(first.length, 3);
      const second = await claimMany(cloud, executor, 10);
      assert.equal(second.length, 2);
      const all = [...first, ...second];
      assert.deepEqual(new Set(all.map((t) => t.taskId)), new Set(ids));
      assert.equal(new Set(all.map((t) => t.lease.leaseId)).size, 5);
      for (const t of all) assert.equal(await statusOf(cloud, t.taskId), 'claimed');
      assert.deepEqual(await claimMany(cloud, executor, 4), []);
      // Without max, the answer keeps the 1.0 shape: one task, not a list.
      await cloud.enqueue([runTask('db.solo')]);
      const one = await cloud.post('/tasks/claim', { executorId: executor, waitMs: 0 });
      assert.equal(one.status, 200);
      assert.equal(typeof one.body.taskId, 'string');
      assert.equal(one.body.tasks, undefined);
    });

    it('takes one task of a model and version at a time, even within one claim', async () => {
      const cloud = await startQueueCloud(target);
      const executor = await cloud.register('run');
      await cloud.enqueue([runTask('db.same'), runTask('db.same'), runTask('db.other')]);
      const got = await claimMany(cloud, executor, 3);
      assert.equal(got.length, 2);
      const models = await cloud.server.ctx.store.db
        .selectFrom('tasks')
        .select('model')
        .where('status', '=', 'claimed')
        .execute();
      assert.deepEqual(models.map((m) => m.model).sort(), ['db.other', 'db.same']);
    });

    it('answers a waiting multi-task claim as soon as one task is queued', async () => {
      const cloud = await startQueueCloud(target);
      const executor = await cloud.register('run');
      const waiting = claimMany(cloud, executor, 8, 5_000);
      await new Promise((r) => setTimeout(r, 50));
      const started = performance.now();
      const [id] = await cloud.enqueue([runTask('db.late')]);
      const got = await waiting;
      assert.ok(performance.now() - started < 2_000, 'answered well before the wait ended');
      assert.deepEqual(
        got.map((t) => t.taskId),
        [id],
      );
    });

    it('completes several tasks in one request, refusing stale leases item by item', async () => {
      const cloud = await startQueueCloud(target, { settings: { maxAttempts: 3 } });
      const executor = await cloud.register('run');
      await cloud.enqueue([1, 2, 3, 4].map((i) => runTask(`db.c${i}`)));
      const [a, b, c, d] = await claimMany(cloud, executor, 4);
      assert.ok(a && b && c && d);
      const res = await cloud.post('/tasks/complete', {
        items: [
          item(a),
          { ...item(b), fencingToken: b.lease.fencingToken + 1 },
          { ...item(c, 'failed'), error: 'connection reset', retryable: true },
          { ...item(d, 'failed'), error: 'syntax error', retryable: false },
          { ...item(a), taskId: 'no-such-task' },
        ],
      });
      assert.equal(res.status, 200);
      const results = res.body.results as Array<Record<string, unknown>>;
      assert.deepEqual(
        results.map((r) => r['taskId']),
        [a.taskId, b.taskId, c.taskId, d.taskId, 'no-such-task'],
      );
      assert.equal(results[0]!['status'], 'succeeded');
      assert.deepEqual((results[1]!['error'] as { code: string }).code, 'stale_lease');
      assert.equal(results[2]!['status'], 'pending');
      assert.equal(typeof results[2]!['retryAtTs'], 'number');
      assert.equal(results[3]!['status'], 'failed');
      assert.deepEqual((results[4]!['error'] as { code: string }).code, 'stale_lease');
      assert.equal(await statusOf(cloud, a.taskId), 'succeeded');
      assert.equal(await statusOf(cloud, b.taskId), 'claimed');
      assert.equal(await statusOf(cloud, c.taskId), 'pending');
      assert.equal(await statusOf(cloud, d.taskId), 'failed');
      // The stale item was refused, not lost: its right lease still completes it.
      const again = await cloud.post('/tasks/complete', { items: [item(b)] });
      assert.equal(again.body.results[0].status, 'succeeded');
      assert.equal(await statusOf(cloud, b.taskId), 'succeeded');
      // A completion sent twice is refused the second time.
      const twice = await cloud.post('/tasks/complete', { items: [item(a)] });
      assert.equal(twice.body.results[0].error.code, 'stale_lease');
    });

    it('counts a batch of completions in the executor registry', async () => {
      const cloud = await startQueueCloud(target);
      const executor = await cloud.register('run');
      await cloud.enqueue([1, 2, 3].map((i) => runTask(`db.r${i}`)));
      const tasks = await claimMany(cloud, executor, 3);
      const res = await cloud.post('/tasks/complete', { items: tasks.map((t) => item(t)) });
      assert.equal(res.status, 200);
      const viewer = await cloud.token(cloud.clients.viewer);
      const list = await cloud.api('/executors', { token: viewer });
      const mine = (list.body.executors as Array<Record<string, unknown>>).find(
        (e) => e['executorId'] === executor,
      );
      assert.equal(mine?.['completed'], 3);
      assert.deepEqual(mine?.['currentTasks'], []);
    });
  });
}
