import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fullyQualifiedName } from '../../../src/engine/sql/names.js';
import {
  parseQuery,
  rewriteTableReferences,
  tableReferences,
  type TableReference,
} from '../../../src/engine/sql/query.js';
import { closeEngines, duckRows, duckRun, pgRows } from './sql-engines.js';

after(closeEngines);

const loc = { file: 'models/m.sql', line: 1, column: 1 };

/** Model name -> physical table, as a plan would map them. */
const physical: Record<string, string> = {
  '"memory"."sushi"."orders"': '"memory"."sqlmesh__sushi"."sushi__orders__1111"',
  '"memory"."sushi"."customers"': '"memory"."sqlmesh__sushi"."sushi__customers__2222"',
};

function toPhysical(ref: TableReference): string | undefined {
  return physical[fullyQualifiedName(ref, 'duckdb', 'memory')];
}

describe('rewriteTableReferences', () => {
  before(async () => {
    await duckRun('CREATE SCHEMA sqlmesh__sushi');
    await duckRun(
      'CREATE TABLE sqlmesh__sushi.sushi__orders__1111 AS SELECT * FROM (VALUES (1, 10, 5.0), (2, 10, 7.5), (3, 20, 1.0)) v(id, customer_id, amount)',
    );
    await duckRun(
      "CREATE TABLE sqlmesh__sushi.sushi__customers__2222 AS SELECT * FROM (VALUES (10, 'ann'), (20, 'bob')) v(id, name)",
    );
  });

  test('a reference without alias gets its table name as alias, so qualified columns resolve', async () => {
    const q = parseQuery(
      'SELECT orders.id, customers.name FROM sushi.orders JOIN sushi.customers ON orders.customer_id = customers.id ORDER BY orders.id',
      'duckdb',
      loc,
    );
    const sql = rewriteTableReferences(q, toPhysical);
    assert.match(sql, /"sushi__orders__1111" AS orders/);
    assert.doesNotMatch(sql, /FROM sushi\.orders/);
    assert.deepEqual(await duckRows(sql), [
      [1, 'ann'],
      [2, 'ann'],
      [3, 'bob'],
    ]);
  });

  test('existing aliases are kept', async () => {
    const q = parseQuery(
      'SELECT c.name, SUM(o.amount) AS total FROM sushi.orders AS o JOIN sushi.customers c ON o.customer_id = c.id GROUP BY c.name ORDER BY c.name',
      'duckdb',
      loc,
    );
    const sql = rewriteTableReferences(q, toPhysical);
    assert.match(sql, /AS o\b/);
    assert.match(sql, /AS c\b/);
    assert.deepEqual(await duckRows(sql), [
      ['ann', 12.5],
      ['bob', 1],
    ]);
  });

  test('CTE names are untouched even when they shadow a model name', async () => {
    const q = parseQuery(
      `WITH orders AS (SELECT * FROM sushi.orders WHERE amount > 2),
            customers AS (SELECT id, UPPER(name) AS name FROM sushi.customers)
       SELECT orders.id, customers.name FROM orders JOIN customers ON orders.customer_id = customers.id
       WHERE orders.id IN (SELECT id FROM sushi.orders) ORDER BY 1`,
      'duckdb',
      loc,
    );
    const seen: string[] = [];
    const sql = rewriteTableReferences(q, (ref) => {
      seen.push(ref.key);
      return toPhysical(ref);
    });
    assert.deepEqual(seen, ['"sushi"."orders"', '"sushi"."customers"', '"sushi"."orders"']);
    assert.match(sql, /FROM orders JOIN customers/);
    assert.deepEqual(await duckRows(sql), [
      [1, 'ANN'],
      [2, 'ANN'],
    ]);
    // The rewritten query reads only physical tables.
    const again = parseQuery(sql, 'duckdb', loc);
    assert.deepEqual(
      tableReferences(again).map((r) => r.key),
      [
        '"memory"."sqlmesh__sushi"."sushi__orders__1111"',
        '"memory"."sqlmesh__sushi"."sushi__customers__2222"',
      ],
    );
  });

  test('unmapped references stay as written and the output can target another dialect', () => {
    const q = parseQuery('SELECT x FROM raw.events, sushi.orders', 'duckdb', loc);
    const sql = rewriteTableReferences(q, toPhysical, 'bigquery');
    assert.match(
      sql,
      /FROM raw\.events(,| CROSS JOIN) `memory`\.`sqlmesh__sushi`\.`sushi__orders__1111` AS orders/,
    );
  });

  test('replacement names given as parts keep their quoting', () => {
    const q = parseQuery('SELECT * FROM s.t', 'postgres', loc);
    const sql = rewriteTableReferences(q, () => ({
      schema: { name: 'Phys', quoted: true },
      name: { name: 't_1', quoted: false },
    }));
    assert.equal(sql, 'SELECT * FROM "Phys".t_1 AS t');
  });

  test('the parsed query is not changed by rewriting', () => {
    const q = parseQuery('SELECT * FROM sushi.orders', 'duckdb', loc);
    rewriteTableReferences(q, toPhysical);
    assert.deepEqual(
      tableReferences(q).map((r) => r.key),
      ['"sushi"."orders"'],
    );
  });

  test('a DuckDB model query rewritten for PostgreSQL runs there with qualified columns', async () => {
    const schema = `sql_rewrite_${process.pid}`;
    await pgRows(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pgRows(`CREATE SCHEMA ${schema}`);
    try {
      await pgRows(
        `CREATE TABLE ${schema}.orders_v1 AS SELECT * FROM (VALUES (1, 10, 5.0), (2, 20, 7.5)) v(id, customer_id, amount)`,
      );
      const q = parseQuery(
        'SELECT orders.id, orders.amount::INT AS amt, FROM sushi.orders WHERE orders.id IN (SELECT id FROM sushi.orders) ORDER BY ALL',
        'duckdb',
        loc,
      );
      const sql = rewriteTableReferences(
        q,
        (ref) => (ref.key === '"sushi"."orders"' ? `"${schema}"."orders_v1"` : undefined),
        'postgres',
      );
      assert.match(sql, new RegExp(`"${schema}"."orders_v1" AS orders`));
      assert.deepEqual(await pgRows(sql), [
        [1, 5],
        [2, 8],
      ]);
    } finally {
      await pgRows(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  });
});
