/**
 * Interval math: recorded and missing intervals, lookback and batches.
 *
 * An interval is half-open, `[start, end)` in epoch milliseconds (UTC). Lists
 * of intervals are kept sorted and merged, so a model with three years of
 * complete daily data is one range, not a thousand tuples. Functions that
 * return missing work return such ranges; {@link expandIntervals} splits them
 * into one interval per unit when each one is needed on its own.
 */

import { TidelineError } from '../errors.js';
import type { IntervalUnit } from '../model-types.js';
import type { Interval } from '../snapshot/snapshot-types.js';
import { cronFloor } from './cron.js';
import {
  addUnits,
  ceilToUnit,
  countUnits,
  floorToUnit,
  isDateGranularity,
  isAligned,
  unitMs,
} from './interval-unit.js';
import { formatDs, formatTs } from './time-values.js';

export type { Interval };

/** True when the list is sorted with gaps between intervals and no empty ones: already merged. */
function isMerged(intervals: readonly Interval[]): boolean {
  let prevEnd = -Infinity;
  for (const [start, end] of intervals) {
    if (start <= prevEnd || end <= start) return false;
    prevEnd = end;
  }
  return true;
}

/**
 * Sorts intervals and merges those that overlap or touch. Empty intervals
 * (`end <= start`) are dropped. Returns a new list; an input that is already
 * merged is copied without new tuples.
 */
export function mergeIntervals(intervals: readonly Interval[]): Interval[] {
  if (isMerged(intervals)) return intervals.slice();
  let sorted = intervals;
  for (let i = 1; i < intervals.length; i++) {
    if (intervals[i]![0] < intervals[i - 1]![0]) {
      sorted = intervals.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      break;
    }
  }
  const merged: Interval[] = [];
  let curStart = NaN;
  let curEnd = NaN;
  for (const [start, end] of sorted) {
    if (end <= start) continue;
    if (Number.isNaN(curStart)) {
      curStart = start;
      curEnd = end;
    } else if (start <= curEnd) {
      if (end > curEnd) curEnd = end;
    } else {
      merged.push([curStart, curEnd]);
      curStart = start;
      curEnd = end;
    }
  }
  if (!Number.isNaN(curStart)) merged.push([curStart, curEnd]);
  return merged;
}

/**
 * Removes `[start, end)` from a list of intervals (a restatement). Intervals
 * that straddle the removed range are cut; the rest are kept as they are.
 */
export function removeInterval(intervals: readonly Interval[], removed: Interval): Interval[] {
  const [rs, re] = removed;
  const out: Interval[] = [];
  for (const interval of intervals) {
    const [start, end] = interval;
    if (end <= rs || start >= re) {
      out.push(interval);
      continue;
    }
    if (start < rs) out.push([start, rs]);
    if (end > re) out.push([re, end]);
  }
  return out;
}

/** `[start, end)` minus every interval of `subtract` (which need not be merged). */
export function subtractIntervals(
  intervals: readonly Interval[],
  subtract: readonly Interval[],
): Interval[] {
  let out = mergeIntervals(intervals);
  for (const interval of mergeIntervals(subtract)) out = removeInterval(out, interval);
  return out;
}

/**
 * The unit's intervals covering `[start, end)`: the first starts at
 * `start` floored to the unit, each ends at the next boundary, and the last
 * ends at `end` (a partial interval when `end` is not on a boundary).
 */
export function intervalsBetween(start: number, end: number, unit: IntervalUnit): Interval[] {
  const out: Interval[] = [];
  let a = floorToUnit(start, unit);
  while (a < end) {
    const b = Math.min(addUnits(a, unit, 1), end);
    out.push([a, b]);
    a = b;
  }
  return out;
}

/** Splits each interval at the unit's boundaries: one interval per unit. */
export function expandIntervals(intervals: readonly Interval[], unit: IntervalUnit): Interval[] {
  const out: Interval[] = [];
  for (const [start, end] of intervals) {
    let a = start;
    while (a < end) {
      const b = Math.min(ceilToUnit(a + 1, unit), end);
      out.push([a, b]);
      a = b;
    }
  }
  return out;
}

/** How many unit intervals the list spans, a partial unit counting as one. */
export function totalUnits(intervals: readonly Interval[], unit: IntervalUnit): number {
  let n = 0;
  for (const [start, end] of intervals) n += countUnits(start, end, unit);
  return n;
}

/** `k` unit boundaries back from `ts`; a `ts` between boundaries first goes to its floor. */
function stepBack(ts: number, unit: IntervalUnit, k: number): number {
  if (k <= 0) return ts;
  let x = ts;
  let n = k;
  if (!isAligned(x, unit)) {
    x = floorToUnit(x, unit);
    n -= 1;
  }
  return addUnits(x, unit, -n);
}

/** `k` unit boundaries forward from `ts`; a `ts` between boundaries first goes to its ceiling. */
function stepForward(ts: number, unit: IntervalUnit, k: number): number {
  let x = ts;
  let n = k;
  if (!isAligned(x, unit)) {
    x = ceilToUnit(x, unit);
    n -= 1;
  }
  return addUnits(x, unit, n);
}

/** What {@link missingIntervals} needs to know about a model and a run. */
export interface MissingIntervalsOptions {
  /** Start of the requested range, inclusive. Floored to the unit. */
  start: number;
  /**
   * End of the requested range, exclusive (use `toEndTimestamp`, which makes
   * a date-only end include its day). Raised to the next unit boundary
   * unless `allowPartials`.
   */
  end: number;
  /**
   * True when `end` came from a date-only value. Otherwise a range shorter
   * than one unit has nothing missing (unless `allowPartials`).
   */
  endFromDate?: boolean;
  /** The model's interval unit. */
  unit: IntervalUnit;
  /** Intervals already recorded for the snapshot's version (any order). */
  recorded: readonly Interval[];
  /** The run's execution time: nothing after the cron's last run at or before it is due. */
  executionTime: number;
  cron: string;
  cronTz?: string;
  /** Extra trailing units to re-run whenever any interval is missing. */
  lookback?: number;
  /** The model's `allow_partials`: the last interval may end at the upper bound. */
  allowPartials?: boolean;
  /** The model's own `start`, when set: nothing before it is missing. */
  modelStart?: number;
  /** The model's own `end`, exclusive, when set: no interval starting at or after it is missing. */
  modelEnd?: number;
  /** Bound by `executionTime` itself rather than the cron's last run (`--ignore-cron`). */
  ignoreCron?: boolean;
  /** Never go past `end`, even for partial intervals. */
  endBounded?: boolean;
}

/**
 * The intervals of a model that still need to be computed, as sorted merged
 * ranges on the unit's grid.
 *
 * From `start` (floored to the unit) up to the earlier of `end` and the last
 * complete interval before the cron's latest run at or before
 * `executionTime`, every unit interval not wholly inside a recorded interval
 * is missing. When anything is missing, `lookback` adds back the `lookback`
 * intervals before each missing one and the last `lookback` intervals of the
 * range (fewer as the model's `end` recedes). Intervals starting at or after
 * the model's `end` are never missing.
 */
export function missingIntervals(options: MissingIntervalsOptions): Interval[] {
  const { unit, allowPartials = false, modelStart, modelEnd } = options;
  let start = options.start;
  const end = options.end;
  if (modelEnd !== undefined && start >= modelEnd) return [];
  if (modelStart !== undefined && modelStart >= end) return [];
  if (modelStart !== undefined && start < modelStart) start = modelStart;
  if (end <= start) return [];
  if (!options.endFromDate && !allowPartials && end - start < unitMs(unit)) return [];

  const startTs = floorToUnit(start, unit);
  let endTs = allowPartials ? end : ceilToUnit(end, unit);

  let upper = options.ignoreCron
    ? options.executionTime
    : cronFloor(options.cron, options.executionTime, options.cronTz);
  if (options.endBounded) upper = Math.min(upper, endTs);
  if (!allowPartials) upper = floorToUnit(upper, unit);
  endTs = Math.min(endTs, upper);
  if (startTs >= endTs) return [];

  return computeMissing(
    unit,
    options.recorded,
    startTs,
    endTs,
    Math.max(0, Math.floor(options.lookback ?? 0)),
    modelEnd,
  );
}

/**
 * The core of {@link missingIntervals} on a fixed grid: unit boundaries from
 * `start` (on a boundary) to `end` (possibly between boundaries, ending a
 * partial last interval).
 */
export function computeMissing(
  unit: IntervalUnit,
  recorded: readonly Interval[],
  start: number,
  end: number,
  lookback: number,
  modelEnd?: number,
): Interval[] {
  if (start >= end) return [];
  const covered = isMerged(recorded) ? recorded : mergeIntervals(recorded);

  let missing: Interval[] = [];
  let cursor = start;
  for (const [lo, hi] of covered) {
    if (hi <= cursor) continue;
    if (lo >= end) break;
    // A recorded interval covers the grid intervals wholly inside it.
    const a = lo <= start ? start : Math.min(ceilToUnit(lo, unit), end);
    const b = hi >= end ? end : floorToUnit(hi, unit);
    if (b <= a) continue;
    if (a > cursor) missing.push([cursor, a]);
    if (b > cursor) cursor = b;
  }
  if (cursor < end) missing.push([cursor, end]);
  if (missing.length === 0) return missing;

  if (lookback > 0) {
    let lb = lookback;
    if (modelEnd !== undefined) {
      let b = stepBack(end, unit, 1);
      while (modelEnd < b && lb > 0) {
        b = stepBack(b, unit, 1);
        lb -= 1;
      }
    }
    if (lb > 0) {
      const widened: Interval[] = missing.map(([a, b]) => [
        Math.max(start, stepBack(a, unit, lb)),
        b,
      ]);
      widened.push([Math.max(start, stepBack(end, unit, lb)), end]);
      missing = mergeIntervals(widened);
    }
  }

  if (modelEnd !== undefined) {
    // Keep every grid interval that starts before the model's end, whole.
    const cut = modelEnd <= start ? start : Math.min(ceilToUnit(modelEnd, unit), end);
    const kept: Interval[] = [];
    for (const interval of missing) {
      if (interval[0] >= cut) break;
      kept.push(interval[1] > cut ? [interval[0], cut] : interval);
    }
    missing = kept;
  }
  return missing;
}

/**
 * Groups intervals into batches for evaluation: each contiguous run is split
 * into batches of at most `batchSize` unit intervals (a partial interval
 * counts as one). Without a batch size (undefined or 0) each contiguous run
 * is one batch. Accepts per-unit intervals or merged ranges alike.
 */
export function batchIntervals(
  intervals: readonly Interval[],
  unit: IntervalUnit,
  batchSize?: number,
): Interval[] {
  if (batchSize !== undefined && (!Number.isInteger(batchSize) || batchSize < 0)) {
    throw new TidelineError(`invalid batch_size ${batchSize}: expected a positive whole number`);
  }
  const limit = batchSize ? batchSize : undefined;
  const batches: Interval[] = [];
  for (const [start, end] of mergeIntervals(intervals)) {
    if (limit === undefined) {
      batches.push([start, end]);
      continue;
    }
    let a = start;
    while (a < end) {
      const b = Math.min(stepForward(a, unit, limit), end);
      batches.push([a, b]);
      a = b;
    }
  }
  return batches;
}

/** An interval range as shown to people: both ends inclusive. */
export interface DisplayRange {
  start: string;
  end: string;
}

/**
 * Merges intervals and shows each range with an inclusive end: dates for
 * day, month and year units (and when no unit is given), `YYYY-MM-DD
 * HH:MM:SS` otherwise. `[2020-01-01, 2020-01-03)` by day shows as
 * `2020-01-01` - `2020-01-02`.
 */
export function intervalsToRanges(
  intervals: readonly Interval[],
  unit?: IntervalUnit,
): DisplayRange[] {
  const asDates = unit === undefined || isDateGranularity(unit);
  return mergeIntervals(intervals).map(([start, end]) =>
    asDates
      ? { start: formatDs(start), end: formatDs(end, { inclusiveEnd: true }) }
      : {
          start: formatTs(start).slice(0, 19),
          end: formatTs(end, { inclusiveEnd: true }).slice(0, 19),
        },
  );
}

/** {@link intervalsToRanges} as one line: `2020-01-01 - 2020-01-05, 2020-01-07 - 2020-01-07`. */
export function formatIntervals(intervals: readonly Interval[], unit?: IntervalUnit): string {
  return intervalsToRanges(intervals, unit)
    .map((r) => `${r.start} - ${r.end}`)
    .join(', ');
}
