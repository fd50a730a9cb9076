/**
 * The warehouses the state tests run on: DuckDB in memory and a PostgreSQL
 * database of its own per test file. Each engine hands out adapters; the
 * real ones from the adapter factory when it exists, else a small adapter
 * over the drivers with just what the state store uses.
 */

import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import pg from 'pg';
import type {
  AdapterCapabilities,
  ColumnInfo,
  EngineAdapter,
  QueryResult,
  Row,
  TableRef,
} from '../../../src/engine/adapters/engine-adapter.js';
import { startTestPostgres, type TestPostgres } from '../../helpers/pg-server.js';
import { repoRoot } from '../../helpers/paths.js';

export interface TestEngine {
  name: 'duckdb' | 'postgres';
  /** A new adapter on the engine's shared database. */
  adapter(): Promise<EngineAdapter>;
  /** Drops what the engine created (the PostgreSQL database, the DuckDB instance). */
  stop(): Promise<void>;
}

/** A schema name no other test uses. */
export function uniqueSchema(prefix = 'state'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function notUsed(what: string): never {
  throw new Error(`${what} is not implemented by the state test adapter`);
}

const capabilities: AdapterCapabilities = {
  supportsMerge: true,
  supportsTransactionalDdl: true,
  supportsReplaceView: true,
  supportsMultipleCatalogs: false,
  maxIdentifierLength: 63,
};

interface Runner {
  query(sql: string): Promise<QueryResult>;
}

/** The parts of EngineAdapter shared by both test adapters. */
abstract class SmallAdapter implements EngineAdapter {
  abstract readonly dialect: string;
  abstract readonly defaultCatalog: string;
  readonly capabilities = capabilities;
  protected abstract runner(): Runner;
  abstract transaction<T>(fn: (tx: EngineAdapter) => Promise<T>): Promise<T>;
  abstract close(): Promise<void>;

  async execute(sql: string): Promise<void> {
    await this.runner().query(sql);
  }
  async query<R extends Row = Row>(sql: string): Promise<QueryResult<R>> {
    return (await this.runner().query(sql)) as QueryResult<R>;
  }
  async createSchema(schema: string): Promise<void> {
    await this.execute(`CREATE SCHEMA IF NOT EXISTS ${quote(schema)}`);
  }
  async dropSchema(schema: string, options?: { cascade?: boolean }): Promise<void> {
    await this.execute(
      `DROP SCHEMA IF EXISTS ${quote(schema)}${options?.cascade ? ' CASCADE' : ''}`,
    );
  }
  async schemaExists(schema: string): Promise<boolean> {
    const { rows } = await this.query(
      `SELECT 1 AS x FROM information_schema.schemata WHERE schema_name = '${schema.replace(/'/g, "''")}'`,
    );
    return rows.length > 0;
  }
  async tableExists(table: TableRef): Promise<boolean> {
    const { rows } = await this.query(
      `SELECT 1 AS x FROM information_schema.tables WHERE table_schema = '${table.schema.replace(/'/g, "''")}' AND table_name = '${table.name.replace(/'/g, "''")}'`,
    );
    return rows.length > 0;
  }
  async objectKind(table: TableRef): Promise<'table' | 'view' | undefined> {
    return (await this.tableExists(table)) ? 'table' : undefined;
  }
  async columns(): Promise<ColumnInfo[]> {
    return notUsed('columns');
  }
  async listObjects(schema: string): Promise<Array<{ name: string; kind: 'table' | 'view' }>> {
    const { rows } = await this.query(
      `SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = '${schema.replace(/'/g, "''")}' ORDER BY table_name`,
    );
    return rows.map((r) => ({
      name: String(r.table_name),
      kind: String(r.table_type) === 'VIEW' ? 'view' : 'table',
    }));
  }
  async dropTable(): Promise<void> {
    notUsed('dropTable');
  }
  async dropView(): Promise<void> {
    notUsed('dropView');
  }
  async createView(): Promise<void> {
    notUsed('createView');
  }
  quoteIdentifier(name: string): string {
    return quote(name);
  }
  tableName(table: TableRef): string {
    return `${quote(table.schema)}.${quote(table.name)}`;
  }
  async ping(): Promise<void> {
    await this.query('SELECT 1 AS x');
  }
  async cancel(): Promise<void> {
    notUsed('cancel');
  }
}

function duckRunner(conn: DuckDBConnection): Runner {
  return {
    async query(sql) {
      const reader = await conn.runAndReadAll(sql);
      const names = reader.columnNames();
      const types = reader.columnTypes();
      return {
        columns: names.map((name, i) => ({ name, type: String(types[i]) })),
        rows: reader.getRowObjects() as Row[],
      };
    },
  };
}

class DuckAdapter extends SmallAdapter {
  readonly dialect = 'duckdb';
  readonly defaultCatalog = 'state';
  constructor(
    private readonly instance: DuckDBInstance,
    private readonly conn: DuckDBConnection,
    private readonly inTransaction = false,
  ) {
    super();
  }
  protected runner(): Runner {
    return duckRunner(this.conn);
  }
  async transaction<T>(fn: (tx: EngineAdapter) => Promise<T>): Promise<T> {
    if (this.inTransaction) return await fn(this);
    const conn = await this.instance.connect();
    const tx = new DuckAdapter(this.instance, conn, true);
    try {
      await conn.run('BEGIN TRANSACTION');
      try {
        const result = await fn(tx);
        await conn.run('COMMIT');
        return result;
      } catch (err) {
        await conn.run('ROLLBACK').catch(() => {});
        throw err;
      }
    } finally {
      conn.closeSync();
    }
  }
  async close(): Promise<void> {
    if (!this.inTransaction) this.conn.closeSync();
  }
}

interface PgQueryable {
  query(sql: string): Promise<pg.QueryResult>;
}

function pgRunner(client: PgQueryable): Runner {
  return {
    async query(sql) {
      const result = await client.query(sql);
      // Several statements in one string yield one result each; keep the last.
      const last = (Array.isArray(result) ? result[result.length - 1] : result) as pg.QueryResult;
      return {
        columns: (last.fields ?? []).map((f) => ({ name: f.name, type: String(f.dataTypeID) })),
        rows: (last.rows ?? []) as Row[],
      };
    },
  };
}

class PgAdapter extends SmallAdapter {
  readonly dialect = 'postgres';
  constructor(
    readonly defaultCatalog: string,
    private readonly pool: pg.Pool,
    private readonly client?: pg.PoolClient,
  ) {
    super();
  }
  protected runner(): Runner {
    return pgRunner(this.client ?? this.pool);
  }
  async transaction<T>(fn: (tx: EngineAdapter) => Promise<T>): Promise<T> {
    if (this.client) return await fn(this);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      try {
        const result = await fn(new PgAdapter(this.defaultCatalog, this.pool, client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
    } finally {
      client.release();
    }
  }
  async close(): Promise<void> {
    if (!this.client) await this.pool.end();
  }
}

/** The adapter factory's `createAdapter`, when it has been written. */
type CreateAdapter = (
  config: Record<string, unknown>,
  options: { projectRoot: string },
) => Promise<EngineAdapter> | EngineAdapter;

const usePrivate = process.env.TIDELINE_STATE_TEST_ADAPTER === 'private';

async function compiledModule<M>(file: string): Promise<M | undefined> {
  const path = join(repoRoot, 'dist', 'src', 'engine', 'adapters', file);
  if (usePrivate || !existsSync(path)) return undefined;
  return (await import(pathToFileURL(path).href)) as M;
}

/** The real adapters: from the factory, else the DuckDB adapter alone; undefined when absent. */
async function realAdapter(
  config: Record<string, unknown>,
  projectRoot: string,
): Promise<EngineAdapter | undefined> {
  const factory = await compiledModule<{ createAdapter?: CreateAdapter }>('adapter-factory.js');
  if (factory?.createAdapter) return await factory.createAdapter(config, { projectRoot });
  if (config.type !== 'duckdb') return undefined;
  type DuckCtor = new (
    config: Record<string, unknown>,
    options: { projectRoot: string },
  ) => EngineAdapter;
  const duck = await compiledModule<{ DuckDbAdapter?: DuckCtor }>('duckdb-adapter.js');
  return duck?.DuckDbAdapter ? new duck.DuckDbAdapter(config, { projectRoot }) : undefined;
}

/** Which adapters the tests ran on, for the test output. */
export function adapterKind(adapter: EngineAdapter): string {
  return adapter instanceof SmallAdapter ? 'private test adapter' : adapter.constructor.name;
}

export async function duckdbEngine(): Promise<TestEngine> {
  // One DuckDB file per test file, so that every adapter sees the same data.
  const dir = mkdtempSync(join(tmpdir(), 'tideline-state-'));
  const config = {
    type: 'duckdb',
    database: join(dir, 'state.duckdb'),
    catalogs: {},
    extensions: [],
    connectorConfig: {},
    concurrentTasks: 4,
  };
  const adapters: EngineAdapter[] = [];
  let instance: DuckDBInstance | undefined;
  return {
    name: 'duckdb',
    async adapter() {
      let a = await realAdapter(config, dir);
      if (!a) {
        instance ??= await DuckDBInstance.create(config.database);
        a = new DuckAdapter(instance, await instance.connect());
      }
      adapters.push(a);
      return a;
    },
    async stop() {
      for (const a of adapters) await a.close().catch(() => {});
      instance?.closeSync();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function postgresEngine(): Promise<TestEngine> {
  let server: TestPostgres | undefined;
  let url = process.env.TIDELINE_TEST_PG_URL;
  if (!url) {
    server = await startTestPostgres();
    url = server.url;
  }
  const database = uniqueSchema('tideline_state');
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${quote(database)}`);
  const dbUrl = new URL(url);
  dbUrl.pathname = `/${database}`;
  const adapters: EngineAdapter[] = [];
  return {
    name: 'postgres',
    async adapter() {
      const config = {
        type: 'postgres',
        host: dbUrl.hostname,
        port: Number(dbUrl.port),
        user: decodeURIComponent(dbUrl.username),
        password: decodeURIComponent(dbUrl.password),
        database,
        connectTimeout: 10,
        concurrentTasks: 4,
      };
      const a =
        (await realAdapter(config, repoRoot)) ??
        new PgAdapter(database, new pg.Pool({ connectionString: dbUrl.href, max: 4 }));
      adapters.push(a);
      return a;
    },
    async stop() {
      for (const a of adapters) await a.close().catch(() => {});
      await admin.query(`DROP DATABASE IF EXISTS ${quote(database)} WITH (FORCE)`);
      await admin.end();
      await server?.stop();
    },
  };
}

/** Both engines, for `for (const engine of ENGINES)` loops in test files. */
export const ENGINES: ReadonlyArray<{ name: string; start: () => Promise<TestEngine> }> = [
  { name: 'duckdb', start: duckdbEngine },
  { name: 'postgres', start: postgresEngine },
];
