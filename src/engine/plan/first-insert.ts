/**
 * Which evaluations are a table's first load (SQLMesh's "first insert"): the
 * first batch written to a version that had no recorded interval when the
 * backfill began. SCD Type 2 kinds build their table differently then.
 */
import type { StateReader } from '../state/state-sync.js';
import { versionKey } from '../state/state-sync.js';
import type { Snapshot } from '../snapshot/snapshot-types.js';
import type { BackfillItem } from './plan-types.js';

/** A function answering, once per batch in order, whether the batch is its table's first load. */
export async function firstInsertTracker(
  state: StateReader,
  items: readonly BackfillItem[],
): Promise<(snapshot: Snapshot) => boolean> {
  const recorded = await state.getVersionIntervals(
    items.map((i) => ({ name: i.name, version: i.version })),
  );
  const empty = new Set(
    items.map((i) => versionKey(i)).filter((key) => (recorded.get(key) ?? []).length === 0),
  );
  return (snapshot) => {
    const key = versionKey(snapshot);
    if (!empty.has(key)) return false;
    empty.delete(key);
    return true;
  };
}
