/**
 * The cloud's store: one schema on SQLite (the embedded default, one file)
 * or PostgreSQL, reached through Kysely so every query is written once.
 *
 * `openStore('sqlite:./tideline.db')`, `openStore('sqlite::memory:')` or
 * `openStore('postgres://user:pass@host:5432/db')`; migrations run at open.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { TidelineError } from '../../engine/errors.js';
import { migrate } from './migrations.js';
import type { DB } from './schema.js';

export type StoreKind = 'sqlite' | 'postgres';

/**
 * The driver under Kysely, for the few hand-written statements of hot paths
 * (the task queue's claims and completions). On SQLite, use it only while
 * holding Kysely's connection (`db.connection().execute(...)`), so that it
 * never runs inside another caller's transaction.
 */
export type StoreDriver =
  { kind: 'sqlite'; database: Database.Database } | { kind: 'postgres'; pool: pg.Pool };

export interface Store {
  readonly kind: StoreKind;
  readonly db: Kysely<DB>;
  readonly driver: StoreDriver;
  /** The location, without any password, for messages. */
  readonly where: string;
  close(): Promise<void>;
}

/** A store URL with its password hidden. */
export function redactStoreUrl(url: string): string {
  return url.replace(/^(\s*[a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}

function int8Parser() {
  const types = {
    getTypeParser(oid: number, format?: string) {
      // BIGINT (20) and COUNT(*) as numbers: epoch milliseconds and counts fit in 2^53.
      if (oid === 20) return (value: string) => Number(value);
      return pg.types.getTypeParser(oid, format as 'text');
    },
  };
  return types as unknown as pg.CustomTypesConfig;
}

/** Opens (creating when needed) and migrates the store at `url`. */
export async function openStore(url: string, options: { cwd?: string } = {}): Promise<Store> {
  const trimmed = url.trim();
  let store: Store;
  if (/^sqlite:/i.test(trimmed)) {
    const path = trimmed.slice('sqlite:'.length);
    if (!path) {
      throw new TidelineError(
        `store URL ${JSON.stringify(url)} names no file; write sqlite:./tideline.db or sqlite::memory:`,
      );
    }
    const file = path === ':memory:' ? path : resolve(options.cwd ?? process.cwd(), path);
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    const database = new Database(file);
    database.pragma('journal_mode = WAL');
    database.pragma('busy_timeout = 5000');
    database.pragma('foreign_keys = ON');
    database.pragma('synchronous = NORMAL');
    const db = new Kysely<DB>({ dialect: new SqliteDialect({ database }) });
    store = {
      kind: 'sqlite',
      db,
      driver: { kind: 'sqlite', database },
      where: `sqlite:${file}`,
      close: () => db.destroy(),
    };
  } else if (/^postgres(ql)?:\/\//i.test(trimmed)) {
    const pool = new pg.Pool({
      connectionString: trimmed,
      // The queue's hot paths batch their statements, so a few connections
      // carry thousands of tasks a second; the rest serve the other routes.
      max: 20,
      idleTimeoutMillis: 30_000,
      types: int8Parser(),
    });
    // An idle connection that breaks (the server restarted, a network cut)
    // emits 'error' on the pool; unheard it would end the process. The pool
    // drops that connection and the next query opens a new one or fails
    // with its own error where it is handled.
    pool.on('error', () => undefined);
    const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
    store = {
      kind: 'postgres',
      db,
      driver: { kind: 'postgres', pool },
      where: redactStoreUrl(trimmed),
      close: () => db.destroy(),
    };
  } else {
    throw new TidelineError(
      `unsupported store URL ${JSON.stringify(redactStoreUrl(url))}: use sqlite:./tideline.db or postgres://user:password@host:5432/database`,
    );
  }
  try {
    await sql`SELECT 1`.execute(store.db);
    await migrate(store);
  } catch (err) {
    await store.close().catch(() => undefined);
    const reason = err instanceof Error ? err.message : String(err);
    throw new TidelineError(`cannot open the store at ${store.where}: ${reason}`, { cause: err });
  }
  return store;
}
