/**
 * Short-lived signed access tokens (JWT, HS256) issued to OAuth clients by
 * the client-credentials grant, and their checking on every request. A
 * revoked client's tokens stop working at once: the client is looked up on
 * every check (concurrent checks share one query).
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import type { CloudContext } from '../context.js';
import { unauthorized } from '../http/api-error.js';
import { Coalescer } from '../queue/coalescer.js';
import type { Store } from '../store/database.js';
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

/** What a token's signature vouches for, kept after its first check. */
interface VerifiedClaims {
  clientId: string;
  /** Expiry and not-before, epoch seconds, when the token carries them. */
  exp: number | undefined;
  nbf: number | undefined;
}

/**
 * Tokens whose signature and claims were checked, per signing key: the HMAC
 * check is deterministic, so a token that passed once passes again until it
 * expires, and only the times need checking on later requests. Whether the
 * client is revoked is never remembered: that is looked up on every request.
 */
const verifiedTokens = new WeakMap<Uint8Array, Map<string, VerifiedClaims>>();
const MAX_VERIFIED_TOKENS = 10_000;

function invalidToken() {
  return unauthorized('the access token is not valid: request a new one from the token endpoint');
}

function expiredToken() {
  return unauthorized('the access token has expired: request a new one from the token endpoint');
}

async function verifySignature(ctx: CloudContext, token: string): Promise<VerifiedClaims> {
  let known = verifiedTokens.get(ctx.signingKey);
  const now = ctx.clock.now();
  const nowSeconds = Math.floor(now / 1000);
  const hit = known?.get(token);
  if (hit) {
    // The same time checks as the full verification makes.
    if (hit.nbf !== undefined && hit.nbf > nowSeconds) throw invalidToken();
    if (hit.exp !== undefined && hit.exp <= nowSeconds) throw expiredToken();
    return hit;
  }
  let payload: Record<string, unknown>;
  try {
    const verified = await jwtVerify(token, ctx.signingKey, {
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ['HS256'],
      currentDate: new Date(now),
    });
    payload = verified.payload as Record<string, unknown>;
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) throw expiredToken();
    throw invalidToken();
  }
  const clientId = payload['sub'];
  const projectId = payload['pid'];
  const role = payload['role'];
  if (typeof clientId !== 'string' || typeof projectId !== 'string' || !isRole(role)) {
    throw invalidToken();
  }
  const claims: VerifiedClaims = {
    clientId,
    exp: typeof payload['exp'] === 'number' ? payload['exp'] : undefined,
    nbf: typeof payload['nbf'] === 'number' ? payload['nbf'] : undefined,
  };
  if (!known) {
    known = new Map();
    verifiedTokens.set(ctx.signingKey, known);
  }
  if (known.size >= MAX_VERIFIED_TOKENS) {
    for (const [t, c] of known) if (c.exp !== undefined && c.exp <= nowSeconds) known.delete(t);
    if (known.size >= MAX_VERIFIED_TOKENS) known.clear();
  }
  known.set(token, claims);
  return claims;
}

interface ClientRow {
  id: string;
  revoked_ts: number | null;
  project_id: string;
  role: Role;
}

/**
 * Client look-ups of concurrent requests share one query. A look-up always
 * waits for a query that starts after it was asked for, so a revocation
 * committed before a request arrived is always seen by it.
 */
const clientLookups = new WeakMap<Store, Coalescer<string, ClientRow | undefined>>();

function lookupClient(store: Store, clientId: string): Promise<ClientRow | undefined> {
  let lookups = clientLookups.get(store);
  if (!lookups) {
    lookups = new Coalescer(async (ids) => {
      const unique = [...new Set(ids)];
      const rows: ClientRow[] =
        store.driver.kind === 'postgres'
          ? // A named statement: parsed and planned once per connection.
            (
              await store.driver.pool.query<ClientRow>({
                name: 'tideline_client_lookup',
                text: 'SELECT "id", "revoked_ts", "project_id", "role" FROM "oauth_clients" WHERE "id" = ANY($1::text[])',
                values: [unique],
              })
            ).rows
          : await store.db
              .selectFrom('oauth_clients')
              .select(['id', 'revoked_ts', 'project_id', 'role'])
              .where('id', 'in', unique)
              .execute();
      const byId = new Map(rows.map((r) => [r.id, r]));
      return ids.map((id) => ({ ok: true, value: byId.get(id) }));
    }, 500);
    clientLookups.set(store, lookups);
  }
  return lookups.submit(clientId);
}

/**
 * The principal of a bearer token, or a 401 saying why not. The signature
 * check of a token is remembered; the client is looked up on every request,
 * so a revoked client's tokens stop working at once (also when another
 * process revoked it).
 */
export async function verifyAccessToken(ctx: CloudContext, token: string): Promise<Principal> {
  const { clientId } = await verifySignature(ctx, token);
  const client = await lookupClient(ctx.store, clientId);
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
