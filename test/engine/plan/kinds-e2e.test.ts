/**
 * Every model kind end to end, on DuckDB and on PostgreSQL: the kinds-zoo
 * fixture is planned and applied to prod, run on the two following days with
 * the test clock, then changed in dev. Each step checks the rows of every
 * model, which intervals were evaluated, and the views of the virtual layer.
 * Expected rows come from the seed CSVs (kinds-e2e-data.ts).
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalContext } from '../../../src/engine/local-context.js';
import type { ApplyEvent } from '../../../src/engine/plan/plan-applier.js';
import type { Plan } from '../../../src/engine/plan/plan-types.js';
import type { Snapshot } from '../../../src/engine/snapshot/snapshot-types.js';
import { testClock, type TestClock } from '../../../src/engine/time/index.js';
import { createTestDatabase } from '../../helpers/postgres.js';
import {
  KINDS_ZOO,
  customerLastOrder,
  customerTotals,
  customers,
  dailyOrders,
  dailyOrdersText,
  orders,
  ordersBatched,
  revenueByStatus,
  runningRevenue,
  staged,
  tiersAsOf,
  valueByTier,
} from './kinds-e2e-data.js';

const DAY = 86_400_000;
const JAN = (d: number): number => Date.UTC(2024, 0, d);
const LONG = 'customer_lifetime_value_by_acquisition_channel_and_tier';

/** Models with a table or view of their own: all but the EMBEDDED one (and the EXTERNAL table). */
const BUILT = [
  'current_tiers',
  'customer_last_order',
  LONG,
  'customer_totals',
  'customers',
  'daily_orders',
  'daily_orders_text',
  'daily_revenue',
  'jinja_revenue',
  'load_history',
  'orders',
  'orders_batched',
  'refunds_by_day',
  'running_revenue',
  'stg_orders',
  'tier_changes',
  'tier_history_by_column',
  'tier_history_by_time',
];
const SEEDS = ['customers', 'orders', 'tier_changes'];

/** Refunds the external system has recorded, inserted before the first plan. */
const REFUNDS = [
  { refund_id: 1, order_id: 5, refunded_on: '2024-01-04', amount: 12 },
  { refund_id: 2, order_id: 2, refunded_on: '2024-01-04', amount: 5.5 },
  { refund_id: 3, order_id: 8, refunded_on: '2024-01-06', amount: 4 },
];

const pg = await createTestDatabase();
after(() => pg.drop());

interface Engine {
  name: 'duckdb' | 'postgres';
  env: Record<string, string | undefined>;
}

const engines: Engine[] = [
  { name: 'duckdb', env: {} },
  {
    name: 'postgres',
    env: {
      PGHOST: pg.config.host,
      PGPORT: String(pg.config.port),
      PGUSER: pg.config.user,
      PGPASSWORD: pg.config.password ?? '',
      PGDATABASE: pg.config.database,
    },
  },
];

type Row = Record<string, unknown>;

const short = (name: string): string => name.split('.').pop()!.replace(/"/g, '');
const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
/** Batches as [first day, last day] (both inclusive), the way @start_ds / @end_ds show them. */
const ds = (batches: Array<[number, number]>): Array<[string, string]> =>
  batches.map(([a, b]) => [day(a), day(b - DAY)]);

function edit(dir: string, file: string, from: string, to: string): void {
  const path = join(dir, file);
  const text = readFileSync(path, 'utf8');
  assert.ok(text.includes(from), `${file} should contain ${from}`);
  writeFileSync(path, text.replace(from, to));
}

for (const engine of engines) {
  describe(`every model kind on ${engine.name}`, () => {
    const keptViews = BUILT;
    const clock: TestClock = testClock(JAN(6));
    let dir = '';
    let ctx: LocalContext;
    let plan: Plan;

    async function open(): Promise<LocalContext> {
      return LocalContext.open(dir, { env: engine.env, clock, gateway: engine.name });
    }

    async function rows(sql: string): Promise<Row[]> {
      return (await ctx.adapter.query(sql)).rows.map((r) =>
        Object.fromEntries(
          Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v]),
        ),
      );
    }

    const model = (name: string): Promise<Row[]> => rows(`SELECT * FROM kz.${name} ORDER BY 1, 2`);

    function snapshotOf(name: string): Snapshot {
      const s = plan.snapshots.find((x) => short(x.name) === name);
      assert.ok(s, `the plan has a snapshot of ${name}`);
      return s;
    }

    function physical(name: string): string {
      return ctx.adapter.tableName(ctx.evaluator.physicalTable(snapshotOf(name)));
    }

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tideline-kinds-'));
      cpSync(KINDS_ZOO, dir, { recursive: true });
      ctx = await open();
      // The EXTERNAL model's table: made by "another system" before the project runs.
      await ctx.adapter.execute('CREATE SCHEMA IF NOT EXISTS ext');
      await ctx.adapter.execute(
        'CREATE TABLE ext.refunds (refund_id INTEGER, order_id INTEGER, refunded_on DATE, amount DECIMAL(10, 2))',
      );
      for (const r of REFUNDS) {
        await ctx.adapter.execute(
          `INSERT INTO ext.refunds VALUES (${r.refund_id}, ${r.order_id}, DATE '${r.refunded_on}', ${r.amount})`,
        );
      }
    });

    after(async () => {
      await ctx?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('plans every evaluated kind with the right batches and applies it to prod', async () => {
      plan = await ctx.plan({ environment: 'prod' });
      assert.equal(plan.isNewEnvironment, true);
      assert.equal(plan.changes.length, BUILT.length + 2, 'every model is added');
      assert.ok(plan.changes.every((c) => c.type === 'added'));
      const batches = new Map(plan.backfill.map((b) => [short(b.name), b.batches]));
      assert.deepEqual([...batches.keys()].sort(), BUILT, 'neither EMBEDDED nor EXTERNAL is built');
      // Whole-history kinds take one batch; batch_size 2 takes two days at a time.
      assert.deepEqual(batches.get('daily_orders'), [[JAN(1), JAN(6)]]);
      assert.deepEqual(batches.get('customer_last_order'), [[JAN(1), JAN(6)]]);
      assert.deepEqual(batches.get('orders_batched'), [
        [JAN(1), JAN(3)],
        [JAN(3), JAN(5)],
        [JAN(5), JAN(6)],
      ]);
      assert.deepEqual(
        batches.get('running_revenue'),
        [1, 2, 3, 4, 5].map((d) => [JAN(d), JAN(d + 1)]),
      );

      const events: ApplyEvent[] = [];
      const result = await ctx.apply(plan, (e) => events.push(e));
      assert.equal(result.status, 'succeeded', result.error);
      assert.equal(result.backfill?.failed.length ?? 0, 0);
      const done = events.filter((e) => e.type === 'batch_done') as Array<{
        name: string;
        interval: [number, number];
      }>;
      assert.deepEqual([...new Set(done.map((e) => short(e.name)))].sort(), BUILT);
      assert.deepEqual(
        done.filter((e) => short(e.name) === 'running_revenue').map((e) => e.interval[0]),
        [1, 2, 3, 4, 5].map(JAN),
        'the self-referencing model evaluates its days in order',
      );

      const again = await ctx.plan({ environment: 'prod' });
      assert.equal(again.changes.length, 0);
      assert.equal(again.backfill.length, 0);
    });

    it('loads seeds with declared and inferred types and NA strings as NULL', async () => {
      assert.deepEqual(
        await rows(
          'SELECT order_id, customer_id, order_date, amount, status FROM kz.orders ORDER BY 1',
        ),
        orders.map(({ cents, ...o }) => ({ ...o, amount: cents === null ? null : cents / 100 })),
      );
      const types = await ctx.adapter.columns({ schema: 'kz', name: 'orders' });
      assert.match(types.find((c) => c.name === 'order_date')?.type ?? '', /^date$/i);
      assert.deepEqual(await model('customers'), customers);
      const inferred = await ctx.adapter.columns({ schema: 'kz', name: 'customers' });
      // As SQLMesh's pandas reader: whole numbers are BIGINT, dates left as text.
      assert.match(inferred.find((c) => c.name === 'signup_date')?.type ?? '', /^(varchar|text)$/i);
      assert.match(inferred.find((c) => c.name === 'customer_id')?.type ?? '', /^bigint$/i);
      assert.equal((await model('tier_changes')).length, 6);
    });

    it('fills the table, view and incremental kinds up to the plan time', async () => {
      assert.deepEqual(
        await rows('SELECT order_id, status, amount FROM kz.stg_orders ORDER BY 1'),
        staged.map((o) => ({ order_id: o.order_id, status: o.status, amount: o.cents / 100 })),
      );
      assert.deepEqual(await model('daily_revenue'), dailyOrders('9999'));
      assert.deepEqual(await model('daily_orders'), dailyOrders('2024-01-06'));
      assert.deepEqual(await model('daily_orders_text'), dailyOrdersText('2024-01-06'));
      assert.deepEqual(
        await model('orders_batched'),
        ordersBatched(ds(plan.backfill.find((b) => short(b.name) === 'orders_batched')!.batches)),
      );
      assert.deepEqual(
        await model('customer_last_order'),
        customerLastOrder([['2024-01-01', '2024-01-05']]),
      );
      assert.deepEqual(await model('load_history'), [{ loaded_on: '2024-01-06', order_rows: 11 }]);
      assert.deepEqual(await model('running_revenue'), runningRevenue('2024-01-06'));
      assert.deepEqual(await model('jinja_revenue'), revenueByStatus());
      assert.deepEqual(
        await model('refunds_by_day'),
        ['2024-01-04', '2024-01-06'].map((d) => {
          const mine = REFUNDS.filter((r) => r.refunded_on === d);
          return {
            refunded_on: d,
            refund_count: mine.length,
            refunded: mine.reduce((a, r) => a + r.amount * 100, 0) / 100,
          };
        }),
      );
      assert.deepEqual(await model('current_tiers'), tiersAsOf('2024-01-06 00:00:00'));
    });

    it('reads the EMBEDDED model inline, runs pre- and post-statements, and shortens long names', async () => {
      const totals = customerTotals();
      assert.deepEqual(await model('customer_totals'), totals);
      assert.deepEqual(await model(LONG), valueByTier(totals));
      assert.deepEqual(await rows('SELECT * FROM kz_ops.load_log ORDER BY loaded_on'), [
        { model_name: 'customer_totals', row_count: customers.length, loaded_on: '2024-01-06' },
      ]);
      const physicalNames = (await ctx.adapter.listObjects('sqlmesh__kz')).map((o) => o.name);
      assert.equal(physicalNames.length, BUILT.length);
      assert.ok(!physicalNames.some((n) => n.includes('order_amounts')), 'no table for EMBEDDED');
      assert.deepEqual(await ctx.adapter.listObjects('sqlmesh__ext'), [], 'nothing for EXTERNAL');
      assert.deepEqual(await ctx.adapter.listObjects('ext'), [{ name: 'refunds', kind: 'table' }]);
      const long = physicalNames.find((n) => n.startsWith('kz__customer_lifetime'));
      assert.ok(long);
      const full = `kz__${LONG}__${snapshotOf(LONG).version}`;
      assert.ok(full.length > 63, 'the unshortened name would pass the limit');
      if (engine.name === 'postgres') {
        assert.ok(physicalNames.every((n) => Buffer.byteLength(n) <= 63));
        assert.notEqual(long, full);
        assert.ok(long.endsWith(`__${snapshotOf(LONG).version}`), 'the version is kept whole');
      } else {
        assert.equal(long, full, 'DuckDB has no limit, so nothing is shortened');
      }
    });

    it('shows each built model through a prod view that reads its physical table', async () => {
      const views = (await ctx.adapter.listObjects('kz')).filter((o) => o.kind === 'view');
      assert.deepEqual(views.map((v) => v.name).sort(), BUILT);
      assert.equal((await ctx.adapter.listObjects('kz')).length, BUILT.length);
      for (const name of BUILT) {
        const table = physical(name);
        const diff = await rows(
          `SELECT COUNT(*) AS n FROM ((SELECT * FROM kz.${name} EXCEPT SELECT * FROM ${table}) ` +
            `UNION ALL (SELECT * FROM ${table} EXCEPT SELECT * FROM kz.${name})) AS d`,
        );
        assert.equal(diff[0]!['n'], 0, `kz.${name} shows ${table}`);
        const count = await rows(`SELECT COUNT(*) AS n FROM ${table}`);
        assert.ok(Number(count[0]!['n']) > 0, `${name} has rows`);
      }
    });

    it('runs one day later: only the new intervals, with lookback, upserts and SCD versions', async () => {
      assert.equal((await ctx.run('prod')).items.length, 0, 'nothing is due at the plan time');
      clock.advance(DAY);
      const run = await ctx.run('prod');
      assert.equal(run.backfill.failed.length, 0, run.backfill.failed[0]?.error.message);
      const due = new Map(run.items.map((i) => [short(i.name), i.batches]));
      assert.deepEqual(
        [...due.keys()].sort(),
        BUILT.filter((n) => !SEEDS.includes(n)),
        'seeds are loaded once; everything else is due daily',
      );
      for (const [name, batches] of due) {
        const expected = name === 'orders_batched' ? [[JAN(5), JAN(7)]] : [[JAN(6), JAN(7)]];
        assert.deepEqual(batches, expected, name);
      }
      assert.equal(run.backfill.evaluations, due.size);
      assert.deepEqual(
        (await ctx.adapter.listObjects('kz')).map((o) => o.name).sort(),
        keptViews,
        'a run leaves every prod view in place',
      );

      assert.deepEqual(await model('daily_orders'), dailyOrders('2024-01-07'));
      assert.deepEqual(await model('daily_orders_text'), dailyOrdersText('2024-01-07'));
      assert.deepEqual(await model('running_revenue'), runningRevenue('2024-01-07'));
      // Lookback 1: the fifth is written again, by the run's batch.
      assert.deepEqual(
        await model('orders_batched'),
        ordersBatched([
          ['2024-01-01', '2024-01-02'],
          ['2024-01-03', '2024-01-04'],
          ['2024-01-05', '2024-01-06'],
        ]),
      );
      // Customers 1 and 3 ordered on the sixth: their rows are replaced; 2's is kept.
      assert.deepEqual(
        await model('customer_last_order'),
        customerLastOrder([
          ['2024-01-01', '2024-01-05'],
          ['2024-01-06', '2024-01-06'],
        ]),
      );
      assert.deepEqual(await rows('SELECT loaded_on FROM kz.load_history ORDER BY 1'), [
        { loaded_on: '2024-01-06' },
        { loaded_on: '2024-01-07' },
      ]);
      assert.deepEqual(
        (await rows('SELECT loaded_on FROM kz_ops.load_log ORDER BY 1')).map((r) => r['loaded_on']),
        ['2024-01-06', '2024-01-07'],
      );
      assert.deepEqual(await model('current_tiers'), tiersAsOf('2024-01-07 00:00:00'));
      // Customer 1 became silver at 12:00 on the sixth.
      const T0 = '1970-01-01 00:00:00';
      assert.deepEqual(
        await rows(
          'SELECT customer_id, tier, valid_from, valid_to FROM kz.tier_history_by_time ORDER BY 1, 3',
        ),
        [
          { customer_id: 1, tier: 'bronze', valid_from: T0, valid_to: '2024-01-06 12:00:00' },
          { customer_id: 1, tier: 'silver', valid_from: '2024-01-06 12:00:00', valid_to: null },
          { customer_id: 2, tier: 'silver', valid_from: T0, valid_to: null },
          { customer_id: 3, tier: 'bronze', valid_from: T0, valid_to: null },
        ],
      );
      // By column, the change is dated by the run that saw it.
      assert.deepEqual(await rows('SELECT * FROM kz.tier_history_by_column ORDER BY 1, 3'), [
        { customer_id: 1, tier: 'bronze', valid_from: T0, valid_to: '2024-01-07 00:00:00' },
        { customer_id: 1, tier: 'silver', valid_from: '2024-01-07 00:00:00', valid_to: null },
        { customer_id: 2, tier: 'silver', valid_from: T0, valid_to: null },
        { customer_id: 3, tier: 'bronze', valid_from: T0, valid_to: null },
      ]);
    });

    it('runs a second day: versions close again and only the due interval is evaluated', async () => {
      clock.advance(DAY);
      const run = await ctx.run('prod');
      assert.equal(run.backfill.failed.length, 0, run.backfill.failed[0]?.error.message);
      const batches = new Map(run.items.map((i) => [short(i.name), i.batches]));
      assert.deepEqual(batches.get('daily_orders'), [[JAN(7), JAN(8)]]);
      assert.deepEqual(batches.get('orders_batched'), [[JAN(6), JAN(8)]]);
      assert.deepEqual(await model('daily_orders'), dailyOrders('2024-01-08'));
      assert.deepEqual(await model('running_revenue'), runningRevenue('2024-01-08'));
      assert.deepEqual(
        await model('customer_last_order'),
        customerLastOrder([
          ['2024-01-01', '2024-01-05'],
          ['2024-01-06', '2024-01-06'],
          ['2024-01-07', '2024-01-07'],
        ]),
      );
      assert.equal((await model('load_history')).length, 3);
      const T0 = '1970-01-01 00:00:00';
      assert.deepEqual(
        await rows(
          'SELECT customer_id, tier, valid_from, valid_to FROM kz.tier_history_by_time ORDER BY 1, 3',
        ),
        [
          { customer_id: 1, tier: 'bronze', valid_from: T0, valid_to: '2024-01-06 12:00:00' },
          {
            customer_id: 1,
            tier: 'silver',
            valid_from: '2024-01-06 12:00:00',
            valid_to: '2024-01-07 18:00:00',
          },
          { customer_id: 1, tier: 'gold', valid_from: '2024-01-07 18:00:00', valid_to: null },
          { customer_id: 2, tier: 'silver', valid_from: T0, valid_to: '2024-01-07 08:00:00' },
          { customer_id: 2, tier: 'gold', valid_from: '2024-01-07 08:00:00', valid_to: null },
          { customer_id: 3, tier: 'bronze', valid_from: T0, valid_to: null },
        ],
      );
      assert.deepEqual(await rows('SELECT * FROM kz.tier_history_by_column ORDER BY 1, 3'), [
        { customer_id: 1, tier: 'bronze', valid_from: T0, valid_to: '2024-01-07 00:00:00' },
        {
          customer_id: 1,
          tier: 'silver',
          valid_from: '2024-01-07 00:00:00',
          valid_to: '2024-01-08 00:00:00',
        },
        { customer_id: 1, tier: 'gold', valid_from: '2024-01-08 00:00:00', valid_to: null },
        { customer_id: 2, tier: 'silver', valid_from: T0, valid_to: '2024-01-08 00:00:00' },
        { customer_id: 2, tier: 'gold', valid_from: '2024-01-08 00:00:00', valid_to: null },
        { customer_id: 3, tier: 'bronze', valid_from: T0, valid_to: null },
      ]);
      clock.advance(3_600_000);
      assert.equal((await ctx.run('prod')).backfill.evaluations, 0, 'the next day is not over');
    });

    it('plans dev with a changed EMBEDDED model and leaves prod as it was', async () => {
      const prodBefore = new Map<string, Row[]>();
      for (const name of keptViews) prodBefore.set(name, await model(name));
      await ctx.close();
      edit(
        dir,
        'models/order_amounts.sql',
        "WHERE status <> 'refunded'",
        "WHERE status NOT IN ('refunded', 'unknown')",
      );
      ctx = await open();
      const dev = await ctx.plan({ environment: 'dev' });
      const change = (n: string) => dev.changes.find((c) => short(c.name) === n);
      assert.equal(change('order_amounts')?.type, 'directly_modified');
      assert.equal(change('customer_totals')?.type, 'indirectly_modified');
      assert.equal(change(LONG)?.type, 'indirectly_modified');
      assert.equal(dev.changes.length, 3);
      assert.deepEqual(dev.backfill.map((b) => short(b.name)).sort(), [LONG, 'customer_totals']);
      const result = await ctx.apply(dev);
      assert.equal(result.status, 'succeeded', result.error);

      const devViews = (await ctx.adapter.listObjects('kz__dev')).map((o) => o.name).sort();
      assert.deepEqual(devViews, [LONG, 'customer_totals']);
      const devTotals = customerTotals((o) => o.status !== 'refunded' && o.status !== 'unknown');
      assert.deepEqual(
        await rows('SELECT * FROM kz__dev.customer_totals ORDER BY 1, 2'),
        devTotals,
      );
      assert.deepEqual(
        await rows(`SELECT * FROM kz__dev.${LONG} ORDER BY 1, 2`),
        valueByTier(devTotals),
      );
      assert.notDeepEqual(devTotals, customerTotals(), 'the change matters');
      for (const name of keptViews) {
        assert.deepEqual(await model(name), prodBefore.get(name), `prod's kz.${name} is unchanged`);
      }
    });
  });
}
