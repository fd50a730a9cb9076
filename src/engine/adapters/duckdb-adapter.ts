/**
 * The DuckDB adapter: an in-process database (a file or `:memory:`) reached
 * through @duckdb/node-api, with extra catalogs attached, extensions loaded and
 * settings applied when it opens.
 *
 * One DuckDB instance serves every adapter of the process that names the same
 * data file (the file can only be opened once per process); it is closed when
 * the last of them closes. Each adapter keeps up to `concurrentTasks`
 * connections for plain statements, and a transaction gets a connection of
 * its own.
 */
import { basename, isAbsolute, resolve } from 'node:path';
import { DuckDBInstance, version as duckDbVersion } from '@duckdb/node-api';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { DuckDbConnectionConfig } from '../config/config-types.js';
import { ConfigError, EngineError } from '../errors.js';
import {
  ConnectionError,
  QueryCancelledError,
  describeConnectionError,
  firstLine,
  sqlExcerpt,
} from './adapter-errors.js';
import { duckDbTypeName, plainValueConverter } from './duckdb-values.js';
import type {
  AdapterCapabilities,
  ColumnInfo,
  EngineAdapter,
  QueryResult,
  Row,
  TableRef,
} from './engine-adapter.js';
import { SqlAdapter, quoteDoubled, quoteLiteral } from './sql-adapter.js';

const MEMORY = ':memory:';

/** The DuckDB library version as numbers, e.g. [1, 5, 6]. */
function libraryVersion(): number[] {
  return duckDbVersion()
    .replace(/^v/, '')
    .split('.')
    .map((p) => Number.parseInt(p, 10) || 0);
}

/** MERGE INTO arrived in DuckDB 1.4. */
function duckDbSupportsMerge(): boolean {
  const [major = 0, minor = 0] = libraryVersion();
  return major > 1 || (major === 1 && minor >= 4);
}

/** A path with a URL-like scheme (`md:`, `s3://`) is handed to DuckDB as written. */
function isLocalPath(path: string): boolean {
  return path !== MEMORY && !/^[A-Za-z][A-Za-z0-9+.-]+:/.test(path);
}

/**
 * The catalog DuckDB names a database file after: its base name up to the
 * first dot (`data/db.duckdb` -> `db`).
 */
export function duckDbCatalogForPath(path: string): string {
  if (path === MEMORY) return 'memory';
  const base = basename(path);
  const stem = base.split('.')[0];
  return stem || base;
}

/** The default catalog of a DuckDB connection config (SQLMesh's rule). */
export function duckDbDefaultCatalog(config: DuckDbConnectionConfig): string {
  if (config.database && config.database !== MEMORY) return duckDbCatalogForPath(config.database);
  const first = Object.keys(config.catalogs)[0];
  return first ?? 'memory';
}

// --- instances shared within the process ----------------------------------

interface SharedInstance {
  instance: DuckDBInstance;
  /** Absolute paths of the data files open in this instance. */
  files: Set<string>;
  refs: number;
}

const sharedInstances = new Set<SharedInstance>();
let openQueue: Promise<unknown> = Promise.resolve();

/** Runs `fn` after every earlier open has finished, so that two opens of one file never race. */
function serially<T>(fn: () => Promise<T>): Promise<T> {
  const run = openQueue.then(fn, fn);
  openQueue = run.catch(() => undefined);
  return run;
}

/** Finds the instance holding any of `files`, or creates one on `mainPath`. Call inside serially(). */
async function acquireInstance(mainPath: string, files: string[]): Promise<SharedInstance> {
  for (const shared of sharedInstances) {
    if (files.some((f) => shared.files.has(f))) {
      shared.refs += 1;
      return shared;
    }
  }
  const instance = await DuckDBInstance.create(mainPath);
  const shared: SharedInstance = { instance, files: new Set(files), refs: 1 };
  if (files.length > 0) sharedInstances.add(shared);
  return shared;
}

function releaseInstance(shared: SharedInstance): void {
  shared.refs -= 1;
  if (shared.refs > 0) return;
  sharedInstances.delete(shared);
  shared.instance.closeSync();
}

// --- a small connection pool -------------------------------------------------

class ConnectionPool {
  private readonly idle: DuckDBConnection[] = [];
  private readonly waiters: Array<{
    resolve: (c: DuckDBConnection) => void;
    reject: (err: Error) => void;
  }> = [];
  private count = 0;
  private closed = false;

  constructor(
    private readonly open: () => Promise<DuckDBConnection>,
    private readonly max: number,
  ) {}

  async acquire(): Promise<DuckDBConnection> {
    if (this.closed) throw new EngineError('DuckDB adapter is closed');
    const idle = this.idle.pop();
    if (idle) return idle;
    if (this.count < this.max) {
      this.count += 1;
      try {
        return await this.open();
      } catch (err) {
        this.count -= 1;
        throw err;
      }
    }
    return await new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  release(connection: DuckDBConnection): void {
    if (this.closed) {
      connection.closeSync();
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(connection);
    else this.idle.push(connection);
  }

  /** Refuses new work, fails the queued requests and closes idle connections. */
  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new EngineError('DuckDB adapter is closed'));
    for (const c of this.idle.splice(0)) c.closeSync();
  }
}

// --- the adapter -------------------------------------------------------------

/** State shared by an adapter and the transaction adapters it hands out. */
interface DuckDbState {
  config: DuckDbConnectionConfig;
  /** Absolute path of the main database file, or `:memory:`. */
  mainPath: string;
  /** Catalog name -> path to attach (absolute when local). */
  attach: Array<[string, string]>;
  defaultCatalog: string;
  opened?: Promise<{ shared: SharedInstance; pool: ConnectionPool }>;
  /** Connections with a statement in flight, for cancel(). */
  running: Map<DuckDBConnection, number>;
  /** Statements in flight, awaited by close(). */
  inFlight: Set<Promise<unknown>>;
  closed: boolean;
}

export interface DuckDbAdapterOptions {
  /** Relative database and catalog paths are resolved against this folder. */
  projectRoot: string;
}

export class DuckDbAdapter extends SqlAdapter {
  readonly dialect = 'duckdb';
  readonly capabilities: AdapterCapabilities = {
    supportsMerge: duckDbSupportsMerge(),
    supportsTransactionalDdl: true,
    supportsReplaceView: true,
    supportsMultipleCatalogs: true,
    maxIdentifierLength: Number.MAX_SAFE_INTEGER,
  };
  readonly defaultCatalog: string;

  private readonly state: DuckDbState;
  /** Set on transaction adapters: the connection the transaction runs on. */
  private readonly pinned: { connection: DuckDBConnection; queue: Promise<unknown> } | undefined;

  constructor(config: DuckDbConnectionConfig, options: DuckDbAdapterOptions);
  constructor(state: DuckDbState, pinned: DuckDBConnection);
  constructor(
    configOrState: DuckDbConnectionConfig | DuckDbState,
    optionsOrConnection: DuckDbAdapterOptions | DuckDBConnection,
  ) {
    super();
    if ('type' in configOrState) {
      const config = configOrState;
      const root = (optionsOrConnection as DuckDbAdapterOptions).projectRoot;
      const local = (p: string): string =>
        isLocalPath(p) && !isAbsolute(p) ? resolve(root, p) : p;
      const database = config.database && config.database !== MEMORY ? config.database : MEMORY;
      this.state = {
        config,
        mainPath: local(database),
        attach: Object.entries(config.catalogs).map(([name, path]) => [name, local(path)]),
        defaultCatalog: duckDbDefaultCatalog(config),
        running: new Map(),
        inFlight: new Set(),
        closed: false,
      };
      this.pinned = undefined;
    } else {
      this.state = configOrState;
      this.pinned = {
        connection: optionsOrConnection as DuckDBConnection,
        queue: Promise.resolve(),
      };
    }
    this.defaultCatalog = this.state.defaultCatalog;
  }

  // -- opening -----------------------------------------------------------------

  private open(): Promise<{ shared: SharedInstance; pool: ConnectionPool }> {
    const state = this.state;
    if (state.closed) return Promise.reject(new EngineError('DuckDB adapter is closed'));
    for (const key of Object.keys(state.config.connectorConfig)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
        return Promise.reject(
          new ConfigError(
            `connection.connector_config.${key}`,
            'not a DuckDB setting name (letters, digits and underscores only)',
          ),
        );
      }
    }
    state.opened ??= this.openInstance();
    return state.opened;
  }

  private openInstance(): Promise<{ shared: SharedInstance; pool: ConnectionPool }> {
    const state = this.state;
    const files = [state.mainPath, ...state.attach.map(([, p]) => p)].filter((p) => p !== MEMORY);
    return serially(async () => {
      let shared: SharedInstance;
      try {
        shared = await acquireInstance(state.mainPath, files);
      } catch (err) {
        state.opened = undefined;
        throw new ConnectionError('DuckDB', describeConnectionError(err), { cause: err });
      }
      try {
        const setup = await shared.instance.connect();
        try {
          await this.loadExtensions(setup);
          for (const [name, path] of state.attach) {
            await runStatement(
              setup,
              `ATTACH IF NOT EXISTS ${quoteLiteral(path)} AS ${quoteDoubled(name)}`,
            );
          }
        } finally {
          setup.closeSync();
        }
      } catch (err) {
        releaseInstance(shared);
        state.opened = undefined;
        throw err;
      }
      for (const f of files) shared.files.add(f);
      const max = Math.max(1, state.config.concurrentTasks);
      const pool = new ConnectionPool(() => this.newConnection(shared), max);
      return { shared, pool };
    });
  }

  private async loadExtensions(connection: DuckDBConnection): Promise<void> {
    for (const name of this.state.config.extensions) {
      const ident = quoteDoubled(name);
      try {
        await connection.run(`LOAD ${ident}`);
        continue;
      } catch (loadErr) {
        try {
          await connection.run(`INSTALL ${ident}`);
          await connection.run(`LOAD ${ident}`);
        } catch {
          throw new EngineError(
            `DuckDB extension "${name}" could not be loaded: ${firstLine(errorMessage(loadErr))}; ` +
              `install it once with network access (INSTALL ${name}) or remove it from the connection's extensions`,
            { cause: loadErr },
          );
        }
      }
    }
  }

  /** A new connection with the default catalog selected and the settings applied. */
  private async newConnection(shared: SharedInstance): Promise<DuckDBConnection> {
    const connection = await shared.instance.connect();
    try {
      await runStatement(connection, `USE ${quoteDoubled(this.state.defaultCatalog)}`);
      const settings = Object.entries(this.state.config.connectorConfig);
      if (settings.length > 0) {
        const names = settings.map(([k]) => quoteLiteral(k)).join(', ');
        const reader = await connection.runAndReadAll(
          `SELECT name, value FROM duckdb_settings() WHERE name IN (${names})`,
        );
        const current = new Map(
          reader.getRowObjects().map((r) => [String(r['name']), String(r['value'])]),
        );
        for (const [key, value] of settings) {
          // Setting some options to the value they already have fails (temp_directory).
          if (current.get(key) === String(value)) continue;
          const literal = typeof value === 'string' ? quoteLiteral(value) : String(value);
          try {
            await connection.run(`SET ${key} = ${literal}`);
          } catch (err) {
            throw new ConfigError(
              `connection.connector_config.${key}`,
              `DuckDB refused the setting: ${firstLine(errorMessage(err))}`,
              { cause: err },
            );
          }
        }
      }
    } catch (err) {
      connection.closeSync();
      throw err;
    }
    return connection;
  }

  // -- running statements -------------------------------------------------------

  private async withConnection<T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    if (this.pinned) {
      const pinned = this.pinned;
      // One statement at a time on a transaction's connection.
      const run = pinned.queue.then(
        () => fn(pinned.connection),
        () => fn(pinned.connection),
      );
      pinned.queue = run.catch(() => undefined);
      return run;
    }
    const { pool } = await this.open();
    const connection = await pool.acquire();
    try {
      return await fn(connection);
    } finally {
      pool.release(connection);
    }
  }

  private track<T>(connection: DuckDBConnection, work: Promise<T>): Promise<T> {
    const { running, inFlight } = this.state;
    running.set(connection, (running.get(connection) ?? 0) + 1);
    inFlight.add(work);
    const done = (): void => {
      inFlight.delete(work);
      const n = (running.get(connection) ?? 1) - 1;
      if (n <= 0) running.delete(connection);
      else running.set(connection, n);
    };
    work.then(done, done);
    return work;
  }

  private async runQuery<R extends Row>(sql: string): Promise<QueryResult<R>> {
    return this.withConnection(async (connection) => {
      const reader = await this.track(
        connection,
        connection.runAndReadAll(sql).catch((err: unknown) => {
          throw wrapError(err, sql);
        }),
      );
      const names = reader.columnNames();
      const types = reader.columnTypes();
      const columns = names.map((name, i) => {
        const type = types[i];
        return { name, type: type ? duckDbTypeName(type) : 'UNKNOWN' };
      });
      // Convert by the result's column types: they keep aliases such as JSON.
      const rows = reader.getRows().map(
        (values) =>
          Object.fromEntries(
            values.map((value, i) => {
              const type = types[i];
              const converted = type
                ? plainValueConverter(value, type, plainValueConverter)
                : value;
              return [names[i] ?? `column${i}`, converted];
            }),
          ) as R,
      );
      return { columns, rows };
    });
  }

  async execute(sql: string): Promise<void> {
    await this.withConnection((connection) =>
      this.track(
        connection,
        connection.run(sql).catch((err: unknown) => {
          throw wrapError(err, sql);
        }),
      ),
    );
  }

  async query<R extends Row = Row>(sql: string): Promise<QueryResult<R>> {
    return this.runQuery<R>(sql);
  }

  async transaction<T>(fn: (tx: EngineAdapter) => Promise<T>): Promise<T> {
    // A transaction adapter joins the transaction it belongs to.
    if (this.pinned) return fn(this);
    const { shared } = await this.open();
    const connection = await this.newConnection(shared);
    const tx = new DuckDbAdapter(this.state, connection);
    try {
      await tx.execute('BEGIN TRANSACTION');
      let result: T;
      try {
        result = await fn(tx);
      } catch (err) {
        await tx.execute('ROLLBACK').catch(() => undefined);
        throw err;
      }
      await tx.execute('COMMIT');
      return result;
    } finally {
      connection.closeSync();
    }
  }

  // -- catalog queries -------------------------------------------------------------

  protected sameCatalog(a: string, b: string): boolean {
    return a.toLowerCase() === b.toLowerCase();
  }

  private nameIs(column: string, value: string): string {
    return `lower(${column}) = lower(${quoteLiteral(value)})`;
  }

  /**
   * Always `catalog.schema.table`: in DuckDB a two-part name is ambiguous when
   * a schema shares its name with a catalog (a database file `sales.duckdb`
   * holding a schema `sales`).
   */
  override tableName(table: TableRef): string {
    return [table.catalog ?? this.defaultCatalog, table.schema, table.name]
      .map((p) => this.quoteIdentifier(p))
      .join('.');
  }

  /**
   * DuckDB's catalog views cost time in proportion to every object in the
   * database; DESCRIBE costs the same whatever the size. Existence and columns
   * are read with it.
   */
  private async describe(table: TableRef): Promise<ColumnInfo[] | undefined> {
    try {
      const result = await this.query(`DESCRIBE ${this.tableName(table)}`);
      return result.rows.map((r) => ({
        name: String(r['column_name']),
        type: String(r['column_type']),
        nullable: r['null'] === 'YES',
      }));
    } catch (err) {
      if (/Catalog Error|does not exist/i.test(err instanceof Error ? err.message : String(err))) {
        return undefined;
      }
      throw err;
    }
  }

  override async tableExists(table: TableRef): Promise<boolean> {
    return (await this.describe(table)) !== undefined;
  }

  override async columns(table: TableRef): Promise<ColumnInfo[]> {
    return (await this.describe(table)) ?? [];
  }

  override async objectKind(table: TableRef): Promise<'table' | 'view' | undefined> {
    if ((await this.describe(table)) === undefined) return undefined;
    const catalog = table.catalog ?? this.defaultCatalog;
    const views = await this.query(
      `SELECT 1 FROM duckdb_views() WHERE ${this.nameIs('database_name', catalog)} ` +
        `AND ${this.nameIs('schema_name', table.schema)} AND ${this.nameIs('view_name', table.name)}`,
    );
    return views.rows.length > 0 ? 'view' : 'table';
  }

  protected schemaExistsSql(schema: string, catalog: string): string {
    return (
      `SELECT 1 FROM information_schema.schemata WHERE ${this.nameIs('catalog_name', catalog)} ` +
      `AND ${this.nameIs('schema_name', schema)}`
    );
  }

  protected objectsSql(schema: string, catalog: string, name?: string): string {
    return (
      `SELECT table_name AS name, CASE WHEN table_type = 'VIEW' THEN 'view' ELSE 'table' END AS kind ` +
      `FROM information_schema.tables WHERE ${this.nameIs('table_catalog', catalog)} ` +
      `AND ${this.nameIs('table_schema', schema)}` +
      (name === undefined ? '' : ` AND ${this.nameIs('table_name', name)}`)
    );
  }

  protected columnsSql(table: TableRef, catalog: string): string {
    return (
      `SELECT column_name AS name, data_type AS type, is_nullable = 'YES' AS nullable ` +
      `FROM information_schema.columns WHERE ${this.nameIs('table_catalog', catalog)} ` +
      `AND ${this.nameIs('table_schema', table.schema)} AND ${this.nameIs('table_name', table.name)} ` +
      `ORDER BY ordinal_position`
    );
  }

  // -- lifecycle ---------------------------------------------------------------------

  async ping(): Promise<void> {
    await this.query('SELECT 1 AS ok');
  }

  async cancel(): Promise<void> {
    const targets = this.pinned ? [this.pinned.connection] : [...this.state.running.keys()];
    for (const connection of targets) {
      if (this.state.running.has(connection)) connection.interrupt();
    }
  }

  async close(): Promise<void> {
    // A transaction's connection is closed when its transaction ends.
    if (this.pinned) return;
    const state = this.state;
    if (state.closed) return;
    state.closed = true;
    const opened = state.opened;
    state.opened = undefined;
    if (!opened) return;
    const { shared, pool } = await opened.catch(() => ({ shared: undefined, pool: undefined }));
    pool?.close();
    // Statements already running finish first; their connections close as they come back.
    await Promise.allSettled([...state.inFlight]);
    if (shared) releaseInstance(shared);
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function runStatement(connection: DuckDBConnection, sql: string): Promise<void> {
  try {
    await connection.run(sql);
  } catch (err) {
    throw wrapError(err, sql);
  }
}

function wrapError(err: unknown, sql: string): EngineError {
  if (err instanceof EngineError) return err;
  const message = firstLine(errorMessage(err));
  if (/^INTERRUPT Error/i.test(message)) {
    return new QueryCancelledError(`DuckDB query was cancelled (in: ${sqlExcerpt(sql)})`, {
      cause: err,
      sql,
    });
  }
  return new EngineError(`DuckDB: ${message} (in: ${sqlExcerpt(sql)})`, { cause: err, sql });
}
