/**
 * The write strategies per model kind: turning a rendered SELECT (in the
 * warehouse's dialect, reading physical tables) into a model's physical
 * table or view.
 *
 * Every write runs in one transaction, so a failed query, a failed statement
 * or a killed process leaves the table as it was: re-running an interval
 * replaces its rows rather than adding to them.
 */
import type { ColumnInfo, EngineAdapter, TableRef } from '../adapters/engine-adapter.js';
import { EngineError } from '../errors.js';
import type { ColumnDefinition, ModelKind } from '../model-types.js';
import {
  asSubquery,
  columnList,
  rewriteColumns,
  tempTableName,
  unqualifySetTargets,
} from './materialize-sql.js';
import { inclusiveEnd, timeLiteral } from './materialize-time.js';
import { findColumn, scdType2Query, type ScdKind } from './scd-type-2.js';
import { columnTypeSql } from './seed-loader.js';

export interface MaterializeTarget {
  /** The warehouse (PostgreSQL or DuckDB). */
  adapter: EngineAdapter;
  /** The physical table; its schema is created when missing. */
  table: TableRef;
  kind: ModelKind;
  /** Declared columns: when present the table is created with exactly these types. */
  columns?: ColumnDefinition[];
  /** For error messages. */
  modelName: string;
  /** Partition expressions (the model's `partitioned_by`), for INCREMENTAL_BY_PARTITION. */
  partitionedBy?: string[];
  /**
   * The kind's `when_matched` and `merge_filter` rendered (macros expanded);
   * when absent the kind's text is used as written.
   */
  whenMatched?: string;
  mergeFilter?: string;
}

/** One batch: epoch ms, [start, end). */
export interface BatchContext {
  start: number;
  end: number;
  executionTime: number;
  /**
   * The first load of this table (SQLMesh's first insert). SCD Type 2 then
   * builds the table from the query alone, and SCD by column dates first
   * versions 1970-01-01. Defaults to whether the table is empty.
   */
  firstInsert?: boolean;
}

export interface WriteResult {
  /** Rows written, when known. */
  rows?: number;
}

type Kind<N extends ModelKind['name']> = Extract<ModelKind, { name: N }>;

/** What a kind is materialized as. */
function objectKind(kind: ModelKind): 'view' | 'table' | 'none' {
  switch (kind.name) {
    case 'VIEW':
      return kind.materialized ? 'table' : 'view';
    case 'EMBEDDED':
    case 'EXTERNAL':
    case 'SEED':
      return 'none';
    default:
      return 'table';
  }
}

function isScd(kind: ModelKind): kind is ScdKind {
  return kind.name === 'SCD_TYPE_2_BY_TIME' || kind.name === 'SCD_TYPE_2_BY_COLUMN';
}

function notMaterialized(
  target: Pick<MaterializeTarget, 'kind'> & { modelName?: string },
  what: string,
): EngineError {
  const reason =
    target.kind.name === 'SEED'
      ? 'seed tables are created and loaded by the seed loader'
      : `${target.kind.name} models are never materialized`;
  return new EngineError(
    `internal error: ${what} called for ${target.modelName ?? 'a model'} of kind ${target.kind.name}; ${reason}`,
  );
}

/** The kind of the object named `table`, if it exists. */
async function existingObject(
  adapter: EngineAdapter,
  table: TableRef,
): Promise<'table' | 'view' | undefined> {
  return adapter.objectKind(table);
}

/**
 * Creates the physical object if missing: for VIEW kinds a view of the query;
 * otherwise an empty table with the query's columns (declared columns when
 * given, else the types the engine infers). SCD Type 2 tables get their
 * valid_from / valid_to columns. An object of the other sort (a view where a
 * table belongs, or the reverse) is replaced. Idempotent.
 */
export async function createPhysicalTable(
  target: MaterializeTarget,
  querySql: string,
): Promise<void> {
  const sort = objectKind(target.kind);
  if (sort === 'none') throw notMaterialized(target, 'createPhysicalTable');
  await target.adapter.transaction(async (tx) => {
    await ensureObject(tx, target, querySql);
  });
}

/** createPhysicalTable's work, on an adapter already in a transaction. Returns whether it created the table. */
async function ensureObject(
  tx: EngineAdapter,
  target: MaterializeTarget,
  querySql: string,
): Promise<boolean> {
  const { table, kind } = target;
  const sort = objectKind(kind);
  // Creating a schema that exists can still need rights the model's user may lack.
  if (!(await tx.schemaExists(table.schema, table.catalog))) {
    await tx.createSchema(table.schema, table.catalog);
  }
  const existing = await existingObject(tx, table);
  if (sort === 'view') {
    if (existing === 'table') await tx.dropTable(table);
    await tx.createView(table, querySql, { replace: true });
    return existing !== 'view';
  }
  if (existing === 'table') return false;
  if (existing === 'view') await tx.dropView(table);
  const tableSql = tx.tableName(table);
  const q = (n: string): string => tx.quoteIdentifier(n);
  const scd = isScd(kind) ? kind : undefined;
  if (target.columns && target.columns.length > 0) {
    const defs = target.columns.map((c) => {
      // SQLMesh gives an SCD-by-time table's updated_at column the kind's time type.
      const sameAsUpdatedAt =
        scd?.name === 'SCD_TYPE_2_BY_TIME' &&
        c.name.toLowerCase() === scd.updatedAtName.toLowerCase();
      return `${q(c.name)} ${sameAsUpdatedAt ? scd.timeDataType : columnTypeSql(c.type)}`;
    });
    if (scd) {
      for (const managed of [scd.validFromName, scd.validToName]) {
        if (!findColumn(target.columns, managed)) defs.push(`${q(managed)} ${scd.timeDataType}`);
      }
    }
    await tx.execute(`CREATE TABLE IF NOT EXISTS ${tableSql} (${defs.join(', ')})`);
    return true;
  }
  await tx.execute(
    `CREATE TABLE IF NOT EXISTS ${tableSql} AS SELECT * FROM ${asSubquery(querySql)} AS ${q('_q')} WHERE FALSE`,
  );
  if (scd) {
    const columns = await tx.columns(table);
    for (const managed of [scd.validFromName, scd.validToName]) {
      if (!findColumn(columns, managed)) {
        await tx.execute(`ALTER TABLE ${tableSql} ADD COLUMN ${q(managed)} ${scd.timeDataType}`);
      }
    }
  }
  return true;
}

/** Drops the physical object (table or view), if it exists. */
export async function dropPhysicalTable(
  target: Pick<MaterializeTarget, 'adapter' | 'table' | 'kind'>,
): Promise<void> {
  const { adapter, table } = target;
  const existing = await existingObject(adapter, table);
  if (existing === 'view') await adapter.dropView(table);
  else if (existing === 'table') await adapter.dropTable(table);
}

/**
 * Writes one batch and returns the rows written when known. Atomic: a
 * failure (or a killed process) leaves the table as it was before the call.
 * Creates the table first when it is missing.
 */
export async function writeBatch(
  target: MaterializeTarget,
  querySql: string,
  batch: BatchContext,
): Promise<WriteResult> {
  const { kind } = target;
  if (objectKind(kind) === 'none') throw notMaterialized(target, 'writeBatch');
  if (batch.end < batch.start) {
    throw new EngineError(
      `internal error: batch for ${target.modelName} ends (${batch.end}) before it starts (${batch.start})`,
    );
  }
  return target.adapter.transaction(async (tx) => {
    const created = await ensureObject(tx, target, querySql);
    const w = new Writer(tx, target, querySql);
    switch (kind.name) {
      case 'VIEW':
        return kind.materialized ? w.replaceAll() : {};
      case 'FULL':
        return w.replaceAll();
      case 'INCREMENTAL_UNMANAGED':
        return kind.insertOverwrite ? w.replaceAll() : w.append();
      case 'INCREMENTAL_BY_TIME_RANGE':
        return w.replaceInterval(kind, batch);
      case 'INCREMENTAL_BY_UNIQUE_KEY':
        return w.upsert(kind);
      case 'INCREMENTAL_BY_PARTITION':
        return w.replacePartitions();
      case 'SCD_TYPE_2_BY_TIME':
      case 'SCD_TYPE_2_BY_COLUMN':
        return w.scdType2(kind, batch, created);
      default:
        throw notMaterialized(target, 'writeBatch');
    }
  });
}

/** The statements of one write, on a transaction's adapter. */
class Writer {
  private readonly tableSql: string;
  private columnsCache: ColumnInfo[] | undefined;

  constructor(
    private readonly tx: EngineAdapter,
    private readonly target: MaterializeTarget,
    private readonly querySql: string,
  ) {
    this.tableSql = tx.tableName(target.table);
  }

  private q(name: string): string {
    return this.tx.quoteIdentifier(name);
  }

  private async columns(): Promise<ColumnInfo[]> {
    this.columnsCache ??= await this.tx.columns(this.target.table);
    if (this.columnsCache.length === 0) {
      throw new EngineError(
        `model ${this.target.modelName}: table ${this.tableSql} has no columns`,
      );
    }
    return this.columnsCache;
  }

  private async names(): Promise<string[]> {
    return (await this.columns()).map((c) => c.name);
  }

  /**
   * The table's columns as selected from the query, in table order; cast to
   * their declared types when the model declares columns (as SQLMesh coerces
   * the query of a model whose column types are all known).
   */
  private async projection(): Promise<string> {
    const declared = this.target.columns ?? [];
    return (await this.names())
      .map((name) => {
        const type = findColumn(declared, name)?.type;
        const col = this.q(name);
        return type === undefined ? col : `CAST(${col} AS ${columnTypeSql(type)}) AS ${col}`;
      })
      .join(', ');
  }

  /** The query's rows projected onto the table's columns, optionally filtered. */
  private async projected(where?: string): Promise<string> {
    const filter = where ? ` WHERE ${where}` : '';
    return `SELECT ${await this.projection()} FROM ${asSubquery(this.querySql)} AS ${this.q('_subquery')}${filter}`;
  }

  private async insertFrom(selectSql: string): Promise<void> {
    const list = columnList(this.tx, await this.names());
    await this.tx.execute(`INSERT INTO ${this.tableSql} (${list}) ${selectSql}`);
  }

  private async count(from: string, where?: string): Promise<number> {
    const result = await this.tx.query(
      `SELECT COUNT(*) AS ${this.q('n')} FROM ${from}${where ? ` WHERE ${where}` : ''}`,
    );
    return Number(result.rows[0]?.['n'] ?? 0);
  }

  /** Stages `selectSql` in a temporary table, dropped at the end of `fn`. */
  private async staged<T>(selectSql: string, fn: (name: string) => Promise<T>): Promise<T> {
    const name = this.q(tempTableName('stage'));
    await this.tx.execute(`CREATE TEMPORARY TABLE ${name} AS ${selectSql}`);
    const result = await fn(name);
    await this.tx.execute(`DROP TABLE ${name}`);
    return result;
  }

  async replaceAll(): Promise<WriteResult> {
    await this.tx.execute(`DELETE FROM ${this.tableSql}`);
    await this.insertFrom(await this.projected());
    return { rows: await this.count(this.tableSql) };
  }

  async append(): Promise<WriteResult> {
    await this.insertFrom(await this.projected());
    return {};
  }

  async replaceInterval(
    kind: Kind<'INCREMENTAL_BY_TIME_RANGE'>,
    batch: BatchContext,
  ): Promise<WriteResult> {
    const { column, format } = kind.timeColumn;
    const col = findColumn(await this.columns(), column);
    if (!col) {
      throw new EngineError(
        `model ${this.target.modelName}: time_column ${column} is not a column of ${this.tableSql}; ` +
          'make the query return it or fix time_column',
      );
    }
    const what = `model ${this.target.modelName}: time_column ${col.name}`;
    const fmt = format ?? '%Y-%m-%d';
    const low = timeLiteral({ ms: batch.start, micros: 0 }, col.type, fmt, what);
    const high = timeLiteral(inclusiveEnd(batch.end), col.type, fmt, what);
    const where = `${this.q(col.name)} BETWEEN ${low} AND ${high}`;
    await this.tx.execute(`DELETE FROM ${this.tableSql} WHERE ${where}`);
    await this.insertFrom(await this.projected(where));
    return { rows: await this.count(this.tableSql, where) };
  }

  async upsert(kind: Kind<'INCREMENTAL_BY_UNIQUE_KEY'>): Promise<WriteResult> {
    const names = await this.names();
    const keys = kind.uniqueKey;
    if (keys.length === 0) {
      throw new EngineError(
        `model ${this.target.modelName}: INCREMENTAL_BY_UNIQUE_KEY needs a unique_key`,
      );
    }
    const whenMatched = this.target.whenMatched ?? kind.whenMatched;
    const mergeFilter = this.target.mergeFilter ?? kind.mergeFilter;
    const useMerge = this.tx.capabilities.supportsMerge;
    if (!useMerge && (whenMatched || mergeFilter)) {
      const what = whenMatched ? 'when_matched' : 'merge_filter';
      throw new EngineError(
        `model ${this.target.modelName}: ${what} needs MERGE, which this ${this.tx.dialect} ` +
          `version lacks; remove ${what} or upgrade the engine`,
      );
    }
    // One row per key, as SQLMesh keeps (which one is unspecified).
    const dedup =
      `SELECT DISTINCT ON (${keys.map((k) => `(${k})`).join(', ')}) ${await this.projection()} ` +
      `FROM ${asSubquery(this.querySql)} AS ${this.q('_subquery')}`;
    return this.staged(dedup, async (source) => {
      const rows = await this.count(source);
      if (useMerge) {
        await this.merge(source, names, keys, whenMatched, mergeFilter);
        return { rows };
      }
      const keyAliases = keys.map((_, i) => this.q(`__k${i}`));
      const keysFromSource = keys.map((k, i) => `(${k}) AS ${keyAliases[i]}`).join(', ');
      const matches = keys.map((k, i) => `${this.q('__keys')}.${keyAliases[i]} = (${k})`);
      // Inside the EXISTS, `__keys` has only the __k columns, so the keys' own columns are the table's.
      await this.tx.execute(
        `DELETE FROM ${this.tableSql} WHERE EXISTS (SELECT 1 FROM (SELECT ${keysFromSource} FROM ${source}) ` +
          `AS ${this.q('__keys')} WHERE ${matches.join(' AND ')})`,
      );
      await this.insertFrom(`SELECT ${columnList(this.tx, names)} FROM ${source}`);
      return { rows };
    });
  }

  private async merge(
    source: string,
    names: string[],
    keys: string[],
    whenMatched: string | undefined,
    mergeFilter: string | undefined,
  ): Promise<void> {
    const t = this.q('target');
    const s = this.q('source');
    const on = keys.map(
      (k) =>
        `(${rewriteColumns(k, names, (c) => `${t}.${this.q(c)}`)}) = ` +
        `(${rewriteColumns(k, names, (c) => `${s}.${this.q(c)}`)})`,
    );
    if (mergeFilter) on.unshift(`(${mergeFilter})`);
    const matched = whenMatched
      ? unqualifySetTargets(whenMatched)
      : `WHEN MATCHED THEN UPDATE SET ${names.map((c) => `${this.q(c)} = ${s}.${this.q(c)}`).join(', ')}`;
    await this.tx.execute(
      `MERGE INTO ${this.tableSql} AS ${t} USING ${source} AS ${s} ON ${on.join(' AND ')} ` +
        `${matched} WHEN NOT MATCHED THEN INSERT (${columnList(this.tx, names)}) ` +
        `VALUES (${names.map((c) => `${s}.${this.q(c)}`).join(', ')})`,
    );
  }

  async replacePartitions(): Promise<WriteResult> {
    const partitions = this.target.partitionedBy ?? [];
    if (partitions.length === 0) {
      throw new EngineError(
        `model ${this.target.modelName}: INCREMENTAL_BY_PARTITION needs partitioned_by; ` +
          'add partitioned_by to the MODEL block',
      );
    }
    return this.staged(await this.projected(), async (source) => {
      const aliases = partitions.map((_, i) => this.q(`__p${i}`));
      const fromSource = partitions.map((p, i) => `(${p}) AS ${aliases[i]}`).join(', ');
      const matches = partitions.map(
        (p, i) => `${this.q('__parts')}.${aliases[i]} IS NOT DISTINCT FROM (${p})`,
      );
      await this.tx.execute(
        `DELETE FROM ${this.tableSql} WHERE EXISTS (SELECT 1 FROM (SELECT DISTINCT ${fromSource} ` +
          `FROM ${source}) AS ${this.q('__parts')} WHERE ${matches.join(' AND ')})`,
      );
      await this.insertFrom(`SELECT ${columnList(this.tx, await this.names())} FROM ${source}`);
      return { rows: await this.count(source) };
    });
  }

  async scdType2(kind: ScdKind, batch: BatchContext, created: boolean): Promise<WriteResult> {
    const firstLoad =
      batch.firstInsert ??
      (created ||
        (await this.tx.query(`SELECT 1 AS ${this.q('x')} FROM ${this.tableSql} LIMIT 1`)).rows
          .length === 0);
    const select = scdType2Query({
      adapter: this.tx,
      tableSql: this.tableSql,
      columns: await this.columns(),
      kind,
      querySql: this.querySql,
      declared: this.target.columns,
      executionTime: batch.executionTime,
      firstLoad,
      modelName: this.target.modelName,
    });
    return this.staged(select, async (contents) => {
      await this.tx.execute(`DELETE FROM ${this.tableSql}`);
      await this.insertFrom(`SELECT ${columnList(this.tx, await this.names())} FROM ${contents}`);
      return { rows: await this.count(contents) };
    });
  }
}
