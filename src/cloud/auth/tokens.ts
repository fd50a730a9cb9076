/**
 * Short-lived signed access tokens (JWT, HS256) issued to OAuth clients by
 * the client-credentials grant, and their checking on every request. A
 * revoked client's tokens stop working at once: the client is looked up on
 * every check.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import type { CloudContext } from '../context.js';
import { unauthorized } from '../http/api-error.js';
import type { Role } from '../store/schema.js';
import { isRole } from './permissions.js';

const ISSUER = 'tideline';
const AUDIENCE = 'tideline-api';

/** Who is making a request, once authenticated. */
export interface Principal {
  kind: 'client' | 'user';
  /** The client id or user id. */
  id: string;
  /** A name to record (`client:<id>` or the username). */
  name: string;
  projectId: string;
  role: Role;
  /** For users authenticated by a session cookie: the CSRF token of the session. */
  csrfToken?: string;
}

export interface IssuedToken {
  accessToken: string;
  expiresIn: number;
  tokenType: 'Bearer';
}

export async function issueAccessToken(
  ctx: CloudContext,
  client: { id: string; projectId: string; role: Role },
): Promise<IssuedToken> {
  const now = ctx.clock.now();
  const ttl = ctx.settings.accessTokenTtlMs;
  const accessToken = await new SignJWT({ pid: client.projectId, role: client.role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(client.id)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setJti(randomUUID())
    .setIssuedAt(Math.floor(now / 1000))
    .setExpirationTime(Math.floor((now + ttl) / 1000))
    .sign(ctx.signingKey);
  return { accessToken, expiresIn: Math.floor(ttl / 1000), tokenType: 'Bearer' };
}

/** The principal of a bearer token, or a 401 saying why not. */
export async function verifyAccessToken(ctx: CloudContext, token: string): Promise<Principal> {
  let payload: Record<string, unknown>;
  try {
    const verified = await jwtVerify(token, ctx.signingKey, {
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ['HS256'],
      currentDate: new Date(ctx.clock.now()),
    });
    payload = verified.payload as Record<string, unknown>;
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) {
      throw unauthorized('the access token has expired: request a new one from the token endpoint');
    }
    throw unauthorized('the access token is not valid: request a new one from the token endpoint');
  }
  const clientId = payload['sub'];
  const projectId = payload['pid'];
  const role = payload['role'];
  if (typeof clientId !== 'string' || typeof projectId !== 'string' || !isRole(role)) {
    throw unauthorized('the access token is not valid: request a new one from the token endpoint');
  }
  const client = await ctx.store.db
    .selectFrom('oauth_clients')
    .select(['revoked_ts', 'project_id', 'role'])
    .where('id', '=', clientId)
    .executeTakeFirst();
  if (!client || client.revoked_ts !== null) {
    throw unauthorized(`OAuth client ${clientId} has been revoked; ask an admin for a new client`);
  }
  return {
    kind: 'client',
    id: clientId,
    name: `client:${clientId}`,
    projectId: client.project_id,
    role: client.role,
  };
}
