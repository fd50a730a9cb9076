/**
 * Loads a seed read by `readSeed` into a new table: CREATE TABLE with the
 * seed's column types, then INSERT ... VALUES in batches, all in one
 * transaction so that a failure leaves no table behind.
 */
import type { EngineAdapter, TableRef } from '../adapters/engine-adapter.js';
import { TidelineError } from '../errors.js';
import type { SeedData, TypeCategory } from './seed-reader.js';
import { typeCategory } from './seed-reader.js';

export interface LoadSeedOptions {
  /** Rows per INSERT statement (the SEED kind's `batch_size`, 1000 by default). */
  batchSize: number;
}

export interface LoadSeedResult {
  rows: number;
  /** INSERT statements run. */
  batches: number;
}

/**
 * A SQL type as the table is created with it. `DOUBLE` (the name inference
 * gives) is spelled `DOUBLE PRECISION`, which every supported engine accepts.
 */
export function columnTypeSql(type: string): string {
  return /^\s*double\s*$/i.test(type) ? 'DOUBLE PRECISION' : type.trim();
}

/** A standard SQL string literal: quotes doubled, backslashes kept as they are. */
export function stringLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** One value as a SQL literal for a column of `type` (whose category is `category`). */
export function valueLiteral(value: unknown, type: string, category: TypeCategory): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return String(value);
    const text = Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
    return `CAST(${stringLiteral(text)} AS ${columnTypeSql(type)})`;
  }
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (category === 'text') return stringLiteral(text);
  return `CAST(${stringLiteral(text)} AS ${columnTypeSql(type)})`;
}

/** The INSERT statements for `seed` into `tableSql`, `batchSize` rows each. */
export function seedInsertStatements(
  adapter: Pick<EngineAdapter, 'quoteIdentifier'>,
  tableSql: string,
  seed: SeedData,
  batchSize: number,
): string[] {
  const columnList = seed.columns.map((c) => adapter.quoteIdentifier(c.name)).join(', ');
  const categories = seed.columns.map((c) => typeCategory(c.type));
  const statements: string[] = [];
  for (let start = 0; start < seed.rows.length; start += batchSize) {
    const tuples = seed.rows
      .slice(start, start + batchSize)
      .map(
        (row) =>
          `(${seed.columns
            .map((c, k) => valueLiteral(row[k], c.type, categories[k] as TypeCategory))
            .join(', ')})`,
      );
    statements.push(`INSERT INTO ${tableSql} (${columnList}) VALUES ${tuples.join(', ')}`);
  }
  return statements;
}

/**
 * Creates `table` with the seed's columns and inserts its rows in batches of
 * `batchSize`, in one transaction. When any statement fails, nothing is left:
 * the transaction rolls back, and on engines without transactional DDL the
 * table is dropped.
 */
export async function loadSeed(
  adapter: EngineAdapter,
  table: TableRef,
  seed: SeedData,
  options: LoadSeedOptions,
): Promise<LoadSeedResult> {
  const { batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new TidelineError(`seed batch_size must be a positive whole number, got ${batchSize}`);
  }
  if (seed.columns.length === 0) {
    throw new TidelineError(`seed for ${adapter.tableName(table)} has no columns`);
  }
  const tableSql = adapter.tableName(table);
  const columnsSql = seed.columns
    .map((c) => `${adapter.quoteIdentifier(c.name)} ${columnTypeSql(c.type)}`)
    .join(', ');
  const inserts = seedInsertStatements(adapter, tableSql, seed, batchSize);
  try {
    await adapter.transaction(async (tx) => {
      await tx.execute(`CREATE TABLE ${tableSql} (${columnsSql})`);
      for (const sql of inserts) await tx.execute(sql);
    });
  } catch (err) {
    if (!adapter.capabilities.supportsTransactionalDdl) {
      await adapter.dropTable(table, { ifExists: true }).catch(() => undefined);
    }
    throw err;
  }
  return { rows: seed.rows.length, batches: inserts.length };
}
