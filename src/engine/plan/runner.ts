/**
 * `run`: evaluates the missing intervals of an environment's models whose
 * cron is due; and the janitor, which removes what expired environments and
 * unused snapshots leave behind.
 */
import { NotFoundError } from '../errors.js';
import type { SnapshotEvaluator } from '../evaluate/snapshot-evaluator.js';
import type { StateSync } from '../state/state-sync.js';
import { normalizeEnvironmentName } from '../snapshot/table-naming.js';
import type { Interval, Snapshot } from '../snapshot/snapshot-types.js';
import { toTimestamp } from '../time/index.js';
import { computeBackfill } from './backfill.js';
import type { BackfillItem } from './plan-types.js';
import { firstInsertTracker } from './first-insert.js';
import { executeBackfill, type BackfillEvent, type BackfillResult } from './scheduler.js';

export interface RunOptions {
  state: StateSync;
  evaluator: SnapshotEvaluator;
  environment: string;
  executionTime: number;
  /** Evaluate everything missing up to the execution time, due or not. */
  ignoreCron?: boolean;
  concurrency: number;
  /** Only these models (canonical names); all when absent. */
  select?: string[];
  onEvent?(event: BackfillEvent): void;
  signal?: AbortSignal;
}

export interface RunResult {
  environment: string;
  executionTime: number;
  /** What was due. */
  items: BackfillItem[];
  backfill: BackfillResult;
}

/** The environment's snapshots, in the order they were planned (parents first). */
export async function environmentSnapshots(
  state: StateSync,
  environment: string,
): Promise<Snapshot[]> {
  const name = normalizeEnvironmentName(environment);
  const env = await state.getEnvironment(name);
  if (!env) {
    throw new NotFoundError(
      `environment ${JSON.stringify(name)} does not exist; create it with \`tideline plan ${name}\``,
    );
  }
  const stored = await state.getSnapshots(env.snapshots);
  return env.snapshots.map((info) => {
    const s = stored.get(`${info.name}|${info.identifier}`);
    if (!s) throw new NotFoundError(`state lacks snapshot ${info.name} (${info.identifier})`);
    return s;
  });
}

/** Recorded intervals of the snapshots' versions, keyed `name|version`. */
export async function recordedIntervals(
  state: StateSync,
  snapshots: readonly Snapshot[],
): Promise<Map<string, Interval[]>> {
  return state.getVersionIntervals([...snapshots]);
}

export async function runEnvironment(options: RunOptions): Promise<RunResult> {
  const environment = normalizeEnvironmentName(options.environment);
  const snapshots = await environmentSnapshots(options.state, environment);
  const byName = new Map(snapshots.map((s) => [s.name, s]));
  const recorded = await recordedIntervals(options.state, snapshots);
  const items = computeBackfill(snapshots, {
    executionTime: options.executionTime,
    recorded,
    ...(options.ignoreCron ? { ignoreCron: true } : {}),
    ...(options.select ? { only: new Set(options.select) } : {}),
  });
  const firstInsert = await firstInsertTracker(options.state, items);
  const backfill = await executeBackfill({
    items,
    snapshots: byName,
    concurrency: options.concurrency,
    evaluate: (snapshot, interval) =>
      options.evaluator.evaluate(snapshot, interval, options.executionTime, byName, environment, {
        firstInsert: firstInsert(snapshot),
      }),
    record: (snapshot, interval) => options.state.addInterval(snapshot, snapshot.version, interval),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { environment, executionTime: options.executionTime, items, backfill };
}

export interface JanitorResult {
  environments: string[];
  /** Physical tables dropped, as SQL names. */
  tables: string[];
  snapshots: number;
}

/**
 * Drops expired environments (their views, and their schemas once empty) and
 * the physical tables of snapshots that no environment uses and whose TTL has
 * passed, unless a snapshot still kept shares the table.
 */
export async function janitor(
  state: StateSync,
  evaluator: SnapshotEvaluator,
  now: number,
): Promise<JanitorResult> {
  const result: JanitorResult = { environments: [], tables: [], snapshots: 0 };
  const adapter = evaluator.adapter;
  for (const env of await state.getExpiredEnvironments(now)) {
    const names = (env.promotedSnapshotIds ?? env.snapshots).map((s) => s.name);
    await evaluator.demote(env.name, names);
    const schemas = new Map<string, { schema: string; catalog?: string }>();
    for (const name of names) {
      const view = evaluator.viewTable(name, env.name);
      schemas.set(`${view.catalog ?? ''}.${view.schema}`, view);
    }
    for (const { schema, catalog } of schemas.values()) {
      if (!(await adapter.schemaExists(schema, catalog))) continue;
      if ((await adapter.listObjects(schema, catalog)).length === 0) {
        await adapter.dropSchema(schema, { ...(catalog ? { catalog } : {}) });
      }
    }
    await state.deleteEnvironment(env.name);
    result.environments.push(env.name);
  }

  const inUse = new Set<string>();
  const versionsInUse = new Set<string>();
  for (const env of await state.getEnvironments()) {
    for (const s of env.snapshots) {
      inUse.add(`${s.name}|${s.identifier}`);
      versionsInUse.add(`${s.name}|${s.version}`);
    }
  }
  const all = await state.listSnapshotSummaries();
  const expired = all.filter(
    (s) => !inUse.has(`${s.name}|${s.identifier}`) && toTimestamp(s.ttl, s.updatedTs) <= now,
  );
  const expiredKeys = new Set(expired.map((s) => `${s.name}|${s.identifier}`));
  const kept = new Set(
    all
      .filter((s) => !expiredKeys.has(`${s.name}|${s.identifier}`))
      .map((s) => `${s.name}|${s.version}`),
  );
  const dropped = new Set<string>();
  for (const s of expired) {
    const versionKey = `${s.name}|${s.version}`;
    if (kept.has(versionKey) || versionsInUse.has(versionKey) || dropped.has(versionKey)) continue;
    if (s.kind === 'EMBEDDED' || s.kind === 'EXTERNAL') continue;
    const table = evaluator.physicalTable(s);
    try {
      await adapter.dropTable(table, { ifExists: true });
    } catch {
      // A VIEW model's physical object is a view, which DROP TABLE refuses.
      await adapter.dropView(table, { ifExists: true });
    }
    dropped.add(versionKey);
    result.tables.push(adapter.tableName(table));
  }
  if (expired.length > 0) await state.deleteSnapshots(expired);
  result.snapshots = expired.length;
  return result;
}
