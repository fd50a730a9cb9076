/**
 * Values in unit tests: how a YAML value becomes a SQL literal of the right
 * type in an input fixture, which type a value suggests when nothing else
 * says, and when an expected value equals what the engine returned.
 */
import { typeCategory, type TypeCategory } from '../evaluate/seed-reader.js';

/**
 * A date or timestamp written unquoted in a test file (`2020-01-01`,
 * `2020-01-01 12:00:00`). YAML reads these as times, not text, so they make
 * DATE or TIMESTAMP input columns when no type is declared.
 */
export class TemporalLiteral {
  constructor(
    /** The value as written. */
    readonly text: string,
    readonly kind: 'date' | 'timestamp',
  ) {}

  toString(): string {
    return this.text;
  }

  toJSON(): string {
    return this.text;
  }
}

/** Relative tolerance for floating-point and decimal values, as pandas' `assert_frame_equal`. */
export const RELATIVE_TOLERANCE = 1e-5;
/** Absolute tolerance, likewise. */
export const ABSOLUTE_TOLERANCE = 1e-8;

const INT32_MAX = 2_147_483_647;

/** The SQL type a value suggests: undefined for NULL, lists and mappings. */
export function inferType(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'boolean') return 'BOOLEAN';
  if (typeof value === 'bigint') return 'BIGINT';
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return 'DOUBLE';
    return Math.abs(value) <= INT32_MAX ? 'INT' : 'BIGINT';
  }
  if (value instanceof TemporalLiteral) return value.kind === 'date' ? 'DATE' : 'TIMESTAMP';
  if (typeof value === 'string') return 'VARCHAR';
  return undefined;
}

function quoteString(text: string): string {
  return `'${text.split("'").join("''")}'`;
}

/** A literal without a cast: numbers, booleans, text, and lists/structs for DuckDB. */
function bareLiteral(value: unknown, dialect: string): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return "CAST('NaN' AS DOUBLE)";
    if (!Number.isFinite(value)) return `CAST('${value > 0 ? 'Infinity' : '-Infinity'}' AS DOUBLE)`;
    return String(value);
  }
  if (value instanceof TemporalLiteral) return quoteString(value.text);
  if (value instanceof Date) return quoteString(value.toISOString());
  if (Array.isArray(value)) {
    const items = value.map((v) => bareLiteral(v, dialect)).join(', ');
    return dialect === 'duckdb' ? `[${items}]` : `ARRAY[${items}]`;
  }
  if (typeof value === 'object') {
    if (dialect === 'duckdb') {
      const fields = Object.entries(value as Record<string, unknown>).map(
        ([k, v]) => `${quoteString(k)}: ${bareLiteral(v, dialect)}`,
      );
      return `{${fields.join(', ')}}`;
    }
    return quoteString(JSON.stringify(value));
  }
  return quoteString(String(value));
}

/**
 * The value as a SQL literal of `type` (a cast around it), or as a plain
 * literal when the type is unknown. A MAP written as a YAML mapping becomes a
 * DuckDB MAP literal.
 */
export function sqlLiteral(value: unknown, type: string | undefined, dialect: string): string {
  if (value === null || value === undefined) {
    return type ? `CAST(NULL AS ${type})` : 'NULL';
  }
  if (!type) {
    const inferred = inferType(value);
    const literal = bareLiteral(value, dialect);
    if (inferred === 'DATE' || inferred === 'TIMESTAMP') return `CAST(${literal} AS ${inferred})`;
    return literal;
  }
  if (
    dialect === 'duckdb' &&
    /^\s*map\s*\(/i.test(type) &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    !(value instanceof TemporalLiteral)
  ) {
    const entries = Object.entries(value as Record<string, unknown>).map(
      ([k, v]) => `${quoteString(k)}: ${bareLiteral(v, dialect)}`,
    );
    return `CAST(MAP {${entries.join(', ')}} AS ${type})`;
  }
  return `CAST(${bareLiteral(value, dialect)} AS ${type})`;
}

// ---------------------------------------------------------------------------
// Comparing expected and actual values

const TEMPORAL_RE =
  /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[tT ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * A date or timestamp as one comparable text in UTC
 * (`YYYY-MM-DD HH:MM:SS.ffffff`), offsets applied; undefined when the text is not one.
 */
export function normalizeTemporal(value: string): string | undefined {
  const m = TEMPORAL_RE.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  let ms = Date.UTC(
    Number(y),
    Number(mo) - 1,
    Number(d),
    Number(h ?? 0),
    Number(mi ?? 0),
    Number(s ?? 0),
  );
  if (Number.isNaN(ms)) return undefined;
  if (zone && !/^(z|utc)$/i.test(zone)) {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const offset = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0);
    ms -= sign * offset * 60_000;
  }
  const iso = new Date(ms).toISOString();
  const micros = (frac ?? '').padEnd(6, '0').slice(0, 6);
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${micros}`;
}

function numberOf(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value.trim() !== '') {
    if (value === 'NaN') return NaN;
    if (value === 'Infinity') return Infinity;
    if (value === '-Infinity') return -Infinity;
    const n = Number(value);
    return Number.isNaN(n) ? undefined : n;
  }
  return undefined;
}

function integerText(value: unknown): string | undefined {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value).toString();
  if (typeof value === 'string' && /^[+-]?\d+$/.test(value.trim())) {
    return BigInt(value.trim()).toString();
  }
  return undefined;
}

/** Two numbers equal within the tolerances (NaN equals NaN, as in pandas). */
export function closeEnough(expected: number, actual: number): boolean {
  if (Number.isNaN(expected) || Number.isNaN(actual)) {
    return Number.isNaN(expected) && Number.isNaN(actual);
  }
  if (expected === actual) return true;
  if (!Number.isFinite(expected) || !Number.isFinite(actual)) return false;
  return Math.abs(expected - actual) <= ABSOLUTE_TOLERANCE + RELATIVE_TOLERANCE * Math.abs(actual);
}

function booleanOf(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value === 'string') {
    const t = value.trim().toLowerCase();
    if (t === 'true') return true;
    if (t === 'false') return false;
  }
  return undefined;
}

function textOf(value: unknown): string {
  if (value instanceof TemporalLiteral) return value.text;
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  }
  return String(value);
}

/** Deep equality for lists and structs; numbers with the float tolerance. */
function looselyEqual(expected: unknown, actual: unknown): boolean {
  if (expected === null || expected === undefined) return actual === null || actual === undefined;
  if (actual === null || actual === undefined) return false;
  if (Array.isArray(expected) || Array.isArray(actual)) {
    if (!Array.isArray(expected) || !Array.isArray(actual)) return false;
    return (
      expected.length === actual.length && expected.every((e, i) => looselyEqual(e, actual[i]))
    );
  }
  if (
    typeof expected === 'object' &&
    !(expected instanceof TemporalLiteral) &&
    typeof actual === 'object'
  ) {
    const e = expected as Record<string, unknown>;
    const a = actual as Record<string, unknown>;
    const keys = new Set([...Object.keys(e), ...Object.keys(a)]);
    return [...keys].every((k) => looselyEqual(e[k], a[k]));
  }
  const en = numberOf(expected);
  const an = numberOf(actual);
  if (typeof actual === 'number' && en !== undefined && an !== undefined) {
    return closeEnough(en, an);
  }
  if (typeof actual === 'boolean') return booleanOf(expected) === actual;
  const et = textOf(expected);
  const at = textOf(actual);
  if (et === at) return true;
  const ed = normalizeTemporal(et);
  return ed !== undefined && ed === normalizeTemporal(at);
}

/**
 * Whether an expected value (as written in the test) equals a value the
 * engine returned for a column of `type`. Floats and decimals compare within
 * a tolerance; dates and timestamps compare as points in time, written as
 * YAML dates or as text; NULL equals only NULL.
 */
export function valuesEqual(expected: unknown, actual: unknown, type: string | undefined): boolean {
  if (expected === null || expected === undefined) return actual === null || actual === undefined;
  if (actual === null || actual === undefined) return false;
  const category: TypeCategory = type ? typeCategory(type) : 'other';
  switch (category) {
    case 'integer': {
      const e = integerText(expected);
      const a = integerText(actual);
      if (e !== undefined && a !== undefined) return e === a;
      const en = numberOf(expected);
      const an = numberOf(actual);
      return en !== undefined && an !== undefined && en === an;
    }
    case 'float':
    case 'decimal': {
      const en = numberOf(expected);
      const an = numberOf(actual);
      if (en !== undefined && an !== undefined) return closeEnough(en, an);
      return textOf(expected) === textOf(actual);
    }
    case 'boolean':
      return booleanOf(expected) === booleanOf(actual);
    case 'date':
    case 'timestamp': {
      const e = normalizeTemporal(textOf(expected));
      const a = normalizeTemporal(textOf(actual));
      if (e !== undefined && a !== undefined) return e === a;
      return textOf(expected) === textOf(actual);
    }
    default:
      return looselyEqual(expected, actual);
  }
}

/** A value as a diff table shows it. */
export function displayValue(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  return textOf(value);
}
