import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProjectError } from '../../../src/engine/errors.js';
import { parseAuditFile } from '../../../src/engine/parse/audit-parser.js';

function errorOf(fn: () => unknown): ProjectError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ProjectError, `expected a ProjectError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected an error');
}

void test('several audits in one file, each with its query', () => {
  const audits = parseAuditFile(
    `-- shared audits
AUDIT (
  name assert_positive, -- the name
  dialect Postgres,
  blocking false,
  defaults (threshold = 10, col = id),
);
SELECT * FROM @this_model WHERE @col < @threshold;

AUDIT (name Nightly, standalone true, owner jen, cron '@daily', depends_on [shop.orders]);
@DEF(limit, 5);
SELECT * FROM shop.orders WHERE amount > @limit
`,
    'audits/checks.sql',
    'duckdb',
  );
  assert.deepEqual(audits, [
    {
      name: 'assert_positive',
      dialect: 'postgres',
      blocking: false,
      standalone: false,
      defaults: { threshold: '10', col: 'id' },
      query: {
        sql: 'SELECT * FROM @this_model WHERE @col < @threshold',
        location: { file: 'audits/checks.sql', line: 8, column: 1 },
        jinja: false,
      },
      location: { file: 'audits/checks.sql', line: 2, column: 1 },
    },
    {
      name: 'nightly',
      dialect: 'duckdb',
      blocking: false,
      standalone: true,
      defaults: {},
      statements: [
        {
          sql: '@DEF(limit, 5)',
          location: { file: 'audits/checks.sql', line: 11, column: 1 },
          jinja: false,
        },
      ],
      query: {
        sql: 'SELECT * FROM shop.orders WHERE amount > @limit',
        location: { file: 'audits/checks.sql', line: 12, column: 1 },
        jinja: false,
      },
      location: { file: 'audits/checks.sql', line: 10, column: 1 },
    },
  ]);
});

void test('model audits block by default; skip is read', () => {
  const [a] = parseAuditFile('AUDIT (name a, skip true); SELECT 1', 'audits/a.sql', 'duckdb');
  assert.equal(a?.blocking, true);
  assert.equal(a?.skip, true);
});

void test('a Jinja query can be an audit query', () => {
  const [a] = parseAuditFile(
    'AUDIT (name a);\nJINJA_QUERY_BEGIN;\nSELECT * FROM {{ this_model }} WHERE x < 0\nJINJA_END;',
    'audits/a.sql',
    'duckdb',
  );
  assert.deepEqual(a?.query, {
    sql: 'SELECT * FROM {{ this_model }} WHERE x < 0',
    location: { file: 'audits/a.sql', line: 3, column: 1 },
    jinja: true,
  });
});

void test('defaults given as a single pair', () => {
  const [a] = parseAuditFile(
    "AUDIT (name a, defaults (x := 'y')); SELECT 1",
    'audits/a.sql',
    'duckdb',
  );
  assert.deepEqual(a?.defaults, { x: "'y'" });
});

void test('standalone-only keys on a model audit are refused', () => {
  const e = errorOf(() =>
    parseAuditFile("AUDIT (name a, cron '@daily'); SELECT 1", 'audits/a.sql', 'duckdb'),
  );
  assert.equal(
    e.message,
    'audits/a.sql:1:16: `cron` applies only to standalone audits; add `standalone true` or remove it',
  );
});

void test('a second query in one audit is refused', () => {
  const e = errorOf(() =>
    parseAuditFile('AUDIT (name a); SELECT 1; SELECT 2;', 'audits/a.sql', 'duckdb'),
  );
  assert.match(e.reason, /more than one query/);
  assert.equal(e.location?.column, 17);
});

void test('an empty audit file is refused', () => {
  assert.match(errorOf(() => parseAuditFile('  \n', 'audits/a.sql', 'duckdb')).reason, /empty/);
});
