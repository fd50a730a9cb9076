/**
 * Versioned migrations of the store, run at every start. Each step is a list
 * of statements written once, with the few words SQLite and PostgreSQL spell
 * differently filled in per engine. A step and its record commit together.
 */
import { sql, type Kysely } from 'kysely';
import type { Store, StoreKind } from './database.js';
import type { DB } from './schema.js';

interface Dialect {
  kind: StoreKind;
  /** An auto-incrementing BIGINT primary key. */
  serial: string;
}

const DIALECTS: Record<StoreKind, Dialect> = {
  sqlite: { kind: 'sqlite', serial: 'INTEGER PRIMARY KEY AUTOINCREMENT' },
  postgres: { kind: 'postgres', serial: 'BIGSERIAL PRIMARY KEY' },
};

export interface Migration {
  version: number;
  description: string;
  statements(d: Dialect): string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'tenancy, auth, state, plans, runs, tasks, observability',
    statements: (d) => [
      `CREATE TABLE organizations (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_ts BIGINT NOT NULL
      )`,
      `CREATE TABLE projects (
        id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL REFERENCES organizations (id),
        name TEXT NOT NULL,
        created_ts BIGINT NOT NULL,
        UNIQUE (org_id, name)
      )`,
      `CREATE TABLE oauth_clients (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL REFERENCES projects (id),
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created_ts BIGINT NOT NULL,
        created_by TEXT,
        revoked_ts BIGINT,
        last_used_ts BIGINT
      )`,
      `CREATE TABLE users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_ts BIGINT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0
      )`,
      `CREATE TABLE user_roles (
        user_id TEXT NOT NULL REFERENCES users (id),
        project_id TEXT NOT NULL REFERENCES projects (id),
        role TEXT NOT NULL,
        PRIMARY KEY (user_id, project_id)
      )`,
      `CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users (id),
        csrf_token TEXT NOT NULL,
        created_ts BIGINT NOT NULL,
        expires_ts BIGINT NOT NULL
      )`,
      `CREATE TABLE login_attempts (
        key TEXT PRIMARY KEY,
        window_start_ts BIGINT NOT NULL,
        failures INTEGER NOT NULL
      )`,
      `CREATE TABLE snapshots (
        project_id TEXT NOT NULL,
        name TEXT NOT NULL,
        identifier TEXT NOT NULL,
        version TEXT NOT NULL,
        dev_version TEXT,
        payload TEXT NOT NULL,
        created_ts BIGINT NOT NULL,
        updated_ts BIGINT NOT NULL,
        PRIMARY KEY (project_id, name, identifier)
      )`,
      `CREATE INDEX snapshots_version_idx ON snapshots (project_id, name, version)`,
      `CREATE TABLE environments (
        project_id TEXT NOT NULL,
        name TEXT NOT NULL,
        payload TEXT NOT NULL,
        plan_id TEXT NOT NULL,
        expiration_ts BIGINT,
        created_ts BIGINT NOT NULL,
        updated_ts BIGINT NOT NULL,
        PRIMARY KEY (project_id, name)
      )`,
      `CREATE TABLE intervals (
        id ${d.serial},
        project_id TEXT NOT NULL,
        name TEXT NOT NULL,
        identifier TEXT NOT NULL,
        version TEXT NOT NULL,
        dev_version TEXT,
        start_ts BIGINT NOT NULL,
        end_ts BIGINT NOT NULL,
        is_dev INTEGER NOT NULL,
        is_removed INTEGER NOT NULL,
        created_ts BIGINT NOT NULL
      )`,
      `CREATE INDEX intervals_version_idx ON intervals (project_id, name, version)`,
      `CREATE INDEX intervals_identifier_idx ON intervals (project_id, name, identifier)`,
      `CREATE TABLE plans (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL,
        environment TEXT NOT NULL,
        status TEXT NOT NULL,
        payload TEXT,
        summary TEXT NOT NULL,
        created_by TEXT,
        created_ts BIGINT NOT NULL,
        updated_ts BIGINT NOT NULL,
        started_ts BIGINT,
        finished_ts BIGINT,
        error TEXT
      )`,
      `CREATE INDEX plans_env_idx ON plans (project_id, environment, created_ts)`,
      `CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL,
        environment TEXT NOT NULL,
        status TEXT NOT NULL,
        trigger TEXT NOT NULL,
        execution_ts BIGINT NOT NULL,
        created_ts BIGINT NOT NULL,
        started_ts BIGINT,
        finished_ts BIGINT,
        error TEXT,
        created_by TEXT
      )`,
      `CREATE INDEX runs_env_idx ON runs (project_id, environment, created_ts)`,
      `CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL,
        queue TEXT NOT NULL,
        kind TEXT NOT NULL,
        environment TEXT NOT NULL,
        status TEXT NOT NULL,
        payload TEXT NOT NULL,
        depends_on TEXT NOT NULL,
        run_id TEXT,
        plan_id TEXT,
        model TEXT,
        version TEXT,
        attempts INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        not_before_ts BIGINT NOT NULL,
        lease_id TEXT,
        fencing_token BIGINT NOT NULL,
        lease_expires_ts BIGINT,
        executor_id TEXT,
        created_ts BIGINT NOT NULL,
        updated_ts BIGINT NOT NULL,
        started_ts BIGINT,
        finished_ts BIGINT,
        error TEXT
      )`,
      `CREATE INDEX tasks_claim_idx ON tasks (project_id, queue, status, not_before_ts)`,
      `CREATE INDEX tasks_run_idx ON tasks (run_id)`,
      `CREATE INDEX tasks_plan_idx ON tasks (plan_id)`,
      `CREATE TABLE evaluations (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL,
        task_id TEXT,
        run_id TEXT,
        plan_id TEXT,
        environment TEXT NOT NULL,
        model TEXT NOT NULL,
        identifier TEXT NOT NULL,
        version TEXT NOT NULL,
        start_ts BIGINT NOT NULL,
        end_ts BIGINT NOT NULL,
        status TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        rows BIGINT,
        duration_ms BIGINT,
        error TEXT,
        created_ts BIGINT NOT NULL,
        finished_ts BIGINT
      )`,
      `CREATE INDEX evaluations_run_idx ON evaluations (run_id)`,
      `CREATE INDEX evaluations_plan_idx ON evaluations (plan_id)`,
      `CREATE INDEX evaluations_model_idx ON evaluations (project_id, model, created_ts)`,
      `CREATE TABLE logs (
        id ${d.serial},
        project_id TEXT NOT NULL,
        task_id TEXT,
        run_id TEXT,
        plan_id TEXT,
        executor_id TEXT,
        level TEXT NOT NULL,
        message TEXT NOT NULL,
        ts BIGINT NOT NULL
      )`,
      `CREATE INDEX logs_task_idx ON logs (task_id)`,
      `CREATE INDEX logs_ts_idx ON logs (project_id, ts)`,
      `CREATE TABLE audit_results (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL,
        evaluation_id TEXT,
        run_id TEXT,
        plan_id TEXT,
        model TEXT NOT NULL,
        audit TEXT NOT NULL,
        blocking INTEGER NOT NULL,
        passed INTEGER NOT NULL,
        failing_rows BIGINT NOT NULL,
        sample TEXT NOT NULL,
        created_ts BIGINT NOT NULL
      )`,
      `CREATE TABLE executors (
        id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        version TEXT NOT NULL,
        protocol_version TEXT NOT NULL,
        gateways TEXT NOT NULL,
        address TEXT,
        hosting TEXT NOT NULL,
        status TEXT NOT NULL,
        registered_ts BIGINT NOT NULL,
        last_seen_ts BIGINT NOT NULL,
        current_tasks TEXT NOT NULL,
        completed INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        retried INTEGER NOT NULL,
        aborted INTEGER NOT NULL
      )`,
      `CREATE TABLE pauses (
        project_id TEXT NOT NULL,
        environment TEXT NOT NULL,
        model TEXT NOT NULL,
        reason TEXT,
        created_by TEXT,
        created_ts BIGINT NOT NULL,
        PRIMARY KEY (project_id, environment, model)
      )`,
      `CREATE TABLE connections (
        project_id TEXT NOT NULL,
        gateway TEXT NOT NULL,
        engine TEXT NOT NULL,
        encrypted TEXT NOT NULL,
        created_ts BIGINT NOT NULL,
        updated_ts BIGINT NOT NULL,
        PRIMARY KEY (project_id, gateway)
      )`,
      `CREATE TABLE events (
        id ${d.serial},
        project_id TEXT NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        ts BIGINT NOT NULL
      )`,
      `CREATE INDEX events_project_idx ON events (project_id, id)`,
    ],
  },
  {
    version: 2,
    description: 'task queue: plan cancel requests, claim and dependency indexes, plan progress',
    statements: () => [
      `ALTER TABLE plans ADD COLUMN cancel_requested_ts BIGINT`,
      `CREATE INDEX tasks_status_idx ON tasks (project_id, status)`,
      `CREATE INDEX tasks_model_idx ON tasks (project_id, model, version, status)`,
      `CREATE INDEX tasks_env_idx ON tasks (project_id, queue, environment, status)`,
      `CREATE INDEX tasks_lease_idx ON tasks (status, lease_expires_ts)`,
      `CREATE INDEX logs_plan_idx ON logs (plan_id, id)`,
      `CREATE INDEX executors_project_idx ON executors (project_id, name)`,
    ],
  },
  {
    version: 3,
    description: 'server settings (the token signing key on PostgreSQL), user role lookups',
    statements: () => [
      `CREATE TABLE server_settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_ts BIGINT NOT NULL
      )`,
      `CREATE INDEX user_roles_project_idx ON user_roles (project_id, user_id)`,
      `CREATE INDEX sessions_user_idx ON sessions (user_id)`,
    ],
  },
  {
    version: 4,
    description:
      'task indexes that hold only the tasks they serve (pending, claimed, waiting, unfinished)',
    // A task is written at each step of its life, and each write adds an
    // entry to every index whose columns or predicate it touches; finished
    // tasks, most of the table, now sit in none of these. SQLite uses a
    // partial index only when the query repeats its predicate word for word,
    // so there only the two whose queries do are partial.
    statements: (d) => [
      `DROP INDEX tasks_claim_idx`,
      `CREATE INDEX tasks_pending_idx ON tasks (project_id, queue, not_before_ts) WHERE status = 'pending'`,
      `DROP INDEX tasks_lease_idx`,
      `CREATE INDEX tasks_claimed_lease_idx ON tasks (lease_expires_ts) WHERE status = 'claimed'`,
      ...(d.kind === 'postgres'
        ? [
            `DROP INDEX tasks_model_idx`,
            `CREATE INDEX tasks_open_model_idx ON tasks (project_id, model, version) WHERE status IN ('waiting', 'pending', 'claimed')`,
            `DROP INDEX tasks_env_idx`,
            `CREATE INDEX tasks_open_env_idx ON tasks (project_id, queue, environment) WHERE status IN ('pending', 'claimed')`,
            `DROP INDEX tasks_status_idx`,
            // Only the waiting ones: a completion looks among them for tasks it releases.
            `CREATE INDEX tasks_waiting_idx ON tasks (project_id) WHERE status = 'waiting'`,
          ]
        : []),
    ],
  },
  {
    version: 5,
    description: 'run and plan task indexes without the tasks that have no run or plan',
    // A run's tasks have no plan and a plan's tasks no run: each task now
    // writes an entry to one of the two at each step of its life, not both.
    // Lookups are by equality, which both stores know excludes NULL.
    statements: () => [
      `DROP INDEX tasks_run_idx`,
      `CREATE INDEX tasks_run_idx ON tasks (run_id) WHERE run_id IS NOT NULL`,
      `DROP INDEX tasks_plan_idx`,
      `CREATE INDEX tasks_plan_idx ON tasks (plan_id) WHERE plan_id IS NOT NULL`,
    ],
  },
  {
    version: 6,
    description: "executors without current_tasks (an executor's tasks are read from tasks)",
    statements: () => [`ALTER TABLE executors DROP COLUMN current_tasks`],
  },
];

/** The schema version this code writes and understands. */
export const STORE_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

async function appliedVersion(db: Kysely<DB>): Promise<number> {
  const row = await db
    .selectFrom('schema_migrations')
    .select((eb) => eb.fn.max('version').as('v'))
    .executeTakeFirst();
  return Number(row?.v ?? 0);
}

/**
 * Brings the store to {@link STORE_SCHEMA_VERSION}. Refuses a store written
 * by a newer Tideline. On PostgreSQL an advisory lock keeps two clouds
 * starting at once from migrating together.
 */
export async function migrate(store: Store): Promise<void> {
  const d = DIALECTS[store.kind];
  await sql`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_ts BIGINT NOT NULL
  )`.execute(store.db);
  await store.db.transaction().execute(async (tx) => {
    if (store.kind === 'postgres') await sql`SELECT pg_advisory_xact_lock(7242001)`.execute(tx);
    const current = await appliedVersion(tx);
    if (current > STORE_SCHEMA_VERSION) {
      throw new Error(
        `the store is at schema version ${current}, newer than this Tideline understands (${STORE_SCHEMA_VERSION}); upgrade Tideline`,
      );
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      for (const statement of m.statements(d)) await sql.raw(statement).execute(tx);
      await tx
        .insertInto('schema_migrations')
        .values({ version: m.version, description: m.description, applied_ts: Date.now() })
        .execute();
    }
  });
}
