import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { storeTargets } from '../../helpers/stores.js';
import { countRows, runTask, startQueueCloud } from './queue-helpers.js';

const targets = await storeTargets();

const SQLISH = "x'; DROP TABLE tasks; --";

for (const target of targets) {
  describe(`task routes refuse bad input on ${target.kind}`, () => {
    it('answers 4xx with one-line messages and stores nothing', async () => {
      const cloud = await startQueueCloud(target);
      const executor = await cloud.register('run');
      const [id] = await cloud.enqueue([runTask('db.a')]);
      const task = (await cloud.claim(executor))!;
      const lease = { leaseId: task.lease.leaseId, fencingToken: task.lease.fencingToken };
      const log = { level: 'info', message: 'm', ts: cloud.clock.now() };
      const evaluation = {
        model: 'db.a',
        identifier: 'i',
        version: 'v',
        interval: [0, 1],
        status: 'succeeded',
        durationMs: 1,
      };
      const cases: Array<[string, unknown, number]> = [
        ['/tasks/claim', {}, 400],
        ['/tasks/claim', { executorId: executor, waitMs: -1 }, 400],
        ['/tasks/claim', { executorId: executor, waitMs: 1e12 }, 400],
        ['/tasks/claim', { executorId: executor, waitMs: '10' }, 400],
        ['/tasks/claim', { executorId: executor, queue: 'apply' }, 400],
        ['/tasks/claim', { executorId: SQLISH }, 400],
        ['/tasks/claim', { executorId: 'x'.repeat(100_000) }, 400],
        [`/tasks/${id}/heartbeat`, {}, 400],
        [`/tasks/${id}/heartbeat`, { ...lease, fencingToken: '1' }, 400],
        [`/tasks/${id}/heartbeat`, { ...lease, fencingToken: 1.5 }, 400],
        [`/tasks/${id}/heartbeat`, { ...lease, fencingToken: 2 ** 60 }, 400],
        [`/tasks/${id}/heartbeat`, { ...lease, extra: true }, 400],
        [`/tasks/${id}/progress`, { ...lease, logs: [{ ...log, level: 'fatal' }] }, 400],
        [
          `/tasks/${id}/progress`,
          { ...lease, logs: [{ ...log, message: 'x'.repeat(200_000) }] },
          400,
        ],
        [`/tasks/${id}/progress`, { ...lease, logs: [{ ...log, secret: 'x' }] }, 400],
        [
          `/tasks/${id}/progress`,
          { ...lease, logs: Array.from({ length: 10_001 }, () => log) },
          400,
        ],
        [`/tasks/${id}/progress`, { ...lease, logs: 'many' }, 400],
        [
          `/tasks/${id}/progress`,
          { ...lease, evaluations: [{ ...evaluation, interval: [5, 1] }] },
          400,
        ],
        [`/tasks/${id}/progress`, { ...lease, evaluations: [{ ...evaluation, rows: -1 }] }, 400],
        [
          `/tasks/${id}/progress`,
          { ...lease, evaluations: [{ ...evaluation, status: 'maybe' }] },
          400,
        ],
        [`/tasks/${id}/progress`, { ...lease, evaluations: [{ ...evaluation, model: '' }] }, 400],
        [`/tasks/${id}/complete`, { ...lease }, 400],
        [`/tasks/${id}/complete`, { ...lease, status: 'done' }, 400],
        [`/tasks/${id}/complete`, { ...lease, status: 'failed', retryable: 'yes' }, 400],
        [`/tasks/${id}/complete`, { ...lease, status: 'failed', error: 'x'.repeat(200_000) }, 400],
        [`/tasks/${id}/complete`, [lease], 400],
        [`/tasks/${encodeURIComponent(SQLISH)}/complete`, { ...lease, status: 'succeeded' }, 404],
        [`/tasks/no-such-task/complete`, { ...lease, status: 'succeeded' }, 409],
        ['/tasks/claim', { executorId: executor, max: 0 }, 400],
        ['/tasks/claim', { executorId: executor, max: 101 }, 400],
        ['/tasks/claim', { executorId: executor, max: 2.5 }, 400],
        ['/tasks/claim', { executorId: executor, max: '3' }, 400],
        ['/tasks/complete', {}, 400],
        ['/tasks/complete', { items: [] }, 400],
        ['/tasks/complete', { items: 'all' }, 400],
        ['/tasks/complete', [{ taskId: id, ...lease, status: 'succeeded' }], 400],
        ['/tasks/complete', { items: [{ ...lease, status: 'succeeded' }] }, 400],
        ['/tasks/complete', { items: [{ taskId: SQLISH, ...lease, status: 'succeeded' }] }, 400],
        ['/tasks/complete', { items: [{ taskId: id, ...lease, status: 'done' }] }, 400],
        ['/tasks/complete', { items: [{ taskId: id, ...lease, status: 'succeeded', x: 1 }] }, 400],
        ['/tasks/complete', { items: [{ taskId: id, ...lease, status: 'succeeded' }], x: 1 }, 400],
        [
          '/tasks/complete',
          {
            items: Array.from({ length: 1_001 }, () => ({
              taskId: id,
              ...lease,
              status: 'failed',
            })),
          },
          400,
        ],
        [
          '/tasks/complete',
          {
            items: [
              { taskId: id, ...lease, status: 'succeeded' },
              { taskId: id, ...lease, fencingToken: -1, status: 'succeeded' },
            ],
          },
          400,
        ],
      ];
      for (const [path, body, status] of cases) {
        const res = await cloud.post(path, body);
        assert.equal(res.status, status, `${path} ${JSON.stringify(body).slice(0, 120)}`);
        assert.equal(typeof res.body.error.message, 'string');
        assert.ok(!res.body.error.message.includes('\n'));
      }
      for (const path of [
        '/tasks/claim',
        `/tasks/${id}/progress`,
        `/tasks/${id}/complete`,
        '/tasks/complete',
      ]) {
        const malformed = await cloud.api(path, {
          method: 'POST',
          body: '{"leaseId": ',
          token: cloud.executorToken,
        });
        assert.equal(malformed.status, 400, path);
        const text = await cloud.api(path, {
          method: 'POST',
          body: 'leaseId=1',
          token: cloud.executorToken,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        assert.equal(text.status, 415, path);
      }
      assert.equal(await countRows(cloud, 'logs'), 0);
      assert.equal(await countRows(cloud, 'evaluations'), 0);
      const row = await cloud.server.ctx.store.db
        .selectFrom('tasks')
        .select(['status', 'lease_expires_ts', 'fencing_token'])
        .where('id', '=', id!)
        .executeTakeFirstOrThrow();
      assert.equal(row.status, 'claimed');
      assert.equal(Number(row.lease_expires_ts), task.lease.expiresTs);
      assert.equal(Number(row.fencing_token), 1);
      assert.equal(await countRows(cloud, 'tasks'), 1);
    });
  });
}
