/**
 * Time values as users write them (model `start`/`end`, plan `--start`,
 * `--end`, `--execution-time`): dates, datetimes, epoch milliseconds and
 * relative expressions, all read in UTC and turned into epoch milliseconds.
 */

import { TidelineError } from '../errors.js';

const DAY_MS = 86_400_000;

/** What the time parser accepts, for error messages. */
export const ACCEPTED_TIME_FORMATS =
  'a date (2020-01-01 or 20200101), a datetime (2020-01-01 12:30:00, optional Z or +02:00), ' +
  "epoch milliseconds, or a relative time ('now', 'today', 'yesterday', 'tomorrow', " +
  "'2 days ago', '1 year ago', 'in 1 week', '3 hours ago')";

/** A time value that cannot be read. `value` is the input as given. */
export class TimeValueError extends TidelineError {
  override name = 'TimeValueError';
  readonly value: string;
  constructor(value: string) {
    super(`invalid time '${value}': expected ${ACCEPTED_TIME_FORMATS}`);
    this.value = value;
  }
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_INT_RE = /^(\d{4})(\d{2})(\d{2})$/;
const NUMBER_RE = /^-?\d+(?:\.\d+)?$/;
const DATETIME_RE =
  /^(\d{4})-(\d{2})-(\d{2})[t ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(z|utc|[+-]\d{2}(?::?\d{2})?)?$/;

type RelativeField = 'years' | 'months' | 'weeks' | 'days' | 'hours' | 'minutes' | 'seconds';

const RELATIVE_UNITS: Record<string, RelativeField> = {
  year: 'years',
  yr: 'years',
  month: 'months',
  mon: 'months',
  week: 'weeks',
  wk: 'weeks',
  day: 'days',
  hour: 'hours',
  hr: 'hours',
  minute: 'minutes',
  min: 'minutes',
  second: 'seconds',
  sec: 'seconds',
};

const RELATIVE_PART_RE = /(\d+|an?)\s*([a-z]+?)s?(?=$|[\s,])/y;

/** Builds a UTC timestamp from calendar fields, or undefined when they name no real day. */
function utcDate(year: number, month: number, day: number): number | undefined {
  if (month < 1 || month > 12 || day < 1) return undefined;
  const ts = Date.UTC(year, month - 1, day);
  const d = new Date(ts);
  if (d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) {
    return undefined;
  }
  return ts;
}

function dateOnlyValue(text: string): number | undefined {
  const m = DATE_RE.exec(text) ?? DATE_INT_RE.exec(text);
  if (!m) return undefined;
  return utcDate(Number(m[1]), Number(m[2]), Number(m[3]));
}

function parseDatetime(text: string): number | undefined {
  const m = DATETIME_RE.exec(text.toLowerCase());
  if (!m) return undefined;
  const day = utcDate(Number(m[1]), Number(m[2]), Number(m[3]));
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (day === undefined || hour > 23 || minute > 59 || second > 59) return undefined;
  const millis = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000 + 1e-6);
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone !== undefined && zone !== 'z' && zone !== 'utc') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = digits.length > 2 ? Number(digits.slice(2)) : 0;
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = sign * (oh * 60 + om);
  }
  return day + ((hour * 60 + minute - offsetMinutes) * 60 + second) * 1000 + millis;
}

/** Adds whole months in UTC, clamping the day to the target month's length. */
function addMonths(ts: number, months: number): number {
  if (months === 0) return ts;
  const d = new Date(ts);
  const total = d.getUTCFullYear() * 12 + d.getUTCMonth() + months;
  const year = Math.floor(total / 12);
  const month = total - year * 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const timeOfDay = ts - Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  return Date.UTC(year, month, Math.min(d.getUTCDate(), lastDay)) + timeOfDay;
}

function parseRelative(text: string, relativeTo: number): number | undefined {
  const lower = text.toLowerCase().replace(/\s+/g, ' ');
  const midnight = relativeTo - (((relativeTo % DAY_MS) + DAY_MS) % DAY_MS);
  switch (lower) {
    case 'now':
      return relativeTo;
    case 'today':
      return midnight;
    case 'yesterday':
      return midnight - DAY_MS;
    case 'tomorrow':
      return midnight + DAY_MS;
  }
  let sign: number;
  let body: string;
  if (lower.endsWith(' ago')) {
    sign = -1;
    body = lower.slice(0, -4);
  } else if (lower.startsWith('in ')) {
    sign = 1;
    body = lower.slice(3);
  } else {
    return undefined;
  }
  const amounts: Record<RelativeField, number> = {
    years: 0,
    months: 0,
    weeks: 0,
    days: 0,
    hours: 0,
    minutes: 0,
    seconds: 0,
  };
  let pos = 0;
  let parts = 0;
  body = body.trim();
  while (pos < body.length) {
    RELATIVE_PART_RE.lastIndex = pos;
    const m = RELATIVE_PART_RE.exec(body);
    if (!m) return undefined;
    const field = RELATIVE_UNITS[m[2] ?? ''];
    if (field === undefined) return undefined;
    const count = m[1] === 'a' || m[1] === 'an' ? 1 : Number(m[1]);
    amounts[field] += count;
    parts += 1;
    pos = RELATIVE_PART_RE.lastIndex;
    const sep = /^(?:\s*,\s*|\s+and\s+|\s+)/.exec(body.slice(pos));
    if (sep) pos += sep[0].length;
  }
  if (parts === 0) return undefined;
  // Like SQLMesh, an expression without hours, minutes or seconds counts in
  // whole days, from midnight UTC: '1 year ago' is a date, '2 hours ago' is not.
  const categorical = amounts.hours === 0 && amounts.minutes === 0 && amounts.seconds === 0;
  let ts = categorical ? midnight : relativeTo;
  ts = addMonths(ts, sign * (amounts.years * 12 + amounts.months));
  const fixed =
    (amounts.weeks * 7 + amounts.days) * DAY_MS +
    amounts.hours * 3_600_000 +
    amounts.minutes * 60_000 +
    amounts.seconds * 1000;
  return ts + sign * fixed;
}

/**
 * Reads a time value into epoch milliseconds (UTC).
 *
 * Accepts a Date, a number (epoch milliseconds), or a string: an ISO date
 * (`2020-01-01`, or `20200101`), a datetime (`2020-01-01 12:30:00`,
 * `2020-01-01T12:30:00.123Z`, `...+02:00`; without an offset it is UTC),
 * epoch milliseconds (`1577836800000`), or a relative expression evaluated
 * against `relativeTo`: `now`, `today`, `yesterday`, `tomorrow`,
 * `N <unit>s ago`, `in N <unit>s` (units second, minute, hour, day, week,
 * month, year; several may be combined: `1 year 2 months ago`). Expressions
 * in whole days or more start from midnight UTC of `relativeTo`.
 *
 * Throws {@link TimeValueError} naming the accepted formats.
 */
export function toTimestamp(value: string | number | Date, relativeTo: number): number {
  if (value instanceof Date) {
    const ts = value.getTime();
    if (Number.isNaN(ts)) throw new TimeValueError(String(value));
    return ts;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TimeValueError(String(value));
    return Math.trunc(value);
  }
  const text = String(value).trim();
  const date = dateOnlyValue(text);
  if (date !== undefined) return date;
  if (NUMBER_RE.test(text)) return Math.trunc(Number(text));
  const datetime = parseDatetime(text);
  if (datetime !== undefined) return datetime;
  const relative = parseRelative(text, relativeTo);
  if (relative !== undefined && Number.isFinite(relative)) return relative;
  throw new TimeValueError(String(value));
}

/**
 * True when a value names a whole day: a string `2020-01-01` or `20200101`.
 * Numbers are always epoch milliseconds, never dates.
 */
export function isDateOnly(value: string | number | Date): boolean {
  return typeof value === 'string' && dateOnlyValue(value.trim()) !== undefined;
}

/**
 * Reads the end of a range as an exclusive timestamp. A date-only end
 * includes that whole day (`2020-01-05` -> 2020-01-06 00:00 UTC); any other
 * value is taken as the exclusive end itself.
 */
export function toEndTimestamp(value: string | number | Date, relativeTo: number): number {
  const ts = toTimestamp(value, relativeTo);
  return isDateOnly(value) ? ts + DAY_MS : ts;
}

/** Formatting options. */
export interface FormatOptions {
  /**
   * Treat the timestamp as an exclusive end and show the last instant before
   * it, one microsecond earlier (SQLMesh's inclusive end):
   * 2020-01-02 00:00 -> `2020-01-01 23:59:59.999999`.
   */
  inclusiveEnd?: boolean;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function datePart(d: Date): string {
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`;
}

function tsParts(ts: number, options?: FormatOptions): { text: string } {
  const t = options?.inclusiveEnd ? ts - 1 : ts;
  const d = new Date(t);
  const ms = d.getUTCMilliseconds();
  const base = `${datePart(d)} ${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
  if (options?.inclusiveEnd) return { text: `${base}.${pad(ms, 3)}999` };
  return { text: ms === 0 ? base : `${base}.${pad(ms, 3)}000` };
}

/** `YYYY-MM-DD` in UTC. */
export function formatDs(ts: number, options?: FormatOptions): string {
  return datePart(new Date(options?.inclusiveEnd ? ts - 1 : ts));
}

/** `YYYY-MM-DD HH:MM:SS` in UTC, with `.ffffff` when there is a fraction of a second. */
export function formatTs(ts: number, options?: FormatOptions): string {
  return tsParts(ts, options).text;
}

/** As {@link formatTs} with the UTC offset: `2020-01-01 00:00:00+00:00`. */
export function formatTstz(ts: number, options?: FormatOptions): string {
  return `${tsParts(ts, options).text}+00:00`;
}

/** ISO 8601 in UTC: `2020-01-01T00:00:00.000Z`. */
export function formatIso(ts: number): string {
  return new Date(ts).toISOString();
}
