/**
 * Freshness: for each model of an environment, whether the intervals its
 * cron has made due are in.
 *
 * - `complete`: nothing due is missing.
 * - `pending`: what is missing is held by tasks queued or running.
 * - `behind`: something due is missing and no task holds it, or the model's
 *   latest task failed.
 * - `late`: a due interval is still missing one cron period after it became
 *   due (whatever else is true).
 */
import {
  computeBackfill,
  isEvaluatable,
  snapshotIntervalUnit,
} from '../../engine/plan/backfill.js';
import type { Interval } from '../../engine/snapshot/snapshot-types.js';
import { addUnits, cronNext, subtractIntervals } from '../../engine/time/index.js';
import type { CloudContext } from '../context.js';
import { environmentPauses } from '../pauses/pauses.js';
import type { TaskStatus } from '../store/schema.js';
import { ModelGraph } from './model-graph.js';
import { inflightWork } from './run-planner.js';
import { environmentSnapshots, readEnvironment, versionIntervals } from './state-reader.js';

export type FreshnessState = 'complete' | 'pending' | 'behind' | 'late';

export interface ModelFreshness {
  /** Canonical name. */
  model: string;
  version: string;
  kind: string;
  cron: string;
  state: FreshnessState;
  /** Paused, or downstream of a paused model, or the environment is paused. */
  paused: boolean;
  /** Due intervals not recorded. */
  missing: Interval[];
  /** The part of `missing` held by tasks queued or running. */
  queued: Interval[];
  /** When the earliest missing interval became due. */
  dueSince: number | null;
  /** When it became late (one cron period after it was due); null while not late. */
  lateSince: number | null;
  /** The model version's latest evaluation task, any status. */
  lastTask: {
    id: string;
    status: TaskStatus;
    finishedTs: number | null;
    error: string | null;
  } | null;
}

export interface EnvironmentFreshness {
  environment: string;
  /** The time freshness was judged at. */
  asOf: number;
  paused: boolean;
  models: ModelFreshness[];
}

/** Freshness of every evaluated model of `environment` as of `now`; undefined when it does not exist. */
export async function freshness(
  ctx: CloudContext,
  projectId: string,
  environment: string,
  now: number,
): Promise<EnvironmentFreshness | undefined> {
  const db = ctx.store.db;
  const stored = await readEnvironment(db, projectId, environment);
  if (!stored) return undefined;
  const { snapshots } = await environmentSnapshots(db, projectId, stored.environment);
  const graph = new ModelGraph(snapshots);
  const pauses = await environmentPauses(db, projectId, environment);
  const held = graph.downstreamOf(pauses.models);
  const recorded = await versionIntervals(db, projectId, snapshots);
  const names = snapshots.map((s) => s.name);
  const inflight = await inflightWork(db, projectId, names);
  const items = new Map(
    computeBackfill(snapshots, { executionTime: now, recorded }).map((i) => [i.name, i]),
  );
  const lastTasks = await latestTasks(ctx, projectId, names);

  const models: ModelFreshness[] = [];
  for (const s of graph.order) {
    const def = s.node.definition;
    if (!isEvaluatable(def)) continue;
    const key = `${s.name}|${s.version}`;
    const item = items.get(s.name);
    const missing = item ? subtractIntervals(item.batches, recorded.get(key) ?? []) : [];
    const held_ = inflight.get(key)?.intervals ?? [];
    const uncovered = subtractIntervals(missing, held_);
    const queued = subtractIntervals(missing, uncovered);
    const last = lastTasks.get(key) ?? null;
    let dueSince: number | null = null;
    let lateSince: number | null = null;
    let state: FreshnessState = 'complete';
    const first = missing[0];
    if (first) {
      const unit = snapshotIntervalUnit(def);
      const firstEnd = Math.min(first[1], addUnits(first[0], unit, 1));
      // An interval becomes due at the first cron run at or after its end.
      dueSince = cronNext(def.cron, firstEnd - 1, def.cronTz);
      const late = cronNext(def.cron, dueSince, def.cronTz);
      if (late <= now) {
        lateSince = late;
        state = 'late';
      } else if (uncovered.length > 0 || last?.status === 'failed') {
        state = 'behind';
      } else {
        state = 'pending';
      }
    }
    models.push({
      model: s.name,
      version: s.version,
      kind: def.kind.name,
      cron: def.cron,
      state,
      paused: pauses.environment || held.has(s.name),
      missing,
      queued,
      dueSince,
      lateSince,
      lastTask: last,
    });
  }
  return { environment, asOf: now, paused: pauses.environment, models };
}

async function latestTasks(
  ctx: CloudContext,
  projectId: string,
  names: readonly string[],
): Promise<Map<string, NonNullable<ModelFreshness['lastTask']>>> {
  const out = new Map<string, NonNullable<ModelFreshness['lastTask']> & { createdTs: number }>();
  for (let i = 0; i < names.length; i += 500) {
    const rows = await ctx.store.db
      .selectFrom('tasks')
      .select(['id', 'model', 'version', 'status', 'created_ts', 'finished_ts', 'error'])
      .where('project_id', '=', projectId)
      .where('kind', '=', 'evaluate')
      .where('model', 'in', names.slice(i, i + 500))
      .execute();
    for (const r of rows) {
      if (r.model === null || r.version === null) continue;
      const key = `${r.model}|${r.version}`;
      const created = Number(r.created_ts);
      const current = out.get(key);
      if (current && current.createdTs > created) continue;
      out.set(key, {
        id: r.id,
        status: r.status,
        finishedTs: r.finished_ts === null ? null : Number(r.finished_ts),
        error: r.error,
        createdTs: created,
      });
    }
  }
  const result = new Map<string, NonNullable<ModelFreshness['lastTask']>>();
  for (const [key, { createdTs: _created, ...task }] of out) result.set(key, task);
  return result;
}
