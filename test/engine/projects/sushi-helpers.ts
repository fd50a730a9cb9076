/**
 * The sushi fixture's raw data (the tables another system fills, created in
 * the warehouse before the first plan) and what its models should hold,
 * computed here from that data and the menu seed.
 */
import type { EngineAdapter } from '../../../src/engine/adapters/engine-adapter.js';
import { cents, readCsv } from './project-helpers.js';

/** Days with raw data: 2024-03-01 .. 2024-03-07. */
export const RAW_DAYS = 7;
export const day = (n: number): string => `2024-03-${String(n).padStart(2, '0')}`;

export interface RawOrder {
  id: number;
  customer_id: number;
  waiter_id: number;
  event_date: string;
}
export interface RawItem {
  id: number;
  order_id: number;
  item_id: number;
  quantity: number;
  event_date: string;
}

/** Four orders a day; odd orders have two dishes. */
export const RAW_ORDERS: RawOrder[] = [];
export const RAW_ITEMS: RawItem[] = [];
for (let d = 1; d <= RAW_DAYS; d++) {
  for (let k = 0; k < 4; k++) {
    const id = (d - 1) * 4 + k + 1;
    RAW_ORDERS.push({
      id,
      customer_id: ((id * 7) % 6) + 1,
      waiter_id: (id % 3) + 1,
      event_date: day(d),
    });
    for (let j = 0; j <= id % 2; j++) {
      RAW_ITEMS.push({
        id: RAW_ITEMS.length + 1,
        order_id: id,
        item_id: ((id + j) % 5) + 1,
        quantity: ((id + j) % 3) + 1,
        event_date: day(d),
      });
    }
  }
}

const PRICES = new Map(readCsv('sushi', 'items.csv').map((r) => [Number(r.id), Number(r.price)]));

const sqlValue = (v: unknown): string => (typeof v === 'string' ? `'${v}'` : String(v));
const values = (rows: object[]): string =>
  rows.map((r) => `(${Object.values(r).map(sqlValue).join(', ')})`).join(', ');

/** Creates the raw tables in the warehouse and fills them; marketing knows customers 1 and 2. */
export async function createRawTables(adapter: EngineAdapter): Promise<void> {
  for (const sql of [
    'CREATE SCHEMA raw',
    'CREATE TABLE raw.orders (id INTEGER, customer_id INTEGER, waiter_id INTEGER, event_date TEXT)',
    'CREATE TABLE raw.order_items (id INTEGER, order_id INTEGER, item_id INTEGER, quantity INTEGER, event_date TEXT)',
    'CREATE TABLE raw.marketing (customer_id INTEGER, status TEXT, updated_at TIMESTAMP)',
    `INSERT INTO raw.orders VALUES ${values(RAW_ORDERS)}`,
    `INSERT INTO raw.order_items VALUES ${values(RAW_ITEMS)}`,
    "INSERT INTO raw.marketing VALUES (1, 'active', '2024-03-01 08:00:00'), (2, 'inactive', '2024-03-01 09:00:00')",
  ]) {
    await adapter.execute(sql);
  }
}

const revenueOf = (orderId: number): number =>
  RAW_ITEMS.filter((i) => i.order_id === orderId).reduce(
    (s, i) => s + i.quantity * (PRICES.get(i.item_id) ?? Number.NaN),
    0,
  );

/** sushi.customer_revenue_by_day for days 1..lastDay, sorted by day then customer. */
export function expectedRevenueByDay(
  lastDay: number,
): Array<{ customer_id: number; revenue: number; event_date: string }> {
  const out: Array<{ customer_id: number; revenue: number; event_date: string }> = [];
  for (let d = 1; d <= lastDay; d++) {
    const totals = new Map<number, number>();
    for (const o of RAW_ORDERS.filter((o) => o.event_date === day(d))) {
      totals.set(o.customer_id, (totals.get(o.customer_id) ?? 0) + revenueOf(o.id));
    }
    for (const [customer_id, revenue] of [...totals].sort((a, b) => a[0] - b[0])) {
      out.push({ customer_id, revenue: cents(revenue), event_date: day(d) });
    }
  }
  return out;
}

/** sushi.customer_revenue_lifetime: running totals per customer, for days 1..lastDay. */
export function expectedLifetime(
  lastDay: number,
): Array<{ customer_id: number; revenue: number; event_date: string }> {
  const running = new Map<number, number>();
  const out: Array<{ customer_id: number; revenue: number; event_date: string }> = [];
  for (let d = 1; d <= lastDay; d++) {
    for (const o of RAW_ORDERS.filter((o) => o.event_date === day(d))) {
      running.set(o.customer_id, (running.get(o.customer_id) ?? 0) + revenueOf(o.id));
    }
    for (const [customer_id, revenue] of [...running].sort((a, b) => a[0] - b[0])) {
      out.push({ customer_id, revenue: cents(revenue), event_date: day(d) });
    }
  }
  return out;
}

/** sushi.waiter_revenue_by_day row count for days 1..lastDay. */
export function waiterDays(lastDay: number): number {
  const keys = new Set(
    RAW_ORDERS.filter((o) => o.event_date <= day(lastDay)).map(
      (o) => `${o.waiter_id}|${o.event_date}`,
    ),
  );
  return keys.size;
}
