/**
 * A fresh PostgreSQL database per test file (or per test), on the server the
 * test run started (TIDELINE_TEST_PG_URL), or on one started here when the
 * variable is unset.
 */
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import pg from 'pg';
import type { PostgresConnectionConfig } from '../../src/engine/config/config-types.js';
import { startTestPostgres } from './pg-server.js';

export interface TestDatabase {
  /** A superuser connection URL for the new database. */
  url: string;
  /** The same as a connection config, ready for the adapter factory. */
  config: PostgresConnectionConfig;
  /** The database's name. */
  name: string;
  /** Drops the database, ending any sessions still connected to it. */
  drop(): Promise<void>;
}

interface OwnServer {
  url: string;
  stopped: boolean;
}

let ownServer: Promise<OwnServer> | undefined;

/**
 * The test server: the run's (TIDELINE_TEST_PG_URL), or one started here and
 * stopped when the test file (or the test that first asked for it) finishes.
 */
async function testServer(): Promise<OwnServer | { url: string; stopped?: undefined }> {
  const fromEnv = process.env['TIDELINE_TEST_PG_URL'];
  if (fromEnv) return { url: fromEnv };
  ownServer ??= startTestPostgres().then((server) => {
    const own: OwnServer = { url: server.url, stopped: false };
    after(async () => {
      own.stopped = true;
      ownServer = undefined;
      await server.stop();
    });
    return own;
  });
  return ownServer;
}

/** The URL of the test server's `postgres` database. */
export async function testServerUrl(): Promise<string> {
  return (await testServer()).url;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** A connection config for `url` (postgres://user:password@host:port/database). */
export function configFromUrl(
  url: string,
  overrides: Partial<PostgresConnectionConfig> = {},
): PostgresConnectionConfig {
  const u = new URL(url);
  return {
    type: 'postgres',
    host: u.hostname,
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || 'postgres',
    connectTimeout: 10,
    concurrentTasks: 4,
    ...overrides,
  };
}

async function onServer(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Creates a uniquely named database; the caller drops it. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const server = await testServer();
  const admin = server.url;
  const name = `tideline_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await onServer(admin, `CREATE DATABASE "${name}"`);
  const url = withDatabase(admin, name);
  let dropped = false;
  return {
    url,
    name,
    config: configFromUrl(url),
    async drop() {
      // A server started for this file takes its databases with it when it stops.
      if (dropped || server.stopped) return;
      dropped = true;
      await onServer(admin, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    },
  };
}

/**
 * Creates a uniquely named database and drops it when the enclosing test (or,
 * awaited at the top level of a test file, the file) finishes. Not for use
 * inside before/after hooks, where the drop would run as the hook ends.
 */
export async function withTestDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  after(() => db.drop());
  return db;
}
