/**
 * CloudClient against a real cloud (SQLite and PostgreSQL): access tokens
 * renewed before they expire and once after a 401, retries of idempotent
 * requests through a proxy that fails on purpose, reconciled writes whose
 * answer was lost, and one-line errors without secrets.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { tokenRoutes } from '../../../src/cloud/auth/token-routes.js';
import { stateRoutes } from '../../../src/cloud/state/state-routes.js';
import { ConfigError } from '../../../src/engine/errors.js';
import { snapshotKey } from '../../../src/engine/state/state-sync.js';
import { testClock } from '../../../src/engine/time/clock.js';
import {
  CloudApiError,
  CloudClient,
  CloudUnreachableError,
} from '../../../src/executor/client/cloud-client.js';
import { HttpStateSync } from '../../../src/executor/client/http-state-sync.js';
import { makeEnvironment, makeSnapshot } from '../../engine/state/state-fixtures.js';
import { startTestCloud } from '../../helpers/cloud.js';
import { storeTargets } from '../../helpers/stores.js';

const targets = await storeTargets();

type Action = 'forward' | 'fail503' | 'forwardThen503' | 'destroy' | 'hang';

/** A loopback proxy to the cloud that does what `decide` says per request. */
async function startProxy(
  upstream: string,
  decide: (req: IncomingMessage, n: number) => Action,
): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url}`);
      const action = decide(req, seen.length);
      if (action === 'destroy') {
        req.socket.destroy();
        return;
      }
      if (action === 'hang') return;
      if (action === 'fail503') {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('upstream unavailable');
        return;
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
      }
      const body = Buffer.concat(chunks);
      fetch(`${upstream}${req.url}`, {
        method: req.method!,
        headers,
        ...(body.length ? { body } : {}),
      })
        .then(async (up) => {
          const text = await up.text();
          if (action === 'forwardThen503') {
            res.writeHead(503, { 'content-type': 'text/plain' });
            res.end('lost answer');
            return;
          }
          res.writeHead(up.status, {
            'content-type': up.headers.get('content-type') ?? 'text/plain',
          });
          res.end(text);
        })
        .catch(() => req.socket.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  after(close);
  return { url: `http://127.0.0.1:${port}`, seen, close };
}

for (const target of targets) {
  describe(`CloudClient on ${target.kind}`, async () => {
    const clock = testClock(1_700_000_000_000);
    const cloud = await startTestCloud(target, {
      clock,
      settings: { accessTokenTtlMs: 120_000 },
      routes: [tokenRoutes, stateRoutes],
    });
    const path = cloud.projectUrl.slice(cloud.server.url.length);
    const admin = cloud.clients.admin;
    const make = (extra: Partial<ConstructorParameters<typeof CloudClient>[0]> = {}) =>
      new CloudClient({
        url: cloud.projectUrl,
        clientId: admin.clientId,
        clientSecret: admin.clientSecret,
        clock: () => clock.now(),
        sleep: async () => undefined,
        ...extra,
      });

    test('tokens are renewed before they expire, and shared by leased clients', async () => {
      const client = make();
      await client.get('/state/versions');
      await client.get('/state/versions');
      assert.equal(client.tokenRequests, 1);
      clock.advance(30_000);
      await client.withLease('t1', 'l1', 1).get('/state/versions');
      assert.equal(client.tokenRequests, 1, 'still fresh, and the leased client shares it');
      // 120 s tokens are renewed 60 s before they expire.
      clock.advance(31_000);
      await client.get('/state/versions');
      assert.equal(client.tokenRequests, 2);
      clock.advance(500_000);
      await client.get('/state/versions');
      assert.equal(client.tokenRequests, 3, 'a long-expired token is replaced before use');
    });

    test('a 401 gets one fresh token and the request again', async () => {
      // The client's own clock stands still, so it believes its token is fresh.
      const frozen = clock.now();
      const client = make({ clock: () => frozen });
      await client.get('/state/versions');
      clock.advance(200_000);
      const versions = await client.get<{ schemaVersion: number }>('/state/versions');
      assert.ok(versions.schemaVersion >= 1);
      assert.equal(client.tokenRequests, 2);
    });

    test('a revoked client gets one line naming the variables, never the secret', async () => {
      const { createClient } = await import('../../../src/cloud/tenancy.js');
      const doomed = await createClient(cloud.server.ctx, cloud.projectId, {
        name: 'doomed',
        role: 'developer',
      });
      const client = make({ clientId: doomed.clientId, clientSecret: doomed.clientSecret });
      await client.get('/state/versions');
      await cloud.server.ctx.store.db
        .updateTable('oauth_clients')
        .set({ revoked_ts: clock.now() })
        .where('id', '=', doomed.clientId)
        .execute();
      await assert.rejects(client.get('/state/versions'), (err: unknown) => {
        assert.ok(err instanceof CloudApiError, String(err));
        assert.equal(err.status, 401);
        assert.match(err.message, /oauth\/token: 401 invalid_client/);
        assert.match(err.message, /TCLOUD_CLIENT_ID and TCLOUD_CLIENT_SECRET/);
        assert.ok(!err.message.includes(doomed.clientSecret));
        assert.ok(!err.message.includes('\n'));
        return true;
      });
      const wrong = make({ clientSecret: 'not-the-secret-xyz' });
      await assert.rejects(
        wrong.get('/state/versions'),
        (err: unknown) =>
          err instanceof CloudApiError && !err.message.includes('not-the-secret-xyz'),
      );
    });

    test('server errors become one-line errors naming the path and the message', async () => {
      const viewer = make({
        clientId: cloud.clients.viewer.clientId,
        clientSecret: cloud.clients.viewer.clientSecret,
      });
      const state = new HttpStateSync(viewer);
      await assert.rejects(
        state.pushSnapshots([makeSnapshot('"db"."s"."a"', 'a', 'v')]),
        (err: unknown) => {
          assert.ok(err instanceof CloudApiError);
          assert.equal(err.status, 403);
          assert.equal(err.code, 'forbidden');
          assert.equal(
            err.message,
            `cloud POST ${path}/api/state/snapshots: 403 forbidden: role viewer may not write state; ask an admin`,
          );
          return true;
        },
      );
      await assert.rejects(
        make().get('/state/nowhere'),
        /GET \/sqlmesh\/acme\/analytics\/api\/state\/nowhere: 404 not_found/,
      );
    });

    test('idempotent requests are retried on 503 and network errors, with bounded backoff', async () => {
      let failures = 2;
      const proxy = await startProxy(cloud.server.url, (req) => {
        if (req.url?.includes('/api/state/versions') && failures > 0) {
          failures--;
          return failures === 1 ? 'fail503' : 'destroy';
        }
        return 'forward';
      });
      const delays: number[] = [];
      const retries: string[] = [];
      const client = make({
        url: `${proxy.url}${path}`,
        sleep: async (ms) => {
          delays.push(ms);
        },
        random: () => 0.5,
        retryBaseMs: 100,
        retryMaxMs: 150,
      });
      const versions = await client.get<{ schemaVersion: number }>('/state/versions', {
        onRetry: (n, reason) => retries.push(`${n}:${reason}`),
      });
      assert.ok(versions.schemaVersion >= 1);
      assert.equal(proxy.seen.filter((s) => s.includes('/state/versions')).length, 3);
      assert.equal(retries[0], '1:503');
      assert.equal(retries.length, 2);
      // Half fixed, half random, doubling from 100 ms and capped at 150 ms.
      assert.deepEqual(delays, [75, 112.5]);

      // A request that keeps failing stops after maxRetries + 1 attempts.
      const down = await startProxy(cloud.server.url, (req) =>
        req.url?.includes('/oauth/token') ? 'forward' : 'fail503',
      );
      const stubborn = make({ url: `${down.url}${path}`, maxRetries: 3 });
      await assert.rejects(stubborn.get('/state/versions'), (err: unknown) => {
        assert.ok(err instanceof CloudApiError && err.status === 503, String(err));
        assert.match(err.message, /GET \/sqlmesh\/acme\/analytics\/api\/state\/versions: 503/);
        return true;
      });
      assert.equal(down.seen.filter((s) => s.includes('/state/versions')).length, 4);

      // A write that is not idempotent is sent once.
      await assert.rejects(
        stubborn.post('/state/snapshots', { snapshots: [] }, { idempotent: false }),
        /503/,
      );
      assert.equal(down.seen.filter((s) => s.endsWith('/state/snapshots')).length, 1);
    });

    test('a push or environment write whose answer was lost is reconciled on retry', async () => {
      let lose = new Set(['/api/state/snapshots', '/api/state/environments/dev']);
      const proxy = await startProxy(cloud.server.url, (req) => {
        const hit = [...lose].find((p) => req.url?.endsWith(p));
        if (hit) {
          lose.delete(hit);
          return 'forwardThen503';
        }
        return 'forward';
      });
      const state = new HttpStateSync(make({ url: `${proxy.url}${path}` }));
      const s = makeSnapshot('"db"."s"."lost"', 'lost1', 'v1');
      await state.pushSnapshots([s]);
      assert.equal(proxy.seen.filter((r) => r.endsWith('/api/state/snapshots')).length, 2);
      assert.deepEqual(await state.snapshotsExist([s]), new Set([snapshotKey(s)]));

      const env = makeEnvironment('dev', 'lost-plan');
      await state.upsertEnvironment(env, { expectedPlanId: null });
      assert.equal(
        proxy.seen.filter((r) => r.startsWith('PUT ') && r.endsWith('/environments/dev')).length,
        2,
      );
      assert.deepEqual(await state.getEnvironment('dev'), env);
      // Without a lost answer, the same write is stale as ever.
      lose = new Set();
      await assert.rejects(
        state.upsertEnvironment(makeEnvironment('dev', 'other-plan'), { expectedPlanId: null }),
        /run plan again/,
      );
      await assert.rejects(state.pushSnapshots([s]), /already in state/);
    });

    test('timeouts and unreachable servers are one line', async () => {
      const proxy = await startProxy(cloud.server.url, (req) =>
        req.url?.includes('/oauth/token') ? 'forward' : 'hang',
      );
      const slow = make({ url: `${proxy.url}${path}`, timeoutMs: 150, maxRetries: 1 });
      await assert.rejects(slow.get('/state/versions'), (err: unknown) => {
        assert.ok(err instanceof CloudUnreachableError, String(err));
        assert.match(
          err.message,
          /cannot reach http:\/\/127\.0\.0\.1:\d+: timed out \(after 2 attempts\)/,
        );
        return true;
      });
      await proxy.close();
      const gone = make({ url: `${proxy.url}${path}`, maxRetries: 0 });
      await assert.rejects(gone.get('/state/versions'), (err: unknown) => {
        assert.ok(err instanceof CloudUnreachableError, String(err));
        assert.match(err.message, /oauth\/token: cannot reach/);
        assert.ok(!err.message.includes(admin.clientSecret));
        return true;
      });
    });

    test('configuration comes from TCLOUD_* variables, checked by name', () => {
      const env = {
        TCLOUD_URL: cloud.projectUrl,
        TCLOUD_CLIENT_ID: admin.clientId,
        TCLOUD_CLIENT_SECRET: admin.clientSecret,
      };
      assert.equal(CloudClient.fromEnv(env).projectUrl, cloud.projectUrl);
      assert.equal(
        CloudClient.fromEnv({ ...env, TCLOUD_URL: `${cloud.projectUrl}/` }).projectUrl,
        cloud.projectUrl,
      );
      for (const [key, value, pattern] of [
        ['TCLOUD_URL', undefined, /TCLOUD_URL: is not set/],
        ['TCLOUD_CLIENT_SECRET', '', /TCLOUD_CLIENT_SECRET: is not set/],
        ['TCLOUD_URL', 'not a url', /TCLOUD_URL: is not a URL/],
        ['TCLOUD_URL', 'ftp://host/sqlmesh/a/b', /must be http or https/],
        ['TCLOUD_URL', 'http://host/other', /does not name a project/],
        ['TCLOUD_URL', 'http://u:pw@host/sqlmesh/a/b', /must not hold credentials/],
      ] as const) {
        assert.throws(
          () => CloudClient.fromEnv({ ...env, [key]: value }),
          (err: unknown) => {
            assert.ok(err instanceof ConfigError);
            assert.match(err.message, pattern);
            assert.ok(!err.message.includes(admin.clientSecret));
            assert.ok(!err.message.includes('pw@'));
            return true;
          },
        );
      }
      assert.throws(() => make().withLease('t:1', 'l', 1), /not a valid id/);
      assert.throws(() => make().withLease('t', 'l', -1), /fencing token/);
      assert.equal(make().withLease('t', 'l', 7).leaseHeader, 't:l:7');
    });
  });
}
