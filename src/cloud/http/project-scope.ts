/**
 * Routes under a project: `/sqlmesh/:org/:project/...`. The project is looked
 * up once per request (and remembered: projects are never renamed or
 * deleted); the caller is authenticated (bearer token, or a web session
 * cookie plus CSRF header for writes) and must belong to it.
 */
import { createHash } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { can, type Action } from '../auth/permissions.js';
import { verifyAccessToken, type Principal } from '../auth/tokens.js';
import type { CloudContext } from '../context.js';
import type { Store } from '../store/database.js';
import { forbidden, notFound, unauthorized } from './api-error.js';

export interface ProjectRef {
  id: string;
  org: string;
  name: string;
}

export interface CloudEnv {
  Variables: {
    requestId: string;
    project: ProjectRef;
    principal: Principal;
  };
}

export const SESSION_COOKIE = 'tideline_session';
export const CSRF_HEADER = 'x-csrf-token';

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Project ids by org and name, per store. Projects are never renamed or
 * deleted, so a project found once is found for good; a miss is not kept
 * (the project may be created meanwhile).
 */
const projectIds = new WeakMap<Store, Map<string, string>>();
const MAX_PROJECTS = 10_000;

async function findProjectId(store: Store, org: string, name: string): Promise<string | undefined> {
  let known = projectIds.get(store);
  const key = `${org}\u0000${name}`;
  const hit = known?.get(key);
  if (hit !== undefined) return hit;
  const row = await store.db
    .selectFrom('projects')
    .innerJoin('organizations', 'organizations.id', 'projects.org_id')
    .select(['projects.id as id'])
    .where('organizations.name', '=', org)
    .where('projects.name', '=', name)
    .executeTakeFirst();
  if (!row) return undefined;
  if (!known) {
    known = new Map();
    projectIds.set(store, known);
  }
  if (known.size >= MAX_PROJECTS) known.clear();
  known.set(key, row.id);
  return row.id;
}

/** Finds the project named in the path, or answers 404. */
export function projectScope(ctx: CloudContext): MiddlewareHandler<CloudEnv> {
  return async (c, next) => {
    const org = c.req.param('org');
    const name = c.req.param('project');
    if (!org || !name) throw notFound('no project in the path: use /sqlmesh/<org>/<project>/...');
    const id = await findProjectId(ctx.store, org, name);
    if (id === undefined) throw notFound(`no project ${org}/${name} on this server`);
    c.set('project', { id, org, name });
    await next();
  };
}

async function sessionPrincipal(
  ctx: CloudContext,
  c: Context<CloudEnv>,
  projectId: string,
): Promise<Principal | undefined> {
  const token = getCookie(c, SESSION_COOKIE);
  if (!token) return undefined;
  const row = await ctx.store.db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .leftJoin('user_roles', (join) =>
      join.onRef('user_roles.user_id', '=', 'users.id').on('user_roles.project_id', '=', projectId),
    )
    .select([
      'users.id as userId',
      'users.username as username',
      'users.disabled as disabled',
      'sessions.csrf_token as csrf',
      'sessions.expires_ts as expires',
      'user_roles.role as role',
    ])
    .where('sessions.id', '=', sha256(token))
    .executeTakeFirst();
  if (!row || row.expires <= ctx.clock.now() || row.disabled) {
    throw unauthorized('your session has ended: log in again');
  }
  if (!row.role) throw notFound('no such project for this user');
  return {
    kind: 'user',
    id: row.userId,
    name: row.username,
    projectId,
    role: row.role,
    csrfToken: row.csrf,
  };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Requires a caller of the path's project (see {@link projectScope}). */
export function authenticate(ctx: CloudContext): MiddlewareHandler<CloudEnv> {
  return async (c, next) => {
    const project = c.get('project');
    const header = c.req.header('authorization');
    let principal: Principal | undefined;
    if (header !== undefined) {
      const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
      if (!match)
        throw unauthorized('malformed Authorization header: send "Bearer <access token>"');
      principal = await verifyAccessToken(ctx, match[1]!);
    } else {
      principal = await sessionPrincipal(ctx, c, project.id);
      if (principal && !SAFE_METHODS.has(c.req.method)) {
        const sent = c.req.header(CSRF_HEADER);
        if (!sent || sent !== principal.csrfToken) {
          throw forbidden(`missing or wrong ${CSRF_HEADER} header: reload the page and try again`);
        }
      }
    }
    if (!principal) throw unauthorized();
    // Another project's credentials learn nothing about this one.
    if (principal.projectId !== project.id)
      throw notFound(`no project ${project.org}/${project.name}`);
    c.set('principal', principal);
    await next();
  };
}

const ACTION_WORDS: Record<Action, string> = {
  read: 'read this project',
  'state.read': 'read state',
  'state.write': 'write state',
  'plan.dev': 'plan non-prod environments',
  'plan.prod': 'plan prod',
  'run.dev': 'run non-prod environments',
  'run.prod': 'run prod',
  pause: 'pause environments or models',
  clients: 'manage OAuth clients',
  users: 'manage users',
  connections: 'manage connections',
  executor: 'act as an executor',
};

/** Throws 403 unless the request's principal may perform `action`. */
export function requirePermission(c: Context<CloudEnv>, action: Action): Principal {
  const principal = c.get('principal');
  if (!can(principal.role, action)) {
    throw forbidden(`role ${principal.role} may not ${ACTION_WORDS[action]}; ask an admin`);
  }
  return principal;
}

/** Middleware form of {@link requirePermission}. */
export function permit(action: Action): MiddlewareHandler<CloudEnv> {
  return async (c, next) => {
    requirePermission(c, action);
    await next();
  };
}
