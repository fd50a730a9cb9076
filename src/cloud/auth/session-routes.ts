/**
 * Web UI login under the project URL (no token needed):
 *
 * - `POST <project>/auth/login {username, password}` sets the session cookie
 *   (HttpOnly, SameSite=Strict, Secure unless the server is told otherwise,
 *   path `/sqlmesh/<org>/<project>`) and answers `{username, role, csrfToken}`.
 * - `POST <project>/auth/logout` ends the session and clears the cookie.
 * - `GET <project>/auth/session` answers the current user and CSRF token, or 401.
 *
 * The client address for throttling is the TCP peer's; forwarded-for headers
 * are not trusted, since anyone can send them.
 */
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import type { CloudContext } from '../context.js';
import { unauthorized } from '../http/api-error.js';
import type { RouteModule } from '../http/app.js';
import { readJson } from '../http/json-body.js';
import { SESSION_COOKIE, type CloudEnv } from '../http/project-scope.js';
import { LoginThrottled, login, logout, readSession } from './sessions.js';
import { MAX_PASSWORD_LENGTH, MAX_USERNAME_LENGTH } from './users.js';

const LoginRequest = z
  .object({
    username: z.string().min(1, 'must not be empty').max(MAX_USERNAME_LENGTH),
    password: z.string().min(1, 'must not be empty').max(MAX_PASSWORD_LENGTH),
  })
  .strict();

function cookiePath(c: Context<CloudEnv>): string {
  const p = c.get('project');
  return `/sqlmesh/${encodeURIComponent(p.org)}/${encodeURIComponent(p.name)}`;
}

function clientAddress(c: Context<CloudEnv>): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export const sessionRoutes: RouteModule = {
  name: 'sessions',
  projectPublic(app, ctx: CloudContext) {
    app.post('/auth/login', async (c) => {
      const body = await readJson(c, LoginRequest);
      const project = c.get('project');
      c.header('cache-control', 'no-store');
      let session;
      try {
        session = await login(ctx, project.id, { ...body, address: clientAddress(c) });
      } catch (err) {
        if (err instanceof LoginThrottled) {
          c.header('retry-after', String(Math.ceil(err.retryAfterMs / 1000)));
        }
        throw err;
      }
      setCookie(c, SESSION_COOKIE, session.token, {
        httpOnly: true,
        sameSite: 'Strict',
        secure: ctx.settings.secureCookies,
        path: cookiePath(c),
        maxAge: Math.floor(ctx.settings.sessionTtlMs / 1000),
      });
      ctx.log.info('login', { project: project.id, user: session.username });
      return c.json({
        username: session.username,
        role: session.role,
        csrfToken: session.csrfToken,
      });
    });

    app.post('/auth/logout', async (c) => {
      const token = getCookie(c, SESSION_COOKIE);
      if (token) await logout(ctx, token);
      deleteCookie(c, SESSION_COOKIE, {
        path: cookiePath(c),
        httpOnly: true,
        sameSite: 'Strict',
        secure: ctx.settings.secureCookies,
      });
      return c.json({ loggedOut: true });
    });

    app.get('/auth/session', async (c) => {
      c.header('cache-control', 'no-store');
      const token = getCookie(c, SESSION_COOKIE);
      const session = token ? await readSession(ctx, c.get('project').id, token) : undefined;
      if (!session)
        throw unauthorized('not logged in: POST your username and password to auth/login');
      return c.json({
        userId: session.userId,
        username: session.username,
        role: session.role,
        csrfToken: session.csrfToken,
        expiresTs: session.expiresTs,
      });
    });
  },
};
