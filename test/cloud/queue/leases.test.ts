import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertLease, assertLeaseHeader } from '../../../src/cloud/queue/leases.js';
import { createLeaseReaper, reapExpiredLeases } from '../../../src/cloud/queue/lease-reaper.js';
import { formatLeaseHeader, parseLeaseHeader } from '../../../src/protocol/messages.js';
import { storeTargets } from '../../helpers/stores.js';
import { countRows, eventually, runTask, startQueueCloud } from './queue-helpers.js';

const targets = await storeTargets();

describe('lease header', () => {
  it('round-trips task id, lease id and fencing token, and rejects malformed values', () => {
    const value = formatLeaseHeader('task:1', 'lease-a', 7);
    assert.deepEqual(parseLeaseHeader(value), {
      taskId: 'task:1',
      leaseId: 'lease-a',
      fencingToken: 7,
    });
    for (const bad of ['', 'a:b', 'a:b:c', 'a::1', ':b:1', 'a:b:-1', 'a:b:1e3']) {
      assert.equal(parseLeaseHeader(bad), undefined, bad);
    }
  });
});

const evaluation = {
  model: 'db.a',
  identifier: 'i1',
  version: 'v1',
  interval: [0, 86_400_000],
  status: 'succeeded',
  rows: 10,
  durationMs: 12,
};

for (const target of targets) {
  describe(`leases on ${target.kind}`, () => {
    it('renews a lease by heartbeat so it outlives its first lifetime', async () => {
      const cloud = await startQueueCloud(target);
      const executor = await cloud.register('run');
      await cloud.enqueue([runTask('db.a')]);
      const task = (await cloud.claim(executor))!;
      const lease = { leaseId: task.lease.leaseId, fencingToken: task.lease.fencingToken };
      cloud.clock.advance(20_000);
      const beat = await cloud.post(`/tasks/${task.taskId}/heartbeat`, lease);
      assert.equal(beat.status, 200);
      assert.equal(beat.body.lease.expiresTs, cloud.clock.now() + 30_000);
      assert.equal(beat.body.cancelRequested, false);
      cloud.clock.advance(20_000);
      assert.equal((await reapExpiredLeases(cloud.server.ctx)).requeued, 0);
      const progress = await cloud.post(`/tasks/${task.taskId}/progress`, {
        ...lease,
        logs: [{ level: 'info', message: 'still going', ts: cloud.clock.now() }],
      });
      assert.equal(progress.status, 200);
      assert.equal(progress.body.logs, 1);
    });

    it('requeues an expired lease and refuses every write under it, storing nothing', async () => {
      const cloud = await startQueueCloud(target);
      const first = await cloud.register('run');
      const second = await cloud.register('run');
      const [id] = await cloud.enqueue([runTask('db.a')]);
      const old = (await cloud.claim(first))!;
      const oldLease = { leaseId: old.lease.leaseId, fencingToken: old.lease.fencingToken };

      cloud.clock.advance(30_000);
      // Expired but not reaped yet: already stale.
      const early = await cloud.post(`/tasks/${id}/heartbeat`, oldLease);
      assert.equal(early.status, 409);
      assert.equal(early.body.error.code, 'stale_lease');

      const reaped = await reapExpiredLeases(cloud.server.ctx);
      assert.deepEqual(reaped, { requeued: 1, cancelled: 0 });
      const row = await cloud.server.ctx.store.db
        .selectFrom('tasks')
        .selectAll()
        .where('id', '=', id!)
        .executeTakeFirstOrThrow();
      assert.equal(row.status, 'pending');
      assert.equal(Number(row.attempts), 1);
      assert.equal(Number(row.not_before_ts), cloud.clock.now());

      const fresh = (await cloud.claim(second))!;
      assert.equal(fresh.taskId, id);
      assert.equal(fresh.attempt, 2);
      assert.equal(fresh.lease.fencingToken, 2);
      assert.notEqual(fresh.lease.leaseId, old.lease.leaseId);

      const writes = [
        ['heartbeat', oldLease],
        [
          'progress',
          {
            ...oldLease,
            logs: [{ level: 'info', message: 'late', ts: cloud.clock.now() }],
            evaluations: [evaluation],
          },
        ],
        ['complete', { ...oldLease, status: 'succeeded' }],
        ['release', oldLease],
      ] as const;
      for (const [what, body] of writes) {
        const res = await cloud.post(`/tasks/${id}/${what}`, body);
        assert.equal(res.status, 409, what);
        assert.equal(res.body.error.code, 'stale_lease');
        assert.match(res.body.error.message, /abandon the task/);
      }
      // The same lease id with an older fencing token is stale too.
      const forged = await cloud.post(`/tasks/${id}/complete`, {
        leaseId: fresh.lease.leaseId,
        fencingToken: 1,
        status: 'succeeded',
      });
      assert.equal(forged.status, 409);
      assert.equal(await countRows(cloud, 'logs'), 0);
      assert.equal(await countRows(cloud, 'evaluations'), 0);
      const after = await cloud.server.ctx.store.db
        .selectFrom('tasks')
        .select(['status', 'executor_id'])
        .where('id', '=', id!)
        .executeTakeFirstOrThrow();
      assert.deepEqual(after, { status: 'claimed', executor_id: second });

      const list = await cloud.api('/executors');
      const byId = new Map(
        list.body.executors.map((e: { executorId: string }) => [e.executorId, e]),
      );
      assert.equal((byId.get(first) as { retried: number }).retried, 1);
      assert.deepEqual((byId.get(first) as { currentTasks: string[] }).currentTasks, []);
      assert.deepEqual((byId.get(second) as { currentTasks: string[] }).currentTasks, [id]);
    });

    it('checks leases for state writes through assertLease and the lease header', async () => {
      const cloud = await startQueueCloud(target);
      const ctx = cloud.server.ctx;
      const executor = await cloud.register('apply');
      const [id] = await cloud.enqueue([
        { queue: 'apply', kind: 'apply_plan', environment: 'dev', payload: {} },
      ]);
      const task = (await cloud.claim(executor))!;
      const held = await assertLease(
        ctx,
        cloud.projectId,
        id!,
        task.lease.leaseId,
        task.lease.fencingToken,
      );
      assert.equal(held.id, id);
      assert.equal(held.environment, 'dev');
      const header = formatLeaseHeader(id!, task.lease.leaseId, task.lease.fencingToken);
      assert.equal((await assertLeaseHeader(ctx, cloud.projectId, header))?.id, id);
      assert.equal(await assertLeaseHeader(ctx, cloud.projectId, undefined), undefined);
      await assert.rejects(assertLeaseHeader(ctx, cloud.projectId, 'garbage'), {
        status: 400,
      });
      await assert.rejects(
        assertLease(ctx, cloud.projectId, id!, task.lease.leaseId, task.lease.fencingToken + 1),
        { status: 409, code: 'stale_lease' },
      );
      await assert.rejects(
        assertLease(ctx, 'other-project', id!, task.lease.leaseId, task.lease.fencingToken),
        { status: 409, code: 'stale_lease' },
      );
      cloud.clock.advance(30_001);
      await assert.rejects(assertLeaseHeader(ctx, cloud.projectId, header), {
        status: 409,
        code: 'stale_lease',
      });
    });

    it('hands a released task straight back without spending its attempt', async () => {
      const cloud = await startQueueCloud(target);
      const executor = await cloud.register('run');
      const [id] = await cloud.enqueue([runTask('db.a')]);
      const task = (await cloud.claim(executor))!;
      const res = await cloud.post(`/tasks/${id}/release`, {
        leaseId: task.lease.leaseId,
        fencingToken: task.lease.fencingToken,
      });
      assert.equal(res.status, 200);
      const again = (await cloud.claim(executor))!;
      assert.equal(again.taskId, id);
      assert.equal(again.attempt, 1);
      assert.equal(again.lease.fencingToken, 2);
    });

    it('runs the reaper as a background service', async () => {
      const reaper = createLeaseReaper({ intervalMs: 50 });
      const cloud = await startQueueCloud(target, { services: [reaper] });
      const executor = await cloud.register('run');
      const [id] = await cloud.enqueue([runTask('db.a')]);
      await cloud.claim(executor);
      const waiting = cloud.claim(executor, 5_000);
      cloud.clock.advance(31_000);
      const again = await waiting;
      assert.equal(again?.taskId, id);
      assert.equal(again?.attempt, 2);
      await eventually(async () => {
        const list = await cloud.api('/executors');
        return list.body.executors[0].retried === 1;
      });
    });
  });
}
