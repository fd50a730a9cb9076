/**
 * Every built-in audit on DuckDB: a table it accepts and one it rejects,
 * with the number of rows it returns; the `_non_blocking` twins; and the
 * SQL written for each engine's regular expressions.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { auditFailureOf, runModelAudits } from '../../../src/engine/audit/audit-runner.js';
import { BUILTIN_AUDITS } from '../../../src/engine/audit/builtin-audits.js';
import {
  audit,
  BUILTIN_CASES,
  casesCover,
  duckdb,
  model,
  snapshotOf,
  tableFrom,
} from './audit-fixtures.js';

const adapter = duckdb();
after(() => adapter.close());

describe('built-in audits on DuckDB', () => {
  for (const c of BUILTIN_CASES) {
    test(c.call, async () => {
      const good = await audit(adapter, await tableFrom(adapter, c.passing), c.call);
      assert.equal(good.length, 1);
      assert.equal(good[0]?.error, undefined, good[0]?.error);
      assert.equal(
        good[0]?.passed,
        true,
        `expected a pass, got ${JSON.stringify(good[0]?.sample)}\n${good[0]?.sql}`,
      );
      assert.equal(good[0]?.failingRows, 0);
      const bad = await audit(adapter, await tableFrom(adapter, c.failing), c.call);
      assert.equal(bad[0]?.error, undefined, bad[0]?.error);
      assert.equal(bad[0]?.passed, false, `expected a failure\n${bad[0]?.sql}`);
      assert.equal(bad[0]?.failingRows, c.failingRows, bad[0]?.sql);
      assert.equal(bad[0]?.sample.length, Math.min(c.failingRows, 5));
      assert.equal(bad[0]?.blocking, true);
    });
  }

  test('the cases cover every built-in audit', () => {
    const names = [...BUILTIN_AUDITS.keys()].filter((n) => !n.endsWith('_non_blocking'));
    const covered = casesCover();
    assert.deepEqual(
      names.filter((n) => !covered.has(n)),
      [],
    );
    assert.ok(names.length >= 29, `only ${names.length} built-in audits`);
    for (const n of names) assert.equal(BUILTIN_AUDITS.get(`${n}_non_blocking`)?.blocking, false);
  });

  test('_non_blocking twins fail without blocking; `blocking := false` on the call does the same', async () => {
    const table = await tableFrom(
      adapter,
      "SELECT * FROM (VALUES (1, NULL), (2, 'b')) AS v(id, name)",
    );
    const results = await audit(
      adapter,
      table,
      'not_null_non_blocking(columns := [name]), not_null(columns := [name], blocking := false), not_null(columns := [name])',
    );
    assert.deepEqual(
      results.map((r) => [r.name, r.blocking, r.passed, r.failingRows]),
      [
        ['not_null_non_blocking', false, false, 1],
        ['not_null', false, false, 1],
        ['not_null', true, false, 1],
      ],
    );
    const failure = auditFailureOf('s.m', results);
    assert.ok(failure);
    assert.equal(failure.results.length, 1);
    assert.equal(
      failure.message,
      'audit not_null failed for s.m: 1 row(s), first: {"id":1,"name":null}',
    );
    assert.equal(auditFailureOf('s.m', results.slice(0, 2)), undefined);
  });

  test('a non-blocking audit can be made blocking at the call', async () => {
    const table = await tableFrom(adapter, 'SELECT * FROM (VALUES (NULL)) AS v(id)');
    const [r] = await audit(
      adapter,
      table,
      'not_null_non_blocking(columns := [id], blocking := TRUE)',
    );
    assert.equal(r?.blocking, true);
    assert.ok(auditFailureOf('s.m', r ? [r] : []));
  });

  test('forceNonBlocking reports every audit as non-blocking', async () => {
    const table = await tableFrom(adapter, 'SELECT * FROM (VALUES (NULL)) AS v(id)');
    const def = model('MODEL (name s.m, kind FULL, audits (not_null(columns := [id]))); SELECT 1');
    const results = await runModelAudits({
      adapter,
      snapshot: snapshotOf(def),
      table,
      interval: [0, 1],
      executionTime: 1,
      forceNonBlocking: true,
    });
    assert.deepEqual(
      results.map((r) => [r.passed, r.blocking]),
      [[false, false]],
    );
    assert.equal(auditFailureOf('s.m', results), undefined);
  });

  test('counts every failing row and samples the first five', async () => {
    const table = await tableFrom(
      adapter,
      'SELECT CASE WHEN i % 3 = 0 THEN NULL ELSE i END AS id FROM range(30) AS r(i)',
    );
    const [r] = await audit(adapter, table, 'not_null(columns := [id])');
    assert.equal(r?.failingRows, 10);
    assert.equal(r?.sample.length, 5);
    assert.ok(r?.sample.every((row) => row['id'] === null));
  });

  test('arguments may use macros and project variables', async () => {
    const table = await tableFrom(adapter, 'SELECT * FROM (VALUES (5), (50)) AS v(price)');
    const pass = await audit(adapter, table, 'accepted_range(column := price, max_v := @limit)', {
      variables: { limit: 50 },
    });
    assert.equal(pass[0]?.passed, true, pass[0]?.sql);
    const fail = await audit(adapter, table, 'accepted_range(column := price, max_v := @limit)', {
      variables: { limit: 10 },
    });
    assert.equal(fail[0]?.failingRows, 1);
    assert.match(fail[0]?.sql ?? '', /> 10\b/);
  });

  test('a condition may read another model, mapped to its table', async () => {
    const other = await tableFrom(adapter, 'SELECT * FROM (VALUES (1), (2)) AS v(id)');
    const table = await tableFrom(
      adapter,
      'SELECT * FROM (VALUES (1, NULL), (3, NULL)) AS v(id, name)',
    );
    const results = await audit(
      adapter,
      table,
      'not_null(columns := [name], condition := id IN (SELECT id FROM s.other))',
      { tableFor: (fqn) => (fqn === '"memory"."s"."other"' ? other : undefined) },
    );
    assert.equal(results[0]?.failingRows, 1, results[0]?.sql);
    assert.ok(results[0]?.sql.includes(other), results[0]?.sql);
  });

  test('a model written in another dialect has its arguments translated', async () => {
    const table = await tableFrom(adapter, "SELECT * FROM (VALUES ('a'), ('b')) AS v(\"my col\")");
    const [r] = await audit(adapter, table, "accepted_values(column := `my col`, is_in := ('a'))", {
      dialect: 'bigquery',
    });
    assert.equal(r?.failingRows, 1, r?.sql);
    assert.match(r?.sql ?? '', /"my col"/);
  });
});
