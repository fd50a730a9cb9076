/**
 * Plans submitted to the cloud: the CLI computes a plan against the cloud's
 * state and submits it; the cloud refuses it when the environment changed
 * since (409 `stale_plan`), stores it, and queues one apply task. Apply tasks
 * of one environment run strictly in submission order (the claim rule), and
 * the executor checks the environment again before applying. The plan's
 * status follows its task: pending, applying, then succeeded, failed or
 * cancelled.
 */
import type { Kysely } from 'kysely';
import type {
  PlanInfo,
  PlanProgress,
  PlanStatusName,
  SubmitPlanResponse,
  TaskPayload,
} from '../../protocol/messages.js';
import type { CloudContext } from '../context.js';
import { conflict, notFound } from '../http/api-error.js';
import { announceTasks, enqueueTasks } from '../queue/task-queue.js';
import { writeTransaction } from '../queue/write-transaction.js';
import { EVALUATION_RECORD_COLUMNS, evaluationRecord, num } from '../observe/store-queries.js';
import type { DB } from '../store/schema.js';

/** What the cloud reads of a submitted plan; the rest travels as it came. */
export interface SubmittedPlan {
  id: string;
  environment: string;
  expectedPlanId: string | null;
  [key: string]: unknown;
}

const TERMINAL = new Set<PlanStatusName>(['succeeded', 'failed', 'cancelled']);

function count(value: unknown): number {
  return Array.isArray(value) ? value.length : 0;
}

/** The change summary shown for a plan: counts per change type, backfill size, range. */
export function summarizePlan(plan: SubmittedPlan): Record<string, unknown> {
  const changes: Record<string, number> = {};
  for (const change of Array.isArray(plan['changes']) ? (plan['changes'] as unknown[]) : []) {
    const type =
      change &&
      typeof change === 'object' &&
      typeof (change as { type?: unknown }).type === 'string'
        ? (change as { type: string }).type
        : 'other';
    changes[type] = (changes[type] ?? 0) + 1;
  }
  let batches = 0;
  const backfill = Array.isArray(plan['backfill']) ? (plan['backfill'] as unknown[]) : [];
  for (const item of backfill) {
    if (item && typeof item === 'object') batches += count((item as { batches?: unknown }).batches);
  }
  return {
    changes,
    backfill: { models: backfill.length, batches },
    newSnapshots: count(plan['newSnapshots']),
    restatements: count(plan['restatements']),
    ...(typeof plan['start'] === 'number' ? { start: plan['start'] } : {}),
    ...(typeof plan['end'] === 'number' ? { end: plan['end'] } : {}),
    isNewEnvironment: plan['isNewEnvironment'] === true,
    ...(plan['options'] && typeof plan['options'] === 'object' ? { options: plan['options'] } : {}),
    warnings: count(plan['warnings']),
  };
}

/**
 * Stores a plan and queues its apply task. Throws 409 `stale_plan` when the
 * environment's current plan is not the one the plan was computed against,
 * 409 `plan_exists` when the plan id was used before.
 */
export async function submitPlan(
  ctx: CloudContext,
  projectId: string,
  plan: SubmittedPlan,
  createdBy: string | null,
): Promise<SubmitPlanResponse> {
  const now = ctx.clock.now();
  await writeTransaction(ctx.store, async (tx) => {
    const env = await tx
      .selectFrom('environments')
      .select('plan_id')
      .where('project_id', '=', projectId)
      .where('name', '=', plan.environment)
      .executeTakeFirst();
    const current = env?.plan_id ?? null;
    if (current !== plan.expectedPlanId) {
      throw conflict(
        `environment ${plan.environment} changed since this plan was computed; run plan again`,
        'stale_plan',
      );
    }
    const taken = await tx
      .selectFrom('plans')
      .select('id')
      .where('id', '=', plan.id)
      .executeTakeFirst();
    if (taken) {
      throw conflict(
        `plan ${plan.id} was submitted before; run plan again for a new plan id`,
        'plan_exists',
      );
    }
    await tx
      .insertInto('plans')
      .values({
        id: plan.id,
        project_id: projectId,
        environment: plan.environment,
        status: 'pending',
        payload: JSON.stringify(plan),
        summary: JSON.stringify(summarizePlan(plan)),
        created_by: createdBy,
        created_ts: now,
        updated_ts: now,
        started_ts: null,
        finished_ts: null,
        error: null,
      })
      .execute();
    const payload: TaskPayload = {
      kind: 'apply_plan',
      planId: plan.id,
      environment: plan.environment,
      plan,
    };
    await enqueueTasks(
      ctx,
      projectId,
      [
        {
          queue: 'apply',
          kind: 'apply_plan',
          environment: plan.environment,
          payload,
          planId: plan.id,
        },
      ],
      tx,
      { announce: false },
    );
  });
  announceTasks(ctx, projectId, ['apply']);
  ctx.events.publish({
    projectId,
    type: 'plan.submitted',
    payload: { planId: plan.id, environment: plan.environment },
    ts: now,
  });
  return { planId: plan.id, status: 'pending' };
}

async function planRow(db: Kysely<DB>, projectId: string, planId: string) {
  const row = await db
    .selectFrom('plans')
    .select([
      'id',
      'environment',
      'status',
      'error',
      'created_by',
      'created_ts',
      'updated_ts',
      'started_ts',
      'finished_ts',
      'cancel_requested_ts',
      'summary',
    ])
    .where('id', '=', planId)
    .where('project_id', '=', projectId)
    .executeTakeFirst();
  if (!row) throw notFound(`no plan ${planId} in this project`);
  return row;
}

function parseSummary(text: string): Record<string, unknown> {
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** A plan's status, timestamps and summary; 404 when the project has no such plan. */
export async function getPlan(
  ctx: CloudContext,
  projectId: string,
  planId: string,
): Promise<PlanInfo> {
  const r = await planRow(ctx.store.db, projectId, planId);
  return {
    planId: r.id,
    environment: r.environment,
    status: r.status,
    error: r.error,
    createdBy: r.created_by,
    createdTs: Number(r.created_ts),
    updatedTs: Number(r.updated_ts),
    startedTs: num(r.started_ts),
    finishedTs: num(r.finished_ts),
    cancelRequestedTs: num(r.cancel_requested_ts),
    summary: parseSummary(r.summary),
  };
}

/**
 * Log lines (after log id `after`) and evaluations (after evaluation id
 * `evaluationsAfter`) of a plan, oldest first, at most `limit` of each.
 */
export async function planProgress(
  ctx: CloudContext,
  projectId: string,
  planId: string,
  options: { after?: number; evaluationsAfter?: string; limit?: number } = {},
): Promise<PlanProgress> {
  const db = ctx.store.db;
  const plan = await planRow(db, projectId, planId);
  const limit = options.limit ?? 1_000;
  const logs = await db
    .selectFrom('logs')
    .select(['id', 'level', 'message', 'ts'])
    .where('plan_id', '=', planId)
    .where('project_id', '=', projectId)
    .where('id', '>', options.after ?? 0)
    .orderBy('id')
    .limit(limit)
    .execute();
  const evaluations = await db
    .selectFrom('evaluations')
    .select(EVALUATION_RECORD_COLUMNS)
    .where('plan_id', '=', planId)
    .where('project_id', '=', projectId)
    .$if(options.evaluationsAfter !== undefined, (q) =>
      q.where('id', '>', options.evaluationsAfter!),
    )
    .orderBy('id')
    .limit(limit)
    .execute();
  const lastLog = logs[logs.length - 1];
  const lastEvaluation = evaluations[evaluations.length - 1];
  return {
    planId,
    status: plan.status,
    error: plan.error,
    logs: logs.map((l) => ({
      id: Number(l.id),
      level: (['debug', 'info', 'warn', 'error'] as const).find((x) => x === l.level) ?? 'info',
      message: l.message,
      ts: Number(l.ts),
    })),
    evaluations: evaluations.map(evaluationRecord),
    nextAfter: lastLog ? Number(lastLog.id) : (options.after ?? 0),
    nextEvaluationsAfter: lastEvaluation ? lastEvaluation.id : (options.evaluationsAfter ?? null),
  };
}

/** The environment of a plan of the project (to check permissions), or 404. */
export async function planEnvironment(
  ctx: CloudContext,
  projectId: string,
  planId: string,
): Promise<string> {
  return (await planRow(ctx.store.db, projectId, planId)).environment;
}

/**
 * Cancels a plan: a pending one at once (its apply task too); an applying
 * one is marked cancel-requested, which the apply executor learns from its
 * next heartbeat or progress report. 409 `plan_finished` for a finished plan.
 */
export async function cancelPlan(
  ctx: CloudContext,
  projectId: string,
  planId: string,
): Promise<PlanInfo> {
  const now = ctx.clock.now();
  const outcome = await writeTransaction(ctx.store, async (tx) => {
    const plan = await planRow(tx, projectId, planId);
    if (TERMINAL.has(plan.status)) {
      throw conflict(
        `plan ${planId} has already ${plan.status}; nothing to cancel`,
        'plan_finished',
      );
    }
    const res = await tx
      .updateTable('tasks')
      .set({
        status: 'cancelled',
        error: 'cancelled on request',
        finished_ts: now,
        updated_ts: now,
      })
      .where('project_id', '=', projectId)
      .where('plan_id', '=', planId)
      .where('status', 'in', ['pending', 'waiting'])
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) > 0) {
      await tx
        .updateTable('plans')
        .set({
          status: 'cancelled',
          error: 'cancelled on request',
          cancel_requested_ts: now,
          finished_ts: now,
          updated_ts: now,
        })
        .where('id', '=', planId)
        .execute();
      return 'cancelled' as const;
    }
    await tx
      .updateTable('plans')
      .set((eb) => ({
        cancel_requested_ts: eb.fn.coalesce('cancel_requested_ts', eb.val(now)),
        updated_ts: now,
      }))
      .where('id', '=', planId)
      .execute();
    return 'requested' as const;
  });
  if (outcome === 'cancelled') {
    ctx.events.publish({ projectId, type: 'task.ready', payload: { queue: 'apply' }, ts: now });
    ctx.events.publish({
      projectId,
      type: 'plan.finished',
      payload: { planId, status: 'cancelled', error: 'cancelled on request' },
      ts: now,
    });
  } else {
    ctx.events.publish({ projectId, type: 'plan.cancel_requested', payload: { planId }, ts: now });
  }
  return getPlan(ctx, projectId, planId);
}
