/**
 * Durable tasks in two queues, `run` and `apply`. This file holds how tasks
 * are created; claiming (claim.ts), leases (leases.ts) and completion
 * (completion.ts) build on the same table.
 *
 * A task's life: `waiting` (for the tasks it depends on) -> `pending`
 * (claimable once `not_before_ts` has passed) -> `claimed` (an executor holds
 * its lease) -> `succeeded`, `failed`, or back to `pending` (a retry, or a
 * lease that expired). A waiting task whose dependency fails for good is
 * `cancelled`, and so are its own dependants.
 */
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { CloudContext } from '../context.js';
import type { DB, TaskQueue, TaskStatus } from '../store/schema.js';
import { chunks } from '../../engine/state/state-helpers.js';

export interface NewTask {
  queue: TaskQueue;
  /** `evaluate` or `apply_plan`. */
  kind: string;
  environment: string;
  /** The protocol's TaskPayload, stored as JSON. */
  payload: unknown;
  /** Tasks that must succeed first (waiting until they have). */
  dependsOn?: string[];
  runId?: string;
  planId?: string;
  model?: string;
  version?: string;
  maxAttempts?: number;
  notBeforeTs?: number;
  /** Give the id (to wire dependencies before inserting). */
  id?: string;
}

export interface EnqueueOptions {
  /**
   * Publish `task.queued` at once (the default). Inside a transaction on
   * PostgreSQL, pass false and call {@link announceTasks} after the commit, so
   * that the claims it wakes can see the new rows.
   */
  announce?: boolean;
}

/** Wakes the claims waiting on `queues` of the project (`task.queued`). */
export function announceTasks(
  ctx: CloudContext,
  projectId: string,
  queues: Iterable<TaskQueue>,
): void {
  const ts = ctx.clock.now();
  for (const queue of new Set(queues)) {
    ctx.events.publish({ projectId, type: 'task.queued', payload: { queue }, ts });
  }
}

/** The status of each of the project's tasks among `ids` (absent: no such task). */
export async function taskStatuses(
  db: Kysely<DB> | Transaction<DB>,
  projectId: string,
  ids: readonly string[],
): Promise<Map<string, TaskStatus>> {
  const status = new Map<string, TaskStatus>();
  for (const group of chunks(ids, 500)) {
    const rows = await db
      .selectFrom('tasks')
      .select(['id', 'status'])
      .where('project_id', '=', projectId)
      .where('id', 'in', group)
      .execute();
    for (const r of rows) status.set(r.id, r.status);
  }
  return status;
}

/**
 * Inserts tasks (in `db`, which may be a transaction) and announces them;
 * returns their ids. A task that depends only on tasks outside the batch that
 * already succeeded starts `pending`; one that depends on a task that failed
 * or was cancelled starts `cancelled`.
 */
export async function enqueueTasks(
  ctx: CloudContext,
  projectId: string,
  tasks: readonly NewTask[],
  db: Kysely<DB> | Transaction<DB> = ctx.store.db,
  options: EnqueueOptions = {},
): Promise<string[]> {
  if (tasks.length === 0) return [];
  const now = ctx.clock.now();
  const ids = tasks.map((t) => t.id ?? randomUUID());
  const inBatch = new Set(ids);
  const external = [
    ...new Set(tasks.flatMap((t) => (t.dependsOn ?? []).filter((d) => !inBatch.has(d)))),
  ];
  const known = await taskStatuses(db, projectId, external);
  // Settle what the stored tasks already decide, then carry cancellations through the batch.
  const status = new Map<string, TaskStatus>();
  const errors = new Map<string, string>();
  tasks.forEach((t, i) => {
    const deps = t.dependsOn ?? [];
    let s: TaskStatus = deps.length ? 'waiting' : 'pending';
    const broken = deps.find((d) => {
      const k = known.get(d);
      return k === 'failed' || k === 'cancelled';
    });
    if (broken !== undefined) {
      s = 'cancelled';
      errors.set(ids[i]!, `upstream task ${broken} ${known.get(broken)}`);
    } else if (deps.length && deps.every((d) => known.get(d) === 'succeeded')) {
      s = 'pending';
    }
    status.set(ids[i]!, s);
  });
  for (let changed = true; changed;) {
    changed = false;
    tasks.forEach((t, i) => {
      const id = ids[i]!;
      if (status.get(id) !== 'waiting') return;
      const broken = (t.dependsOn ?? []).find((d) => status.get(d) === 'cancelled');
      if (broken === undefined) return;
      status.set(id, 'cancelled');
      errors.set(id, `upstream task ${broken} cancelled`);
      changed = true;
    });
  }
  const rows = tasks.map((t, i) => {
    const deps = t.dependsOn ?? [];
    const s = status.get(ids[i]!)!;
    return {
      id: ids[i]!,
      project_id: projectId,
      queue: t.queue,
      kind: t.kind,
      environment: t.environment,
      status: s,
      payload: JSON.stringify(t.payload),
      depends_on: JSON.stringify(deps),
      run_id: t.runId ?? null,
      plan_id: t.planId ?? null,
      model: t.model ?? null,
      version: t.version ?? null,
      attempts: 0,
      max_attempts: t.maxAttempts ?? ctx.settings.maxAttempts,
      not_before_ts: t.notBeforeTs ?? now,
      lease_id: null,
      fencing_token: 0,
      lease_expires_ts: null,
      executor_id: null,
      created_ts: now,
      updated_ts: now,
      started_ts: null,
      finished_ts: s === 'cancelled' ? now : null,
      error: errors.get(ids[i]!) ?? null,
    };
  });
  if (ctx.store.driver.kind === 'postgres') {
    for (const group of chunks(rows, 1_000)) await insertTaskArrays(db, group);
  } else {
    for (const group of chunks(rows, 200)) await db.insertInto('tasks').values(group).execute();
  }
  if (options.announce !== false) {
    announceTasks(
      ctx,
      projectId,
      tasks.map((t) => t.queue),
    );
  }
  return ids;
}

/** The columns of a task row and their PostgreSQL array types, in insert order. */
const TASK_COLUMNS = [
  ['id', 'text'],
  ['project_id', 'text'],
  ['queue', 'text'],
  ['kind', 'text'],
  ['environment', 'text'],
  ['status', 'text'],
  ['payload', 'text'],
  ['depends_on', 'text'],
  ['run_id', 'text'],
  ['plan_id', 'text'],
  ['model', 'text'],
  ['version', 'text'],
  ['attempts', 'int'],
  ['max_attempts', 'int'],
  ['not_before_ts', 'bigint'],
  ['lease_id', 'text'],
  ['fencing_token', 'bigint'],
  ['lease_expires_ts', 'bigint'],
  ['executor_id', 'text'],
  ['created_ts', 'bigint'],
  ['updated_ts', 'bigint'],
  ['started_ts', 'bigint'],
  ['finished_ts', 'bigint'],
  ['error', 'text'],
] as const;

/**
 * Inserts task rows on PostgreSQL with one array per column (`unnest`): a
 * statement of the same small shape whatever the number of rows, instead of
 * one with 24 parameters a row that the server parses and plans each time.
 */
async function insertTaskArrays(
  db: Kysely<DB> | Transaction<DB>,
  rows: ReadonlyArray<Record<(typeof TASK_COLUMNS)[number][0], unknown>>,
): Promise<void> {
  const columns = sql.join(TASK_COLUMNS.map(([name]) => sql.ref(name)));
  const arrays = sql.join(
    TASK_COLUMNS.map(([name, type]) => sql`${rows.map((r) => r[name])}::${sql.raw(type)}[]`),
  );
  await sql`INSERT INTO "tasks" (${columns}) SELECT * FROM unnest(${arrays})`.execute(db);
}
