/**
 * SQL values for the state tables. Every value written into state SQL goes
 * through {@link sqlLiteral}, so no caller ever builds a literal by hand. The
 * SQL produced here is understood the same way by DuckDB and PostgreSQL.
 */

import { TidelineError } from '../errors.js';

export type SqlValue = string | number | boolean | null | undefined;

/**
 * Renders a string as a SQL literal. Quotes are doubled; a string holding a
 * backslash becomes an escape string (`E'...'`) with backslashes doubled, which
 * both engines read the same way whatever PostgreSQL's
 * `standard_conforming_strings` says. NUL cannot be stored in a text column,
 * so it is refused.
 */
export function sqlString(value: string): string {
  if (value.includes('\0')) {
    throw new TidelineError(
      `state value ${JSON.stringify(value.slice(0, 40))} contains a NUL character, which state cannot store; remove it`,
    );
  }
  const quoted = value.replace(/'/g, "''");
  if (!value.includes('\\')) return `'${quoted}'`;
  return `E'${quoted.replace(/\\/g, '\\\\')}'`;
}

/** Renders any state value as a SQL literal: strings, safe integers, finite numbers, booleans, NULL. */
export function sqlLiteral(value: SqlValue): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'string') return sqlString(value);
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (!Number.isFinite(value)) {
    throw new TidelineError(`state value ${String(value)} is not a finite number`);
  }
  if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
    throw new TidelineError(`state value ${value} is outside the range of exact integers`);
  }
  return String(value);
}

/** `(a, b), (c, d)`: a parenthesised list of tuples for a row-value IN list or VALUES clause. */
export function sqlTuples(rows: ReadonlyArray<readonly SqlValue[]>): string {
  return rows.map((row) => `(${row.map(sqlLiteral).join(', ')})`).join(', ');
}

/** Splits a list into chunks of at most `size` items. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Splits rows into batches of at most `maxRows` rows whose rendered text stays
 * under `maxChars` (a single larger row still gets a batch of its own).
 */
export function batchBySize(
  rows: readonly string[],
  maxRows: number,
  maxChars: number,
): string[][] {
  const out: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const row of rows) {
    if (current.length > 0 && (current.length >= maxRows || size + row.length > maxChars)) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(row);
    size += row.length;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** Reads an integer column, whatever the driver returned (number, bigint or numeric string). */
export function readNumber(value: unknown, column: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) {
    return Number(value);
  }
  throw new TidelineError(`state column ${column} holds ${String(value)}, not a number`);
}

/** Reads a nullable integer column. */
export function readOptionalNumber(value: unknown, column: string): number | undefined {
  return value === null || value === undefined ? undefined : readNumber(value, column);
}

/** Reads a boolean column (drivers may return booleans, 0/1 or 't'/'f'). */
export function readBoolean(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return Number(value) !== 0;
  if (typeof value === 'string') return value === 't' || value === 'true' || value === '1';
  return false;
}

/** Reads a text column. */
export function readString(value: unknown, column: string): string {
  if (typeof value === 'string') return value;
  throw new TidelineError(`state column ${column} holds ${String(value)}, not text`);
}

/** Reads a nullable text column. */
export function readOptionalString(value: unknown, column: string): string | undefined {
  return value === null || value === undefined ? undefined : readString(value, column);
}
