/**
 * Pieces shared by the observability queries: ids compared byte-wise on both
 * stores (PostgreSQL's locale collations would order them differently from
 * SQLite and from JavaScript), the "rows after a cursor" condition, and
 * small JSON and number readers for stored rows.
 */
import { chunks as splitList } from '../../engine/state/state-helpers.js';
import { sql, type Expression, type RawBuilder, type SqlBool } from 'kysely';
import type { EvaluationRecord } from '../../protocol/messages.js';
import type { CloudContext } from '../context.js';
import type { EvaluationsTable } from '../store/schema.js';
import type { Cursor } from './query-params.js';

/** A text column compared and sorted byte-wise. */
export function bytewise(ctx: CloudContext, column: string): RawBuilder<string> {
  return ctx.store.kind === 'postgres'
    ? sql<string>`${sql.ref(column)} COLLATE "C"`
    : sql<string>`${sql.ref(column)}`;
}

/**
 * Rows after `cursor` in a list sorted by (`tsColumn` desc, `keyColumn` desc):
 * older rows, or rows of the same time with a smaller key.
 */
export function afterCursor(
  ctx: CloudContext,
  tsColumn: string,
  keyColumn: string,
  cursor: Cursor,
): Expression<SqlBool> {
  const ts = sql.ref(tsColumn);
  if (cursor.key === undefined) return sql<SqlBool>`${ts} < ${cursor.ts}`;
  return sql<SqlBool>`(${ts} < ${cursor.ts} OR (${ts} = ${cursor.ts} AND ${bytewise(ctx, keyColumn)} < ${cursor.key}))`;
}

export function num(value: number | string | null | undefined): number | null {
  return value === null || value === undefined ? null : Number(value);
}

export function parseObject(text: string | null): Record<string, unknown> {
  if (!text) return {};
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

/** Compares strings as the stores do with {@link bytewise} (UTF-8 byte order). */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Names per `IN (...)` list. */
export const IN_BATCH = 500;

/** Splits a list for `IN (...)` lists of {@link IN_BATCH} names. */
export function chunks<T>(items: readonly T[], size = IN_BATCH): T[][] {
  return splitList(items, size);
}

/** The columns of an evaluation row that {@link evaluationRecord} reads. */
export const EVALUATION_RECORD_COLUMNS = [
  'id',
  'model',
  'identifier',
  'version',
  'start_ts',
  'end_ts',
  'status',
  'attempt',
  'rows',
  'duration_ms',
  'error',
] as const;

/** An evaluation row as the API reports it. */
export function evaluationRecord(
  e: Pick<EvaluationsTable, (typeof EVALUATION_RECORD_COLUMNS)[number]>,
): EvaluationRecord {
  return {
    id: e.id,
    model: e.model,
    identifier: e.identifier,
    version: e.version,
    interval: [Number(e.start_ts), Number(e.end_ts)],
    status: e.status,
    attempt: Number(e.attempt),
    rows: num(e.rows),
    durationMs: num(e.duration_ms),
    error: e.error,
  };
}
