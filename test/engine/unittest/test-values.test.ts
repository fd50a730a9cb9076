/**
 * Value rules of unit tests: equality per column type (float tolerance,
 * dates as points in time, NULL only equal to NULL), literals for input
 * fixtures, and the diff table of differing rows.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compareRows } from '../../../src/engine/unittest/row-diff.js';
import {
  inferType,
  normalizeTemporal,
  sqlLiteral,
  TemporalLiteral,
  valuesEqual,
} from '../../../src/engine/unittest/test-values.js';

describe('valuesEqual', () => {
  test('floats and decimals agree within a relative tolerance of 1e-5; integers exactly', () => {
    assert.ok(valuesEqual(3.333333, 10 / 3, 'DOUBLE'));
    assert.ok(!valuesEqual(3.33, 10 / 3, 'DOUBLE'));
    assert.ok(valuesEqual(100000, 100000.5, 'DECIMAL(10,2)'));
    assert.ok(!valuesEqual(100000, 100002, 'DECIMAL(10,2)'));
    assert.ok(!valuesEqual(100000, 100001, 'BIGINT'));
    assert.ok(valuesEqual('12345678901234567890', '12345678901234567890', 'HUGEINT'));
    assert.ok(!valuesEqual('12345678901234567890', '12345678901234567891', 'HUGEINT'));
    assert.ok(valuesEqual('1.50', 1.5, 'DECIMAL(10,2)'));
  });

  test('dates and timestamps compare as instants, from YAML dates or text', () => {
    assert.ok(valuesEqual(new TemporalLiteral('2024-01-02', 'date'), '2024-01-02', 'DATE'));
    assert.ok(valuesEqual('2024-01-02', '2024-01-02 00:00:00', 'TIMESTAMP'));
    assert.ok(valuesEqual('2024-01-02T10:00:00Z', '2024-01-02 10:00:00', 'TIMESTAMP'));
    assert.ok(valuesEqual('2024-01-02 12:00:00+02:00', '2024-01-02 10:00:00+00', 'TIMESTAMPTZ'));
    assert.ok(!valuesEqual('2024-01-02 10:00:01', '2024-01-02 10:00:00', 'TIMESTAMP'));
    assert.ok(!valuesEqual('2024-01-03', '2024-01-02', 'DATE'));
  });

  test('NULL equals only NULL; text and booleans compare by value', () => {
    assert.ok(valuesEqual(null, null, 'INTEGER'));
    assert.ok(!valuesEqual(null, 0, 'INTEGER'));
    assert.ok(!valuesEqual(0, null, 'INTEGER'));
    assert.ok(!valuesEqual('NULL', null, 'VARCHAR'));
    assert.ok(valuesEqual(1, '1', 'VARCHAR'));
    assert.ok(!valuesEqual('a', 'A', 'VARCHAR'));
    assert.ok(valuesEqual(true, true, 'BOOLEAN'));
    assert.ok(!valuesEqual(false, true, 'BOOLEAN'));
    assert.ok(valuesEqual([1, 2.0000001], [1, 2], 'INTEGER[]'));
    assert.ok(!valuesEqual({ a: 1 }, { a: 2 }, 'STRUCT(a INTEGER)'));
  });

  test('normalizeTemporal applies offsets and pads fractions', () => {
    assert.equal(normalizeTemporal('2024-01-01 23:30:00-01:00'), '2024-01-02 00:30:00.000000');
    assert.equal(normalizeTemporal('2024-01-01 10:00:00.5'), '2024-01-01 10:00:00.500000');
    assert.equal(normalizeTemporal('tomorrow'), undefined);
  });
});

describe('input literals', () => {
  test('types inferred from values, and literals cast to the column type', () => {
    assert.equal(inferType(1), 'INT');
    assert.equal(inferType(2 ** 40), 'BIGINT');
    assert.equal(inferType(1.5), 'DOUBLE');
    assert.equal(inferType('x'), 'VARCHAR');
    assert.equal(inferType(true), 'BOOLEAN');
    assert.equal(inferType(new TemporalLiteral('2024-01-01', 'date')), 'DATE');
    assert.equal(inferType(new TemporalLiteral('2024-01-01 10:00', 'timestamp')), 'TIMESTAMP');
    assert.equal(inferType(null), undefined);
    assert.equal(sqlLiteral("it's", 'VARCHAR', 'duckdb'), "CAST('it''s' AS VARCHAR)");
    assert.equal(sqlLiteral(null, 'DATE', 'duckdb'), 'CAST(NULL AS DATE)');
    assert.equal(sqlLiteral(null, undefined, 'duckdb'), 'NULL');
    assert.equal(sqlLiteral([1, 2], undefined, 'duckdb'), '[1, 2]');
    assert.equal(sqlLiteral([1, 2], undefined, 'postgres'), 'ARRAY[1, 2]');
    assert.equal(
      sqlLiteral({ k: 1 }, 'MAP(VARCHAR, INTEGER)', 'duckdb'),
      "CAST(MAP {'k': 1} AS MAP(VARCHAR, INTEGER))",
    );
  });
});

describe('compareRows', () => {
  const actual = {
    columns: [
      { name: 'id', type: 'INTEGER' },
      { name: 'name', type: 'VARCHAR' },
    ],
    rows: [
      { id: 2, name: 'b' },
      { id: 1, name: 'a' },
    ],
  };

  test('rows match in any order unless ordered; column names match case-insensitively', () => {
    const expected = [
      { ID: 1, Name: 'a' },
      { id: 2, name: 'b' },
    ];
    assert.equal(
      compareRows({ what: 'query', expected, actual, partial: false, ordered: false }),
      undefined,
    );
    const diff = compareRows({ what: 'query', expected, actual, partial: false, ordered: true });
    assert.equal(
      diff,
      [
        'Data mismatch in the query (- expected, + actual, compared in order): 2 expected row(s), 2 actual; 2 expected not found, 2 not expected',
        '    #  id  name',
        '  - 1  1   a',
        '  + 1  2   b',
        '  - 2  2   b',
        '  + 2  1   a',
      ].join('\n'),
    );
  });

  test('duplicates count: one expected row does not match two actual ones', () => {
    const twice = {
      ...actual,
      rows: [
        { id: 1, name: 'a' },
        { id: 1, name: 'a' },
      ],
    };
    const diff = compareRows({
      what: 'CTE x',
      expected: [{ id: 1, name: 'a' }],
      actual: twice,
      partial: false,
      ordered: false,
    });
    assert.match(
      diff ?? '',
      /^Data mismatch in the CTE x .*1 expected row\(s\), 2 actual; 0 expected not found, 1 not expected/,
    );
    assert.match(diff ?? '', /\n {2}\+ 1 {3}a$/);
  });

  test('partial compares only the named columns; otherwise a missing column is NULL', () => {
    const expected = [{ id: 1 }, { id: 2 }];
    assert.equal(
      compareRows({ what: 'query', expected, actual, partial: true, ordered: false }),
      undefined,
    );
    const diff = compareRows({ what: 'query', expected, actual, partial: false, ordered: false });
    assert.match(diff ?? '', /- 1 {3}NULL/);
    assert.match(diff ?? '', /\+ 1 {3}a/);
  });
});
