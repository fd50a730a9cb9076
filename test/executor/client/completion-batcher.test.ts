/**
 * CompletionBatcher against a real cloud (SQLite and PostgreSQL): a lone
 * completion goes at once, completions reported together share a request,
 * and a refused item fails alone with the cloud's code.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CloudApiError, CloudClient } from '../../../src/executor/client/cloud-client.js';
import { CompletionBatcher } from '../../../src/executor/client/completion-batcher.js';
import type {
  ClaimedTask,
  CompleteBatchRequest,
  CompleteBatchResponse,
} from '../../../src/protocol/messages.js';
import { storeTargets } from '../../helpers/stores.js';
import { runTask, startQueueCloud } from '../../cloud/queue/queue-helpers.js';

const targets = await storeTargets();

for (const target of targets) {
  describe(`completion batches on ${target.kind}`, () => {
    test('one request for completions reported together, one for a lone one', async () => {
      const cloud = await startQueueCloud(target);
      const client = new CloudClient({
        url: cloud.projectUrl,
        clientId: cloud.clients.executor.clientId,
        clientSecret: cloud.clients.executor.clientSecret,
      });
      const sent: number[] = [];
      const batcher = new CompletionBatcher((body: CompleteBatchRequest) => {
        sent.push(body.items.length);
        return client.request<CompleteBatchResponse>('POST', '/tasks/complete', { body });
      });
      const executor = await cloud.register('run');
      await cloud.enqueue([1, 2, 3, 4, 5].map((i) => runTask(`db.b${i}`)));
      const claim = await cloud.post('/tasks/claim', { executorId: executor, waitMs: 0, max: 5 });
      const tasks = claim.body.tasks as ClaimedTask[];
      assert.equal(tasks.length, 5);
      const lease = (t: ClaimedTask) => ({
        leaseId: t.lease.leaseId,
        fencingToken: t.lease.fencingToken,
      });
      const [a, b, c, d, e] = tasks as [ClaimedTask, ...ClaimedTask[]];

      const together = await Promise.all(
        [a, b, c].map((t) => batcher.complete(t!.taskId, { ...lease(t!), status: 'succeeded' })),
      );
      assert.deepEqual(
        together.map((r) => r.status),
        ['succeeded', 'succeeded', 'succeeded'],
      );
      assert.deepEqual(sent, [3]);

      const alone = await batcher.complete(d!.taskId, {
        ...lease(d!),
        status: 'failed',
        error: 'boom',
        retryable: false,
      });
      assert.equal(alone.status, 'failed');
      assert.deepEqual(sent, [3, 1]);

      // A stale lease fails its own completion only, with the cloud's code.
      const [stale, fine] = await Promise.allSettled([
        batcher.complete(a!.taskId, { ...lease(a!), status: 'succeeded' }),
        batcher.complete(e!.taskId, { ...lease(e!), status: 'succeeded' }),
      ]);
      assert.equal(stale.status, 'rejected');
      const err = (stale as PromiseRejectedResult).reason as unknown;
      assert.ok(err instanceof CloudApiError);
      assert.equal(err.status, 409);
      assert.equal(err.code, 'stale_lease');
      assert.ok(!err.message.includes('\n'));
      assert.equal(fine.status, 'fulfilled');
      assert.deepEqual(sent, [3, 1, 2]);

      // The whole request failing fails each of its completions.
      const broken = new CompletionBatcher(() => Promise.reject(new Error('connection refused')));
      const failures = await Promise.allSettled([
        broken.complete('t1', { leaseId: 'l', fencingToken: 1, status: 'succeeded' }),
        broken.complete('t2', { leaseId: 'l', fencingToken: 1, status: 'succeeded' }),
      ]);
      assert.deepEqual(
        failures.map((f) => f.status),
        ['rejected', 'rejected'],
      );
    });
  });
}
