/**
 * The engine's StateSync over HTTP, one route per method, under
 * `<project>/api/state/...`:
 *
 * | route                                   | StateSync method        |
 * | --------------------------------------- | ----------------------- |
 * | GET    /state/versions                  | getVersions             |
 * | POST   /state/snapshots/get {ids}       | getSnapshots            |
 * | POST   /state/snapshots/exist {ids}     | snapshotsExist          |
 * | GET    /state/snapshots/summaries       | listSnapshotSummaries   |
 * | POST   /state/snapshots {snapshots}     | pushSnapshots           |
 * | POST   /state/snapshots/update          | updateSnapshots         |
 * | POST   /state/snapshots/delete {ids}    | deleteSnapshots         |
 * | GET    /state/environments              | getEnvironments         |
 * | GET    /state/environments/:name        | getEnvironment          |
 * | PUT    /state/environments/:name        | upsertEnvironment       |
 * | DELETE /state/environments/:name        | deleteEnvironment       |
 * | GET    /state/expired-environments?now= | getExpiredEnvironments  |
 * | POST   /state/intervals/add             | addInterval             |
 * | POST   /state/intervals/remove          | removeIntervals         |
 * | POST   /state/intervals/get {ids}       | getIntervals            |
 * | POST   /state/version-intervals         | getVersionIntervals     |
 * | POST   /state/plans {plan}              | recordPlan              |
 * | GET    /state/plans/:id                 | getPlan                 |
 * | GET    /state/plans?environment=&limit= | listPlans               |
 *
 * Reads need `state.read`. Writes need `state.write` (and `plan.prod` to
 * write or delete the prod environment), unless an executor presents the
 * lease of a task it holds in the `x-tideline-lease` header
 * (`<taskId>:<leaseId>:<fencingToken>`): then a valid lease is enough.
 * Interval writes must name a stored snapshot. A refused optimistic
 * environment write is 409 `stale_state`.
 */
import type { Context } from 'hono';
import type { z } from 'zod';
import { TidelineError } from '../../engine/errors.js';
import type { Snapshot } from '../../engine/snapshot/snapshot-types.js';
import { StaleStateError } from '../../engine/state/state-sync.js';
import { LEASE_HEADER } from '../../protocol/messages.js';
import type { CloudContext } from '../context.js';
import { ApiError, badRequest, conflict, notFound } from '../http/api-error.js';
import type { RouteModule } from '../http/app.js';
import { assertLeaseHeader } from '../queue/leases.js';
import { writeTransaction } from '../queue/write-transaction.js';
import { readJson } from '../http/json-body.js';
import { requirePermission, type CloudEnv } from '../http/project-scope.js';
import {
  CloudStateSync,
  DuplicateSnapshotsError,
  MissingSnapshotError,
  PlanIdTakenError,
} from './cloud-state-sync.js';
import {
  ENVIRONMENT_NAME,
  PLAN_ID,
  environmentBody,
  idsBody,
  intervalBody,
  planBody,
  snapshotsBody,
  versionsBody,
} from './state-schemas.js';

function stateOf(c: Context<CloudEnv>, ctx: CloudContext): CloudStateSync {
  return new CloudStateSync(ctx.store, c.get('project').id, { clock: ctx.clock });
}

function read(c: Context<CloudEnv>): void {
  requirePermission(c, 'state.read');
}

/**
 * Runs a write. An executor that presents a lease (`x-tideline-lease`) writes
 * under it: the lease is checked in the write's own transaction, so it cannot
 * be requeued halfway through. Anyone else needs `state.write`, plus
 * `plan.prod` when `prod` is set.
 */
async function write<T>(
  c: Context<CloudEnv>,
  ctx: CloudContext,
  work: (state: CloudStateSync) => Promise<T>,
  options: { prod?: boolean } = {},
): Promise<T> {
  const principal = c.get('principal');
  const projectId = c.get('project').id;
  const header = c.req.header(LEASE_HEADER);
  if (header !== undefined && principal.role === 'executor') {
    return await mapped(() =>
      writeTransaction(ctx.store, async (tx) => {
        await assertLeaseHeader(ctx, projectId, header, tx);
        return await work(
          new CloudStateSync({ db: tx }, projectId, { clock: ctx.clock, inTransaction: true }),
        );
      }),
    );
  }
  requirePermission(c, 'state.write');
  if (options.prod) requirePermission(c, 'plan.prod');
  return await mapped(() => work(stateOf(c, ctx)));
}

function environmentParam(c: Context<CloudEnv>): string {
  const name = c.req.param('name') ?? '';
  if (!ENVIRONMENT_NAME.test(name)) {
    throw badRequest(
      `environment name ${JSON.stringify(name.slice(0, 140))}: use 1-128 lower-case letters, digits, '_' or '-'`,
    );
  }
  return name;
}

function integerQuery(c: Context<CloudEnv>, key: string, min: number): number | undefined {
  const raw = c.req.query(key);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!/^-?\d{1,16}$/.test(raw) || !Number.isSafeInteger(value) || value < min) {
    throw badRequest(
      `${key}: ${JSON.stringify(raw.slice(0, 40))} must be a whole number >= ${min}`,
    );
  }
  return value;
}

/** Maps the state's own errors to API errors; anything else stays a 500. */
async function mapped<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ApiError) throw err;
    if (err instanceof StaleStateError) throw conflict(err.message, 'stale_state');
    if (err instanceof DuplicateSnapshotsError) throw conflict(err.message, 'snapshot_exists');
    if (err instanceof PlanIdTakenError) throw conflict(err.message, 'plan_id_taken');
    if (err instanceof MissingSnapshotError) throw notFound(err.message);
    if (err instanceof TidelineError) throw badRequest(err.message);
    throw err;
  }
}

/** Interval writes must name a stored snapshot. */
async function requireStored(
  state: CloudStateSync,
  body: z.infer<typeof intervalBody>,
): Promise<void> {
  const exists = await state.snapshotsExist([body.id]);
  if (exists.size === 0) {
    throw badRequest(
      `snapshot ${body.id.name} (${body.id.identifier}) is not in state; push it before recording its intervals`,
    );
  }
}

export const stateRoutes: RouteModule = {
  name: 'state',
  project(app, ctx) {
    app.get('/state/versions', async (c) => {
      read(c);
      return c.json(await stateOf(c, ctx).getVersions());
    });

    // ---- snapshots ----
    app.post('/state/snapshots/get', async (c) => {
      read(c);
      const { ids } = await readJson(c, idsBody);
      const found = await stateOf(c, ctx).getSnapshots(ids);
      return c.json({ snapshots: [...found.values()] });
    });
    app.post('/state/snapshots/exist', async (c) => {
      read(c);
      const { ids } = await readJson(c, idsBody);
      const keys = await stateOf(c, ctx).snapshotsExist(ids);
      const seen = new Set<string>();
      const present = ids.filter((id) => {
        const key = `${id.name}|${id.identifier}`;
        if (!keys.has(key) || seen.has(key)) return false;
        seen.add(key);
        return true;
      });
      return c.json({ ids: present });
    });
    app.get('/state/snapshots/summaries', async (c) => {
      read(c);
      return c.json({ snapshots: await stateOf(c, ctx).listSnapshotSummaries() });
    });
    app.post('/state/snapshots', async (c) => {
      const { snapshots } = await readJson(c, snapshotsBody);
      await write(c, ctx, (state) => state.pushSnapshots(snapshots as unknown as Snapshot[]));
      return c.body(null, 204);
    });
    app.post('/state/snapshots/update', async (c) => {
      const { snapshots } = await readJson(c, snapshotsBody);
      await write(c, ctx, (state) => state.updateSnapshots(snapshots as unknown as Snapshot[]));
      return c.body(null, 204);
    });
    app.post('/state/snapshots/delete', async (c) => {
      const { ids } = await readJson(c, idsBody);
      await write(c, ctx, (state) => state.deleteSnapshots(ids));
      return c.body(null, 204);
    });

    // ---- environments ----
    app.get('/state/environments', async (c) => {
      read(c);
      return c.json({ environments: await stateOf(c, ctx).getEnvironments() });
    });
    app.get('/state/environments/:name', async (c) => {
      read(c);
      const name = environmentParam(c);
      return c.json({ environment: (await stateOf(c, ctx).getEnvironment(name)) ?? null });
    });
    app.put('/state/environments/:name', async (c) => {
      const name = environmentParam(c);
      const body = await readJson(c, environmentBody);
      if (body.environment.name !== name) {
        throw badRequest(
          `environment.name ${JSON.stringify(body.environment.name)} differs from the path's ${JSON.stringify(name)}`,
        );
      }
      const options =
        body.expectedPlanId === undefined ? {} : { expectedPlanId: body.expectedPlanId };
      await write(c, ctx, (state) => state.upsertEnvironment(body.environment, options), {
        prod: name === 'prod',
      });
      return c.body(null, 204);
    });
    app.delete('/state/environments/:name', async (c) => {
      const name = environmentParam(c);
      await write(c, ctx, (state) => state.deleteEnvironment(name), { prod: name === 'prod' });
      return c.body(null, 204);
    });
    app.get('/state/expired-environments', async (c) => {
      read(c);
      const now = integerQuery(c, 'now', Number.MIN_SAFE_INTEGER);
      if (now === undefined) throw badRequest('now: give the time to compare with, in epoch ms');
      return c.json({ environments: await stateOf(c, ctx).getExpiredEnvironments(now) });
    });

    // ---- intervals ----
    app.post('/state/intervals/add', async (c) => {
      const body = await readJson(c, intervalBody);
      const options = body.dev === undefined ? {} : { dev: body.dev };
      await write(c, ctx, async (state) => {
        await requireStored(state, body);
        await state.addInterval(body.id, body.version, body.interval, options);
      });
      return c.body(null, 204);
    });
    app.post('/state/intervals/remove', async (c) => {
      const body = await readJson(c, intervalBody);
      const options = body.dev === undefined ? {} : { dev: body.dev };
      await write(c, ctx, async (state) => {
        await requireStored(state, body);
        await state.removeIntervals(body.id, body.version, body.interval, options);
      });
      return c.body(null, 204);
    });
    app.post('/state/intervals/get', async (c) => {
      read(c);
      const { ids } = await readJson(c, idsBody);
      return c.json({ intervals: await stateOf(c, ctx).getIntervals(ids) });
    });
    app.post('/state/version-intervals', async (c) => {
      read(c);
      const { versions } = await readJson(c, versionsBody);
      const found = await stateOf(c, ctx).getVersionIntervals(versions);
      const seen = new Set<string>();
      const out: Array<{ name: string; version: string; intervals: unknown }> = [];
      for (const v of versions) {
        const key = `${v.name}|${v.version}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ name: v.name, version: v.version, intervals: found.get(key) ?? [] });
      }
      return c.json({ versions: out });
    });

    // ---- plans ----
    app.post('/state/plans', async (c) => {
      const { plan } = await readJson(c, planBody);
      await write(c, ctx, (state) => state.recordPlan(plan));
      return c.body(null, 204);
    });
    app.get('/state/plans/:id', async (c) => {
      read(c);
      const id = c.req.param('id');
      if (!PLAN_ID.test(id)) {
        throw badRequest(
          `plan id ${JSON.stringify(id.slice(0, 140))}: use 1-128 letters, digits, '_', '.', ':' or '-'`,
        );
      }
      return c.json({ plan: (await stateOf(c, ctx).getPlan(id)) ?? null });
    });
    app.get('/state/plans', async (c) => {
      read(c);
      const environment = c.req.query('environment');
      if (environment !== undefined && !ENVIRONMENT_NAME.test(environment)) {
        throw badRequest(
          `environment ${JSON.stringify(environment.slice(0, 140))}: use 1-128 lower-case letters, digits, '_' or '-'`,
        );
      }
      const limit = integerQuery(c, 'limit', 0);
      const options = {
        ...(environment === undefined ? {} : { environment }),
        ...(limit === undefined ? {} : { limit }),
      };
      return c.json({ plans: await stateOf(c, ctx).listPlans(options) });
    });
  },
};
