/**
 * Who may call what, over every authenticated route the cloud serves
 * (ALL_ROUTES), on both stores. The table is kept here by reading each route
 * module; a route added to a module without a row here is caught by the
 * route count check below.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import type { Role } from '../../src/cloud/store/schema.js';
import { ALL_ROUTES } from '../../src/cloud/routes.js';
import { startTestCloud, type TestCloud } from '../helpers/cloud.js';
import { storeTargets } from '../helpers/stores.js';
import { checkAuthMatrix, type MatrixRoute } from './auth/matrix.js';
import { minimalPlan } from './queue/queue-helpers.js';

const targets = await storeTargets();

const READERS: readonly Role[] = ['viewer', 'developer', 'admin'];
const STATE_READERS: readonly Role[] = ['viewer', 'developer', 'admin', 'executor'];
const WRITERS: readonly Role[] = ['developer', 'admin'];
const ADMIN: readonly Role[] = ['admin'];
const EXECUTOR: readonly Role[] = ['executor'];
const EVERYONE: readonly Role[] = ['viewer', 'developer', 'admin', 'executor'];

let n = 0;
const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++n}`;
const lease = { leaseId: 'no-lease', fencingToken: 1 };
const snapshotId = { name: '"db"."s"."t"', identifier: 'i1' };

/** Every authenticated route, by module; `:plan` is replaced by a submitted dev plan's id. */
function matrix(planId: string): MatrixRoute[] {
  return [
    // info
    { method: 'GET', path: '/protocol', allowed: EVERYONE },
    // clients and users
    {
      method: 'POST',
      path: '/clients',
      body: () => ({ name: unique('c'), role: 'viewer' }),
      allowed: ADMIN,
    },
    { method: 'GET', path: '/clients', allowed: ADMIN },
    {
      method: 'PUT',
      path: '/connections/matrix',
      body: { yaml: 'type: duckdb' },
      allowed: ADMIN,
    },
    { method: 'GET', path: '/connections', allowed: ADMIN },
    { method: 'DELETE', path: '/connections/matrix', allowed: ADMIN },
    { method: 'DELETE', path: '/clients/tlc_000000000000000000000000', allowed: ADMIN },
    {
      method: 'POST',
      path: '/users',
      body: () => ({ username: unique('u'), role: 'viewer' }),
      allowed: ADMIN,
    },
    { method: 'GET', path: '/users', allowed: ADMIN },
    { method: 'PATCH', path: '/users/no-such-user', body: { role: 'viewer' }, allowed: ADMIN },
    { method: 'DELETE', path: '/users/no-such-user', allowed: ADMIN },
    // state
    { method: 'GET', path: '/state/versions', allowed: STATE_READERS },
    {
      method: 'POST',
      path: '/state/snapshots/get',
      body: { ids: [snapshotId] },
      allowed: STATE_READERS,
    },
    {
      method: 'POST',
      path: '/state/snapshots/exist',
      body: { ids: [snapshotId] },
      allowed: STATE_READERS,
    },
    { method: 'GET', path: '/state/snapshots/summaries', allowed: STATE_READERS },
    { method: 'POST', path: '/state/snapshots', body: { snapshots: [] }, allowed: WRITERS },
    { method: 'POST', path: '/state/snapshots/update', body: { snapshots: [] }, allowed: WRITERS },
    { method: 'POST', path: '/state/snapshots/delete', body: { ids: [] }, allowed: WRITERS },
    { method: 'GET', path: '/state/environments', allowed: STATE_READERS },
    { method: 'GET', path: '/state/environments/dev', allowed: STATE_READERS },
    {
      method: 'PUT',
      path: '/state/environments/matrix-env',
      body: {
        environment: {
          name: 'matrix-env',
          snapshots: [],
          startAt: 0,
          planId: 'matrix-env-plan',
          createdTs: 0,
          updatedTs: 0,
        },
      },
      allowed: WRITERS,
    },
    { method: 'DELETE', path: '/state/environments/matrix-gone', allowed: WRITERS },
    { method: 'GET', path: '/state/expired-environments?now=0', allowed: STATE_READERS },
    {
      method: 'POST',
      path: '/state/intervals/add',
      body: { id: snapshotId, version: 'v1', interval: [0, 1] },
      allowed: WRITERS,
    },
    {
      method: 'POST',
      path: '/state/intervals/remove',
      body: { id: snapshotId, version: 'v1', interval: [0, 1] },
      allowed: WRITERS,
    },
    {
      method: 'POST',
      path: '/state/intervals/get',
      body: { ids: [snapshotId] },
      allowed: STATE_READERS,
    },
    {
      method: 'POST',
      path: '/state/version-intervals',
      body: { versions: [{ name: snapshotId.name, version: 'v1' }] },
      allowed: STATE_READERS,
    },
    {
      method: 'POST',
      path: '/state/plans',
      body: () => ({
        plan: {
          id: unique('sp'),
          environment: 'dev',
          status: 'pending',
          createdTs: 0,
          updatedTs: 0,
          summary: {},
        },
      }),
      allowed: WRITERS,
    },
    { method: 'GET', path: '/state/plans/no-such-plan', allowed: STATE_READERS },
    { method: 'GET', path: '/state/plans?environment=dev', allowed: STATE_READERS },
    // runs
    { method: 'POST', path: '/runs', body: { environment: 'dev' }, allowed: WRITERS },
    { method: 'GET', path: '/runs', allowed: READERS },
    { method: 'GET', path: '/runs/no-such-run', allowed: READERS },
    { method: 'GET', path: '/environments/dev/freshness', allowed: READERS },
    // pauses
    { method: 'POST', path: '/environments/dev/pause', body: {}, allowed: ADMIN },
    { method: 'DELETE', path: '/environments/dev/pause', allowed: ADMIN },
    {
      method: 'POST',
      path: '/environments/dev/models/pause',
      body: { model: 's.t' },
      allowed: ADMIN,
    },
    { method: 'DELETE', path: '/environments/dev/models/pause?model=s.t', allowed: ADMIN },
    { method: 'GET', path: '/environments/dev/pauses', allowed: READERS },
    // executors and tasks
    {
      method: 'POST',
      path: '/executors/register',
      body: () => ({
        name: unique('e'),
        kind: 'run',
        version: '0.1.0',
        protocolVersion: '1.0',
        gateways: [],
      }),
      allowed: EXECUTOR,
    },
    { method: 'GET', path: '/executors', allowed: READERS },
    {
      method: 'POST',
      path: '/tasks/claim',
      body: { executorId: 'no-such-executor', waitMs: 0 },
      allowed: EXECUTOR,
    },
    { method: 'POST', path: '/tasks/no-task/heartbeat', body: lease, allowed: EXECUTOR },
    { method: 'POST', path: '/tasks/no-task/progress', body: lease, allowed: EXECUTOR },
    {
      method: 'POST',
      path: '/tasks/no-task/complete',
      body: { ...lease, status: 'succeeded' },
      allowed: EXECUTOR,
    },
    { method: 'POST', path: '/tasks/no-task/release', body: lease, allowed: EXECUTOR },
    {
      method: 'POST',
      path: '/tasks/complete',
      body: { items: [{ taskId: 'no-task', ...lease, status: 'succeeded' }] },
      allowed: EXECUTOR,
    },
    // plans
    {
      method: 'POST',
      path: '/plans',
      body: () => ({ plan: minimalPlan(unique('plan'), 'dev', null) }),
      allowed: WRITERS,
    },
    { method: 'GET', path: `/plans/${planId}`, allowed: READERS },
    { method: 'GET', path: `/plans/${planId}/progress`, allowed: READERS },
    { method: 'POST', path: `/plans/${planId}/cancel`, allowed: WRITERS },
    // observability
    { method: 'GET', path: '/environments', allowed: READERS },
    { method: 'GET', path: '/environments/dev', allowed: READERS },
    { method: 'GET', path: '/environments/dev/models/s.t', allowed: READERS },
    { method: 'GET', path: '/plans', allowed: READERS },
    { method: 'GET', path: `/plans/${planId}/changes`, allowed: READERS },
    { method: 'GET', path: `/plans/${planId}/evaluations`, allowed: READERS },
    { method: 'GET', path: `/plans/${planId}/logs`, allowed: READERS },
    { method: 'GET', path: `/plans/${planId}/audits`, allowed: READERS },
    { method: 'GET', path: '/runs/no-such-run/evaluations', allowed: READERS },
    { method: 'GET', path: '/runs/no-such-run/logs', allowed: READERS },
    { method: 'GET', path: '/runs/no-such-run/audits', allowed: READERS },
    { method: 'GET', path: '/runs/no-such-run/adjacent', allowed: READERS },
    { method: 'GET', path: '/evaluations', allowed: READERS },
    { method: 'GET', path: '/logs', allowed: READERS },
    { method: 'GET', path: '/activity', allowed: READERS },
    { method: 'GET', path: '/home', allowed: READERS },
    { method: 'GET', path: '/v1/dags/dev', allowed: READERS },
    { method: 'GET', path: '/v1/runs', allowed: READERS },
    { method: 'GET', path: '/v1/runs/no-such-run', allowed: READERS },
    { method: 'GET', path: '/v1/runs/no-such-run/evaluations', allowed: READERS },
    { method: 'GET', path: '/v1/evaluations', allowed: READERS },
    // A stream: see `streamAware` below.
    { method: 'GET', path: '/events', allowed: READERS },
  ];
}

/**
 * The cloud's `api`, except that an event stream's status is taken from its
 * headers and the stream closed (its body never ends).
 */
function streamAware(cloud: TestCloud): TestCloud {
  return {
    ...cloud,
    async api(path, init = {}) {
      if (!path.startsWith('/events')) return cloud.api(path, init);
      const headers: Record<string, string> = {};
      const bearer = init.token === undefined ? await cloud.token() : init.token;
      if (bearer !== null) headers['authorization'] = `Bearer ${bearer}`;
      const abort = new AbortController();
      const res = await fetch(`${cloud.projectUrl}/api${path}`, { headers, signal: abort.signal });
      if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
        abort.abort();
        return { status: res.status, body: undefined, headers: res.headers };
      }
      return { status: res.status, body: await res.json(), headers: res.headers };
    },
  };
}

/** `METHOD /path` of every authenticated route ALL_ROUTES registers. */
function registeredRoutes(): string[] {
  const app = new Hono();
  const ctx = {} as never;
  for (const m of ALL_ROUTES) m.project?.(app as never, ctx);
  return [
    ...new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`)),
  ].sort();
}

/** A table path with its concrete segments turned back into the module's pattern. */
function covers(route: string, table: MatrixRoute[]): boolean {
  const [method, pattern] = route.split(' ') as [string, string];
  const re = new RegExp(`^${pattern.replace(/:[A-Za-z]+/g, '[^/]+')}$`);
  return table.some((r) => r.method === method && re.test(r.path.split('?')[0]!));
}

describe('the auth matrix table', () => {
  it('has a row for every authenticated route of ALL_ROUTES', () => {
    const table = matrix('p');
    const missing = registeredRoutes().filter((r) => !covers(r, table));
    assert.deepEqual(missing, []);
  });
});

for (const target of targets) {
  describe(`auth matrix over every route on ${target.kind}`, () => {
    it('refuses nobody, expired, revoked and foreign tokens, and wrong roles; lets allowed roles in', async () => {
      const cloud = await startTestCloud(target, { routes: ALL_ROUTES });
      const submitted = await cloud.api('/plans', {
        body: { plan: minimalPlan('matrix-plan', 'dev', null) },
      });
      assert.equal(submitted.status, 201, JSON.stringify(submitted.body));
      await checkAuthMatrix(streamAware(cloud), matrix('matrix-plan'));
    });
  });
}
