/**
 * Runs as records: reading them with their tasks, and moving a run on as its
 * tasks move (running once a task started; succeeded or failed once every
 * task is final).
 */
import type { Interval } from '../../engine/snapshot/snapshot-types.js';
import type { CloudContext } from '../context.js';
import type { RunStatus, RunsTable, TaskStatus } from '../store/schema.js';

const FINAL_TASK: ReadonlySet<TaskStatus> = new Set(['succeeded', 'failed', 'cancelled']);
const FINAL_RUN: ReadonlySet<RunStatus> = new Set(['succeeded', 'failed', 'cancelled']);

export interface RunSummary {
  id: string;
  environment: string;
  status: RunStatus;
  /** `schedule` or `manual`. */
  trigger: string;
  executionTs: number;
  createdTs: number;
  startedTs: number | null;
  finishedTs: number | null;
  error: string | null;
  createdBy: string | null;
}

export interface RunTask {
  id: string;
  model: string | null;
  version: string | null;
  status: TaskStatus;
  attempts: number;
  maxAttempts: number;
  dependsOn: string[];
  batches: Interval[];
  createdTs: number;
  startedTs: number | null;
  finishedTs: number | null;
  error: string | null;
}

export interface RunDetail extends RunSummary {
  tasks: RunTask[];
}

/** A run row as the API reports it. */
export function toSummary(row: RunsTable): RunSummary {
  return {
    id: row.id,
    environment: row.environment,
    status: row.status,
    trigger: row.trigger,
    executionTs: Number(row.execution_ts),
    createdTs: Number(row.created_ts),
    startedTs: row.started_ts === null ? null : Number(row.started_ts),
    finishedTs: row.finished_ts === null ? null : Number(row.finished_ts),
    error: row.error,
    createdBy: row.created_by,
  };
}

function parseJson<T>(text: string, fallback: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

/** Runs of the project, newest first, optionally of one environment. */
export async function listRuns(
  ctx: CloudContext,
  projectId: string,
  options: { environment?: string; limit: number },
): Promise<RunSummary[]> {
  let query = ctx.store.db.selectFrom('runs').selectAll().where('project_id', '=', projectId);
  if (options.environment !== undefined) {
    query = query.where('environment', '=', options.environment);
  }
  const rows = await query
    .orderBy('created_ts', 'desc')
    .orderBy('id', 'desc')
    .limit(options.limit)
    .execute();
  return rows.map(toSummary);
}

/** A run of the project with its tasks (parents first), or undefined. */
export async function getRun(
  ctx: CloudContext,
  projectId: string,
  runId: string,
): Promise<RunDetail | undefined> {
  const row = await ctx.store.db
    .selectFrom('runs')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('id', '=', runId)
    .executeTakeFirst();
  if (!row) return undefined;
  const tasks = await ctx.store.db
    .selectFrom('tasks')
    .select([
      'id',
      'model',
      'version',
      'status',
      'attempts',
      'max_attempts',
      'depends_on',
      'payload',
      'created_ts',
      'started_ts',
      'finished_ts',
      'error',
    ])
    .where('project_id', '=', projectId)
    .where('run_id', '=', runId)
    .execute();
  const detail: RunTask[] = tasks.map((t) => ({
    id: t.id,
    model: t.model,
    version: t.version,
    status: t.status,
    attempts: Number(t.attempts),
    maxAttempts: Number(t.max_attempts),
    dependsOn: parseJson<string[]>(t.depends_on, []),
    batches: parseJson<{ batches?: Interval[] }>(t.payload, {}).batches ?? [],
    createdTs: Number(t.created_ts),
    startedTs: t.started_ts === null ? null : Number(t.started_ts),
    finishedTs: t.finished_ts === null ? null : Number(t.finished_ts),
    error: t.error,
  }));
  return { ...toSummary(row), tasks: orderByDependencies(detail) };
}

/** Tasks with every task after the tasks it waits for (ties in creation order). */
function orderByDependencies(tasks: RunTask[]): RunTask[] {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const out: RunTask[] = [];
  const seen = new Set<string>();
  const visit = (t: RunTask): void => {
    if (seen.has(t.id)) return;
    seen.add(t.id);
    for (const d of t.dependsOn) {
      const dep = byId.get(d);
      if (dep) visit(dep);
    }
    out.push(t);
  };
  for (const t of [...tasks].sort((a, b) => a.createdTs - b.createdTs)) visit(t);
  return out;
}

/**
 * Brings a run's status in line with its tasks: `running` (with its start
 * time) once any task has been claimed; `succeeded` once every task
 * succeeded; `failed` once every task is final and one failed or was
 * cancelled (a dependency failed). Safe to call any number of times, from any
 * replica; the queue's completion path calls it. Returns the status.
 */
export async function refreshRun(ctx: CloudContext, runId: string): Promise<RunStatus | undefined> {
  const db = ctx.store.db;
  const run = await db
    .selectFrom('runs')
    .select(['id', 'project_id', 'environment', 'status', 'started_ts'])
    .where('id', '=', runId)
    .executeTakeFirst();
  if (!run) return undefined;
  if (FINAL_RUN.has(run.status)) return run.status;
  const tasks = await db
    .selectFrom('tasks')
    .select(['status', 'started_ts', 'model', 'error'])
    .where('run_id', '=', runId)
    .execute();
  const now = ctx.clock.now();
  const started = tasks
    .map((t) => (t.started_ts === null ? undefined : Number(t.started_ts)))
    .filter((t): t is number => t !== undefined);
  const anyStarted = started.length > 0 || tasks.some((t) => t.status === 'claimed');
  const startedTs =
    run.started_ts ?? (anyStarted ? (started.length ? Math.min(...started) : now) : null);

  if (tasks.length > 0 && tasks.every((t) => FINAL_TASK.has(t.status))) {
    const failed =
      tasks.find((t) => t.status === 'failed') ?? tasks.find((t) => t.status === 'cancelled');
    const status: RunStatus = failed ? 'failed' : 'succeeded';
    const error = failed
      ? `${failed.model ?? 'a task'} ${failed.status}${failed.error ? `: ${failed.error}` : ''}`
      : null;
    const res = await db
      .updateTable('runs')
      .set({ status, finished_ts: now, started_ts: startedTs ?? now, error })
      .where('id', '=', runId)
      .where('status', 'in', ['pending', 'running'])
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) > 0) {
      ctx.events.publish({
        projectId: run.project_id,
        type: 'run.finished',
        payload: { runId, environment: run.environment, status },
        ts: now,
      });
      return status;
    }
    const current = await db
      .selectFrom('runs')
      .select('status')
      .where('id', '=', runId)
      .executeTakeFirst();
    return current?.status;
  }
  if (anyStarted && run.status === 'pending') {
    await db
      .updateTable('runs')
      .set({ status: 'running', started_ts: startedTs })
      .where('id', '=', runId)
      .where('status', '=', 'pending')
      .execute();
    return 'running';
  }
  return run.status;
}

/** Refreshes every run of every project that is not final; returns how many finished. */
export async function refreshOpenRuns(ctx: CloudContext): Promise<number> {
  const open = await ctx.store.db
    .selectFrom('runs')
    .select('id')
    .where('status', 'in', ['pending', 'running'])
    .execute();
  let finished = 0;
  for (const { id } of open) {
    const status = await refreshRun(ctx, id);
    if (status && FINAL_RUN.has(status)) finished += 1;
  }
  return finished;
}
