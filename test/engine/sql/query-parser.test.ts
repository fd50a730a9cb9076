import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProjectError } from '../../../src/engine/errors.js';
import {
  formatSql,
  isQuery,
  outputColumns,
  parseQuery,
  parseStatements,
  splitStatements,
} from '../../../src/engine/sql/query.js';

const loc = { file: 'models/orders.sql', line: 12, column: 7 };

function parseError(sql: string, dialect = 'duckdb'): ProjectError {
  try {
    parseQuery(sql, dialect, loc);
  } catch (err) {
    assert.ok(err instanceof ProjectError, `${sql}: ${String(err)}`);
    return err;
  }
  assert.fail(`expected a parse error for ${JSON.stringify(sql)}`);
}

describe('parseQuery errors', () => {
  test('an error on the first line is offset by the fragment column', () => {
    const err = parseError('SELECT 1 +');
    // The '+' is the 10th character of the fragment, which starts at column 7.
    assert.deepEqual(err.location, { file: 'models/orders.sql', line: 12, column: 7 + 9 });
    assert.equal(err.message, `models/orders.sql:12:16: ${err.reason}`);
  });

  test('an error on a later line keeps its own column', () => {
    const err = parseError('SELECT a\nFROM t\n  WHERE (a = 1');
    assert.equal(err.location?.line, 14);
    assert.ok(err.location && err.location.column < 16, String(err.location?.column));
    assert.match(err.reason, /RParen|\)/);
  });

  test('an unterminated string points at its opening quote', () => {
    const err = parseError("SELECT a FROM t\nWHERE b = 'x");
    assert.deepEqual([err.location?.line, err.location?.column], [13, 11]);
  });

  test('a bad-input corpus gives one-line errors with positions inside the query', () => {
    const corpus = [
      'SELECT a FROM t WHERE',
      'SELECT a,, b FROM t',
      'SELECT * FROM (SELECT 1',
      'SELECT "abc FROM t',
      'SELECT CASE WHEN a THEN 1 FROM t',
      'SELECT a FROM t ORDER BY',
      'SELECT a b c FROM t',
      'SELECT a FROM t LIMIT',
      'SELECT a FROM t JOIN u USING',
      'SELECT CAST(a AS) FROM t',
      'SELECT 1 2',
      'SELECT a FROM t WHERE a = 1)',
      'SELECT a FROM t GROUP a',
      'SELECT a // 2 FROM t',
    ];
    for (const sql of corpus) {
      const err = parseError(sql);
      assert.ok(!err.message.includes('\n'), sql);
      assert.ok(!/at line \d+/.test(err.reason), `${sql}: ${err.reason}`);
      assert.match(err.message, /^models\/orders\.sql:12:\d+: /, sql);
      const column = err.location?.column ?? 0;
      assert.ok(column >= 7 && column <= 7 + sql.length, `${sql}: column ${column}`);
    }
  });

  test('empty input and several statements are errors', () => {
    assert.match(parseError('  -- nothing\n').reason, /found none/);
    assert.match(parseError('SELECT 1; SELECT 2').reason, /found 2/);
  });

  test('positions count characters, not UTF-16 units', () => {
    const err = parseError("SELECT '😀' AS e, 1 +");
    assert.equal(err.location?.column, 7 + "SELECT '😀' AS e, 1 ".length - 1);
  });
});

describe('parsed query helpers', () => {
  test('parseStatements keeps each statement', () => {
    const statements = parseStatements('CREATE TABLE x (a INT); SELECT 1', 'duckdb', loc);
    assert.equal(statements.length, 2);
    assert.equal(isQuery(statements[0]!), false);
    assert.equal(isQuery(statements[1]!), true);
  });

  test('splitStatements returns each statement as SQL', () => {
    assert.deepEqual(splitStatements("SELECT 1; SELECT ';' AS x;\n", 'duckdb'), [
      'SELECT 1',
      "SELECT ';' AS x",
    ]);
  });

  test('formatSql puts clauses on their own lines', () => {
    const out = formatSql('select a,b from t where x=1', 'duckdb');
    assert.ok(out.split('\n').length >= 4, out);
    assert.match(out, /^SELECT\n/);
    assert.throws(() => formatSql('select from where (', 'duckdb'), ProjectError);
  });

  test('outputColumns names projections in order, reporting stars', () => {
    const q = parseQuery(
      'SELECT o.id, o.Amount AS Total, UPPER(name), c.*, * FROM o JOIN c ON true',
      'duckdb',
      loc,
    );
    assert.deepEqual(outputColumns(q), [
      { name: 'id', star: false },
      { name: 'total', star: false },
      { name: undefined, star: false },
      { name: undefined, star: true, starTable: 'c' },
      { name: undefined, star: true },
    ]);
  });

  test('outputColumns reads the first branch of a set operation and follows CTEs to the body', () => {
    const q = parseQuery(
      'WITH x AS (SELECT 1 AS inner_col) SELECT a AS first, b FROM x UNION ALL SELECT c, d FROM x',
      'postgres',
      loc,
    );
    assert.deepEqual(
      outputColumns(q).map((c) => c.name),
      ['first', 'b'],
    );
    const snow = parseQuery('SELECT id AS Id, "Mixed" FROM t', 'snowflake', loc);
    assert.deepEqual(
      outputColumns(snow).map((c) => c.name),
      ['ID', 'Mixed'],
    );
  });
});
