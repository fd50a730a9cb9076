/**
 * The runs API, under the project's `/api`:
 *
 * - `POST /runs {environment, ignoreCron?}`: a manual run now (run.dev, or
 *   run.prod for prod); 201 with the run, or 200 with `run: null` when
 *   nothing is due.
 * - `GET /runs?environment=&limit=`: runs, newest first (read).
 * - `GET /runs/:id`: a run with its tasks' statuses and who asked for it by
 *   name (`createdByName`) (read).
 * - `GET /environments/:env/freshness`: each model's freshness (read).
 */
import { z } from 'zod';
import { can, environmentAction } from '../auth/permissions.js';
import type { CloudContext } from '../context.js';
import { badRequest, conflict, notFound } from '../http/api-error.js';
import type { RouteModule } from '../http/app.js';
import { readJson } from '../http/json-body.js';
import { withCreatorNames } from '../observe/principals.js';
import { permit, requirePermission, type CloudEnv } from '../http/project-scope.js';
import type { Hono } from 'hono';
import { environmentName, MAX_ENVIRONMENT_NAME } from './environment-name.js';
import { freshness } from './freshness.js';
import { createRun } from './run-planner.js';
import { getRun, listRuns, refreshRun } from './runs.js';
import { isExpired, readEnvironment } from './state-reader.js';

const RunRequest = z
  .object({
    environment: z.string().min(1).max(MAX_ENVIRONMENT_NAME),
    ignoreCron: z.boolean().optional(),
  })
  .strict();

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;

function parseLimit(raw: string | undefined): number {
  if (raw === undefined || raw === '') return DEFAULT_LIMIT;
  if (!/^\d{1,6}$/.test(raw)) {
    throw badRequest(
      `limit: expected a whole number from 1 to ${MAX_LIMIT}, got ${JSON.stringify(raw.slice(0, 40))}`,
    );
  }
  const n = Number(raw);
  if (n < 1 || n > MAX_LIMIT)
    throw badRequest(`limit: expected a whole number from 1 to ${MAX_LIMIT}, got ${n}`);
  return n;
}

function registerRunRoutes(app: Hono<CloudEnv>, ctx: CloudContext): void {
  app.post('/runs', async (c) => {
    const principal = c.get('principal');
    // A caller who may run nothing learns so before its body is read.
    if (!can(principal.role, 'run.dev') && !can(principal.role, 'run.prod')) {
      requirePermission(c, 'run.dev');
    }
    const body = await readJson(c, RunRequest);
    const environment = environmentName(body.environment);
    requirePermission(c, environmentAction('run', environment));
    const project = c.get('project');
    const now = ctx.clock.now();
    const stored = await readEnvironment(ctx.store.db, project.id, environment);
    if (!stored) {
      throw notFound(
        `environment ${JSON.stringify(environment)} does not exist; create it with a plan`,
      );
    }
    if (isExpired(stored, now)) {
      throw conflict(
        `environment ${JSON.stringify(environment)} has expired; plan it again to use it`,
      );
    }
    const result = await createRun(ctx, project.id, environment, {
      trigger: 'manual',
      now,
      ...(body.ignoreCron ? { ignoreCron: true } : {}),
      createdBy: principal.id,
    });
    if (!result.created) {
      switch (result.reason) {
        case 'not_found':
          throw notFound(
            `environment ${JSON.stringify(environment)} does not exist; create it with a plan`,
          );
        case 'expired':
          throw conflict(
            `environment ${JSON.stringify(environment)} has expired; plan it again to use it`,
          );
        case 'paused':
          throw conflict(
            `environment ${JSON.stringify(environment)} is paused; unpause it (DELETE /environments/${environment}/pause) first`,
            'paused',
          );
        case 'plan_applying':
          throw conflict(
            `a plan is being applied to environment ${JSON.stringify(environment)}; run again when it has finished`,
            'plan_applying',
          );
        case 'nothing_due':
          return c.json(
            { run: null, message: `nothing is due in environment ${JSON.stringify(environment)}` },
            200,
          );
      }
    }
    const run = await getRun(ctx, project.id, result.runId);
    return c.json({ run }, 201);
  });

  app.get('/runs', permit('read'), async (c) => {
    const envRaw = c.req.query('environment');
    const limit = parseLimit(c.req.query('limit'));
    const runs = await listRuns(ctx, c.get('project').id, {
      limit,
      ...(envRaw !== undefined && envRaw !== '' ? { environment: environmentName(envRaw) } : {}),
    });
    return c.json({ runs });
  });

  app.get('/runs/:id', permit('read'), async (c) => {
    const id = c.req.param('id');
    const projectId = c.get('project').id;
    let run = id.length <= 100 ? await getRun(ctx, projectId, id) : undefined;
    if (!run) throw notFound(`no run ${JSON.stringify(id.slice(0, 100))} in this project`);
    if (run.status === 'pending' || run.status === 'running') {
      await refreshRun(ctx, id);
      run = (await getRun(ctx, projectId, id)) ?? run;
    }
    const [named] = await withCreatorNames(ctx, projectId, [run]);
    return c.json({ run: named });
  });

  app.get('/environments/:env/freshness', permit('read'), async (c) => {
    const environment = environmentName(c.req.param('env'));
    const result = await freshness(ctx, c.get('project').id, environment, ctx.clock.now());
    if (!result) {
      throw notFound(`environment ${JSON.stringify(environment)} does not exist`);
    }
    return c.json(result);
  });
}

export const runRoutes: RouteModule = {
  name: 'runs',
  project(app, ctx) {
    registerRunRoutes(app, ctx);
  },
};
