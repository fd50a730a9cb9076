/**
 * What happened, as lists for people and orchestrators: plans, evaluations
 * (one row per model interval an executor evaluated), log lines and audit
 * results, each filtered, newest first, paged with a cursor and saying
 * plainly when a page is not the whole list.
 */
import type { EvaluationRecord } from '../../protocol/messages.js';
import type { CloudContext } from '../context.js';
import type { PlanStatus, RunStatus } from '../store/schema.js';
import { toSummary, type RunSummary } from '../scheduler/runs.js';
import { displayNameOf, principalNames } from './principals.js';
import { encodeCursor, LOG_LEVELS, type Cursor, type LogLevel } from './query-params.js';
import { afterCursor, bytewise, evaluationRecord, num, parseObject } from './store-queries.js';

export const PLAN_STATUSES: readonly PlanStatus[] = [
  'pending',
  'applying',
  'succeeded',
  'failed',
  'cancelled',
];
export const RUN_STATUSES: readonly RunStatus[] = [
  'pending',
  'running',
  'succeeded',
  'failed',
  'cancelled',
];
export const EVALUATION_STATUSES = ['succeeded', 'failed'] as const;

/** A page of a list: `truncated` when more rows follow; fetch them with `before=nextBefore`. */
export interface Page<T> {
  items: T[];
  truncated: boolean;
  nextBefore: string | null;
}

function page<T>(rows: T[], limit: number, cursorOf: (row: T) => string): Page<T> {
  const truncated = rows.length > limit;
  const items = truncated ? rows.slice(0, limit) : rows;
  const last = items[items.length - 1];
  return { items, truncated, nextBefore: truncated && last ? cursorOf(last) : null };
}

// ---- plans ----

export interface PlanListItem {
  planId: string;
  environment: string;
  status: PlanStatus;
  /** Who submitted the plan, as recorded (see principals.ts). */
  createdBy: string | null;
  /** The submitter's display name: the OAuth client's or user's name where known. */
  createdByName: string | null;
  createdTs: number;
  startedTs: number | null;
  finishedTs: number | null;
  durationMs: number | null;
  error: string | null;
  summary: Record<string, unknown>;
  /** The range the plan backfills, when known. */
  backfill: { start: number; end: number } | null;
}

function backfillRange(summary: Record<string, unknown>): PlanListItem['backfill'] {
  const start = summary['start'];
  const end = summary['end'];
  return typeof start === 'number' && typeof end === 'number' ? { start, end } : null;
}

export function durationOf(started: number | null, finished: number | null): number | null {
  return started !== null && finished !== null ? Math.max(0, finished - started) : null;
}

export async function listPlans(
  ctx: CloudContext,
  projectId: string,
  options: { environment?: string; status?: PlanStatus; before?: Cursor; limit: number },
): Promise<Page<PlanListItem>> {
  const rows = await ctx.store.db
    .selectFrom('plans')
    .select([
      'id',
      'environment',
      'status',
      'created_by',
      'created_ts',
      'started_ts',
      'finished_ts',
      'error',
      'summary',
    ])
    .where('project_id', '=', projectId)
    .$if(options.environment !== undefined, (q) =>
      q.where('environment', '=', options.environment!),
    )
    .$if(options.status !== undefined, (q) => q.where('status', '=', options.status!))
    .$if(options.before !== undefined, (q) =>
      q.where(afterCursor(ctx, 'created_ts', 'id', options.before!)),
    )
    .orderBy('created_ts', 'desc')
    .orderBy(bytewise(ctx, 'id'), 'desc')
    .limit(options.limit + 1)
    .execute();
  const names = await principalNames(
    ctx,
    projectId,
    rows.map((r) => r.created_by),
  );
  const items = rows.map((r): PlanListItem => {
    const summary = parseObject(r.summary);
    const started = num(r.started_ts);
    const finished = num(r.finished_ts);
    return {
      planId: r.id,
      environment: r.environment,
      status: r.status,
      createdBy: r.created_by,
      createdByName: displayNameOf(names, r.created_by),
      createdTs: Number(r.created_ts),
      startedTs: started,
      finishedTs: finished,
      durationMs: durationOf(started, finished),
      error: r.error,
      summary,
      backfill: backfillRange(summary),
    };
  });
  return page(items, options.limit, (p) => encodeCursor(p.createdTs, p.planId));
}

/** The plan's environment, or undefined when the project has no such plan. */
export async function planExists(
  ctx: CloudContext,
  projectId: string,
  planId: string,
): Promise<boolean> {
  const row = await ctx.store.db
    .selectFrom('plans')
    .select('id')
    .where('project_id', '=', projectId)
    .where('id', '=', planId)
    .executeTakeFirst();
  return row !== undefined;
}

export interface PlanChanges {
  planId: string;
  environment: string;
  /** False for plans recorded through the state API alone, which keep no plan body. */
  available: boolean;
  changes: unknown[];
  backfill: Array<{
    name: string;
    version: string | null;
    batches: number;
    start: number | null;
    end: number | null;
  }>;
  restatements: unknown[];
  removed: string[];
  warnings: unknown[];
  start: number | null;
  end: number | null;
  executionTime: number | null;
}

/** What a submitted plan changes and backfills, from the plan body the cloud kept. */
export async function planChanges(
  ctx: CloudContext,
  projectId: string,
  planId: string,
): Promise<PlanChanges | undefined> {
  const row = await ctx.store.db
    .selectFrom('plans')
    .select(['id', 'environment', 'payload'])
    .where('project_id', '=', projectId)
    .where('id', '=', planId)
    .executeTakeFirst();
  if (!row) return undefined;
  const plan = parseObject(row.payload);
  const list = (key: string): unknown[] => {
    const value = plan[key];
    return Array.isArray(value) ? value : [];
  };
  const time = (key: string): number | null =>
    typeof plan[key] === 'number' ? (plan[key] as number) : null;
  const backfill = list('backfill').map((raw) => {
    const item = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
    const batches = Array.isArray(item['batches'])
      ? (item['batches'] as unknown[]).filter(
          (b): b is [number, number] =>
            Array.isArray(b) && typeof b[0] === 'number' && typeof b[1] === 'number',
        )
      : [];
    return {
      name: typeof item['name'] === 'string' ? item['name'] : '',
      version: typeof item['version'] === 'string' ? item['version'] : null,
      batches: batches.length,
      start: batches.length ? Math.min(...batches.map((b) => b[0])) : null,
      end: batches.length ? Math.max(...batches.map((b) => b[1])) : null,
    };
  });
  return {
    planId: row.id,
    environment: row.environment,
    available: row.payload !== null,
    changes: list('changes'),
    backfill,
    restatements: list('restatements'),
    removed: list('removed')
      .map((r) => (r && typeof r === 'object' ? (r as { name?: unknown }).name : undefined))
      .filter((n): n is string => typeof n === 'string'),
    warnings: list('warnings'),
    start: time('start'),
    end: time('end'),
    executionTime: time('executionTime'),
  };
}

// ---- evaluations ----

export interface EvaluationItem extends EvaluationRecord {
  taskId: string | null;
  runId: string | null;
  planId: string | null;
  environment: string;
  createdTs: number;
  finishedTs: number | null;
}

export interface EvaluationFilter {
  model?: string;
  environment?: string;
  status?: string;
  runId?: string;
  planId?: string;
  taskId?: string;
  before?: Cursor;
  limit: number;
}

export async function listEvaluations(
  ctx: CloudContext,
  projectId: string,
  filter: EvaluationFilter,
): Promise<Page<EvaluationItem>> {
  const rows = await ctx.store.db
    .selectFrom('evaluations')
    .selectAll()
    .where('project_id', '=', projectId)
    .$if(filter.model !== undefined, (q) => q.where('model', '=', filter.model!))
    .$if(filter.environment !== undefined, (q) => q.where('environment', '=', filter.environment!))
    .$if(filter.status !== undefined, (q) => q.where('status', '=', filter.status!))
    .$if(filter.runId !== undefined, (q) => q.where('run_id', '=', filter.runId!))
    .$if(filter.planId !== undefined, (q) => q.where('plan_id', '=', filter.planId!))
    .$if(filter.taskId !== undefined, (q) => q.where('task_id', '=', filter.taskId!))
    .$if(filter.before !== undefined, (q) =>
      q.where(afterCursor(ctx, 'created_ts', 'id', filter.before!)),
    )
    .orderBy('created_ts', 'desc')
    .orderBy(bytewise(ctx, 'id'), 'desc')
    .limit(filter.limit + 1)
    .execute();
  const items = rows.map((e): EvaluationItem => ({
    ...evaluationRecord(e),
    taskId: e.task_id,
    runId: e.run_id,
    planId: e.plan_id,
    environment: e.environment,
    createdTs: Number(e.created_ts),
    finishedTs: num(e.finished_ts),
  }));
  return page(items, filter.limit, (e) => encodeCursor(e.createdTs, e.id));
}

// ---- logs ----

export interface LogItem {
  id: number;
  taskId: string | null;
  runId: string | null;
  planId: string | null;
  executorId: string | null;
  level: string;
  message: string;
  ts: number;
}

export interface LogFilter {
  taskId?: string;
  runId?: string;
  planId?: string;
  /** The least severe level to include. */
  level?: LogLevel;
  /** Only lines with a smaller id. */
  before?: number;
  limit: number;
}

/**
 * A page of log lines: the newest `limit` lines before the cursor, shown
 * oldest first. `truncated` says older lines exist (`nextBefore` reaches
 * them); `retention` says which lines the cloud no longer keeps.
 */
export interface LogPage {
  logs: LogItem[];
  truncated: boolean;
  nextBefore: number | null;
  retention: {
    /** Lines older than this are removed (now minus the retention period). */
    keptSinceTs: number;
    /** The cut-off of the last retention pass that removed lines of this project, if any. */
    removedBeforeTs: number | null;
    /** True when lines this list would have shown were removed by retention. */
    olderRemoved: boolean;
  };
}

/** The server_settings row recording a project's last log retention cut-off. */
export function retentionMarker(projectId: string): string {
  return `log_retention_cutoff:${projectId}`;
}

export async function retentionCutoff(
  ctx: CloudContext,
  projectId: string,
): Promise<number | null> {
  const row = await ctx.store.db
    .selectFrom('server_settings')
    .select('value')
    .where('name', '=', retentionMarker(projectId))
    .executeTakeFirst();
  const value = row ? Number(row.value) : NaN;
  return Number.isSafeInteger(value) ? value : null;
}

/** When the scope a log filter names began (its plan, run or task), if it names one. */
async function scopeStart(
  ctx: CloudContext,
  projectId: string,
  filter: LogFilter,
): Promise<number | null> {
  const db = ctx.store.db;
  if (filter.taskId !== undefined) {
    const r = await db
      .selectFrom('tasks')
      .select('created_ts')
      .where('project_id', '=', projectId)
      .where('id', '=', filter.taskId)
      .executeTakeFirst();
    return num(r?.created_ts);
  }
  if (filter.runId !== undefined) {
    const r = await db
      .selectFrom('runs')
      .select('created_ts')
      .where('project_id', '=', projectId)
      .where('id', '=', filter.runId)
      .executeTakeFirst();
    return num(r?.created_ts);
  }
  if (filter.planId !== undefined) {
    const r = await db
      .selectFrom('plans')
      .select('created_ts')
      .where('project_id', '=', projectId)
      .where('id', '=', filter.planId)
      .executeTakeFirst();
    return num(r?.created_ts);
  }
  return null;
}

export async function listLogs(
  ctx: CloudContext,
  projectId: string,
  filter: LogFilter,
): Promise<LogPage> {
  const levels = filter.level ? LOG_LEVELS.slice(LOG_LEVELS.indexOf(filter.level)) : undefined;
  const rows = await ctx.store.db
    .selectFrom('logs')
    .select(['id', 'task_id', 'run_id', 'plan_id', 'executor_id', 'level', 'message', 'ts'])
    .where('project_id', '=', projectId)
    .$if(filter.taskId !== undefined, (q) => q.where('task_id', '=', filter.taskId!))
    .$if(filter.runId !== undefined, (q) => q.where('run_id', '=', filter.runId!))
    .$if(filter.planId !== undefined, (q) => q.where('plan_id', '=', filter.planId!))
    .$if(levels !== undefined, (q) => q.where('level', 'in', levels!))
    .$if(filter.before !== undefined, (q) => q.where('id', '<', filter.before!))
    .orderBy('id', 'desc')
    .limit(filter.limit + 1)
    .execute();
  const truncated = rows.length > filter.limit;
  const kept = (truncated ? rows.slice(0, filter.limit) : rows).reverse();
  const logs = kept.map((l): LogItem => ({
    id: Number(l.id),
    taskId: l.task_id,
    runId: l.run_id,
    planId: l.plan_id,
    executorId: l.executor_id,
    level: l.level,
    message: l.message,
    ts: Number(l.ts),
  }));
  const cutoff = await retentionCutoff(ctx, projectId);
  let olderRemoved = false;
  if (cutoff !== null && !truncated) {
    const start = await scopeStart(ctx, projectId, filter);
    const scoped =
      filter.taskId !== undefined || filter.runId !== undefined || filter.planId !== undefined;
    // A scope that began after the cut-off lost nothing; an unscoped list lost what was cut.
    olderRemoved = scoped ? start !== null && start < cutoff : true;
  }
  return {
    logs,
    truncated,
    nextBefore: truncated && logs[0] ? logs[0].id : null,
    retention: {
      keptSinceTs: ctx.clock.now() - ctx.settings.logRetentionMs,
      removedBeforeTs: cutoff,
      olderRemoved,
    },
  };
}

// ---- audits ----

export interface AuditItem {
  id: string;
  evaluationId: string | null;
  runId: string | null;
  planId: string | null;
  model: string;
  audit: string;
  blocking: boolean;
  passed: boolean;
  failingRows: number;
  sample: unknown;
  createdTs: number;
}

export async function listAudits(
  ctx: CloudContext,
  projectId: string,
  filter: { runId?: string; planId?: string; model?: string; before?: Cursor; limit: number },
): Promise<Page<AuditItem>> {
  const rows = await ctx.store.db
    .selectFrom('audit_results')
    .selectAll()
    .where('project_id', '=', projectId)
    .$if(filter.runId !== undefined, (q) => q.where('run_id', '=', filter.runId!))
    .$if(filter.planId !== undefined, (q) => q.where('plan_id', '=', filter.planId!))
    .$if(filter.model !== undefined, (q) => q.where('model', '=', filter.model!))
    .$if(filter.before !== undefined, (q) =>
      q.where(afterCursor(ctx, 'created_ts', 'id', filter.before!)),
    )
    .orderBy('created_ts', 'desc')
    .orderBy(bytewise(ctx, 'id'), 'desc')
    .limit(filter.limit + 1)
    .execute();
  const items = rows.map((a): AuditItem => ({
    id: a.id,
    evaluationId: a.evaluation_id,
    runId: a.run_id,
    planId: a.plan_id,
    model: a.model,
    audit: a.audit,
    blocking: Number(a.blocking) === 1,
    passed: Number(a.passed) === 1,
    failingRows: Number(a.failing_rows),
    sample: (() => {
      try {
        return JSON.parse(a.sample) as unknown;
      } catch {
        return a.sample;
      }
    })(),
    createdTs: Number(a.created_ts),
  }));
  return page(items, filter.limit, (a) => encodeCursor(a.createdTs, a.id));
}

// ---- runs ----

export interface RunNeighbour {
  id: string;
  status: RunStatus;
  trigger: string;
  executionTs: number;
  createdTs: number;
}

/** The runs of the same environment just before and just after a run. */
export async function runNeighbours(
  ctx: CloudContext,
  projectId: string,
  runId: string,
): Promise<
  { environment: string; previous: RunNeighbour | null; next: RunNeighbour | null } | undefined
> {
  const db = ctx.store.db;
  const run = await db
    .selectFrom('runs')
    .select(['id', 'environment', 'created_ts'])
    .where('project_id', '=', projectId)
    .where('id', '=', runId)
    .executeTakeFirst();
  if (!run) return undefined;
  const ts = Number(run.created_ts);
  const base = () =>
    db
      .selectFrom('runs')
      .select(['id', 'status', 'trigger', 'execution_ts', 'created_ts'])
      .where('project_id', '=', projectId)
      .where('environment', '=', run.environment)
      .where('id', '!=', run.id);
  const previous = await base()
    .where(afterCursor(ctx, 'created_ts', 'id', { ts, key: run.id }))
    .orderBy('created_ts', 'desc')
    .orderBy(bytewise(ctx, 'id'), 'desc')
    .limit(1)
    .executeTakeFirst();
  const next = await base()
    .where((eb) =>
      eb.or([
        eb('created_ts', '>', ts),
        eb.and([eb('created_ts', '=', ts), eb(bytewise(ctx, 'id'), '>', run.id)]),
      ]),
    )
    .orderBy('created_ts', 'asc')
    .orderBy(bytewise(ctx, 'id'), 'asc')
    .limit(1)
    .executeTakeFirst();
  const shape = (r: typeof previous): RunNeighbour | null =>
    r
      ? {
          id: r.id,
          status: r.status,
          trigger: r.trigger,
          executionTs: Number(r.execution_ts),
          createdTs: Number(r.created_ts),
        }
      : null;
  return { environment: run.environment, previous: shape(previous), next: shape(next) };
}

export async function runExists(
  ctx: CloudContext,
  projectId: string,
  runId: string,
): Promise<boolean> {
  const row = await ctx.store.db
    .selectFrom('runs')
    .select('id')
    .where('project_id', '=', projectId)
    .where('id', '=', runId)
    .executeTakeFirst();
  return row !== undefined;
}

export interface RunListItem extends RunSummary {
  durationMs: number | null;
  /** Their display name (see {@link PlanListItem.createdByName}); null for scheduled runs. */
  createdByName: string | null;
}

/** Runs newest first, paged (the orchestrator API's list). */
export async function listRunsPage(
  ctx: CloudContext,
  projectId: string,
  options: { environment?: string; status?: RunStatus; before?: Cursor; limit: number },
): Promise<Page<RunListItem>> {
  const rows = await ctx.store.db
    .selectFrom('runs')
    .selectAll()
    .where('project_id', '=', projectId)
    .$if(options.environment !== undefined, (q) =>
      q.where('environment', '=', options.environment!),
    )
    .$if(options.status !== undefined, (q) => q.where('status', '=', options.status!))
    .$if(options.before !== undefined, (q) =>
      q.where(afterCursor(ctx, 'created_ts', 'id', options.before!)),
    )
    .orderBy('created_ts', 'desc')
    .orderBy(bytewise(ctx, 'id'), 'desc')
    .limit(options.limit + 1)
    .execute();
  const names = await principalNames(
    ctx,
    projectId,
    rows.map((r) => r.created_by),
  );
  const items = rows.map((r): RunListItem => {
    const run = toSummary(r);
    return {
      ...run,
      durationMs: durationOf(run.startedTs, run.finishedTs),
      createdByName: displayNameOf(names, r.created_by),
    };
  });
  return page(items, options.limit, (r) => encodeCursor(r.createdTs, r.id));
}
