import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pgLiteral } from '../../../src/cloud/queue/hot-path-sql.js';
import type { ClaimedTask } from '../../../src/protocol/messages.js';
import { storeTargets } from '../../helpers/stores.js';
import { runTask, startQueueCloud } from './queue-helpers.js';

const targets = await storeTargets();

describe('PostgreSQL literals of the batched statements', () => {
  it('doubles quotes and backslashes in escape strings and refuses what cannot be sent', () => {
    assert.equal(pgLiteral("it's"), "E'it''s'");
    assert.equal(pgLiteral('a\\b'), "E'a\\\\b'");
    assert.equal(pgLiteral("\\'; DROP TABLE tasks; --"), "E'\\\\''; DROP TABLE tasks; --'");
    assert.equal(pgLiteral(42), '42');
    assert.equal(pgLiteral(null), 'NULL');
    assert.throws(() => pgLiteral(1.5), /integer/);
    assert.throws(() => pgLiteral('a\u0000b'), /NUL/);
  });
});

for (const target of targets) {
  describe(`batched claims and completions on ${target.kind}`, () => {
    it('serves many concurrent claimers and completions, one model version at a time', async () => {
      const cloud = await startQueueCloud(target);
      const executors = await Promise.all(Array.from({ length: 12 }, () => cloud.register('run')));
      // Three tasks of each of four models, and twelve without a model.
      const models = ['db.a', 'db.b', 'db.c', 'db.d'];
      const ids = await cloud.enqueue([
        ...models.flatMap((m) => [runTask(m), runTask(m), runTask(m)]),
        ...Array.from({ length: 12 }, () => runTask(undefined)),
      ]);
      const modelOf = new Map<string, string | undefined>();
      const rows = await cloud.server.ctx.store.db
        .selectFrom('tasks')
        .select(['id', 'model'])
        .where('project_id', '=', cloud.projectId)
        .execute();
      for (const r of rows) modelOf.set(r.id, r.model ?? undefined);
      const holding = new Map<string, string>();
      const done: string[] = [];
      await Promise.all(
        executors.map(async (executor) => {
          for (;;) {
            const task = await cloud.claim(executor, 300);
            if (!task) return;
            const model = modelOf.get(task.taskId);
            if (model) {
              assert.equal(holding.get(model), undefined, `${model} claimed twice at once`);
              holding.set(model, task.taskId);
            }
            await new Promise((r) => setTimeout(r, 5));
            if (model) holding.delete(model);
            const res = await cloud.post(`/tasks/${task.taskId}/complete`, {
              leaseId: task.lease.leaseId,
              fencingToken: task.lease.fencingToken,
              status: 'succeeded',
            });
            assert.equal(res.status, 200, JSON.stringify(res.body));
            done.push(task.taskId);
          }
        }),
      );
      assert.deepEqual([...done].sort(), [...ids].sort());
      const list = await cloud.api('/executors');
      const counts = list.body.executors.map((e: { completed: number }) => e.completed);
      assert.equal(
        counts.reduce((a: number, b: number) => a + b, 0),
        ids.length,
      );
      assert.ok(
        list.body.executors.every((e: { currentTasks: string[] }) => e.currentTasks.length === 0),
      );
    });

    it('refuses a completion whose lease id is quoted SQL or holds a NUL, storing nothing', async () => {
      const cloud = await startQueueCloud(target);
      const executor = await cloud.register('run');
      const [id] = await cloud.enqueue([runTask('db.a')]);
      const task = (await cloud.claim(executor)) as ClaimedTask;
      for (const leaseId of [
        "x'); UPDATE tasks SET status = 'succeeded'; --",
        "\\'; DROP TABLE tasks; --",
        'a\u0000b',
      ]) {
        const res = await cloud.post(`/tasks/${id}/complete`, {
          leaseId,
          fencingToken: task.lease.fencingToken,
          status: 'succeeded',
        });
        assert.equal(res.status, 409, JSON.stringify(res.body));
        assert.equal(res.body.error.code, 'stale_lease');
      }
      const row = await cloud.server.ctx.store.db
        .selectFrom('tasks')
        .select(['status'])
        .where('id', '=', id!)
        .executeTakeFirstOrThrow();
      assert.equal(row.status, 'claimed');
      // The same completion twice in one moment: one succeeds, the other is stale.
      const body = {
        leaseId: task.lease.leaseId,
        fencingToken: task.lease.fencingToken,
        status: 'succeeded',
      };
      const both = await Promise.all([
        cloud.post(`/tasks/${id}/complete`, body),
        cloud.post(`/tasks/${id}/complete`, body),
      ]);
      assert.deepEqual(both.map((r) => r.status).sort(), [200, 409]);
    });

    it('stops a client at once when it is revoked, although its token was checked before', async () => {
      const cloud = await startQueueCloud(target);
      const executor = await cloud.register('run');
      assert.equal(await cloud.claim(executor), undefined);
      await cloud.server.ctx.store.db
        .updateTable('oauth_clients')
        .set({ revoked_ts: cloud.clock.now() })
        .where('id', '=', cloud.clients.executor.clientId)
        .execute();
      const res = await cloud.post('/tasks/claim', { executorId: executor, waitMs: 0 });
      assert.equal(res.status, 401);
      assert.match(res.body.error.message, /revoked/);
    });
  });
}
