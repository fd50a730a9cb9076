/**
 * Time values as the write strategies put them in SQL: the bounds of an
 * interval in the type of a model's time column, and `strftime`-style
 * formatting for text (and numeric) time columns.
 *
 * SQLMesh compares a time column with `BETWEEN start AND end'` where end' is
 * the interval's exclusive end minus one microsecond; so do we.
 */
import { EngineError } from '../errors.js';
import { formatDs, formatTs, formatTstz } from '../time/time-values.js';
import { stringLiteral } from './seed-loader.js';

/** How a column's type is compared with time bounds. */
export type TimeTypeCategory = 'date' | 'timestamp' | 'timestamptz' | 'text' | 'numeric' | 'other';

/** The category of an engine type name (`DATE`, `timestamp without time zone`, `VARCHAR`, ...). */
export function timeTypeCategory(type: string): TimeTypeCategory {
  const t = type.trim().toLowerCase();
  if (t === 'date') return 'date';
  if (/^(timestamptz|timestamp_tz)\b/.test(t) || /^timestamp(\(\d+\))? with time zone/.test(t)) {
    return 'timestamptz';
  }
  if (/^(timestamp|datetime)/.test(t)) return 'timestamp';
  if (/(char|text|string|clob)/.test(t)) return 'text';
  if (
    /^(tinyint|smallint|integer|int|bigint|hugeint|ubigint|uinteger|usmallint|utinyint|numeric|decimal|double|real|float|number)/.test(
      t,
    )
  ) {
    return 'numeric';
  }
  return 'other';
}

/** An instant with microsecond precision: epoch milliseconds plus 0-999 microseconds. */
export interface Instant {
  ms: number;
  micros: number;
}

/** The last instant of the half-open interval ending at `endMs`: one microsecond earlier. */
export function inclusiveEnd(endMs: number): Instant {
  return { ms: endMs - 1, micros: 999 };
}

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * Formats an instant (in UTC) with a Python `strftime` format: `%Y %m %d %H
 * %M %S %f %y %j %b %B %a %A %p %I %w %u %Z %z %%`. Throws on other directives.
 */
export function strftime(instant: Instant, format: string): string {
  const d = new Date(instant.ms);
  const micros = d.getUTCMilliseconds() * 1000 + instant.micros;
  const dayOfYear =
    Math.floor(
      (Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) -
        Date.UTC(d.getUTCFullYear(), 0, 1)) /
        86_400_000,
    ) + 1;
  const hours = d.getUTCHours();
  return format.replace(/%(.)/g, (whole, code: string) => {
    switch (code) {
      case 'Y':
        return pad(d.getUTCFullYear(), 4);
      case 'y':
        return pad(d.getUTCFullYear() % 100, 2);
      case 'm':
        return pad(d.getUTCMonth() + 1, 2);
      case 'd':
        return pad(d.getUTCDate(), 2);
      case 'H':
        return pad(hours, 2);
      case 'I':
        return pad(hours % 12 === 0 ? 12 : hours % 12, 2);
      case 'p':
        return hours < 12 ? 'AM' : 'PM';
      case 'M':
        return pad(d.getUTCMinutes(), 2);
      case 'S':
        return pad(d.getUTCSeconds(), 2);
      case 'f':
        return pad(micros, 6);
      case 'j':
        return pad(dayOfYear, 3);
      case 'b':
        return (MONTHS[d.getUTCMonth()] as string).slice(0, 3);
      case 'B':
        return MONTHS[d.getUTCMonth()] as string;
      case 'a':
        return (DAYS[d.getUTCDay()] as string).slice(0, 3);
      case 'A':
        return DAYS[d.getUTCDay()] as string;
      case 'w':
        return String(d.getUTCDay());
      case 'u':
        return String(d.getUTCDay() === 0 ? 7 : d.getUTCDay());
      case 'Z':
        return 'UTC';
      case 'z':
        return '+0000';
      case '%':
        return '%';
      default:
        throw new EngineError(
          `time column format '${format}' uses ${whole}, which is not supported; ` +
            'use %Y, %m, %d, %H, %M, %S, %f, %j and similar directives',
        );
    }
  });
}

/** `YYYY-MM-DD HH:MM:SS[.ffffff]` of an instant, as Python's isoformat prints it. */
function timestampText(instant: Instant, withZone: boolean): string {
  if (instant.micros === 0) return (withZone ? formatTstz : formatTs)(instant.ms);
  const base = formatTs(instant.ms - (((instant.ms % 1000) + 1000) % 1000));
  const zone = withZone ? '+00:00' : '';
  return `${base}.${pad(new Date(instant.ms).getUTCMilliseconds() * 1000 + instant.micros, 6)}${zone}`;
}

/**
 * An instant as a SQL value comparable with a column of `type`: a DATE,
 * TIMESTAMP or TIMESTAMPTZ literal, or for text and numeric columns the
 * instant formatted with `format`. `what` names the column in errors.
 */
export function timeLiteral(instant: Instant, type: string, format: string, what: string): string {
  switch (timeTypeCategory(type)) {
    case 'date':
      return `CAST(${stringLiteral(formatDs(instant.ms))} AS DATE)`;
    case 'timestamp':
      return `CAST(${stringLiteral(timestampText(instant, false))} AS TIMESTAMP)`;
    case 'timestamptz':
      return `CAST(${stringLiteral(timestampText(instant, true))} AS TIMESTAMPTZ)`;
    case 'numeric': {
      const text = strftime(instant, format);
      if (!/^-?\d+(\.\d+)?$/.test(text)) {
        throw new EngineError(
          `${what} is numeric (${type}) but its format '${format}' gives '${text}'; ` +
            `give a numeric format such as '%Y%m%d' in time_column`,
        );
      }
      return text;
    }
    default:
      return stringLiteral(strftime(instant, format));
  }
}

/** An instant as a value of a column of `type` (SCD valid_from / valid_to). */
export function castTimeLiteral(instant: Instant, type: string): string {
  switch (timeTypeCategory(type)) {
    case 'date':
      return `CAST(${stringLiteral(formatDs(instant.ms))} AS ${type})`;
    case 'timestamptz':
      return `CAST(${stringLiteral(timestampText(instant, true))} AS ${type})`;
    default:
      return `CAST(${stringLiteral(timestampText(instant, false))} AS ${type})`;
  }
}
