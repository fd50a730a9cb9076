import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tokenRoutes } from '../../../src/cloud/auth/token-routes.js';
import { clientRoutes } from '../../../src/cloud/admin/client-routes.js';
import { userRoutes } from '../../../src/cloud/admin/user-routes.js';
import { sessionRoutes } from '../../../src/cloud/auth/session-routes.js';
import { startTestCloud, type TestCloud } from '../../helpers/cloud.js';
import { storeTargets } from '../../helpers/stores.js';
import { checkAuthMatrix } from '../auth/matrix.js';

const targets = await storeTargets();
const routes = [tokenRoutes, sessionRoutes, clientRoutes, userRoutes];

class TestClock {
  constructor(public t = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.t;
  }
}

async function tokenFor(cloud: TestCloud, id: string, secret: string) {
  return fetch(`${cloud.projectUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: id,
      client_secret: secret,
    }),
  });
}

async function clientCount(cloud: TestCloud): Promise<number> {
  const rows = await cloud.server.ctx.store.db.selectFrom('oauth_clients').select('id').execute();
  return rows.length;
}

for (const target of targets) {
  describe(`OAuth clients API on ${target.kind}`, () => {
    it('creates a client whose secret is shown once and works at the token endpoint', async () => {
      const cloud = await startTestCloud(target, { routes });
      const res = await cloud.api('/clients', { body: { name: 'ci runner', role: 'developer' } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.deepEqual(Object.keys(res.body).sort(), ['clientId', 'clientSecret', 'name', 'role']);
      assert.match(res.body.clientId, /^tlc_[0-9a-f]{24}$/);
      assert.equal(res.body.role, 'developer');
      const row = await cloud.server.ctx.store.db
        .selectFrom('oauth_clients')
        .selectAll()
        .where('id', '=', res.body.clientId)
        .executeTakeFirstOrThrow();
      assert.equal(row.project_id, cloud.projectId);
      assert.equal(row.created_by, `client:${cloud.clients.admin.clientId}`);
      assert.ok(!row.secret_hash.includes(res.body.clientSecret), 'the secret is stored hashed');
      assert.match(row.secret_hash, /^scrypt\$/);
      const token = await tokenFor(cloud, res.body.clientId, res.body.clientSecret);
      assert.equal(token.status, 200);
      const body = (await token.json()) as { access_token: string; scope: string };
      assert.equal(body.scope, 'developer');
    });

    it('lists clients without secrets or hashes, with last use and revocation', async () => {
      const cloud = await startTestCloud(target, { routes });
      await cloud.token(cloud.clients.viewer);
      const res = await cloud.api('/clients');
      assert.equal(res.status, 200);
      const text = JSON.stringify(res.body);
      for (const role of ['admin', 'viewer', 'developer', 'executor'] as const) {
        assert.ok(!text.includes(cloud.clients[role].clientSecret), `no secret of ${role}`);
      }
      assert.doesNotMatch(text, /scrypt|secret/i);
      const ids = res.body.clients.map((c: { clientId: string }) => c.clientId).sort();
      assert.deepEqual(
        ids,
        Object.values(cloud.clients)
          .map((c) => c.clientId)
          .sort(),
      );
      const viewer = res.body.clients.find(
        (c: { clientId: string }) => c.clientId === cloud.clients.viewer.clientId,
      );
      assert.deepEqual(Object.keys(viewer).sort(), [
        'clientId',
        'createdBy',
        'createdTs',
        'lastUsedTs',
        'name',
        'revokedTs',
        'role',
      ]);
      assert.equal(typeof viewer.lastUsedTs, 'number');
      assert.equal(viewer.revokedTs, null);
    });

    it('revokes a client: its live token and its secret stop working at once', async () => {
      const cloud = await startTestCloud(target, { routes });
      const made = await cloud.api('/clients', { body: { name: 'to revoke', role: 'admin' } });
      const live = await cloud.token({ ...made.body });
      assert.equal((await cloud.api('/clients', { token: live })).status, 200);
      const revoke = await cloud.api(`/clients/${made.body.clientId}`, { method: 'DELETE' });
      assert.equal(revoke.status, 200, JSON.stringify(revoke.body));
      assert.equal(revoke.body.revokedNow, true);
      assert.equal(typeof revoke.body.client.revokedTs, 'number');
      assert.equal(revoke.body.warning, undefined);
      const after = await cloud.api('/clients', { token: live });
      assert.equal(after.status, 401);
      assert.match(after.body.error.message, /revoked/);
      const fresh = await tokenFor(cloud, made.body.clientId, made.body.clientSecret);
      assert.equal(fresh.status, 401);
      const again = await cloud.api(`/clients/${made.body.clientId}`, { method: 'DELETE' });
      assert.equal(again.status, 200);
      assert.equal(again.body.revokedNow, false);
      assert.equal(again.body.client.revokedTs, revoke.body.client.revokedTs);
      const listed = await cloud.api('/clients');
      const entry = listed.body.clients.find(
        (c: { clientId: string }) => c.clientId === made.body.clientId,
      );
      assert.equal(entry.revokedTs, revoke.body.client.revokedTs);
    });

    it('lets an admin revoke its own client, with a warning, and refuses it afterwards', async () => {
      const cloud = await startTestCloud(target, { routes });
      const made = await cloud.api('/clients', { body: { name: 'self', role: 'admin' } });
      const own = await cloud.token({ ...made.body });
      const res = await cloud.api(`/clients/${made.body.clientId}`, {
        method: 'DELETE',
        token: own,
      });
      assert.equal(res.status, 200);
      assert.match(res.body.warning, /this request was made with/);
      assert.equal((await cloud.api('/clients', { token: own })).status, 401);
    });

    it('answers 404 for clients of other projects and unknown ids, and revokes nothing', async () => {
      const cloud = await startTestCloud(target, { routes });
      const { bootstrap } = await import('../../../src/cloud/tenancy.js');
      const other = await bootstrap(cloud.server.ctx, 'acme', 'other');
      const res = await cloud.api(`/clients/${other.client.clientId}`, { method: 'DELETE' });
      assert.equal(res.status, 404);
      assert.match(res.body.error.message, /no OAuth client/);
      const row = await cloud.server.ctx.store.db
        .selectFrom('oauth_clients')
        .select('revoked_ts')
        .where('id', '=', other.client.clientId)
        .executeTakeFirstOrThrow();
      assert.equal(row.revoked_ts, null);
      assert.equal(
        (await cloud.api('/clients/tlc_000000000000000000000000', { method: 'DELETE' })).status,
        404,
      );
    });

    it('refuses a token of project A on project B with 404', async () => {
      const cloud = await startTestCloud(target, { routes });
      const { bootstrap } = await import('../../../src/cloud/tenancy.js');
      await bootstrap(cloud.server.ctx, 'acme', 'second');
      const res = await fetch(`${cloud.server.url}/sqlmesh/acme/second/api/clients`, {
        headers: { authorization: `Bearer ${await cloud.token()}` },
      });
      assert.equal(res.status, 404);
    });

    it('refuses expired tokens once the clock passes 15 minutes', async () => {
      const clock = new TestClock();
      const cloud = await startTestCloud(target, { routes, clock });
      const token = await cloud.token();
      clock.t += 14 * 60_000;
      assert.equal((await cloud.api('/clients', { token })).status, 200);
      clock.t += 60_000 + 1000;
      const res = await cloud.api('/clients', { token });
      assert.equal(res.status, 401);
      assert.match(res.body.error.message, /expired/);
    });

    it('allows only admins on every client route', async () => {
      const cloud = await startTestCloud(target, { routes });
      let n = 0;
      await checkAuthMatrix(cloud, [
        { method: 'GET', path: '/clients', allowed: ['admin'] },
        {
          method: 'POST',
          path: '/clients',
          body: () => ({ name: `matrix ${n++}`, role: 'viewer' }),
          allowed: ['admin'],
        },
        { method: 'DELETE', path: '/clients/tlc_000000000000000000000000', allowed: ['admin'] },
      ]);
      // Denied callers created nothing: only the admin's call made a client.
      const listed = await cloud.api('/clients');
      const made = listed.body.clients.filter((c: { name: string }) => /^matrix \d+$/.test(c.name));
      assert.equal(made.length, 1);
    });

    it('answers bad input with a clear 4xx and stores nothing', async () => {
      const cloud = await startTestCloud(target, { routes });
      const before = await clientCount(cloud);
      const huge = 'x'.repeat(10 * 1024 * 1024);
      const sqlish = "'; DROP TABLE users; --";
      const cases: Array<{
        body: unknown;
        headers?: Record<string, string>;
        status: number;
        message: RegExp;
      }> = [
        { body: '{"name": "a", "role":', status: 400, message: /not valid JSON/ },
        {
          body: 'name=a&role=viewer',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          status: 415,
          message: /JSON/,
        },
        { body: [], status: 400, message: /body/ },
        { body: 'null', status: 400, message: /body/ },
        { body: { name: 5, role: 'viewer' }, status: 400, message: /^name: / },
        {
          body: { name: 'a', role: 'root' },
          status: 400,
          message: /^role: must be viewer, developer, admin or executor/,
        },
        { body: { name: 'a', role: ['admin'] }, status: 400, message: /^role: / },
        { body: { name: 'a' }, status: 400, message: /^role: / },
        {
          body: { name: 'a', role: 'viewer', secret: 'mine' },
          status: 400,
          message: /unknown field.*"secret"/,
        },
        { body: { name: '   ', role: 'viewer' }, status: 400, message: /^name: must not be empty/ },
        {
          body: { name: huge, role: 'viewer' },
          status: 400,
          message: /^name: at most 100 characters/,
        },
        {
          body: { name: sqlish, role: 'viewer' },
          status: 400,
          message: /^name: use letters, digits/,
        },
        { body: { name: 'ok', role: sqlish }, status: 400, message: /^role: / },
        { body: { name: 'a\u0000b', role: 'viewer' }, status: 400, message: /^name: / },
      ];
      for (const c of cases) {
        const res = await cloud.api('/clients', {
          method: 'POST',
          body: typeof c.body === 'string' ? c.body : JSON.stringify(c.body),
          ...(c.headers ? { headers: c.headers } : {}),
        });
        assert.equal(
          res.status,
          c.status,
          `${String(c.body).slice(0, 60)}: ${JSON.stringify(res.body)}`,
        );
        assert.match(res.body.error.message, c.message);
        assert.equal(res.body.error.message.split('\n').length, 1);
      }
      for (const id of [sqlish, huge.slice(0, 5000), '%27%3B--', 'tlc_zz']) {
        const res = await cloud.api(`/clients/${encodeURIComponent(id)}`, { method: 'DELETE' });
        assert.equal(res.status, 404, id.slice(0, 40));
      }
      assert.equal(await clientCount(cloud), before);
      const revoked = await cloud.server.ctx.store.db
        .selectFrom('oauth_clients')
        .select('id')
        .where('revoked_ts', 'is not', null)
        .execute();
      assert.equal(revoked.length, 0);
      assert.equal((await cloud.api('/users')).status, 200, 'the users table is still there');
    });
  });
}
