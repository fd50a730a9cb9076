/**
 * The queue's hot paths as hand-written SQL on the store's own driver: a
 * batch of claims, and a batch of succeeded completions, each one
 * transaction and (on PostgreSQL) one round trip.
 *
 * PostgreSQL: the statements are prepared once per connection (`PREPARE`,
 * so they are not parsed and planned again per batch), and a batch's
 * `EXECUTE`s go as one simple-protocol query, which the server runs as one
 * transaction, each statement seeing what the ones before it wrote. That
 * protocol takes no parameters, so arguments are written as literals by
 * {@link pgLiteral}: numbers checked to be integers, strings as
 * escape-string literals (`E'...'`, backslashes and quotes doubled), which
 * read the same whatever `standard_conforming_strings` says.
 *
 * SQLite: the statements run synchronously in one `BEGIN IMMEDIATE`
 * transaction on better-sqlite3, prepared once, while Kysely's connection
 * is held (so they never run inside another caller's transaction).
 *
 * Neither touches executor rows: the executors' last-seen times and counts
 * are noted in memory and written apart (see executor-bookkeeping.ts), so
 * claims and completions never wait on each other's row locks.
 */
import type Database from 'better-sqlite3';
import type pg from 'pg';
import type { Store } from '../store/database.js';
import type { TaskQueue } from '../store/schema.js';

/** Advisory lock space of run-queue claim batches on PostgreSQL (one per project). */
const RUN_CLAIM_LOCK_SPACE = 7242003;

/** A PostgreSQL literal of an integer or a string (see the file's comment). */
export function pgLiteral(value: string | number | null): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`not an integer for SQL: ${value}`);
    return String(value);
  }
  if (value.includes('\u0000')) throw new Error('a NUL character cannot be sent to PostgreSQL');
  return `E'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

const lit = pgLiteral;
const list = (values: ReadonlyArray<string | number>) => values.map(lit).join(', ');

/** A text[] literal. */
function textArray(values: readonly string[]): string {
  return values.length === 0 ? `'{}'::text[]` : `ARRAY[${list(values)}]::text[]`;
}

/** A bigint[] literal. */
function bigintArray(values: readonly number[]): string {
  return values.length === 0 ? `'{}'::bigint[]` : `ARRAY[${list(values)}]::bigint[]`;
}

/** The statements prepared on each connection that runs a batch, by name. */
const PG_STATEMENTS: Record<string, string> = {
  // $1 project, $2 now, $3 candidates to look at, $4 lease ids, $5 executor ids, $6 lease expiry.
  tideline_claim_run: `(text, bigint, int, text[], text[], bigint) AS
    WITH "cand" AS (
      SELECT "t"."id", "t"."model", "t"."version", "t"."not_before_ts" FROM "tasks" AS "t"
      WHERE "t"."project_id" = $1 AND "t"."queue" = 'run' AND "t"."status" = 'pending'
        AND "t"."not_before_ts" <= $2
        AND ("t"."model" IS NULL OR NOT EXISTS (
          SELECT 1 FROM "tasks" AS "o"
          WHERE "o"."project_id" = "t"."project_id" AND "o"."model" = "t"."model"
            AND "o"."version" IS NOT DISTINCT FROM "t"."version" AND "o"."status" = 'claimed'))
      ORDER BY "t"."not_before_ts"
      LIMIT $3
      FOR UPDATE OF "t" SKIP LOCKED
    ), "picked" AS (
      SELECT "id", row_number() OVER (ORDER BY "not_before_ts", "id") AS "n" FROM (
        SELECT "id", "model", "not_before_ts", row_number() OVER (
          PARTITION BY "model", "version" ORDER BY "not_before_ts", "id") AS "k"
        FROM "cand") AS "c"
      WHERE "model" IS NULL OR "k" = 1
    )
    UPDATE "tasks" SET
      "status" = 'claimed',
      "lease_id" = ($4::text[])["picked"."n"::int],
      "fencing_token" = "tasks"."fencing_token" + 1,
      "lease_expires_ts" = $6,
      "executor_id" = ($5::text[])["picked"."n"::int],
      "attempts" = "tasks"."attempts" + 1,
      "started_ts" = $2,
      "updated_ts" = $2
    FROM "picked"
    WHERE "tasks"."id" = "picked"."id" AND "picked"."n" <= cardinality($4::text[])
    RETURNING "tasks"."id", "tasks"."attempts", "tasks"."fencing_token", "tasks"."payload",
      "tasks"."lease_id"`,
  // $1 now, $2 task ids, $3 their projects, $4 lease ids, $5 fencing tokens.
  tideline_complete_succeeded: `(bigint, text[], text[], text[], bigint[]) AS
    WITH "r" AS (
      SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[])
        AS "r"("id", "project_id", "lease_id", "fencing_token")
    ), "done" AS (
      UPDATE "tasks" SET "status" = 'succeeded', "lease_expires_ts" = NULL, "updated_ts" = $1,
        "error" = NULL, "finished_ts" = $1
      FROM "r"
      WHERE "tasks"."id" = "r"."id" AND "tasks"."project_id" = "r"."project_id"
        -- Written so that only the primary key finds the rows: between vacuums the status
        -- and lease indexes hold an entry for every claim made, and scanning them is slower.
        AND ("tasks"."status" || '') = 'claimed' AND "tasks"."lease_id" = "r"."lease_id"
        AND "tasks"."fencing_token" = "r"."fencing_token" AND "tasks"."lease_expires_ts" - $1 > 0
      RETURNING "tasks"."id", "tasks"."project_id", "tasks"."queue", "tasks"."run_id",
        "tasks"."plan_id", "tasks"."model", "tasks"."executor_id"
    ), "plans_done" AS (
      UPDATE "plans" SET "status" = 'succeeded', "updated_ts" = $1, "error" = NULL,
        "finished_ts" = $1
      WHERE ("id", "project_id") IN (
          SELECT "plan_id", "project_id" FROM "done" WHERE "plan_id" IS NOT NULL)
        AND "status" IN ('pending', 'applying')
      RETURNING "id"
    )
    SELECT * FROM "done"`,
  // $1 now, $2 projects, $3 task ids that may have succeeded just now.
  tideline_release_waiting: `(bigint, text[], text[]) AS
    UPDATE "tasks" AS "w" SET "status" = 'pending', "not_before_ts" = $1, "updated_ts" = $1
    WHERE "w"."project_id" = ANY($2) AND "w"."status" = 'waiting'
      AND ("w"."depends_on"::jsonb) ?| $3
      AND NOT EXISTS (
        SELECT 1 FROM jsonb_array_elements_text("w"."depends_on"::jsonb) AS "d"("id")
        LEFT JOIN "tasks" AS "s" ON "s"."id" = "d"."id" AND "s"."project_id" = "w"."project_id"
        WHERE "s"."status" IS DISTINCT FROM 'succeeded')
    RETURNING "w"."project_id", "w"."queue"`,
};

/** The statements of {@link PG_STATEMENTS} prepared on each connection so far. */
const preparedOn = new WeakMap<pg.PoolClient, Set<string>>();

/**
 * Runs `statements` (plain SQL, or `EXECUTE`s of the named statements in
 * `uses`) as one transaction in one round trip; one result per statement.
 * A connection prepares the named statements it lacks first, on their own.
 */
async function pgBatch(
  pool: pg.Pool,
  uses: readonly string[],
  statements: readonly string[],
): Promise<pg.QueryResult[]> {
  const client = await pool.connect();
  let have = preparedOn.get(client);
  if (!have) {
    have = new Set();
    preparedOn.set(client, have);
  }
  const missing = uses.filter((name) => !have.has(name));
  if (missing.length > 0) {
    try {
      await client.query(
        missing.map((name) => `PREPARE ${name} ${PG_STATEMENTS[name]}`).join(';\n'),
      );
    } catch (err) {
      // What this connection holds is not known now: the pool drops it.
      client.release(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
    for (const name of missing) have.add(name);
  }
  try {
    const result = (await client.query(statements.join(';\n'))) as unknown as
      pg.QueryResult | pg.QueryResult[];
    return Array.isArray(result) ? result : [result];
  } finally {
    client.release();
  }
}

const statementCache = new WeakMap<Database.Database, Map<string, Database.Statement>>();

function prepared(database: Database.Database, text: string): Database.Statement {
  let cache = statementCache.get(database);
  if (!cache) {
    cache = new Map();
    statementCache.set(database, cache);
  }
  let statement = cache.get(text);
  if (!statement) {
    statement = database.prepare(text);
    cache.set(text, statement);
  }
  return statement;
}

/** Runs `fn` in one immediate transaction on SQLite, holding Kysely's connection. */
async function sqliteTransaction<T>(
  store: Store,
  fn: (database: Database.Database) => T,
): Promise<T> {
  const driver = store.driver;
  if (driver.kind !== 'sqlite') throw new Error('not a SQLite store');
  return store.db
    .connection()
    .execute(async () => driver.database.transaction(() => fn(driver.database)).immediate());
}

/** A claimed task as the claim statement returns it. */
export interface ClaimedRow {
  id: string;
  attempts: number;
  fencing_token: number;
  payload: string;
  lease_id: string;
}

export interface RunClaimBatch {
  projectId: string;
  now: number;
  expiresTs: number;
  /** One claimer per entry: its new lease id and its executor. */
  leaseIds: readonly string[];
  executorIds: readonly string[];
}

/**
 * Claims run-queue tasks, one per claimer at most. Claimable: pending, due,
 * and no task of the same model and version claimed (also none twice in the
 * batch: the first of each is taken).
 * A batch short because candidates shared a model is followed by another.
 *
 * On PostgreSQL the batch first takes the project's run-claim advisory lock,
 * so the batches of several cloud replicas run one after the other and each
 * claim statement's snapshot sees every claim committed before it (no model
 * and version is claimed twice); `SKIP LOCKED` steps over tasks that a
 * completion or the lease reaper holds at that moment.
 */
export async function claimRunTasks(store: Store, batch: RunClaimBatch): Promise<ClaimedRow[]> {
  // A few candidates more than claimers, for ones dropped as a second task of a model.
  const scan = batch.leaseIds.length + 4;
  const { projectId, now } = batch;
  if (store.driver.kind === 'postgres') {
    const uses = ['tideline_claim_run'];
    const statements = [
      // Not durable: a claim lost in a crash makes its lease stale, which the protocol survives.
      `SELECT set_config('synchronous_commit', 'off', true), pg_advisory_xact_lock(${RUN_CLAIM_LOCK_SPACE}, hashtext(${lit(projectId)}))`,
      `EXECUTE tideline_claim_run(${lit(projectId)}, ${lit(now)}, ${lit(scan)}, ${textArray(batch.leaseIds)}, ${textArray(batch.executorIds)}, ${lit(batch.expiresTs)})`,
    ];
    const results = await pgBatch(store.driver.pool, uses, statements);
    return results[1]!.rows as ClaimedRow[];
  }
  return sqliteTransaction(store, (database) => {
    const rows = prepared(
      database,
      `WITH "who" AS (
        SELECT "value" ->> 0 AS "lease_id", "value" ->> 1 AS "executor_id", "key" + 1 AS "n"
        FROM json_each(@who)),
      "cand" AS (
        SELECT "t"."id", "t"."model", "t"."version", "t"."not_before_ts" FROM "tasks" AS "t"
        WHERE "t"."project_id" = @projectId AND "t"."queue" = 'run' AND "t"."status" = 'pending'
          AND "t"."not_before_ts" <= @now
          AND ("t"."model" IS NULL OR NOT EXISTS (
            SELECT 1 FROM "tasks" AS "o"
            WHERE "o"."project_id" = "t"."project_id" AND "o"."model" = "t"."model"
              AND "o"."version" IS NOT DISTINCT FROM "t"."version" AND "o"."status" = 'claimed'))
        ORDER BY "t"."not_before_ts"
        LIMIT @scan
      ), "picked" AS (
        SELECT "id", row_number() OVER (ORDER BY "not_before_ts", "id") AS "n" FROM (
          SELECT "id", "model", "not_before_ts", row_number() OVER (
            PARTITION BY "model", "version" ORDER BY "not_before_ts", "id") AS "k"
          FROM "cand") AS "c"
        WHERE "model" IS NULL OR "k" = 1
      )
      UPDATE "tasks" SET
        "status" = 'claimed',
        "lease_id" = "who"."lease_id",
        "fencing_token" = "tasks"."fencing_token" + 1,
        "lease_expires_ts" = @expiresTs,
        "executor_id" = "who"."executor_id",
        "attempts" = "tasks"."attempts" + 1,
        "started_ts" = @now,
        "updated_ts" = @now
      FROM "picked" JOIN "who" ON "who"."n" = "picked"."n"
      WHERE "tasks"."id" = "picked"."id"
      RETURNING "id", "attempts", "fencing_token", "payload", "lease_id"`,
    ).all({
      who: JSON.stringify(batch.leaseIds.map((l, i) => [l, batch.executorIds[i]])),
      projectId,
      now,
      scan,
      expiresTs: batch.expiresTs,
    }) as ClaimedRow[];
    return rows;
  });
}

/** A succeeded completion to record: the task and the lease it was claimed under. */
export interface SucceededItem {
  projectId: string;
  taskId: string;
  leaseId: string;
  fencingToken: number;
}

/** A task that succeeded, as events about it need it. */
export interface SucceededRow {
  id: string;
  project_id: string;
  queue: TaskQueue;
  run_id: string | null;
  plan_id: string | null;
  model: string | null;
  executor_id: string | null;
}

export interface SucceededBatch {
  /** The tasks whose lease was current, now succeeded. */
  done: SucceededRow[];
  /** Waiting tasks released to pending: their project and queue. */
  released: Array<{ project_id: string; queue: TaskQueue }>;
}

/**
 * Records succeeded completions (distinct task ids) in one transaction: the
 * tasks whose lease is current (claimed, same lease id and fencing token,
 * not expired) succeed, their plans too, and the waiting tasks whose dependencies have now all
 * succeeded become pending. A task whose lease is not current is left as it
 * is (absent from `done`).
 *
 * The transaction is not durable on PostgreSQL (`synchronous_commit` off
 * for it alone): a crash may forget the last moments of completions, which
 * the protocol survives. A forgotten success leaves its task claimed under
 * a lease that expires, so the lease reaper hands it out again, and the
 * evaluation it stands for is idempotent (its interval rows are replaced,
 * and intervals are recorded through the state API, whose writes stay
 * durable). Dependants wait until that second success.
 */
export async function completeSucceededTasks(
  store: Store,
  items: readonly SucceededItem[],
  now: number,
): Promise<SucceededBatch> {
  const ids = items.map((i) => i.taskId);
  const projects = [...new Set(items.map((i) => i.projectId))];
  if (store.driver.kind === 'postgres') {
    const results = await pgBatch(
      store.driver.pool,
      ['tideline_complete_succeeded', 'tideline_release_waiting'],
      [
        `SELECT set_config('synchronous_commit', 'off', true)`,
        `EXECUTE tideline_complete_succeeded(${lit(now)}, ${textArray(ids)}, ${textArray(items.map((i) => i.projectId))}, ${textArray(items.map((i) => i.leaseId))}, ${bigintArray(items.map((i) => i.fencingToken))})`,
        `EXECUTE tideline_release_waiting(${lit(now)}, ${textArray(projects)}, ${textArray(ids)})`,
      ],
    );
    return {
      done: results[1]!.rows as SucceededRow[],
      released: results[2]!.rows as SucceededBatch['released'],
    };
  }
  return sqliteTransaction(store, (database) => {
    const done = prepared(
      database,
      `UPDATE "tasks" SET "status" = 'succeeded', "lease_expires_ts" = NULL, "updated_ts" = @now,
        "error" = NULL, "finished_ts" = @now
      FROM (
        SELECT "value" ->> 0 AS "id", "value" ->> 1 AS "project_id", "value" ->> 2 AS "lease_id",
          "value" ->> 3 AS "fencing_token"
        FROM json_each(@items)) AS "r"
      WHERE "tasks"."id" = "r"."id" AND "tasks"."project_id" = "r"."project_id"
        AND "tasks"."status" = 'claimed' AND "tasks"."lease_id" = "r"."lease_id"
        AND "tasks"."fencing_token" = "r"."fencing_token" AND "tasks"."lease_expires_ts" > @now
      RETURNING "id", "project_id", "queue", "run_id", "plan_id", "model", "executor_id"`,
    ).all({
      now,
      items: JSON.stringify(items.map((i) => [i.taskId, i.projectId, i.leaseId, i.fencingToken])),
    }) as SucceededRow[];
    if (done.length === 0) return { done, released: [] };
    const plans = done.filter((d) => d.plan_id !== null).map((d) => [d.plan_id, d.project_id]);
    if (plans.length > 0) {
      prepared(
        database,
        `UPDATE "plans" SET "status" = 'succeeded', "updated_ts" = @now, "error" = NULL,
          "finished_ts" = @now
        WHERE "status" IN ('pending', 'applying') AND EXISTS (
          SELECT 1 FROM json_each(@plans) AS "p"
          WHERE "p"."value" ->> 0 = "plans"."id" AND "p"."value" ->> 1 = "plans"."project_id")`,
      ).run({ now, plans: JSON.stringify(plans) });
    }
    const released = prepared(
      database,
      `UPDATE "tasks" AS "w" SET "status" = 'pending', "not_before_ts" = @now, "updated_ts" = @now
      WHERE "w"."status" = 'waiting' AND "w"."project_id" IN (SELECT "value" FROM json_each(@projects))
        AND EXISTS (
          SELECT 1 FROM json_each("w"."depends_on") AS "d"
          WHERE "d"."value" IN (SELECT "value" FROM json_each(@ids)))
        AND NOT EXISTS (
          SELECT 1 FROM json_each("w"."depends_on") AS "d"
          LEFT JOIN "tasks" AS "s" ON "s"."id" = "d"."value" AND "s"."project_id" = "w"."project_id"
          WHERE "s"."status" IS NOT 'succeeded')
      RETURNING "project_id", "queue"`,
    ).all({
      now,
      projects: JSON.stringify(projects),
      ids: JSON.stringify(done.map((d) => d.id)),
    }) as SucceededBatch['released'];
    return { done, released };
  });
}
