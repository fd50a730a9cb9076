/**
 * The pauses API, under the project's `/api` (changes need the pause
 * permission, reading needs read):
 *
 * - `POST /environments/:env/pause {reason?}` / `DELETE /environments/:env/pause`
 * - `POST /environments/:env/models/pause {model, reason?}` /
 *   `DELETE /environments/:env/models/pause?model=`
 * - `GET /environments/:env/pauses`
 *
 * Models are named by canonical name (`"db"."schema"."table"`) or as shown
 * (`schema.table`). An unknown environment is 404; a name that is no model
 * of the environment is 400.
 */
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import type { CloudContext } from '../context.js';
import { badRequest, notFound } from '../http/api-error.js';
import type { RouteModule } from '../http/app.js';
import { readJson } from '../http/json-body.js';
import { permit, type CloudEnv } from '../http/project-scope.js';
import { environmentName } from '../scheduler/environment-name.js';
import {
  environmentSnapshots,
  readEnvironment,
  type StoredEnvironment,
} from '../scheduler/state-reader.js';
import { addPause, listPauses, removePause, resolveModelName } from './pauses.js';

const MAX_REASON = 1000;
const MAX_MODEL_NAME = 1000;

const reason = z.string().max(MAX_REASON).optional();
const EnvironmentPauseRequest = z.object({ reason }).strict();
const ModelPauseRequest = z
  .object({ model: z.string().min(1).max(MAX_MODEL_NAME), reason })
  .strict();

/** The body, or `{}` when the request has none at all (a bare `POST .../pause`). */
async function optionalBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  const length = c.req.header('content-length');
  const chunked = c.req.header('transfer-encoding');
  if (!c.req.header('content-type') && !chunked && (length === undefined || length === '0')) {
    return schema.parse({});
  }
  return readJson(c, schema);
}

async function existingEnvironment(
  ctx: CloudContext,
  projectId: string,
  raw: string | undefined,
): Promise<StoredEnvironment> {
  const name = environmentName(raw);
  const env = await readEnvironment(ctx.store.db, projectId, name);
  if (!env) throw notFound(`environment ${JSON.stringify(name)} does not exist`);
  return env;
}

async function modelOf(
  ctx: CloudContext,
  projectId: string,
  env: StoredEnvironment,
  raw: string | undefined,
): Promise<string> {
  if (raw === undefined || raw.trim() === '') {
    throw badRequest('model: name a model of the environment, e.g. sqlmesh_example.full_model');
  }
  if (raw.length > MAX_MODEL_NAME) throw badRequest(`model: at most ${MAX_MODEL_NAME} characters`);
  const { snapshots } = await environmentSnapshots(ctx.store.db, projectId, env.environment);
  const model = resolveModelName(snapshots, raw);
  if (!model) {
    throw badRequest(
      `model: ${JSON.stringify(raw.slice(0, 200))} is no model of environment ${JSON.stringify(env.name)}; use its name as in the project (schema.table)`,
    );
  }
  return model;
}

function registerPauseRoutes(app: Hono<CloudEnv>, ctx: CloudContext): void {
  app.post('/environments/:env/pause', permit('pause'), async (c) => {
    const projectId = c.get('project').id;
    const env = await existingEnvironment(ctx, projectId, c.req.param('env'));
    const body = await optionalBody(c, EnvironmentPauseRequest);
    const pause = await addPause(ctx, projectId, {
      environment: env.name,
      ...(body.reason !== undefined ? { reason: body.reason } : {}),
      createdBy: c.get('principal').id,
    });
    return c.json({ pause }, 201);
  });

  app.delete('/environments/:env/pause', permit('pause'), async (c) => {
    const projectId = c.get('project').id;
    const env = await existingEnvironment(ctx, projectId, c.req.param('env'));
    const removed = await removePause(ctx, projectId, {
      environment: env.name,
      removedBy: c.get('principal').id,
    });
    return c.json({ environment: env.name, removed });
  });

  app.post('/environments/:env/models/pause', permit('pause'), async (c) => {
    const projectId = c.get('project').id;
    const env = await existingEnvironment(ctx, projectId, c.req.param('env'));
    const body = await readJson(c, ModelPauseRequest);
    const model = await modelOf(ctx, projectId, env, body.model);
    const pause = await addPause(ctx, projectId, {
      environment: env.name,
      model,
      ...(body.reason !== undefined ? { reason: body.reason } : {}),
      createdBy: c.get('principal').id,
    });
    return c.json({ pause }, 201);
  });

  app.delete('/environments/:env/models/pause', permit('pause'), async (c) => {
    const projectId = c.get('project').id;
    const env = await existingEnvironment(ctx, projectId, c.req.param('env'));
    const model = await modelOf(ctx, projectId, env, c.req.query('model'));
    const removed = await removePause(ctx, projectId, {
      environment: env.name,
      model,
      removedBy: c.get('principal').id,
    });
    return c.json({ environment: env.name, model, removed });
  });

  app.get('/environments/:env/pauses', permit('read'), async (c) => {
    const projectId = c.get('project').id;
    const env = await existingEnvironment(ctx, projectId, c.req.param('env'));
    const pauses = await listPauses(ctx.store.db, projectId, env.name);
    return c.json({
      environment: env.name,
      paused: pauses.some((p) => p.model === null),
      pauses,
    });
  });
}

export const pauseRoutes: RouteModule = {
  name: 'pauses',
  project(app, ctx) {
    registerPauseRoutes(app, ctx);
  },
};
