/**
 * Leases: a claimed task belongs to one executor until its lease expires.
 * The executor renews it by heartbeat; every write about the task presents
 * it, and a write with a lease that is not the task's current one (another
 * claim since, requeued, expired) is refused with 409 `stale_lease`, storing
 * nothing. The fencing token grows with every claim, so an old holder can
 * never pass for the new one.
 */
import { sql, type Kysely } from 'kysely';
import { LEASE_HEADER, parseLeaseHeader, type HeartbeatResponse } from '../../protocol/messages.js';
import type { CloudContext } from '../context.js';
import { badRequest, conflict, type ApiError } from '../http/api-error.js';
import type { DB, TaskQueue } from '../store/schema.js';
import { noteExecutor } from './executor-bookkeeping.js';
import { announceTasks } from './task-queue.js';
import { NOT_DURABLE, writeTransaction } from './write-transaction.js';

/** The task a valid lease holds, as writes under it need to know it. */
export interface LeasedTask {
  id: string;
  queue: TaskQueue;
  kind: string;
  environment: string;
  runId: string | null;
  planId: string | null;
  executorId: string | null;
  attempts: number;
}

export function staleLease(taskId: string): ApiError {
  return conflict(
    `the lease on task ${taskId} is no longer valid (expired, requeued or claimed again); abandon the task`,
    'stale_lease',
  );
}

/**
 * Throws 409 `stale_lease` unless task `taskId` of the project is claimed
 * under this lease id and fencing token and the lease has not expired.
 * Given the transaction `tx` of a write, the task's row stays locked (shared)
 * until it commits, so the lease cannot be requeued halfway through the write.
 */
export async function assertLease(
  ctx: CloudContext,
  projectId: string,
  taskId: string,
  leaseId: string,
  fencingToken: number,
  tx?: Kysely<DB>,
): Promise<LeasedTask> {
  const db = tx ?? ctx.store.db;
  const row = await db
    .selectFrom('tasks')
    .select([
      'id',
      'queue',
      'kind',
      'environment',
      'status',
      'lease_id',
      'fencing_token',
      'lease_expires_ts',
      'run_id',
      'plan_id',
      'executor_id',
      'attempts',
    ])
    .where('id', '=', taskId)
    .where('project_id', '=', projectId)
    .$if(tx !== undefined && ctx.store.kind === 'postgres', (q) => q.forShare())
    .executeTakeFirst();
  if (
    !row ||
    row.status !== 'claimed' ||
    row.lease_id !== leaseId ||
    Number(row.fencing_token) !== fencingToken ||
    row.lease_expires_ts === null ||
    Number(row.lease_expires_ts) <= ctx.clock.now()
  ) {
    throw staleLease(taskId);
  }
  return {
    id: row.id,
    queue: row.queue,
    kind: row.kind,
    environment: row.environment,
    runId: row.run_id,
    planId: row.plan_id,
    executorId: row.executor_id,
    attempts: Number(row.attempts),
  };
}

/**
 * The lease a request carries in {@link LEASE_HEADER}, checked as
 * {@link assertLease} does; undefined when the request carries none.
 * A malformed header is a 400.
 */
export async function assertLeaseHeader(
  ctx: CloudContext,
  projectId: string,
  headerValue: string | undefined,
  tx?: Kysely<DB>,
): Promise<LeasedTask | undefined> {
  if (headerValue === undefined) return undefined;
  const lease = parseLeaseHeader(headerValue);
  if (!lease) {
    throw badRequest(`malformed ${LEASE_HEADER} header: send <taskId>:<leaseId>:<fencingToken>`);
  }
  return assertLease(ctx, projectId, lease.taskId, lease.leaseId, lease.fencingToken, tx);
}

/** Renews a lease for another lease lifetime, or throws 409 `stale_lease`. */
export async function renewLease(
  ctx: CloudContext,
  projectId: string,
  taskId: string,
  leaseId: string,
  fencingToken: number,
): Promise<HeartbeatResponse> {
  const now = ctx.clock.now();
  const expires = now + ctx.settings.leaseTtlMs;
  const row = await writeTransaction(
    ctx.store,
    async (tx) => {
      const renewed = await tx
        .updateTable('tasks')
        .set({ lease_expires_ts: expires, updated_ts: now })
        .where('id', '=', taskId)
        .where('project_id', '=', projectId)
        .where('status', '=', 'claimed')
        .where('lease_id', '=', leaseId)
        .where('fencing_token', '=', fencingToken)
        .where('lease_expires_ts', '>', now)
        .returning((eb) => [
          'executor_id',
          eb
            .selectFrom('plans')
            .select('plans.cancel_requested_ts')
            .whereRef('plans.id', '=', 'tasks.plan_id')
            .as('cancel_requested_ts'),
        ])
        .executeTakeFirst();
      return renewed;
    },
    NOT_DURABLE,
  );
  if (!row) throw staleLease(taskId);
  if (row.executor_id) noteExecutor(ctx, projectId, row.executor_id);
  return {
    lease: { leaseId, fencingToken, expiresTs: expires },
    cancelRequested: row.cancel_requested_ts !== null && row.cancel_requested_ts !== undefined,
  };
}

/**
 * Hands a claimed task back (an executor draining on SIGTERM): pending again
 * at once, and the attempt it had does not count. An apply task's plan is
 * pending again too, whatever the stopped apply recorded of it while it was
 * being cut short. Throws 409 `stale_lease`.
 */
export async function releaseTask(
  ctx: CloudContext,
  projectId: string,
  taskId: string,
  leaseId: string,
  fencingToken: number,
): Promise<void> {
  const now = ctx.clock.now();
  const row = await ctx.store.db
    .updateTable('tasks')
    .set((eb) => ({
      status: 'pending',
      not_before_ts: now,
      lease_expires_ts: null,
      attempts: sql<number>`CASE WHEN ${eb.ref('attempts')} > 0 THEN ${eb.ref('attempts')} - 1 ELSE 0 END`,
      updated_ts: now,
    }))
    .where('id', '=', taskId)
    .where('project_id', '=', projectId)
    .where('status', '=', 'claimed')
    .where('lease_id', '=', leaseId)
    .where('fencing_token', '=', fencingToken)
    .where('lease_expires_ts', '>', now)
    .returning(['queue', 'executor_id', 'plan_id'])
    .executeTakeFirst();
  if (!row) throw staleLease(taskId);
  if (row.plan_id !== null) {
    await ctx.store.db
      .updateTable('plans')
      .set({ status: 'pending', error: null, finished_ts: null, updated_ts: now })
      .where('id', '=', row.plan_id)
      .where('project_id', '=', projectId)
      .where('status', 'in', ['applying', 'failed'])
      .execute();
  }
  if (row.executor_id) {
    noteExecutor(ctx, projectId, row.executor_id, { retried: 1 });
  }
  announceTasks(ctx, projectId, [row.queue]);
}
