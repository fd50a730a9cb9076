/**
 * What the jaffle-shop fixture's marts should hold, computed from its seed
 * CSVs: customers, orders with their payments split by method, revenue per
 * day.
 */
import { cents, readCsv } from './project-helpers.js';

export const METHODS = ['credit_card', 'coupon', 'bank_transfer', 'gift_card'] as const;

const customersCsv = readCsv('jaffle-shop', 'raw_customers.csv');
const ordersCsv = readCsv('jaffle-shop', 'raw_orders.csv');
const paymentsCsv = readCsv('jaffle-shop', 'raw_payments.csv');

export const SEED_COUNTS = {
  customers: customersCsv.length,
  orders: ordersCsv.length,
  payments: paymentsCsv.length,
};

export interface ExpectedOrder {
  order_id: number;
  customer_id: number;
  order_date: string;
  status: string;
  credit_card_amount: number;
  coupon_amount: number;
  bank_transfer_amount: number;
  gift_card_amount: number;
  amount: number;
}

/** jaffle_shop.orders, by order id. */
export function expectedOrders(): ExpectedOrder[] {
  return ordersCsv.map((o) => {
    const paid = paymentsCsv.filter((p) => p.order_id === o.id);
    const by = (method: string): number =>
      cents(
        paid.filter((p) => p.payment_method === method).reduce((s, p) => s + Number(p.amount), 0) /
          100,
      );
    return {
      order_id: Number(o.id),
      customer_id: Number(o.user_id),
      order_date: o.order_date!,
      status: o.status!,
      credit_card_amount: by('credit_card'),
      coupon_amount: by('coupon'),
      bank_transfer_amount: by('bank_transfer'),
      gift_card_amount: by('gift_card'),
      amount: cents(paid.reduce((s, p) => s + Number(p.amount), 0) / 100),
    };
  });
}

export interface ExpectedCustomer {
  customer_id: number;
  first_name: string;
  number_of_orders: number;
  first_order: string | null;
  most_recent_order: string | null;
  customer_lifetime_value: number;
}

/** jaffle_shop.customers, by customer id. */
export function expectedCustomers(): ExpectedCustomer[] {
  const orders = expectedOrders();
  return customersCsv.map((c) => {
    const mine = orders.filter((o) => o.customer_id === Number(c.id));
    const days = mine.map((o) => o.order_date).sort();
    return {
      customer_id: Number(c.id),
      first_name: c.first_name!,
      number_of_orders: mine.length,
      first_order: days[0] ?? null,
      most_recent_order: days[days.length - 1] ?? null,
      customer_lifetime_value: cents(mine.reduce((s, o) => s + o.amount, 0)),
    };
  });
}

/** jaffle_shop.revenue_by_day, by day: orders and revenue. */
export function expectedRevenueByDay(): Array<{
  order_date: string;
  orders: number;
  revenue: number;
}> {
  const byDay = new Map<string, { orders: number; revenue: number }>();
  for (const o of expectedOrders()) {
    const d = byDay.get(o.order_date) ?? { orders: 0, revenue: 0 };
    d.orders += 1;
    d.revenue = cents(d.revenue + o.amount);
    byDay.set(o.order_date, d);
  }
  return [...byDay.entries()].sort().map(([order_date, d]) => ({ order_date, ...d }));
}

/** The statuses the orders CSV holds, for order_status_by_month. */
export function statusSummary(): { orders: number; returns: number; statuses: number } {
  return {
    orders: ordersCsv.length,
    returns: ordersCsv.filter((o) => o.status === 'returned' || o.status === 'return_pending')
      .length,
    statuses: new Set(ordersCsv.map((o) => o.status)).size,
  };
}
