/**
 * The executor-facing task API, under `<project>/api` (executor role):
 *
 * - `POST /tasks/claim` `{executorId, waitMs?, max?}`: a long poll for the
 *   next task of the executor's queue; 200 with a ClaimedTask (with `max`:
 *   `{tasks: [...]}`, one task or up to `max`), 204 when none came.
 * - `POST /tasks/:id/heartbeat` `{leaseId, fencingToken}`: renews the lease.
 * - `POST /tasks/:id/progress` ProgressReport: log lines and evaluations.
 * - `POST /tasks/:id/complete` CompleteRequest: the final status.
 * - `POST /tasks/complete` `{items: [{taskId, ...CompleteRequest}]}`: several
 *   at once; one result per item, a refused item (`{taskId, error}`) does
 *   not stop the others.
 * - `POST /tasks/:id/release` `{leaseId, fencingToken}`: hands the task back.
 *
 * Every write presents the lease; a stale one is refused with 409
 * `stale_lease` and nothing is stored.
 */
import type { Context } from 'hono';
import { z } from 'zod';
import type { CloudContext } from '../context.js';
import type { Store } from '../store/database.js';
import type { ExecutorKind } from '../../protocol/messages.js';
import { findExecutor } from '../executors/executor-registry.js';
import type { RouteModule } from '../http/app.js';
import { ApiError, notFound } from '../http/api-error.js';
import { readJson } from '../http/json-body.js';
import { requirePermission, type CloudEnv } from '../http/project-scope.js';
import { claimedTaskJson, MAX_CLAIM_PER_REQUEST, waitAndClaim } from './claim.js';
import { completeTask, recordProgress } from './completion.js';
import { releaseTask, renewLease } from './leases.js';
import { perKey } from './coalescer.js';

const MAX_TEXT = 100_000;
const MAX_ITEMS = 10_000;

const id = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, 'must be an id (letters, digits, _ . : -)');
const epochMs = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const leaseFields = {
  leaseId: z.string().min(1).max(100),
  fencingToken: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
};

export const ClaimBody = z.strictObject({
  executorId: id,
  waitMs: z.number().int().min(0).max(3_600_000).optional(),
  max: z.number().int().min(1).max(MAX_CLAIM_PER_REQUEST).optional(),
});

export const LeaseBody = z.strictObject(leaseFields);

export const ProgressBody = z.strictObject({
  ...leaseFields,
  logs: z
    .array(
      z.strictObject({
        level: z.enum(['debug', 'info', 'warn', 'error']),
        message: z.string().max(MAX_TEXT),
        ts: epochMs,
      }),
    )
    .max(MAX_ITEMS)
    .optional(),
  evaluations: z
    .array(
      z
        .strictObject({
          model: z.string().min(1).max(1_000),
          identifier: z.string().min(1).max(200),
          version: z.string().min(1).max(200),
          interval: z.tuple([epochMs, epochMs]),
          status: z.enum(['succeeded', 'failed']),
          rows: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
          durationMs: z.number().min(0).max(Number.MAX_SAFE_INTEGER),
          error: z.string().max(MAX_TEXT).optional(),
        })
        .refine((e) => e.interval[0] < e.interval[1], {
          message: 'interval must be [start, end) with start < end',
          path: ['interval'],
        }),
    )
    .max(MAX_ITEMS)
    .optional(),
  progress: z.record(z.string().max(200), z.unknown()).optional(),
});

const completeFields = {
  ...leaseFields,
  status: z.enum(['succeeded', 'failed']),
  error: z.string().max(MAX_TEXT).optional(),
  retryable: z.boolean().optional(),
};

export const CompleteBody = z.strictObject(completeFields);

/** Most completions in one batched request. */
const MAX_COMPLETIONS = 1_000;

export const CompleteBatchBody = z.strictObject({
  items: z
    .array(z.strictObject({ taskId: id, ...completeFields }))
    .min(1)
    .max(MAX_COMPLETIONS),
});

/**
 * Executors by id, remembered per store: an executor's id and kind never
 * change and executors are never deleted, so a hit is as good as a look-up.
 */
const executorsOf = perKey(
  (_store: Store) => new Map<string, { id: string; kind: ExecutorKind; name: string }>(),
);

async function executorOf(
  ctx: CloudContext,
  projectId: string,
  executorId: string,
): Promise<{ id: string; kind: ExecutorKind; name: string }> {
  const known = executorsOf(ctx.store);
  const key = `${projectId}\u0000${executorId}`;
  const hit = known.get(key);
  if (hit) return hit;
  const found = await findExecutor(ctx, projectId, executorId);
  if (known.size >= 10_000) known.clear();
  known.set(key, found);
  return found;
}

function taskId(c: Context<CloudEnv>): string {
  const value = c.req.param('id') ?? '';
  if (!id.safeParse(value).success) throw notFound(`no task ${JSON.stringify(value.slice(0, 80))}`);
  return value;
}

export const taskRoutes: RouteModule = {
  name: 'tasks',
  project(app, ctx: CloudContext) {
    app.post('/tasks/claim', async (c) => {
      requirePermission(c, 'executor');
      const body = await readJson(c, ClaimBody);
      const projectId = c.get('project').id;
      const executor = await executorOf(ctx, projectId, body.executorId);
      const waitMs = Math.min(body.waitMs ?? ctx.settings.claimWaitMs, ctx.settings.claimWaitMs);
      const claims = await waitAndClaim(
        ctx,
        projectId,
        executor.id,
        executor.kind,
        waitMs,
        c.req.raw.signal,
        body.max ?? 1,
      );
      if (claims.length === 0) return c.body(null, 204);
      const json =
        body.max === undefined
          ? claimedTaskJson(claims[0]!)
          : `{"tasks":[${claims.map(claimedTaskJson).join(',')}]}`;
      return c.body(json, 200, { 'content-type': 'application/json' });
    });

    app.post('/tasks/complete', async (c) => {
      requirePermission(c, 'executor');
      const body = await readJson(c, CompleteBatchBody);
      const projectId = c.get('project').id;
      // Together, so that the succeeded ones share one store transaction.
      const outcomes = await Promise.allSettled(
        body.items.map(({ taskId: task, ...request }) =>
          completeTask(ctx, projectId, task, request),
        ),
      );
      const results = outcomes.map((o, i) => {
        const taskId = body.items[i]!.taskId;
        if (o.status === 'fulfilled') return { taskId, ...o.value };
        if (o.reason instanceof ApiError) {
          return { taskId, error: { code: o.reason.code, message: o.reason.message } };
        }
        throw o.reason;
      });
      return c.json({ results });
    });

    app.post('/tasks/:id/heartbeat', async (c) => {
      requirePermission(c, 'executor');
      const task = taskId(c);
      const body = await readJson(c, LeaseBody);
      return c.json(
        await renewLease(ctx, c.get('project').id, task, body.leaseId, body.fencingToken),
      );
    });

    app.post('/tasks/:id/progress', async (c) => {
      requirePermission(c, 'executor');
      const task = taskId(c);
      const body = await readJson(c, ProgressBody);
      return c.json(await recordProgress(ctx, c.get('project').id, task, body));
    });

    app.post('/tasks/:id/complete', async (c) => {
      requirePermission(c, 'executor');
      const task = taskId(c);
      const body = await readJson(c, CompleteBody);
      return c.json(await completeTask(ctx, c.get('project').id, task, body));
    });

    app.post('/tasks/:id/release', async (c) => {
      requirePermission(c, 'executor');
      const task = taskId(c);
      const body = await readJson(c, LeaseBody);
      await releaseTask(ctx, c.get('project').id, task, body.leaseId, body.fencingToken);
      return c.json({ status: 'pending' });
    });
  },
};
