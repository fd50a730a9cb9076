/**
 * The executor registry's API, under `<project>/api`:
 *
 * - `POST /executors/register` (executor role) RegisterRequest: checks the
 *   protocol version (409 `protocol_version` when it cannot work) and
 *   records the executor; gateways are names and engine types only, and any
 *   other field (a host, a password) is refused with 400.
 * - `GET /executors` (read): every executor with its status, version, last
 *   seen time, current tasks and counts.
 */
import { z } from 'zod';
import type { CloudContext } from '../context.js';
import type { RouteModule } from '../http/app.js';
import { readJson } from '../http/json-body.js';
import { requirePermission } from '../http/project-scope.js';
import { listExecutors, registerExecutor } from './executor-registry.js';

export const RegisterBody = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(100)
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9_.@:-]*$/,
      'use letters, digits, _ . @ : - (starting with a letter or digit)',
    ),
  kind: z.enum(['run', 'apply']),
  version: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[0-9A-Za-z][0-9A-Za-z.+_-]*$/, 'must be a version such as 1.2.3'),
  protocolVersion: z.string().min(1).max(20),
  gateways: z
    .array(
      z.strictObject({
        name: z
          .string()
          .min(1)
          .max(100)
          .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, 'use letters, digits, _ . -'),
        type: z
          .string()
          .min(1)
          .max(40)
          .regex(/^[a-z][a-z0-9_]*$/, 'must be an engine type such as duckdb or postgres'),
      }),
    )
    .max(100),
  address: z
    .string()
    .min(1)
    .max(255)
    .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters')
    .optional(),
  hosting: z.enum(['hybrid', 'cloud']).optional(),
});

export const executorRoutes: RouteModule = {
  name: 'executors',
  project(app, ctx: CloudContext) {
    app.post('/executors/register', async (c) => {
      requirePermission(c, 'executor');
      const body = await readJson(c, RegisterBody);
      const answer = await registerExecutor(ctx, c.get('project').id, body);
      return c.json(answer, 201);
    });

    app.get('/executors', async (c) => {
      requirePermission(c, 'read');
      return c.json({ executors: await listExecutors(ctx, c.get('project').id) });
    });
  },
};
