/**
 * What the kinds-zoo models should hold, computed here from the fixture's seed
 * CSVs (never copied from a run), for the end-to-end test in kinds-e2e.test.ts.
 * Days are 'YYYY-MM-DD' strings; money is kept in cents to stay exact.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturesDir } from '../../helpers/paths.js';

export const KINDS_ZOO = join(fixturesDir, 'projects', 'kinds-zoo');

/** The strings SQLMesh's seed reader loads as NULL that the orders seed uses. */
const NA = new Set(['', 'NA', 'null', 'N/A']);

type CsvRow = Record<string, string>;

function readCsv(name: string): CsvRow[] {
  const lines = readFileSync(join(KINDS_ZOO, 'seeds', name), 'utf8')
    .trim()
    .split('\n');
  const header = (lines[0] ?? '').split(',');
  return lines.slice(1).map((line) => {
    const cells = line.split(',');
    return Object.fromEntries(header.map((h, i) => [h, cells[i] ?? '']));
  });
}

export interface Order {
  order_id: number;
  customer_id: number;
  order_date: string;
  /** Cents; null where the seed has an NA string. */
  cents: number | null;
  status: string | null;
}

export const orders: Order[] = readCsv('orders.csv').map((r) => ({
  order_id: Number(r['order_id']),
  customer_id: Number(r['customer_id']),
  order_date: r['order_date']!,
  cents: NA.has(r['amount']!) ? null : Math.round(Number(r['amount']) * 100),
  status: NA.has(r['status']!) ? null : r['status']!,
}));

export const customers = readCsv('customers.csv').map((r) => ({
  customer_id: Number(r['customer_id']),
  name: r['name']!,
  signup_date: r['signup_date']!,
  tier: r['tier']!,
}));

export const tierChanges = readCsv('tier_changes.csv').map((r) => ({
  customer_id: Number(r['customer_id']),
  tier: r['tier']!,
  changed_at: r['changed_at']!,
}));

const money = (cents: number): number => cents / 100;

/** kz.stg_orders: NULL amounts become 0 and NULL statuses 'unknown'. */
export const staged = orders.map((o) => ({
  ...o,
  cents: o.cents ?? 0,
  status: o.status ?? 'unknown',
}));

export const days = [...new Set(orders.map((o) => o.order_date))].sort();

function sumCents(rows: Array<{ cents: number }>): number {
  return rows.reduce((a, r) => a + r.cents, 0);
}

/** kz.daily_orders (and kz.daily_revenue when `before` is past the last day). */
export function dailyOrders(before: string): Array<Record<string, unknown>> {
  return days
    .filter((d) => d < before)
    .map((d) => {
      const that = staged.filter((o) => o.order_date === d);
      return { order_date: d, order_count: that.length, revenue: money(sumCents(that)) };
    });
}

/** kz.daily_orders_text: orders per day keyed by the day as text. */
export function dailyOrdersText(before: string): Array<Record<string, unknown>> {
  return dailyOrders(before).map((r) => ({ ds: r['order_date'], order_count: r['order_count'] }));
}

/** kz.running_revenue: each day's revenue and the total up to and including it. */
export function runningRevenue(before: string): Array<Record<string, unknown>> {
  let total = 0;
  return days
    .filter((d) => d < before)
    .map((d) => {
      const cents = sumCents(staged.filter((o) => o.order_date === d));
      total += cents;
      return { order_date: d, revenue: money(cents), running_total: money(total) };
    });
}

/**
 * kz.orders_batched: each order written by the last batch (first and last day)
 * that covered its day.
 */
export function ordersBatched(batches: Array<[string, string]>): Array<Record<string, unknown>> {
  const last = new Map<string, [string, string]>();
  for (const b of batches) for (const d of days) if (d >= b[0] && d <= b[1]) last.set(d, b);
  return staged
    .filter((o) => last.has(o.order_date))
    .map((o) => ({
      order_id: o.order_id,
      order_date: o.order_date,
      amount: money(o.cents),
      batch_start: last.get(o.order_date)![0],
      batch_end: last.get(o.order_date)![1],
    }));
}

/** kz.customer_last_order after upserting each load (first and last day) in turn. */
export function customerLastOrder(loads: Array<[string, string]>): Array<Record<string, unknown>> {
  const byKey = new Map<number, Record<string, unknown>>();
  for (const [first, lastDay] of loads) {
    const inLoad = staged.filter((o) => o.order_date >= first && o.order_date <= lastDay);
    for (const id of new Set(inLoad.map((o) => o.customer_id))) {
      const mine = inLoad.filter((o) => o.customer_id === id);
      byKey.set(id, {
        customer_id: id,
        last_order_date: mine
          .map((o) => o.order_date)
          .sort()
          .at(-1),
        orders_in_load: mine.length,
        loaded_through: lastDay,
      });
    }
  }
  return [...byKey.values()].sort((a, b) => Number(a['customer_id']) - Number(b['customer_id']));
}

/** kz.customer_totals: non-refunded orders and their cents per customer. */
export function customerTotals(
  keep: (o: (typeof staged)[number]) => boolean = (o) => o.status !== 'refunded',
): Array<Record<string, unknown>> {
  return customers.map((c) => {
    const mine = staged.filter((o) => o.customer_id === c.customer_id && keep(o));
    return {
      customer_id: c.customer_id,
      name: c.name,
      order_count: mine.length,
      total_cents: sumCents(mine),
    };
  });
}

/** kz.customer_lifetime_value_by_acquisition_channel_and_tier, from customer totals. */
export function valueByTier(
  totals: Array<Record<string, unknown>>,
): Array<Record<string, unknown>> {
  const tiers = [...new Set(customers.map((c) => c.tier))].sort();
  return tiers.map((tier) => {
    const ids = new Set(customers.filter((c) => c.tier === tier).map((c) => c.customer_id));
    const mine = totals.filter((t) => ids.has(Number(t['customer_id'])));
    return {
      tier,
      customer_count: mine.length,
      total_cents: mine.reduce((a, t) => a + Number(t['total_cents']), 0),
    };
  });
}

/** kz.jinja_revenue: orders and cents per status. */
export function revenueByStatus(): Array<Record<string, unknown>> {
  return [...new Set(staged.map((o) => o.status))].sort().map((status) => {
    const mine = staged.filter((o) => o.status === status);
    return { status, order_count: mine.length, revenue_cents: sumCents(mine) };
  });
}

/** kz.current_tiers as of `at` ('YYYY-MM-DD HH:MM:SS'): each customer's latest change. */
export function tiersAsOf(at: string): Array<Record<string, unknown>> {
  const latest = new Map<number, (typeof tierChanges)[number]>();
  for (const c of tierChanges) {
    if (c.changed_at > at) continue;
    const seen = latest.get(c.customer_id);
    if (!seen || c.changed_at > seen.changed_at) latest.set(c.customer_id, c);
  }
  return [...latest.values()]
    .sort((a, b) => a.customer_id - b.customer_id)
    .map((c) => ({ customer_id: c.customer_id, tier: c.tier, updated_at: c.changed_at }));
}
