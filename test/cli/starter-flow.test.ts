import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { CliIo } from '../../src/cli/cli-context.js';
import { main } from '../../src/cli/main.js';
import { cliPath } from '../helpers/paths.js';
import { createTestDatabase } from '../helpers/postgres.js';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function tideline(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    env: { ...env },
    interactive: false,
  };
  const code = await main([process.execPath, 'tideline', ...args], io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tideline-cli-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('duckdb starter: init, info, dag, render, fetchdf', async () => {
  const dir = tempDir();
  const init = await tideline(['-p', dir, 'init', 'duckdb']);
  assert.equal(init.code, 0, init.err);
  assert.match(init.out, /models\/incremental_model\.sql/);

  const info = await tideline(['-p', dir, 'info']);
  assert.equal(info.code, 0, info.err);
  assert.match(info.out, /^Models: 3$/m);
  assert.match(info.out, /^Macros: 0$/m);
  assert.match(info.out, /^Seeds: 1$/m);
  assert.match(info.out, /^Tests: 1$/m);
  assert.match(info.out, /Data warehouse connection succeeded/);

  const dag = await tideline(['-p', dir, 'dag', '--json']);
  const models = (JSON.parse(dag.out) as { models: Array<{ name: string; dependsOn: string[] }> })
    .models;
  assert.deepEqual(
    models.map((m) => [m.name, m.dependsOn]),
    [
      ['sqlmesh_example.seed_model', []],
      ['sqlmesh_example.incremental_model', ['sqlmesh_example.seed_model']],
      ['sqlmesh_example.full_model', ['sqlmesh_example.incremental_model']],
    ],
  );

  const render = await tideline([
    '-p',
    dir,
    'render',
    'sqlmesh_example.incremental_model',
    '--start',
    '2020-01-03',
    '--end',
    '2020-01-04',
    '--no-format',
  ]);
  assert.equal(render.code, 0, render.err);
  assert.match(render.out, /FROM db\.sqlmesh_example\.seed_model AS seed_model/);
  assert.match(render.out, /CAST\('2020-01-03' AS DATE\) AND CAST\('2020-01-04' AS DATE\)/);

  const pg = await tideline([
    '-p',
    dir,
    'render',
    'sqlmesh_example.full_model',
    '--dialect',
    'postgres',
    '--no-format',
  ]);
  assert.equal(pg.code, 0, pg.err);
  assert.match(pg.out, /COUNT\(DISTINCT id\)/);

  const fetch = await tideline([
    '-p',
    dir,
    'fetchdf',
    "SELECT 41 + 1 AS answer, 'x' AS tag",
    '--json',
  ]);
  assert.equal(fetch.code, 0, fetch.err);
  assert.deepEqual(JSON.parse(fetch.out), [{ answer: 42, tag: 'x' }]);
});

test('postgres starter: info, dag, render, fetchdf against a real server', async () => {
  const db = await createTestDatabase();
  try {
    const env = {
      PGHOST: db.config.host,
      PGPORT: String(db.config.port),
      PGUSER: db.config.user,
      PGPASSWORD: db.config.password,
      PGDATABASE: db.config.database,
    };
    const dir = tempDir();
    assert.equal((await tideline(['-p', dir, 'init', 'postgres'])).code, 0);
    const info = await tideline(['-p', dir, 'info'], env);
    assert.equal(info.code, 0, info.out + info.err);
    assert.match(info.out, /Gateway postgres \(postgres\): Data warehouse connection succeeded/);

    const dag = await tideline(['-p', dir, 'dag'], env);
    assert.match(dag.out, /sqlmesh_example\.full_model <- sqlmesh_example\.incremental_model/);

    const render = await tideline(
      [
        '-p',
        dir,
        'render',
        'sqlmesh_example.incremental_model',
        '--start',
        '2020-01-01',
        '--end',
        '2020-01-01',
        '--no-format',
      ],
      env,
    );
    assert.equal(render.code, 0, render.err);
    assert.match(
      render.out,
      new RegExp(
        `FROM ${db.config.database}\\.sqlmesh_example\\.seed_model|FROM "${db.config.database}"\\.sqlmesh_example\\.seed_model`,
      ),
    );

    const fetch = await tideline(['-p', dir, 'fetchdf', 'SELECT current_database() AS db'], env);
    assert.equal(fetch.code, 0, fetch.err);
    assert.match(fetch.out, new RegExp(`^${db.config.database}$`, 'm'));

    const down = await tideline(['-p', dir, 'info'], { ...env, PGPORT: '1' });
    assert.equal(down.code, 1);
    assert.match(down.out, /Data warehouse connection failed: .*refused/);
  } finally {
    await db.drop();
  }
});

test('bad input: usage errors exit 2, project errors exit 1 with file:line:column', async () => {
  const dir = tempDir();
  assert.equal((await tideline(['nonsense'])).code, 2);
  assert.equal((await tideline(['-p', dir, 'init', 'oracle'])).code, 2);
  assert.equal((await tideline(['-p', dir, 'init'])).code, 0);
  const again = await tideline(['-p', dir, 'init']);
  assert.equal(again.code, 1);
  assert.equal(again.err.split('\n').length, 1);

  const unknown = await tideline(['-p', dir, 'render', 'sqlmesh_example.nope']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /no model named sqlmesh_example\.nope/);

  writeFileSync(
    join(dir, 'models', 'broken.sql'),
    "MODEL (\n  name a.b,\n  kind FULL,\n  cron '@daily' foo\n);\nSELECT 1",
  );
  const broken = await tideline(['-p', dir, 'dag']);
  assert.equal(broken.code, 1);
  assert.match(broken.err, /^Error: models\/broken\.sql:4:\d+: /);
  assert.equal(broken.err.split('\n').length, 1);

  const empty = await tideline(['-p', tempDir(), 'info']);
  assert.equal(empty.code, 1);
  assert.equal(empty.err.split('\n').length, 1);
});

test('the installed command prints its version and one-line errors', () => {
  const version = spawnSync(process.execPath, [cliPath, '--version'], { encoding: 'utf8' });
  assert.equal(version.status, 0);
  assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+$/);
  const help = spawnSync(process.execPath, [cliPath, 'render', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--execution-time/);
  const bad = spawnSync(process.execPath, [cliPath, '-p', tmpdir(), 'render', 'x.y'], {
    encoding: 'utf8',
  });
  assert.equal(bad.status, 1);
  assert.doesNotMatch(bad.stderr, /\n\s+at /);
});
