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
import type { DB, TaskQueue } from '../store/schema.js';
import { perKey } from './coalescer.js';
import { noteExecutor } from './executor-bookkeeping.js';
import { claimRunTasks } from './hot-path-sql.js';
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

/** Most tasks one claim request takes. */
export const MAX_CLAIM_PER_REQUEST = 100;
/** Most tasks claimed by one claim statement (for all the claimers it serves). */
const MAX_CLAIM_BATCH = 512;

/**
 * Claims run-queue tasks for several claimers in one transaction (see
 * {@link claimRunTasks}): the i-th answer is the i-th claimer's task, or
 * undefined.
 */
async function claimRunBatch(
  ctx: CloudContext,
  projectId: string,
  executorIds: readonly string[],
): Promise<Array<ClaimResult | undefined>> {
  const now = ctx.clock.now();
  const expiresTs = now + ctx.settings.leaseTtlMs;
  const leaseIds = executorIds.map(() => randomUUID());
  const rows = await claimRunTasks(ctx.store, {
    projectId,
    now,
    expiresTs,
    leaseIds,
    executorIds,
  });
  const byLease = new Map(rows.map((r) => [r.lease_id, r]));
  return leaseIds.map((leaseId, i) => {
    const row = byLease.get(leaseId);
    if (!row) return undefined;
    const attempt = Number(row.attempts);
    ctx.events.publish({
      projectId,
      type: 'task.claimed',
      payload: { taskId: row.id, queue: 'run', executorId: executorIds[i], attempt },
      ts: now,
    });
    return {
      taskId: row.id,
      queue: 'run',
      attempt,
      leaseId,
      fencingToken: Number(row.fencing_token),
      expiresTs,
      payloadJson: row.payload,
    };
  });
}

/**
 * One task for each claimer at most (in order), and executors marked seen:
 * those in `seen` and those that got a task.
 */
async function claimBatch(
  ctx: CloudContext,
  projectId: string,
  queue: TaskQueue,
  executorIds: readonly string[],
  seen: readonly string[],
): Promise<Array<ClaimResult | undefined>> {
  if (queue === 'run') {
    // Every claimer is seen: it asked.
    for (const id of new Set([...seen, ...executorIds])) noteExecutor(ctx, projectId, id);
    return claimRunBatch(ctx, projectId, executorIds);
  }
  // Apply tasks are few and ordered per environment: one claim at a time.
  const out: Array<ClaimResult | undefined> = [];
  let more = true;
  for (const executorId of executorIds) {
    const claim: ClaimResult | undefined = more
      ? await claimTask(ctx, projectId, executorId, queue)
      : undefined;
    more = claim !== undefined;
    out.push(claim);
  }
  const touched = new Set(seen);
  out.forEach((claim, i) => {
    if (claim) touched.add(executorIds[i]!);
  });
  for (const id of touched) noteExecutor(ctx, projectId, id);
  return out;
}

interface Claimer {
  executorId: string;
  /** Most tasks this claim takes (the executor's free slots). */
  max: number;
  signal: AbortSignal | undefined;
  /** The wait is over: answer after the look under way (or the first one). */
  expired: boolean;
  looked: boolean;
  inFlight: boolean;
  /** Marked seen in the registry already. */
  seen: boolean;
  done: boolean;
  /** Answers the claim (with the error of its look, when that failed). */
  finish(claims: ClaimResult[], error?: unknown): void;
}

/**
 * The waiting claims of one queue of one project in this process. Every
 * look serves all of them with one claim batch; a claim that arrives, a
 * task queued or ready, and a timer (every {@link CLAIM_RECHECK_MS}, for
 * tasks whose backoff ended) start a look, and one look runs at a time.
 */
class ClaimDispatcher {
  private waiting: Claimer[] = [];
  private running = false;
  private again = false;
  private woken = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  constructor(
    private readonly ctx: CloudContext,
    private readonly projectId: string,
    private readonly queue: TaskQueue,
  ) {}

  claim(
    executorId: string,
    max: number,
    waitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<ClaimResult[]> {
    return new Promise((resolve, reject) => {
      const onEnd = () => {
        claimer.expired = true;
        if (claimer.looked && !claimer.inFlight) claimer.finish([]);
      };
      const deadline = setTimeout(onEnd, Math.max(0, waitMs));
      const claimer: Claimer = {
        executorId,
        max: Math.max(1, Math.min(MAX_CLAIM_PER_REQUEST, Math.floor(max))),
        signal,
        expired: false,
        looked: false,
        inFlight: false,
        seen: false,
        done: false,
        finish: (claims, error) => {
          if (claimer.done) return;
          claimer.done = true;
          clearTimeout(deadline);
          signal?.removeEventListener('abort', onEnd);
          if (error === undefined) resolve(claims);
          else reject(error);
        },
      };
      signal?.addEventListener('abort', onEnd, { once: true });
      this.waiting.push(claimer);
      this.kick();
    });
  }

  /** A task was queued or became ready. */
  wake(): void {
    this.woken = true;
    this.kick();
  }

  private kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    // Claims read from the sockets in the same turn of the event loop go in the same look.
    setImmediate(() => void this.run());
  }

  private async run(): Promise<void> {
    let retrySoon = false;
    try {
      do {
        this.again = false;
        const woken = this.woken;
        this.woken = false;
        this.waiting = this.waiting.filter((c) => !c.done);
        // One slot per task a claimer may take, claimers in arrival order.
        const batch: Claimer[] = [];
        const slots: Claimer[] = [];
        for (const c of this.waiting) {
          if (slots.length + c.max > MAX_CLAIM_BATCH && batch.length > 0) break;
          batch.push(c);
          for (let k = 0; k < c.max; k++) slots.push(c);
        }
        if (batch.length === 0) break;
        for (const c of batch) c.inFlight = true;
        let claims: Array<ClaimResult | undefined>;
        try {
          // A claim marks its executor seen: with the task it gets, or before it waits.
          claims = await claimBatch(
            this.ctx,
            this.projectId,
            this.queue,
            slots.map((c) => c.executorId),
            batch.filter((c) => !c.seen).map((c) => c.executorId),
          );
        } catch (err) {
          // The store failed: these claims answer with its error, as a lone claim would.
          for (const c of batch) c.finish([], err);
          continue;
        }
        const got = new Map<Claimer, ClaimResult[]>();
        let served = 0;
        slots.forEach((c, i) => {
          const claim = claims[i];
          if (!claim) return;
          served++;
          const mine = got.get(c);
          if (mine) mine.push(claim);
          else got.set(c, [claim]);
        });
        const settled: Array<[Claimer, ClaimResult[]]> = [];
        for (const c of batch) {
          c.looked = true;
          c.seen = true;
          const mine = got.get(c) ?? [];
          if (mine.length > 0 || c.expired || c.done) settled.push([c, mine]);
          else c.inFlight = false;
        }
        const leaving = new Set(settled.map(([c]) => c));
        this.waiting = this.waiting.filter((c) => !leaving.has(c));
        for (const [c, mine] of settled) void this.answer(c, mine);
        if (served > 0 && this.waiting.length > 0) this.again = true;
        if (served === 0 && woken && this.waiting.length > 0) retrySoon = true;
      } while (this.again);
    } finally {
      this.running = false;
      this.schedule(retrySoon ? WAKE_RETRY_MS : CLAIM_RECHECK_MS);
    }
  }

  /** Hands claims to their claimer, or back to the queue when the caller went away. */
  private async answer(c: Claimer, claims: ClaimResult[]): Promise<void> {
    if (claims.length > 0 && (c.done || c.signal?.aborted)) {
      c.finish([]);
      for (const claim of claims) {
        try {
          await unclaim(this.ctx, this.projectId, claim);
        } catch (err) {
          this.ctx.log.warn('could not hand back an unwanted claim', {
            taskId: claim.taskId,
            error: err instanceof Error ? err.message : String(err),
          });
        }
      }
      return;
    }
    c.finish(claims);
  }

  private schedule(ms: number): void {
    if (this.waiting.length === 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Infinity;
      return;
    }
    const at = performance.now() + ms;
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.kick();
    }, ms);
  }
}

/** The claim dispatchers of a context, woken by its `task.queued` / `task.ready` events. */
const dispatchersOf = perKey((ctx: CloudContext) => {
  const dispatchers = new Map<string, ClaimDispatcher>();
  ctx.events.subscribe((event) => {
    if (event.type !== 'task.queued' && event.type !== 'task.ready') return;
    dispatchers.get(`${event.projectId}\u0000${String(event.payload['queue'])}`)?.wake();
  });
  return {
    get(projectId: string, queue: TaskQueue): ClaimDispatcher {
      const key = `${projectId}\u0000${queue}`;
      let d = dispatchers.get(key);
      if (!d) {
        d = new ClaimDispatcher(ctx, projectId, queue);
        dispatchers.set(key, d);
      }
      return d;
    },
  };
});

/**
 * A claim that waits: claims at once when it can, otherwise waits up to
 * `waitMs` for a task (woken by `task.queued` / `task.ready` of the queue,
 * and looking again every {@link CLAIM_RECHECK_MS}). Answers with up to
 * `max` tasks (1 to {@link MAX_CLAIM_PER_REQUEST}) as soon as it has one; none
 * when the wait ends with nothing, or when `signal` aborts (the caller went
 * away; tasks claimed for it meanwhile go back to the queue). The executor
 * is marked seen with the tasks it gets, or when its first look found
 * nothing. Concurrent claims of a queue share their looks (see
 * {@link ClaimDispatcher}).
 */
export function waitAndClaim(
  ctx: CloudContext,
  projectId: string,
  executorId: string,
  queue: TaskQueue,
  waitMs: number,
  signal?: AbortSignal,
  max = 1,
): Promise<ClaimResult[]> {
  if (signal?.aborted) return Promise.resolve([]);
  return dispatchersOf(ctx).get(projectId, queue).claim(executorId, max, waitMs, signal);
}
