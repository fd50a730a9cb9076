/**
 * The project configuration tree (config.yaml after rendering and overrides) validated
 * into ProjectConfig, with SQLMesh's defaults filled in.
 */

import { ConfigError } from '../errors.js';
import type {
  ConnectionConfig,
  GatewayConfig,
  ModelDefaultsConfig,
  ProjectConfig,
  SchedulerConfig,
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
  readMapping,
  readOptionalString,
  readString,
  rootCursor,
  type ReadContext,
} from './config-reader.js';
import { readConnection } from './connection-config.js';

/** The connection SQLMesh uses when neither a gateway nor default_connection names one. */
export function defaultDuckDbConnection(): ConnectionConfig {
  return { type: 'duckdb', catalogs: {}, extensions: [], connectorConfig: {}, concurrentTasks: 1 };
}

export const DEFAULT_STATE_SCHEMA = 'sqlmesh';
export const DEFAULT_ENVIRONMENT_TTL = 'in 1 week';
export const DEFAULT_TARGET_ENVIRONMENT = 'prod';

const ROOT_KEYS = new Set([
  'gateways',
  'gateway',
  'default_connection',
  'default_test_connection',
  'default_scheduler',
  'default_gateway',
  'model_defaults',
  'variables',
  'environment_ttl',
  'default_target_environment',
]);

/** Root settings SQLMesh has that Tideline does not act on yet, with SQLMesh's defaults. */
const ROOT_IGNORED: Record<string, IgnoredSetting> = {
  notification_targets: {},
  project: { default: '' },
  snapshot_ttl: { default: 'in 1 week' },
  ignore_patterns: {},
  time_column_format: { default: '%Y-%m-%d' },
  pinned_environments: {},
  loader: {},
  loader_kwargs: {},
  env_vars: {},
  physical_schema_mapping: {},
  physical_schema_override: {},
  environment_suffix_target: { default: 'schema' },
  physical_table_naming_convention: { default: 'schema_and_table' },
  virtual_environment_mode: { default: 'full' },
  gateway_managed_virtual_layer: { default: false },
  environment_catalog_mapping: {},
  run: {},
  plan: {},
  before_all: {},
  after_all: {},
  dbt: {},
  // Settings for SQLMesh tooling Tideline has no counterpart of.
  format: { quiet: true },
  ui: { quiet: true },
  linter: { quiet: true },
  janitor: { quiet: true },
  migration: { quiet: true },
  model_naming: { quiet: true },
  cicd_bot: { quiet: true },
  users: { quiet: true },
  username: { quiet: true },
  log_limit: { quiet: true },
  cache_dir: { quiet: true },
  infer_python_dependencies: { quiet: true },
  disable_anonymized_analytics: { quiet: true },
};

/** Root keys SQLMesh moved under `plan:`; it refuses them at the root. */
const MOVED_TO_PLAN = new Set(['auto_categorize_changes', 'include_unmodified']);

const GATEWAY_KEYS = new Set([
  'connection',
  'state_connection',
  'test_connection',
  'scheduler',
  'state_schema',
  'variables',
]);
const GATEWAY_IGNORED: Record<string, IgnoredSetting> = { model_defaults: {} };
const ALL_GATEWAY_KEYS = new Set([...GATEWAY_KEYS, ...Object.keys(GATEWAY_IGNORED)]);

/** Every model_defaults key SQLMesh accepts; others are errors, as in SQLMesh. */
const MODEL_DEFAULT_KEYS = new Set([
  'kind',
  'dialect',
  'cron',
  'owner',
  'start',
  'table_format',
  'storage_format',
  'on_destructive_change',
  'on_additive_change',
  'physical_properties',
  'virtual_properties',
  'session_properties',
  'audits',
  'optimize_query',
  'allow_partials',
  'interval_unit',
  'enabled',
  'formatting',
  'batch_concurrency',
  'pre_statements',
  'post_statements',
  'on_virtual_update',
]);

const SCHEDULER_TYPES = ['builtin', 'cloud'];

/** What the caller knows about the file the tree came from. */
export interface ConfigSource {
  root: string;
  configFile?: string;
}

/**
 * Validates a raw configuration tree. `ctx` locates values for error messages and
 * collects warnings; they end up in the result's `warnings`.
 */
export function validateProjectConfig(
  tree: Record<string, unknown>,
  ctx: ReadContext,
  source: ConfigSource,
): ProjectConfig {
  const root = rootCursor(ctx);
  for (const key of Object.keys(tree)) {
    if (MOVED_TO_PLAN.has(key)) {
      throw failAt(child(root, key), `is no longer a root setting; move it to plan.${key}`);
    }
  }
  checkKeys(root, tree, ROOT_KEYS, ROOT_IGNORED, 'a SQLMesh configuration setting');

  const defaultConnection = optionalConnection(root, tree, 'default_connection');
  const defaultTestConnection = optionalConnection(root, tree, 'default_test_connection');
  const defaultScheduler =
    tree.default_scheduler === undefined || tree.default_scheduler === null
      ? undefined
      : readScheduler(child(root, 'default_scheduler'), tree.default_scheduler);

  const gateways = readGateways(root, tree);
  for (const gateway of Object.values(gateways)) {
    gateway.connection ??= defaultConnection ?? defaultDuckDbConnection();
    if (gateway.testConnection === undefined && defaultTestConnection !== undefined) {
      gateway.testConnection = defaultTestConnection;
    }
    gateway.scheduler ??= defaultScheduler ?? { type: 'builtin' };
  }

  const config: ProjectConfig = {
    root: source.root,
    gateways,
    defaultGateway: readDefaultGateway(root, tree.default_gateway, gateways),
    modelDefaults: readModelDefaults(root, tree.model_defaults, source.configFile),
    variables: readVariables(child(root, 'variables'), tree.variables),
    environmentTtl: readTtl(child(root, 'environment_ttl'), tree.environment_ttl),
    defaultTargetEnvironment:
      readOptionalString(
        child(root, 'default_target_environment'),
        tree.default_target_environment,
      ) || DEFAULT_TARGET_ENVIRONMENT,
    warnings: ctx.warnings,
  };
  if (source.configFile !== undefined) config.configFile = source.configFile;
  return config;
}

function optionalConnection(
  cursor: Cursor,
  mapping: Record<string, unknown>,
  key: string,
): ConnectionConfig | undefined {
  const value = mapping[key];
  return value === undefined || value === null
    ? undefined
    : readConnection(child(cursor, key), value);
}

/**
 * SQLMesh accepts `gateway:` for `gateways:`, and a single gateway's settings given
 * directly (with no name), which become the gateway named "" (the empty string).
 */
function readGateways(root: Cursor, tree: Record<string, unknown>): Record<string, GatewayConfig> {
  const key = tree.gateways === undefined && tree.gateway !== undefined ? 'gateway' : 'gateways';
  if (key === 'gateways' && tree.gateway !== undefined) {
    throw failAt(child(root, 'gateway'), 'cannot be given together with gateways; keep gateways');
  }
  const raw = tree[key];
  const cursor = child(root, key, 'gateways');
  if (raw === undefined || raw === null) return { '': emptyGateway() };
  const mapping = readMapping(cursor, raw);
  if (Object.keys(mapping).length === 0) return { '': emptyGateway() };
  if (looksLikeOneGateway(mapping)) return { '': readGateway(cursor, mapping) };

  const gateways: Record<string, GatewayConfig> = {};
  const spelled = new Map<string, string>();
  for (const [name, value] of Object.entries(mapping)) {
    // Gateway names are case-insensitive; SQLMesh keeps them in lowercase.
    const lower = name.toLowerCase();
    const at = child(cursor, name);
    const earlier = spelled.get(lower);
    if (earlier !== undefined) {
      throw failAt(at, `is the same gateway as ${earlier} (names are case-insensitive); keep one`);
    }
    spelled.set(lower, name);
    gateways[lower] = readGateway(at, value);
  }
  return gateways;
}

function emptyGateway(): GatewayConfig {
  return { stateSchema: DEFAULT_STATE_SCHEMA, variables: {} };
}

/** True when a `gateways` mapping is one unnamed gateway's settings rather than named gateways. */
function looksLikeOneGateway(mapping: Record<string, unknown>): boolean {
  const entries = Object.entries(mapping);
  return entries.every(
    ([key, value]) =>
      ALL_GATEWAY_KEYS.has(key) &&
      !(
        isMapping(value) &&
        Object.keys(value).length > 0 &&
        Object.keys(value).every((k) => ALL_GATEWAY_KEYS.has(k))
      ),
  );
}

function readGateway(cursor: Cursor, raw: unknown): GatewayConfig {
  if (raw === undefined || raw === null) return emptyGateway();
  const m = readMapping(cursor, raw);
  checkKeys(cursor, m, GATEWAY_KEYS, GATEWAY_IGNORED, 'a gateway setting');
  const gateway: GatewayConfig = {
    // An explicit empty or null state_schema means the connection's default schema: "".
    stateSchema: Object.hasOwn(m, 'state_schema')
      ? (readOptionalString(child(cursor, 'state_schema'), m.state_schema) ?? '')
      : DEFAULT_STATE_SCHEMA,
    variables: readVariables(child(cursor, 'variables'), m.variables),
  };
  const connection = optionalConnection(cursor, m, 'connection');
  if (connection) gateway.connection = connection;
  const stateConnection = optionalConnection(cursor, m, 'state_connection');
  if (stateConnection) gateway.stateConnection = stateConnection;
  const testConnection = optionalConnection(cursor, m, 'test_connection');
  if (testConnection) gateway.testConnection = testConnection;
  if (m.scheduler !== undefined && m.scheduler !== null) {
    gateway.scheduler = readScheduler(child(cursor, 'scheduler'), m.scheduler);
  }
  return gateway;
}

function readScheduler(cursor: Cursor, raw: unknown): SchedulerConfig {
  const m = readMapping(cursor, raw);
  if (m.type === undefined || m.type === null) {
    throw failAt(cursor, `has no scheduler type; add \`type: builtin\` or \`type: cloud\``);
  }
  const type = readString(child(cursor, 'type'), m.type).toLowerCase();
  if (!SCHEDULER_TYPES.includes(type)) {
    throw failAt(
      child(cursor, 'type'),
      `names an unknown scheduler type ${describe(m.type)}; use ${SCHEDULER_TYPES.join(' or ')}`,
    );
  }
  if (type === 'builtin') {
    // The builtin scheduler takes no settings; SQLMesh rejects any.
    checkKeys(cursor, m, new Set(['type']), {}, 'a builtin scheduler setting');
  }
  return { ...m, type };
}

function readDefaultGateway(
  root: Cursor,
  raw: unknown,
  gateways: Record<string, GatewayConfig>,
): string {
  const names = Object.keys(gateways);
  const cursor = child(root, 'default_gateway');
  const name = readOptionalString(cursor, raw);
  if (!name) return names[0] ?? '';
  const lower = name.toLowerCase();
  if (!Object.hasOwn(gateways, lower)) {
    throw failAt(
      cursor,
      `names gateway ${JSON.stringify(name)}, which is not defined; ${availableGateways(names)}`,
    );
  }
  return lower;
}

function availableGateways(names: string[]): string {
  const shown = names.map((n) => (n === '' ? '"" (the unnamed gateway)' : n));
  return `available: ${shown.join(', ')}`;
}

function readModelDefaults(
  root: Cursor,
  raw: unknown,
  configFile: string | undefined,
): ModelDefaultsConfig {
  const cursor = child(root, 'model_defaults');
  const missingDialect = (): ConfigError =>
    new ConfigError(
      configFile ?? 'config',
      'model_defaults.dialect is required; add `model_defaults:` with `dialect: duckdb` (or your SQL dialect)',
    );
  if (raw === undefined || raw === null) throw missingDialect();
  const m = readMapping(cursor, raw);
  for (const key of Object.keys(m)) {
    if (!MODEL_DEFAULT_KEYS.has(key)) {
      throw failAt(child(cursor, key), 'is not a model_defaults setting; remove it');
    }
  }
  if (m.dialect === undefined || m.dialect === null) {
    const position =
      cursor.ctx.locator.envVar(cursor.path) ?? cursor.ctx.locator.position(cursor.path);
    if (position) {
      throw new ConfigError(
        position,
        'model_defaults.dialect is required; add `dialect: duckdb` (or your SQL dialect)',
      );
    }
    throw missingDialect();
  }
  const defaults: ModelDefaultsConfig = {
    dialect: readString(child(cursor, 'dialect'), m.dialect),
    extra: {},
  };
  const text = (key: string): string | undefined => {
    const value = m[key];
    if (value === undefined || value === null) return undefined;
    if (key === 'start' && typeof value === 'number') return String(value);
    return readString(child(cursor, key), value);
  };
  const cron = text('cron');
  if (cron !== undefined) defaults.cron = cron;
  const start = text('start');
  if (start !== undefined) defaults.start = start;
  const owner = text('owner');
  if (owner !== undefined) defaults.owner = owner;
  const storageFormat = text('storage_format');
  if (storageFormat !== undefined) defaults.storageFormat = storageFormat;
  if (m.kind !== undefined && m.kind !== null) {
    const kindCursor = child(cursor, 'kind');
    if (isMapping(m.kind)) {
      // `kind: {name: ..., <kind properties>}`: the name is the kind; the whole mapping
      // stays in extra for whoever reads the properties.
      defaults.kind = readString(child(kindCursor, 'name'), m.kind.name);
      defaults.extra.kind = m.kind;
    } else {
      defaults.kind = readString(kindCursor, m.kind);
    }
  }
  for (const [key, value] of Object.entries(m)) {
    if (['dialect', 'cron', 'start', 'owner', 'storage_format', 'kind'].includes(key)) continue;
    if (value !== undefined && value !== null) defaults.extra[key] = value;
  }
  return defaults;
}

/** Variables: keys are case-insensitive (kept in lowercase); values are plain data. */
function readVariables(cursor: Cursor, raw: unknown): Record<string, unknown> {
  if (raw === undefined || raw === null) return {};
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(readMapping(cursor, raw))) {
    checkVariableValue(child(cursor, key), value);
    out[key.toLowerCase()] = value;
  }
  return out;
}

function checkVariableValue(cursor: Cursor, value: unknown): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkVariableValue(item(cursor, i), v));
  } else if (isMapping(value)) {
    for (const [k, v] of Object.entries(value)) checkVariableValue(child(cursor, k), v);
  } else if (
    value !== null &&
    typeof value !== 'string' &&
    typeof value !== 'number' &&
    typeof value !== 'boolean'
  ) {
    throw failAt(
      cursor,
      `must be a string, number, boolean, list or mapping, got ${describe(value)}`,
    );
  }
}

/**
 * A TTL is a relative time in the future, as written ("in 1 week", "in 30 days").
 * SQLMesh rejects one that lands in the past, such as "1 week" or "2 days ago".
 */
function readTtl(cursor: Cursor, raw: unknown): string {
  if (raw === undefined) return DEFAULT_ENVIRONMENT_TTL;
  if (raw === null) {
    throw failAt(
      cursor,
      `must be a relative time such as "${DEFAULT_ENVIRONMENT_TTL}"; Tideline does not support environments that never expire`,
    );
  }
  const ttl = readString(cursor, raw).trim();
  if (/\bago\b/i.test(ttl) || /^[+-]?\d+(\.\d+)?\s*[a-z]+$/i.test(ttl)) {
    throw failAt(
      cursor,
      `is ${JSON.stringify(ttl)}, which is in the past; write a future time such as "in ${ttl.replace(/\s*ago$/i, '')}"`,
    );
  }
  if (ttl === '')
    throw failAt(cursor, `must be a relative time such as "${DEFAULT_ENVIRONMENT_TTL}"`);
  return ttl;
}
