/**
 * Cron schedules: when a model runs, and the interval unit its cron implies.
 *
 * Crons have five fields (minute hour day-of-month month day-of-week) or are
 * one of `@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly`,
 * `@annually`. They run in UTC unless a `cron_tz` (an IANA time zone) is
 * given. When both day fields are restricted a day matches either of them, as
 * in classic cron.
 *
 * Plain UTC crons are evaluated by arithmetic here; crons with a time zone or
 * with extensions (`L`, `W`, `#`) go through croner, which also validates
 * every cron.
 */

import { Cron } from 'croner';
import { TidelineError } from '../errors.js';
import type { IntervalUnit } from '../model-types.js';
import { INTERVAL_UNITS, unitMs } from './interval-unit.js';

export type { Clock, TestClock } from './clock.js';
export { fixedClock, systemClock, testClock } from './clock.js';

const MINUTE = 60_000;
const DAY = 86_400_000;
/** How far next/prev look before deciding a cron never runs again. */
const SEARCH_LIMIT = 12 * 366 * DAY;

/** A cron or cron time zone that cannot be used. `cron` is the cron string at fault. */
export class CronError extends TidelineError {
  override name = 'CronError';
  readonly cron: string;
  constructor(cron: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.cron = cron;
  }
}

const ALIASES: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const CRON_FORMS =
  'expected 5 fields (minute hour day-of-month month day-of-week) or one of ' +
  '@hourly, @daily, @weekly, @monthly, @yearly';

/** A cron's run times. Every method takes and returns epoch milliseconds. */
export interface CronSchedule {
  /** The cron as written. */
  readonly cron: string;
  /** The time zone, or undefined for UTC. */
  readonly tz: string | undefined;
  /** The first run strictly after `ts`. */
  next(ts: number): number;
  /** The last run strictly before `ts`. */
  prev(ts: number): number;
  /** The last run at or before `ts` (`ts` itself when it is a run). */
  floor(ts: number): number;
  /** True when `ts` is a run time. */
  matches(ts: number): boolean;
}

/** Expands an `@` alias to five fields and normalizes spacing. Does not validate. */
export function normalizeCron(cron: string): string {
  const text = cron.trim().replace(/\s+/g, ' ');
  return ALIASES[text.toLowerCase()] ?? text;
}

/** Returns undefined for UTC, the zone name otherwise; throws on an unknown zone. */
function normalizeTz(cron: string, tz: string | undefined): string | undefined {
  if (tz === undefined || tz === '' || tz.toUpperCase() === 'UTC') return undefined;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch (cause) {
    throw new CronError(
      cron,
      `invalid cron_tz '${tz}': expected an IANA time zone name such as 'America/Los_Angeles' or 'UTC'`,
      { cause },
    );
  }
  return tz;
}

// ---------------------------------------------------------------------------
// UTC evaluation by arithmetic, for the plain five-field syntax.

interface Fields {
  minute: Uint8Array;
  hour: Uint8Array;
  dom: Uint8Array;
  month: Uint8Array;
  dow: Uint8Array;
  domStar: boolean;
  dowStar: boolean;
}

const MONTH_NAMES = [
  'jan',
  'feb',
  'mar',
  'apr',
  'may',
  'jun',
  'jul',
  'aug',
  'sep',
  'oct',
  'nov',
  'dec',
];
const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

function fieldValue(
  text: string | undefined,
  min: number,
  max: number,
  names?: { list: string[]; offset: number },
): number | undefined {
  if (text === undefined) return undefined;
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return n >= min && n <= max ? n : undefined;
  }
  const index = names?.list.indexOf(text.toLowerCase()) ?? -1;
  return index >= 0 && names ? index + names.offset : undefined;
}

/** Parses one field into a membership table, or undefined for syntax left to croner. */
function parseField(
  text: string,
  min: number,
  max: number,
  names?: { list: string[]; offset: number },
): Uint8Array | undefined {
  const set = new Uint8Array(max + 1);
  for (const item of text.split(',')) {
    const slash = item.split('/');
    if (slash.length > 2) return undefined;
    const [range = '', stepText] = slash;
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText)) return undefined;
      step = Number(stepText);
      if (step < 1) return undefined;
    }
    let lo: number | undefined;
    let hi: number | undefined;
    if (range === '*') {
      lo = min;
      hi = max;
    } else {
      const dash = range.split('-');
      if (dash.length > 2) return undefined;
      lo = fieldValue(dash[0], min, max, names);
      // `5/10` (no range) means from 5 to the field's maximum, as in classic cron.
      hi = dash.length === 2 ? fieldValue(dash[1], min, max, names) : stepText ? max : lo;
    }
    if (lo === undefined || hi === undefined || lo > hi) return undefined;
    for (let v = lo; v <= hi; v += step) set[v] = 1;
  }
  return set;
}

function parseFields(pattern: string): Fields | undefined {
  const parts = pattern.split(' ');
  if (parts.length !== 5) return undefined;
  const [mi = '', h = '', dom = '', mo = '', dow = ''] = parts;
  const minute = parseField(mi, 0, 59);
  const hour = parseField(h, 0, 23);
  const domSet = parseField(dom, 1, 31);
  const month = parseField(mo, 1, 12, { list: MONTH_NAMES, offset: 1 });
  const dowSet = parseField(dow, 0, 7, { list: DAY_NAMES, offset: 0 });
  if (!minute || !hour || !domSet || !month || !dowSet) return undefined;
  if (dowSet[7]) dowSet[0] = 1;
  return {
    minute,
    hour,
    dom: domSet,
    month,
    dow: dowSet,
    domStar: dom === '*',
    dowStar: dow === '*',
  };
}

function firstAtOrAfter(set: Uint8Array, from: number): number {
  for (let i = from; i < set.length; i++) if (set[i]) return i;
  return -1;
}

function lastAtOrBefore(set: Uint8Array, from: number): number {
  for (let i = Math.min(from, set.length - 1); i >= 0; i--) if (set[i]) return i;
  return -1;
}

function dayMatches(f: Fields, dayStart: number, dayOfMonth: number): boolean {
  if (f.domStar && f.dowStar) return true;
  const weekday = (((Math.floor(dayStart / DAY) + 4) % 7) + 7) % 7;
  const domOk = f.dom[dayOfMonth] === 1;
  const dowOk = f.dow[weekday] === 1;
  if (f.domStar) return dowOk;
  if (f.dowStar) return domOk;
  return domOk || dowOk;
}

class UtcSchedule implements CronSchedule {
  readonly tz = undefined;
  private lastFloorIn = NaN;
  private lastFloorOut = NaN;
  constructor(
    readonly cron: string,
    private readonly f: Fields,
  ) {}

  matches(ts: number): boolean {
    if (ts % MINUTE !== 0) return false;
    const d = new Date(ts);
    const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
    return (
      this.f.month[d.getUTCMonth() + 1] === 1 &&
      dayMatches(this.f, day, d.getUTCDate()) &&
      this.f.hour[d.getUTCHours()] === 1 &&
      this.f.minute[d.getUTCMinutes()] === 1
    );
  }

  next(ts: number): number {
    const f = this.f;
    let t = Math.floor(ts / MINUTE) * MINUTE + MINUTE;
    const limit = t + SEARCH_LIMIT;
    while (t <= limit) {
      const d = new Date(t);
      const y = d.getUTCFullYear();
      const mo = d.getUTCMonth();
      const day = d.getUTCDate();
      const nextMonth = firstAtOrAfter(f.month, mo + 1);
      if (nextMonth !== mo + 1) {
        t = nextMonth < 0 ? Date.UTC(y + 1, 0, 1) : Date.UTC(y, nextMonth - 1, 1);
        continue;
      }
      const dayStart = Date.UTC(y, mo, day);
      if (!dayMatches(f, dayStart, day)) {
        t = dayStart + DAY;
        continue;
      }
      const h = d.getUTCHours();
      const nextHour = firstAtOrAfter(f.hour, h);
      if (nextHour !== h) {
        t = nextHour < 0 ? dayStart + DAY : dayStart + nextHour * 3_600_000;
        continue;
      }
      const nextMinute = firstAtOrAfter(f.minute, d.getUTCMinutes());
      if (nextMinute < 0) {
        t = dayStart + (h + 1) * 3_600_000;
        continue;
      }
      return dayStart + h * 3_600_000 + nextMinute * MINUTE;
    }
    return NaN;
  }

  prev(ts: number): number {
    const f = this.f;
    let t = Math.ceil(ts / MINUTE) * MINUTE - MINUTE;
    const limit = t - SEARCH_LIMIT;
    while (t >= limit) {
      const d = new Date(t);
      const y = d.getUTCFullYear();
      const mo = d.getUTCMonth();
      const day = d.getUTCDate();
      if (f.month[mo + 1] !== 1) {
        t = Date.UTC(y, mo, 1) - MINUTE;
        continue;
      }
      const dayStart = Date.UTC(y, mo, day);
      if (!dayMatches(f, dayStart, day)) {
        t = dayStart - MINUTE;
        continue;
      }
      const h = d.getUTCHours();
      const prevHour = lastAtOrBefore(f.hour, h);
      if (prevHour !== h) {
        t = prevHour < 0 ? dayStart - MINUTE : dayStart + prevHour * 3_600_000 + 59 * MINUTE;
        continue;
      }
      const prevMinute = lastAtOrBefore(f.minute, d.getUTCMinutes());
      if (prevMinute < 0) {
        t = dayStart + h * 3_600_000 - MINUTE;
        continue;
      }
      return dayStart + h * 3_600_000 + prevMinute * MINUTE;
    }
    return NaN;
  }

  floor(ts: number): number {
    if (ts === this.lastFloorIn) return this.lastFloorOut;
    const out = this.matches(ts) ? ts : this.prev(ts);
    this.lastFloorIn = ts;
    this.lastFloorOut = out;
    return out;
  }
}

// ---------------------------------------------------------------------------
// Everything else through croner.

class CronerSchedule implements CronSchedule {
  private lastFloorIn = NaN;
  private lastFloorOut = NaN;
  constructor(
    readonly cron: string,
    readonly tz: string | undefined,
    private readonly job: Cron,
  ) {}

  matches(ts: number): boolean {
    return ts % 1000 === 0 && this.job.match(new Date(ts));
  }

  next(ts: number): number {
    return this.job.nextRun(new Date(ts))?.getTime() ?? NaN;
  }

  prev(ts: number): number {
    return this.job.previousRuns(1, new Date(ts))[0]?.getTime() ?? NaN;
  }

  floor(ts: number): number {
    if (ts === this.lastFloorIn) return this.lastFloorOut;
    const out = this.matches(ts) ? ts : this.prev(ts);
    this.lastFloorIn = ts;
    this.lastFloorOut = out;
    return out;
  }
}

const FIELD_RANGES: [name: string, min: number, max: number][] = [
  ['minute', 0, 59],
  ['hour', 0, 23],
  ['day-of-month', 1, 31],
  ['month', 1, 12],
  ['day-of-week', 0, 7],
];

/** Names a number outside its field's range, which croner reports less clearly. */
function fieldProblem(pattern: string): string | undefined {
  const parts = pattern.split(' ');
  if (parts.length !== 5) return undefined;
  for (let i = 0; i < 5; i++) {
    const [name, min, max] = FIELD_RANGES[i]!;
    for (const item of parts[i]!.split(',')) {
      const values = item.split('/')[0]!.split('-');
      for (const v of values) {
        if (/^\d+$/.test(v) && (Number(v) < min || Number(v) > max)) {
          return `${name} value ${v} is outside ${min}-${max}`;
        }
      }
    }
  }
  return undefined;
}

const MAX_CACHED = 10_000;
const schedules = new Map<string, CronSchedule>();

function buildSchedule(cron: string, tz: string | undefined): CronSchedule {
  if (typeof cron !== 'string' || cron.trim() === '') {
    throw new CronError(String(cron), `invalid cron '${String(cron)}': ${CRON_FORMS}`);
  }
  const pattern = normalizeCron(cron);
  if (pattern.startsWith('@')) {
    throw new CronError(cron, `invalid cron '${cron}': ${CRON_FORMS}`);
  }
  let job: Cron;
  try {
    job = new Cron(pattern, {
      paused: true,
      mode: '5-part',
      sloppyRanges: true,
      ...(tz ? { timezone: tz } : {}),
    });
  } catch (cause) {
    const croner =
      cause instanceof Error
        ? cause.message.replace(/^CronPattern:\s*/, '').replace(/\.\s*$/, '')
        : '';
    const reason = fieldProblem(pattern) ?? croner;
    const detail = reason ? `${reason}; ` : '';
    throw new CronError(cron, `invalid cron '${cron}': ${detail}${CRON_FORMS}`, { cause });
  }
  const fields = tz === undefined ? parseFields(pattern) : undefined;
  const schedule = fields ? new UtcSchedule(cron, fields) : new CronerSchedule(cron, tz, job);
  if (Number.isNaN(schedule.next(Date.UTC(2000, 0, 1)))) {
    throw new CronError(
      cron,
      `invalid cron '${cron}': it never runs (no date matches every field)`,
    );
  }
  return schedule;
}

/**
 * Compiles a cron (cached). Throws {@link CronError} naming the cron when it
 * is malformed or never runs, or when `tz` is not a known time zone.
 */
export function compileCron(cron: string, tz?: string): CronSchedule {
  const zone = normalizeTz(cron, tz);
  const key = `${zone ?? ''}\u0000${cron}`;
  let schedule = schedules.get(key);
  if (!schedule) {
    schedule = buildSchedule(cron, zone);
    if (schedules.size >= MAX_CACHED) schedules.clear();
    schedules.set(key, schedule);
  }
  return schedule;
}

/** Throws {@link CronError} when the cron (or its time zone) cannot be used. */
export function validateCron(cron: string, tz?: string): void {
  compileCron(cron, tz);
}

/** The first run of `cron` strictly after `ts`. */
export function cronNext(cron: string, ts: number, tz?: string): number {
  return compileCron(cron, tz).next(ts);
}

/** The last run of `cron` strictly before `ts`. */
export function cronPrev(cron: string, ts: number, tz?: string): number {
  return compileCron(cron, tz).prev(ts);
}

/** The last run of `cron` at or before `ts`: `ts` itself when it is a run. */
export function cronFloor(cron: string, ts: number, tz?: string): number {
  return compileCron(cron, tz).floor(ts);
}

/**
 * The start a model gets when neither it nor its parents set one: the run
 * before the latest run at or before `relativeTo` (one cron period back).
 */
export function defaultStart(cron: string, relativeTo: number, tz?: string): number {
  const schedule = compileCron(cron, tz);
  return schedule.prev(schedule.floor(relativeTo));
}

const inferredUnits = new Map<string, IntervalUnit>();
/** A fixed reference so inference never depends on the current date; 2020 is a leap year. */
const INFERENCE_REFERENCE = Date.UTC(2020, 0, 1);
const INFERENCE_SAMPLES = 12;

/**
 * The interval unit a cron implies: the largest of year, month, day, hour,
 * half_hour, quarter_hour and five_minute that is no longer than the
 * shortest gap between consecutive runs (a month counts as 28 days, a year
 * as 365). `@weekly` gives `day`: there is no week unit.
 *
 * Inference reads the cron in UTC, as SQLMesh does; `tz` is only validated.
 * Throws {@link CronError} for a cron that runs more often than every five
 * minutes.
 */
export function intervalUnitOf(cron: string, tz?: string): IntervalUnit {
  normalizeTz(cron, tz);
  const cached = inferredUnits.get(cron);
  if (cached) return cached;
  const schedule = compileCron(cron);
  let prev = schedule.next(INFERENCE_REFERENCE);
  let gap = Infinity;
  for (let i = 0; i < INFERENCE_SAMPLES; i++) {
    const next = schedule.next(prev);
    if (Number.isNaN(next)) break;
    gap = Math.min(gap, next - prev);
    prev = next;
  }
  const unit = INTERVAL_UNITS.find((u) => unitMs(u) <= gap);
  if (!unit) {
    throw new CronError(
      cron,
      `invalid cron '${cron}': it runs more often than every 5 minutes, the smallest interval unit (five_minute)`,
    );
  }
  if (inferredUnits.size >= MAX_CACHED) inferredUnits.clear();
  inferredUnits.set(cron, unit);
  return unit;
}

/**
 * A model's interval unit: its `interval_unit` when set, else the one its
 * cron implies. An `interval_unit` longer than the cron's spacing is refused
 * unless `allowPartials` is true, since each run would then find no complete
 * interval.
 */
export function resolveIntervalUnit(options: {
  cron: string;
  intervalUnit?: IntervalUnit;
  allowPartials?: boolean;
}): IntervalUnit {
  const { cron, intervalUnit, allowPartials } = options;
  if (intervalUnit === undefined) return intervalUnitOf(cron);
  if (!allowPartials) {
    const cronUnit = intervalUnitOf(cron);
    if (unitMs(intervalUnit) > unitMs(cronUnit)) {
      throw new CronError(
        cron,
        `cron '${cron}' runs more often than interval unit '${intervalUnit}': ` +
          'set allow_partials to true if this is intended, or choose a smaller interval_unit',
      );
    }
  }
  return intervalUnit;
}
