/**
 * The cloud's HTTP application: request ids and JSON access logs, a body
 * size limit, errors as JSON, health endpoints, and the route modules
 * (each adds its routes under the project prefix or at the root).
 */
import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { sql } from 'kysely';
import type { CloudContext } from '../context.js';
import { ApiError } from './api-error.js';
import { authenticate, projectScope, type CloudEnv } from './project-scope.js';

export const PROJECT_PREFIX = '/sqlmesh/:org/:project';

/** A route module: public routes (before authentication) and authenticated ones. */
export interface RouteModule {
  name: string;
  /** Routes at the server root (health, metrics, login pages...). */
  root?(app: Hono<CloudEnv>, ctx: CloudContext): void;
  /** Routes under the project prefix reached without a token (token endpoint, discovery, login). */
  projectPublic?(app: Hono<CloudEnv>, ctx: CloudContext): void;
  /**
   * Routes under `<project prefix>/api` that need an authenticated caller of the
   * project (the app is mounted there: register `/plans`, not `/api/plans`).
   */
  project?(app: Hono<CloudEnv>, ctx: CloudContext): void;
}

/** How long GET /readyz waits for the store's answer. */
export const READY_TIMEOUT_MS = 2_000;

/**
 * Undefined when the store answers `SELECT 1` in time; else a one-line reason
 * for the caller and, for a failed query, the driver's message for the log.
 */
async function storeNotReady(
  ctx: CloudContext,
): Promise<{ reason: string; detail?: string } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ reason: string }>((resolve) => {
    timer = setTimeout(
      () => resolve({ reason: `the store did not answer within ${READY_TIMEOUT_MS} ms` }),
      READY_TIMEOUT_MS,
    );
  });
  const query = sql`SELECT 1`.execute(ctx.store.db).then(
    () => undefined,
    (err: unknown) => ({
      reason: 'the store query failed',
      detail: err instanceof Error ? err.message : String(err),
    }),
  );
  try {
    return await Promise.race([query, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function createCloudApp(ctx: CloudContext, modules: readonly RouteModule[]): Hono<CloudEnv> {
  const app = new Hono<CloudEnv>();

  app.use('*', async (c, next) => {
    const requestId = c.req.header('x-request-id')?.slice(0, 100) || randomUUID();
    c.set('requestId', requestId);
    c.header('x-request-id', requestId);
    const started = performance.now();
    await next();
    ctx.log.debug('request', {
      requestId,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
  });
  const tooLarge = (c: Context<CloudEnv>) => {
    // The unread body would be taken for the next request on a kept-alive connection.
    c.header('connection', 'close');
    return c.json(
      {
        error: {
          code: 'payload_too_large',
          message: `the body is larger than ${ctx.settings.maxBodyBytes} bytes`,
        },
      },
      413,
    );
  };
  const streamedLimit = bodyLimit({ maxSize: ctx.settings.maxBodyBytes, onError: tooLarge });
  app.use('*', async (c, next) => {
    // A declared length is checked from the header (Node's parser holds the
    // body to it); only bodies without one are counted as they stream.
    const declared = c.req.header('content-length');
    if (declared !== undefined) {
      if (Number(declared) > ctx.settings.maxBodyBytes) return tooLarge(c);
      await next();
      return;
    }
    if (c.req.method === 'GET' || c.req.method === 'HEAD') {
      await next();
      return;
    }
    return streamedLimit(c, next);
  });

  app.onError((err, c) => {
    if (err instanceof ApiError) {
      return c.json({ error: { code: err.code, message: err.message } }, err.status);
    }
    ctx.log.error('unhandled error', {
      requestId: c.get('requestId'),
      path: c.req.path,
      error: err instanceof Error ? err.message : String(err),
    });
    return c.json(
      { error: { code: 'internal', message: `internal error (request ${c.get('requestId')})` } },
      500,
    );
  });
  app.notFound((c) =>
    c.json(
      { error: { code: 'not_found', message: `no route ${c.req.method} ${c.req.path}` } },
      404,
    ),
  );

  app.get('/livez', (c) => c.text('ok'));
  // Ready when the store answers a trivial query within READY_TIMEOUT_MS; the
  // reason for a 503 stays generic here (the details go to the log).
  app.get('/readyz', async (c) => {
    c.header('cache-control', 'no-store');
    const notReady = await storeNotReady(ctx);
    if (notReady === undefined) return c.text('ok');
    ctx.log.warn('not ready', {
      requestId: c.get('requestId'),
      store: ctx.store.where,
      ...notReady,
    });
    return c.text(`not ready: ${notReady.reason}`, 503);
  });

  for (const m of modules) m.root?.(app, ctx);

  const scoped = new Hono<CloudEnv>();
  scoped.use('*', projectScope(ctx));
  scoped.use('/api/*', authenticate(ctx));
  for (const m of modules) m.projectPublic?.(scoped, ctx);
  const authed = new Hono<CloudEnv>();
  for (const m of modules) m.project?.(authed, ctx);
  scoped.route('/api', authed);
  app.route(PROJECT_PREFIX, scoped);
  return app;
}
