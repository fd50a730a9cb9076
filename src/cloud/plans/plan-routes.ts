/**
 * Plans over HTTP, under `<project>/api`:
 *
 * - `POST /plans` `{plan}` (plan.prod for prod, plan.dev otherwise): 201
 *   `{planId, status}`; 409 `stale_plan` when the environment changed since
 *   the plan was computed.
 * - `GET /plans/:id` (read): status, error, timestamps, summary, the submitter
 *   (`createdBy`) and their display name (`createdByName`).
 * - `GET /plans/:id/progress?after=<logId>&evaluationsAfter=<id>&limit=<n>`
 *   (read): log lines and evaluations so far, for the CLI to stream.
 * - `POST /plans/:id/cancel` (plan.prod / plan.dev by environment).
 */
import type { Context } from 'hono';
import { z } from 'zod';
import { environmentAction } from '../auth/permissions.js';
import type { CloudContext } from '../context.js';
import type { RouteModule } from '../http/app.js';
import { badRequest, notFound } from '../http/api-error.js';
import { describeZodError, readJson } from '../http/json-body.js';
import { requirePermission, type CloudEnv } from '../http/project-scope.js';
import { withCreatorNames } from '../observe/principals.js';
import {
  cancelPlan,
  getPlan,
  planEnvironment,
  planProgress,
  submitPlan,
  type SubmittedPlan,
} from './plan-submission.js';

const planId = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, 'must be a plan id (letters, digits, _ . : -)');
const environment = z
  .string()
  .min(1)
  .max(100)
  .regex(
    /^[a-z0-9_][a-z0-9_.-]*$/,
    'must be an environment name in lower case (letters, digits, _ . -)',
  );
const ms = z.number().int().min(-Number.MAX_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER);

/** The parts of the engine's Plan the cloud relies on; other fields travel as they are. */
export const PlanJson = z.looseObject({
  id: planId,
  environment,
  expectedPlanId: planId.nullable(),
  isNewEnvironment: z.boolean(),
  createdTs: ms,
  start: ms,
  end: ms,
  executionTime: ms,
  changes: z.array(z.looseObject({ name: z.string().max(1_000), type: z.string().max(50) })),
  newSnapshots: z.array(z.record(z.string(), z.unknown())),
  snapshots: z.array(z.record(z.string(), z.unknown())),
  promoted: z.array(z.string().max(2_000)),
  backfill: z.array(
    z.looseObject({
      name: z.string().max(1_000),
      batches: z.array(z.tuple([ms, ms])),
    }),
  ),
});

export const SubmitPlanBody = z.strictObject({ plan: PlanJson });

function planParam(c: Context<CloudEnv>): string {
  const value = c.req.param('id') ?? '';
  if (!planId.safeParse(value).success) {
    throw notFound(`no plan ${JSON.stringify(value.slice(0, 80))}`);
  }
  return value;
}

const ProgressQuery = z.strictObject({
  after: z
    .string()
    .regex(/^\d{1,15}$/, 'must be a log id (a whole number)')
    .optional(),
  evaluationsAfter: z.string().max(100).optional(),
  limit: z
    .string()
    .regex(/^\d{1,5}$/, 'must be a whole number from 1 to 5000')
    .optional(),
});

export const planRoutes: RouteModule = {
  name: 'plans',
  project(app, ctx: CloudContext) {
    app.post('/plans', async (c) => {
      // Who may plan nothing at all learns so before the body is read.
      requirePermission(c, 'plan.dev');
      const body = await readJson(c, SubmitPlanBody);
      const plan = body.plan as SubmittedPlan;
      const principal = requirePermission(c, environmentAction('plan', plan.environment));
      const answer = await submitPlan(ctx, c.get('project').id, plan, principal.name);
      return c.json(answer, 201);
    });

    app.get('/plans/:id', async (c) => {
      requirePermission(c, 'read');
      const projectId = c.get('project').id;
      const plan = await getPlan(ctx, projectId, planParam(c));
      const [named] = await withCreatorNames(ctx, projectId, [plan]);
      return c.json(named);
    });

    app.get('/plans/:id/progress', async (c) => {
      requirePermission(c, 'read');
      const id = planParam(c);
      const query = ProgressQuery.safeParse(c.req.query());
      if (!query.success) throw badRequest(describeZodError(query.error));
      const limit = query.data.limit === undefined ? 1_000 : Number(query.data.limit);
      if (limit < 1 || limit > 5_000)
        throw badRequest('limit: must be a whole number from 1 to 5000');
      return c.json(
        await planProgress(ctx, c.get('project').id, id, {
          ...(query.data.after !== undefined ? { after: Number(query.data.after) } : {}),
          ...(query.data.evaluationsAfter !== undefined
            ? { evaluationsAfter: query.data.evaluationsAfter }
            : {}),
          limit,
        }),
      );
    });

    app.post('/plans/:id/cancel', async (c) => {
      const id = planParam(c);
      const projectId = c.get('project').id;
      requirePermission(c, 'read');
      const env = await planEnvironment(ctx, projectId, id);
      requirePermission(c, environmentAction('plan', env));
      return c.json(await cancelPlan(ctx, projectId, id));
    });
  },
};
