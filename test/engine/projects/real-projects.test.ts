/**
 * Projects written the way SQLMesh users write them run unchanged in local
 * mode: the jaffle-shop and sushi fixtures and the starter project. For each:
 * the unit tests pass, a plan to prod applies, the tables hold what the seeds
 * and raw data say, a run a day later evaluates only the new intervals,
 * `tideline audit` passes, and a change planned in dev leaves prod alone.
 * The starter and jaffle-shop also run on PostgreSQL (models transpiled).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LocalContext } from '../../../src/engine/local-context.js';
import type { Plan } from '../../../src/engine/plan/plan-types.js';
import {
  starterProjectFiles,
  writeStarterProject,
} from '../../../src/engine/starter/starter-project.js';
import { testClock } from '../../../src/engine/time/index.js';
import { runUnitTests } from '../../../src/engine/unittest/test-runner.js';
import { runCli } from '../../cli/run-cli.js';
import { createTestDatabase } from '../../helpers/postgres.js';
import {
  SEED_COUNTS,
  expectedCustomers,
  expectedOrders,
  expectedRevenueByDay as jaffleRevenueByDay,
  statusSummary,
} from './jaffle-shop-helpers.js';
import {
  DAY,
  cents,
  copyProject,
  edit,
  isoDay,
  pgEnv,
  rows,
  scratchDir,
  type Row,
} from './project-helpers.js';
import {
  RAW_DAYS,
  createRawTables,
  day,
  expectedLifetime,
  expectedRevenueByDay as sushiRevenueByDay,
  waiterDays,
} from './sushi-helpers.js';

const pgJaffle = await createTestDatabase();
const pgStarter = await createTestDatabase();
after(async () => {
  await pgJaffle.drop();
  await pgStarter.drop();
});

type Engine = 'duckdb' | 'postgres';

/** Short names of what a plan or run evaluates, with the batches as [first day, last day]. */
function evaluated(
  items: Array<{ name: string; batches: Array<[number, number]> }>,
): Map<string, string[]> {
  return new Map(
    items
      .filter((i) => i.batches.length > 0)
      .map((i) => [
        i.name.replace(/"/g, '').split('.').slice(-2).join('.'),
        i.batches.map(([a, b]) => `${isoDay(a)}..${isoDay(b - DAY)}`),
      ]),
  );
}

const round = (r: Row, ...keys: string[]): Row => {
  const out = { ...r };
  for (const k of keys) out[k] = cents(Number(out[k]));
  return out;
};

for (const engine of ['duckdb', 'postgres'] as const) {
  describe(`jaffle-shop on ${engine}`, () => {
    const FEB1 = Date.UTC(2018, 1, 1);
    const clock = testClock(FEB1);
    const env = engine === 'postgres' ? pgEnv(pgJaffle) : {};
    let dir = '';
    let ctx: LocalContext;
    const open = () => LocalContext.open(dir, { env, clock, gateway: engine });

    before(async () => {
      dir = copyProject('jaffle-shop');
      ctx = await open();
    });
    after(() => ctx.close());

    if (engine === 'duckdb') {
      it('passes its unit tests, including CTE outputs and the PostgreSQL-dialect model', async () => {
        const run = await runUnitTests(ctx.project, {});
        const failures = run.results
          .filter((r) => !r.passed)
          .map((r) => `${r.name}: ${r.error ?? r.diff}`);
        assert.deepEqual(failures, []);
        assert.equal(run.passed, 5);
        assert.equal(run.failed, 0);
      });
    }

    it('plans prod and applies it: every model built, every day since the start filled', async () => {
      const plan = await ctx.plan({ environment: 'prod' });
      const todo = evaluated(plan.backfill);
      assert.deepEqual([...todo.keys()].sort(), [
        'jaffle_raw.customers',
        'jaffle_raw.orders',
        'jaffle_raw.payments',
        'jaffle_shop.customers',
        'jaffle_shop.order_status_by_month',
        'jaffle_shop.orders',
        'jaffle_shop.revenue_by_day',
        'jaffle_staging.stg_customers',
        'jaffle_staging.stg_orders',
        'jaffle_staging.stg_payments',
      ]);
      assert.deepEqual(todo.get('jaffle_shop.revenue_by_day'), ['2018-01-01..2018-01-31']);
      const result = await ctx.apply(plan);
      assert.equal(result.status, 'succeeded', result.error);
    });

    it('holds the seeds and the marts computed from them', async () => {
      for (const [table, n] of [
        ['jaffle_raw.customers', SEED_COUNTS.customers],
        ['jaffle_raw.orders', SEED_COUNTS.orders],
        ['jaffle_staging.stg_payments', SEED_COUNTS.payments],
      ] as const) {
        assert.deepEqual(
          await rows(ctx.adapter, `SELECT COUNT(*) AS n FROM ${table}`),
          [{ n }],
          table,
        );
      }
      const customers = await rows(
        ctx.adapter,
        `SELECT customer_id, first_name, number_of_orders, first_order, most_recent_order,
                customer_lifetime_value
         FROM jaffle_shop.customers ORDER BY customer_id`,
      );
      assert.deepEqual(
        customers.map((r) => round(r, 'customer_lifetime_value')),
        expectedCustomers(),
      );
      const orders = await rows(ctx.adapter, 'SELECT * FROM jaffle_shop.orders ORDER BY order_id');
      assert.deepEqual(
        orders.map((r) =>
          round(
            r,
            'credit_card_amount',
            'coupon_amount',
            'bank_transfer_amount',
            'gift_card_amount',
            'amount',
          ),
        ),
        expectedOrders(),
      );
      const revenue = await rows(
        ctx.adapter,
        'SELECT order_date, orders, revenue FROM jaffle_shop.revenue_by_day ORDER BY order_date',
      );
      assert.deepEqual(
        revenue.map((r) => round(r, 'revenue')),
        jaffleRevenueByDay(),
      );
      // The model written in PostgreSQL's dialect, transpiled for this engine.
      const months = await rows(
        ctx.adapter,
        'SELECT order_month, orders, returns, statuses FROM jaffle_shop.order_status_by_month',
      );
      assert.deepEqual(months, [{ order_month: '2018-01-01', ...statusSummary() }]);
    });

    if (engine === 'postgres') {
      it('keeps its state in the gateway state_schema', async () => {
        const tables = await rows(
          ctx.adapter,
          "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'jaffle_state'",
        );
        assert.ok(Number(tables[0]?.['n']) > 0, 'state tables in jaffle_state');
        const sqlmesh = await rows(
          ctx.adapter,
          "SELECT COUNT(*) AS n FROM information_schema.schemata WHERE schema_name = 'sqlmesh'",
        );
        assert.deepEqual(sqlmesh, [{ n: 0 }]);
      });
    }

    it('runs a day later: only the new day of each due model; seeds are not reloaded', async () => {
      clock.set(FEB1 + DAY);
      const run = await ctx.run('prod');
      assert.deepEqual(run.backfill.failed, []);
      assert.deepEqual([...evaluated(run.items)].sort(), [
        ['jaffle_shop.customers', ['2018-02-01..2018-02-01']],
        ['jaffle_shop.order_status_by_month', ['2018-02-01..2018-02-01']],
        ['jaffle_shop.orders', ['2018-02-01..2018-02-01']],
        ['jaffle_shop.revenue_by_day', ['2018-02-01..2018-02-01']],
        // Views are due too, as in SQLMesh; replacing one that exists is a no-op.
        ['jaffle_staging.stg_customers', ['2018-02-01..2018-02-01']],
        ['jaffle_staging.stg_orders', ['2018-02-01..2018-02-01']],
        ['jaffle_staging.stg_payments', ['2018-02-01..2018-02-01']],
      ]);
      const again = await ctx.run('prod');
      assert.equal(evaluated(again.items).size, 0, 'nothing left to do the same day');
      assert.equal(
        (await rows(ctx.adapter, 'SELECT * FROM jaffle_shop.revenue_by_day')).length,
        jaffleRevenueByDay().length,
      );
    });

    it('passes `tideline audit`', async () => {
      const audit = await runCli(
        ['-p', dir, '--gateway', engine, 'audit', '--execution-time', '2018-02-02'],
        env,
      );
      assert.equal(audit.code, 0, audit.out + audit.err);
      assert.match(audit.out, /^PASS {2}jaffle_shop\.orders: paid_in_full$/m);
      assert.match(audit.out, /^PASS {2}jaffle_staging\.stg_orders: accepted_values$/m);
      assert.match(audit.out, /^PASS {2}jaffle_shop\.customers: lifetime_value_at_least$/m);
      assert.match(audit.out, /^\d+ audit\(s\): \d+ passed, 0 failed, 0 warned, 0 skipped\.$/m);
    });

    it('plans a change in dev: only the changed model is rebuilt, prod is untouched', async () => {
      edit(
        dir,
        'models/marts/customers.sql',
        '  COALESCE(cp.total_amount, 0) AS customer_lifetime_value\n',
        '  COALESCE(cp.total_amount, 0) AS customer_lifetime_value,\n  COALESCE(co.number_of_orders, 0) > 1 AS is_returning\n',
      );
      await ctx.close();
      ctx = await open();
      const plan: Plan = await ctx.plan({ environment: 'dev' });
      assert.deepEqual(
        plan.changes.map((c) => [c.displayName, c.type]),
        [['jaffle_shop.customers', 'directly_modified']],
      );
      assert.deepEqual([...evaluated(plan.backfill).keys()], ['jaffle_shop.customers']);
      const result = await ctx.apply(plan);
      assert.equal(result.status, 'succeeded', result.error);
      const dev = await rows(
        ctx.adapter,
        'SELECT customer_id, is_returning FROM jaffle_shop__dev.customers ORDER BY customer_id',
      );
      assert.deepEqual(
        dev,
        expectedCustomers().map((c) => ({
          customer_id: c.customer_id,
          is_returning: c.number_of_orders > 1,
        })),
      );
      const prodColumns = (await ctx.adapter.query('SELECT * FROM jaffle_shop.customers LIMIT 1'))
        .columns;
      assert.ok(!prodColumns.map((c) => c.name).includes('is_returning'));
    });
  });
}

describe('sushi on duckdb', () => {
  const MAR6 = Date.UTC(2024, 2, 6);
  const clock = testClock(MAR6);
  let dir = '';
  let ctx: LocalContext;
  const open = () => LocalContext.open(dir, { env: {}, clock });

  before(async () => {
    dir = copyProject('sushi');
    ctx = await open();
    // The raw tables exist in the warehouse file before anything is planned.
    await createRawTables(ctx.adapter);
  });
  after(() => ctx.close());

  it('uses the database file name, with its hyphen, as the default catalog', () => {
    assert.equal(ctx.project.defaultCatalog, 'sushi-db');
    assert.equal(ctx.resolveModel('sushi.order_items'), '"sushi-db"."sushi"."order_items"');
    assert.equal(ctx.resolveModel('sushi.customers'), '"sushi-db"."sushi"."customers"');
  });

  it('passes its unit tests: vars, partial outputs, CTEs and a model reading itself', async () => {
    const run = await runUnitTests(ctx.project, {});
    const failures = run.results
      .filter((r) => !r.passed)
      .map((r) => `${r.name}: ${r.error ?? r.diff}`);
    assert.deepEqual(failures, []);
    assert.equal(run.passed, 6);
    assert.equal(run.failed, 0);
  });

  it('plans prod: incremental models in their batch sizes, the self-reading one a day at a time', async () => {
    const plan = await ctx.plan({ environment: 'prod' });
    const todo = evaluated(plan.backfill);
    const days = (a: number, b: number) => `${day(a)}..${day(b)}`;
    assert.deepEqual(todo.get('sushi.orders'), [days(1, 5)]);
    assert.deepEqual(todo.get('sushi.order_items'), [days(1, 2), days(3, 4), days(5, 5)]);
    assert.deepEqual(todo.get('sushi.waiter_revenue_by_day'), [days(1, 3), days(4, 5)]);
    assert.deepEqual(
      todo.get('sushi.customer_revenue_lifetime'),
      [1, 2, 3, 4, 5].map((d) => days(d, d)),
    );
    // `start '2024-03-02'` on customers: its single FULL interval begins there.
    assert.deepEqual(todo.get('sushi.customers'), [days(2, 5)]);
    const result = await ctx.apply(plan);
    assert.equal(result.status, 'succeeded', result.error);
  });

  it('holds the revenue computed from the raw data, lifetime totals carried day to day', async () => {
    const byDay = await rows(
      ctx.adapter,
      'SELECT customer_id, revenue, event_date FROM sushi.customer_revenue_by_day ORDER BY event_date, customer_id',
    );
    assert.deepEqual(
      byDay.map((r) => round(r, 'revenue')),
      sushiRevenueByDay(5),
    );
    const lifetime = await rows(
      ctx.adapter,
      'SELECT customer_id, revenue, event_date FROM "sushi-db".sushi.customer_revenue_lifetime ORDER BY event_date, customer_id',
    );
    assert.deepEqual(
      lifetime.map((r) => round(r, 'revenue')),
      expectedLifetime(5),
    );
    const waiters = await rows(
      ctx.adapter,
      'SELECT COUNT(*) AS n FROM sushi.waiter_revenue_by_day',
    );
    assert.deepEqual(waiters, [{ n: waiterDays(5) }]);
    const customers = await rows(
      ctx.adapter,
      'SELECT customer_id, status, lifetime_revenue, big_spender FROM sushi.customers ORDER BY customer_id',
    );
    const latest = expectedLifetime(5).filter((r) => r.event_date === day(5));
    assert.deepEqual(
      customers.map((r) => round(r, 'lifetime_revenue')),
      latest.map((r) => ({
        customer_id: r.customer_id,
        status: r.customer_id === 1 ? 'active' : r.customer_id === 2 ? 'inactive' : null,
        lifetime_revenue: r.revenue,
        big_spender: r.revenue >= 40,
      })),
    );
  });

  it('runs a day later: one new day everywhere; the SCD type 2 model records a status change', async () => {
    await ctx.adapter.execute(
      "UPDATE raw.marketing SET status = 'active', updated_at = '2024-03-06 10:00:00' WHERE customer_id = 2",
    );
    clock.set(MAR6 + DAY);
    const run = await ctx.run('prod');
    assert.deepEqual(run.backfill.failed, []);
    const done = evaluated(run.items);
    for (const model of [
      'sushi.orders',
      'sushi.order_items',
      'sushi.customer_revenue_by_day',
      'sushi.customer_revenue_lifetime',
      'sushi.waiter_revenue_by_day',
      'sushi.marketing',
      'sushi.customers',
    ]) {
      assert.deepEqual(done.get(model), [`${day(6)}..${day(6)}`], model);
    }
    assert.equal(done.has('sushi.items'), false);
    const lifetime = await rows(
      ctx.adapter,
      'SELECT customer_id, revenue, event_date FROM sushi.customer_revenue_lifetime ORDER BY event_date, customer_id',
    );
    assert.deepEqual(
      lifetime.map((r) => round(r, 'revenue')),
      expectedLifetime(6),
    );
    const history = await rows(
      ctx.adapter,
      'SELECT customer_id, status, valid_to IS NULL AS current FROM sushi.marketing ORDER BY customer_id, valid_from',
    );
    assert.deepEqual(history, [
      { customer_id: 1, status: 'active', current: true },
      { customer_id: 2, status: 'inactive', current: false },
      { customer_id: 2, status: 'active', current: true },
    ]);
    assert.ok(RAW_DAYS > 6, 'the raw data has days the run must not read yet');
    assert.deepEqual(
      await rows(
        ctx.adapter,
        `SELECT COUNT(*) AS n FROM sushi.orders WHERE event_date > '${day(6)}'`,
      ),
      [{ n: 0 }],
    );
  });

  it('passes `tideline audit`, custom audits with parameters and defaults included', async () => {
    const audit = await runCli(['-p', dir, 'audit', '--execution-time', day(7)]);
    assert.equal(audit.code, 0, audit.out + audit.err);
    assert.match(audit.out, /^PASS {2}sushi\.items: value_at_most$/m);
    assert.match(audit.out, /^PASS {2}sushi\.orders: ds_is_iso_date$/m);
    assert.match(audit.out, /^PASS {2}sushi\.order_items: unique_combination_of_columns$/m);
    assert.match(audit.out, /^\d+ audit\(s\): \d+ passed, 0 failed, 0 warned, 0 skipped\.$/m);
  });

  it('plans a change of a variable-driven model in dev; prod keeps its rows', async () => {
    edit(dir, 'config.yaml', 'big_spender: 40', 'big_spender: 30');
    await ctx.close();
    ctx = await open();
    const plan = await ctx.plan({ environment: 'dev' });
    assert.deepEqual(
      plan.changes.map((c) => [c.displayName, c.type]),
      [['sushi.customers', 'directly_modified']],
    );
    const result = await ctx.apply(plan);
    assert.equal(result.status, 'succeeded', result.error);
    const count = async (schema: string) =>
      rows(ctx.adapter, `SELECT COUNT(*) AS n FROM ${schema}.customers WHERE big_spender`);
    const latest = expectedLifetime(6).filter((r) => r.event_date === day(6));
    assert.deepEqual(await count('sushi__dev'), [
      { n: latest.filter((r) => r.revenue >= 30).length },
    ]);
    assert.deepEqual(await count('sushi'), [{ n: latest.filter((r) => r.revenue >= 40).length }]);
  });
});

/** The starter seed's rows, read from the file the starter project writes. */
function starterSeed(): Array<{ id: number; item_id: number; event_date: string }> {
  const csv = starterProjectFiles('duckdb').find((f) => f.path === 'seeds/seed_data.csv')!.content;
  return csv
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => {
      const [id, item, date] = line.split(',');
      return { id: Number(id), item_id: Number(item), event_date: date! };
    });
}

function ordersPerItem(upTo: string): Row[] {
  const counts = new Map<number, number>();
  for (const r of starterSeed().filter((r) => r.event_date <= upTo)) {
    counts.set(r.item_id, (counts.get(r.item_id) ?? 0) + 1);
  }
  return [...counts]
    .sort((a, b) => a[0] - b[0])
    .map(([item_id, num_orders]) => ({ item_id, num_orders }));
}

for (const engine of ['duckdb', 'postgres'] as const satisfies readonly Engine[]) {
  describe(`starter project on ${engine}`, () => {
    const JAN6 = Date.UTC(2020, 0, 6);
    const clock = testClock(JAN6);
    const env = engine === 'postgres' ? pgEnv(pgStarter) : {};
    let dir = '';
    let ctx: LocalContext;
    const open = () => LocalContext.open(dir, { env, clock });

    before(async () => {
      dir = scratchDir();
      writeStarterProject(dir, engine);
      ctx = await open();
    });
    after(() => ctx.close());

    if (engine === 'duckdb') {
      it('passes its unit test', async () => {
        const run = await runUnitTests(ctx.project, {});
        assert.deepEqual([run.passed, run.failed], [1, 0]);
      });
    }

    it('plans and applies prod, then runs two days later for the two new days', async () => {
      const plan = await ctx.plan({ environment: 'prod' });
      assert.deepEqual(evaluated(plan.backfill).get('sqlmesh_example.incremental_model'), [
        '2020-01-01..2020-01-05',
      ]);
      const applied = await ctx.apply(plan);
      assert.equal(applied.status, 'succeeded', applied.error);
      assert.deepEqual(
        await rows(
          ctx.adapter,
          'SELECT item_id, num_orders FROM sqlmesh_example.full_model ORDER BY item_id',
        ),
        ordersPerItem('2020-01-05'),
      );

      clock.set(JAN6 + 2 * DAY);
      const run = await ctx.run('prod');
      assert.deepEqual(run.backfill.failed, []);
      const done = evaluated(run.items);
      assert.deepEqual(done.get('sqlmesh_example.incremental_model'), ['2020-01-06..2020-01-07']);
      assert.equal(done.has('sqlmesh_example.seed_model'), false);
      assert.deepEqual(
        await rows(ctx.adapter, 'SELECT COUNT(*) AS n FROM sqlmesh_example.incremental_model'),
        [{ n: starterSeed().length }],
      );
      assert.deepEqual(
        await rows(
          ctx.adapter,
          'SELECT item_id, num_orders FROM sqlmesh_example.full_model ORDER BY item_id',
        ),
        ordersPerItem('2020-01-07'),
      );
    });

    it('passes `tideline audit`', async () => {
      const audit = await runCli(['-p', dir, 'audit', '--execution-time', '2020-01-08'], env);
      assert.equal(audit.code, 0, audit.out + audit.err);
      assert.match(audit.out, /^PASS {2}sqlmesh_example\.full_model: assert_positive_order_ids$/m);
    });

    it('plans a change in dev', async () => {
      edit(
        dir,
        'models/full_model.sql',
        'COUNT(DISTINCT id) AS num_orders',
        'COUNT(DISTINCT id) AS num_orders,\n  MAX(id) AS last_id',
      );
      await ctx.close();
      ctx = await open();
      const plan = await ctx.plan({ environment: 'dev' });
      assert.deepEqual(
        plan.changes.map((c) => [c.displayName, c.type]),
        [['sqlmesh_example.full_model', 'directly_modified']],
      );
      const applied = await ctx.apply(plan);
      assert.equal(applied.status, 'succeeded', applied.error);
      const last = new Map<number, number>();
      for (const r of starterSeed()) last.set(r.item_id, Math.max(last.get(r.item_id) ?? 0, r.id));
      assert.deepEqual(
        await rows(
          ctx.adapter,
          'SELECT item_id, last_id FROM sqlmesh_example__dev.full_model ORDER BY item_id',
        ),
        [...last].sort((a, b) => a[0] - b[0]).map(([item_id, last_id]) => ({ item_id, last_id })),
      );
    });
  });
}
