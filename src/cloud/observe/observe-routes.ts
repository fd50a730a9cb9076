/**
 * The observability API, under `<project>/api` (every route needs `read`):
 *
 * | route                                   | what                                          |
 * | --------------------------------------- | --------------------------------------------- |
 * | GET /environments?limit=&after=         | environments by name                          |
 * | GET /environments/:env                  | snapshots, differences, last plan, pauses     |
 * | GET /environments/:env/models/:model    | definition, SQL, lineage, versions, intervals |
 * | GET /plans?environment=&status=&limit=&before= | plans, newest first                    |
 * | GET /plans/:id/changes                  | a plan's changes and backfill                 |
 * | GET /plans/:id/evaluations?status=      | model evaluations of a plan                   |
 * | GET /plans/:id/logs?level=&before=      | log lines of a plan                           |
 * | GET /plans/:id/audits                   | audit results of a plan                       |
 * | GET /runs/:id/evaluations, /logs, /audits | the same for a run                          |
 * | GET /runs/:id/adjacent                  | the previous and next run of its environment  |
 * | GET /evaluations?model=&environment=&status=&run=&plan= | evaluations             |
 * | GET /logs?task=&run=&plan=&level=       | log lines, saying when some were removed      |
 * | GET /activity?type=&environment=&before= | plans, runs, pauses, client changes          |
 * | GET /home                               | prod at a glance (freshness, last run, chart) |
 * | GET /events                             | server-sent events of the project             |
 * | GET /v1/dags/:env, /v1/runs, /v1/runs/:id/evaluations, /v1/evaluations | for orchestrators |
 *
 * Who did something is answered as recorded (`createdBy`, `by`) and as a
 * name people know (`createdByName`, `byName`): see principals.ts.
 *
 * Lists take `limit` (50 by default, at most 500) and answer `truncated` and
 * a cursor (`nextBefore`) for the next page. At the server root, without
 * authentication: `GET /metrics` (Prometheus text format, counts only).
 */
import type { Context, Hono } from 'hono';
import type { CloudContext } from '../context.js';
import { notFound } from '../http/api-error.js';
import type { RouteModule } from '../http/app.js';
import { permit, type CloudEnv } from '../http/project-scope.js';
import { resolveModelName } from '../pauses/pauses.js';
import { environmentName } from '../scheduler/environment-name.js';
import { getRun } from '../scheduler/runs.js';
import { environmentSnapshots, readEnvironment } from '../scheduler/state-reader.js';
import { ModelGraph } from '../scheduler/model-graph.js';
import { ACTIVITY_TYPES, homeSummary, listActivity } from './activity.js';
import { environmentDetail, listEnvironmentsPage, modelDetail } from './environments.js';
import { eventLogFor } from './event-log.js';
import { eventStream, resumeId } from './event-stream.js';
import {
  EVALUATION_STATUSES,
  listAudits,
  listEvaluations,
  listLogs,
  listPlans,
  listRunsPage,
  planChanges,
  planExists,
  PLAN_STATUSES,
  runExists,
  runNeighbours,
  RUN_STATUSES,
  type Page,
} from './history.js';
import { HttpMetrics, renderMetrics } from './metrics.js';
import { withCreatorNames } from './principals.js';
import { idParam, LOG_LEVELS, QueryReader } from './query-params.js';

export interface ObserveOptions {
  /** Milliseconds between event stream heartbeats (15 s by default). */
  heartbeatMs?: number;
  /** Events kept per project in the events table (10,000 by default). */
  eventCap?: number;
}

function pageJson<T>(key: string, p: Page<T>): Record<string, unknown> {
  return { [key]: p.items, truncated: p.truncated, nextBefore: p.nextBefore };
}

/**
 * The canonical name a `model` filter means: canonical names as given;
 * other spellings (`schema.table`) resolved against the environment's
 * models (prod's when none is named).
 */
async function modelFilter(
  ctx: CloudContext,
  projectId: string,
  raw: string | undefined,
  environment: string | undefined,
): Promise<string | undefined> {
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (text.startsWith('"')) return text;
  const stored = await readEnvironment(ctx.store.db, projectId, environment ?? 'prod');
  if (!stored) return text;
  const { snapshots } = await environmentSnapshots(ctx.store.db, projectId, stored.environment);
  return resolveModelName(snapshots, text) ?? text;
}

async function requirePlan(ctx: CloudContext, c: Context<CloudEnv>): Promise<string> {
  const id = idParam(c, 'id', 'plan');
  if (!(await planExists(ctx, c.get('project').id, id))) {
    throw notFound(`no plan ${JSON.stringify(id.slice(0, 100))} in this project`);
  }
  return id;
}

async function requireRun(ctx: CloudContext, c: Context<CloudEnv>): Promise<string> {
  const id = idParam(c, 'id', 'run');
  if (!(await runExists(ctx, c.get('project').id, id))) {
    throw notFound(`no run ${JSON.stringify(id.slice(0, 100))} in this project`);
  }
  return id;
}

function registerObserveRoutes(app: Hono<CloudEnv>, ctx: CloudContext, options: ObserveOptions) {
  const read = permit('read');

  // ---- environments ----
  app.get('/environments', read, async (c) => {
    const q = new QueryReader(c, ['limit', 'after']);
    const after = q.text('after', 300);
    const limit = q.limit();
    return c.json(
      await listEnvironmentsPage(ctx, c.get('project').id, {
        limit,
        ...(after !== undefined ? { after } : {}),
      }),
    );
  });

  app.get('/environments/:env', read, async (c) => {
    new QueryReader(c, []);
    const name = environmentName(c.req.param('env'));
    const detail = await environmentDetail(ctx, c.get('project').id, name);
    if (!detail) throw notFound(`environment ${JSON.stringify(name)} does not exist`);
    return c.json({ environment: detail });
  });

  app.get('/environments/:env/models/:model', read, async (c) => {
    new QueryReader(c, []);
    const projectId = c.get('project').id;
    const name = environmentName(c.req.param('env'));
    const stored = await readEnvironment(ctx.store.db, projectId, name);
    if (!stored) throw notFound(`environment ${JSON.stringify(name)} does not exist`);
    const raw = c.req.param('model');
    const model = raw.length <= 1_000 ? await modelDetail(ctx, projectId, stored, raw) : undefined;
    if (!model) {
      throw notFound(
        `no model ${JSON.stringify(raw.slice(0, 200))} in environment ${JSON.stringify(name)}; name it as in the project (schema.table)`,
      );
    }
    return c.json({ model });
  });

  // ---- plans ----
  app.get('/plans', read, async (c) => {
    const q = new QueryReader(c, ['environment', 'status', 'limit', 'before']);
    const environment = q.environment();
    const status = q.oneOf('status', PLAN_STATUSES);
    const before = q.cursor();
    const p = await listPlans(ctx, c.get('project').id, {
      limit: q.limit(),
      ...(environment !== undefined ? { environment } : {}),
      ...(status !== undefined ? { status } : {}),
      ...(before !== undefined ? { before } : {}),
    });
    return c.json(pageJson('plans', p));
  });

  app.get('/plans/:id/changes', read, async (c) => {
    new QueryReader(c, []);
    const id = await requirePlan(ctx, c);
    return c.json(await planChanges(ctx, c.get('project').id, id));
  });

  app.get('/plans/:id/evaluations', read, async (c) => {
    const q = new QueryReader(c, ['status', 'model', 'limit', 'before']);
    const planId = await requirePlan(ctx, c);
    const status = q.oneOf('status', EVALUATION_STATUSES);
    const model = q.text('model');
    const before = q.cursor();
    const p = await listEvaluations(ctx, c.get('project').id, {
      planId,
      limit: q.limit(),
      ...(status !== undefined ? { status } : {}),
      ...(model !== undefined ? { model } : {}),
      ...(before !== undefined ? { before } : {}),
    });
    return c.json(pageJson('evaluations', p));
  });

  app.get('/plans/:id/logs', read, async (c) => {
    const q = new QueryReader(c, ['level', 'limit', 'before']);
    const planId = await requirePlan(ctx, c);
    const level = q.oneOf('level', LOG_LEVELS);
    const before = q.integer('before', 1);
    return c.json(
      await listLogs(ctx, c.get('project').id, {
        planId,
        limit: q.limit(),
        ...(level !== undefined ? { level } : {}),
        ...(before !== undefined ? { before } : {}),
      }),
    );
  });

  app.get('/plans/:id/audits', read, async (c) => {
    const q = new QueryReader(c, ['limit', 'before']);
    const planId = await requirePlan(ctx, c);
    const before = q.cursor();
    const p = await listAudits(ctx, c.get('project').id, {
      planId,
      limit: q.limit(),
      ...(before !== undefined ? { before } : {}),
    });
    return c.json(pageJson('audits', p));
  });

  // ---- runs ----
  const runEvaluations = async (c: Context<CloudEnv>) => {
    const q = new QueryReader(c, ['status', 'model', 'limit', 'before']);
    const runId = await requireRun(ctx, c);
    const status = q.oneOf('status', EVALUATION_STATUSES);
    const model = q.text('model');
    const before = q.cursor();
    const p = await listEvaluations(ctx, c.get('project').id, {
      runId,
      limit: q.limit(),
      ...(status !== undefined ? { status } : {}),
      ...(model !== undefined ? { model } : {}),
      ...(before !== undefined ? { before } : {}),
    });
    return c.json(pageJson('evaluations', p));
  };
  app.get('/runs/:id/evaluations', read, runEvaluations);

  app.get('/runs/:id/logs', read, async (c) => {
    const q = new QueryReader(c, ['level', 'limit', 'before']);
    const runId = await requireRun(ctx, c);
    const level = q.oneOf('level', LOG_LEVELS);
    const before = q.integer('before', 1);
    return c.json(
      await listLogs(ctx, c.get('project').id, {
        runId,
        limit: q.limit(),
        ...(level !== undefined ? { level } : {}),
        ...(before !== undefined ? { before } : {}),
      }),
    );
  });

  app.get('/runs/:id/audits', read, async (c) => {
    const q = new QueryReader(c, ['limit', 'before']);
    const runId = await requireRun(ctx, c);
    const before = q.cursor();
    const p = await listAudits(ctx, c.get('project').id, {
      runId,
      limit: q.limit(),
      ...(before !== undefined ? { before } : {}),
    });
    return c.json(pageJson('audits', p));
  });

  app.get('/runs/:id/adjacent', read, async (c) => {
    new QueryReader(c, []);
    const runId = await requireRun(ctx, c);
    return c.json(await runNeighbours(ctx, c.get('project').id, runId));
  });

  // ---- evaluations and logs ----
  const evaluations = async (c: Context<CloudEnv>) => {
    const q = new QueryReader(c, [
      'model',
      'environment',
      'status',
      'run',
      'plan',
      'task',
      'limit',
      'before',
    ]);
    const projectId = c.get('project').id;
    const environment = q.environment();
    const model = await modelFilter(ctx, projectId, q.text('model'), environment);
    const status = q.oneOf('status', EVALUATION_STATUSES);
    const runId = q.text('run', 200);
    const planId = q.text('plan', 200);
    const taskId = q.text('task', 200);
    const before = q.cursor();
    const p = await listEvaluations(ctx, projectId, {
      limit: q.limit(),
      ...(model !== undefined ? { model } : {}),
      ...(environment !== undefined ? { environment } : {}),
      ...(status !== undefined ? { status } : {}),
      ...(runId !== undefined ? { runId } : {}),
      ...(planId !== undefined ? { planId } : {}),
      ...(taskId !== undefined ? { taskId } : {}),
      ...(before !== undefined ? { before } : {}),
    });
    return c.json(pageJson('evaluations', p));
  };
  app.get('/evaluations', read, evaluations);

  app.get('/logs', read, async (c) => {
    const q = new QueryReader(c, ['task', 'run', 'plan', 'level', 'limit', 'before']);
    const taskId = q.text('task', 200);
    const runId = q.text('run', 200);
    const planId = q.text('plan', 200);
    const level = q.oneOf('level', LOG_LEVELS);
    const before = q.integer('before', 1);
    return c.json(
      await listLogs(ctx, c.get('project').id, {
        limit: q.limit(),
        ...(taskId !== undefined ? { taskId } : {}),
        ...(runId !== undefined ? { runId } : {}),
        ...(planId !== undefined ? { planId } : {}),
        ...(level !== undefined ? { level } : {}),
        ...(before !== undefined ? { before } : {}),
      }),
    );
  });

  // ---- activity and home ----
  app.get('/activity', read, async (c) => {
    const q = new QueryReader(c, ['type', 'environment', 'limit', 'before']);
    const type = q.oneOf('type', ACTIVITY_TYPES);
    const environment = q.environment();
    const before = q.cursor();
    // Pauses are read from the events log: a pause just made is listed.
    await eventLogFor(ctx).flushed();
    return c.json(
      await listActivity(ctx, c.get('project').id, {
        limit: q.limit(),
        ...(type !== undefined ? { type } : {}),
        ...(environment !== undefined ? { environment } : {}),
        ...(before !== undefined ? { before } : {}),
      }),
    );
  });

  app.get('/home', read, async (c) => {
    new QueryReader(c, []);
    return c.json(await homeSummary(ctx, c.get('project').id, 'prod'));
  });

  // ---- server-sent events ----
  app.get('/events', read, async (c) => {
    const q = new QueryReader(c, ['lastEventId', 'types']);
    const after = resumeId(c, q.raw('lastEventId'));
    const typesRaw = q.text('types', 1_000);
    const types = typesRaw
      ?.split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    const log = eventLogFor(ctx, options.eventCap !== undefined ? { cap: options.eventCap } : {});
    return eventStream(c, log, c.get('project').id, after, {
      ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}),
      ...(types && types.length ? { types } : {}),
    });
  });

  // ---- the read API for orchestrators ----
  app.get('/v1/dags/:env', read, async (c) => {
    new QueryReader(c, []);
    const projectId = c.get('project').id;
    const name = environmentName(c.req.param('env'));
    const stored = await readEnvironment(ctx.store.db, projectId, name);
    if (!stored) throw notFound(`environment ${JSON.stringify(name)} does not exist`);
    const { snapshots } = await environmentSnapshots(ctx.store.db, projectId, stored.environment);
    const graph = new ModelGraph(snapshots);
    return c.json({
      environment: name,
      planId: stored.planId,
      models: graph.order.map((s) => ({
        name: s.name,
        identifier: s.identifier,
        version: s.version,
        kind: s.node.definition.kind.name,
        cron: s.node.definition.cron,
      })),
      edges: graph.order.flatMap((s) =>
        graph.parentsOf(s).map((p) => ({ from: p.name, to: s.name })),
      ),
    });
  });

  app.get('/v1/runs', read, async (c) => {
    const q = new QueryReader(c, ['environment', 'status', 'limit', 'before']);
    const environment = q.environment();
    const status = q.oneOf('status', RUN_STATUSES);
    const before = q.cursor();
    const p = await listRunsPage(ctx, c.get('project').id, {
      limit: q.limit(),
      ...(environment !== undefined ? { environment } : {}),
      ...(status !== undefined ? { status } : {}),
      ...(before !== undefined ? { before } : {}),
    });
    return c.json(pageJson('runs', p));
  });

  app.get('/v1/runs/:id', read, async (c) => {
    new QueryReader(c, []);
    const runId = await requireRun(ctx, c);
    const projectId = c.get('project').id;
    const run = await getRun(ctx, projectId, runId);
    return c.json({ run: run ? (await withCreatorNames(ctx, projectId, [run]))[0] : run });
  });

  app.get('/v1/runs/:id/evaluations', read, runEvaluations);
  app.get('/v1/evaluations', read, evaluations);
}

/** The observability routes, with `options` (tests shorten the heartbeat). */
export function createObserveRoutes(options: ObserveOptions = {}): RouteModule {
  return {
    name: 'observe',
    root(app, ctx) {
      // Start storing events now, so a stream opened later can resume from the table.
      eventLogFor(ctx, options.eventCap !== undefined ? { cap: options.eventCap } : {});
      const http = new HttpMetrics();
      app.use('*', async (c, next) => {
        const started = performance.now();
        try {
          await next();
        } finally {
          http.observe(c.req.method, c.res.status, (performance.now() - started) / 1_000);
        }
      });
      app.get('/metrics', async (c) => {
        c.header('content-type', 'text/plain; version=0.0.4; charset=utf-8');
        c.header('cache-control', 'no-store');
        return c.body(await renderMetrics(ctx, http));
      });
    },
    project(app, ctx) {
      registerObserveRoutes(app, ctx, options);
    },
  };
}

export const observeRoutes: RouteModule = createObserveRoutes();
