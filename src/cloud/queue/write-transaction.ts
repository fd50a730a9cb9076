/**
 * One write transaction on either store. PostgreSQL: an ordinary transaction
 * (row locks do the rest). SQLite: `BEGIN IMMEDIATE`, so the write lock is
 * taken at the start and two writers never interleave, even from two
 * processes on the same file.
 */
import { sql, type Kysely } from 'kysely';
import type { Store } from '../store/database.js';
import type { DB } from '../store/schema.js';

export interface WriteTransactionOptions {
  /**
   * False for queue bookkeeping (claims, leases, completions, logs): on
   * PostgreSQL the commit does not wait for the WAL to reach the disk. A
   * crash may then forget the last few milliseconds of such changes, which
   * the protocol already survives: a forgotten claim makes its lease stale,
   * a forgotten completion leaves a lease that expires and the task runs
   * again, and evaluations are idempotent. State writes (intervals,
   * environments) stay durable.
   */
  durable?: boolean;
}

/** Options of queue bookkeeping transactions (see {@link WriteTransactionOptions.durable}). */
export const NOT_DURABLE: WriteTransactionOptions = { durable: false };

/** Runs `fn` in one write transaction; commits when it resolves, rolls back when it throws. */
export async function writeTransaction<T>(
  store: Store,
  fn: (tx: Kysely<DB>) => Promise<T>,
  options: WriteTransactionOptions = {},
): Promise<T> {
  if (store.kind === 'postgres') {
    return store.db.transaction().execute(async (tx) => {
      if (options.durable === false) await sql`SET LOCAL synchronous_commit = off`.execute(tx);
      return fn(tx);
    });
  }
  return store.db.connection().execute(async (conn) => {
    await sql`BEGIN IMMEDIATE`.execute(conn);
    let result: T;
    try {
      result = await fn(conn);
    } catch (err) {
      await sql`ROLLBACK`.execute(conn).catch(() => undefined);
      throw err;
    }
    await sql`COMMIT`.execute(conn);
    return result;
  });
}

const DEADLOCK = '40P01';

/**
 * Runs `fn` (a whole transaction) again when PostgreSQL broke a deadlock by
 * aborting it: batched writes lock several rows, and two of them (or one and
 * the lease reaper) may meet in opposite orders. Up to three tries.
 */
export async function retryOnDeadlock<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 3 || (err as { code?: unknown } | null)?.code !== DEADLOCK) throw err;
    }
  }
}
