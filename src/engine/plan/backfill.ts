/**
 * Which intervals of which snapshots still need evaluating, as SQLMesh
 * computes them for plans and runs: from each model's start to the cron floor
 * of the execution time, minus the intervals recorded for its version, with
 * `lookback` and `batch_size` applied.
 */
import type { ModelDefinition } from '../model-types.js';
import type { Interval, Snapshot } from '../snapshot/snapshot-types.js';
import {
  batchIntervals,
  defaultStart,
  resolveIntervalUnit,
  toEndTimestamp,
  toTimestamp,
  missingIntervals,
  type IntervalUnit,
} from '../time/index.js';
import type { BackfillItem } from './plan-types.js';

/** EMBEDDED and EXTERNAL models are never evaluated and have no intervals. */
export function isEvaluatable(def: ModelDefinition): boolean {
  return def.kind.name !== 'EMBEDDED' && def.kind.name !== 'EXTERNAL';
}

/** The model's interval unit (its `interval_unit`, or the one its cron implies). */
export function snapshotIntervalUnit(def: ModelDefinition): IntervalUnit {
  return resolveIntervalUnit({
    cron: def.cron,
    ...(def.intervalUnit ? { intervalUnit: def.intervalUnit } : {}),
    allowPartials: def.allowPartials,
  });
}

function lookbackOf(def: ModelDefinition): number {
  const kind = def.kind;
  return 'lookback' in kind && typeof kind.lookback === 'number' ? kind.lookback : 0;
}

function batchSizeOf(def: ModelDefinition): number | undefined {
  const kind = def.kind;
  if (kind.name === 'SEED') return undefined;
  return 'batchSize' in kind && typeof kind.batchSize === 'number' ? kind.batchSize : undefined;
}

/**
 * Start of a model's history: its own `start`; else the earliest start among
 * its parents, each found the same way (so a parent without any start upstream
 * counts with its own default); else one cron period before the latest run
 * (SQLMesh's default).
 */
export function snapshotStart(
  snapshot: Snapshot,
  byName: Map<string, Snapshot>,
  relativeTo: number,
  cache: Map<string, number | undefined> = new Map(),
): number {
  const cached = cache.get(snapshot.name);
  if (cached !== undefined) return cached;
  const def = snapshot.node.definition;
  let start: number | undefined;
  if (def.start !== undefined) {
    start = toTimestamp(def.start, relativeTo);
  } else {
    // Guards against a cycle; a model reading itself is skipped below.
    cache.set(snapshot.name, undefined);
    for (const parent of snapshot.parents) {
      if (parent.name === snapshot.name || cache.has(parent.name)) {
        const known = cache.get(parent.name);
        if (known !== undefined && (start === undefined || known < start)) start = known;
        continue;
      }
      const p = byName.get(parent.name);
      if (!p) continue;
      const s = snapshotStart(p, byName, relativeTo, cache);
      if (start === undefined || s < start) start = s;
    }
    start ??= defaultStart(def.cron, relativeTo, def.cronTz);
  }
  cache.set(snapshot.name, start);
  return start;
}

/**
 * The earliest `start` set explicitly on the model or, when it has none, on
 * its parents (transitively). A requested start never goes before it.
 */
function explicitStart(
  snapshot: Snapshot,
  byName: Map<string, Snapshot>,
  relativeTo: number,
  cache: Map<string, number | undefined>,
): number | undefined {
  if (cache.has(snapshot.name)) return cache.get(snapshot.name);
  cache.set(snapshot.name, undefined);
  const def = snapshot.node.definition;
  let start: number | undefined;
  if (def.start !== undefined) {
    start = toTimestamp(def.start, relativeTo);
  } else {
    for (const parent of snapshot.parents) {
      const p = byName.get(parent.name);
      if (!p) continue;
      const s = explicitStart(p, byName, relativeTo, cache);
      if (s !== undefined && (start === undefined || s < start)) start = s;
    }
  }
  cache.set(snapshot.name, start);
  return start;
}

export interface BackfillOptions {
  /** Requested start; each model's own start when absent. */
  start?: number;
  /** Requested end, exclusive; the execution time when absent. */
  end?: number;
  /** True when `end` was given as a date (the whole day counts). */
  endFromDate?: boolean;
  executionTime: number;
  /** Bound by the execution time rather than each model's cron. */
  ignoreCron?: boolean;
  /** Intervals recorded per table version, keyed `name|version` (see `versionKey`). */
  recorded: Map<string, Interval[]>;
  /** Evaluate only these snapshots (by name); all when absent. */
  only?: Set<string>;
}

/** The batches each snapshot has to evaluate, parents before children; snapshots with none are left out. */
export function computeBackfill(
  snapshots: readonly Snapshot[],
  options: BackfillOptions,
): BackfillItem[] {
  const byName = new Map(snapshots.map((s) => [s.name, s]));
  const starts = new Map<string, number | undefined>();
  const explicitStarts = new Map<string, number | undefined>();
  const items: BackfillItem[] = [];
  for (const snapshot of snapshots) {
    const def = snapshot.node.definition;
    if (!isEvaluatable(def)) continue;
    if (options.only && !options.only.has(snapshot.name)) continue;
    const recorded = options.recorded.get(`${snapshot.name}|${snapshot.version}`) ?? [];
    if (def.kind.name === 'SEED' && recorded.length > 0) continue;
    const unit = snapshotIntervalUnit(def);
    const modelStart = snapshotStart(snapshot, byName, options.executionTime, starts);
    const lowest = explicitStart(snapshot, byName, options.executionTime, explicitStarts);
    const start = options.start ?? modelStart;
    const end = options.end ?? options.executionTime;
    const missing = missingIntervals({
      start,
      end,
      ...(options.endFromDate ? { endFromDate: true } : {}),
      unit,
      recorded,
      executionTime: options.executionTime,
      cron: def.cron,
      ...(def.cronTz ? { cronTz: def.cronTz } : {}),
      lookback: lookbackOf(def),
      allowPartials: def.allowPartials,
      ...(lowest !== undefined ? { modelStart: lowest } : {}),
      ...(def.end !== undefined
        ? { modelEnd: toEndTimestamp(def.end, options.executionTime) }
        : {}),
      ...(options.ignoreCron ? { ignoreCron: true } : {}),
    });
    if (missing.length === 0) continue;
    const fullOnly =
      def.kind.name === 'SEED' || def.kind.name === 'FULL' || def.kind.name === 'VIEW';
    const batches = fullOnly
      ? [[missing[0]![0], missing[missing.length - 1]![1]] as Interval]
      : batchIntervals(missing, unit, batchSizeOf(def));
    items.push({
      name: snapshot.name,
      identifier: snapshot.identifier,
      version: snapshot.version,
      batches,
    });
  }
  return items;
}
