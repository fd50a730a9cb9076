import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import {
  applyEnvOverrides,
  findGateway,
  loadProjectConfig,
  loadProjectEnv,
  parseConnectionConfig,
  resolveGatewayName,
} from '../../../src/engine/config/config-loader.js';
import type { ProjectConfig } from '../../../src/engine/config/config-types.js';
import { ConfigError } from '../../../src/engine/errors.js';

const base = mkdtempSync(join(tmpdir(), 'tideline-config-'));
after(() => rmSync(base, { recursive: true, force: true }));

let counter = 0;
/** A project folder holding `files` (name -> contents). */
function project(files: Record<string, string>): string {
  const root = join(base, `p${counter++}`);
  mkdirSync(root);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(root, name), text);
  return root;
}

const MINIMAL = 'model_defaults:\n  dialect: duckdb\n';

function load(
  files: Record<string, string>,
  env: Record<string, string | undefined> = {},
  gateway?: string,
): ProjectConfig {
  const options: { env: Record<string, string | undefined>; gateway?: string } = { env };
  if (gateway !== undefined) options.gateway = gateway;
  return loadProjectConfig(project(files), options);
}

/** Asserts loading fails with a one-line ConfigError whose `where` and message match. */
function loadFails(
  files: Record<string, string>,
  where: string | RegExp,
  message: RegExp,
  env: Record<string, string | undefined> = {},
): void {
  assert.throws(
    () => load(files, env),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      if (typeof where === 'string') assert.equal(err.where, where);
      else assert.match(err.where, where);
      assert.doesNotMatch(err.message, /\n/, 'the message is one line');
      assert.ok(err.message.startsWith(`${err.where}: `));
      assert.match(err.message, message);
      return true;
    },
  );
}

describe('config file discovery', () => {
  test('config.yaml, config.yml, sqlmesh.yaml and sqlmesh.yml are each read', () => {
    for (const name of ['config.yaml', 'config.yml', 'sqlmesh.yaml', 'sqlmesh.yml']) {
      const config = load({ [name]: `model_defaults:\n  dialect: ${name.replace(/\W/g, '_')}\n` });
      assert.equal(config.configFile, name);
      assert.equal(config.modelDefaults.dialect, name.replace(/\W/g, '_'));
    }
  });

  test('two YAML config files are refused, naming both', () => {
    loadFails(
      { 'config.yaml': MINIMAL, 'config.yml': MINIMAL },
      'config.yaml',
      /config\.yml is also present.*keep only one/,
    );
  });

  test('config.py alone is refused with a pointer to config.yaml', () => {
    loadFails(
      { 'config.py': 'config = None\n' },
      'config.py',
      /Python configuration is not supported.*config\.yaml/,
    );
  });

  test('config.py next to config.yaml is refused, as SQLMesh refuses two config files', () => {
    loadFails(
      { 'config.py': 'config = None\n', 'config.yaml': MINIMAL },
      'config.py',
      /config\.yaml is also present.*keep only one.*only YAML/,
    );
  });

  test('a folder without a config file is refused', () => {
    const root = project({});
    assert.throws(() => loadProjectConfig(root, { env: {} }), /no config\.yaml found/);
  });

  test('the root is reported as an absolute path', () => {
    const root = project({ 'config.yaml': MINIMAL });
    assert.equal(loadProjectConfig(root, { env: {} }).root, root);
  });
});

describe('defaults', () => {
  test('a project without gateways gets the unnamed in-memory DuckDB gateway and SQLMesh defaults', () => {
    const config = load({ 'config.yaml': MINIMAL });
    assert.deepEqual(Object.keys(config.gateways), ['']);
    assert.equal(config.defaultGateway, '');
    const gateway = findGateway(config);
    assert.deepEqual(gateway.connection, {
      type: 'duckdb',
      catalogs: {},
      extensions: [],
      connectorConfig: {},
      concurrentTasks: 1,
    });
    assert.equal(gateway.stateSchema, 'sqlmesh');
    assert.deepEqual(gateway.scheduler, { type: 'builtin' });
    assert.equal(gateway.testConnection, undefined);
    assert.equal(config.environmentTtl, 'in 1 week');
    assert.equal(config.defaultTargetEnvironment, 'prod');
    assert.deepEqual(config.variables, {});
    assert.deepEqual(config.warnings, []);
  });

  test('postgres connections get port 5432, connect_timeout 10 and 4 concurrent tasks', () => {
    const config = load({
      'config.yaml': `
gateways:
  warehouse:
    connection:
      type: postgres
      host: db.internal
      user: analyst
      password: secret
      database: analytics
      sslmode: require
      role: transformer
      application_name: tideline
      keepalives_idle: 30
model_defaults:
  dialect: postgres
`,
    });
    assert.deepEqual(config.gateways.warehouse?.connection, {
      type: 'postgres',
      host: 'db.internal',
      port: 5432,
      user: 'analyst',
      password: 'secret',
      database: 'analytics',
      sslmode: 'require',
      role: 'transformer',
      applicationName: 'tideline',
      keepalivesIdle: 30,
      connectTimeout: 10,
      concurrentTasks: 4,
    });
  });

  test('duckdb settings are read, extensions given as mappings keep their name', () => {
    const config = load({
      'config.yaml': `
gateways:
  local:
    connection:
      type: duckdb
      catalogs:
        main_db: main.duckdb
        other: {type: duckdb, path: other.duckdb}
      extensions: [json, {name: httpfs}]
      connector_config: {threads: 2, preserve_insertion_order: false}
      concurrent_tasks: 3
    state_schema: my_state
    test_connection:
      type: duckdb
model_defaults:
  dialect: duckdb
`,
    });
    const gw = config.gateways.local;
    assert.deepEqual(gw?.connection, {
      type: 'duckdb',
      catalogs: { main_db: 'main.duckdb', other: 'other.duckdb' },
      extensions: ['json', 'httpfs'],
      connectorConfig: { threads: 2, preserve_insertion_order: false },
      concurrentTasks: 3,
    });
    assert.equal(gw?.stateSchema, 'my_state');
    assert.equal(gw?.testConnection?.type, 'duckdb');
  });

  test('an explicit empty state_schema means the connection default schema', () => {
    const config = load({
      'config.yaml': `gateways:\n  a:\n    state_schema:\n${MINIMAL}`,
    });
    assert.equal(config.gateways.a?.stateSchema, '');
  });

  test('default_connection, default_test_connection and default_scheduler fill gateways that lack them', () => {
    const config = load({
      'config.yaml': `
default_connection:
  type: duckdb
  database: shared.duckdb
default_test_connection:
  type: duckdb
  database: tests.duckdb
default_scheduler:
  type: cloud
gateways:
  uses_defaults: {}
  own:
    connection: {type: duckdb, database: own.duckdb}
    test_connection: {type: duckdb, database: own_tests.duckdb}
    scheduler: {type: builtin}
${MINIMAL}`,
    });
    const d = config.gateways.uses_defaults;
    assert.equal(d?.connection?.type === 'duckdb' && d.connection.database, 'shared.duckdb');
    assert.equal(d?.testConnection?.type === 'duckdb' && d.testConnection.database, 'tests.duckdb');
    assert.deepEqual(d?.scheduler, { type: 'cloud' });
    const own = config.gateways.own;
    assert.equal(own?.connection?.type === 'duckdb' && own.connection.database, 'own.duckdb');
    assert.equal(
      own?.testConnection?.type === 'duckdb' && own.testConnection.database,
      'own_tests.duckdb',
    );
    assert.deepEqual(own?.scheduler, { type: 'builtin' });
  });

  test('model_defaults keeps named settings and passes the rest through in extra', () => {
    const config = load({
      'config.yaml': `
model_defaults:
  dialect: duckdb
  cron: '@hourly'
  start: 2024-01-01
  owner: data-team
  kind: FULL
  storage_format: parquet
  allow_partials: true
  physical_properties: {a: 1}
`,
    });
    assert.deepEqual(config.modelDefaults, {
      dialect: 'duckdb',
      cron: '@hourly',
      start: '2024-01-01',
      owner: 'data-team',
      kind: 'FULL',
      storageFormat: 'parquet',
      extra: { allow_partials: true, physical_properties: { a: 1 } },
    });
  });

  test('variables keep their values and lowercase their names, at the root and per gateway', () => {
    const config = load({
      'config.yaml': `
variables:
  Region: eu
  LIMITS: {max: 10, tags: [a, b]}
gateways:
  g:
    variables:
      Region: us
${MINIMAL}`,
    });
    assert.deepEqual(config.variables, { region: 'eu', limits: { max: 10, tags: ['a', 'b'] } });
    assert.deepEqual(config.gateways.g?.variables, { region: 'us' });
  });

  test('environment_ttl and default_target_environment are read as written', () => {
    const config = load({
      'config.yaml': `environment_ttl: in 30 days\ndefault_target_environment: dev\n${MINIMAL}`,
    });
    assert.equal(config.environmentTtl, 'in 30 days');
    assert.equal(config.defaultTargetEnvironment, 'dev');
  });

  test('`gateway:` with one gateway settings makes the unnamed gateway', () => {
    const config = load({
      'config.yaml': `gateway:\n  connection:\n    type: duckdb\n    database: one.duckdb\n${MINIMAL}`,
    });
    assert.deepEqual(Object.keys(config.gateways), ['']);
    const conn = findGateway(config).connection;
    assert.equal(conn?.type === 'duckdb' && conn.database, 'one.duckdb');
  });
});

describe('gateways', () => {
  const TWO = `
gateways:
  First:
    connection: {type: duckdb, database: first.duckdb}
  second:
    connection: {type: duckdb, database: second.duckdb}
${MINIMAL}`;

  test('the first gateway is the default; names are kept in lowercase', () => {
    const config = load({ 'config.yaml': TWO });
    assert.deepEqual(Object.keys(config.gateways), ['first', 'second']);
    assert.equal(config.defaultGateway, 'first');
  });

  test('default_gateway picks another gateway, case-insensitively', () => {
    const config = load({ 'config.yaml': `default_gateway: SECOND\n${TWO}` });
    assert.equal(config.defaultGateway, 'second');
    const conn = findGateway(config).connection;
    assert.equal(conn?.type === 'duckdb' && conn.database, 'second.duckdb');
  });

  test('findGateway matches names case-insensitively and lists the gateways when none matches', () => {
    const config = load({ 'config.yaml': TWO });
    assert.equal(findGateway(config, 'FIRST'), config.gateways.first);
    assert.equal(resolveGatewayName(config, 'Second'), 'second');
    assert.throws(
      () => findGateway(config, 'prod'),
      (err: unknown) =>
        err instanceof ConfigError &&
        /no gateway named "prod"; available: first, second/.test(err.message),
    );
  });

  test('asking to load with an unknown gateway fails listing the gateways', () => {
    assert.throws(
      () => load({ 'config.yaml': TWO }, {}, 'staging'),
      /no gateway named "staging"; available: first, second/,
    );
    assert.equal(load({ 'config.yaml': TWO }, {}, 'Second').defaultGateway, 'first');
  });
});

describe('.env and env_var()', () => {
  const USES_ENV = `
gateways:
  pg:
    connection:
      type: postgres
      host: {{ env_var('PG_HOST') }}
      user: {{ env_var('PG_USER', 'default_user') }}
      password: "{{ env_var('PG_PASSWORD') }}"
      database: analytics
${MINIMAL}`;

  test('env_var() reads the environment and falls back to its default', () => {
    const config = load({ 'config.yaml': USES_ENV }, { PG_HOST: 'h1', PG_PASSWORD: 'p w' });
    const conn = config.gateways.pg?.connection;
    assert.equal(conn?.type, 'postgres');
    assert.equal(conn.host, 'h1');
    assert.equal(conn.user, 'default_user');
    assert.equal(conn.password, 'p w');
  });

  test('a missing variable without a default is an error naming it and its position', () => {
    loadFails(
      { 'config.yaml': USES_ENV },
      'config.yaml:6:16',
      /environment variable PG_HOST is not set/,
      {
        PG_PASSWORD: 'x',
      },
    );
    loadFails(
      { 'config.yaml': USES_ENV },
      'config.yaml:8:21',
      /PG_PASSWORD is not set.*env_var\('PG_PASSWORD', 'value'\)/,
      {
        PG_HOST: 'x',
      },
    );
  });

  test('.env values feed env_var() and override the environment, as SQLMesh loads it with override', () => {
    const env = { PG_HOST: 'from-shell', PG_USER: 'shell_user' };
    const config = load(
      {
        'config.yaml': USES_ENV,
        '.env': 'PG_HOST=from-dotenv\nPG_PASSWORD="s3cret # kept"\n',
      },
      env,
    );
    const conn = config.gateways.pg?.connection;
    assert.equal(conn?.type, 'postgres');
    assert.equal(conn.host, 'from-dotenv');
    assert.equal(conn.user, 'shell_user');
    assert.equal(conn.password, 's3cret # kept');
    assert.deepEqual(
      env,
      { PG_HOST: 'from-shell', PG_USER: 'shell_user' },
      'the caller env is untouched',
    );
  });

  test('SQLMESH__ overrides written in .env apply', () => {
    const config = load({
      'config.yaml': MINIMAL,
      '.env': 'SQLMESH__MODEL_DEFAULTS__DIALECT=postgres\n',
    });
    assert.equal(config.modelDefaults.dialect, 'postgres');
  });

  test('a malformed .env fails naming its line', () => {
    loadFails({ 'config.yaml': MINIMAL, '.env': 'A=1\nB "2"\n' }, '.env:2', /expected `=` after B/);
  });

  test('a custom dotenv file replaces the project one; SQLMESH_DOTENV_PATH names one too', () => {
    const root = project({ 'config.yaml': MINIMAL, '.env': 'WHO=project\n' });
    const custom = join(base, `custom-${counter++}.env`);
    writeFileSync(custom, 'WHO=custom\n');
    assert.equal(loadProjectEnv(root, { env: {} }).WHO, 'project');
    assert.equal(loadProjectEnv(root, { env: {}, dotenvPath: custom }).WHO, 'custom');
    assert.equal(loadProjectEnv(root, { env: { SQLMESH_DOTENV_PATH: custom } }).WHO, 'custom');
    // A custom path that does not exist falls back to the project's .env, as in SQLMesh.
    assert.equal(
      loadProjectEnv(root, { env: {}, dotenvPath: join(base, 'nope.env') }).WHO,
      'project',
    );
  });

  test('user() and var() render; Jinja syntax errors name the line', () => {
    const config = load(
      {
        'config.yaml': `default_target_environment: dev_{{ user() }}{{ var('x', '_v') }}\n${MINIMAL}`,
      },
      { USER: 'ana' },
    );
    assert.equal(config.defaultTargetEnvironment, 'dev_ana_v');
    loadFails(
      { 'config.yaml': `${MINIMAL}project: {{ env_var('A' }}\n` },
      /^config\.yaml:3:\d+$/,
      /Jinja template error/,
    );
  });
});

describe('SQLMESH__ overrides', () => {
  const GATEWAY_A = `
gateways:
  Gateway_A:
    connection:
      type: postgres
      host: h
      user: u
      password: from_yaml
      database: d
${MINIMAL}`;

  test('walk existing keys case-insensitively and coerce strings to the expected types', () => {
    const config = load(
      { 'config.yaml': GATEWAY_A },
      {
        SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__PASSWORD: 'from_env',
        SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__PORT: '6543',
        SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__CONCURRENT_TASKS: ' 8 ',
        UNRELATED: 'x',
      },
    );
    assert.deepEqual(Object.keys(config.gateways), ['gateway_a']);
    const conn = config.gateways.gateway_a?.connection;
    assert.equal(conn?.type, 'postgres');
    assert.equal(conn.password, 'from_env');
    assert.equal(conn.port, 6543);
    assert.equal(conn.concurrentTasks, 8);
  });

  test('create missing paths in lowercase, and lists/mappings can be given as JSON', () => {
    const config = load(
      { 'config.yaml': MINIMAL },
      {
        SQLMESH__GATEWAYS__NEW_GW__CONNECTION__TYPE: 'duckdb',
        SQLMESH__GATEWAYS__NEW_GW__CONNECTION__EXTENSIONS: ' ["httpfs", "json"]',
        SQLMESH__GATEWAYS__NEW_GW__CONNECTION__CONNECTOR_CONFIG: '{"threads": 4}',
        SQLMESH__VARIABLES__Limit: '10',
      },
    );
    assert.deepEqual(config.gateways.new_gw?.connection, {
      type: 'duckdb',
      catalogs: {},
      extensions: ['httpfs', 'json'],
      connectorConfig: { threads: 4 },
      concurrentTasks: 1,
    });
    assert.deepEqual(config.variables, { limit: '10' });
  });

  test('SQLMESH__DEFAULT_GATEWAY chooses the default gateway and wins over the file', () => {
    const files = {
      'config.yaml': `default_gateway: a\ngateways:\n  a: {}\n  b: {}\n${MINIMAL}`,
    };
    assert.equal(load(files).defaultGateway, 'a');
    assert.equal(load(files, { SQLMESH__DEFAULT_GATEWAY: 'B' }).defaultGateway, 'b');
  });

  test('booleans coerce from override strings', () => {
    const files = {
      'config.yaml': `gateways:\n  l:\n    connection:\n      type: duckdb\n      catalogs:\n        c: {type: duckdb, path: c.db, read_only: true}\n${MINIMAL}`,
    };
    const config = load(files, {
      SQLMESH__GATEWAYS__L__CONNECTION__CATALOGS__C__READ_ONLY: 'False',
    });
    const conn = config.gateways.l?.connection;
    assert.equal(conn?.type === 'duckdb' && conn.catalogs.c, 'c.db');
    loadFails(
      files,
      'SQLMESH__GATEWAYS__L__CONNECTION__CATALOGS__C__READ_ONLY',
      /read_only must be true or false, got "maybe"/,
      {
        SQLMESH__GATEWAYS__L__CONNECTION__CATALOGS__C__READ_ONLY: 'maybe',
      },
    );
  });

  test('a bad override value names the variable, the key path and the expected type', () => {
    loadFails(
      { 'config.yaml': GATEWAY_A },
      'SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__PORT',
      /gateways\.Gateway_A\.connection\.port must be an integer from 1 to 65535, got "abc"/,
      { SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__PORT: 'abc' },
    );
  });

  test('applyEnvOverrides copies the tree and records which variable set what', () => {
    const tree = { gateways: { Main: { connection: { type: 'duckdb' } } } };
    const { tree: out, origins } = applyEnvOverrides(tree, {
      SQLMESH__GATEWAYS__MAIN__CONNECTION__DATABASE: 'x.db',
      SQLMESH__GATEWAYS__Other__STATE_SCHEMA: 's',
      sqlmesh__project: 'lower prefix counts too',
      SQLMESH__AIRFLOW__DISABLE_STATE_MIGRATION: '1',
    });
    assert.deepEqual(out, {
      gateways: {
        Main: { connection: { type: 'duckdb', database: 'x.db' } },
        other: { state_schema: 's' },
      },
      project: 'lower prefix counts too',
    });
    assert.deepEqual(tree, { gateways: { Main: { connection: { type: 'duckdb' } } } });
    assert.equal(
      origins.get('gateways.Main.connection.database'),
      'SQLMESH__GATEWAYS__MAIN__CONNECTION__DATABASE',
    );
    assert.equal(origins.get('gateways.other'), 'SQLMESH__GATEWAYS__Other__STATE_SCHEMA');
    assert.equal(origins.has('gateways.Main'), false);
    assert.equal(origins.has('airflow'), false);
  });

  test('a custom prefix is honoured', () => {
    const { tree } = applyEnvOverrides({}, { MYAPP__A__B: '1', SQLMESH__C: '2' }, 'MYAPP__');
    assert.deepEqual(tree, { a: { b: '1' } });
  });
});

describe('warnings and unknown keys', () => {
  test('settings SQLMesh knows but Tideline ignores warn with their position; defaults stay quiet', () => {
    const config = load({
      'config.yaml': `
${MINIMAL}snapshot_ttl: in 2 weeks
environment_suffix_target: schema
virtual_environment_mode: full
format:
  normalize: true
plan:
  auto_apply: true
gateways:
  g:
    connection:
      type: duckdb
      register_comments: false
      secrets: [{type: s3}]
`,
    });
    assert.deepEqual(config.warnings, [
      'config.yaml:4:15: snapshot_ttl is not supported by Tideline yet and is ignored',
      'config.yaml:9:1: plan is not supported by Tideline yet and is ignored',
      'config.yaml:15:26: gateways.g.connection.register_comments is not supported by Tideline yet and is ignored',
      'config.yaml:16:16: gateways.g.connection.secrets is not supported by Tideline yet and is ignored',
    ]);
  });

  test('a setting that differs from its default only by an override warns naming the variable', () => {
    const config = load(
      { 'config.yaml': MINIMAL },
      { SQLMESH__GATEWAY_MANAGED_VIRTUAL_LAYER: 'true' },
    );
    assert.deepEqual(config.warnings, [
      'SQLMESH__GATEWAY_MANAGED_VIRTUAL_LAYER: gateway_managed_virtual_layer is not supported by Tideline yet and is ignored',
    ]);
    assert.deepEqual(
      load({ 'config.yaml': MINIMAL }, { SQLMESH__GATEWAY_MANAGED_VIRTUAL_LAYER: 'false' })
        .warnings,
      [],
    );
  });

  test('parseConnectionConfig validates a connection on its own', () => {
    const warnings: string[] = [];
    const conn = parseConnectionConfig(
      { type: 'postgres', host: 'h', user: 'u', database: 'd', port: '5433', pretty_sql: true },
      'executor connection',
      warnings,
    );
    assert.equal(conn.type === 'postgres' && conn.port, 5433);
    assert.deepEqual(warnings, [
      'executor connection.pretty_sql is not supported by Tideline yet and is ignored',
    ]);
    assert.throws(
      () => parseConnectionConfig({ type: 'bigquery' }, 'executor connection'),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.where === 'executor connection.type' &&
        /does not support the bigquery engine yet/.test(err.message),
    );
  });
});

/**
 * Broken configurations: each must fail with a one-line ConfigError that says where.
 * `where` is the exact location (file:line:column, file:line or variable name).
 */
const BROKEN: {
  name: string;
  files: Record<string, string>;
  env?: Record<string, string>;
  where: string;
  message: RegExp;
}[] = [
  {
    name: 'YAML syntax error',
    files: { 'config.yaml': 'model_defaults:\n  dialect: duckdb\ngateways: [unclosed\n' },
    where: 'config.yaml:4:1',
    message: /Flow sequence/,
  },
  {
    name: 'duplicate key',
    files: { 'config.yaml': 'model_defaults:\n  dialect: duckdb\n  dialect: postgres\n' },
    where: 'config.yaml:3:3',
    message: /Map keys must be unique/,
  },
  {
    name: 'bad indentation',
    files: { 'config.yaml': 'model_defaults:\n  dialect: duckdb\n   cron: x\n' },
    where: 'config.yaml:2:12',
    message: /.+/,
  },
  {
    name: 'empty file',
    files: { 'config.yaml': '# nothing here\n' },
    where: 'config.yaml',
    message: /the file is empty.*model_defaults/,
  },
  {
    name: 'a list instead of a mapping',
    files: { 'config.yaml': '- model_defaults\n' },
    where: 'config.yaml:1:1',
    message: /holds a list; it must be a mapping/,
  },
  {
    name: 'missing model_defaults',
    files: { 'config.yaml': 'gateways:\n  a: {}\n' },
    where: 'config.yaml',
    message: /model_defaults\.dialect is required/,
  },
  {
    name: 'model_defaults without dialect',
    files: { 'config.yaml': 'model_defaults:\n  cron: "@daily"\n' },
    where: 'config.yaml:1:1',
    message: /model_defaults\.dialect is required/,
  },
  {
    name: 'unknown model_defaults key',
    files: { 'config.yaml': 'model_defaults:\n  dialect: duckdb\n  dialetc: x\n' },
    where: 'config.yaml:3:12',
    message: /model_defaults\.dialetc is not a model_defaults setting/,
  },
  {
    name: 'unknown root key with a suggestion',
    files: { 'config.yaml': `${MINIMAL}gatways:\n  a: {}\n` },
    where: 'config.yaml:3:1',
    message: /gatways is not a SQLMesh configuration setting; did you mean gateways\?/,
  },
  {
    name: 'unknown connection key',
    files: {
      'config.yaml': `${MINIMAL}gateways:\n  pg:\n    connection:\n      type: postgres\n      hots: x\n      host: h\n      user: u\n      database: d\n`,
    },
    where: 'config.yaml:7:13',
    message:
      /gateways\.pg\.connection\.hots is not a postgres connection setting; did you mean host\?/,
  },
  {
    name: 'unsupported engine',
    files: {
      'config.yaml': `${MINIMAL}gateways:\n  sf:\n    connection:\n      type: snowflake\n      account: x\n`,
    },
    where: 'config.yaml:6:13',
    message: /Tideline does not support the snowflake engine yet; use one of duckdb, postgres/,
  },
  {
    name: 'unknown engine',
    files: { 'config.yaml': `${MINIMAL}gateways:\n  x:\n    connection:\n      type: oracle9\n` },
    where: 'config.yaml:6:13',
    message: /unknown connection type "oracle9"/,
  },
  {
    name: 'connection without type',
    files: { 'config.yaml': `${MINIMAL}gateways:\n  x:\n    connection:\n      database: a.db\n` },
    where: 'config.yaml:5:5',
    message: /gateways\.x\.connection has no connection type/,
  },
  {
    name: 'port of the wrong type',
    files: {
      'config.yaml': `${MINIMAL}gateways:\n  pg:\n    connection:\n      type: postgres\n      host: h\n      port: abc\n      user: u\n      database: d\n`,
    },
    where: 'config.yaml:8:13',
    message: /gateways\.pg\.connection\.port must be an integer from 1 to 65535, got "abc"/,
  },
  {
    name: 'postgres without host',
    files: {
      'config.yaml': `${MINIMAL}gateways:\n  pg:\n    connection:\n      type: postgres\n      user: u\n      database: d\n`,
    },
    where: 'config.yaml:5:5',
    message: /gateways\.pg\.connection needs `host`/,
  },
  {
    name: 'number where a string is expected',
    files: { 'config.yaml': 'model_defaults:\n  dialect: 42\n' },
    where: 'config.yaml:2:12',
    message: /model_defaults\.dialect must be a string, got number 42 \(quote it\)/,
  },
  {
    name: 'concurrent_tasks of zero',
    files: {
      'config.yaml': `${MINIMAL}default_connection:\n  type: duckdb\n  concurrent_tasks: 0\n`,
    },
    where: 'config.yaml:5:21',
    message: /default_connection\.concurrent_tasks must be an integer of at least 1, got number 0/,
  },
  {
    name: 'default_gateway naming no gateway',
    files: { 'config.yaml': `${MINIMAL}default_gateway: prod\ngateways:\n  dev: {}\n  ci: {}\n` },
    where: 'config.yaml:3:18',
    message: /names gateway "prod", which is not defined; available: dev, ci/,
  },
  {
    name: 'gateways differing only by case',
    files: { 'config.yaml': `${MINIMAL}gateways:\n  Dev: {}\n  dev: {}\n` },
    where: 'config.yaml:5:8',
    message: /gateways\.dev is the same gateway as Dev/,
  },
  {
    name: 'unknown scheduler type',
    files: { 'config.yaml': `${MINIMAL}default_scheduler:\n  type: airflow\n` },
    where: 'config.yaml:4:9',
    message: /unknown scheduler type "airflow"; use builtin or cloud/,
  },
  {
    name: 'builtin scheduler with settings',
    files: { 'config.yaml': `${MINIMAL}default_scheduler:\n  type: builtin\n  url: x\n` },
    where: 'config.yaml:5:8',
    message: /default_scheduler\.url is not a builtin scheduler setting/,
  },
  {
    name: 'environment_ttl in the past',
    files: { 'config.yaml': `${MINIMAL}environment_ttl: 1 week\n` },
    where: 'config.yaml:3:18',
    message: /"1 week", which is in the past; write a future time such as "in 1 week"/,
  },
  {
    name: 'root setting that moved under plan',
    files: { 'config.yaml': `${MINIMAL}auto_categorize_changes: {sql: full}\n` },
    where: 'config.yaml:3:26',
    message: /move it to plan\.auto_categorize_changes/,
  },
  {
    name: 'duckdb database together with catalogs',
    files: {
      'config.yaml': `${MINIMAL}default_connection:\n  type: duckdb\n  database: a.db\n  catalogs: {b: b.db}\n`,
    },
    where: 'config.yaml:5:13',
    message: /default_connection\.database cannot be combined with catalogs/,
  },
  {
    name: 'unsupported duckdb attach options',
    files: {
      'config.yaml': `${MINIMAL}default_connection:\n  type: duckdb\n  catalogs:\n    pg: {type: postgres, path: 'dbname=x'}\n`,
    },
    where: 'config.yaml:6:9',
    message: /default_connection\.catalogs\.pg uses attach options \(type postgres\)/,
  },
  {
    name: 'variable of an unsupported type',
    files: { 'config.yaml': `${MINIMAL}variables: [a, b]\n` },
    where: 'config.yaml:3:12',
    message: /variables must be a mapping of keys to values, got a list/,
  },
  {
    name: 'override with nothing after the prefix',
    files: { 'config.yaml': MINIMAL },
    env: { SQLMESH__: 'x' },
    where: 'SQLMESH__',
    message: /is not a valid override/,
  },
  {
    name: 'override walking through a plain value',
    files: { 'config.yaml': MINIMAL },
    env: { SQLMESH__MODEL_DEFAULTS__DIALECT__X: 'y' },
    where: 'SQLMESH__MODEL_DEFAULTS__DIALECT__X',
    message: /cannot set a key inside model_defaults\.dialect, which is not a mapping/,
  },
  {
    name: 'override creating a connection without type',
    files: { 'config.yaml': MINIMAL },
    env: { SQLMESH__GATEWAYS__ABC__CONNECTION__PASSWORD: 'x' },
    where: 'SQLMESH__GATEWAYS__ABC__CONNECTION__PASSWORD',
    message: /gateways\.abc\.connection has no connection type/,
  },
  {
    name: 'override with invalid JSON for a list',
    files: { 'config.yaml': `${MINIMAL}default_connection:\n  type: duckdb\n` },
    env: { SQLMESH__DEFAULT_CONNECTION__EXTENSIONS: '[httpfs' },
    where: 'SQLMESH__DEFAULT_CONNECTION__EXTENSIONS',
    message: /default_connection\.extensions must be a list; the text given is not valid JSON/,
  },
];

describe('broken configurations', () => {
  test('the corpus is large enough to mean something', () => {
    assert.ok(BROKEN.length >= 12);
  });
  for (const c of BROKEN) {
    test(c.name, () => loadFails(c.files, c.where, c.message, c.env ?? {}));
  }
});
