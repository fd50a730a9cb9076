/**
 * The state schema's migrations, oldest first. Each step has the number the
 * schema reaches once it has run; `migrate()` runs the steps above the stored
 * number in one transaction and records the last one. Never edit a released
 * step: add a new one.
 *
 * Timestamps are BIGINT epoch milliseconds; JSON payloads are TEXT so they
 * round-trip byte for byte. The SQL is plain enough for DuckDB and PostgreSQL.
 */

/** Names that a migration step needs to write its SQL. */
export interface MigrationContext {
  /** The quoted, qualified name of a state table, e.g. `"sqlmesh"."_snapshots"`. */
  table(name: string): string;
  /** Quotes one identifier (index and sequence names). */
  quote(name: string): string;
  /** The quoted, qualified name of a sequence, as a string literal for `nextval(...)`. */
  sequenceLiteral(name: string): string;
}

export interface MigrationStep {
  /** The schema version once this step has run; steps are numbered 1, 2, 3, ... */
  version: number;
  description: string;
  statements(ctx: MigrationContext): string[];
}

export const MIGRATIONS: readonly MigrationStep[] = [
  {
    version: 1,
    description: 'snapshots, environments, intervals and plans',
    statements: (ctx) => [
      `CREATE TABLE IF NOT EXISTS ${ctx.table('_snapshots')} (
        name TEXT NOT NULL,
        identifier TEXT NOT NULL,
        version TEXT NOT NULL,
        dev_version TEXT,
        payload TEXT NOT NULL,
        created_ts BIGINT NOT NULL,
        updated_ts BIGINT NOT NULL,
        PRIMARY KEY (name, identifier)
      )`,
      `CREATE INDEX IF NOT EXISTS ${ctx.quote('_snapshots_name_version_idx')} ON ${ctx.table('_snapshots')} (name, version)`,
      `CREATE TABLE IF NOT EXISTS ${ctx.table('_environments')} (
        name TEXT NOT NULL PRIMARY KEY,
        payload TEXT NOT NULL,
        plan_id TEXT NOT NULL,
        expiration_ts BIGINT
      )`,
      // The sequence orders interval rows: a later row wins over an earlier one.
      `CREATE SEQUENCE IF NOT EXISTS ${ctx.table('_intervals_id_seq')}`,
      `CREATE TABLE IF NOT EXISTS ${ctx.table('_intervals')} (
        id BIGINT NOT NULL PRIMARY KEY DEFAULT nextval(${ctx.sequenceLiteral('_intervals_id_seq')}),
        name TEXT NOT NULL,
        identifier TEXT NOT NULL,
        version TEXT NOT NULL,
        dev_version TEXT,
        start_ts BIGINT NOT NULL,
        end_ts BIGINT NOT NULL,
        is_dev BOOLEAN NOT NULL,
        is_removed BOOLEAN NOT NULL,
        created_ts BIGINT NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS ${ctx.quote('_intervals_name_version_idx')} ON ${ctx.table('_intervals')} (name, version)`,
      `CREATE INDEX IF NOT EXISTS ${ctx.quote('_intervals_name_identifier_idx')} ON ${ctx.table('_intervals')} (name, identifier)`,
      `CREATE TABLE IF NOT EXISTS ${ctx.table('_plans')} (
        id TEXT NOT NULL PRIMARY KEY,
        environment TEXT NOT NULL,
        status TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_ts BIGINT NOT NULL,
        updated_ts BIGINT NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS ${ctx.quote('_plans_environment_idx')} ON ${ctx.table('_plans')} (environment, created_ts)`,
    ],
  },
];

/** The schema version this code writes and understands. */
export const STATE_SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
