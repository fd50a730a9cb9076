/**
 * A reusable check of who may call which routes. For each route it asserts:
 * no token → 401; each role not allowed → 403 (or 404); each allowed role →
 * neither 401 nor 403; an expired token → 401; a revoked client's token →
 * 401; an admin token of another project → 404.
 *
 * Denied calls run first, then allowed ones, in the order of `allowed`, so a
 * route that changes something sees the allowed roles' calls last. Give
 * `body` as a function for a fresh body per call (unique names, ...).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ROLES } from '../../../src/cloud/auth/permissions.js';
import { issueAccessToken } from '../../../src/cloud/auth/tokens.js';
import type { Role } from '../../../src/cloud/store/schema.js';
import { bootstrap, createClient } from '../../../src/cloud/tenancy.js';
import type { TestCloud } from '../../helpers/cloud.js';

export interface MatrixRoute {
  method: string;
  /** The path after `<project>/api`, e.g. `/clients`. */
  path: string;
  body?: unknown | (() => unknown);
  allowed: readonly Role[];
}

function bodyOf(route: MatrixRoute): unknown {
  return typeof route.body === 'function' ? (route.body as () => unknown)() : route.body;
}

function describeCall(route: MatrixRoute, who: string): string {
  return `${route.method} ${route.path} as ${who}`;
}

/** Checks every route of `routes` against the rules in the module comment. */
export async function checkAuthMatrix(
  cloud: TestCloud,
  routes: ReadonlyArray<MatrixRoute>,
): Promise<void> {
  const ctx = cloud.server.ctx;
  const call = (route: MatrixRoute, token: string | null) => {
    const body = bodyOf(route);
    return cloud.api(route.path, {
      method: route.method,
      token,
      ...(body !== undefined ? { body } : {}),
    });
  };

  // A token issued long enough ago to have expired by the cloud's clock.
  const admin = cloud.clients.admin;
  const expired = (
    await issueAccessToken(
      { ...ctx, clock: { now: () => ctx.clock.now() - ctx.settings.accessTokenTtlMs - 60_000 } },
      { id: admin.clientId, projectId: cloud.projectId, role: 'admin' },
    )
  ).accessToken;

  // An admin client revoked after its token was issued.
  const doomed = await createClient(ctx, cloud.projectId, {
    name: 'matrix revoked',
    role: 'admin',
  });
  const revokedToken = await cloud.token(doomed);
  await ctx.store.db
    .updateTable('oauth_clients')
    .set({ revoked_ts: ctx.clock.now() })
    .where('id', '=', doomed.clientId)
    .execute();

  // The admin of another project on the same server.
  const other = await bootstrap(ctx, 'matrix-org', `other-${randomBytes(4).toString('hex')}`);
  const foreign = (
    await issueAccessToken(ctx, {
      id: other.client.clientId,
      projectId: other.project.id,
      role: 'admin',
    })
  ).accessToken;

  for (const route of routes) {
    const none = await call(route, null);
    assert.equal(
      none.status,
      401,
      `${describeCall(route, 'nobody')}: ${JSON.stringify(none.body)}`,
    );

    const old = await call(route, expired);
    assert.equal(
      old.status,
      401,
      `${describeCall(route, 'an expired token')}: ${JSON.stringify(old.body)}`,
    );
    assert.match(String(old.body?.error?.message), /expired/);

    const revoked = await call(route, revokedToken);
    assert.equal(
      revoked.status,
      401,
      `${describeCall(route, 'a revoked client')}: ${JSON.stringify(revoked.body)}`,
    );

    const elsewhere = await call(route, foreign);
    assert.equal(
      elsewhere.status,
      404,
      `${describeCall(route, "another project's admin")}: ${JSON.stringify(elsewhere.body)}`,
    );

    for (const role of ROLES.filter((r) => !route.allowed.includes(r))) {
      const res = await call(route, await cloud.token(cloud.clients[role]));
      assert.ok(
        res.status === 403 || res.status === 404,
        `${describeCall(route, role)}: expected 403 or 404, got ${res.status} ${JSON.stringify(res.body)}`,
      );
    }
    for (const role of route.allowed) {
      const res = await call(route, await cloud.token(cloud.clients[role]));
      assert.ok(
        res.status !== 401 && res.status !== 403,
        `${describeCall(route, role)}: expected access, got ${res.status} ${JSON.stringify(res.body)}`,
      );
    }
  }
}
