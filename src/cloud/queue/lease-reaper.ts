/**
 * The lease reaper: a background loop that hands tasks whose lease expired
 * (their executor died, hung or lost the network) back to the queue:
 * pending at once, attempts kept, counted as retried on the executor that
 * held it, and announced so waiting claims take it. An apply task whose plan
 * was asked to cancel is cancelled instead. The same loop settles waiting
 * tasks that missed their dependencies' completion.
 */
import type { CloudContext } from '../context.js';
import { noteExecutor } from './executor-bookkeeping.js';
import type { BackgroundService } from '../server.js';
import type { TaskQueue } from '../store/schema.js';
import { settleWaitingTasks } from './completion.js';
import { announceTasks } from './task-queue.js';
import { chunks } from '../../engine/state/state-helpers.js';
import { writeTransaction } from './write-transaction.js';

export interface ReapResult {
  requeued: number;
  cancelled: number;
}

/** Requeues every task whose lease expired by now (the context's clock). */
export async function reapExpiredLeases(ctx: CloudContext): Promise<ReapResult> {
  const now = ctx.clock.now();
  const expired = await ctx.store.db
    .updateTable('tasks')
    .set({ status: 'pending', not_before_ts: now, lease_expires_ts: null, updated_ts: now })
    .where('status', '=', 'claimed')
    .where('lease_expires_ts', '<=', now)
    .returning(['id', 'project_id', 'queue', 'executor_id', 'plan_id'])
    .execute();
  if (expired.length === 0) return { requeued: 0, cancelled: 0 };
  let cancelled = 0;
  const cancelledIds = new Set<string>();
  const withPlans = expired.filter((t) => t.plan_id !== null);
  for (const group of chunks(withPlans, 500)) {
    const asked = await ctx.store.db
      .selectFrom('plans')
      .select('id')
      .where(
        'id',
        'in',
        group.map((t) => t.plan_id!),
      )
      .where('cancel_requested_ts', 'is not', null)
      .execute();
    const planIds = new Set(asked.map((p) => p.id));
    for (const t of group) {
      if (!planIds.has(t.plan_id!)) continue;
      await writeTransaction(ctx.store, async (tx) => {
        const res = await tx
          .updateTable('tasks')
          .set({ status: 'cancelled', error: 'cancelled on request', finished_ts: now })
          .where('id', '=', t.id)
          .where('status', '=', 'pending')
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) === 0) return;
        await tx
          .updateTable('plans')
          .set({
            status: 'cancelled',
            error: 'cancelled on request',
            finished_ts: now,
            updated_ts: now,
          })
          .where('id', '=', t.plan_id!)
          .where('status', 'in', ['pending', 'applying'])
          .execute();
        cancelled++;
        cancelledIds.add(t.id);
      });
      ctx.events.publish({
        projectId: t.project_id,
        type: 'plan.finished',
        payload: { planId: t.plan_id, status: 'cancelled', error: 'cancelled on request' },
        ts: now,
      });
    }
  }
  const perExecutor = new Map<string, { projectId: string; retried: number; aborted: number }>();
  const queues = new Map<string, Set<TaskQueue>>();
  for (const t of expired) {
    if (t.executor_id) {
      const e = perExecutor.get(t.executor_id) ?? {
        projectId: t.project_id,
        retried: 0,
        aborted: 0,
      };
      if (cancelledIds.has(t.id)) e.aborted++;
      else e.retried++;
      perExecutor.set(t.executor_id, e);
    }
    const q = queues.get(t.project_id) ?? new Set<TaskQueue>();
    q.add(t.queue);
    queues.set(t.project_id, q);
    ctx.events.publish({
      projectId: t.project_id,
      type: cancelledIds.has(t.id) ? 'task.cancelled' : 'task.requeued',
      payload: { taskId: t.id, queue: t.queue, executorId: t.executor_id, reason: 'lease expired' },
      ts: now,
    });
  }
  for (const [executorId, e] of perExecutor) {
    noteExecutor(ctx, e.projectId, executorId, { retried: e.retried, aborted: e.aborted }, false);
  }
  for (const [projectId, q] of queues) announceTasks(ctx, projectId, q);
  return { requeued: expired.length - cancelled, cancelled };
}

export interface LeaseReaperOptions {
  /** How often to look, ms (5 s by default: expired leases go back within 5 s). */
  intervalMs?: number;
}

/** The lease reaper as a server background service. */
export function createLeaseReaper(options: LeaseReaperOptions = {}): BackgroundService {
  const intervalMs = options.intervalMs ?? 5_000;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  return {
    name: 'lease-reaper',
    start(ctx: CloudContext) {
      stopped = false;
      const tick = () => {
        running = (async () => {
          try {
            const result = await reapExpiredLeases(ctx);
            if (result.requeued || result.cancelled) {
              ctx.log.info('expired leases handed back', { ...result });
            }
            await settleWaitingTasks(ctx);
          } catch (err) {
            ctx.log.warn('lease reaper pass failed', {
              error: err instanceof Error ? err.message : String(err),
            });
          }
        })();
        void running.finally(() => {
          if (!stopped) timer = setTimeout(tick, intervalMs);
        });
      };
      timer = setTimeout(tick, intervalMs);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
