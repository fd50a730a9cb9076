/**
 * Runs SELECTs on an in-process DuckDB and on the test PostgreSQL server, and
 * turns their rows into comparable plain values.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import pg from 'pg';
import { testServerUrl } from '../../helpers/postgres.js';

/** A row as plain values: numbers for numeric values, ISO strings for times. */
export type PlainRow = unknown[];

function plain(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'number') return Math.round(value * 1e6) / 1e6;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value)) return plain(Number(value));
  if (Array.isArray(value)) return value.map(plain);
  return value;
}

const closers: (() => unknown)[] = [];

/** Closes the engines opened by this file; register it with `after` at the top level. */
export async function closeEngines(): Promise<void> {
  for (const close of closers.splice(0)) await close();
  duck = undefined;
  pgClient = undefined;
}

let duck: Promise<DuckDBConnection> | undefined;

/** Rows of `sql` run on an in-memory DuckDB shared by the test file. */
export async function duckRows(sql: string): Promise<PlainRow[]> {
  duck ??= DuckDBInstance.create(':memory:').then(async (instance) => {
    const connection = await instance.connect();
    closers.push(() => {
      connection.closeSync();
      instance.closeSync();
    });
    return connection;
  });
  const reader = await (await duck).runAndReadAll(sql);
  return reader.getRowsJS().map((row) => row.map(plain));
}

/** Runs DuckDB setup statements (CREATE SCHEMA, CREATE TABLE ...). */
export async function duckRun(sql: string): Promise<void> {
  await duckRows(sql);
}

let pgClient: Promise<pg.Client> | undefined;

// Timestamps without a zone are read as UTC, dates as midnight UTC, so that the
// result does not depend on the machine's time zone.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 1114) return (text: string) => new Date(`${text.replace(' ', 'T')}Z`);
    if (oid === 1082) return (text: string) => new Date(`${text}T00:00:00Z`);
    return pg.types.getTypeParser(oid, format);
  },
} as unknown as pg.CustomTypesConfig;

/** Rows of `sql` run on the test PostgreSQL server (its `postgres` database). */
export async function pgRows(sql: string): Promise<PlainRow[]> {
  pgClient ??= testServerUrl().then(async (url) => {
    const client = new pg.Client({ connectionString: url, types });
    client.on('error', () => undefined);
    await client.connect();
    await client.query("SET TIME ZONE 'UTC'");
    closers.push(() => client.end());
    return client;
  });
  const result = await (await pgClient).query({ text: sql, rowMode: 'array' });
  return (result.rows as unknown[][]).map((row) => row.map(plain));
}
