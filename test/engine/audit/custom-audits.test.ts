/**
 * Audits written in a project (audits/*.sql) or inline in a model file:
 * parameters with defaults and overrides, macros, other models read by name,
 * skip and blocking, and `@this_model` limited to the interval just written
 * for INCREMENTAL_BY_TIME_RANGE models, on DuckDB and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { EngineAdapter } from '../../../src/engine/adapters/engine-adapter.js';
import { auditFailureOf } from '../../../src/engine/audit/audit-runner.js';
import { testServerUrl } from '../../helpers/postgres.js';
import { audit, day, duckdb, postgres, projectAudits, tableFrom } from './audit-fixtures.js';

await testServerUrl();
const duck = duckdb();
const pg = await postgres();
after(async () => {
  await duck.close();
  await pg.close();
});

const THRESHOLD = projectAudits(`
AUDIT (
  name does_not_exceed_threshold,
  defaults (threshold = 10, column = id)
);
SELECT * FROM @this_model
WHERE @column >= @threshold;

AUDIT (name no_nulls_in);
SELECT * FROM @this_model
WHERE @REDUCE(@EACH(@columns, c -> c IS NULL), (l, r) -> l OR r);

AUDIT (name soft_check, blocking false);
SELECT * FROM @this_model WHERE id < 0;

AUDIT (name not_ready, skip true);
SELECT * FROM no_such_table;

AUDIT (name big_ids);
@DEF(limit_value, 2 * @base);
SELECT * FROM @this_model WHERE id > @limit_value;

AUDIT (name ids_known);
SELECT m.id FROM @this_model AS m LEFT JOIN s.known AS k ON m.id = k.id WHERE k.id IS NULL;

AUDIT (name in_the_interval);
SELECT * FROM @this_model WHERE ds < @start_ds OR ds > @end_ds;

AUDIT (name pg_style, dialect postgres);
SELECT * FROM @this_model WHERE name ~ '^x';
`);

const rows = (adapter: EngineAdapter) =>
  tableFrom(
    adapter,
    "SELECT * FROM (VALUES (1, 5, 'a'), (12, 50, 'b'), (3, 150, 'xc')) AS v(id, price, name)",
  );

describe('custom audits', () => {
  test('defaults apply, and arguments override them', async () => {
    const table = await rows(duck);
    const results = await audit(
      duck,
      table,
      'does_not_exceed_threshold, does_not_exceed_threshold(column := price, threshold := 100), does_not_exceed_threshold(threshold := 13)',
      { projectAudits: THRESHOLD },
    );
    assert.deepEqual(
      results.map((r) => r.failingRows),
      [1, 1, 0],
    );
    assert.equal(results[0]?.sample[0]?.['id'], 12);
    assert.equal(results[1]?.sample[0]?.['price'], 150);
  });

  test('list arguments feed @EACH', async () => {
    const table = await tableFrom(
      duck,
      "SELECT * FROM (VALUES (1, 'a'), (NULL, 'b'), (3, NULL)) AS v(id, name)",
    );
    const results = await audit(
      duck,
      table,
      'no_nulls_in(columns := [id, name]), no_nulls_in(columns := (id))',
      {
        projectAudits: THRESHOLD,
      },
    );
    assert.deepEqual(
      results.map((r) => r.failingRows),
      [2, 1],
    );
  });

  test('@DEF statements before the query and project variables', async () => {
    const table = await rows(duck);
    const results = await audit(duck, table, 'big_ids', {
      projectAudits: THRESHOLD,
      variables: { base: 2 },
    });
    assert.equal(results[0]?.failingRows, 1, results[0]?.sql);
  });

  test('skip true reports the audit skipped; blocking false is kept unless the call says otherwise', async () => {
    const table = await tableFrom(duck, 'SELECT * FROM (VALUES (-1)) AS v(id)');
    const results = await audit(
      duck,
      table,
      'not_ready, soft_check, soft_check(blocking := true)',
      { projectAudits: THRESHOLD },
    );
    assert.deepEqual(
      results.map((r) => [r.name, r.skipped === true, r.passed, r.blocking]),
      [
        ['not_ready', true, true, true],
        ['soft_check', false, false, false],
        ['soft_check', false, false, true],
      ],
    );
    assert.equal(auditFailureOf('s.m', results)?.results.length, 1);
  });

  test('other models are read from their tables', async () => {
    const known = await tableFrom(duck, 'SELECT * FROM (VALUES (1), (3)) AS v(id)');
    const table = await rows(duck);
    const results = await audit(duck, table, 'ids_known', {
      projectAudits: THRESHOLD,
      tableFor: (fqn) => (fqn === '"memory"."s"."known"' ? known : undefined),
    });
    assert.equal(results[0]?.failingRows, 1, results[0]?.sql);
    assert.deepEqual(results[0]?.sample, [{ id: 12 }]);
  });

  test('an audit in another dialect is translated for the engine', async () => {
    const table = await rows(duck);
    const [r] = await audit(duck, table, 'pg_style', { projectAudits: THRESHOLD });
    assert.equal(r?.failingRows, 1, r?.sql);
    assert.match(r?.sql ?? '', /REGEXP_MATCHES/i);
  });

  test('inline audits run when called, and win over project audits of the same name', async () => {
    const table = await rows(duck);
    const results = await audit(duck, table, 'soft_check, positive_price(min := 10)', {
      projectAudits: THRESHOLD,
      extra:
        'AUDIT (name soft_check);\nSELECT * FROM @this_model WHERE id > 10;\n' +
        'AUDIT (name positive_price, defaults (min = 0));\nSELECT * FROM @this_model WHERE price < @min;\n' +
        'AUDIT (name never_called);\nSELECT 1;\n',
    });
    assert.deepEqual(
      results.map((r) => [r.name, r.failingRows, r.blocking]),
      [
        ['soft_check', 1, true],
        ['positive_price', 1, true],
      ],
    );
  });

  test('an audit written in Jinja is rendered before its macros', async () => {
    const table = await rows(duck);
    const audits = projectAudits(
      'AUDIT (name jinja_check);\nJINJA_QUERY_BEGIN;\nSELECT * FROM @this_model WHERE id > {{ 2 + 1 }}\nJINJA_END;\n',
    );
    const [r] = await audit(duck, table, 'jinja_check', { projectAudits: audits });
    assert.equal(r?.failingRows, 1, r?.error ?? r?.sql);
    assert.match(r?.sql ?? '', /id > 3/);
  });

  test('a query the engine rejects is a failed audit carrying the error', async () => {
    const table = await rows(duck);
    const results = await audit(duck, table, 'broken', {
      extra: 'AUDIT (name broken);\nSELECT * FROM @this_model WHERE no_such_column > 1;\n',
    });
    assert.equal(results[0]?.passed, false);
    assert.match(results[0]?.error ?? '', /no_such_column/);
    const failure = auditFailureOf('s.m', results);
    assert.match(failure?.message ?? '', /^audit broken failed for s\.m: .*no_such_column/);
    assert.doesNotMatch(failure?.message ?? '', /\n/);
  });
});

for (const [engine, adapter] of [
  ['DuckDB', duck],
  ['PostgreSQL', pg.adapter],
] as const) {
  describe(`@this_model of an INCREMENTAL_BY_TIME_RANGE model on ${engine}`, () => {
    const kind = (column: string, format?: string) =>
      `INCREMENTAL_BY_TIME_RANGE (time_column ${format ? `(${column}, '${format}')` : column})`;
    const interval: [number, number] = [day('2024-01-02'), day('2024-01-04')];

    test('is the interval just written, for a DATE column', async () => {
      const table = await tableFrom(
        adapter,
        "SELECT CAST(ds AS DATE) AS ds, price FROM (VALUES ('2024-01-01', NULL), ('2024-01-02', 1), ('2024-01-03', NULL), ('2024-01-04', NULL)) AS v(ds, price)",
      );
      const results = await audit(
        adapter,
        table,
        'not_null(columns := [price]), in_the_interval, number_of_rows(threshold := 1)',
        {
          kind: kind('ds'),
          interval,
          projectAudits: THRESHOLD,
        },
      );
      assert.deepEqual(
        results.map((r) => [r.name, r.failingRows]),
        [
          ['not_null', 1],
          ['in_the_interval', 0],
          ['number_of_rows', 0],
        ],
        results.map((r) => r.error ?? r.sql).join('\n'),
      );
      const wider = await audit(adapter, table, 'not_null(columns := [price])', {
        kind: kind('ds'),
        interval: [day('2024-01-01'), day('2024-01-05')],
      });
      assert.equal(wider[0]?.failingRows, 3);
    });

    test('is the interval just written, for a text column with a format', async () => {
      const table = await tableFrom(
        adapter,
        "SELECT * FROM (VALUES ('20240101', NULL), ('20240102', 1), ('20240103', NULL), ('20240105', NULL)) AS v(day_key, price)",
      );
      const results = await audit(adapter, table, 'not_null(columns := [price])', {
        kind: kind('day_key', '%Y%m%d'),
        interval,
      });
      assert.equal(results[0]?.failingRows, 1, results[0]?.error ?? results[0]?.sql);
      assert.match(results[0]?.sql ?? '', /BETWEEN '20240102' AND '20240103'/);
    });

    test('a full model is audited whole', async () => {
      const table = await tableFrom(
        adapter,
        "SELECT CAST(ds AS DATE) AS ds FROM (VALUES ('2024-01-01'), ('2024-02-01')) AS v(ds)",
      );
      const results = await audit(adapter, table, 'number_of_rows(threshold := 1)', { interval });
      assert.equal(results[0]?.passed, true);
    });
  });
}
