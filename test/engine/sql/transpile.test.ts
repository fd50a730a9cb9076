import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ProjectError } from '../../../src/engine/errors.js';
import { generate, parseQuery, transpile } from '../../../src/engine/sql/query.js';
import { closeEngines, duckRows, pgRows } from './sql-engines.js';

after(closeEngines);

const DATA = `WITH t(id, grp, name, amount, ts) AS (VALUES
  (1, 'a', 'Apple', 10, TIMESTAMP '2024-01-15 10:30:00'),
  (2, 'a', 'banana', 20, TIMESTAMP '2024-02-20 08:00:00'),
  (3, 'b', 'Cherry', 5, TIMESTAMP '2024-02-01 00:00:00'))
`;

/** DuckDB idioms whose PostgreSQL translation must return the same rows. */
const CASES: Record<string, { sql: string; pgPattern?: RegExp }> = {
  ':: casts': {
    sql: "SELECT id::VARCHAR AS s, amount::DOUBLE / 4 AS q, '42'::INT + id AS n FROM t ORDER BY id",
    pgPattern: /CAST\(/,
  },
  list_value: {
    sql: 'SELECT list_value(id, amount) AS l, [id, 0] AS b FROM t ORDER BY id',
    pgPattern: /ARRAY\[/,
  },
  epoch_ms: {
    sql: 'SELECT epoch_ms(1700000000000 + id * 1000) AS e FROM t ORDER BY id',
  },
  'strftime (date formats)': {
    sql: "SELECT strftime(ts, '%Y-%m-%d') AS f FROM t ORDER BY id",
    pgPattern: /TO_CHAR/,
  },
  date_trunc: { sql: "SELECT date_trunc('month', ts) AS m FROM t ORDER BY id" },
  'INTERVAL 1 DAY': {
    sql: 'SELECT ts + INTERVAL 1 DAY AS n, CAST(ts AS DATE) - INTERVAL 7 DAY AS w FROM t ORDER BY id',
    pgPattern: /INTERVAL '1 DAY'/,
  },
  'trailing comma before FROM': {
    sql: 'SELECT id, name, FROM t ORDER BY id',
  },
  'FROM-first': {
    sql: 'FROM t SELECT name WHERE id > 1 ORDER BY id',
    pgPattern: /^WITH .* SELECT name FROM t/s,
  },
  'string concatenation': {
    sql: "SELECT name || '-' || grp AS c, concat(name, id) AS c2 FROM t ORDER BY id",
  },
  ILIKE: { sql: "SELECT id FROM t WHERE name ILIKE '%AN%' OR name NOT ILIKE 'c%' ORDER BY id" },
  'COUNT(DISTINCT)': {
    sql: 'SELECT COUNT(DISTINCT grp) AS g, COUNT(*) AS n, COUNT(*) FILTER (WHERE amount > 6) AS f FROM t',
  },
  'window functions': {
    sql: `SELECT id,
            SUM(amount) OVER (PARTITION BY grp ORDER BY id) AS running,
            ROW_NUMBER() OVER (ORDER BY amount DESC) AS rn,
            LAG(amount) OVER (ORDER BY id) AS prev,
            AVG(amount) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS avg2
          FROM t ORDER BY id`,
  },
  'GROUP BY ALL and ORDER BY ALL': {
    sql: 'SELECT grp, SUM(amount) AS total, COUNT(*) AS n FROM t GROUP BY ALL ORDER BY ALL',
    pgPattern: /GROUP BY 1 ORDER BY 1, 2, 3/,
  },
  'string_agg with default separator': {
    sql: "SELECT grp, string_agg(name ORDER BY name) AS a, string_agg(name, '|' ORDER BY name DESC) AS b FROM t GROUP BY grp ORDER BY grp",
  },
  'if and ifnull': {
    sql: "SELECT if(amount > 8, 'big', 'small') AS size, ifnull(NULL, id) AS x FROM t ORDER BY id",
  },
  date_diff: {
    sql: "SELECT date_diff('day', DATE '2024-01-01', CAST(ts AS DATE)) AS d FROM t ORDER BY id",
  },
  regexp_matches: { sql: "SELECT regexp_matches(name, '^[A-Z]') AS up FROM t ORDER BY id" },
  'LIMIT and OFFSET': { sql: 'SELECT name FROM t ORDER BY id LIMIT 2 OFFSET 1' },
};

describe('transpile duckdb -> postgres, checked on both engines', () => {
  for (const [name, { sql, pgPattern }] of Object.entries(CASES)) {
    test(name, async () => {
      const duckSql = DATA + sql;
      const pgSql = transpile(duckSql, 'duckdb', 'postgres');
      if (pgPattern) assert.match(pgSql, pgPattern);
      const expected = await duckRows(duckSql);
      assert.ok(expected.length > 0);
      assert.deepEqual(await pgRows(pgSql), expected, pgSql);
    });
  }
});

describe('constructs without a PostgreSQL translation fail loudly', () => {
  const loc = { file: 'models/m.sql', line: 5, column: 3 };
  const cases: [string, string, RegExp, [number, number]][] = [
    ['SELECT * EXCLUDE (a) FROM t', 'duckdb', /SELECT \* EXCLUDE/, [5, 12]],
    ['SELECT * REPLACE (a + 1 AS a) FROM t', 'duckdb', /SELECT \* REPLACE/, [5, 12]],
    [
      'SELECT a, ROW_NUMBER() OVER (ORDER BY b) AS rn\nFROM t\nQUALIFY rn = 1',
      'duckdb',
      /QUALIFY/,
      [7, 1],
    ],
    ['SELECT a FROM t USING SAMPLE 10%', 'duckdb', /USING SAMPLE/, [5, 25]],
    ["SELECT {'a': 1} AS s", 'duckdb', /struct literal/, [5, 10]],
    ["SELECT strptime(s, '%d/%m/%Y') FROM t", 'duckdb', /function strptime\(\)/, [5, 10]],
    ['SELECT * FROM t GROUP BY ALL', 'duckdb', /GROUP BY ALL with a \* projection/, [5, 10]],
    ['SELECT median(x) FROM t', 'duckdb', /function median\(\)/, [5, 10]],
  ];
  for (const [sql, dialect, reason, [line, column]] of cases) {
    test(reason.source, () => {
      assert.throws(
        () => transpile(sql, dialect, 'postgres', loc),
        (err: unknown) => {
          assert.ok(err instanceof ProjectError, String(err));
          assert.match(err.reason, reason);
          assert.match(err.reason, /from duckdb to postgres/);
          assert.ok(!err.message.includes('\n'));
          assert.deepEqual([err.location?.line, err.location?.column], [line, column]);
          return true;
        },
      );
    });
  }

  test('the same constructs stay as written when the target is DuckDB', () => {
    const q = parseQuery('SELECT * EXCLUDE (a) FROM t QUALIFY x = 1', 'duckdb', loc);
    assert.match(generate(q), /EXCLUDE \(a\).*QUALIFY/);
  });
});
