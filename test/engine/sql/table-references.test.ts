import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseQuery, tableReferences } from '../../../src/engine/sql/query.js';

const loc = { file: 'models/m.sql', line: 1, column: 1 };
const refs = (sql: string, dialect = 'duckdb'): string[] =>
  tableReferences(parseQuery(sql, dialect, loc)).map((r) => r.key);

describe('tableReferences', () => {
  test('finds FROM and JOIN tables, schema- and catalog-qualified', () => {
    assert.deepEqual(
      refs(
        'SELECT * FROM sushi.orders o JOIN warehouse.sushi.customers c ON o.cid = c.id LEFT JOIN items USING (id)',
      ),
      ['"sushi"."orders"', '"warehouse"."sushi"."customers"', '"items"'],
    );
  });

  test('returns the parts as written', () => {
    const [ref] = tableReferences(parseQuery('SELECT 1 FROM "my-db".Raw.items', 'postgres', loc));
    assert.deepEqual(ref?.catalog, { name: 'my-db', quoted: true });
    assert.deepEqual(ref?.schema, { name: 'Raw', quoted: false });
    assert.equal(ref?.key, '"my-db"."raw"."items"');
  });

  test('leaves out CTE names but reads CTE bodies', () => {
    assert.deepEqual(
      refs(
        'WITH a AS (SELECT * FROM raw.a), b AS (SELECT * FROM a JOIN raw.b USING (id)) SELECT * FROM b JOIN a USING (id)',
      ),
      ['"raw"."a"', '"raw"."b"'],
    );
  });

  test('a CTE that reads a table of its own name reads the table, unless RECURSIVE', () => {
    assert.deepEqual(refs('WITH orders AS (SELECT * FROM orders) SELECT * FROM orders'), [
      '"orders"',
    ]);
    assert.deepEqual(
      refs(
        'WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r',
      ),
      [],
    );
  });

  test('a qualified name is a table even when a CTE has its last part as name', () => {
    assert.deepEqual(refs('WITH a AS (SELECT 1) SELECT * FROM a, s.a'), ['"s"."a"']);
  });

  test('CTE names match per dialect case rules', () => {
    assert.deepEqual(refs('WITH Totals AS (SELECT 1) SELECT * FROM totals'), []);
    assert.deepEqual(refs('WITH "Totals" AS (SELECT 1) SELECT * FROM totals', 'postgres'), [
      '"totals"',
    ]);
  });

  test('CTEs are scoped to their query', () => {
    assert.deepEqual(
      refs('SELECT * FROM (WITH x AS (SELECT 1 AS v) SELECT * FROM x) AS s JOIN x ON true'),
      ['"x"'],
    );
  });

  test('finds tables in subqueries, set operations, lateral joins and predicates', () => {
    assert.deepEqual(
      refs(`
        SELECT (SELECT MAX(v) FROM s.scalar_src) AS m
        FROM (SELECT * FROM s.derived) AS d,
             LATERAL (SELECT * FROM s.lat WHERE lat.id = d.id) AS l
        WHERE d.id IN (SELECT id FROM s.in_src)
          AND EXISTS (SELECT 1 FROM s.exists_src)
        UNION ALL
        SELECT 1 FROM s.union_src
        EXCEPT
        SELECT 1 FROM s.except_src`),
      [
        '"s"."scalar_src"',
        '"s"."derived"',
        '"s"."lat"',
        '"s"."in_src"',
        '"s"."exists_src"',
        '"s"."union_src"',
        '"s"."except_src"',
      ],
    );
  });

  test('deduplicates references that normalize to the same name', () => {
    assert.deepEqual(refs('SELECT * FROM s.t JOIN S.T AS t2 ON true JOIN "s"."t" ON true'), [
      '"s"."t"',
    ]);
    assert.deepEqual(refs('SELECT * FROM s.t JOIN S.T ON true', 'clickhouse'), [
      '"s"."t"',
      '"S"."T"',
    ]);
  });

  test('ignores table functions and VALUES', () => {
    assert.deepEqual(refs("SELECT * FROM range(3) r, (VALUES (1)) v(a), read_csv('x.csv') f"), []);
  });
});
