/**
 * What executors report about a claimed task, always under its lease:
 * progress (log lines, finished evaluations, free-form progress) and the
 * final status. A succeeded task releases the tasks waiting on it; a failed
 * one is retried with exponential backoff while it may be, and otherwise
 * cancels everything waiting on it, transitively. An apply task's plan
 * follows its task.
 */
import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type {
  CompleteRequest,
  CompleteResponse,
  ProgressReport,
  ProgressResponse,
} from '../../protocol/messages.js';
import type { CloudContext } from '../context.js';
import type { ExecutorCounts } from '../executors/executor-registry.js';
import type { DB, TaskQueue } from '../store/schema.js';
import { assertLease, staleLease } from './leases.js';
import { announceTasks, taskStatuses } from './task-queue.js';
import { Coalescer, perKey, type BatchOutcome } from './coalescer.js';
import { noteExecutor } from './executor-bookkeeping.js';
import { completeSucceededTasks, type SucceededItem } from './hot-path-sql.js';
import { NOT_DURABLE, retryOnDeadlock, writeTransaction } from './write-transaction.js';
import { chunks } from '../../engine/state/state-helpers.js';

let lastIdTs = 0;
let idCounter = 0;

/**
 * A UUID-shaped id that sorts by creation time in this process (48 bits of
 * epoch ms, a counter, then random bits), so readers can page by id.
 */
export function newSortableId(nowMs: number): string {
  let ts = Math.max(0, Math.floor(nowMs));
  if (ts <= lastIdTs) {
    ts = lastIdTs;
    idCounter++;
    if (idCounter > 0xfffff) {
      ts = lastIdTs + 1;
      idCounter = 0;
    }
  } else {
    idCounter = 0;
  }
  lastIdTs = ts;
  const hex =
    ts.toString(16).padStart(12, '0').slice(-12) +
    idCounter.toString(16).padStart(5, '0') +
    randomBytes(8).toString('hex').slice(0, 15);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** `column` contains `needle` as a substring (no pattern characters), on either store. */
function containsText(ctx: CloudContext, column: string, needle: string) {
  const ref = sql.ref(column);
  return ctx.store.kind === 'postgres'
    ? sql<boolean>`strpos(${ref}, ${needle}) > 0`
    : sql<boolean>`instr(${ref}, ${needle}) > 0`;
}

/** Waiting tasks of the project that depend on any of `ids`. */
async function waitingOn(
  ctx: CloudContext,
  db: Kysely<DB>,
  projectId: string,
  ids: readonly string[],
): Promise<Array<{ id: string; queue: TaskQueue; depends_on: string }>> {
  const out: Array<{ id: string; queue: TaskQueue; depends_on: string }> = [];
  for (const group of chunks(ids, 50)) {
    const rows = await db
      .selectFrom('tasks')
      .select(['id', 'queue', 'depends_on'])
      .where('project_id', '=', projectId)
      .where('status', '=', 'waiting')
      .where((eb) => eb.or(group.map((id) => containsText(ctx, 'depends_on', JSON.stringify(id)))))
      .execute();
    for (const r of rows) {
      const deps = parseIds(r.depends_on);
      if (group.some((id) => deps.includes(id))) out.push(r);
    }
  }
  return out;
}

function parseIds(text: string): string[] {
  try {
    const value = JSON.parse(text) as unknown;
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * Moves waiting tasks whose dependencies have all succeeded to pending;
 * returns the queues that gained tasks. `candidates` are the tasks to look at.
 */
async function releaseWaiting(
  ctx: CloudContext,
  db: Kysely<DB>,
  projectId: string,
  candidates: ReadonlyArray<{ id: string; queue: TaskQueue; depends_on: string }>,
): Promise<Set<TaskQueue>> {
  const queues = new Set<TaskQueue>();
  if (candidates.length === 0) return queues;
  const deps = [...new Set(candidates.flatMap((c) => parseIds(c.depends_on)))];
  const status = await taskStatuses(db, projectId, deps);
  const now = ctx.clock.now();
  const ready = candidates.filter((c) =>
    parseIds(c.depends_on).every((d) => status.get(d) === 'succeeded'),
  );
  for (const group of chunks(ready, 500)) {
    await db
      .updateTable('tasks')
      .set({ status: 'pending', not_before_ts: now, updated_ts: now })
      .where('project_id', '=', projectId)
      .where(
        'id',
        'in',
        group.map((c) => c.id),
      )
      .where('status', '=', 'waiting')
      .execute();
    for (const c of group) queues.add(c.queue);
  }
  return queues;
}

/** Cancels every task waiting (directly or not) on `failedId`; returns how many. */
async function cancelDependants(
  ctx: CloudContext,
  db: Kysely<DB>,
  projectId: string,
  failedId: string,
  reason: string,
): Promise<number> {
  const now = ctx.clock.now();
  let frontier = [failedId];
  let cancelled = 0;
  const seen = new Set<string>(frontier);
  while (frontier.length > 0) {
    const rows = (await waitingOn(ctx, db, projectId, frontier)).filter((r) => !seen.has(r.id));
    if (rows.length === 0) break;
    for (const r of rows) seen.add(r.id);
    for (const group of chunks(rows, 500)) {
      const res = await db
        .updateTable('tasks')
        .set({ status: 'cancelled', error: reason, finished_ts: now, updated_ts: now })
        .where('project_id', '=', projectId)
        .where(
          'id',
          'in',
          group.map((r) => r.id),
        )
        .where('status', '=', 'waiting')
        .executeTakeFirst();
      cancelled += Number(res.numUpdatedRows);
    }
    frontier = rows.map((r) => r.id);
  }
  return cancelled;
}

/** A log line's time as sent, unless it is more than a day off the cloud's clock. */
function logTs(ts: number, now: number): number {
  return Math.abs(ts - now) > 86_400_000 ? now : Math.floor(ts);
}

/**
 * Stores a progress report under the task's lease: log lines (with the
 * task's run and plan) and finished evaluations. Stores nothing and throws
 * 409 `stale_lease` when the lease is not current.
 */
export async function recordProgress(
  ctx: CloudContext,
  projectId: string,
  taskId: string,
  report: ProgressReport,
): Promise<ProgressResponse> {
  const now = ctx.clock.now();
  const result = await writeTransaction(
    ctx.store,
    async (tx) => {
      const task = await assertLease(
        ctx,
        projectId,
        taskId,
        report.leaseId,
        report.fencingToken,
        tx,
      );
      const logs = (report.logs ?? []).map((l) => ({
        project_id: projectId,
        task_id: task.id,
        run_id: task.runId,
        plan_id: task.planId,
        executor_id: task.executorId,
        level: l.level,
        message: l.message,
        ts: logTs(l.ts, now),
      }));
      for (const group of chunks(logs, 500)) await tx.insertInto('logs').values(group).execute();
      const evaluations = (report.evaluations ?? []).map((e) => ({
        id: newSortableId(now),
        project_id: projectId,
        task_id: task.id,
        run_id: task.runId,
        plan_id: task.planId,
        environment: task.environment,
        model: e.model,
        identifier: e.identifier,
        version: e.version,
        start_ts: e.interval[0],
        end_ts: e.interval[1],
        status: e.status,
        attempt: task.attempts,
        rows: e.rows ?? null,
        duration_ms: Math.round(e.durationMs),
        error: e.error ?? null,
        created_ts: now,
        finished_ts: now,
      }));
      for (const group of chunks(evaluations, 200)) {
        await tx.insertInto('evaluations').values(group).execute();
      }
      let cancelRequested = false;
      if (task.planId !== null) {
        const plan = await tx
          .selectFrom('plans')
          .select('cancel_requested_ts')
          .where('id', '=', task.planId)
          .executeTakeFirst();
        cancelRequested = plan?.cancel_requested_ts != null;
      }
      return { task, logs: logs.length, evaluations: evaluations.length, cancelRequested };
    },
    NOT_DURABLE,
  );
  if (result.task.executorId) noteExecutor(ctx, projectId, result.task.executorId);
  ctx.events.publish({
    projectId,
    type: 'task.progress',
    payload: {
      taskId,
      runId: result.task.runId,
      planId: result.task.planId,
      logs: result.logs,
      evaluations: result.evaluations,
      ...(report.progress ? { progress: report.progress } : {}),
    },
    ts: now,
  });
  return {
    logs: result.logs,
    evaluations: result.evaluations,
    cancelRequested: result.cancelRequested,
  };
}

/** A finished plan task's plan finished with it. */
function announcePlanFinished(
  ctx: CloudContext,
  projectId: string,
  planId: string,
  status: string,
  error: string | null,
  now: number,
): void {
  ctx.events.publish({
    projectId,
    type: 'plan.finished',
    payload: { planId, status, error },
    ts: now,
  });
}

/** The executor that reported a completion was seen. */
function announceExecutorSeen(
  ctx: CloudContext,
  projectId: string,
  executorId: string,
  now: number,
): void {
  ctx.events.publish({ projectId, type: 'executor.seen', payload: { executorId }, ts: now });
}

/** The retry delay after `attempts` attempts: the base doubled per earlier attempt. */
export function retryDelayMs(baseMs: number, attempts: number): number {
  return baseMs * 2 ** Math.max(0, Math.min(attempts - 1, 20));
}

/**
 * Completes a task under its lease. Succeeded: dependants are released.
 * Failed: back to pending after a backoff while `retryable` and attempts
 * remain; otherwise failed for good, and its dependants cancelled. An apply
 * task whose plan was asked to cancel ends cancelled. Throws 409
 * `stale_lease` (storing nothing) when the lease is not current.
 */
export async function completeTask(
  ctx: CloudContext,
  projectId: string,
  taskId: string,
  request: CompleteRequest,
): Promise<CompleteResponse> {
  if (request.status === 'succeeded') {
    return completionsOf(ctx).submit({
      projectId,
      taskId,
      leaseId: request.leaseId,
      fencingToken: request.fencingToken,
    });
  }
  return retryOnDeadlock(() => completeOne(ctx, projectId, taskId, request));
}

/** {@link completeTask} for one task in its own transaction (failures, retries, cancels). */
async function completeOne(
  ctx: CloudContext,
  projectId: string,
  taskId: string,
  request: CompleteRequest,
): Promise<CompleteResponse> {
  const now = ctx.clock.now();
  const outcome = await writeTransaction(
    ctx.store,
    async (tx) => {
      const task = await tx
        .selectFrom('tasks')
        .leftJoin('plans', 'plans.id', 'tasks.plan_id')
        .select([
          'tasks.id as id',
          'tasks.queue as queue',
          'tasks.status as status',
          'tasks.lease_id as lease_id',
          'tasks.fencing_token as fencing_token',
          'tasks.lease_expires_ts as lease_expires_ts',
          'tasks.attempts as attempts',
          'tasks.max_attempts as max_attempts',
          'tasks.executor_id as executor_id',
          'tasks.run_id as run_id',
          'tasks.plan_id as plan_id',
          'tasks.model as model',
          'plans.cancel_requested_ts as cancel_requested_ts',
        ])
        .where('tasks.id', '=', taskId)
        .where('tasks.project_id', '=', projectId)
        .$if(ctx.store.kind === 'postgres', (q) => q.forUpdate('tasks'))
        .executeTakeFirst();
      if (
        !task ||
        task.status !== 'claimed' ||
        task.lease_id !== request.leaseId ||
        Number(task.fencing_token) !== request.fencingToken ||
        task.lease_expires_ts === null ||
        Number(task.lease_expires_ts) <= now
      ) {
        throw staleLease(taskId);
      }
      const attempts = Number(task.attempts);
      const error = request.status === 'failed' ? (request.error ?? 'failed') : null;
      let status: CompleteResponse['status'];
      let retryAtTs: number | undefined;
      const counts: ExecutorCounts = {};
      if (request.status === 'succeeded') {
        status = 'succeeded';
        counts.completed = 1;
      } else if (task.cancel_requested_ts != null) {
        status = 'cancelled';
        counts.aborted = 1;
      } else if (request.retryable === true && attempts < Number(task.max_attempts)) {
        status = 'pending';
        retryAtTs = now + retryDelayMs(ctx.settings.retryBackoffMs, attempts);
        counts.failed = 1;
      } else {
        status = 'failed';
        counts.failed = 1;
      }
      await tx
        .updateTable('tasks')
        .set({
          status,
          lease_expires_ts: null,
          updated_ts: now,
          error: status === 'cancelled' ? 'cancelled on request' : error,
          ...(status === 'pending' ? { not_before_ts: retryAtTs! } : { finished_ts: now }),
        })
        .where('id', '=', taskId)
        .execute();
      let released = new Set<TaskQueue>();
      let cancelled = 0;
      if (status === 'succeeded') {
        released = await releaseWaiting(
          ctx,
          tx,
          projectId,
          await waitingOn(ctx, tx, projectId, [taskId]),
        );
      } else if (status === 'failed' || status === 'cancelled') {
        const what = task.model ? `${taskId} (${task.model})` : taskId;
        cancelled = await cancelDependants(
          ctx,
          tx,
          projectId,
          taskId,
          `upstream task ${what} ${status}`,
        );
      }
      if (task.plan_id !== null) {
        const planStatus = status === 'pending' ? 'pending' : status;
        await tx
          .updateTable('plans')
          .set({
            status: planStatus,
            updated_ts: now,
            error: status === 'cancelled' ? 'cancelled on request' : error,
            ...(status === 'pending' ? {} : { finished_ts: now }),
          })
          .where('id', '=', task.plan_id)
          .where('project_id', '=', projectId)
          .where('status', 'in', ['pending', 'applying'])
          .execute();
      }
      return { task, status, retryAtTs, released, cancelled, error, counts };
    },
    NOT_DURABLE,
  );
  const { task } = outcome;
  ctx.events.publish({
    projectId,
    type: `task.${outcome.status === 'pending' ? 'retrying' : outcome.status}`,
    payload: {
      taskId,
      queue: task.queue,
      runId: task.run_id,
      planId: task.plan_id,
      model: task.model,
      ...(outcome.error ? { error: outcome.error } : {}),
      ...(outcome.retryAtTs ? { retryAtTs: outcome.retryAtTs } : {}),
      ...(outcome.cancelled ? { cancelledDependants: outcome.cancelled } : {}),
    },
    ts: now,
  });
  // The next apply of the environment, another task of the same model, and
  // released dependants may be claimable now.
  const ready = new Set(outcome.released);
  if (task.queue === 'apply' || task.model !== null) ready.add(task.queue);
  for (const queue of ready) {
    ctx.events.publish({ projectId, type: 'task.ready', payload: { queue }, ts: now });
  }
  if (task.plan_id !== null && outcome.status !== 'pending') {
    announcePlanFinished(ctx, projectId, task.plan_id, outcome.status, outcome.error, now);
  }
  if (task.executor_id) {
    noteExecutor(ctx, projectId, task.executor_id, outcome.counts);
    announceExecutorSeen(ctx, projectId, task.executor_id, now);
  }
  return {
    status: outcome.status,
    ...(outcome.retryAtTs !== undefined ? { retryAtTs: outcome.retryAtTs } : {}),
  };
}

/**
 * Succeeded completions of the moment, in one transaction (see
 * {@link completeSucceededTasks}); then the events. A task whose lease is
 * not current gets 409 `stale_lease`; a task named twice in the batch is
 * completed on its own afterwards.
 */
async function completeSucceeded(
  ctx: CloudContext,
  items: SucceededItem[],
): Promise<Array<BatchOutcome<CompleteResponse>>> {
  const first = new Map<string, number>();
  const again: number[] = [];
  items.forEach((item, i) => {
    // A lease id we never issued (ours are UUIDs) cannot be current; NUL cannot even be sent.
    if (item.leaseId.includes('\u0000')) return;
    if (first.has(item.taskId)) again.push(i);
    else first.set(item.taskId, i);
  });
  const unique = [...first.values()].map((i) => items[i]!);
  const now = ctx.clock.now();
  const { done, released } =
    unique.length > 0
      ? await retryOnDeadlock(() => completeSucceededTasks(ctx.store, unique, now))
      : { done: [], released: [] };
  const ready = new Map<string, Set<TaskQueue>>();
  const readyIn = (projectId: string) => {
    let queues = ready.get(projectId);
    if (!queues) {
      queues = new Set();
      ready.set(projectId, queues);
    }
    return queues;
  };
  for (const r of released) readyIn(r.project_id).add(r.queue);
  const completedBy = new Map<string, { projectId: string; executorId: string; n: number }>();
  for (const task of done) {
    const projectId = task.project_id;
    if (task.executor_id) {
      const key = `${projectId}\u0000${task.executor_id}`;
      const c = completedBy.get(key) ?? { projectId, executorId: task.executor_id, n: 0 };
      c.n++;
      completedBy.set(key, c);
    }
    ctx.events.publish({
      projectId,
      type: 'task.succeeded',
      payload: {
        taskId: task.id,
        queue: task.queue,
        runId: task.run_id,
        planId: task.plan_id,
        model: task.model,
      },
      ts: now,
    });
    // The next apply of the environment and another task of the same model may be claimable now.
    if (task.queue === 'apply' || task.model !== null) readyIn(projectId).add(task.queue);
    if (task.plan_id !== null) {
      announcePlanFinished(ctx, projectId, task.plan_id, 'succeeded', null, now);
    }
  }
  // Each executor once, however many of its tasks the batch completed.
  for (const c of completedBy.values()) {
    noteExecutor(ctx, c.projectId, c.executorId, { completed: c.n });
    announceExecutorSeen(ctx, c.projectId, c.executorId, now);
  }
  for (const [projectId, queues] of ready) {
    for (const queue of queues) {
      ctx.events.publish({ projectId, type: 'task.ready', payload: { queue }, ts: now });
    }
  }
  const succeeded = new Set(done.map((r) => r.id));
  const outcomes: Array<BatchOutcome<CompleteResponse>> = items.map((item, i) =>
    first.get(item.taskId) === i && succeeded.has(item.taskId)
      ? { ok: true, value: { status: 'succeeded' } }
      : { ok: false, error: staleLease(item.taskId) },
  );
  for (const i of again) {
    const item = items[i]!;
    try {
      const value = await retryOnDeadlock(() =>
        completeOne(ctx, item.projectId, item.taskId, {
          leaseId: item.leaseId,
          fencingToken: item.fencingToken,
          status: 'succeeded',
        }),
      );
      outcomes[i] = { ok: true, value };
    } catch (error) {
      outcomes[i] = { ok: false, error };
    }
  }
  return outcomes;
}

const completionsOf = perKey(
  (ctx: CloudContext) =>
    new Coalescer<SucceededItem, CompleteResponse>((items) => completeSucceeded(ctx, items), 500),
);

/**
 * Releases waiting tasks whose dependencies all succeeded and cancels those
 * with a failed or cancelled dependency, for tasks that missed the moment
 * (enqueued while a dependency was finishing). Returns how many moved.
 */
export async function settleWaitingTasks(ctx: CloudContext, limit = 1_000): Promise<number> {
  const db = ctx.store.db;
  const rows = await db
    .selectFrom('tasks')
    .select(['id', 'project_id', 'queue', 'depends_on'])
    .where('status', '=', 'waiting')
    .where('updated_ts', '<', ctx.clock.now() - 1_000)
    .orderBy('created_ts')
    .limit(limit)
    .execute();
  if (rows.length === 0) return 0;
  let moved = 0;
  const byProject = new Map<string, typeof rows>();
  for (const r of rows) byProject.set(r.project_id, [...(byProject.get(r.project_id) ?? []), r]);
  for (const [projectId, tasks] of byProject) {
    const deps = [...new Set(tasks.flatMap((t) => parseIds(t.depends_on)))];
    const status = await taskStatuses(db, projectId, deps);
    const ready = tasks.filter((t) =>
      parseIds(t.depends_on).every((d) => status.get(d) === 'succeeded'),
    );
    const broken = tasks.filter((t) =>
      parseIds(t.depends_on).some(
        (d) => status.get(d) === 'failed' || status.get(d) === 'cancelled',
      ),
    );
    if (ready.length > 0) {
      const queues = await writeTransaction(ctx.store, (tx) =>
        releaseWaiting(ctx, tx, projectId, ready),
      );
      moved += ready.length;
      announceTasks(ctx, projectId, queues);
    }
    for (const t of broken) {
      const dep = parseIds(t.depends_on).find(
        (d) => status.get(d) === 'failed' || status.get(d) === 'cancelled',
      )!;
      const reason = `upstream task ${dep} ${status.get(dep)}`;
      const now = ctx.clock.now();
      await writeTransaction(ctx.store, async (tx) => {
        const res = await tx
          .updateTable('tasks')
          .set({ status: 'cancelled', error: reason, finished_ts: now, updated_ts: now })
          .where('id', '=', t.id)
          .where('status', '=', 'waiting')
          .executeTakeFirst();
        if (Number(res.numUpdatedRows) > 0) {
          moved++;
          await cancelDependants(ctx, tx, projectId, t.id, `upstream task ${t.id} cancelled`);
        }
      });
    }
  }
  return moved;
}
