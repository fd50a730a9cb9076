/**
 * A project's configuration after loading: config.yaml (or config.yml) rendered
 * with Jinja, `.env` read, `SQLMESH__...` environment overrides applied, and
 * defaults filled in. Keys are in camelCase here; the YAML uses SQLMesh's snake_case.
 */

export interface DuckDbConnectionConfig {
  type: 'duckdb';
  /** Database file; absent or ':memory:' for an in-memory database. */
  database?: string;
  /** Extra catalogs to attach: name -> path. */
  catalogs: Record<string, string>;
  /** Extensions to install and load. */
  extensions: string[];
  /** DuckDB settings applied at connect (`SET key = value`). */
  connectorConfig: Record<string, string | number | boolean>;
  concurrentTasks: number;
}

export interface PostgresConnectionConfig {
  type: 'postgres';
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
  sslmode?: string;
  role?: string;
  applicationName?: string;
  connectTimeout: number;
  keepalivesIdle?: number;
  concurrentTasks: number;
}

export type ConnectionConfig = DuckDbConnectionConfig | PostgresConnectionConfig;
export type EngineType = ConnectionConfig['type'];

export interface SchedulerConfig {
  /** `builtin` (local) or `cloud`. */
  type: string;
  [key: string]: unknown;
}

export interface GatewayConfig {
  connection?: ConnectionConfig;
  stateConnection?: ConnectionConfig;
  testConnection?: ConnectionConfig;
  stateSchema?: string;
  scheduler?: SchedulerConfig;
  variables: Record<string, unknown>;
}

export interface ModelDefaultsConfig {
  dialect: string;
  cron?: string;
  start?: string;
  owner?: string;
  kind?: string;
  storageFormat?: string;
  /** Other model_defaults keys, passed through as written. */
  extra: Record<string, unknown>;
}

export interface ProjectConfig {
  /** Absolute path of the project folder. */
  root: string;
  /** The config file that was read, relative to root (undefined when there was none). */
  configFile?: string;
  gateways: Record<string, GatewayConfig>;
  /** Name of the gateway used when none is asked for. */
  defaultGateway: string;
  modelDefaults: ModelDefaultsConfig;
  variables: Record<string, unknown>;
  /** How long a non-prod environment lives, as written (SQLMesh default: "in 1 week"). */
  environmentTtl: string;
  defaultTargetEnvironment: string;
  /** Warnings collected while loading (unsupported keys and the like). */
  warnings: string[];
}
