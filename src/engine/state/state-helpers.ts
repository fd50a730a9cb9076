/**
 * Small pieces every StateSync implementation shares (the warehouse's here,
 * the cloud's over its store): argument checks, messages, id handling.
 */
import { TidelineError } from '../errors.js';
import type { Interval, Snapshot, SnapshotId } from '../snapshot/snapshot-types.js';
import { snapshotKey } from './state-sync.js';

export { chunks } from './state-sql.js';

export function validateInterval(interval: Interval, what: string): void {
  const [start, end] = interval;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end <= start) {
    throw new TidelineError(
      `${what}: interval [${String(start)}, ${String(end)}) must be two integer epoch ms with start < end`,
    );
  }
}

/** The one-line message of a refused optimistic environment write. */
export function staleMessage(
  name: string,
  expected: string | null,
  found: string | undefined,
): string {
  const want = expected === null ? 'no environment' : `plan ${JSON.stringify(expected)}`;
  const have = found === undefined ? 'no environment' : `plan ${JSON.stringify(found)}`;
  return `environment ${JSON.stringify(name)} changed since this plan was made (expected ${want}, found ${have}); run plan again`;
}

/** The ids without repeats, in first-seen order. */
export function dedupeIds(ids: readonly SnapshotId[]): SnapshotId[] {
  const seen = new Map<string, SnapshotId>();
  for (const id of ids) {
    const key = snapshotKey(id);
    if (!seen.has(key)) seen.set(key, { name: id.name, identifier: id.identifier });
  }
  return [...seen.values()];
}

/** The pairs without repeats. */
export function uniquePairs(
  pairs: ReadonlyArray<readonly [string, string]>,
): Array<[string, string]> {
  const seen = new Map<string, [string, string]>();
  for (const [a, b] of pairs) seen.set(JSON.stringify([a, b]), [a, b]);
  return [...seen.values()];
}

/** Sets an optional snapshot field, or removes it when the value is undefined. */
export function setOptional<K extends 'changeCategory' | 'unpausedTs' | 'devVersion'>(
  target: Snapshot,
  key: K,
  value: Snapshot[K],
): void {
  if (value === undefined) delete target[key];
  else target[key] = value;
}
