/**
 * The state API's routes on SQLite and PostgreSQL: who may read and write
 * (roles, prod, executors under a lease), and bad input answered 4xx with one
 * clear line and nothing stored.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { tokenRoutes } from '../../../src/cloud/auth/token-routes.js';
import { enqueueTasks } from '../../../src/cloud/queue/task-queue.js';
import { stateRoutes } from '../../../src/cloud/state/state-routes.js';
import type { NewClient } from '../../../src/cloud/tenancy.js';
import { snapshotKey } from '../../../src/engine/state/state-sync.js';
import { CloudApiError, CloudClient } from '../../../src/executor/client/cloud-client.js';
import { HttpStateSync } from '../../../src/executor/client/http-state-sync.js';
import { makeEnvironment, makePlan, makeSnapshot } from '../../engine/state/state-fixtures.js';
import { startTestCloud, type TestCloud } from '../../helpers/cloud.js';
import { storeTargets } from '../../helpers/stores.js';

const targets = await storeTargets();

async function counts(cloud: TestCloud): Promise<Record<string, number>> {
  const db = cloud.server.ctx.store.db;
  const out: Record<string, number> = {};
  for (const table of ['snapshots', 'environments', 'intervals', 'plans'] as const) {
    const row = await db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll().as('n'))
      .where('project_id', '=', cloud.projectId)
      .executeTakeFirst();
    out[table] = Number(row?.n ?? 0);
  }
  return out;
}

function stateFor(cloud: TestCloud, client: NewClient): HttpStateSync {
  return new HttpStateSync(
    new CloudClient({
      url: cloud.projectUrl,
      clientId: client.clientId,
      clientSecret: client.clientSecret,
    }),
  );
}

for (const target of targets) {
  describe(`state routes on ${target.kind}`, () => {
    test('roles: viewers read, developers write but not prod, admins write prod', async () => {
      const cloud = await startTestCloud(target, { routes: [tokenRoutes, stateRoutes] });
      const viewer = stateFor(cloud, cloud.clients.viewer);
      const developer = stateFor(cloud, cloud.clients.developer);
      const admin = stateFor(cloud, cloud.clients.admin);
      const s = makeSnapshot('"db"."s"."a"', 'a1', 'v1');

      await assert.rejects(viewer.pushSnapshots([s]), (err: unknown) => {
        assert.ok(err instanceof CloudApiError && err.status === 403, String(err));
        assert.match(err.message, /role viewer may not write state/);
        return true;
      });
      for (const write of [
        () => viewer.upsertEnvironment(makeEnvironment('dev', 'p1')),
        () => viewer.deleteEnvironment('dev'),
        () => viewer.recordPlan(makePlan('p1', 'dev', 1)),
        () => viewer.deleteSnapshots([s]),
      ]) {
        await assert.rejects(write(), /403 forbidden/);
      }
      assert.deepEqual(await counts(cloud), {
        snapshots: 0,
        environments: 0,
        intervals: 0,
        plans: 0,
      });

      await developer.pushSnapshots([s]);
      await developer.addInterval(s, 'v1', [0, 10]);
      await developer.upsertEnvironment(makeEnvironment('dev', 'p1'));
      await developer.recordPlan(makePlan('p1', 'prod', 1));
      await assert.rejects(
        developer.upsertEnvironment(makeEnvironment('prod', 'p1')),
        (err: unknown) =>
          err instanceof CloudApiError &&
          err.status === 403 &&
          /role developer may not plan prod/.test(err.message),
      );
      await admin.upsertEnvironment(makeEnvironment('prod', 'p1'));
      await assert.rejects(developer.deleteEnvironment('prod'), /403 forbidden/);
      assert.equal((await developer.getEnvironment('prod'))?.planId, 'p1');

      // Every role with state.read reads.
      assert.deepEqual((await viewer.getIntervals([s]))[0]?.intervals, [[0, 10]]);
      assert.equal((await viewer.getEnvironments()).length, 2);
      assert.equal((await viewer.getPlan('p1'))?.id, 'p1');
      const executor = stateFor(cloud, cloud.clients.executor);
      assert.equal((await executor.getSnapshots([s])).size, 1);

      const anonymous = await cloud.api('/state/versions', { token: null });
      assert.equal(anonymous.status, 401);
    });

    test('executors write only under a valid lease, which also covers prod', async () => {
      const cloud = await startTestCloud(target, { routes: [tokenRoutes, stateRoutes] });
      const ctx = cloud.server.ctx;
      const [taskId] = await enqueueTasks(ctx, cloud.projectId, [
        { queue: 'apply', kind: 'apply_plan', environment: 'prod', payload: {} },
      ]);
      await ctx.store.db
        .updateTable('tasks')
        .set({
          status: 'claimed',
          lease_id: 'lease-1',
          fencing_token: 3,
          lease_expires_ts: ctx.clock.now() + 30_000,
        })
        .where('id', '=', taskId!)
        .execute();
      const base = new CloudClient({
        url: cloud.projectUrl,
        clientId: cloud.clients.executor.clientId,
        clientSecret: cloud.clients.executor.clientSecret,
      });
      const s = makeSnapshot('"db"."s"."a"', 'a1', 'v1');

      await assert.rejects(
        new HttpStateSync(base).pushSnapshots([s]),
        /403 forbidden: role executor may not write state/,
      );
      const leased = new HttpStateSync(base.withLease(taskId!, 'lease-1', 3));
      await leased.pushSnapshots([s]);
      await leased.addInterval(s, 'v1', [0, 10]);
      await leased.upsertEnvironment(makeEnvironment('prod', 'p1'), { expectedPlanId: null });
      await leased.recordPlan(makePlan('p1', 'prod', 1));
      assert.deepEqual(await counts(cloud), {
        snapshots: 1,
        environments: 1,
        intervals: 1,
        plans: 1,
      });

      for (const [lease, why] of [
        [base.withLease(taskId!, 'lease-1', 2), 'an older fencing token'],
        [base.withLease(taskId!, 'lease-0', 3), 'another lease id'],
        [base.withLease('no-such-task', 'lease-1', 3), 'an unknown task'],
      ] as const) {
        await assert.rejects(
          new HttpStateSync(lease).addInterval(s, 'v1', [10, 20]),
          (err: unknown) => {
            assert.ok(err instanceof CloudApiError, why);
            assert.equal(err.status, 409, why);
            assert.equal(err.code, 'stale_lease', why);
            return true;
          },
        );
      }
      const malformed = await cloud.api('/state/intervals/add', {
        token: await cloud.token(cloud.clients.executor),
        headers: { 'x-tideline-lease': 'just-one-part' },
        body: { id: { name: s.name, identifier: s.identifier }, version: 'v1', interval: [1, 2] },
      });
      assert.equal(malformed.status, 400);
      assert.match(malformed.body.error.message, /malformed x-tideline-lease header/);

      // A lease ends with its expiry.
      await ctx.store.db
        .updateTable('tasks')
        .set({ lease_expires_ts: ctx.clock.now() - 1 })
        .where('id', '=', taskId!)
        .execute();
      await assert.rejects(leased.addInterval(s, 'v1', [10, 20]), /409 stale_lease/);
      assert.deepEqual((await leased.getIntervals([s]))[0]?.intervals, [[0, 10]]);

      // A lease header does not lift a developer's limits.
      const developer = await cloud.api('/state/environments/prod', {
        method: 'PUT',
        token: await cloud.token(cloud.clients.developer),
        headers: { 'x-tideline-lease': `${taskId}:lease-1:3` },
        body: { environment: makeEnvironment('prod', 'p2') },
      });
      assert.equal(developer.status, 403);
    });

    test('bad input to every route is answered 4xx in one line and stores nothing', async () => {
      const cloud = await startTestCloud(target, { routes: [tokenRoutes, stateRoutes] });
      const s = makeSnapshot('"db"."s"."a"', 'a1', 'v1');
      const id = { name: s.name, identifier: s.identifier };
      const env = makeEnvironment('dev', 'p1');
      const plan = makePlan('p1', 'dev', 1);
      const long = 'x'.repeat(5_000);
      const sqlish = "'; DROP TABLE snapshots; --";
      const { node: _node, ...noNode } = s;
      const cases: Array<[method: string, path: string, body: unknown, status?: number]> = [
        // Malformed JSON and wrong content.
        ['POST', '/state/snapshots/get', '{"ids": [', 400],
        ['POST', '/state/snapshots/get', 'null', 400],
        ['POST', '/state/snapshots/get', '[]', 400],
        ['POST', '/state/snapshots', '"snapshots"', 400],
        ['PUT', '/state/environments/dev', '', 400],
        // Wrong types and unknown fields.
        ['POST', '/state/snapshots/get', { ids: 'all' }],
        ['POST', '/state/snapshots/exist', { ids: [{ name: 1, identifier: 'a' }] }],
        ['POST', '/state/snapshots/delete', { ids: [{ ...id, extra: true }] }],
        ['POST', '/state/intervals/get', { ids: [], more: 1 }],
        ['POST', '/state/snapshots', { snapshots: [{ ...s, surprise: 1 }] }],
        ['POST', '/state/snapshots', { snapshots: [noNode] }],
        [
          'POST',
          '/state/snapshots',
          { snapshots: [{ ...s, node: { ...s.node, definition: {} } }] },
        ],
        ['POST', '/state/snapshots', { snapshots: [{ ...s, fingerprint: { dataHash: 'd' } }] }],
        ['POST', '/state/snapshots', { snapshots: [{ ...s, changeCategory: 'sideways' }] }],
        ['POST', '/state/snapshots/update', { snapshots: [{ ...s, createdTs: '1' }] }],
        ['PUT', '/state/environments/dev', { environment: { ...env, planId: 5 } }],
        ['PUT', '/state/environments/dev', { environment: env, expectedPlanId: 7 }],
        ['PUT', '/state/environments/dev', { environment: env, force: true }],
        ['PUT', '/state/environments/dev', { environment: { ...env, name: 'qa' } }],
        ['PUT', '/state/environments/dev', { environment: { ...env, snapshots: [{}] } }],
        ['POST', '/state/intervals/add', { id, version: 'v1', interval: [10, 5] }],
        ['POST', '/state/intervals/add', { id, version: 'v1', interval: [1, 2], dev: 'yes' }],
        ['POST', '/state/intervals/add', { id, version: 'v1', interval: [1, 2, 3] }],
        ['POST', '/state/intervals/add', { id, version: 'v1', interval: [1.5, 2] }],
        ['POST', '/state/intervals/remove', { id, version: 'v1' }],
        ['POST', '/state/version-intervals', { versions: [{ name: 'a' }] }],
        ['POST', '/state/plans', { plan: { ...plan, status: 'done' } }],
        ['POST', '/state/plans', { plan: { ...plan, summary: 'text' } }],
        ['POST', '/state/plans', { plan, extra: 1 }],
        // Huge values.
        ['POST', '/state/snapshots/get', { ids: [{ name: long, identifier: 'a' }] }],
        ['POST', '/state/snapshots/exist', { ids: Array.from({ length: 10_001 }, () => id) }],
        ['POST', '/state/intervals/add', { id, version: 'v1', interval: [0, 1e300] }],
        ['POST', '/state/intervals/add', { id, version: 'v1', interval: [0, 2 ** 60] }],
        ['POST', '/state/snapshots', { snapshots: [{ ...s, version: long }] }],
        ['PUT', `/state/environments/${'d'.repeat(200)}`, { environment: env }],
        ['POST', '/state/plans', { plan: { ...plan, id: long } }],
        // SQL-looking and NUL-holding names where names are restricted.
        ['GET', `/state/environments/${encodeURIComponent(sqlish)}`, undefined],
        ['PUT', `/state/environments/${encodeURIComponent(sqlish)}`, { environment: env }],
        ['DELETE', `/state/environments/${encodeURIComponent(sqlish)}`, undefined],
        ['GET', `/state/plans/${encodeURIComponent(sqlish)}`, undefined],
        ['GET', `/state/plans?environment=${encodeURIComponent(sqlish)}`, undefined],
        ['POST', '/state/snapshots', { snapshots: [{ ...s, name: 'bad\0name' }] }],
        [
          'POST',
          '/state/intervals/add',
          { id: { name: 'a\0', identifier: 'b' }, version: 'v', interval: [0, 1] },
        ],
        // Query parameters.
        ['GET', '/state/plans?limit=-1', undefined],
        ['GET', '/state/plans?limit=ten', undefined],
        ['GET', '/state/expired-environments', undefined],
        ['GET', '/state/expired-environments?now=1e3', undefined],
        // Intervals of a snapshot that is not stored.
        ['POST', '/state/intervals/add', { id, version: 'v1', interval: [0, 10] }],
      ];
      for (const [method, path, body, status] of cases) {
        const res = await cloud.api(path, { method, ...(body === undefined ? {} : { body }) });
        const what = `${method} ${path.slice(0, 80)} ${JSON.stringify(body)?.slice(0, 120)}`;
        if (status !== undefined) assert.equal(res.status, status, what);
        else assert.ok(res.status >= 400 && res.status < 500, `${what}: ${res.status}`);
        assert.equal(typeof res.body?.error?.message, 'string', what);
        assert.ok(!res.body.error.message.includes('\n'), what);
        assert.ok(res.body.error.message.length < 400, what);
      }
      const plain = await cloud.api('/state/snapshots/get', {
        body: '{"ids": []}',
        headers: { 'content-type': 'text/plain' },
      });
      assert.equal(plain.status, 415);
      assert.deepEqual(await counts(cloud), {
        snapshots: 0,
        environments: 0,
        intervals: 0,
        plans: 0,
      });

      // Quotes and SQL in free-text fields are data: stored and read back verbatim.
      const odd = makeSnapshot(
        `"db"."s"."${sqlish}"`,
        sqlish,
        `v${sqlish}`,
        { ttl: sqlish },
        sqlish,
      );
      const admin = stateFor(cloud, cloud.clients.admin);
      await admin.pushSnapshots([odd]);
      await admin.addInterval(odd, odd.version, [0, 10]);
      await admin.recordPlan({ ...plan, createdBy: sqlish, error: sqlish, summary: { sqlish } });
      assert.deepEqual((await admin.getSnapshots([odd])).get(snapshotKey(odd)), odd);
      assert.deepEqual((await admin.getIntervals([odd]))[0]?.intervals, [[0, 10]]);
      assert.equal((await admin.getPlan('p1'))?.createdBy, sqlish);
      assert.deepEqual(await counts(cloud), {
        snapshots: 1,
        environments: 0,
        intervals: 1,
        plans: 1,
      });
    });
  });
}
