/**
 * Creating a run: what of an environment is due (SQLMesh's `run` semantics:
 * each model's missing intervals up to its cron's last run), less what is
 * paused or already being evaluated, turned into one `evaluate` task per
 * model with the DAG's dependencies between them.
 *
 * The same (model version, interval) is never evaluated twice at once: the
 * intervals of tasks not finished count as recorded, and a model's new task
 * waits for its own unfinished ones. A slow model never holds up independent
 * ones: a new run starts while an older one still runs, and only the slow
 * model's downstream waits for it.
 *
 * Nothing is created for an environment that is paused, expired, or has a
 * plan being applied (the plan fills it; the next tick picks up the rest).
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { computeBackfill } from '../../engine/plan/backfill.js';
import type { Interval, Snapshot } from '../../engine/snapshot/snapshot-types.js';
import { mergeIntervals, subtractIntervals } from '../../engine/time/index.js';
import type { TaskPayload } from '../../protocol/messages.js';
import type { CloudContext } from '../context.js';
import { environmentPauses } from '../pauses/pauses.js';
import { enqueueTasks, type NewTask } from '../queue/task-queue.js';
import type { DB, TaskStatus } from '../store/schema.js';
import { ModelGraph } from './model-graph.js';
import {
  environmentSnapshots,
  isExpired,
  readEnvironment,
  versionIntervals,
} from './state-reader.js';

/** Task statuses that still hold their intervals. */
export const UNFINISHED: readonly TaskStatus[] = ['waiting', 'pending', 'claimed'];

export type RunTrigger = 'schedule' | 'manual';

export interface CreateRunOptions {
  trigger: RunTrigger;
  /** The execution time: the clock's now for scheduled runs. */
  now: number;
  /** Evaluate everything missing up to `now`, due by cron or not. */
  ignoreCron?: boolean;
  createdBy?: string;
}

export interface PlannedTask {
  id: string;
  model: string;
  version: string;
  batches: Interval[];
  dependsOn: string[];
}

export type CreateRunResult =
  | { created: true; runId: string; environment: string; tasks: PlannedTask[] }
  | {
      created: false;
      environment: string;
      reason: 'not_found' | 'expired' | 'paused' | 'plan_applying' | 'nothing_due';
    };

/** Unfinished evaluation work per `name|version`: its intervals and task ids. */
export interface InflightWork {
  intervals: Interval[];
  taskIds: string[];
}

function readBatches(payload: string): Interval[] {
  try {
    const parsed = JSON.parse(payload) as { batches?: unknown };
    if (!Array.isArray(parsed.batches)) return [];
    return parsed.batches.filter(
      (b): b is Interval =>
        Array.isArray(b) && b.length === 2 && typeof b[0] === 'number' && typeof b[1] === 'number',
    );
  } catch {
    return [];
  }
}

/** Evaluation tasks not finished for the named models, keyed `name|version`. */
export async function inflightWork(
  db: Kysely<DB>,
  projectId: string,
  names: readonly string[],
): Promise<Map<string, InflightWork>> {
  const out = new Map<string, InflightWork>();
  for (let i = 0; i < names.length; i += 500) {
    const rows = await db
      .selectFrom('tasks')
      .select(['id', 'model', 'version', 'payload'])
      .where('project_id', '=', projectId)
      .where('kind', '=', 'evaluate')
      .where('status', 'in', [...UNFINISHED])
      .where('model', 'in', names.slice(i, i + 500))
      .orderBy('created_ts')
      .execute();
    for (const row of rows) {
      if (row.model === null || row.version === null) continue;
      const key = `${row.model}|${row.version}`;
      const entry = out.get(key) ?? { intervals: [], taskIds: [] };
      entry.intervals.push(...readBatches(row.payload));
      entry.taskIds.push(row.id);
      out.set(key, entry);
    }
  }
  for (const entry of out.values()) entry.intervals = mergeIntervals(entry.intervals);
  return out;
}

/** The models held back in an environment: paused ones and everything downstream. */
export function heldBack(graph: ModelGraph, paused: Iterable<string>): Set<string> {
  return graph.downstreamOf(paused);
}

/** Serializes run creation per environment across cloud replicas (PostgreSQL only). */
async function lockEnvironment(
  ctx: CloudContext,
  tx: Transaction<DB>,
  projectId: string,
  environment: string,
): Promise<void> {
  if (ctx.store.kind !== 'postgres') return;
  await sql`SELECT pg_advisory_xact_lock(7242002, hashtext(${`${projectId}|${environment}`}))`.execute(
    tx,
  );
}

/**
 * Plans the due work of one environment and, when anything is due, records a
 * run and its tasks in one transaction. Returns what was created, or why
 * nothing was.
 */
export async function createRun(
  ctx: CloudContext,
  projectId: string,
  environment: string,
  options: CreateRunOptions,
): Promise<CreateRunResult> {
  const result = await ctx.store.db.transaction().execute(async (tx) => {
    await lockEnvironment(ctx, tx, projectId, environment);
    return planAndInsert(ctx, tx, projectId, environment, options);
  });
  if (result.created) {
    // Announced again after commit: a claim woken inside the transaction could not see them.
    ctx.events.publish({
      projectId,
      type: 'task.queued',
      payload: { queue: 'run' },
      ts: options.now,
    });
    ctx.events.publish({
      projectId,
      type: 'run.created',
      payload: { runId: result.runId, environment, trigger: options.trigger },
      ts: options.now,
    });
    await settleWaiting(ctx, projectId, result.tasks);
  }
  return result;
}

async function planAndInsert(
  ctx: CloudContext,
  tx: Transaction<DB>,
  projectId: string,
  environment: string,
  options: CreateRunOptions,
): Promise<CreateRunResult> {
  const { now } = options;
  const stored = await readEnvironment(tx, projectId, environment);
  if (!stored) return { created: false, environment, reason: 'not_found' };
  if (isExpired(stored, now)) return { created: false, environment, reason: 'expired' };
  const pauses = await environmentPauses(tx, projectId, environment);
  if (pauses.environment) return { created: false, environment, reason: 'paused' };
  // A plan being applied backfills and swaps the environment's models; the run waits for it.
  const applying = await tx
    .selectFrom('plans')
    .select('id')
    .where('project_id', '=', projectId)
    .where('environment', '=', environment)
    .where('status', '=', 'applying')
    .executeTakeFirst();
  if (applying) return { created: false, environment, reason: 'plan_applying' };

  const { snapshots, missing } = await environmentSnapshots(tx, projectId, stored.environment);
  if (missing.length > 0) {
    ctx.log.warn(
      'environment refers to snapshots the store lacks; they and their downstream are skipped',
      {
        projectId,
        environment,
        missing,
      },
    );
  }
  const graph = new ModelGraph(snapshots);
  const blockedRoots = new Set(pauses.models);
  // A model whose parent snapshot is missing cannot be rendered.
  for (const s of snapshots) {
    if (s.parents.some((p) => missing.includes(p.name))) blockedRoots.add(s.name);
  }
  const held = heldBack(graph, blockedRoots);
  const schedulable = new Set(snapshots.filter((s) => !held.has(s.name)).map((s) => s.name));
  if (schedulable.size === 0) return { created: false, environment, reason: 'nothing_due' };

  const recorded = await versionIntervals(tx, projectId, snapshots);
  const inflight = await inflightWork(tx, projectId, [...schedulable]);
  const withInflight = new Map(recorded);
  for (const [key, work] of inflight) {
    withInflight.set(key, mergeIntervals([...(recorded.get(key) ?? []), ...work.intervals]));
  }
  const items = computeBackfill(snapshots, {
    executionTime: now,
    recorded: withInflight,
    only: schedulable,
    ...(options.ignoreCron ? { ignoreCron: true } : {}),
  });

  const due = new Map<string, Interval[]>();
  for (const item of items) {
    // Lookback can add back intervals another task holds; those are left to it.
    const held = inflight.get(`${item.name}|${item.version}`)?.intervals ?? [];
    const batches =
      held.length === 0 ? item.batches : item.batches.flatMap((b) => subtractIntervals([b], held));
    if (batches.length > 0) due.set(item.name, batches);
  }
  if (due.size === 0) return { created: false, environment, reason: 'nothing_due' };

  const runId = randomUUID();
  const taskIds = new Map<string, string>();
  for (const s of graph.order) if (due.has(s.name)) taskIds.set(s.name, randomUUID());

  const planned: PlannedTask[] = [];
  const tasks: NewTask[] = [];
  for (const s of graph.order) {
    const batches = due.get(s.name);
    const id = taskIds.get(s.name);
    if (!batches || !id) continue;
    const dependsOn = dependenciesOf(s, graph, taskIds, inflight);
    const payload: TaskPayload = {
      kind: 'evaluate',
      environment,
      runId,
      snapshot: s,
      parents: graph.renderParents(s),
      batches,
      executionTime: now,
    };
    planned.push({ id, model: s.name, version: s.version, batches, dependsOn });
    tasks.push({
      id,
      queue: 'run',
      kind: 'evaluate',
      environment,
      payload,
      dependsOn,
      runId,
      model: s.name,
      version: s.version,
      maxAttempts: ctx.settings.maxAttempts,
    });
  }

  await tx
    .insertInto('runs')
    .values({
      id: runId,
      project_id: projectId,
      environment,
      status: 'pending',
      trigger: options.trigger,
      execution_ts: now,
      created_ts: now,
      started_ts: null,
      finished_ts: null,
      error: null,
      created_by: options.createdBy ?? null,
    })
    .execute();
  await enqueueTasks(ctx, projectId, tasks, tx);
  return { created: true, runId, environment, tasks: planned };
}

/**
 * What a model's task waits for: the tasks of the nearest upstream models in
 * this run (walking through models with nothing due), the unfinished tasks
 * of upstream models walked through, and its own unfinished older tasks.
 */
function dependenciesOf(
  s: Snapshot,
  graph: ModelGraph,
  taskIds: Map<string, string>,
  inflight: Map<string, InflightWork>,
): string[] {
  const deps = new Set<string>(inflight.get(`${s.name}|${s.version}`)?.taskIds ?? []);
  const seen = new Set<string>([s.name]);
  const walk = (node: Snapshot): void => {
    for (const p of graph.parentsOf(node)) {
      if (seen.has(p.name)) continue;
      seen.add(p.name);
      const inRun = taskIds.get(p.name);
      if (inRun) {
        deps.add(inRun);
        continue;
      }
      for (const id of inflight.get(`${p.name}|${p.version}`)?.taskIds ?? []) deps.add(id);
      walk(p);
    }
  };
  walk(s);
  return [...deps];
}

/**
 * New tasks may wait on older tasks that finished between reading them and
 * committing, after the queue's completion looked for dependants; such a
 * task would wait forever. Moves each still-waiting new task on as the queue
 * would have: pending once everything it waits for succeeded, cancelled
 * (with its dependants in the run) when any of it failed or was cancelled.
 */
async function settleWaiting(
  ctx: CloudContext,
  projectId: string,
  tasks: readonly PlannedTask[],
): Promise<void> {
  const inRun = new Set(tasks.map((t) => t.id));
  const external = [...new Set(tasks.flatMap((t) => t.dependsOn.filter((d) => !inRun.has(d))))];
  if (external.length === 0) return;
  const rows = await ctx.store.db
    .selectFrom('tasks')
    .select(['id', 'status', 'model'])
    .where('id', 'in', external)
    .execute();
  const status = new Map(rows.map((r) => [r.id, r]));
  const failed = new Map<string, string>();
  for (const r of rows) {
    if (r.status === 'failed' || r.status === 'cancelled') {
      failed.set(r.id, `cancelled: the task of ${r.model ?? 'a model'} it waits for ${r.status}`);
    }
  }
  let promoted = false;
  const now = ctx.clock.now();
  // `tasks` is in parents-first order, so a failure reaches this run's downstream tasks.
  for (const t of tasks) {
    const failedDep = t.dependsOn.find((d) => failed.has(d));
    if (failedDep) {
      const error = failed.get(failedDep)!;
      await ctx.store.db
        .updateTable('tasks')
        .set({ status: 'cancelled', error, finished_ts: now, updated_ts: now })
        .where('id', '=', t.id)
        .where('status', '=', 'waiting')
        .execute();
      failed.set(t.id, error);
      continue;
    }
    if (t.dependsOn.length === 0 || t.dependsOn.some((d) => inRun.has(d))) continue;
    if (t.dependsOn.every((d) => status.get(d)?.status === 'succeeded')) {
      const res = await ctx.store.db
        .updateTable('tasks')
        .set({ status: 'pending', updated_ts: now })
        .where('id', '=', t.id)
        .where('status', '=', 'waiting')
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) > 0) promoted = true;
    }
  }
  if (promoted) {
    ctx.events.publish({ projectId, type: 'task.queued', payload: { queue: 'run' }, ts: now });
  }
}
