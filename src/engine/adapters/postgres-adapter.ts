/**
 * The PostgreSQL adapter: a `pg` pool of up to `concurrentTasks` clients.
 * Each new client switches to the configured role and reports dates, times
 * and intervals in ISO form; values are converted by parsers given to this
 * pool only.
 */
import pg from 'pg';
import type { PoolClient, PoolConfig } from 'pg';
import type { PostgresConnectionConfig } from '../config/config-types.js';
import { ConfigError, EngineError } from '../errors.js';
import {
  ConnectionError,
  QueryCancelledError,
  describeConnectionError,
  firstLine,
  sqlExcerpt,
} from './adapter-errors.js';
import type {
  AdapterCapabilities,
  EngineAdapter,
  QueryResult,
  Row,
  TableRef,
} from './engine-adapter.js';
import { plainPgTypes, wellKnownTypeNames } from './postgres-values.js';
import { SqlAdapter, quoteDoubled, quoteLiteral } from './sql-adapter.js';

/** MERGE INTO arrived in PostgreSQL 15. */
const MERGE_MIN_VERSION_NUM = 150000;

type SslOption = PoolConfig['ssl'];

/**
 * libpq's sslmode in `pg` terms. `pg` cannot fall back from TLS to plain
 * connections, so `allow` and `prefer` connect without TLS, as libpq does
 * when the server offers none.
 */
function sslFor(sslmode: string | undefined): SslOption {
  switch (sslmode) {
    case undefined:
    case 'disable':
    case 'allow':
    case 'prefer':
      return false;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      return { rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { rejectUnauthorized: true };
    default:
      throw new ConfigError(
        'connection.sslmode',
        `unknown value "${sslmode}"; use disable, allow, prefer, require, verify-ca or verify-full`,
      );
  }
}

/** A role name as written in SET ROLE: bare when it is a plain identifier, else quoted. */
function roleSql(role: string): string {
  return /^[A-Za-z_][A-Za-z0-9_$]*$/.test(role) ? role : quoteDoubled(role);
}

function processId(client: PoolClient): number | undefined {
  const pid = (client as unknown as { processID?: number | null }).processID;
  return typeof pid === 'number' ? pid : undefined;
}

/** State shared by an adapter and its transaction adapters. */
interface PostgresState {
  config: PostgresConnectionConfig;
  capabilities: AdapterCapabilities;
  clientConfig?: pg.ClientConfig;
  pool?: pg.Pool;
  /** Clients already set up (role, version check). */
  ready: WeakSet<PoolClient>;
  /** Clients with statements in flight -> how many. */
  running: Map<PoolClient, number>;
  inFlight: Set<Promise<unknown>>;
  /** `oid:typmod` -> type name. */
  typeNames: Map<string, string>;
  versionNum?: number;
  closed: boolean;
}

export class PostgresAdapter extends SqlAdapter {
  readonly dialect = 'postgres';
  readonly capabilities: AdapterCapabilities;
  readonly defaultCatalog: string;

  private readonly state: PostgresState;
  private readonly pinned: PoolClient | undefined;

  constructor(config: PostgresConnectionConfig);
  constructor(state: PostgresState, pinned: PoolClient);
  constructor(configOrState: PostgresConnectionConfig | PostgresState, pinned?: PoolClient) {
    super();
    if ('type' in configOrState) {
      this.state = {
        config: configOrState,
        capabilities: {
          // Known once the server version has been read (first statement or ping()).
          supportsMerge: false,
          supportsTransactionalDdl: true,
          supportsReplaceView: true,
          supportsMultipleCatalogs: false,
          maxIdentifierLength: 63,
        },
        ready: new WeakSet(),
        running: new Map(),
        inFlight: new Set(),
        typeNames: new Map(),
        closed: false,
      };
    } else {
      this.state = configOrState;
    }
    this.pinned = pinned;
    this.capabilities = this.state.capabilities;
    this.defaultCatalog = this.state.config.database;
  }

  /** The server's version as `server_version_num` (e.g. 160004), once known. */
  get serverVersionNum(): number | undefined {
    return this.state.versionNum;
  }

  private where(): string {
    const { host, port, database } = this.state.config;
    return `${host}:${port}/${database}`;
  }

  private clientConfig(): pg.ClientConfig {
    const state = this.state;
    if (state.clientConfig) return state.clientConfig;
    const c = state.config;
    state.clientConfig = {
      host: c.host,
      port: c.port,
      user: c.user,
      password: c.password,
      database: c.database,
      ssl: sslFor(c.sslmode),
      application_name: c.applicationName,
      connectionTimeoutMillis: c.connectTimeout > 0 ? c.connectTimeout * 1000 : undefined,
      keepAlive: c.keepalivesIdle !== undefined ? true : undefined,
      keepAliveInitialDelayMillis:
        c.keepalivesIdle !== undefined ? c.keepalivesIdle * 1000 : undefined,
      // Fixed output styles keep date and interval text the same on every server.
      options: '-c datestyle=ISO -c intervalstyle=postgres',
      types: plainPgTypes,
    };
    return state.clientConfig;
  }

  private pool(): pg.Pool {
    const state = this.state;
    if (state.closed) throw new EngineError('PostgreSQL adapter is closed');
    if (!state.pool) {
      const { connectionTimeoutMillis, ...clientConfig } = this.clientConfig();
      // The pool would also apply connectionTimeoutMillis to waiting for a free client,
      // failing statements queued behind long ones; keep it on the client's connect only.
      class TimedClient extends pg.Client {
        constructor(config?: pg.ClientConfig) {
          // The pool keeps the password non-enumerable, so a spread would drop it.
          super({ ...config, password: config?.password, connectionTimeoutMillis });
        }
      }
      state.pool = new pg.Pool({
        ...clientConfig,
        Client: TimedClient,
        max: Math.max(1, state.config.concurrentTasks),
      });
      // An idle client losing its connection must not bring the process down.
      state.pool.on('error', () => undefined);
    }
    return state.pool;
  }

  private connectionFailure(err: unknown): ConnectionError {
    if (err instanceof ConnectionError) return err;
    let reason = describeConnectionError(err);
    if (reason === 'connection timed out') {
      reason = `connection timed out after ${this.state.config.connectTimeout}s at ${this.where()}`;
    }
    return new ConnectionError('PostgreSQL', reason, { cause: err });
  }

  private async acquire(): Promise<PoolClient> {
    let client: PoolClient;
    try {
      client = await this.pool().connect();
    } catch (err) {
      if (err instanceof ConfigError || err instanceof EngineError) throw err;
      throw this.connectionFailure(err);
    }
    if (this.state.ready.has(client)) return client;
    // A connection lost while checked out is reported through the failing statement;
    // the client's own error event must not become an uncaught exception.
    client.on('error', () => undefined);
    try {
      const role = this.state.config.role;
      if (role) await client.query(`SET ROLE ${roleSql(role)}`);
      if (this.state.versionNum === undefined) {
        const res = await client.query('SHOW server_version_num');
        const num = Number((res.rows[0] as Row | undefined)?.['server_version_num']);
        this.state.versionNum = num;
        this.state.capabilities.supportsMerge = num >= MERGE_MIN_VERSION_NUM;
      }
    } catch (err) {
      client.release(err instanceof Error ? err : new Error(String(err)));
      throw this.connectionFailure(err);
    }
    this.state.ready.add(client);
    return client;
  }

  private async withClient<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    if (this.pinned) return fn(this.pinned);
    const client = await this.acquire();
    let broken: Error | undefined;
    try {
      return await fn(client);
    } catch (err) {
      // A client whose connection died is discarded rather than returned to the pool.
      if (!isStatementError(err)) broken = asError(err);
      throw err;
    } finally {
      client.release(broken);
    }
  }

  private async run(client: PoolClient, sql: string): Promise<pg.QueryResult> {
    const { running, inFlight } = this.state;
    running.set(client, (running.get(client) ?? 0) + 1);
    const work = client.query(sql) as Promise<pg.QueryResult | pg.QueryResult[]>;
    inFlight.add(work);
    try {
      const result = await work;
      return Array.isArray(result) ? (result[result.length - 1] as pg.QueryResult) : result;
    } catch (err) {
      throw wrapError(err, sql);
    } finally {
      inFlight.delete(work);
      const n = (running.get(client) ?? 1) - 1;
      if (n <= 0) running.delete(client);
      else running.set(client, n);
    }
  }

  private async typeNames(client: PoolClient, fields: pg.FieldDef[]): Promise<string[]> {
    const cache = this.state.typeNames;
    const key = (f: pg.FieldDef): string => `${f.dataTypeID}:${f.dataTypeModifier}`;
    for (const f of fields) {
      const known = f.dataTypeModifier === -1 ? wellKnownTypeNames[f.dataTypeID] : undefined;
      if (known) cache.set(key(f), known);
    }
    const missing = [...new Set(fields.map(key).filter((k) => !cache.has(k)))];
    if (missing.length > 0) {
      const exprs = missing.map((k, i) => {
        const [oid, mod] = k.split(':').map(Number);
        return `format_type(${oid}, ${mod}) AS t${i}`;
      });
      const res = await this.run(client, `SELECT ${exprs.join(', ')}`);
      const row = (res.rows[0] ?? {}) as Row;
      missing.forEach((k, i) => cache.set(k, String(row[`t${i}`] ?? 'unknown')));
    }
    return fields.map((f) => cache.get(key(f)) ?? 'unknown');
  }

  async execute(sql: string): Promise<void> {
    await this.withClient((client) => this.run(client, sql));
  }

  async query<R extends Row = Row>(sql: string): Promise<QueryResult<R>> {
    return this.withClient(async (client) => {
      const result = await this.run(client, sql);
      const fields = result.fields ?? [];
      const types = await this.typeNames(client, fields);
      return {
        columns: fields.map((f, i) => ({ name: f.name, type: types[i] ?? 'unknown' })),
        rows: (result.rows ?? []) as R[],
      };
    });
  }

  async transaction<T>(fn: (tx: EngineAdapter) => Promise<T>): Promise<T> {
    // A transaction adapter joins the transaction it belongs to.
    if (this.pinned) return fn(this);
    const client = await this.acquire();
    const tx = new PostgresAdapter(this.state, client);
    let broken: Error | undefined;
    try {
      await tx.execute('BEGIN');
      let result: T;
      try {
        result = await fn(tx);
      } catch (err) {
        await tx.execute('ROLLBACK').catch((rollbackErr: unknown) => {
          broken = asError(rollbackErr);
        });
        throw err;
      }
      await tx.execute('COMMIT');
      return result;
    } catch (err) {
      if (err instanceof EngineError && err.sql !== undefined && !isStatementError(err)) {
        broken ??= asError(err);
      }
      throw err;
    } finally {
      client.release(broken);
    }
  }

  override async createView(
    view: TableRef,
    selectSql: string,
    options?: { replace?: boolean },
  ): Promise<void> {
    if (options?.replace === false) {
      await this.execute(`CREATE VIEW ${this.tableName(view)} AS ${selectSql}`);
      return;
    }
    try {
      // Keeps views that read this one in place.
      await this.execute(`CREATE OR REPLACE VIEW ${this.tableName(view)} AS ${selectSql}`);
      return;
    } catch (err) {
      // 42P16: the new query drops, renames or retypes columns, which CREATE OR
      // REPLACE cannot do; anything else is a real error.
      if ((err as { code?: unknown }).code !== '42P16' && !/42P16/.test(String(err))) throw err;
    }
    await this.transaction(async (tx) => {
      await tx.dropView(view, { ifExists: true });
      await tx.execute(`CREATE VIEW ${this.tableName(view)} AS ${selectSql}`);
    });
  }

  protected override dropViewSuffix(): string {
    return ' CASCADE';
  }

  // -- catalog queries -------------------------------------------------------------

  protected sameCatalog(a: string, b: string): boolean {
    return a === b;
  }

  private inCatalog(catalog: string): string {
    return `current_database() = ${quoteLiteral(catalog)}`;
  }

  protected schemaExistsSql(schema: string, catalog: string): string {
    return (
      `SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = ${quoteLiteral(schema)} ` +
      `AND ${this.inCatalog(catalog)}`
    );
  }

  protected objectsSql(schema: string, catalog: string, name?: string): string {
    return (
      `SELECT c.relname AS name, CASE WHEN c.relkind IN ('v', 'm') THEN 'view' ELSE 'table' END AS kind ` +
      `FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ` +
      `WHERE n.nspname = ${quoteLiteral(schema)} AND c.relkind IN ('r', 'p', 'f', 'v', 'm') ` +
      `AND ${this.inCatalog(catalog)}` +
      (name === undefined ? '' : ` AND c.relname = ${quoteLiteral(name)}`)
    );
  }

  protected columnsSql(table: TableRef, catalog: string): string {
    return (
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, ` +
      `NOT a.attnotnull AS nullable FROM pg_catalog.pg_attribute a ` +
      `JOIN pg_catalog.pg_class c ON c.oid = a.attrelid ` +
      `JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ` +
      `WHERE n.nspname = ${quoteLiteral(table.schema)} AND c.relname = ${quoteLiteral(table.name)} ` +
      `AND a.attnum > 0 AND NOT a.attisdropped AND ${this.inCatalog(catalog)} ORDER BY a.attnum`
    );
  }

  // -- lifecycle ---------------------------------------------------------------------

  async ping(): Promise<void> {
    await this.query('SELECT 1 AS ok');
  }

  async cancel(): Promise<void> {
    const clients = this.pinned ? [this.pinned] : [...this.state.running.keys()];
    const pids = clients
      .filter((c) => this.state.running.has(c))
      .map(processId)
      .filter((p): p is number => p !== undefined);
    if (pids.length === 0) return;
    // Cancelling takes a connection of its own: the pool's may all be busy.
    const canceller = new pg.Client(this.clientConfig());
    canceller.on('error', () => undefined);
    try {
      await canceller.connect();
      await canceller.query(
        `SELECT pg_cancel_backend(pid) FROM unnest(ARRAY[${pids.join(', ')}]::int[]) AS pid`,
      );
    } catch (err) {
      throw this.connectionFailure(err);
    } finally {
      await canceller.end().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.pinned) return;
    const state = this.state;
    if (state.closed) return;
    state.closed = true;
    await Promise.allSettled([...state.inFlight]);
    const pool = state.pool;
    state.pool = undefined;
    if (pool) await pool.end();
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** An error the server reported for a statement; the connection itself is still fine. */
function isStatementError(err: unknown): boolean {
  if (!(err instanceof EngineError) || !(err.cause instanceof pg.DatabaseError)) return false;
  const { severity, code } = err.cause;
  // FATAL errors, connection exceptions (08) and shutdowns (57P) end the session.
  if (severity === 'FATAL' || severity === 'PANIC') return false;
  return !(code?.startsWith('08') || code?.startsWith('57P'));
}

interface PgDatabaseError {
  code?: string;
  message?: string;
}

function wrapError(err: unknown, sql: string): EngineError {
  if (err instanceof EngineError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as PgDatabaseError;
  const message = firstLine(e.message ?? String(err));
  if (e.code === '57014' && /user request/.test(message)) {
    return new QueryCancelledError(`PostgreSQL query was cancelled (in: ${sqlExcerpt(sql)})`, {
      cause: err,
      sql,
    });
  }
  const code = e.code && /^[0-9A-Z]{5}$/.test(e.code) ? ` [${e.code}]` : '';
  return new EngineError(`PostgreSQL: ${message}${code} (in: ${sqlExcerpt(sql)})`, {
    cause: err,
    sql,
  });
}
