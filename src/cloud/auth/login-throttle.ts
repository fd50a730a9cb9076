/**
 * Throttling of web logins against password guessing. Failures are counted
 * per username (`user:<name>`) and per client address (`ip:<address>`) in
 * fixed windows that start at the first failure: after 5 failures for a
 * username, or 20 from one address, within 15 minutes, further attempts are
 * refused until the window ends. A successful login clears its username's
 * count, never the address's (one known account must not reset an attacker's
 * address). Unknown usernames are counted like known ones.
 */
import { sql } from 'kysely';
import type { CloudContext } from '../context.js';

export const LOGIN_WINDOW_MS = 15 * 60_000;
export const USERNAME_FAILURE_LIMIT = 5;
export const ADDRESS_FAILURE_LIMIT = 20;

export interface ThrottleKey {
  key: string;
  limit: number;
}

/** The keys a login attempt counts against. */
export function loginKeys(username: string, address: string): ThrottleKey[] {
  return [
    { key: `user:${username}`, limit: USERNAME_FAILURE_LIMIT },
    { key: `ip:${address}`, limit: ADDRESS_FAILURE_LIMIT },
  ];
}

/** Milliseconds until an attempt may be made again, or 0 when it may be made now. */
export async function loginRetryAfterMs(ctx: CloudContext, keys: ThrottleKey[]): Promise<number> {
  const now = ctx.clock.now();
  const rows = await ctx.store.db
    .selectFrom('login_attempts')
    .selectAll()
    .where(
      'key',
      'in',
      keys.map((k) => k.key),
    )
    .execute();
  let wait = 0;
  for (const row of rows) {
    const limit = keys.find((k) => k.key === row.key)?.limit ?? Infinity;
    const ends = row.window_start_ts + LOGIN_WINDOW_MS;
    if (row.failures >= limit && ends > now) wait = Math.max(wait, ends - now);
  }
  return wait;
}

/** Counts one failure against each key, starting a new window where the last has ended. */
export async function recordLoginFailure(ctx: CloudContext, keys: ThrottleKey[]): Promise<void> {
  const now = ctx.clock.now();
  const cutoff = now - LOGIN_WINDOW_MS;
  const db = ctx.store.db;
  for (const { key } of keys) {
    await db
      .insertInto('login_attempts')
      .values({ key, window_start_ts: now, failures: 1 })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({
          failures: sql<number>`CASE WHEN login_attempts.window_start_ts <= ${cutoff} THEN 1 ELSE login_attempts.failures + 1 END`,
          window_start_ts: sql<number>`CASE WHEN login_attempts.window_start_ts <= ${cutoff} THEN ${now} ELSE login_attempts.window_start_ts END`,
        }),
      )
      .execute();
  }
  // Windows that have ended count for nothing: drop them now and then.
  await db.deleteFrom('login_attempts').where('window_start_ts', '<=', cutoff).execute();
}

/** Forgets the failures counted against `key` (after a successful login). */
export async function clearLoginFailures(ctx: CloudContext, key: string): Promise<void> {
  await ctx.store.db.deleteFrom('login_attempts').where('key', '=', key).execute();
}
