import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import type { DuckDBConnection } from '@duckdb/node-api';
import { parse as parseYaml } from 'yaml';

import { loadProjectConfig } from '../../../src/engine/config/config-loader.js';
import { ConfigError } from '../../../src/engine/errors.js';
import {
  STARTER_FOLDERS,
  STARTER_START_DATE,
  starterProjectFiles,
  writeStarterProject,
} from '../../../src/engine/starter/starter-project.js';

const base = mkdtempSync(join(tmpdir(), 'tideline-starter-'));
after(() => rmSync(base, { recursive: true, force: true }));
let counter = 0;
const freshDir = (): string => join(base, `p${counter++}`);

const ENGINES = ['duckdb', 'postgres'] as const;

function fileOf(engine: (typeof ENGINES)[number], path: string): string {
  const file = starterProjectFiles(engine).find((f) => f.path === path);
  assert.ok(file, `the starter project has ${path}`);
  return file.content;
}

/** The text after a file's leading `MODEL (...)` / `AUDIT (...)` block and its semicolon. */
function bodyAfterHeader(text: string, keyword: 'MODEL' | 'AUDIT'): string {
  const start = text.indexOf(`${keyword} (`);
  assert.ok(start >= 0, `the file has a ${keyword} block`);
  let depth = 0;
  for (let i = start + keyword.length; i < text.length; i++) {
    if (text[i] === '(') depth++;
    if (text[i] === ')' && --depth === 0) {
      const semi = text.indexOf(';', i);
      return text.slice(semi + 1).trim();
    }
  }
  throw new Error(`unclosed ${keyword} block`);
}

function property(text: string, key: string): string | undefined {
  return new RegExp(`^\\s*${key}\\s+(.+?),?$`, 'm').exec(text)?.[1];
}

describe('starterProjectFiles', () => {
  for (const engine of ENGINES) {
    test(`${engine}: has SQLMesh's example layout and names`, () => {
      const paths = starterProjectFiles(engine).map((f) => f.path);
      assert.deepEqual([...paths].sort(), [
        'audits/assert_positive_order_ids.sql',
        'config.yaml',
        'macros/.gitkeep',
        'models/full_model.sql',
        'models/incremental_model.sql',
        'models/seed_model.sql',
        'seeds/seed_data.csv',
        'tests/test_full_model.yaml',
      ]);
      for (const model of ['seed_model', 'incremental_model', 'full_model']) {
        const text = fileOf(engine, `models/${model}.sql`);
        assert.equal(property(text, 'name'), `sqlmesh_example.${model}`);
      }
    });

    test(`${engine}: config.yaml is YAML naming the ${engine} gateway`, () => {
      const config = parseYaml(fileOf(engine, 'config.yaml')) as Record<string, unknown>;
      assert.equal(config.default_gateway, engine);
      const gateways = config.gateways as Record<string, { connection: Record<string, unknown> }>;
      assert.deepEqual(Object.keys(gateways), [engine]);
      assert.equal(gateways[engine]?.connection.type, engine);
      const defaults = config.model_defaults as Record<string, unknown>;
      assert.equal(defaults.dialect, engine);
      assert.equal(String(defaults.start), STARTER_START_DATE);
    });
  }

  test('the models declare the kinds, grains and audits of the example project', () => {
    const seed = fileOf('duckdb', 'models/seed_model.sql');
    assert.match(seed, /kind SEED \(\s*path '\.\.\/seeds\/seed_data\.csv'/);
    assert.match(seed, /id INTEGER,\s*item_id INTEGER,\s*event_date DATE/);
    const incremental = fileOf('duckdb', 'models/incremental_model.sql');
    assert.match(incremental, /kind INCREMENTAL_BY_TIME_RANGE \(\s*time_column event_date\s*\)/);
    assert.equal(property(incremental, 'cron'), "'@daily'");
    assert.equal(property(incremental, 'grain'), '(id, event_date)');
    assert.match(incremental, /event_date BETWEEN @start_date AND @end_date/);
    const full = fileOf('duckdb', 'models/full_model.sql');
    assert.equal(property(full, 'kind'), 'FULL');
    assert.equal(property(full, 'grain'), 'item_id');
    assert.equal(property(full, 'audits'), '(assert_positive_order_ids)');
    const audit = fileOf('duckdb', 'audits/assert_positive_order_ids.sql');
    assert.equal(property(audit, 'name'), 'assert_positive_order_ids');
  });

  test('seed_data.csv has the declared columns and a week of dates', () => {
    const lines = fileOf('duckdb', 'seeds/seed_data.csv').trim().split('\n');
    assert.equal(lines[0], 'id,item_id,event_date');
    const rows = lines.slice(1).map((l) => l.split(','));
    assert.ok(rows.length >= 5, 'a handful of rows');
    const ids = new Set<number>();
    const days = new Set<string>();
    for (const [id, itemId, date, ...rest] of rows) {
      assert.equal(rest.length, 0);
      assert.ok(Number.isInteger(Number(id)) && Number.isInteger(Number(itemId)));
      ids.add(Number(id));
      assert.match(date ?? '', /^\d{4}-\d{2}-\d{2}$/);
      days.add(date ?? '');
    }
    assert.equal(ids.size, rows.length, 'ids are unique');
    const sorted = [...days].sort();
    assert.equal(sorted[0], STARTER_START_DATE);
    const spanDays =
      (Date.parse(sorted.at(-1) ?? '') - Date.parse(STARTER_START_DATE)) / 86_400_000;
    assert.equal(spanDays, 6, 'the dates cover one week');
  });
});

describe('writeStarterProject', () => {
  for (const engine of ENGINES) {
    test(`${engine}: writes every file and folder, creating the target folder`, () => {
      const dir = join(freshDir(), 'nested');
      const written = writeStarterProject(dir, engine);
      assert.deepEqual(
        written,
        starterProjectFiles(engine).map((f) => f.path),
      );
      for (const file of starterProjectFiles(engine)) {
        assert.equal(readFileSync(join(dir, file.path), 'utf8'), file.content);
      }
      for (const folder of STARTER_FOLDERS) assert.ok(existsSync(join(dir, folder)), folder);
    });

    test(`${engine}: the written config.yaml loads with its gateway`, () => {
      const dir = freshDir();
      writeStarterProject(dir, engine);
      const config = loadProjectConfig(dir, { env: {} });
      assert.equal(config.defaultGateway, engine);
      const connection = config.gateways[engine]?.connection;
      assert.equal(connection?.type, engine);
      if (connection?.type === 'postgres') {
        assert.equal(connection.host, 'localhost');
        assert.equal(connection.port, 5432);
        assert.equal(connection.user, 'postgres');
        assert.equal(connection.database, 'postgres');
      } else {
        assert.equal(connection?.database, 'db.db');
      }
      assert.equal(config.modelDefaults.dialect, engine);
    });
  }

  test('postgres: connection settings come from the environment', () => {
    const dir = freshDir();
    writeStarterProject(dir, 'postgres');
    const env = { PGHOST: 'db.internal', PGPORT: '6543', PGUSER: 'ana', PGDATABASE: 'shop' };
    const connection = loadProjectConfig(dir, { env }).gateways.postgres?.connection;
    assert.equal(connection?.type, 'postgres');
    if (connection?.type !== 'postgres') return;
    assert.equal(connection.host, 'db.internal');
    assert.equal(connection.port, 6543);
    assert.equal(connection.user, 'ana');
    assert.equal(connection.database, 'shop');
  });

  for (const marker of ['config.yaml', 'models']) {
    test(`refuses a folder that already has ${marker}, writing nothing`, () => {
      const dir = freshDir();
      mkdirSync(dir);
      if (marker === 'models') mkdirSync(join(dir, marker));
      else writeFileSync(join(dir, marker), 'gateways: {}\n');
      assert.throws(
        () => writeStarterProject(dir, 'duckdb'),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.equal(err.where, join(dir, marker));
          assert.doesNotMatch(err.message, /\n/);
          return true;
        },
      );
      assert.equal(existsSync(join(dir, 'seeds')), false);
      if (marker === 'config.yaml') {
        assert.equal(readFileSync(join(dir, marker), 'utf8'), 'gateways: {}\n');
      }
    });
  }

  test('refuses to overwrite a seed file that is already there', () => {
    const dir = freshDir();
    mkdirSync(join(dir, 'seeds'), { recursive: true });
    writeFileSync(join(dir, 'seeds', 'seed_data.csv'), 'mine\n');
    assert.throws(() => writeStarterProject(dir, 'postgres'), ConfigError);
    assert.equal(readFileSync(join(dir, 'seeds', 'seed_data.csv'), 'utf8'), 'mine\n');
    assert.equal(existsSync(join(dir, 'config.yaml')), false);
  });
});

describe('the starter SQL runs on DuckDB', () => {
  const START = `DATE '${STARTER_START_DATE}'`;
  const END = "DATE '2020-01-07'";

  async function withDuckDb(fn: (conn: DuckDBConnection) => Promise<void>): Promise<void> {
    const instance = await DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    try {
      await fn(conn);
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
  }

  async function rows(conn: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> {
    return (await conn.runAndReadAll(sql)).getRowObjectsJson();
  }

  for (const engine of ENGINES) {
    test(`${engine}: seed -> incremental -> full, and the audit passes`, async () => {
      const dir = freshDir();
      writeStarterProject(dir, engine);
      const model = (name: string): string =>
        bodyAfterHeader(readFileSync(join(dir, 'models', `${name}.sql`), 'utf8'), 'MODEL');
      const csvPath = join(dir, 'seeds', 'seed_data.csv').replaceAll("'", "''");

      await withDuckDb(async (conn) => {
        await conn.run('CREATE SCHEMA sqlmesh_example');
        await conn.run(
          `CREATE TABLE sqlmesh_example.seed_model AS SELECT * FROM read_csv('${csvPath}', header = true, ` +
            `columns = {'id': 'INTEGER', 'item_id': 'INTEGER', 'event_date': 'DATE'})`,
        );
        const seeded = await rows(
          conn,
          'SELECT COUNT(*)::INTEGER AS n FROM sqlmesh_example.seed_model',
        );
        const csvRows = readFileSync(join(dir, 'seeds', 'seed_data.csv'), 'utf8')
          .trim()
          .split('\n');
        assert.equal(seeded[0]?.n, csvRows.length - 1);

        // The incremental model over the first three days only, then the rest.
        const incremental = model('incremental_model');
        const firstDays = incremental
          .replaceAll('@start_date', START)
          .replaceAll('@end_date', "DATE '2020-01-03'");
        await conn.run(`CREATE TABLE sqlmesh_example.incremental_model AS ${firstDays}`);
        const rest = incremental
          .replaceAll('@start_date', "DATE '2020-01-04'")
          .replaceAll('@end_date', END);
        const early = await rows(
          conn,
          'SELECT COUNT(*)::INTEGER AS n FROM sqlmesh_example.incremental_model',
        );
        const expectedEarly = csvRows
          .slice(1)
          .filter((l) => (l.split(',')[2] ?? '') <= '2020-01-03');
        assert.equal(early[0]?.n, expectedEarly.length);
        await conn.run(`INSERT INTO sqlmesh_example.incremental_model ${rest}`);

        await conn.run(`CREATE TABLE sqlmesh_example.full_model AS ${model('full_model')}`);
        const counts = await rows(
          conn,
          'SELECT item_id, num_orders::INTEGER AS n FROM sqlmesh_example.full_model ORDER BY item_id',
        );
        const expected = new Map<number, number>();
        for (const line of csvRows.slice(1)) {
          const item = Number(line.split(',')[1]);
          expected.set(item, (expected.get(item) ?? 0) + 1);
        }
        assert.deepEqual(
          counts.map((r) => [r.item_id, r.n]),
          [...expected.entries()].sort((a, b) => a[0] - b[0]),
        );

        const audit = bodyAfterHeader(
          readFileSync(join(dir, 'audits', 'assert_positive_order_ids.sql'), 'utf8'),
          'AUDIT',
        ).replaceAll('@this_model', 'sqlmesh_example.full_model');
        assert.equal((await rows(conn, audit)).length, 0);
        await conn.run('INSERT INTO sqlmesh_example.full_model VALUES (-1, 1)');
        assert.equal((await rows(conn, audit)).length, 1, 'the audit catches a negative id');
      });
    });
  }

  test("tests/test_full_model.yaml agrees with full_model's query", async () => {
    const suite = parseYaml(fileOf('duckdb', 'tests/test_full_model.yaml')) as Record<
      string,
      {
        model: string;
        inputs: Record<string, { rows: Record<string, unknown>[] }>;
        outputs: { query: { rows: Record<string, unknown>[] } };
      }
    >;
    const unit = suite.test_full_model;
    assert.ok(unit);
    assert.equal(unit.model, 'sqlmesh_example.full_model');
    const inputRows = unit.inputs['sqlmesh_example.incremental_model']?.rows ?? [];
    assert.ok(inputRows.length > 0);
    const query = bodyAfterHeader(fileOf('duckdb', 'models/full_model.sql'), 'MODEL');

    await withDuckDb(async (conn) => {
      await conn.run('CREATE SCHEMA sqlmesh_example');
      await conn.run(
        'CREATE TABLE sqlmesh_example.incremental_model (id INTEGER, item_id INTEGER, event_date DATE)',
      );
      for (const r of inputRows) {
        await conn.run(
          `INSERT INTO sqlmesh_example.incremental_model VALUES (${Number(r.id)}, ${Number(r.item_id)}, DATE '${String(r.event_date)}')`,
        );
      }
      const actual = await rows(
        conn,
        `SELECT item_id, num_orders::INTEGER AS num_orders FROM (${query}) ORDER BY item_id`,
      );
      const expected = [...unit.outputs.query.rows].sort(
        (a, b) => Number(a.item_id) - Number(b.item_id),
      );
      assert.deepEqual(actual, expected);
    });
  });
});
