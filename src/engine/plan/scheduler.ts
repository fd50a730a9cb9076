/**
 * Runs a backfill: each snapshot's batches in order, a snapshot only after
 * every snapshot upstream of it in the same backfill has finished, and up to
 * `concurrency` snapshots at once. A batch's interval is recorded only after
 * its evaluation committed, so a backfill cut short anywhere resumes without
 * losing or repeating an interval's effect.
 */
import type { AuditResult } from '../audit/audit-types.js';
import type { Interval, Snapshot } from '../snapshot/snapshot-types.js';
import type { BackfillItem } from './plan-types.js';

export type BackfillEvent =
  | { type: 'batch_started'; name: string; interval: Interval; batch: number; batches: number }
  | {
      type: 'batch_done';
      name: string;
      interval: Interval;
      batch: number;
      batches: number;
      rows?: number;
      /** Audits that ran after the write, passed or not (non-blocking failures warn). */
      audits?: AuditResult[];
      durationMs: number;
    }
  | { type: 'batch_failed'; name: string; interval: Interval; error: Error; durationMs: number }
  | { type: 'skipped'; name: string; reason: string };

export interface ExecuteBackfillOptions {
  items: readonly BackfillItem[];
  /** The environment's snapshots by name (for lineage between items). */
  snapshots: Map<string, Snapshot>;
  evaluate(
    snapshot: Snapshot,
    interval: Interval,
  ): Promise<{ rows?: number; audits?: AuditResult[] }>;
  /** Records a committed interval. */
  record(snapshot: Snapshot, interval: Interval): Promise<void>;
  /** Snapshots evaluated at the same time; at least 1. */
  concurrency: number;
  onEvent?(event: BackfillEvent): void;
  /** Stops starting new batches once aborted. */
  signal?: AbortSignal;
}

export interface BackfillFailure {
  name: string;
  interval: Interval;
  error: Error;
}

export interface BackfillResult {
  /** Batches evaluated and recorded. */
  evaluations: number;
  completed: string[];
  failed: BackfillFailure[];
  /** Snapshots not run because something upstream failed (or the run was aborted). */
  skipped: string[];
}

/** For each item, the other items upstream of it (through any snapshots in between). */
function upstreamItems(
  items: readonly BackfillItem[],
  snapshots: Map<string, Snapshot>,
): Map<string, Set<string>> {
  const wanted = new Set(items.map((i) => i.name));
  const memo = new Map<string, Set<string>>();
  const visit = (name: string, stack: Set<string>): Set<string> => {
    const known = memo.get(name);
    if (known) return known;
    const out = new Set<string>();
    const snapshot = snapshots.get(name);
    if (snapshot && !stack.has(name)) {
      stack.add(name);
      for (const parent of snapshot.parents) {
        if (parent.name === name) continue;
        if (wanted.has(parent.name)) out.add(parent.name);
        for (const up of visit(parent.name, stack)) out.add(up);
      }
      stack.delete(name);
    }
    memo.set(name, out);
    return out;
  };
  const result = new Map<string, Set<string>>();
  for (const item of items) result.set(item.name, visit(item.name, new Set()));
  return result;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export async function executeBackfill(options: ExecuteBackfillOptions): Promise<BackfillResult> {
  const { items, snapshots } = options;
  const concurrency = Math.max(1, Math.floor(options.concurrency));
  const upstream = upstreamItems(items, snapshots);
  const pending = new Map(items.map((i) => [i.name, i]));
  const done = new Set<string>();
  const failedNames = new Set<string>();
  const result: BackfillResult = { evaluations: 0, completed: [], failed: [], skipped: [] };
  const running = new Set<Promise<void>>();

  const runItem = async (item: BackfillItem): Promise<void> => {
    const snapshot = snapshots.get(item.name);
    if (!snapshot) throw new Error(`internal: no snapshot for ${item.name}`);
    for (let i = 0; i < item.batches.length; i++) {
      if (options.signal?.aborted) {
        failedNames.add(item.name);
        result.skipped.push(item.name);
        options.onEvent?.({ type: 'skipped', name: item.name, reason: 'aborted' });
        return;
      }
      const interval = item.batches[i]!;
      const started = performance.now();
      options.onEvent?.({
        type: 'batch_started',
        name: item.name,
        interval,
        batch: i + 1,
        batches: item.batches.length,
      });
      try {
        const evaluated = await options.evaluate(snapshot, interval);
        await options.record(snapshot, interval);
        result.evaluations += 1;
        options.onEvent?.({
          type: 'batch_done',
          name: item.name,
          interval,
          batch: i + 1,
          batches: item.batches.length,
          ...(evaluated.rows !== undefined ? { rows: evaluated.rows } : {}),
          ...(evaluated.audits ? { audits: evaluated.audits } : {}),
          durationMs: performance.now() - started,
        });
      } catch (err) {
        const error = asError(err);
        failedNames.add(item.name);
        result.failed.push({ name: item.name, interval, error });
        options.onEvent?.({
          type: 'batch_failed',
          name: item.name,
          interval,
          error,
          durationMs: performance.now() - started,
        });
        return;
      }
    }
    done.add(item.name);
    result.completed.push(item.name);
  };

  const launchReady = (): void => {
    for (const [name, item] of pending) {
      if (running.size >= concurrency) return;
      const ups = upstream.get(name) ?? new Set<string>();
      const blockedBy = [...ups].find((u) => failedNames.has(u));
      if (blockedBy !== undefined) {
        pending.delete(name);
        failedNames.add(name);
        result.skipped.push(name);
        options.onEvent?.({ type: 'skipped', name, reason: `upstream ${blockedBy} failed` });
        continue;
      }
      if (![...ups].every((u) => done.has(u))) continue;
      pending.delete(name);
      const task = runItem(item).finally(() => running.delete(task));
      running.add(task);
    }
  };

  launchReady();
  while (running.size > 0) {
    await Promise.race(running);
    launchReady();
  }
  // Anything still pending waited on an item that failed or was skipped.
  for (const name of pending.keys()) {
    result.skipped.push(name);
    options.onEvent?.({ type: 'skipped', name, reason: 'upstream did not complete' });
  }
  return result;
}
