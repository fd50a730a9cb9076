/**
 * The temporal macro variables (`@start_ds`, `@end_ts`, `@execution_epoch`,
 * ...) of one evaluation, all in UTC.
 *
 * Intervals are half-open, [start, end), but the `end_*` variables describe
 * the last instant inside the interval, one microsecond before `end` (one
 * nanosecond for T-SQL): a daily interval [2024-01-01, 2024-01-02) has
 * `@end_ds` = '2024-01-01' and `@end_ts` = '2024-01-01 23:59:59.999999', so
 * that `BETWEEN @start_ds AND @end_ds` selects exactly the interval.
 */

/** Prefixes: `start` (inclusive), `end` (inclusive, see above), `execution`; `latest` is an old name of `execution`. */
export const TEMPORAL_PREFIXES = ['start', 'end', 'execution', 'latest'] as const;
export type TemporalPrefix = (typeof TEMPORAL_PREFIXES)[number];

/**
 * - dt: a timestamp with time zone (`CAST('2024-01-01 00:00:00+00:00' AS TIMESTAMPTZ)`)
 * - dtntz: a timestamp without time zone (`CAST('2024-01-01 00:00:00' AS TIMESTAMP)`)
 * - date: a date (`CAST('2024-01-01' AS DATE)`)
 * - ds: `'2024-01-01'`; ts: `'2024-01-01 00:00:00'`; tstz: `'2024-01-01 00:00:00+00:00'`
 * - epoch: seconds as a decimal number (`1704067200.0`)
 * - millis: milliseconds as an integer; hour: the hour of day, 0-23
 */
export const TEMPORAL_SUFFIXES = [
  'dt',
  'dtntz',
  'date',
  'ds',
  'ts',
  'tstz',
  'epoch',
  'millis',
  'hour',
] as const;
export type TemporalSuffix = (typeof TEMPORAL_SUFFIXES)[number];

/** One temporal variable in the forms the renderers need. */
export interface TemporalVariable {
  name: string;
  /** The SQL the macro `@name` renders to. */
  sql: string;
  /**
   * The text spliced into identifiers and string templates (`tbl_@{start_ds}`):
   * strings without quotes, numbers as written, typed values as their SQL.
   */
  text: string;
  /** The value a Jinja template sees: strings for text and datetimes, numbers for numbers. */
  jinja: string | number;
}

export interface TemporalInput {
  /** Interval start, inclusive, epoch ms. */
  start: number;
  /** Interval end, exclusive, epoch ms. */
  end: number;
  /** When the evaluation started, epoch ms. */
  executionTime: number;
  /** The SQL dialect, for the names of the timestamp types. Defaults to generic SQL. */
  dialect?: string;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** An instant: whole milliseconds plus a fraction past them, as printed digits. */
interface Instant {
  ms: number;
  /** The fractional seconds digits (6, or 9 for nanoseconds), or '' for a whole second. */
  fraction: string;
}

function exactInstant(ms: number): Instant {
  const part = ((ms % 1000) + 1000) % 1000;
  return { ms, fraction: part === 0 ? '' : `${pad(part, 3)}000` };
}

/** The last instant before the exclusive `end`: 1 µs earlier, or 1 ns for T-SQL. */
function inclusiveEnd(end: number, nanos: boolean): Instant {
  const ms = end - 1;
  const part = ((ms % 1000) + 1000) % 1000;
  return { ms, fraction: `${pad(part, 3)}${nanos ? '999999' : '999'}` };
}

function datePart(d: Date): string {
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`;
}

function tsText(instant: Instant): string {
  const d = new Date(instant.ms);
  const base = `${datePart(d)} ${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
  return instant.fraction === '' ? base : `${base}.${instant.fraction}`;
}

/** A number as Python prints a float: always with a decimal point. */
export function pythonFloat(n: number): string {
  const s = String(n);
  return Number.isInteger(n) && !s.includes('e') ? `${s}.0` : s;
}

function sqlString(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** Type names of timestamps with and without time zone, per dialect. */
function timestampTypes(dialect: string): { tz: string; ntz: string } {
  switch (dialect.toLowerCase()) {
    case 'bigquery':
      return { tz: 'TIMESTAMP', ntz: 'DATETIME' };
    case 'tsql':
    case 'fabric':
      return { tz: 'DATETIMEOFFSET', ntz: 'DATETIME2' };
    case 'mysql':
    case 'spark':
    case 'spark2':
    case 'databricks':
    case 'hive':
      return { tz: 'TIMESTAMP', ntz: 'TIMESTAMP' };
    default:
      return { tz: 'TIMESTAMPTZ', ntz: 'TIMESTAMP' };
  }
}

function variablesFor(
  prefix: TemporalPrefix,
  instant: Instant,
  dialect: string,
  out: Record<string, TemporalVariable>,
): void {
  const types = timestampTypes(dialect);
  const d = new Date(instant.ms);
  const ds = datePart(d);
  const ts = tsText(instant);
  const tstz = `${ts}+00:00`;
  const millis = instant.ms;
  const epoch = pythonFloat(millis / 1000);
  const dtSql = `CAST(${sqlString(tstz)} AS ${types.tz})`;
  const dtntzSql = `CAST(${sqlString(ts)} AS ${types.ntz})`;
  const dateSql = `CAST(${sqlString(ds)} AS DATE)`;
  const add = (suffix: TemporalSuffix, sql: string, text: string, jinja: string | number): void => {
    const name = `${prefix}_${suffix}`;
    out[name] = { name, sql, text, jinja };
  };
  add('dt', dtSql, dtSql, tstz);
  add('dtntz', dtntzSql, dtntzSql, ts);
  add('date', dateSql, dateSql, ds);
  add('ds', sqlString(ds), ds, ds);
  add('ts', sqlString(ts), ts, ts);
  add('tstz', sqlString(tstz), tstz, tstz);
  add('epoch', epoch, epoch, millis / 1000);
  add('millis', String(millis), String(millis), millis);
  add('hour', String(d.getUTCHours()), String(d.getUTCHours()), d.getUTCHours());
}

/**
 * Every temporal variable for an interval and an execution time, keyed by
 * name (`start_ds`, `end_ts`, `execution_epoch`, `latest_ds`, ...).
 */
export function temporalVariables(input: TemporalInput): Record<string, TemporalVariable> {
  const dialect = input.dialect ?? '';
  const nanos = dialect.toLowerCase() === 'tsql';
  const out: Record<string, TemporalVariable> = {};
  const execution = exactInstant(input.executionTime);
  variablesFor('execution', execution, dialect, out);
  variablesFor('latest', execution, dialect, out);
  variablesFor('start', exactInstant(input.start), dialect, out);
  variablesFor('end', inclusiveEnd(input.end, nanos), dialect, out);
  return out;
}
