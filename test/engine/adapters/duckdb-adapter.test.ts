import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { version as duckDbVersion } from '@duckdb/node-api';
import {
  ConnectionError,
  describeConnectionError,
} from '../../../src/engine/adapters/adapter-errors.js';
import { createAdapter } from '../../../src/engine/adapters/adapter-factory.js';
import {
  DuckDbAdapter,
  duckDbCatalogForPath,
  duckDbDefaultCatalog,
} from '../../../src/engine/adapters/duckdb-adapter.js';
import type { EngineAdapter } from '../../../src/engine/adapters/engine-adapter.js';
import type { DuckDbConnectionConfig } from '../../../src/engine/config/config-types.js';
import { ConfigError, EngineError } from '../../../src/engine/errors.js';
import { repoRoot } from '../../helpers/paths.js';
import { adapterContract } from './adapter-contract.js';

const projectRoot = mkdtempSync(join(tmpdir(), 'tideline-duckdb-'));
after(() => rmSync(projectRoot, { recursive: true, force: true }));

function config(overrides: Partial<DuckDbConnectionConfig> = {}): DuckDbConnectionConfig {
  return {
    type: 'duckdb',
    catalogs: {},
    extensions: [],
    connectorConfig: {},
    concurrentTasks: 4,
    ...overrides,
  };
}

function open(overrides: Partial<DuckDbConnectionConfig> = {}): EngineAdapter {
  return createAdapter(config(overrides), { projectRoot });
}

adapterContract({
  name: 'DuckDB',
  adapter: async (options) => open({ concurrentTasks: options?.concurrentTasks ?? 4 }),
  expectMerge: async (a) => {
    // Judge by trying: MERGE INTO on a scratch table.
    try {
      await a.execute(
        'CREATE TEMP TABLE merge_probe (id INTEGER); ' +
          'MERGE INTO merge_probe USING (SELECT 1 AS id) s ON merge_probe.id = s.id ' +
          'WHEN NOT MATCHED THEN INSERT VALUES (s.id); DROP TABLE merge_probe',
      );
      return true;
    } catch {
      return false;
    }
  },
  longQuerySql:
    'SELECT sum(a.range * b.range) AS s FROM range(1000000) a CROSS JOIN range(1000000) b',
  sql: {
    blob: `CAST('hi!' AS BLOB)`,
    intList: '[1, 2, NULL]',
    bigintList: '[CAST(9007199254740993 AS BIGINT), 7]',
    record: `{'a': 1, 'b': 'x'}`,
    setTimeZone: (zone) => `SET TimeZone = '${zone}'`,
  },
  types: {
    integer: 'INTEGER',
    text: 'VARCHAR',
    date: 'DATE',
    timestamp: 'TIMESTAMP',
    decimal10_2: 'DECIMAL(10,2)',
    varchar20: 'VARCHAR',
  },
});

describe('DuckDB adapter', () => {
  test('the default catalog is the file name up to its first dot, or memory', () => {
    assert.equal(duckDbCatalogForPath('data/db.duckdb'), 'db');
    assert.equal(duckDbCatalogForPath('/x/my-warehouse.v2.duckdb'), 'my-warehouse');
    assert.equal(duckDbCatalogForPath(':memory:'), 'memory');
    assert.equal(duckDbDefaultCatalog(config()), 'memory');
    assert.equal(duckDbDefaultCatalog(config({ database: ':memory:' })), 'memory');
    assert.equal(duckDbDefaultCatalog(config({ database: 'local.duckdb' })), 'local');
    assert.equal(
      duckDbDefaultCatalog(config({ catalogs: { first: 'a.duckdb', second: 'b.duckdb' } })),
      'first',
    );
  });

  test('a relative database file is created under the project root and named after its stem', async () => {
    const a = open({ database: 'warehouse.duckdb' });
    try {
      assert.equal(a.defaultCatalog, 'warehouse');
      const rows = (await a.query('SELECT current_database() AS db')).rows;
      assert.deepEqual(rows, [{ db: 'warehouse' }]);
      assert.ok(existsSync(join(projectRoot, 'warehouse.duckdb')));
    } finally {
      await a.close();
    }
  });

  test('two adapters on one file in one process share it, and it reopens after both close', async () => {
    const first = open({ database: 'shared.duckdb' });
    const second = open({ database: 'shared.duckdb' });
    try {
      await Promise.all([first.ping(), second.ping()]);
      await first.execute('CREATE TABLE main.shared_t AS SELECT 5 AS v');
      assert.deepEqual((await second.query('SELECT v FROM main.shared_t')).rows, [{ v: 5 }]);
      await first.close();
      assert.deepEqual((await second.query('SELECT v FROM main.shared_t')).rows, [{ v: 5 }]);
    } finally {
      await first.close();
      await second.close();
    }
    const third = open({ database: 'shared.duckdb' });
    try {
      assert.deepEqual((await third.query('SELECT v FROM main.shared_t')).rows, [{ v: 5 }]);
    } finally {
      await third.close();
    }
  });

  test('catalogs are attached at connect and the first one is the default without a database', async () => {
    const a = open({ catalogs: { lake: 'lake.duckdb', side: 'side.duckdb' } });
    try {
      assert.equal(a.defaultCatalog, 'lake');
      await a.createSchema('raw');
      await a.createSchema('raw', 'side');
      await a.execute('CREATE TABLE raw.events AS SELECT 1 AS id');
      await a.execute(
        `CREATE TABLE ${a.tableName({ catalog: 'side', schema: 'raw', name: 'other' })} (x INTEGER)`,
      );
      assert.equal(await a.tableExists({ schema: 'raw', name: 'events' }), true);
      assert.equal(await a.tableExists({ catalog: 'lake', schema: 'raw', name: 'events' }), true);
      assert.equal(await a.tableExists({ catalog: 'side', schema: 'raw', name: 'events' }), false);
      assert.deepEqual(await a.listObjects('raw', 'side'), [{ name: 'other', kind: 'table' }]);
      assert.equal(await a.schemaExists('raw', 'side'), true);
      assert.equal(a.capabilities.supportsMultipleCatalogs, true);
      assert.ok(existsSync(join(projectRoot, 'side.duckdb')));
    } finally {
      await a.close();
    }
  });

  test('a database file with attached catalogs keeps the file as the default catalog', async () => {
    const a = open({ database: 'main_db.duckdb', catalogs: { extra: 'extra.duckdb' } });
    try {
      assert.equal(a.defaultCatalog, 'main_db');
      const dbs = (await a.query('SELECT database_name AS n FROM duckdb_databases() ORDER BY 1'))
        .rows;
      assert.ok(dbs.some((r) => r['n'] === 'extra'));
      assert.deepEqual((await a.query('SELECT current_database() AS db')).rows, [
        { db: 'main_db' },
      ]);
    } finally {
      await a.close();
    }
  });

  test('connector settings are applied to every connection', async () => {
    const a = open({ connectorConfig: { threads: 1, default_null_order: 'nulls_first' } });
    try {
      const rows = await Promise.all(
        [1, 2, 3].map(() =>
          a.query(
            `SELECT current_setting('threads') AS t, current_setting('default_null_order') AS o`,
          ),
        ),
      );
      for (const r of rows) {
        assert.equal(r.rows[0]?.['t'], 1);
        assert.equal(String(r.rows[0]?.['o']).toLowerCase(), 'nulls_first');
      }
    } finally {
      await a.close();
    }
  });

  test('a bad connector setting fails with its config key', async () => {
    const badValue = open({ connectorConfig: { threads: 'many' } });
    await assert.rejects(badValue.ping(), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(
        err.message,
        /^connection\.connector_config\.threads: DuckDB refused the setting/,
      );
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
    await badValue.close();
    const badKey = open({ connectorConfig: { 'threads; DROP': 1 } });
    await assert.rejects(badKey.ping(), ConfigError);
    await badKey.close();
  });

  test('bundled extensions load; a missing one fails with a clear message', async () => {
    const ok = open({ extensions: ['json'] });
    try {
      assert.deepEqual((await ok.query(`SELECT json_extract('{"a": 3}', '$.a') AS v`)).rows, [
        { v: 3 },
      ]);
    } finally {
      await ok.close();
    }
    const missing = open({ extensions: ['tideline_no_such_extension'] });
    await assert.rejects(missing.ping(), (err: unknown) => {
      assert.ok(err instanceof EngineError);
      assert.match(
        err.message,
        /DuckDB extension "tideline_no_such_extension" could not be loaded/,
      );
      assert.match(err.message, /INSTALL tideline_no_such_extension/);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
    await missing.close();
  });

  test('closing fails queued statements and waits for the running one', async () => {
    const a = open({ concurrentTasks: 1 });
    await a.ping();
    const long = a
      .query('SELECT sum(a.range * b.range) AS s FROM range(1000000) a CROSS JOIN range(1000000) b')
      .then(
        () => 'finished',
        (err: unknown) => err,
      );
    await new Promise((r) => setTimeout(r, 100));
    const queued = a.query('SELECT 1 AS one');
    let closed = false;
    const closing = a.close().then(() => (closed = true));
    await assert.rejects(queued, /DuckDB adapter is closed/);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(closed, false);
    await a.cancel();
    assert.ok((await long) instanceof EngineError);
    await closing;
    assert.equal(closed, true);
  });

  test('capabilities follow the DuckDB version', () => {
    const a = new DuckDbAdapter(config(), { projectRoot });
    const [major = 0, minor = 0] = duckDbVersion().replace(/^v/, '').split('.').map(Number);
    assert.equal(a.capabilities.supportsMerge, major > 1 || (major === 1 && minor >= 4));
    assert.equal(a.capabilities.supportsReplaceView, true);
    assert.ok(a.capabilities.maxIdentifierLength > 1000);
    assert.equal(a.dialect, 'duckdb');
  });

  test('DuckDB-only values: MAP, STRUCT lists, infinite dates, HUGEINT, JSON', async () => {
    const a = open();
    try {
      const { rows, columns } = await a.query(
        `SELECT MAP {'k': 1, 'j': 2} AS m,
                [{'x': 1}, {'x': 2}] AS structs,
                CAST('infinity' AS DATE) AS inf_date,
                CAST(170141183460469231731687303715884105727 AS HUGEINT) AS huge,
                CAST(12 AS HUGEINT) AS small_huge,
                CAST(4294967295 AS UINTEGER) AS uint,
                CAST('{"a": [1, 2]}' AS JSON) AS j,
                CAST('NaN' AS DOUBLE) AS nan,
                CAST('12:30:00' AS TIME) AS t`,
      );
      assert.deepEqual(rows, [
        {
          m: { k: 1, j: 2 },
          structs: [{ x: 1 }, { x: 2 }],
          inf_date: 'infinity',
          huge: '170141183460469231731687303715884105727',
          small_huge: 12,
          uint: 4294967295,
          j: { a: [1, 2] },
          nan: 'NaN',
          t: '12:30:00',
        },
      ]);
      assert.equal(columns.find((c) => c.name === 'm')?.type, 'MAP(VARCHAR, INTEGER)');
      assert.equal(columns.find((c) => c.name === 'j')?.type, 'JSON');
    } finally {
      await a.close();
    }
  });

  test('a database in a missing folder fails with a connection error naming the reason', async () => {
    const a = open({ database: 'no/such/folder/x.duckdb' });
    await assert.rejects(a.ping(), (err: unknown) => {
      assert.ok(err instanceof ConnectionError);
      assert.match(err.message, /^DuckDB connection failed: /);
      assert.match(describeConnectionError(err), /no[/\\]such[/\\]folder/);
      return true;
    });
    await a.close();
  });

  test('a file locked by another process is reported as locked', async () => {
    const file = join(projectRoot, 'locked.duckdb');
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { DuckDBInstance } from '@duckdb/node-api';
         const i = await DuckDBInstance.create(${JSON.stringify(file)});
         await i.connect();
         process.stdout.write('ready\\n');
         setInterval(() => {}, 1000);`,
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on('data', (d: Buffer) => {
          if (d.toString().includes('ready')) resolve();
        });
        holder.once('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
      });
      const a = open({ database: 'locked.duckdb' });
      await assert.rejects(a.ping(), (err: unknown) => {
        assert.ok(err instanceof ConnectionError);
        assert.match(describeConnectionError(err), /^database file is locked: .*locked\.duckdb/);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      });
      await a.close();
    } finally {
      holder.kill();
    }
  });
});

test('a schema named like the database file is not ambiguous', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { createAdapter } = await import('../../../src/engine/adapters/adapter-factory.js');
  const dir = mkdtempSync(join(tmpdir(), 'tideline-duck-amb-'));
  const a = createAdapter(
    {
      type: 'duckdb',
      database: 'sales.duckdb',
      catalogs: {},
      extensions: [],
      connectorConfig: {},
      concurrentTasks: 1,
    },
    { projectRoot: dir },
  );
  try {
    await a.createSchema('sales');
    await a.execute(`CREATE TABLE ${a.tableName({ schema: 'sales', name: 't' })} AS SELECT 1 AS x`);
    await a.createView(
      { schema: 'sales', name: 'v' },
      `SELECT * FROM ${a.tableName({ schema: 'sales', name: 't' })}`,
    );
    assert.equal(await a.objectKind({ schema: 'sales', name: 'v' }), 'view');
    assert.equal(await a.objectKind({ schema: 'sales', name: 't' }), 'table');
    assert.equal(await a.objectKind({ schema: 'sales', name: 'nope' }), undefined);
    assert.deepEqual(
      (await a.columns({ schema: 'sales', name: 't' })).map((c) => c.name),
      ['x'],
    );
  } finally {
    await a.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
