/**
 * Executor bookkeeping on the queue's hot paths: every claim, heartbeat and
 * progress report marks its executor seen, and every completion, hand-back
 * and expired lease counts; under load thousands of these arrive each
 * second. They are noted in memory once the task's change has committed and
 * go through one coalescer per store, so one statement updates every
 * executor touched meanwhile (last seen, counts added up), one statement at
 * a time per process, after the answer: task writes never wait for it, nor
 * lock executor rows. Readers of the registry in this process wait for
 * what was noted before they read ({@link executorNotesWritten}).
 *
 * The counts are statistics: a crash of the cloud may lose the last few
 * milliseconds of them, never a task's state.
 */
import { sql } from 'kysely';
import type { CloudContext } from '../context.js';
import type { ExecutorCounts } from '../executors/executor-registry.js';
import type { Store } from '../store/database.js';
import { Coalescer, perKey, type BatchOutcome } from './coalescer.js';
import { retryOnDeadlock } from './write-transaction.js';

interface Touch {
  projectId: string;
  executorId: string;
  /** When seen (epoch ms), or null for counts only. */
  seenTs: number | null;
  counts: ExecutorCounts;
}

interface Row {
  id: string;
  projectId: string;
  seenTs: number | null;
  completed: number;
  failed: number;
  retried: number;
  aborted: number;
}

/** Adds up the touches of one executor; sorted by id so locks are taken in one order. */
function merge(touches: readonly Touch[]): Row[] {
  const rows = new Map<string, Row>();
  for (const t of touches) {
    const key = `${t.projectId}\u0000${t.executorId}`;
    let row = rows.get(key);
    if (!row) {
      row = {
        id: t.executorId,
        projectId: t.projectId,
        seenTs: null,
        completed: 0,
        failed: 0,
        retried: 0,
        aborted: 0,
      };
      rows.set(key, row);
    }
    if (t.seenTs !== null) row.seenTs = Math.max(row.seenTs ?? 0, t.seenTs);
    row.completed += t.counts.completed ?? 0;
    row.failed += t.counts.failed ?? 0;
    row.retried += t.counts.retried ?? 0;
    row.aborted += t.counts.aborted ?? 0;
  }
  return [...rows.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

async function writePostgres(store: Store, rows: readonly Row[]): Promise<void> {
  // One statement, its own transaction, not flushed to the WAL at commit: these
  // are statistics, and a crash may lose the last moment of them.
  await sql`
    WITH "relaxed" AS (
      SELECT set_config('synchronous_commit', 'off', true) AS "v"
    ), "d" AS (
      SELECT * FROM unnest(
        ${rows.map((r) => r.id)}::text[], ${rows.map((r) => r.projectId)}::text[],
        ${rows.map((r) => r.seenTs)}::bigint[], ${rows.map((r) => r.completed)}::int[],
        ${rows.map((r) => r.failed)}::int[], ${rows.map((r) => r.retried)}::int[],
        ${rows.map((r) => r.aborted)}::int[]
      ) AS "d"("id", "project_id", "seen_ts", "completed", "failed", "retried", "aborted")
    ), "locked" AS (
      SELECT "e"."id" FROM "executors" AS "e"
      JOIN "d" ON "d"."id" = "e"."id" AND "d"."project_id" = "e"."project_id"
      ORDER BY "e"."id" FOR UPDATE OF "e"
    )
    UPDATE "executors" AS "e" SET
      "last_seen_ts" = GREATEST(COALESCE("d"."seen_ts", "e"."last_seen_ts"), "e"."last_seen_ts"),
      "status" = CASE WHEN "d"."seen_ts" IS NULL THEN "e"."status" ELSE 'online' END,
      "completed" = "e"."completed" + "d"."completed",
      "failed" = "e"."failed" + "d"."failed",
      "retried" = "e"."retried" + "d"."retried",
      "aborted" = "e"."aborted" + "d"."aborted"
    FROM "d", "locked", "relaxed"
    WHERE "e"."id" = "d"."id" AND "e"."project_id" = "d"."project_id"
      AND "locked"."id" = "e"."id"`.execute(store.db);
}

async function writeSqlite(store: Store, rows: readonly Row[]): Promise<void> {
  const data = JSON.stringify(
    rows.map((r) => [r.id, r.projectId, r.seenTs, r.completed, r.failed, r.retried, r.aborted]),
  );
  await sql`
    UPDATE "executors" SET
      "last_seen_ts" = MAX(COALESCE("d"."seen_ts", "executors"."last_seen_ts"), "executors"."last_seen_ts"),
      "status" = CASE WHEN "d"."seen_ts" IS NULL THEN "executors"."status" ELSE 'online' END,
      "completed" = "executors"."completed" + "d"."completed",
      "failed" = "executors"."failed" + "d"."failed",
      "retried" = "executors"."retried" + "d"."retried",
      "aborted" = "executors"."aborted" + "d"."aborted"
    FROM (
      SELECT "value" ->> 0 AS "id", "value" ->> 1 AS "project_id", "value" ->> 2 AS "seen_ts",
        "value" ->> 3 AS "completed", "value" ->> 4 AS "failed", "value" ->> 5 AS "retried",
        "value" ->> 6 AS "aborted"
      FROM json_each(${data})
    ) AS "d"
    WHERE "executors"."id" = "d"."id" AND "executors"."project_id" = "d"."project_id"`.execute(
    store.db,
  );
}

async function write(store: Store, touches: Touch[]): Promise<Array<BatchOutcome<void>>> {
  const rows = merge(touches);
  // Executor rows are locked in id order (a sorted FOR UPDATE); a deadlock
  // with another kind of writer is broken by PostgreSQL and tried again.
  if (store.kind === 'postgres') await retryOnDeadlock(() => writePostgres(store, rows));
  else await writeSqlite(store, rows);
  return touches.map(() => ({ ok: true, value: undefined }));
}

/**
 * Notes are written at most every this many milliseconds: under load one
 * statement then carries every executor's notes of the moment, instead of
 * one statement after another as fast as the store answers.
 */
const NOTES_LINGER_MS = 50;

const coalescerOf = perKey(
  (store: Store) =>
    new Coalescer<Touch, void>((touches) => write(store, touches), 1_000, NOTES_LINGER_MS),
);

/**
 * Notes that an executor was seen now (unless `seen` is false) and adds
 * `counts`, to be written with the other notes of the moment; does not wait
 * for the write (a failed one is logged).
 */
export function noteExecutor(
  ctx: CloudContext,
  projectId: string,
  executorId: string,
  counts: ExecutorCounts = {},
  seen = true,
): void {
  coalescerOf(ctx.store)
    .submit({ projectId, executorId, seenTs: seen ? ctx.clock.now() : null, counts })
    .catch((err: unknown) =>
      ctx.log.warn('could not record executor bookkeeping', {
        executorId,
        error: err instanceof Error ? err.message : String(err),
      }),
    );
}

/** Resolves once every executor note made so far in this process is written. */
export function executorNotesWritten(ctx: CloudContext): Promise<void> {
  return coalescerOf(ctx.store).flushed();
}
