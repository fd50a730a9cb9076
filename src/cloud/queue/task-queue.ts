/**
 * Durable tasks in two queues, `run` and `apply`. This file holds how tasks
 * are created; claiming, leases and completion build on the same table.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { CloudContext } from '../context.js';
import type { DB, TaskQueue } from '../store/schema.js';

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

/** Inserts tasks (in `db`, which may be a transaction) and announces them; returns their ids. */
export async function enqueueTasks(
  ctx: CloudContext,
  projectId: string,
  tasks: readonly NewTask[],
  db: Kysely<DB> | Transaction<DB> = ctx.store.db,
): Promise<string[]> {
  if (tasks.length === 0) return [];
  const now = ctx.clock.now();
  const rows = tasks.map((t) => ({
    id: t.id ?? randomUUID(),
    project_id: projectId,
    queue: t.queue,
    kind: t.kind,
    environment: t.environment,
    status: (t.dependsOn?.length ? 'waiting' : 'pending') as 'waiting' | 'pending',
    payload: JSON.stringify(t.payload),
    depends_on: JSON.stringify(t.dependsOn ?? []),
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
    finished_ts: null,
    error: null,
  }));
  for (let i = 0; i < rows.length; i += 200) {
    await db
      .insertInto('tasks')
      .values(rows.slice(i, i + 200))
      .execute();
  }
  for (const queue of new Set(tasks.map((t) => t.queue))) {
    ctx.events.publish({ projectId, type: 'task.queued', payload: { queue }, ts: now });
  }
  return rows.map((r) => r.id);
}
