import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { enqueueTasks, type NewTask } from '../../../src/cloud/queue/task-queue.js';
import { storeTargets } from '../../helpers/stores.js';
import { startQueueCloud } from './queue-helpers.js';

const targets = await storeTargets();

/** Strings that an array or literal encoding could mangle. */
const AWKWARD = [
  'NULL',
  '',
  `it's "quoted"`,
  'back\\slash and \\\\ two',
  '{braces},[brackets],commas',
  'tab\there, newline\nhere',
  'ünïcödé ✓ 𝄞',
  "'); DROP TABLE tasks; --",
];

for (const target of targets) {
  describe(`enqueueing tasks on ${target.kind}`, () => {
    it('stores every field of every task as given, across insert chunks', async () => {
      const cloud = await startQueueCloud(target);
      const ctx = cloud.server.ctx;
      const tasks: NewTask[] = Array.from({ length: 2_345 }, (_, i) => {
        const odd = AWKWARD[i % AWKWARD.length]!;
        return {
          queue: i % 3 === 0 ? 'apply' : 'run',
          // Exactly 'NULL' and exactly '' among them: stored as strings, not as NULL.
          kind: i % 2 ? 'evaluate' : odd,
          environment: i % 2 ? 'prod' : `dev_${odd.length}`,
          payload: { i, text: odd, nested: { list: [odd, null, i] } },
          ...(i % 4 === 0 ? {} : { model: `db.${odd}`, version: odd }),
          ...(i % 5 === 0 ? { runId: `run-${odd}` } : {}),
          ...(i % 6 === 0 ? { planId: `plan-${i}` } : {}),
          ...(i % 7 === 0 ? { maxAttempts: 9 } : {}),
          ...(i % 11 === 0 ? { notBeforeTs: 1_700_000_000_000 + i } : {}),
        };
      });
      const ids = await enqueueTasks(ctx, cloud.projectId, tasks);
      assert.equal(new Set(ids).size, tasks.length);
      const rows = await ctx.store.db
        .selectFrom('tasks')
        .selectAll()
        .where('project_id', '=', cloud.projectId)
        .execute();
      assert.equal(rows.length, tasks.length);
      const byId = new Map(rows.map((r) => [r.id, r]));
      const now = ctx.clock.now();
      tasks.forEach((t, i) => {
        const r = byId.get(ids[i]!);
        assert.ok(r, `task ${i} stored`);
        assert.deepEqual(
          {
            queue: r.queue,
            kind: r.kind,
            environment: r.environment,
            status: r.status,
            payload: JSON.parse(r.payload) as unknown,
            dependsOn: JSON.parse(r.depends_on) as unknown,
            model: r.model,
            version: r.version,
            runId: r.run_id,
            planId: r.plan_id,
            attempts: Number(r.attempts),
            maxAttempts: Number(r.max_attempts),
            notBeforeTs: Number(r.not_before_ts),
            fencingToken: Number(r.fencing_token),
            leaseId: r.lease_id,
            leaseExpiresTs: r.lease_expires_ts,
            executorId: r.executor_id,
            createdTs: Number(r.created_ts),
            startedTs: r.started_ts,
            finishedTs: r.finished_ts,
            error: r.error,
          },
          {
            queue: t.queue,
            kind: t.kind,
            environment: t.environment,
            status: 'pending',
            payload: t.payload,
            dependsOn: [],
            model: t.model ?? null,
            version: t.version ?? null,
            runId: t.runId ?? null,
            planId: t.planId ?? null,
            attempts: 0,
            maxAttempts: t.maxAttempts ?? ctx.settings.maxAttempts,
            notBeforeTs: t.notBeforeTs ?? now,
            fencingToken: 0,
            leaseId: null,
            leaseExpiresTs: null,
            executorId: null,
            createdTs: now,
            startedTs: null,
            finishedTs: null,
            error: null,
          },
          `task ${i}`,
        );
      });
    });

    it('stores waiting and cancelled tasks with their dependencies and reasons', async () => {
      const cloud = await startQueueCloud(target);
      const ctx = cloud.server.ctx;
      const [failed] = await enqueueTasks(ctx, cloud.projectId, [
        { queue: 'run', kind: 'evaluate', environment: 'prod', payload: {} },
      ]);
      await ctx.store.db
        .updateTable('tasks')
        .set({ status: 'failed' })
        .where('id', '=', failed!)
        .execute();
      const [a, b, c] = ['a', 'b', 'c'].map((k) => `task-${k}-${target.kind}`);
      await enqueueTasks(ctx, cloud.projectId, [
        { id: a, queue: 'run', kind: 'evaluate', environment: 'prod', payload: {} },
        {
          id: b,
          queue: 'run',
          kind: 'evaluate',
          environment: 'prod',
          payload: {},
          dependsOn: [a!],
        },
        {
          id: c,
          queue: 'run',
          kind: 'evaluate',
          environment: 'prod',
          payload: {},
          dependsOn: [failed!],
        },
      ]);
      const rows = await ctx.store.db
        .selectFrom('tasks')
        .select(['id', 'status', 'depends_on', 'error', 'finished_ts'])
        .where('id', 'in', [a!, b!, c!])
        .orderBy('id')
        .execute();
      assert.deepEqual(
        rows.map((r) => [r.id, r.status, JSON.parse(r.depends_on) as unknown, r.error]),
        [
          [a, 'pending', [], null],
          [b, 'waiting', [a], null],
          [c, 'cancelled', [failed], `upstream task ${failed} failed`],
        ],
      );
      assert.equal(Number(rows[2]!.finished_ts), ctx.clock.now());
    });
  });
}
