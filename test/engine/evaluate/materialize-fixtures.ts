/**
 * Shared set-up for the materialization tests: an engine suite runner over
 * DuckDB and PostgreSQL, model kinds with defaults, and small helpers.
 */
import { after, before, describe } from 'node:test';
import { createAdapter } from '../../../src/engine/adapters/adapter-factory.js';
import type { EngineAdapter, Row, TableRef } from '../../../src/engine/adapters/engine-adapter.js';
import type { ModelKind } from '../../../src/engine/model-types.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../../helpers/postgres.js';

// Start (or find) the PostgreSQL server at the top level of the test file, so
// that a server started here lives until the file's tests are done.
await testServerUrl();

/** Epoch ms of a UTC time written `YYYY-MM-DD[ HH:MM[:SS]]`. */
export function at(text: string): number {
  const iso = text.length === 10 ? `${text}T00:00:00Z` : `${text.replace(' ', 'T')}Z`;
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`bad time ${text}`);
  return ms;
}

const incremental = {
  lookback: 0,
  forwardOnly: false,
  disableRestatement: false,
  onDestructiveChange: 'error' as const,
};

export const kinds = {
  full: (): ModelKind => ({ name: 'FULL' }),
  view: (materialized = false): ModelKind => ({ name: 'VIEW', materialized }),
  byTime: (column = 'ds', format = '%Y-%m-%d'): ModelKind => ({
    name: 'INCREMENTAL_BY_TIME_RANGE',
    timeColumn: { column, format },
    ...incremental,
  }),
  byKey: (
    uniqueKey: string[],
    extra: { whenMatched?: string; mergeFilter?: string } = {},
  ): ModelKind => ({ name: 'INCREMENTAL_BY_UNIQUE_KEY', uniqueKey, ...extra, ...incremental }),
  byPartition: (): ModelKind => ({ name: 'INCREMENTAL_BY_PARTITION', ...incremental }),
  unmanaged: (insertOverwrite = false): ModelKind => ({
    name: 'INCREMENTAL_UNMANAGED',
    insertOverwrite,
    forwardOnly: false,
  }),
  scdByTime: (
    extra: Partial<{
      invalidateHardDeletes: boolean;
      updatedAtAsValidFrom: boolean;
      updatedAtName: string;
      validFromName: string;
      validToName: string;
    }> = {},
  ): ModelKind => ({
    name: 'SCD_TYPE_2_BY_TIME',
    uniqueKey: ['id'],
    updatedAtName: 'updated_at',
    updatedAtAsValidFrom: false,
    validFromName: 'valid_from',
    validToName: 'valid_to',
    invalidateHardDeletes: false,
    timeDataType: 'TIMESTAMP',
    forwardOnly: false,
    disableRestatement: true,
    ...extra,
  }),
  scdByColumn: (
    columns: string[] | '*',
    extra: Partial<{ invalidateHardDeletes: boolean; executionTimeAsValidFrom: boolean }> = {},
  ): ModelKind => ({
    name: 'SCD_TYPE_2_BY_COLUMN',
    uniqueKey: ['id'],
    columns,
    executionTimeAsValidFrom: false,
    validFromName: 'valid_from',
    validToName: 'valid_to',
    invalidateHardDeletes: false,
    timeDataType: 'TIMESTAMP',
    forwardOnly: false,
    disableRestatement: true,
    ...extra,
  }),
};

/** The adapter with MERGE reported missing, as on PostgreSQL before 15. */
export function withoutMerge(adapter: EngineAdapter): EngineAdapter {
  return new Proxy(adapter, {
    get(target, prop) {
      if (prop === 'capabilities') return { ...target.capabilities, supportsMerge: false };
      if (prop === 'transaction') {
        return <T>(fn: (tx: EngineAdapter) => Promise<T>) =>
          target.transaction((tx) => fn(withoutMerge(tx)));
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function'
        ? (value as (...a: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}

export interface EngineContext {
  adapter: EngineAdapter;
  /** A new table name in the test schema. */
  table(): TableRef;
  /** Creates (or replaces) a source table from a SELECT and returns its quoted name. */
  source(name: string, selectSql: string): Promise<string>;
  /** Every row of `table`, ordered by `order`. */
  rows(table: TableRef, order?: string): Promise<Row[]>;
}

/** Runs `body` as a suite on DuckDB (in memory) and on a fresh PostgreSQL database. */
export function engineSuites(title: string, body: (ctx: () => EngineContext) => void): void {
  const engines: Array<{
    name: string;
    open: () => Promise<{ adapter: EngineAdapter; close: () => Promise<void> }>;
  }> = [
    {
      name: 'DuckDB',
      open: async () => ({
        adapter: createAdapter(
          { type: 'duckdb', catalogs: {}, extensions: [], connectorConfig: {}, concurrentTasks: 1 },
          { projectRoot: '.' },
        ),
        close: async () => undefined,
      }),
    },
    {
      name: 'PostgreSQL',
      open: async () => {
        const db: TestDatabase = await createTestDatabase();
        return { adapter: createAdapter(db.config, { projectRoot: '.' }), close: () => db.drop() };
      },
    },
  ];
  for (const engine of engines) {
    describe(`${title} on ${engine.name}`, () => {
      let context: EngineContext | undefined;
      let close: (() => Promise<void>) | undefined;
      before(async () => {
        const opened = await engine.open();
        const adapter = opened.adapter;
        close = async () => {
          await adapter.close();
          await opened.close();
        };
        await adapter.createSchema('src');
        let n = 0;
        context = {
          adapter,
          table: () => ({ schema: 'mat', name: `t${++n}` }),
          async source(name, selectSql) {
            const ref = adapter.tableName({ schema: 'src', name });
            await adapter.execute(`DROP TABLE IF EXISTS ${ref}`);
            await adapter.execute(`CREATE TABLE ${ref} AS ${selectSql}`);
            return ref;
          },
          async rows(table, order = '1') {
            return (
              await adapter.query(`SELECT * FROM ${adapter.tableName(table)} ORDER BY ${order}`)
            ).rows;
          },
        };
      });
      after(async () => {
        await close?.();
      });
      body(() => {
        if (!context) throw new Error('engine not open');
        return context;
      });
    });
  }
}
