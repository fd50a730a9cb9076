/**
 * The jaffle-shop fixture through the `tideline` command on DuckDB, as a user
 * would drive it: test, plan --auto-apply, run the next day, audit, fetchdf.
 */
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { fixturesDir } from '../helpers/paths.js';
import { expectedCustomers, expectedRevenueByDay } from '../engine/projects/jaffle-shop-helpers.js';
import { runCli, tempDir } from './run-cli.js';

describe('jaffle-shop through the CLI on DuckDB', () => {
  let dir = '';
  const cli = (...args: string[]) => runCli(['-p', dir, ...args]);

  before(() => {
    dir = tempDir();
    cpSync(join(fixturesDir, 'projects', 'jaffle-shop'), dir, { recursive: true });
  });

  test('tideline test: every unit test passes', async () => {
    const run = await cli('test');
    assert.equal(run.code, 0, run.out + run.err);
    assert.equal(run.out.split('\n').at(-1), '5 passed, 0 failed');
  });

  test('tideline plan --auto-apply builds prod', async () => {
    const run = await cli('plan', '--auto-apply', '--execution-time', '2018-02-01');
    assert.equal(run.code, 0, run.out + run.err);
    assert.match(run.out, /jaffle_shop\.revenue_by_day/);
    const again = await cli('plan', '--auto-apply', '--execution-time', '2018-02-01');
    assert.equal(again.code, 0, again.out + again.err);
    assert.match(again.out, /No changes to plan/i);
  });

  test('tideline run the next day, then fetchdf shows the marts', async () => {
    const run = await cli('run', '--execution-time', '2018-02-02');
    assert.equal(run.code, 0, run.out + run.err);
    assert.match(run.out, /jaffle_shop\.revenue_by_day/);

    const customers = await cli(
      'fetchdf',
      'SELECT customer_id, number_of_orders, customer_lifetime_value FROM jaffle_shop.customers ORDER BY customer_id',
      '--json',
    );
    assert.equal(customers.code, 0, customers.err);
    assert.deepEqual(
      (JSON.parse(customers.out) as Array<Record<string, number>>).map((r) => ({
        ...r,
        customer_lifetime_value: Math.round(r['customer_lifetime_value']! * 100) / 100,
      })),
      expectedCustomers().map((c) => ({
        customer_id: c.customer_id,
        number_of_orders: c.number_of_orders,
        customer_lifetime_value: c.customer_lifetime_value,
      })),
    );
    const days = await cli(
      'fetchdf',
      'SELECT COUNT(*) AS n FROM jaffle_shop.revenue_by_day',
      '--json',
    );
    assert.deepEqual(JSON.parse(days.out), [{ n: expectedRevenueByDay().length }]);
  });

  test('tideline audit passes', async () => {
    const run = await cli('audit', '--execution-time', '2018-02-02');
    assert.equal(run.code, 0, run.out + run.err);
    assert.match(run.out, /^PASS {2}jaffle_shop\.orders: paid_in_full$/m);
    assert.match(run.out, /^\d+ audit\(s\): \d+ passed, 0 failed, 0 warned, 0 skipped\.$/m);
  });
});
