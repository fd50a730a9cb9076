/**
 * End-to-end tests of the first `tideline` commands: init, info, dag, render
 * and fetchdf on the DuckDB and PostgreSQL starter projects, and the exit
 * codes and one-line messages of usage and project errors.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { repoRoot } from '../helpers/paths.js';
import { freePort } from '../helpers/pg-server.js';
import { withTestDatabase } from '../helpers/postgres.js';
import { runCli, spawnCli, tempDir } from './run-cli.js';

// Created at the top level, before any test is declared: a server this file
// starts for itself (when the run did not start one) must outlive every test,
// and no suite may start running while it boots.
const db = await withTestDatabase();

const STARTER_FILES = [
  'config.yaml',
  'models/seed_model.sql',
  'models/incremental_model.sql',
  'models/full_model.sql',
  'seeds/seed_data.csv',
  'audits/assert_positive_order_ids.sql',
  'tests/test_full_model.yaml',
];

interface DagJson {
  models: Array<{ name: string; kind: string; dependsOn: string[] }>;
}

interface InfoJson {
  models: number;
  macros: number;
  seeds: number;
  tests: number;
  defaultGateway: string;
  gateways: Array<{ name: string; type?: string; ok?: boolean; error?: string }>;
}

/** A message a user sees: one line, no stack frames. */
function assertOneLine(text: string): void {
  assert.equal(text.split('\n').length, 1, `expected one line, got:\n${text}`);
  assert.doesNotMatch(text, /^\s+at /m);
}

describe('duckdb starter project', () => {
  let dir = '';
  before(() => {
    dir = tempDir();
  });

  test('init writes the starter files and lists them', async () => {
    const run = await runCli(['-p', dir, 'init', 'duckdb']);
    assert.equal(run.code, 0, run.err);
    assert.equal(run.err, '');
    assert.match(run.out, /^Created a duckdb project in /);
    for (const file of STARTER_FILES) {
      assert.ok(existsSync(join(dir, file)), `${file} was not written`);
      assert.match(run.out, new RegExp(`^  ${file.replace(/\./g, '\\.')}$`, 'm'));
    }
    assert.match(readFileSync(join(dir, 'config.yaml'), 'utf8'), /type: duckdb/);
  });

  test('info counts the project and checks the connection', async () => {
    const run = await runCli(['-p', dir, 'info']);
    assert.equal(run.code, 0, run.err);
    assert.deepEqual(run.out.split('\n').slice(0, 4), [
      'Models: 3',
      'Macros: 0',
      'Seeds: 1',
      'Tests: 1',
    ]);
    assert.match(run.out, /^Gateway duckdb \(duckdb\): Data warehouse connection succeeded$/m);
  });

  test('info --json gives the same facts for scripts', async () => {
    const run = await runCli(['-p', dir, 'info', '--json']);
    assert.equal(run.code, 0, run.err);
    const info = JSON.parse(run.out) as InfoJson;
    assert.deepEqual(
      [info.models, info.macros, info.seeds, info.tests, info.defaultGateway],
      [3, 0, 1, 1, 'duckdb'],
    );
    assert.deepEqual(info.gateways, [{ name: 'duckdb', type: 'duckdb', ok: true }]);
  });

  test('info --skip-connection does not connect', async () => {
    const run = await runCli(['-p', dir, 'info', '--skip-connection']);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /^Gateway duckdb \(duckdb\): connection not tested$/m);
    assert.doesNotMatch(run.out, /connection succeeded/);
  });

  test('dag lists models in dependency order with their upstreams', async () => {
    const run = await runCli(['-p', dir, 'dag']);
    assert.equal(run.code, 0, run.err);
    assert.deepEqual(run.out.split('\n'), [
      'sqlmesh_example.seed_model',
      'sqlmesh_example.incremental_model <- sqlmesh_example.seed_model',
      'sqlmesh_example.full_model <- sqlmesh_example.incremental_model',
    ]);
  });

  test('dag --json gives names, kinds and edges', async () => {
    const run = await runCli(['-p', dir, 'dag', '--json']);
    assert.equal(run.code, 0, run.err);
    assert.deepEqual((JSON.parse(run.out) as DagJson).models, [
      { name: 'sqlmesh_example.seed_model', kind: 'SEED', dependsOn: [] },
      {
        name: 'sqlmesh_example.incremental_model',
        kind: 'INCREMENTAL_BY_TIME_RANGE',
        dependsOn: ['sqlmesh_example.seed_model'],
      },
      {
        name: 'sqlmesh_example.full_model',
        kind: 'FULL',
        dependsOn: ['sqlmesh_example.incremental_model'],
      },
    ]);
  });

  test('render fills the interval and qualifies upstream tables', async () => {
    const args = ['-p', dir, 'render', 'sqlmesh_example.incremental_model'];
    const range = ['--start', '2020-01-03', '--end', '2020-01-05'];
    const pretty = await runCli([...args, ...range]);
    assert.equal(pretty.code, 0, pretty.err);
    assert.match(pretty.out, /^FROM db\.sqlmesh_example\.seed_model AS seed_model$/m);
    assert.match(
      pretty.out,
      /event_date BETWEEN CAST\('2020-01-03' AS DATE\) AND CAST\('2020-01-05' AS DATE\)/,
    );
    assert.ok(pretty.out.split('\n').length > 3, 'the default output is formatted over lines');

    const flat = await runCli([...args, ...range, '--no-format']);
    assert.equal(flat.code, 0, flat.err);
    assert.equal(flat.out.split('\n').length, 1);
    assert.equal(flat.out, pretty.out.replace(/\n\s*/g, ' '));

    const other = await runCli([...args, '--start', '2021-06-01', '--end', '2021-06-01']);
    assert.match(other.out, /CAST\('2021-06-01' AS DATE\) AND CAST\('2021-06-01' AS DATE\)/);
  });

  test('render --dialect postgres keeps the starter query valid for postgres', async () => {
    const run = await runCli([
      '-p',
      dir,
      'render',
      'sqlmesh_example.incremental_model',
      '--start',
      '2020-01-01',
      '--end',
      '2020-01-02',
      '--dialect',
      'postgres',
    ]);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /FROM db\.sqlmesh_example\.seed_model AS seed_model/);
    assert.match(run.out, /CAST\('2020-01-01' AS DATE\) AND CAST\('2020-01-02' AS DATE\)/);
  });

  test('fetchdf prints a table, with NULL and right-aligned numbers', async () => {
    const run = await runCli([
      '-p',
      dir,
      'fetchdf',
      "SELECT * FROM (VALUES (1, 'x'), (22, NULL)) AS t(n, tag) ORDER BY n",
    ]);
    assert.equal(run.code, 0, run.err);
    assert.deepEqual(run.out.split('\n'), [' n  tag', '--  ----', ' 1  x', '22  NULL']);
  });

  test('fetchdf --json prints the rows', async () => {
    const run = await runCli([
      '-p',
      dir,
      'fetchdf',
      "SELECT 40 + 2 AS answer, 'x' AS tag, NULL AS nothing",
      '--json',
    ]);
    assert.equal(run.code, 0, run.err);
    assert.deepEqual(JSON.parse(run.out), [{ answer: 42, tag: 'x', nothing: null }]);
  });

  test('fetchdf with bad SQL fails with one line naming the engine', async () => {
    const run = await runCli(['-p', dir, 'fetchdf', 'SELEC 1']);
    assert.equal(run.code, 1);
    assert.equal(run.out, '');
    assertOneLine(run.err);
    assert.match(run.err, /^Error: DuckDB: .*syntax error/i);
  });
});

describe('render options on a project with extra models', () => {
  let dir = '';
  before(async () => {
    dir = tempDir();
    assert.equal((await runCli(['-p', dir, 'init'])).code, 0);
    writeFileSync(
      join(dir, 'models', 'typed.sql'),
      'MODEL (name sqlmesh_example.typed, kind FULL);\n' +
        'SELECT CAST(id AS DOUBLE) AS d, [1, 2] AS l FROM sqlmesh_example.full_model\n',
    );
    writeFileSync(
      join(dir, 'models', 'times.sql'),
      'MODEL (name sqlmesh_example.times, kind FULL);\n' +
        'SELECT @execution_ds AS run_ds, @start_ds AS s, @end_ds AS e\n',
    );
  });

  test('--dialect transpiles from the project dialect', async () => {
    const base = ['-p', dir, 'render', 'sqlmesh_example.typed', '--no-format'];
    const duck = await runCli(base);
    assert.equal(duck.code, 0, duck.err);
    assert.match(duck.out, /CAST\(id AS DOUBLE\) AS d, \[1, 2\] AS l/);
    assert.match(duck.out, /FROM db\.sqlmesh_example\.full_model AS full_model/);
    const pg = await runCli([...base, '--dialect', 'postgres']);
    assert.equal(pg.code, 0, pg.err);
    assert.match(pg.out, /CAST\(id AS DOUBLE PRECISION\) AS d, ARRAY\[1, 2\] AS l/);
  });

  test('--execution-time, --start and --end feed the time macros', async () => {
    const run = await runCli([
      '-p',
      dir,
      'render',
      'sqlmesh_example.times',
      '--start',
      '2020-02-01',
      '--end',
      '2020-02-03',
      '--execution-time',
      '2021-05-05 10:00:00',
      '--no-format',
    ]);
    assert.equal(run.code, 0, run.err);
    assert.equal(run.out, "SELECT '2021-05-05' AS run_ds, '2020-02-01' AS s, '2020-02-03' AS e");
  });

  test('a bad time or dialect is a one-line error', async () => {
    const base = ['-p', dir, 'render', 'sqlmesh_example.times'];
    const time = await runCli([...base, '--start', 'garbage']);
    assert.equal(time.code, 1);
    assertOneLine(time.err);
    assert.match(time.err, /invalid time 'garbage'/);
    const dialect = await runCli([...base, '--dialect', 'klingon']);
    assert.equal(dialect.code, 1);
    assertOneLine(dialect.err);
    assert.match(dialect.err, /unknown SQL dialect 'klingon'.*postgres/);
  });
});

describe('postgres starter project', () => {
  const env: Record<string, string> = {
    PGHOST: db.config.host,
    PGPORT: String(db.config.port),
    PGUSER: db.config.user,
    PGPASSWORD: db.config.password ?? '',
    PGDATABASE: db.config.database,
  };
  let dir = '';
  before(() => {
    dir = tempDir();
  });

  test('init postgres writes a config that reads the PG variables', async () => {
    const run = await runCli(['-p', dir, 'init', 'postgres']);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /^Created a postgres project in /);
    const config = readFileSync(join(dir, 'config.yaml'), 'utf8');
    assert.match(config, /type: postgres/);
    assert.match(config, /env_var\(\s*['"]PGHOST['"]/);
  });

  test('info connects to the server', async () => {
    const run = await runCli(['-p', dir, 'info'], env);
    assert.equal(run.code, 0, run.out + run.err);
    assert.match(run.out, /^Models: 3$/m);
    assert.match(run.out, /^Gateway \S+ \(postgres\): Data warehouse connection succeeded$/m);
  });

  test('dag and render use the postgres database as catalog', async () => {
    const dag = await runCli(['-p', dir, 'dag'], env);
    assert.equal(dag.code, 0, dag.err);
    assert.match(dag.out, /^sqlmesh_example\.full_model <- sqlmesh_example\.incremental_model$/m);

    const render = await runCli(
      [
        '-p',
        dir,
        'render',
        'sqlmesh_example.incremental_model',
        '--start',
        '2020-01-01',
        '--end',
        '2020-01-07',
        '--no-format',
      ],
      env,
    );
    assert.equal(render.code, 0, render.err);
    assert.match(render.out, new RegExp(`FROM "?${db.name}"?\\.sqlmesh_example\\.seed_model`));
    assert.match(render.out, /CAST\('2020-01-01' AS DATE\) AND CAST\('2020-01-07' AS DATE\)/);
  });

  test('fetchdf runs on the test database', async () => {
    const table = await runCli(['-p', dir, 'fetchdf', 'SELECT current_database() AS db'], env);
    assert.equal(table.code, 0, table.err);
    assert.deepEqual(
      table.out.split('\n'),
      ['db'.padEnd(db.name.length), '-'.repeat(db.name.length), db.name].map((l) => l.trimEnd()),
    );
    const json = await runCli(
      ['-p', dir, 'fetchdf', 'SELECT current_database() AS db', '--json'],
      env,
    );
    assert.equal(json.code, 0, json.err);
    assert.deepEqual(JSON.parse(json.out), [{ db: db.name }]);
  });

  test('info with nothing listening on PGPORT fails with exit 1', async () => {
    const closed = String(await freePort());
    const run = await runCli(['-p', dir, 'info'], { ...env, PGPORT: closed });
    assert.equal(run.code, 1);
    assert.match(run.out, /^Models: 3$/m, 'the counts are still printed');
    const line = run.out.split('\n').find((l) => l.includes('connection failed'));
    assert.ok(line, run.out);
    assert.match(line, /Data warehouse connection failed: .*refused/i);
    assert.match(line, new RegExp(closed));

    const json = await runCli(['-p', dir, 'info', '--json'], { ...env, PGPORT: closed });
    assert.equal(json.code, 1);
    const gateway = (JSON.parse(json.out) as InfoJson).gateways[0];
    assert.equal(gateway?.ok, false);
    assert.match(gateway?.error ?? '', /refused/i);

    const skipped = await runCli(['-p', dir, 'info', '--skip-connection'], {
      ...env,
      PGPORT: closed,
    });
    assert.equal(skipped.code, 0, skipped.err);
  });
});

describe('usage and input errors', () => {
  test('an unknown command or option is a usage error (exit 2)', async () => {
    const command = await runCli(['nonsense']);
    assert.equal(command.code, 2);
    assert.match(command.err, /unknown command 'nonsense'/);
    const option = await runCli(['-p', tempDir(), 'info', '--bogus']);
    assert.equal(option.code, 2);
    assert.match(option.err, /unknown option '--bogus'/);
    const missing = await runCli(['render']);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /missing required argument 'model'/);
  });

  test('init with an unknown engine is a usage error and writes nothing', async () => {
    const dir = tempDir();
    const run = await runCli(['-p', dir, 'init', 'oracle']);
    assert.equal(run.code, 2);
    assert.match(run.err, /choose duckdb or postgres/);
    assert.equal(existsSync(join(dir, 'config.yaml')), false);
  });

  test('init twice in one folder is refused and keeps the files', async () => {
    const dir = tempDir();
    assert.equal((await runCli(['-p', dir, 'init'])).code, 0);
    const edited = 'MODEL (name sqlmesh_example.full_model, kind FULL);\nSELECT 1 AS one\n';
    writeFileSync(join(dir, 'models', 'full_model.sql'), edited);
    const again = await runCli(['-p', dir, 'init', 'postgres']);
    assert.equal(again.code, 1);
    assertOneLine(again.err);
    assert.match(again.err, /config\.yaml: already exists/);
    assert.equal(readFileSync(join(dir, 'models', 'full_model.sql'), 'utf8'), edited);
    assert.match(readFileSync(join(dir, 'config.yaml'), 'utf8'), /type: duckdb/);
  });

  test('render of an unknown model fails with exit 1', async () => {
    const dir = tempDir();
    await runCli(['-p', dir, 'init']);
    const run = await runCli(['-p', dir, 'render', 'sqlmesh_example.nope']);
    assert.equal(run.code, 1);
    assertOneLine(run.err);
    assert.match(run.err, /no model named sqlmesh_example\.nope/);
  });

  test('-p on a folder without config.yaml is a one-line error', async () => {
    for (const dir of [tempDir(), join(tempDir(), 'missing')]) {
      for (const args of [['info'], ['dag'], ['render', 'a.b'], ['fetchdf', 'SELECT 1']]) {
        const run = await runCli(['-p', dir, ...args]);
        assert.equal(run.code, 1, args.join(' '));
        assertOneLine(run.err);
        assert.match(run.err, /no config\.yaml found/);
        assert.ok(run.err.includes(dir), run.err);
      }
    }
  });

  test('an unknown --gateway is a one-line error listing the gateways', async () => {
    const dir = tempDir();
    await runCli(['-p', dir, 'init']);
    const run = await runCli(['-p', dir, '--gateway', 'nope', 'info']);
    assert.equal(run.code, 1);
    assertOneLine(run.err);
    assert.match(run.err, /no gateway named "nope"; available: duckdb/);
  });

  test('a malformed model file is reported at file:line:column', async () => {
    const dir = tempDir();
    await runCli(['-p', dir, 'init']);
    const cases: Array<[string, RegExp]> = [
      ["MODEL (\n  name a.b,\n  kind FULL,\n  cron '@daily' foo\n);\nSELECT 1", /:4:17: /],
      ['MODEL (\n  name a.b,\n  kind NOT_A_KIND\n);\nSELECT 1', /:3:8: .*NOT_A_KIND/],
      ['MODEL (\n  name a.b,\n  kind FULL,\n  grain [a\n);\nSELECT 1', /:5:1: /],
      ['MODEL (\n  name a.b,\n  kind FULL\n);\n\nSELECT 1 +', /:6:10: /],
    ];
    for (const [text, where] of cases) {
      writeFileSync(join(dir, 'models', 'broken.sql'), text);
      for (const args of [['dag'], ['info', '--skip-connection']]) {
        const run = await runCli(['-p', dir, ...args]);
        assert.equal(run.code, 1, text);
        assertOneLine(run.err);
        assert.match(run.err, /^Error: models\/broken\.sql:\d+:\d+: /);
        assert.match(run.err, where);
      }
    }
  });
});

describe('the installed command', () => {
  test('--version prints the package version', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      version: string;
    };
    const run = spawnCli(['--version']);
    assert.equal(run.code, 0, run.err);
    assert.equal(run.out, pkg.version);
  });

  test('--help on a subcommand lists its options on stdout', () => {
    const run = spawnCli(['render', '--help']);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /^Usage: tideline render \[options\] <model>/m);
    for (const opt of ['--start', '--end', '--execution-time', '--dialect', '--no-format']) {
      assert.ok(run.out.includes(opt), `${opt} missing from help`);
    }
  });

  test('a project error exits 1 with one line on stderr, a usage error exits 2', () => {
    const dir = tempDir();
    const run = spawnCli(['-p', dir, 'info']);
    assert.equal(run.code, 1);
    assert.equal(run.out, '');
    assertOneLine(run.err);
    assert.match(run.err, /^Error: .*no config\.yaml found/);

    const usage = spawnCli(['nonsense']);
    assert.equal(usage.code, 2);
    assert.match(usage.err, /^error: unknown command 'nonsense'/);
  });
});
