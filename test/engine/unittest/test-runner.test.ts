/**
 * Running unit tests end to end on DuckDB: the shop fixture's tests (every
 * way of giving inputs and outputs) pass, the starter project's test passes,
 * and changing one expectation makes a test fail with a readable diff.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createAdapter } from '../../../src/engine/adapters/adapter-factory.js';
import { writeStarterProject } from '../../../src/engine/starter/starter-project.js';
import { runUnitTests, type UnitTestRun } from '../../../src/engine/unittest/test-runner.js';
import { load, shopCopy, shopDir, tempDir } from './helpers.js';

function failures(run: UnitTestRun): string {
  return run.results
    .filter((r) => !r.passed)
    .map((r) => `${r.name}: ${r.error ?? ''}\n${r.diff ?? ''}`)
    .join('\n');
}

/** Runs one test written into a copy of the shop project, with the fixture's own tests removed. */
async function runOnly(yaml: string): Promise<UnitTestRun> {
  const dir = shopCopy({ 'tests/test_case.yaml': yaml }, false);
  return runUnitTests(await load(dir), {});
}

const ENRICHED_INPUTS = `
  inputs:
    raw.orders:
      - id: 1
        customer_id: 1
        amount: 10
        ordered_at: 2024-01-01 10:00:00
    shop.customers:
      - id: 1
        name: Ada
`;

describe('the shop fixture tests', () => {
  test('every input and output variant passes, one result per test across nested files', async () => {
    const project = await load(shopDir);
    const run = await runUnitTests(project, {});
    assert.equal(run.failed, 0, failures(run));
    const names = run.results.map((r) => r.name).sort();
    assert.deepEqual(names, [
      'test_daily_revenue_interval',
      'test_enriched_ctes',
      'test_enriched_rows',
      'test_first_orders_upstream_types',
      'test_lookup_non_model_table',
      'test_ranked_csv',
      'test_ranked_csv_file',
      'test_ranked_empty',
      'test_ranked_in_order',
      'test_ranked_queries',
      'test_signup_years_columns',
      'test_stamped_frozen_time',
      'test_totals_from_empty',
      'test_totals_from_previous',
    ]);
    assert.equal(run.passed, 14);
    const nested = run.results.find((r) => r.name === 'test_ranked_csv');
    assert.equal(nested?.file, 'tests/nested/test_more.yml');
    for (const r of run.results) assert.ok(r.durationMs >= 0);
  });
});

describe('the starter project', () => {
  test('its own unit test passes; a wrong count fails with the diff of that row', async () => {
    const dir = tempDir();
    writeStarterProject(dir, 'duckdb');
    const run = await runUnitTests(await load(dir), {});
    assert.equal(run.failed, 0, failures(run));
    assert.equal(run.passed, 1);
    assert.equal(run.results[0]?.name, 'test_full_model');

    const { readFileSync, writeFileSync } = await import('node:fs');
    const file = `${dir}/tests/test_full_model.yaml`;
    const text = readFileSync(file, 'utf8');
    const changed = text.replace(/num_orders: 3/, 'num_orders: 4');
    assert.notEqual(changed, text);
    writeFileSync(file, changed);
    const failed = await runUnitTests(await load(dir), {});
    assert.equal(failed.passed, 0);
    assert.equal(failed.failed, 1);
    const result = failed.results[0];
    assert.equal(result?.passed, false);
    assert.equal(result?.error, undefined);
    assert.equal(
      result?.diff,
      [
        'Data mismatch in the query (- expected, + actual): 3 expected row(s), 3 actual; 1 expected not found, 1 not expected',
        '    item_id  num_orders',
        '  - 1        4',
        '  + 1        3',
      ].join('\n'),
    );
  });
});

describe('tests that must fail', () => {
  test('rows of a query with ORDER BY are compared in order', async () => {
    const run = await runOnly(`
test_wrong_order:
  model: shop.ranked
  inputs:
    shop.orders_enriched:
      - {name: Ada, amount: 10}
      - {name: Bob, amount: 30}
  outputs:
    query:
      - {name: Ada, spent: 10}
      - {name: Bob, spent: 30}
`);
    assert.equal(run.failed, 1);
    const diff = run.results[0]?.diff ?? '';
    assert.match(diff, /compared in order/);
    assert.match(diff, /^ {4}# {2}name {2}spent$/m);
    assert.match(diff, /^ {2}- 1 {2}Ada {3}10$/m);
    assert.match(diff, /^ {2}\+ 1 {2}Bob {3}30$/m);
  });

  test('floats must agree within the relative tolerance', async () => {
    const yaml = (name: string, third: string) => `
${name}:
  model: shop.orders_enriched
${ENRICHED_INPUTS}
  outputs:
    query:
      partial: true
      rows:
        - id: 1
          third: ${third}
`;
    const run = await runOnly(yaml('test_close', '3.33334') + yaml('test_far', '3.34'));
    const [close, far] = run.results;
    assert.equal(close?.passed, true, close?.diff);
    assert.equal(far?.passed, false);
    assert.match(far?.diff ?? '', /- 1 +3\.34\n +\+ 1 +3\.3333/);
  });

  test('a column left out of a row is expected to be NULL unless the output is partial', async () => {
    const yaml = (name: string, partial: boolean) => `
${name}:
  model: shop.orders_enriched
${ENRICHED_INPUTS}
  outputs:
    partial: ${partial}
    query:
      - id: 1
        name: Ada
        amount: 10
        third: 3.3333333
        ordered_at: 2024-01-01 10:00:00
`;
    const run = await runOnly(yaml('test_strict', false) + yaml('test_partial', true));
    const [strict, partial] = run.results;
    assert.equal(strict?.passed, false);
    assert.match(strict?.diff ?? '', /amount_with_tax/);
    assert.match(strict?.diff ?? '', /- 1 .* NULL/);
    assert.equal(partial?.passed, true, partial?.diff);
  });

  test('NULL is expected with null and matches only NULL', async () => {
    const yaml = (name: string, value: string) => `
${name}:
  model: shop.orders_enriched
  inputs:
    raw.orders:
      - {id: 5, customer_id: 9, amount: 1}
    shop.customers:
      - {id: 1, name: Ada}
  outputs:
    query:
      partial: true
      rows:
        - {id: 5, name: ${value}}
`;
    const run = await runOnly(
      yaml('test_null', 'null') +
        yaml('test_tilde', '~') +
        yaml('test_text', 'Ada') +
        yaml('test_null_text', '"NULL"'),
    );
    assert.deepEqual(
      run.results.map((r) => [r.name, r.passed]),
      [
        ['test_null', true],
        ['test_tilde', true],
        ['test_text', false],
        ['test_null_text', false],
      ],
    );
  });

  test('the frozen execution time is what CURRENT_TIMESTAMP returns', async () => {
    const yaml = (name: string, expected: string) => `
${name}:
  model: shop.stamped
  vars:
    execution_time: 2024-03-05 12:05:03
  inputs:
    shop.orders_enriched:
      - id: 7
  outputs:
    query:
      partial: true
      rows:
        - id: 7
          loaded_at: ${expected}
          run_ds: "2024-03-05"
`;
    const run = await runOnly(
      yaml('test_right', '2024-03-05 12:05:03') + yaml('test_wrong', '2024-03-05 12:05:04'),
    );
    const [right, wrong] = run.results;
    assert.equal(right?.passed, true, right?.diff ?? right?.error);
    assert.equal(wrong?.passed, false);
    assert.match(wrong?.diff ?? '', /\+ 7 +2024-03-05 12:05:03/);
  });

  test('start and end decide which rows an incremental model selects', async () => {
    const yaml = `
test_interval:
  model: shop.daily_revenue
  vars:
    start: 2024-01-01
    end: 2024-01-01
  inputs:
    shop.orders_enriched:
      - {id: 1, amount: 10, ordered_at: 2024-01-01 10:00:00}
      - {id: 2, amount: 20, ordered_at: 2024-01-02 10:00:00}
  outputs:
    query:
      - {day: 2024-01-02, revenue: 20, orders: 1}
`;
    const run = await runOnly(yaml);
    assert.equal(run.failed, 1);
    assert.match(run.results[0]?.diff ?? '', /\+ 2024-01-01 +10 /);
  });

  test('without the columns override, seed text types make a date function fail to run', async () => {
    const run = await runOnly(`
test_no_override:
  model: shop.signup_years
  inputs:
    shop.customers:
      - {id: 1, signup: 2023-05-01}
  outputs:
    query:
      - {signup_year: 2023, customers: 1}
`);
    assert.equal(run.failed, 1);
    assert.match(run.results[0]?.error ?? '', /year/i);
  });

  test('a CTE the model lacks, a missing input and a column the query lacks are reported', async () => {
    const run = await runOnly(`
test_no_cte:
  model: shop.orders_enriched
${ENRICHED_INPUTS}
  outputs:
    ctes:
      nope:
        - {id: 1}
test_missing_input:
  model: shop.orders_enriched
  inputs:
    raw.orders:
      - {id: 1}
  outputs:
    query: []
test_unknown_column:
  model: shop.orders_enriched
${ENRICHED_INPUTS}
  outputs:
    query:
      - {id: 1, colour: red}
`);
    assert.equal(run.failed, 3);
    const [noCte, missing, unknown] = run.results;
    assert.match(
      noCte?.error ?? '',
      /no CTE named nope in shop\.orders_enriched; its CTEs are big_orders, named/,
    );
    assert.match(
      missing?.error ?? '',
      /missing input for shop\.customers, which shop\.orders_enriched reads; add it under inputs/,
    );
    assert.match(
      unknown?.diff ?? '',
      /Unknown column\(s\) in the expected rows of the query: colour/,
    );
    assert.match(
      unknown?.diff ?? '',
      /returns: id, name, amount, amount_with_tax, third, ordered_at/,
    );
  });

  test('a wrong CTE expectation fails with the CTE named in the diff', async () => {
    const run = await runOnly(`
test_cte_wrong:
  model: shop.orders_enriched
${ENRICHED_INPUTS}
  outputs:
    ctes:
      big_orders:
        - {id: 2, customer_id: 1, amount: 10, ordered_at: 2024-01-01 10:00:00}
`);
    assert.equal(run.failed, 1);
    assert.match(run.results[0]?.diff ?? '', /Data mismatch in the CTE big_orders/);
  });

  test('several failures are all counted, passing tests with them', async () => {
    const run = await runOnly(`
test_a_pass:
  model: shop.ranked
  inputs:
    shop.orders_enriched: [{name: Ada, amount: 1}]
  outputs:
    query: [{name: Ada, spent: 1}]
test_b_fail:
  model: shop.ranked
  inputs:
    shop.orders_enriched: [{name: Ada, amount: 1}]
  outputs:
    query: [{name: Ada, spent: 2}]
test_c_fail:
  model: shop.ranked
  inputs:
    shop.orders_enriched: [{name: Ada, amount: 1}]
  outputs:
    query: []
`);
    assert.deepEqual(
      run.results.map((r) => [r.name, r.passed]),
      [
        ['test_a_pass', true],
        ['test_b_fail', false],
        ['test_c_fail', false],
      ],
    );
    assert.equal(run.passed, 1);
    assert.equal(run.failed, 2);
  });
});

describe('selection', () => {
  test('names and -k patterns choose which tests run', async () => {
    const project = await load(shopDir);
    const byName = await runUnitTests(project, { names: ['test_ranked_csv'] });
    assert.deepEqual(
      byName.results.map((r) => r.name),
      ['test_ranked_csv'],
    );
    const byFile = await runUnitTests(project, {
      names: ['tests/test_shop.yaml::test_ranked_in_order'],
    });
    assert.deepEqual(
      byFile.results.map((r) => r.name),
      ['test_ranked_in_order'],
    );
    const byPattern = await runUnitTests(project, { pattern: 'ranked_csv' });
    assert.deepEqual(byPattern.results.map((r) => r.name).sort(), [
      'test_ranked_csv',
      'test_ranked_csv_file',
    ]);
  });

  test('another gateway runs its tests on its test_connection', async () => {
    const dir = shopCopy(
      {
        'config.yaml': `
gateways:
  local:
    connection:
      type: duckdb
  broken:
    connection:
      type: duckdb
    test_connection:
      type: duckdb
      connector_config:
        no_such_setting_here: 1
default_gateway: local
model_defaults:
  dialect: duckdb
variables:
  min_amount: 0
`,
        'tests/test_case.yaml': `
test_on_broken:
  gateway: broken
  model: shop.ranked
  inputs:
    shop.orders_enriched: [{name: Ada, amount: 1}]
  outputs:
    query: [{name: Ada, spent: 1}]
test_on_default:
  model: shop.ranked
  inputs:
    shop.orders_enriched: [{name: Ada, amount: 1}]
  outputs:
    query: [{name: Ada, spent: 1}]
`,
      },
      false,
    );
    const run = await runUnitTests(await load(dir), {});
    const [broken, fine] = run.results;
    assert.equal(broken?.passed, false);
    assert.match(broken?.error ?? '', /no_such_setting_here/);
    assert.equal(fine?.passed, true, fine?.error);
  });
});

describe('schemas', () => {
  test('a schema named by the test keeps its other tables; a new one is dropped', async () => {
    const dir = shopCopy(
      {
        'config.yaml': `
gateways:
  local:
    connection:
      type: duckdb
    test_connection:
      type: duckdb
      database: testing.db
default_gateway: local
model_defaults:
  dialect: duckdb
variables:
  min_amount: 0
`,
        'tests/test_case.yaml': `
test_in_kept_schema:
  schema: kept
  model: shop.ranked
  inputs:
    shop.orders_enriched: [{name: Ada, amount: 1}]
  outputs:
    query: [{name: Ada, spent: 1}]
test_in_new_schema:
  schema: fresh
  model: shop.ranked
  inputs:
    shop.orders_enriched: [{name: Ada, amount: 1}]
  outputs:
    query: [{name: Ada, spent: 1}]
`,
      },
      false,
    );
    const connection = {
      type: 'duckdb' as const,
      database: 'testing.db',
      catalogs: {},
      extensions: [],
      connectorConfig: {},
      concurrentTasks: 1,
    };
    const before = createAdapter(connection, { projectRoot: dir });
    await before.execute('CREATE SCHEMA kept; CREATE TABLE kept.precious AS SELECT 42 AS answer');
    await before.close();

    const run = await runUnitTests(await load(dir), {});
    assert.equal(run.failed, 0, failures(run));

    const after = createAdapter(connection, { projectRoot: dir });
    try {
      assert.deepEqual(await after.listObjects('kept'), [{ name: 'precious', kind: 'table' }]);
      assert.equal(await after.schemaExists('fresh'), false);
    } finally {
      await after.close();
    }
  });
});
