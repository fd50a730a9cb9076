/**
 * Claiming: an executor takes the next claimable task of its queue and a
 * lease on it. Claims are atomic across concurrent claimers on both stores:
 * on PostgreSQL the candidate row is taken `FOR UPDATE SKIP LOCKED` in the
 * claim's transaction; on SQLite every claim is one `BEGIN IMMEDIATE`
 * transaction, so claims never interleave.
 *
 * Which tasks are claimable:
 * - pending, and `not_before_ts` has passed;
 * - run queue: no other task of the same model and version is claimed (one
 *   evaluation of a table version at a time; the other stays pending);
 * - apply queue: no other apply task of the same environment is claimed and
 *   none older is pending, so plans of one environment apply strictly in
 *   order while different environments apply side by side.
 *
 * A claim that finds nothing waits (a long poll) until a task is queued or
 * becomes ready (events `task.queued` / `task.ready` wake it at once), and
 * looks again every second for tasks whose backoff ended.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { ClaimedTask } from '../../protocol/messages.js';
import type { CloudContext } from '../context.js';
import { touchExecutor } from '../executors/executor-registry.js';
import type { DB, TaskQueue } from '../store/schema.js';
import { announceTasks } from './task-queue.js';
import { NOT_DURABLE, writeTransaction } from './write-transaction.js';

/** How often a waiting claim looks again without being woken, ms. */
export const CLAIM_RECHECK_MS = 1_000;
/** After a wake-up that found nothing (the waking transaction may not have committed yet), ms. */
const WAKE_RETRY_MS = 25;
/** Advisory lock space of (model, version) claims on PostgreSQL. */
const MODEL_LOCK_SPACE = 7242002;

/** A claimed task, with its payload still as the stored JSON text. */
export interface ClaimResult {
  taskId: string;
  queue: TaskQueue;
  attempt: number;
  leaseId: string;
  fencingToken: number;
  expiresTs: number;
  /** The TaskPayload as JSON text. */
  payloadJson: string;
}

/** The ClaimedTask message of a claim, with the stored payload spliced in unparsed. */
export function claimedTaskJson(claim: ClaimResult): string {
  const head: Omit<ClaimedTask, 'payload'> = {
    taskId: claim.taskId,
    queue: claim.queue,
    attempt: claim.attempt,
    lease: { leaseId: claim.leaseId, fencingToken: claim.fencingToken, expiresTs: claim.expiresTs },
  };
  return `${JSON.stringify(head).slice(0, -1)},"payload":${claim.payloadJson}}`;
}

class ModelBusy extends Error {
  constructor(readonly taskId: string) {
    super('model busy');
  }
}

function candidate(
  db: Kysely<DB>,
  ctx: CloudContext,
  projectId: string,
  queue: TaskQueue,
  now: number,
  skip: readonly string[],
) {
  return (
    db
      .selectFrom('tasks as t')
      .select('t.id')
      .where('t.project_id', '=', projectId)
      .where('t.queue', '=', queue)
      .where('t.status', '=', 'pending')
      .where('t.not_before_ts', '<=', now)
      .$if(skip.length > 0, (q) => q.where('t.id', 'not in', skip))
      .$if(queue === 'run', (q) =>
        q.where((eb) =>
          eb.or([
            eb('t.model', 'is', null),
            eb.not(
              eb.exists(
                eb
                  .selectFrom('tasks as o')
                  .select(sql`1`.as('one'))
                  .whereRef('o.project_id', '=', 't.project_id')
                  .whereRef('o.model', '=', 't.model')
                  .whereRef('o.version', '=', 't.version')
                  .where('o.status', '=', 'claimed'),
              ),
            ),
          ]),
        ),
      )
      .$if(queue === 'apply', (q) =>
        q.where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('tasks as o')
                .select(sql`1`.as('one'))
                .whereRef('o.project_id', '=', 't.project_id')
                .where('o.queue', '=', 'apply')
                .whereRef('o.environment', '=', 't.environment')
                .whereRef('o.id', '<>', 't.id')
                .where((o) =>
                  o.or([
                    o('o.status', '=', 'claimed'),
                    o.and([
                      o('o.status', '=', 'pending'),
                      o.or([
                        o('o.created_ts', '<', o.ref('t.created_ts')),
                        o.and([
                          o('o.created_ts', '=', o.ref('t.created_ts')),
                          o('o.id', '<', o.ref('t.id')),
                        ]),
                      ]),
                    ]),
                  ]),
                ),
            ),
          ),
        ),
      )
      // The claim index's order: the task claimable longest first, found without a sort.
      .orderBy('t.not_before_ts')
      .limit(1)
      .$if(ctx.store.kind === 'postgres', (q) => q.forUpdate().skipLocked())
  );
}

/**
 * Claims the next claimable task of `queue` for the executor, or returns
 * undefined when there is none right now.
 */
export async function claimTask(
  ctx: CloudContext,
  projectId: string,
  executorId: string,
  queue: TaskQueue,
): Promise<ClaimResult | undefined> {
  const skip: string[] = [];
  // Each round skips the tasks whose model another claim is taking at this moment.
  for (let round = 0; round < 20; round++) {
    const now = ctx.clock.now();
    const leaseId = randomUUID();
    const expires = now + ctx.settings.leaseTtlMs;
    try {
      const claimed = await writeTransaction(
        ctx.store,
        async (tx) => {
          const row = await tx
            .updateTable('tasks')
            .set((eb) => ({
              status: 'claimed',
              lease_id: leaseId,
              fencing_token: eb('fencing_token', '+', 1),
              lease_expires_ts: expires,
              executor_id: executorId,
              attempts: eb('attempts', '+', 1),
              started_ts: now,
              updated_ts: now,
            }))
            .where('id', '=', candidate(tx, ctx, projectId, queue, now, skip))
            .where('status', '=', 'pending')
            .returning([
              'id',
              'attempts',
              'fencing_token',
              'payload',
              'model',
              'version',
              'plan_id',
            ])
            .executeTakeFirst();
          if (!row) return undefined;
          if (queue === 'run' && row.model !== null && ctx.store.kind === 'postgres') {
            // Two claimers may each take a task of the same model and version
            // before either commits; the advisory lock lets only one through, and
            // the second look (a new snapshot, after the lock) sees committed claims.
            const key = `${projectId}|${row.model}|${row.version ?? ''}`;
            const lock = await sql<{
              got: boolean;
            }>`SELECT pg_try_advisory_xact_lock(${MODEL_LOCK_SPACE}, hashtext(${key})) AS got`.execute(
              tx,
            );
            if (!lock.rows[0]?.got) throw new ModelBusy(row.id);
            const other = await tx
              .selectFrom('tasks')
              .select('id')
              .where('project_id', '=', projectId)
              .where('model', '=', row.model)
              .where('version', row.version === null ? 'is' : '=', row.version)
              .where('status', '=', 'claimed')
              .where('id', '<>', row.id)
              .limit(1)
              .executeTakeFirst();
            if (other) throw new ModelBusy(row.id);
          }
          if (queue === 'apply' && row.plan_id !== null) {
            await tx
              .updateTable('plans')
              .set((eb) => ({
                status: 'applying',
                started_ts: eb.fn.coalesce('started_ts', eb.val(now)),
                updated_ts: now,
              }))
              .where('id', '=', row.plan_id)
              .where('project_id', '=', projectId)
              .where('status', 'in', ['pending', 'applying'])
              .execute();
          }
          await touchExecutor(ctx, tx, projectId, executorId);
          return row;
        },
        NOT_DURABLE,
      );
      if (!claimed) return undefined;
      ctx.events.publish({
        projectId,
        type: 'task.claimed',
        payload: { taskId: claimed.id, queue, executorId, attempt: Number(claimed.attempts) },
        ts: now,
      });
      return {
        taskId: claimed.id,
        queue,
        attempt: Number(claimed.attempts),
        leaseId,
        fencingToken: Number(claimed.fencing_token),
        expiresTs: expires,
        payloadJson: claimed.payload,
      };
    } catch (err) {
      if (err instanceof ModelBusy) {
        skip.push(err.taskId);
        continue;
      }
      throw err;
    }
  }
  return undefined;
}

/** Gives back a task claimed for a caller that went away before receiving it. */
async function unclaim(ctx: CloudContext, projectId: string, claim: ClaimResult): Promise<void> {
  const now = ctx.clock.now();
  const res = await ctx.store.db
    .updateTable('tasks')
    .set((eb) => ({
      status: 'pending',
      lease_expires_ts: null,
      not_before_ts: now,
      attempts: eb('attempts', '-', 1),
      updated_ts: now,
    }))
    .where('id', '=', claim.taskId)
    .where('project_id', '=', projectId)
    .where('status', '=', 'claimed')
    .where('lease_id', '=', claim.leaseId)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) > 0) announceTasks(ctx, projectId, [claim.queue]);
}

/**
 * A claim that waits: claims at once when it can, otherwise waits up to
 * `waitMs` for a task (woken by `task.queued` / `task.ready` of the queue,
 * and looking again every {@link CLAIM_RECHECK_MS}). Undefined when the wait
 * ends with nothing, or when `signal` aborts (the caller went away).
 * `beforeWait` runs once, when the first look found nothing.
 */
export async function waitAndClaim(
  ctx: CloudContext,
  projectId: string,
  executorId: string,
  queue: TaskQueue,
  waitMs: number,
  signal?: AbortSignal,
  beforeWait?: () => Promise<void>,
): Promise<ClaimResult | undefined> {
  const deadline = performance.now() + Math.max(0, waitMs);
  let woken = false;
  let wake: (() => void) | undefined;
  const unsubscribe = ctx.events.subscribe((event) => {
    if (
      event.projectId === projectId &&
      (event.type === 'task.queued' || event.type === 'task.ready') &&
      event.payload['queue'] === queue
    ) {
      woken = true;
      wake?.();
    }
  });
  try {
    let retryAfterWake = false;
    for (;;) {
      if (signal?.aborted) return undefined;
      woken = false;
      const claim = await claimTask(ctx, projectId, executorId, queue);
      if (claim) {
        if (signal?.aborted) {
          await unclaim(ctx, projectId, claim);
          return undefined;
        }
        return claim;
      }
      const left = deadline - performance.now();
      if (left <= 0) return undefined;
      if (woken) {
        retryAfterWake = true;
        continue;
      }
      if (beforeWait) {
        await beforeWait();
        beforeWait = undefined;
        if (woken) continue;
      }
      const pause = retryAfterWake ? WAKE_RETRY_MS : CLAIM_RECHECK_MS;
      retryAfterWake = false;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          wake = undefined;
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, pause));
        wake = () => {
          retryAfterWake = true;
          done();
        };
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  } finally {
    unsubscribe();
  }
}
