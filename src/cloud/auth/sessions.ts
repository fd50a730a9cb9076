/**
 * Web sessions: a logged-in user of a project holds a random token in the
 * `tideline_session` cookie; the store keeps only its sha256, the user, a
 * CSRF token (sent back by the UI in `x-csrf-token` on every write) and the
 * expiry. Passwords are checked with scrypt; unknown usernames cost the same
 * time as wrong passwords and get the same answer.
 */
import type { CloudContext } from '../context.js';
import { ApiError, forbidden, unauthorized } from '../http/api-error.js';
import { sha256 } from '../http/project-scope.js';
import type { Role } from '../store/schema.js';
import {
  clearLoginFailures,
  loginKeys,
  loginRetryAfterMs,
  recordLoginFailure,
} from './login-throttle.js';
import { hashSecret, randomToken, verifySecret } from './secrets.js';
import { normalizeUsername } from './users.js';

export const LOGIN_FAILED = 'wrong username or password';

/** A session as the UI sees it. */
export interface SessionInfo {
  userId: string;
  username: string;
  role: Role;
  csrfToken: string;
  expiresTs: number;
}

export interface NewSession extends SessionInfo {
  /** The cookie value; only its sha256 is stored. */
  token: string;
}

/** Refused because of too many failures; `retryAfterMs` says for how long. */
export class LoginThrottled extends ApiError {
  constructor(readonly retryAfterMs: number) {
    super(
      429,
      'too_many_attempts',
      `too many failed logins: try again in ${Math.ceil(retryAfterMs / 60_000)} minute(s)`,
    );
  }
}

let decoy: Promise<string> | undefined;
/** A hash to check unknown usernames against, so they take as long as known ones. */
function decoyHash(): Promise<string> {
  decoy ??= hashSecret('no such user: this hash only spends time');
  return decoy;
}

/**
 * Checks a username and password for the project and opens a session.
 * Throws 429 ({@link LoginThrottled}) while throttled, 401 for any wrong or
 * unknown credentials (or a user without a role in the project), 403 for a
 * disabled account whose password was right.
 */
export async function login(
  ctx: CloudContext,
  projectId: string,
  credentials: { username: string; password: string; address: string },
): Promise<NewSession> {
  const username = normalizeUsername(credentials.username);
  const keys = loginKeys(username, credentials.address);
  const wait = await loginRetryAfterMs(ctx, keys);
  if (wait > 0) throw new LoginThrottled(wait);
  const row = await ctx.store.db
    .selectFrom('users')
    .leftJoin('user_roles', (join) =>
      join.onRef('user_roles.user_id', '=', 'users.id').on('user_roles.project_id', '=', projectId),
    )
    .select([
      'users.id as id',
      'users.password_hash as hash',
      'users.disabled as disabled',
      'user_roles.role as role',
    ])
    .where('users.username', '=', username)
    .executeTakeFirst();
  const ok = await verifySecret(credentials.password, row?.hash ?? (await decoyHash()));
  if (!row || !ok || !row.role) {
    await recordLoginFailure(ctx, keys);
    throw unauthorized(LOGIN_FAILED);
  }
  await clearLoginFailures(ctx, keys[0]!.key);
  if (row.disabled) throw forbidden(`user ${username} is disabled; ask an admin`);
  const now = ctx.clock.now();
  const token = randomToken('tlw_');
  const session: NewSession = {
    token,
    userId: row.id,
    username,
    role: row.role,
    csrfToken: randomToken('', 24),
    expiresTs: now + ctx.settings.sessionTtlMs,
  };
  const db = ctx.store.db;
  await db
    .deleteFrom('sessions')
    .where('user_id', '=', row.id)
    .where('expires_ts', '<=', now)
    .execute();
  await db
    .insertInto('sessions')
    .values({
      id: sha256(token),
      user_id: row.id,
      csrf_token: session.csrfToken,
      created_ts: now,
      expires_ts: session.expiresTs,
    })
    .execute();
  return session;
}

/** The live session of `token` for the project, or undefined. */
export async function readSession(
  ctx: CloudContext,
  projectId: string,
  token: string,
): Promise<SessionInfo | undefined> {
  const row = await ctx.store.db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .innerJoin('user_roles', 'user_roles.user_id', 'users.id')
    .select([
      'users.id as userId',
      'users.username as username',
      'users.disabled as disabled',
      'user_roles.role as role',
      'sessions.csrf_token as csrfToken',
      'sessions.expires_ts as expiresTs',
    ])
    .where('sessions.id', '=', sha256(token))
    .where('user_roles.project_id', '=', projectId)
    .executeTakeFirst();
  if (!row || row.disabled || row.expiresTs <= ctx.clock.now()) return undefined;
  return {
    userId: row.userId,
    username: row.username,
    role: row.role,
    csrfToken: row.csrfToken,
    expiresTs: row.expiresTs,
  };
}

/** Ends the session of `token` (nothing when there is none). */
export async function logout(ctx: CloudContext, token: string): Promise<void> {
  await ctx.store.db.deleteFrom('sessions').where('id', '=', sha256(token)).execute();
}
