/**
 * Connection settings (`connection`, `state_connection`, `test_connection`,
 * `default_connection`, ...) validated into ConnectionConfig, with SQLMesh's defaults.
 */

import type {
  ConnectionConfig,
  DuckDbConnectionConfig,
  PostgresConnectionConfig,
} from './config-types.js';
import {
  type Cursor,
  type IgnoredSetting,
  checkKeys,
  child,
  describe,
  failAt,
  isMapping,
  item,
  readBoolean,
  readInteger,
  readList,
  readMapping,
  readOptionalString,
  readString,
  rootCursor,
  warnAt,
} from './config-reader.js';

/** Connection types Tideline runs. */
export const SUPPORTED_ENGINES = ['duckdb', 'postgres'] as const;

/** Connection types SQLMesh has that Tideline does not run yet. */
const SQLMESH_ONLY_ENGINES = new Set([
  'athena',
  'azuresql',
  'bigquery',
  'clickhouse',
  'databricks',
  'fabric',
  'gcp_postgres',
  'motherduck',
  'mssql',
  'mysql',
  'redshift',
  'risingwave',
  'snowflake',
  'spark',
  'trino',
]);

/** Settings every SQLMesh connection accepts that Tideline does not act on. */
const COMMON_IGNORED: Record<string, IgnoredSetting> = {
  register_comments: { default: true },
  pretty_sql: { default: false },
  schema_differ_overrides: {},
  catalog_type_overrides: {},
};

const DUCKDB_KEYS = new Set([
  'type',
  'database',
  'catalogs',
  'extensions',
  'connector_config',
  'concurrent_tasks',
]);
const DUCKDB_IGNORED: Record<string, IgnoredSetting> = {
  ...COMMON_IGNORED,
  pre_ping: { default: false },
  secrets: {},
  filesystems: {},
  token: {},
};

const POSTGRES_KEYS = new Set([
  'type',
  'host',
  'port',
  'user',
  'password',
  'database',
  'sslmode',
  'role',
  'application_name',
  'connect_timeout',
  'keepalives_idle',
  'concurrent_tasks',
]);
const POSTGRES_IGNORED: Record<string, IgnoredSetting> = {
  ...COMMON_IGNORED,
  pre_ping: { default: true },
};

/** Attach options SQLMesh accepts for a DuckDB catalog given as a mapping. */
const ATTACH_KEYS = new Set([
  'type',
  'path',
  'read_only',
  'data_path',
  'encrypted',
  'data_inlining_row_limit',
  'metadata_schema',
]);

/**
 * Validates a connection mapping as written in config.yaml (snake_case keys).
 * `where` names it in errors, e.g. `gateways.local.connection`. Settings SQLMesh knows
 * but Tideline ignores add a line to `warnings` when given.
 */
export function parseConnectionConfig(
  raw: unknown,
  where: string,
  warnings: string[] = [],
): ConnectionConfig {
  const ctx = { locator: { position: () => undefined, envVar: () => undefined }, warnings };
  return readConnection(rootCursor(ctx, where), raw);
}

/** Reads the connection at `cursor`; see parseConnectionConfig. */
export function readConnection(cursor: Cursor, raw: unknown): ConnectionConfig {
  const mapping = readMapping(cursor, raw);
  const typeValue = mapping.type;
  if (typeValue === undefined || typeValue === null) {
    throw failAt(cursor, `has no connection type; add \`type: duckdb\` or \`type: postgres\``);
  }
  const typeCursor = child(cursor, 'type');
  const type = readString(typeCursor, typeValue).toLowerCase();
  if (type === 'duckdb') return readDuckDb(cursor, mapping);
  if (type === 'postgres') return readPostgres(cursor, mapping);
  if (SQLMESH_ONLY_ENGINES.has(type)) {
    throw failAt(
      typeCursor,
      `is ${type}: Tideline does not support the ${type} engine yet; use one of ${SUPPORTED_ENGINES.join(', ')}`,
    );
  }
  throw failAt(
    typeCursor,
    `names an unknown connection type ${describe(typeValue)}; use one of ${SUPPORTED_ENGINES.join(', ')}`,
  );
}

function readConcurrentTasks(cursor: Cursor, value: unknown, fallback: number): number {
  return value === undefined || value === null
    ? fallback
    : readInteger(child(cursor, 'concurrent_tasks'), value, 1);
}

function readDuckDb(cursor: Cursor, m: Record<string, unknown>): DuckDbConnectionConfig {
  checkKeys(cursor, m, DUCKDB_KEYS, DUCKDB_IGNORED, 'a duckdb connection setting');
  const database = readOptionalString(child(cursor, 'database'), m.database);
  const catalogs = readCatalogs(child(cursor, 'catalogs'), m.catalogs);
  if (database && Object.keys(catalogs).length > 0) {
    throw failAt(
      child(cursor, 'database'),
      'cannot be combined with catalogs; list every catalog under catalogs, the default one first',
    );
  }
  if (database?.startsWith('md:')) {
    throw failAt(
      child(cursor, 'database'),
      'is a MotherDuck database, which Tideline does not support yet',
    );
  }
  const config: DuckDbConnectionConfig = {
    type: 'duckdb',
    catalogs,
    extensions: readExtensions(child(cursor, 'extensions'), m.extensions),
    connectorConfig: readConnectorConfig(child(cursor, 'connector_config'), m.connector_config),
    concurrentTasks: readConcurrentTasks(cursor, m.concurrent_tasks, 1),
  };
  if (database !== undefined) config.database = database;
  return config;
}

function readCatalogs(cursor: Cursor, raw: unknown): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  const catalogs: Record<string, string> = {};
  for (const [name, value] of Object.entries(readMapping(cursor, raw))) {
    const at = child(cursor, name);
    if (typeof value === 'string') {
      catalogs[name] = value;
      continue;
    }
    if (!isMapping(value)) {
      throw failAt(at, `must be a database path or attach options, got ${describe(value)}`);
    }
    for (const key of Object.keys(value)) {
      if (!ATTACH_KEYS.has(key)) throw failAt(child(at, key), 'is not a catalog attach option');
    }
    const type = readString(child(at, 'type'), value.type).toLowerCase();
    const path = readString(child(at, 'path'), value.path);
    const readOnly =
      value.read_only === undefined ? false : readBoolean(child(at, 'read_only'), value.read_only);
    const extras = Object.keys(value).filter(
      (key) => !['type', 'path', 'read_only'].includes(key) && value[key] !== undefined,
    );
    if (type !== 'duckdb' || readOnly || extras.length > 0) {
      throw failAt(
        at,
        `uses attach options (type ${type}${readOnly ? ', read_only' : ''}${extras.length ? `, ${extras.join(', ')}` : ''}) that Tideline does not support yet; give the catalog as a DuckDB file path`,
      );
    }
    catalogs[name] = path;
  }
  return catalogs;
}

function readExtensions(cursor: Cursor, raw: unknown): string[] {
  if (raw === undefined || raw === null) return [];
  return readList(cursor, raw).map((entry, i) => {
    const at = item(cursor, i);
    if (typeof entry === 'string') return entry;
    if (isMapping(entry)) {
      const name = readString(child(at, 'name'), entry.name);
      for (const key of Object.keys(entry)) {
        if (key === 'name') continue;
        if (key !== 'repository' && key !== 'force_install') {
          throw failAt(
            child(at, key),
            'is not an extension setting; use name, repository or force_install',
          );
        }
        if (entry[key] !== undefined && entry[key] !== null && entry[key] !== false) {
          warnAt(child(at, key), 'is not supported by Tideline yet and is ignored');
        }
      }
      return name;
    }
    throw failAt(at, `must be an extension name, got ${describe(entry)}`);
  });
}

function readConnectorConfig(
  cursor: Cursor,
  raw: unknown,
): Record<string, string | number | boolean> {
  if (raw === undefined || raw === null) return {};
  const out: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(readMapping(cursor, raw))) {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw failAt(
        child(cursor, key),
        `must be a string, number or boolean, got ${describe(value)}`,
      );
    }
    out[key] = value;
  }
  return out;
}

function readPostgres(cursor: Cursor, m: Record<string, unknown>): PostgresConnectionConfig {
  checkKeys(cursor, m, POSTGRES_KEYS, POSTGRES_IGNORED, 'a postgres connection setting');
  const required = (key: string): string => {
    const value = m[key];
    if (value === undefined || value === null) {
      throw failAt(cursor, `needs \`${key}\` for a postgres connection`);
    }
    return readString(child(cursor, key), value);
  };
  const config: PostgresConnectionConfig = {
    type: 'postgres',
    host: required('host'),
    port:
      m.port === undefined || m.port === null
        ? 5432
        : readInteger(child(cursor, 'port'), m.port, 1, 65535),
    user: required('user'),
    database: required('database'),
    connectTimeout:
      m.connect_timeout === undefined || m.connect_timeout === null
        ? 10
        : readInteger(child(cursor, 'connect_timeout'), m.connect_timeout, 0),
    concurrentTasks: readConcurrentTasks(cursor, m.concurrent_tasks, 4),
  };
  const optional = (key: string): string | undefined =>
    readOptionalString(child(cursor, key), m[key]);
  const password = optional('password');
  if (password !== undefined) config.password = password;
  const sslmode = optional('sslmode');
  if (sslmode !== undefined) config.sslmode = sslmode;
  const role = optional('role');
  if (role !== undefined) config.role = role;
  const applicationName = optional('application_name');
  if (applicationName !== undefined) config.applicationName = applicationName;
  if (m.keepalives_idle !== undefined && m.keepalives_idle !== null) {
    config.keepalivesIdle = readInteger(child(cursor, 'keepalives_idle'), m.keepalives_idle, 0);
  }
  return config;
}
