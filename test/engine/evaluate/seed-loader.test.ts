import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createAdapter } from '../../../src/engine/adapters/adapter-factory.js';
import type { EngineAdapter, TableRef } from '../../../src/engine/adapters/engine-adapter.js';
import {
  loadSeed,
  seedInsertStatements,
  stringLiteral,
} from '../../../src/engine/evaluate/seed-loader.js';
import { readSeed, type SeedData } from '../../../src/engine/evaluate/seed-reader.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js';

const path = 'seeds/s.csv';

describe('seed SQL generation', () => {
  it('writes standard string literals with quotes doubled and backslashes kept', () => {
    assert.equal(stringLiteral("O'Brien \\n"), "'O''Brien \\n'");
  });

  it('splits rows into INSERT statements of batch_size rows', () => {
    const seed: SeedData = {
      columns: [{ name: 'n', type: 'BIGINT' }],
      rows: Array.from({ length: 25 }, (_, i) => [i]),
    };
    const adapter = { quoteIdentifier: (n: string) => `"${n}"` };
    const statements = seedInsertStatements(adapter, 't', seed, 10);
    assert.equal(statements.length, 3);
    const tuples = statements.map((s) => (s.match(/\(\d+\)/g) ?? []).length);
    assert.deepEqual(tuples, [10, 10, 5]);
    assert.match(statements[0] ?? '', /^INSERT INTO t \("n"\) VALUES \(0\), \(1\)/);
  });
});

function engineSuite(name: string, open: () => Promise<EngineAdapter>, close: () => Promise<void>) {
  describe(`loadSeed on ${name}`, () => {
    let adapter: EngineAdapter;
    let n = 0;
    const table = (): TableRef => ({ schema: 'seeds', name: `t${++n}` });
    const select = async (t: TableRef, order = '1') =>
      (await adapter.query(`SELECT * FROM ${adapter.tableName(t)} ORDER BY ${order}`)).rows;

    before(async () => {
      adapter = await open();
      await adapter.createSchema('seeds');
    });
    after(async () => {
      await adapter.close();
      await close();
    });

    it('creates the declared column types and loads typed values', async () => {
      const csv = [
        'id,price,day,at,ok,name,score,ignored',
        '1,12.50,2024-02-29,2024-01-01 10:30:00,yes,Ann,1.25,x',
        '2,NA,,NULL,false,,,y',
      ].join('\n');
      const seed = readSeed(csv, {
        path,
        columns: [
          { name: 'id', type: 'INTEGER' },
          { name: 'price', type: 'DECIMAL(10, 2)' },
          { name: 'day', type: 'DATE' },
          { name: 'at', type: 'TIMESTAMP' },
          { name: 'ok', type: 'BOOLEAN' },
          { name: 'name', type: 'TEXT' },
          { name: 'score', type: 'DOUBLE' },
        ],
      });
      const t = table();
      const result = await loadSeed(adapter, t, seed, { batchSize: 1000 });
      assert.deepEqual(result, { rows: 2, batches: 1 });
      const cols = await adapter.columns(t);
      assert.deepEqual(
        cols.map((c) => c.name),
        ['id', 'price', 'day', 'at', 'ok', 'name', 'score'],
      );
      assert.match(cols[0]?.type ?? '', /^int/i);
      assert.match(cols[1]?.type ?? '', /^(decimal|numeric)/i);
      assert.match(cols[2]?.type ?? '', /^date$/i);
      assert.match(cols[3]?.type ?? '', /^timestamp/i);
      assert.match(cols[4]?.type ?? '', /^bool/i);
      assert.deepEqual(await select(t), [
        {
          id: 1,
          price: 12.5,
          day: '2024-02-29',
          at: '2024-01-01 10:30:00',
          ok: true,
          name: 'Ann',
          score: 1.25,
        },
        { id: 2, price: null, day: null, at: null, ok: false, name: null, score: null },
      ]);
    });

    it('loads inferred types', async () => {
      const seed = readSeed('i,f,b,s,e\n1,0.5,true,x,\n2,-1e3,false,y,\n', { path });
      const t = table();
      await loadSeed(adapter, t, seed, { batchSize: 1000 });
      const cols = await adapter.columns(t);
      assert.match(cols[0]?.type ?? '', /^(bigint|int8)$/i);
      assert.match(cols[1]?.type ?? '', /^double/i);
      assert.match(cols[2]?.type ?? '', /^bool/i);
      assert.match(cols[3]?.type ?? '', /^(text|varchar)$/i);
      assert.deepEqual(await select(t), [
        { i: 1, f: 0.5, b: true, s: 'x', e: null },
        { i: 2, f: -1000, b: false, s: 'y', e: null },
      ]);
    });

    it('round-trips quotes, backslashes, delimiters, newlines and non-finite numbers', async () => {
      const texts = [
        "O'Brien",
        'C:\\dir\\new',
        'a,"b"',
        'line1\nline2',
        "'; DROP TABLE x; --",
        'é ✓',
      ];
      const csv =
        'k,v,f\n' +
        texts.map((v, i) => `${i},"${v.replace(/"/g, '""')}",${i === 0 ? 'inf' : i}`).join('\n');
      const seed = readSeed(csv, {
        path,
        columns: [
          { name: 'k', type: 'INTEGER' },
          { name: 'v', type: 'TEXT' },
          { name: 'f', type: 'DOUBLE' },
        ],
      });
      const t = table();
      await loadSeed(adapter, t, seed, { batchSize: 2 });
      const rows = await select(t);
      assert.deepEqual(
        rows.map((r) => r['v']),
        texts,
      );
      assert.equal(rows[0]?.['f'], 'Infinity');
    });

    it('applies a custom delimiter and na_values', async () => {
      const seed = readSeed('a;b\n1;-\n-;x\n', {
        path,
        csvSettings: { delimiter: ';', na_values: ['-'] },
      });
      const t = table();
      await loadSeed(adapter, t, seed, { batchSize: 1000 });
      assert.deepEqual(await select(t, 'b NULLS FIRST'), [
        { a: 1, b: null },
        { a: null, b: 'x' },
      ]);
    });

    it('inserts 2,500 rows in batches of 1,000', async () => {
      const csv = 'n,label\n' + Array.from({ length: 2500 }, (_, i) => `${i},row ${i}`).join('\n');
      const seed = readSeed(csv, { path });
      const t = table();
      const result = await loadSeed(adapter, t, seed, { batchSize: 1000 });
      assert.deepEqual(result, { rows: 2500, batches: 3 });
      const [count] = (
        await adapter.query(
          `SELECT COUNT(*) AS c, COUNT(DISTINCT n) AS d, MAX(n) AS m FROM ${adapter.tableName(t)}`,
        )
      ).rows;
      assert.deepEqual(count, { c: 2500, d: 2500, m: 2499 });
    });

    it('leaves no table when a later batch fails', async () => {
      const rows: unknown[][] = Array.from({ length: 2500 }, (_, i) => [i]);
      rows[2200] = ['not a number'];
      const seed: SeedData = { columns: [{ name: 'n', type: 'INTEGER' }], rows };
      const t = table();
      await assert.rejects(() => loadSeed(adapter, t, seed, { batchSize: 1000 }));
      assert.equal(await adapter.tableExists(t), false);
    });

    it('loads a header-only seed as an empty table', async () => {
      const seed = readSeed('a,b\n', {
        path,
        columns: [
          { name: 'a', type: 'INTEGER' },
          { name: 'b', type: 'TEXT' },
        ],
      });
      const t = table();
      assert.deepEqual(await loadSeed(adapter, t, seed, { batchSize: 1000 }), {
        rows: 0,
        batches: 0,
      });
      assert.equal(await adapter.tableExists(t), true);
      assert.deepEqual(await select(t), []);
    });

    it('refuses a batch size that is not a positive whole number', async () => {
      const seed = readSeed('a\n1\n', { path });
      const t = table();
      await assert.rejects(() => loadSeed(adapter, t, seed, { batchSize: 0 }), /batch_size/);
      assert.equal(await adapter.tableExists(t), false);
    });
  });
}

engineSuite(
  'DuckDB',
  async () =>
    createAdapter(
      { type: 'duckdb', catalogs: {}, extensions: [], connectorConfig: {}, concurrentTasks: 1 },
      { projectRoot: '.' },
    ),
  async () => undefined,
);

let db: TestDatabase | undefined;
engineSuite(
  'PostgreSQL',
  async () => {
    db = await createTestDatabase();
    return createAdapter(db.config, { projectRoot: '.' });
  },
  async () => {
    await db?.drop();
  },
);
