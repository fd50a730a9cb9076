/**
 * Interval units: the granularity of a model's intervals. Every boundary is
 * aligned in UTC (a model's `cron_tz` moves its schedule, not its intervals).
 */

import { TidelineError } from '../errors.js';
import type { IntervalUnit } from '../model-types.js';

export type { IntervalUnit };

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Every interval unit, largest first. */
export const INTERVAL_UNITS: readonly IntervalUnit[] = [
  'year',
  'month',
  'day',
  'hour',
  'half_hour',
  'quarter_hour',
  'five_minute',
];

const FIXED_MS: Partial<Record<IntervalUnit, number>> = {
  day: DAY,
  hour: HOUR,
  half_hour: 30 * MINUTE,
  quarter_hour: 15 * MINUTE,
  five_minute: 5 * MINUTE,
};

/**
 * Nominal lengths, as SQLMesh measures them: a month counts as 28 days and a
 * year as 365, so that every real month and year is at least this long. Used
 * to infer a unit from a cron's spacing and to compare units by size.
 */
const NOMINAL_MS: Record<IntervalUnit, number> = {
  year: 365 * DAY,
  month: 28 * DAY,
  day: DAY,
  hour: HOUR,
  half_hour: 30 * MINUTE,
  quarter_hour: 15 * MINUTE,
  five_minute: 5 * MINUTE,
};

const UNIT_CRONS: Record<IntervalUnit, string> = {
  year: '0 0 1 1 *',
  month: '0 0 1 * *',
  day: '0 0 * * *',
  hour: '0 * * * *',
  half_hour: '*/30 * * * *',
  quarter_hour: '*/15 * * * *',
  five_minute: '*/5 * * * *',
};

export function isIntervalUnit(value: string): value is IntervalUnit {
  return Object.hasOwn(NOMINAL_MS, value);
}

/**
 * Reads an `interval_unit` as written in a model (case-insensitive:
 * `FIVE_MINUTE`, `Hour`). Throws a one-line error listing the valid units.
 */
export function parseIntervalUnit(value: string): IntervalUnit {
  const lower = value.trim().toLowerCase();
  if (isIntervalUnit(lower)) return lower;
  throw new TidelineError(
    `invalid interval unit '${value}': expected one of ${INTERVAL_UNITS.join(', ')}`,
  );
}

/** The exact length of a unit in milliseconds, or undefined for `month` and `year`. */
export function fixedUnitMs(unit: IntervalUnit): number | undefined {
  return FIXED_MS[unit];
}

/** The nominal length of a unit in milliseconds (month = 28 days, year = 365 days). */
export function unitMs(unit: IntervalUnit): number {
  return NOMINAL_MS[unit];
}

/** True for `year`, `month` and `day`, whose boundaries are shown as dates. */
export function isDateGranularity(unit: IntervalUnit): boolean {
  return unit === 'year' || unit === 'month' || unit === 'day';
}

/** The cron whose runs are exactly the unit's boundaries (`day` -> `0 0 * * *`). */
export function unitCron(unit: IntervalUnit): string {
  return UNIT_CRONS[unit];
}

/** The latest unit boundary at or before `ts`. */
export function floorToUnit(ts: number, unit: IntervalUnit): number {
  const fixed = FIXED_MS[unit];
  if (fixed !== undefined) {
    const rem = ts % fixed;
    return rem < 0 ? ts - rem - fixed : ts - rem;
  }
  const d = new Date(ts);
  return unit === 'month'
    ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
    : Date.UTC(d.getUTCFullYear(), 0, 1);
}

/** The earliest unit boundary at or after `ts`. */
export function ceilToUnit(ts: number, unit: IntervalUnit): number {
  const floor = floorToUnit(ts, unit);
  return floor === ts ? ts : addUnits(floor, unit, 1);
}

/** True when `ts` is a boundary of the unit. */
export function isAligned(ts: number, unit: IntervalUnit): boolean {
  return floorToUnit(ts, unit) === ts;
}

/**
 * Moves `ts` by `n` units (negative moves back). For months and years the
 * time of day is kept and the day of the month is clamped to the target
 * month's length (Jan 31 + 1 month = Feb 28 or 29).
 */
export function addUnits(ts: number, unit: IntervalUnit, n: number): number {
  const fixed = FIXED_MS[unit];
  if (fixed !== undefined) return ts + n * fixed;
  const d = new Date(ts);
  const months = unit === 'month' ? n : n * 12;
  const total = d.getUTCFullYear() * 12 + d.getUTCMonth() + months;
  const year = Math.floor(total / 12);
  const month = total - year * 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const day = Math.min(d.getUTCDate(), lastDay);
  const timeOfDay = ts - Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  return Date.UTC(year, month, day) + timeOfDay;
}

/**
 * The number of unit boundaries crossed going from `start` to `end`, counting
 * a partial unit at either end as one: the number of intervals that
 * `[start, end)` splits into on the unit's grid. 0 when `end <= start`.
 */
export function countUnits(start: number, end: number, unit: IntervalUnit): number {
  if (end <= start) return 0;
  const fixed = FIXED_MS[unit];
  const first = ceilToUnit(start, unit);
  const lead = first > start ? 1 : 0;
  if (first >= end) return 1;
  const last = floorToUnit(end, unit);
  const tail = last < end ? 1 : 0;
  let whole: number;
  if (fixed !== undefined) {
    whole = Math.round((last - first) / fixed);
  } else {
    const a = new Date(first);
    const b = new Date(last);
    const months =
      (b.getUTCFullYear() - a.getUTCFullYear()) * 12 + (b.getUTCMonth() - a.getUTCMonth());
    whole = unit === 'month' ? months : months / 12;
  }
  return lead + whole + tail;
}
