/**
 * Unit tests on a gateway whose test_connection is PostgreSQL: the shop
 * models (written for DuckDB) are rendered in PostgreSQL's dialect and run
 * there, each test in a schema of its own that is dropped afterwards.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import pg from 'pg';
import { runUnitTests } from '../../../src/engine/unittest/test-runner.js';
import { withTestDatabase } from '../../helpers/postgres.js';
import { load, shopCopy } from './helpers.js';

// Awaited at the top level: a server this file starts for itself must outlive every test.
const db = await withTestDatabase();

describe('unit tests on a PostgreSQL test connection', () => {
  let dir = '';
  before(() => {
    const c = db.config;
    dir = shopCopy({
      'config.yaml': `
gateways:
  local:
    connection:
      type: duckdb
    test_connection:
      type: postgres
      host: ${c.host}
      port: ${c.port}
      user: ${c.user}
      password: "${c.password ?? ''}"
      database: ${c.database}
default_gateway: local
model_defaults:
  dialect: duckdb
variables:
  min_amount: 0
`,
    });
  });

  test('the shop tests pass there and leave no schema behind', async () => {
    const project = await load(dir);
    const run = await runUnitTests(project, {
      names: [
        'test_enriched_rows',
        'test_enriched_ctes',
        'test_daily_revenue_interval',
        'test_ranked_in_order',
        'test_stamped_frozen_time',
        'test_lookup_non_model_table',
        'test_first_orders_upstream_types',
        'test_signup_years_columns',
        'test_ranked_csv',
        'test_ranked_queries',
      ],
    });
    const problems = run.results
      .filter((r) => !r.passed)
      .map((r) => `${r.name}: ${r.error ?? ''}\n${r.diff ?? ''}`);
    assert.deepEqual(problems, []);
    assert.equal(run.passed, 10);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const left = await client.query(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tideline_%'",
      );
      assert.deepEqual(left.rows, []);
    } finally {
      await client.end();
    }
  });
});
