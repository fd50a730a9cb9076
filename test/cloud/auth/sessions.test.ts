import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientRoutes } from '../../../src/cloud/admin/client-routes.js';
import { userRoutes } from '../../../src/cloud/admin/user-routes.js';
import { sessionRoutes } from '../../../src/cloud/auth/session-routes.js';
import { tokenRoutes } from '../../../src/cloud/auth/token-routes.js';
import { addUser } from '../../../src/cloud/auth/users.js';
import { startTestCloud, type TestCloud } from '../../helpers/cloud.js';
import { storeTargets } from '../../helpers/stores.js';

const targets = await storeTargets();
const routes = [tokenRoutes, sessionRoutes, clientRoutes, userRoutes];
const PASSWORD = 'a long enough password';

class TestClock {
  constructor(public t = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.t;
  }
}

interface LoginResult {
  status: number;
  body: { username: string; role: string; csrfToken: string; error: { message: string } };
  setCookie: string;
  cookie: string;
  headers: Headers;
}

async function post(
  cloud: TestCloud,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  return fetch(`${cloud.projectUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function login(cloud: TestCloud, username: string, password: string): Promise<LoginResult> {
  const res = await post(cloud, '/auth/login', { username, password });
  const setCookie = res.headers.get('set-cookie') ?? '';
  return {
    status: res.status,
    body: (await res.json()) as LoginResult['body'],
    setCookie,
    cookie: setCookie.split(';')[0] ?? '',
    headers: res.headers,
  };
}

async function withUser(
  target: (typeof targets)[number],
  options: { clock?: TestClock; secure?: boolean } = {},
) {
  const cloud = await startTestCloud(target, {
    routes,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.secure ? { settings: { secureCookies: true } } : {}),
  });
  await addUser(cloud.server.ctx, cloud.projectId, {
    username: 'ada',
    password: PASSWORD,
    role: 'admin',
  });
  await addUser(cloud.server.ctx, cloud.projectId, {
    username: 'vic',
    password: PASSWORD,
    role: 'viewer',
  });
  return cloud;
}

for (const target of targets) {
  describe(`web login on ${target.kind}`, () => {
    it('logs in with a hardened session cookie that stores only a hash', async () => {
      const cloud = await withUser(target);
      const res = await login(cloud, 'Ada', PASSWORD);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(Object.keys(res.body).sort(), ['csrfToken', 'role', 'username']);
      assert.equal(res.body.username, 'ada');
      assert.equal(res.body.role, 'admin');
      const flags = res.setCookie.split(';').map((s) => s.trim().toLowerCase());
      assert.match(res.cookie, /^tideline_session=tlw_[\w-]{43}$/);
      assert.ok(flags.includes('httponly'), res.setCookie);
      assert.ok(flags.includes('samesite=strict'), res.setCookie);
      assert.ok(flags.includes('path=/sqlmesh/acme/analytics'), res.setCookie);
      assert.ok(!flags.includes('secure'), 'no Secure flag when the server is told so');
      const token = res.cookie.split('=')[1]!;
      const rows = await cloud.server.ctx.store.db.selectFrom('sessions').selectAll().execute();
      assert.equal(rows.length, 1);
      assert.notEqual(rows[0]!.id, token);
      assert.match(rows[0]!.id, /^[0-9a-f]{64}$/);
      assert.equal(rows[0]!.csrf_token, res.body.csrfToken);
      assert.equal(rows[0]!.expires_ts - rows[0]!.created_ts, 12 * 3_600_000);
      const session = await fetch(`${cloud.projectUrl}/auth/session`, {
        headers: { cookie: res.cookie },
      });
      assert.equal(session.status, 200);
      const info = (await session.json()) as Record<string, unknown>;
      assert.equal(info['username'], 'ada');
      assert.equal(info['csrfToken'], res.body.csrfToken);
    });

    it('sets Secure on the cookie when the server serves HTTPS', async () => {
      const cloud = await withUser(target, { secure: true });
      const res = await login(cloud, 'ada', PASSWORD);
      assert.equal(res.status, 200);
      assert.ok(
        res.setCookie
          .split(';')
          .map((s) => s.trim().toLowerCase())
          .includes('secure'),
      );
    });

    it('gives the same answer for an unknown user and a wrong password', async () => {
      const cloud = await withUser(target);
      const unknown = await login(cloud, 'nobody', PASSWORD);
      const wrong = await login(cloud, 'ada', PASSWORD + '!');
      assert.equal(unknown.status, 401);
      assert.equal(wrong.status, 401);
      assert.deepEqual(unknown.body, wrong.body);
      assert.equal(unknown.setCookie, '');
      assert.equal(
        (await cloud.server.ctx.store.db.selectFrom('sessions').selectAll().execute()).length,
        0,
      );
      const none = await fetch(`${cloud.projectUrl}/auth/session`);
      assert.equal(none.status, 401);
    });

    it('authenticates API calls by cookie and requires the CSRF header on writes', async () => {
      const cloud = await withUser(target);
      const { cookie, body } = await login(cloud, 'ada', PASSWORD);
      const read = await cloud.api('/clients', { token: null, headers: { cookie } });
      assert.equal(read.status, 200);
      const newClient = { name: 'from the ui', role: 'viewer' };
      const noCsrf = await cloud.api('/clients', {
        token: null,
        headers: { cookie },
        body: newClient,
      });
      assert.equal(noCsrf.status, 403);
      assert.match(noCsrf.body.error.message, /x-csrf-token/);
      const wrongCsrf = await cloud.api('/clients', {
        token: null,
        headers: { cookie, 'x-csrf-token': 'guess' },
        body: newClient,
      });
      assert.equal(wrongCsrf.status, 403);
      const listed = await cloud.api('/clients');
      assert.ok(!listed.body.clients.some((c: { name: string }) => c.name === 'from the ui'));
      const ok = await cloud.api('/clients', {
        token: null,
        headers: { cookie, 'x-csrf-token': body.csrfToken },
        body: newClient,
      });
      assert.equal(ok.status, 201);
      const made = await cloud.server.ctx.store.db
        .selectFrom('oauth_clients')
        .select('created_by')
        .where('id', '=', ok.body.clientId)
        .executeTakeFirstOrThrow();
      assert.equal(made.created_by, 'ada');
      // A viewer's session is refused the admin routes.
      const viewer = await login(cloud, 'vic', PASSWORD);
      const denied = await cloud.api('/clients', {
        token: null,
        headers: { cookie: viewer.cookie },
      });
      assert.equal(denied.status, 403);
    });

    it('logs out: the session is deleted and its cookie stops working', async () => {
      const cloud = await withUser(target);
      const { cookie } = await login(cloud, 'ada', PASSWORD);
      const out = await fetch(`${cloud.projectUrl}/auth/logout`, {
        method: 'POST',
        headers: { cookie },
      });
      assert.equal(out.status, 200);
      const cleared = out.headers.get('set-cookie') ?? '';
      assert.match(cleared, /^tideline_session=;/);
      assert.match(cleared, /Max-Age=0/i);
      assert.equal(
        (await cloud.server.ctx.store.db.selectFrom('sessions').selectAll().execute()).length,
        0,
      );
      assert.equal(
        (await fetch(`${cloud.projectUrl}/auth/session`, { headers: { cookie } })).status,
        401,
      );
      assert.equal((await cloud.api('/clients', { token: null, headers: { cookie } })).status, 401);
    });

    it('ends sessions when they expire', async () => {
      const clock = new TestClock();
      const cloud = await withUser(target, { clock });
      const { cookie } = await login(cloud, 'ada', PASSWORD);
      clock.t += 12 * 3_600_000 - 1000;
      assert.equal(
        (await fetch(`${cloud.projectUrl}/auth/session`, { headers: { cookie } })).status,
        200,
      );
      clock.t += 1000;
      assert.equal(
        (await fetch(`${cloud.projectUrl}/auth/session`, { headers: { cookie } })).status,
        401,
      );
      assert.equal((await cloud.api('/clients', { token: null, headers: { cookie } })).status, 401);
    });

    it('throttles a username after 5 failures for 15 minutes, even with the right password', async () => {
      const clock = new TestClock();
      const cloud = await withUser(target, { clock });
      for (let i = 0; i < 5; i++) {
        const res = await login(cloud, 'ada', `wrong password ${i}`);
        assert.equal(res.status, 401, `attempt ${i + 1}`);
      }
      clock.t += 60_000;
      const blocked = await login(cloud, 'ada', PASSWORD);
      assert.equal(blocked.status, 429);
      assert.equal(blocked.headers.get('retry-after'), String(14 * 60));
      assert.match(blocked.body.error.message, /too many failed logins: try again in 14 minute/);
      assert.equal(blocked.setCookie, '');
      // Other usernames are not held up by one user's failures.
      assert.equal((await login(cloud, 'vic', PASSWORD)).status, 200);
      clock.t += 14 * 60_000;
      assert.equal((await login(cloud, 'ada', PASSWORD)).status, 200);
    });

    it('clears a username count on success and throttles an address after 20 failures', async () => {
      const clock = new TestClock();
      const cloud = await withUser(target, { clock });
      for (let i = 0; i < 4; i++) assert.equal((await login(cloud, 'ada', 'nope')).status, 401);
      assert.equal((await login(cloud, 'ada', PASSWORD)).status, 200);
      for (let i = 0; i < 4; i++) assert.equal((await login(cloud, 'ada', 'nope')).status, 401);
      // 8 failures from this address so far; 12 more over other names reach 20.
      for (let i = 0; i < 12; i++) {
        assert.equal((await login(cloud, `guess${i % 4}`, 'nope')).status, 401, `failure ${i + 9}`);
      }
      const blocked = await login(cloud, 'vic', PASSWORD);
      assert.equal(blocked.status, 429);
      assert.equal(Number(blocked.headers.get('retry-after')), 15 * 60);
      clock.t += 15 * 60_000;
      assert.equal((await login(cloud, 'vic', PASSWORD)).status, 200);
    });

    it('refuses users without a role in the project and disabled users', async () => {
      const cloud = await withUser(target);
      const { bootstrap } = await import('../../../src/cloud/tenancy.js');
      const other = await bootstrap(cloud.server.ctx, 'acme', 'other');
      await addUser(cloud.server.ctx, other.project.id, {
        username: 'olga',
        password: PASSWORD,
        role: 'admin',
      });
      const outsider = await login(cloud, 'olga', PASSWORD);
      assert.equal(outsider.status, 401);
      assert.equal(outsider.body.error.message, 'wrong username or password');
      await cloud.server.ctx.store.db
        .updateTable('users')
        .set({ disabled: 1 })
        .where('username', '=', 'vic')
        .execute();
      const disabled = await login(cloud, 'vic', PASSWORD);
      assert.equal(disabled.status, 403);
      assert.match(disabled.body.error.message, /disabled/);
    });

    it('answers bad login input with a clear 4xx and opens no session', async () => {
      const cloud = await withUser(target);
      const huge = 'x'.repeat(10 * 1024 * 1024);
      const cases: Array<[unknown, number, RegExp, Record<string, string>?]> = [
        ['{"username": "ada", ', 400, /not valid JSON/],
        [
          'username=ada&password=x',
          415,
          /JSON/,
          { 'content-type': 'application/x-www-form-urlencoded' },
        ],
        [{ username: 'ada' }, 400, /^password: /],
        [{ username: 1, password: PASSWORD }, 400, /^username: /],
        [{ username: 'ada', password: PASSWORD, remember: true }, 400, /unknown field.*"remember"/],
        [{ username: huge, password: PASSWORD }, 400, /^username: /],
        [{ username: 'ada', password: huge }, 400, /^password: /],
        [
          { username: "ada' OR '1'='1", password: "' OR '1'='1" },
          401,
          /^wrong username or password$/,
        ],
        [
          { username: "'; DROP TABLE users; --", password: PASSWORD },
          401,
          /^wrong username or password$/,
        ],
      ];
      for (const [body, status, message, headers] of cases) {
        const res = await post(cloud, '/auth/login', body, headers);
        const json = (await res.json()) as { error: { message: string } };
        assert.equal(
          res.status,
          status,
          `${JSON.stringify(body).slice(0, 60)}: ${JSON.stringify(json)}`,
        );
        assert.match(json.error.message, message);
        assert.equal(res.headers.get('set-cookie'), null);
      }
      assert.equal(
        (await cloud.server.ctx.store.db.selectFrom('sessions').selectAll().execute()).length,
        0,
      );
      assert.equal(
        (await cloud.server.ctx.store.db.selectFrom('users').selectAll().execute()).length,
        2,
      );
      const forged = await fetch(`${cloud.projectUrl}/auth/session`, {
        headers: { cookie: "tideline_session=' OR 1=1 --" },
      });
      assert.equal(forged.status, 401);
    });
  });
}
