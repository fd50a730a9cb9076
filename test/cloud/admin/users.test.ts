import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientRoutes } from '../../../src/cloud/admin/client-routes.js';
import { userRoutes } from '../../../src/cloud/admin/user-routes.js';
import { sessionRoutes } from '../../../src/cloud/auth/session-routes.js';
import { tokenRoutes } from '../../../src/cloud/auth/token-routes.js';
import { verifySecret } from '../../../src/cloud/auth/secrets.js';
import { bootstrap } from '../../../src/cloud/tenancy.js';
import { startTestCloud, type TestCloud } from '../../helpers/cloud.js';
import { storeTargets } from '../../helpers/stores.js';
import { checkAuthMatrix } from '../auth/matrix.js';

const targets = await storeTargets();
const routes = [tokenRoutes, sessionRoutes, clientRoutes, userRoutes];
const PASSWORD = 'correct horse battery';

interface LoginBody {
  username?: string;
  role?: string;
  csrfToken?: string;
  error?: { message: string };
}

async function login(
  cloud: TestCloud,
  username: string,
  password: string,
  base = cloud.projectUrl,
) {
  const res = await fetch(`${base}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  const body = (await res.json()) as LoginBody;
  const cookie = res.headers.get('set-cookie')?.split(';')[0] ?? '';
  return { status: res.status, body, cookie };
}

async function count(
  cloud: TestCloud,
  table: 'users' | 'user_roles' | 'sessions',
): Promise<number> {
  const rows = await cloud.server.ctx.store.db.selectFrom(table).selectAll().execute();
  return rows.length;
}

for (const target of targets) {
  describe(`users API on ${target.kind}`, () => {
    it('creates users with scrypt-hashed passwords and lists them without hashes', async () => {
      const cloud = await startTestCloud(target, { routes });
      const res = await cloud.api('/users', {
        body: { username: 'Ada.Lovelace', password: PASSWORD, role: 'developer' },
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.created, true);
      assert.equal(res.body.user.username, 'ada.lovelace');
      assert.equal(res.body.user.role, 'developer');
      const row = await cloud.server.ctx.store.db
        .selectFrom('users')
        .selectAll()
        .where('id', '=', res.body.user.userId)
        .executeTakeFirstOrThrow();
      assert.notEqual(row.password_hash, PASSWORD);
      assert.ok(await verifySecret(PASSWORD, row.password_hash));
      const list = await cloud.api('/users');
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.users.map((u: { username: string; role: string }) => [u.username, u.role]),
        [['ada.lovelace', 'developer']],
      );
      assert.doesNotMatch(JSON.stringify(list.body), /scrypt|password/);
      const again = await cloud.api('/users', {
        body: { username: 'ADA.lovelace', password: PASSWORD, role: 'viewer' },
      });
      assert.equal(again.status, 409);
      assert.match(again.body.error.message, /already has role developer/);
    });

    it('refuses passwords shorter than 12 characters with a clear message', async () => {
      const cloud = await startTestCloud(target, { routes });
      const res = await cloud.api('/users', {
        body: { username: 'bob', password: 'short pass!', role: 'viewer' },
      });
      assert.equal(res.status, 400);
      assert.equal(res.body.error.message, 'password: use at least 12 characters');
      const missing = await cloud.api('/users', { body: { username: 'bob', role: 'viewer' } });
      assert.equal(missing.status, 400);
      assert.match(missing.body.error.message, /^password: required for the new user bob/);
      assert.equal(await count(cloud, 'users'), 0);
    });

    it('changes role, password and disabled; a new password or disabling ends sessions', async () => {
      const cloud = await startTestCloud(target, { routes });
      const made = await cloud.api('/users', {
        body: { username: 'carol', password: PASSWORD, role: 'viewer' },
      });
      const id = made.body.user.userId as string;
      const first = await login(cloud, 'carol', PASSWORD);
      assert.equal(first.status, 200);
      const role = await cloud.api(`/users/${id}`, { method: 'PATCH', body: { role: 'admin' } });
      assert.equal(role.status, 200);
      assert.equal(role.body.user.role, 'admin');
      const session = await fetch(`${cloud.projectUrl}/auth/session`, {
        headers: { cookie: first.cookie },
      });
      assert.equal(((await session.json()) as { role: string }).role, 'admin');
      const pw = await cloud.api(`/users/${id}`, {
        method: 'PATCH',
        body: { password: 'another long password' },
      });
      assert.equal(pw.status, 200);
      const ended = await fetch(`${cloud.projectUrl}/auth/session`, {
        headers: { cookie: first.cookie },
      });
      assert.equal(ended.status, 401);
      assert.equal((await login(cloud, 'carol', PASSWORD)).status, 401);
      const second = await login(cloud, 'carol', 'another long password');
      assert.equal(second.status, 200);
      const off = await cloud.api(`/users/${id}`, { method: 'PATCH', body: { disabled: true } });
      assert.equal(off.status, 200);
      assert.equal(off.body.user.disabled, true);
      const api = await cloud.api('/users', { token: null, headers: { cookie: second.cookie } });
      assert.equal(api.status, 401);
      assert.equal((await login(cloud, 'carol', 'another long password')).status, 403);
      const empty = await cloud.api(`/users/${id}`, { method: 'PATCH', body: {} });
      assert.equal(empty.status, 400);
      assert.match(empty.body.error.message, /at least one of role, password, disabled/);
    });

    it('shares accounts across projects but keeps account changes to their own projects', async () => {
      const cloud = await startTestCloud(target, { routes });
      const other = await bootstrap(cloud.server.ctx, 'acme', 'other');
      const otherUrl = `${cloud.server.url}/sqlmesh/acme/other`;
      const tokenRes = await fetch(`${otherUrl}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: other.client.clientId,
          client_secret: other.client.clientSecret,
        }),
      });
      const otherToken = ((await tokenRes.json()) as { access_token: string }).access_token;
      const otherApi = (path: string, method: string, body?: unknown) =>
        fetch(`${otherUrl}/api${path}`, {
          method,
          headers: { authorization: `Bearer ${otherToken}`, 'content-type': 'application/json' },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
      const made = await cloud.api('/users', {
        body: { username: 'dave', password: PASSWORD, role: 'admin' },
      });
      const id = made.body.user.userId as string;
      // Another project's admin can neither take the account over nor see it.
      const takeover = await otherApi('/users', 'POST', {
        username: 'dave',
        password: 'attacker chosen pw',
        role: 'viewer',
      });
      assert.equal(takeover.status, 409);
      assert.equal(
        (await otherApi(`/users/${id}`, 'PATCH', { password: 'attacker chosen pw' })).status,
        404,
      );
      const added = await otherApi('/users', 'POST', { username: 'dave', role: 'viewer' });
      assert.equal(added.status, 201);
      assert.equal(((await added.json()) as { created: boolean }).created, false);
      const reset = await otherApi(`/users/${id}`, 'PATCH', { password: 'attacker chosen pw' });
      assert.equal(reset.status, 403);
      assert.match(
        ((await reset.json()) as LoginBody).error?.message ?? '',
        /also belongs to other projects/,
      );
      assert.equal((await login(cloud, 'dave', PASSWORD)).status, 200);
      const viewerThere = await login(cloud, 'dave', PASSWORD, otherUrl);
      assert.equal(viewerThere.body.role, 'viewer');
      // Removing from one project keeps the account; from the last one deletes it.
      assert.equal((await otherApi(`/users/${id}`, 'DELETE')).status, 200);
      assert.equal(await count(cloud, 'users'), 1);
      assert.equal((await login(cloud, 'dave', PASSWORD, otherUrl)).status, 401);
      const removed = await cloud.api(`/users/${id}`, { method: 'DELETE' });
      assert.equal(removed.status, 200);
      assert.equal(await count(cloud, 'users'), 0);
      assert.equal(await count(cloud, 'sessions'), 0);
      assert.equal((await cloud.api(`/users/${id}`, { method: 'DELETE' })).status, 404);
    });

    it('does not let a logged-in admin demote, disable or remove itself', async () => {
      const cloud = await startTestCloud(target, { routes });
      const made = await cloud.api('/users', {
        body: { username: 'erin', password: PASSWORD, role: 'admin' },
      });
      const id = made.body.user.userId as string;
      const session = await login(cloud, 'erin', PASSWORD);
      const headers = { cookie: session.cookie, 'x-csrf-token': session.body.csrfToken ?? '' };
      for (const [method, body] of [
        ['PATCH', { role: 'viewer' }],
        ['PATCH', { disabled: true }],
        ['DELETE', undefined],
      ] as const) {
        const res = await cloud.api(`/users/${id}`, {
          method,
          token: null,
          headers,
          ...(body ? { body } : {}),
        });
        assert.equal(res.status, 403, `${method} ${JSON.stringify(body)}`);
        assert.match(res.body.error.message, /yourself|your own/);
      }
      const list = await cloud.api('/users');
      assert.deepEqual(
        list.body.users.map((u: { role: string; disabled: boolean }) => [u.role, u.disabled]),
        [['admin', false]],
      );
    });

    it('allows only admins on every user route', async () => {
      const cloud = await startTestCloud(target, { routes });
      let n = 0;
      const missing = '00000000-0000-4000-8000-000000000000';
      await checkAuthMatrix(cloud, [
        { method: 'GET', path: '/users', allowed: ['admin'] },
        {
          method: 'POST',
          path: '/users',
          body: () => ({ username: `matrix${n++}`, password: PASSWORD, role: 'viewer' }),
          allowed: ['admin'],
        },
        {
          method: 'PATCH',
          path: `/users/${missing}`,
          body: { role: 'viewer' },
          allowed: ['admin'],
        },
        { method: 'DELETE', path: `/users/${missing}`, allowed: ['admin'] },
      ]);
      assert.equal(await count(cloud, 'users'), 1, 'only the admin call made a user');
    });

    it('answers bad input with a clear 4xx and stores nothing', async () => {
      const cloud = await startTestCloud(target, { routes });
      const made = await cloud.api('/users', {
        body: { username: 'frank', password: PASSWORD, role: 'viewer' },
      });
      const id = made.body.user.userId as string;
      const huge = 'x'.repeat(10 * 1024 * 1024);
      const sqlish = "'; DROP TABLE users; --";
      const posts: Array<[unknown, RegExp]> = [
        ['{"username": ', /not valid JSON/],
        [[1, 2], /body/],
        [{ username: 7, password: PASSWORD, role: 'viewer' }, /^username: /],
        [{ username: 'gina', password: 12345678901234, role: 'viewer' }, /^password: /],
        [{ username: 'gina', password: PASSWORD, role: 'superuser' }, /^role: must be/],
        [
          { username: 'gina', password: PASSWORD, role: 'viewer', admin: true },
          /unknown field.*"admin"/,
        ],
        [{ username: huge, password: PASSWORD, role: 'viewer' }, /^username: at most 100/],
        [{ username: 'gina', password: huge, role: 'viewer' }, /^password: at most 1024/],
        [{ username: sqlish, password: PASSWORD, role: 'viewer' }, /^username: use letters/],
        [{ username: 'gina', password: PASSWORD, role: sqlish }, /^role: /],
        [{ username: '', password: PASSWORD, role: 'viewer' }, /^username: must not be empty/],
        [
          { username: 'gina', password: PASSWORD, role: 'executor' },
          /^role: .*executor is for OAuth clients only/,
        ],
      ];
      for (const [body, message] of posts) {
        const res = await cloud.api('/users', {
          method: 'POST',
          body: typeof body === 'string' ? body : JSON.stringify(body),
        });
        assert.equal(
          res.status,
          400,
          `${JSON.stringify(body).slice(0, 80)}: ${JSON.stringify(res.body)}`,
        );
        assert.match(res.body.error.message, message);
      }
      const patches: Array<[unknown, RegExp]> = [
        ['not json', /not valid JSON/],
        [{ disabled: 'yes' }, /^disabled: /],
        [{ role: 'owner' }, /^role: /],
        [{ password: 'short' }, /^password: use at least 12/],
        [{ password: huge }, /^password: at most/],
        [{ username: 'renamed' }, /unknown field.*"username"/],
        [{ role: sqlish }, /^role: /],
      ];
      for (const [body, message] of patches) {
        const res = await cloud.api(`/users/${id}`, {
          method: 'PATCH',
          body: typeof body === 'string' ? body : JSON.stringify(body),
        });
        assert.equal(
          res.status,
          400,
          `${JSON.stringify(body).slice(0, 80)}: ${JSON.stringify(res.body)}`,
        );
        assert.match(res.body.error.message, message);
      }
      for (const bad of [sqlish, '1 OR 1=1', huge.slice(0, 5000)]) {
        const path = `/users/${encodeURIComponent(bad)}`;
        assert.equal(
          (await cloud.api(path, { method: 'PATCH', body: { role: 'admin' } })).status,
          404,
        );
        assert.equal((await cloud.api(path, { method: 'DELETE' })).status, 404);
      }
      const list = await cloud.api('/users');
      assert.deepEqual(
        list.body.users.map((u: { username: string; role: string; disabled: boolean }) => [
          u.username,
          u.role,
          u.disabled,
        ]),
        [['frank', 'viewer', false]],
      );
      assert.equal(await count(cloud, 'user_roles'), 1);
      assert.equal(
        (await login(cloud, 'frank', PASSWORD)).status,
        200,
        'the password is unchanged',
      );
    });
  });
}
