/**
 * People who log in to the web UI. A user is one account on the server
 * (username and scrypt password hash) with a role in each project it belongs
 * to (`user_roles`). Usernames are kept in lower case, so `Ada` and `ada` are
 * one user.
 *
 * A project's admins manage that project's users: add them (a new account,
 * or an existing account given a role here), change their role, and remove
 * them from the project. Changing the password of an account or disabling it
 * affects every project, so a project admin may do it only for accounts that
 * belong to no other project; the server's operator can always do it
 * (`tideline cloud user update`).
 */
import { randomUUID } from 'node:crypto';
import { TidelineError } from '../../engine/errors.js';
import type { CloudContext } from '../context.js';
import type { Role } from '../store/schema.js';
import { isRole } from './permissions.js';
import { hashSecret } from './secrets.js';

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;
export const MAX_USERNAME_LENGTH = 100;
/** Lower-case letters, digits and `. _ @ + -`, starting with a letter or digit. */
export const USERNAME_PATTERN = /^[a-z0-9][a-z0-9._@+-]*$/;
/** The shape of a user id (a UUID). */
export const USER_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Why an account change was refused; `kind` maps to an HTTP status. */
export class AccountError extends TidelineError {
  override name = 'AccountError';
  constructor(
    readonly kind: 'invalid' | 'conflict' | 'not_found' | 'forbidden',
    message: string,
  ) {
    super(message);
  }
}

/** A user as a project's listings show it (never the password hash). */
export interface UserInfo {
  userId: string;
  username: string;
  role: Role;
  createdTs: number;
  disabled: boolean;
}

/** The problem with a username, or undefined when it is fine (after {@link normalizeUsername}). */
export function usernameProblem(username: string): string | undefined {
  if (username.length === 0) return 'username: must not be empty';
  if (username.length > MAX_USERNAME_LENGTH) {
    return `username: at most ${MAX_USERNAME_LENGTH} characters`;
  }
  if (!USERNAME_PATTERN.test(username)) {
    return `username: use letters, digits, '.', '_', '@', '+' or '-', starting with a letter or digit`;
  }
  return undefined;
}

/** The problem with a password, or undefined when it is fine. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH) {
    return `password: use at least ${MIN_PASSWORD_LENGTH} characters`;
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    return `password: at most ${MAX_PASSWORD_LENGTH} characters`;
  }
  return undefined;
}

export function normalizeUsername(raw: string): string {
  return raw.trim().toLowerCase();
}

/** Roles a person can have; `executor` is for executors' OAuth clients only. */
export const USER_ROLES: readonly Role[] = ['viewer', 'developer', 'admin'];

function checkRole(role: string): Role {
  if (!isRole(role) || !USER_ROLES.includes(role)) {
    throw new AccountError(
      'invalid',
      `role: ${JSON.stringify(role)} is not a role for users; use viewer, developer or admin`,
    );
  }
  return role;
}

function checkedUsername(raw: string): string {
  const username = normalizeUsername(raw);
  const problem = usernameProblem(username);
  if (problem) throw new AccountError('invalid', problem);
  return username;
}

function checkedPassword(password: string): string {
  const problem = passwordProblem(password);
  if (problem) throw new AccountError('invalid', problem);
  return password;
}

export interface AddUserResult {
  user: UserInfo;
  /** True when a new account was made; false when an existing one got a role here. */
  created: boolean;
}

/**
 * Gives `username` a role in the project. A new account needs a password;
 * an existing account (of another project) is given the role without one,
 * and a password sent for it is refused rather than silently ignored or
 * used to take the account over.
 */
export async function addUser(
  ctx: CloudContext,
  projectId: string,
  options: { username: string; password?: string; role: string },
): Promise<AddUserResult> {
  const username = checkedUsername(options.username);
  const role = checkRole(options.role);
  const db = ctx.store.db;
  const existing = await db
    .selectFrom('users')
    .select('id')
    .where('username', '=', username)
    .executeTakeFirst();
  if (existing) {
    const member = await db
      .selectFrom('user_roles')
      .select('role')
      .where('user_id', '=', existing.id)
      .where('project_id', '=', projectId)
      .executeTakeFirst();
    if (member) {
      throw new AccountError(
        'conflict',
        `user ${username} already has role ${member.role} in this project; change it with PATCH /users/${existing.id}`,
      );
    }
    if (options.password !== undefined) {
      throw new AccountError(
        'conflict',
        `user ${username} already exists; leave out the password to give them a role in this project`,
      );
    }
    await db
      .insertInto('user_roles')
      .values({ user_id: existing.id, project_id: projectId, role })
      .execute();
    return { user: (await getUser(ctx, projectId, existing.id))!, created: false };
  }
  if (options.password === undefined) {
    throw new AccountError('invalid', `password: required for the new user ${username}`);
  }
  const hash = await hashSecret(checkedPassword(options.password));
  const id = randomUUID();
  const now = ctx.clock.now();
  try {
    await db.transaction().execute(async (tx) => {
      await tx
        .insertInto('users')
        .values({ id, username, password_hash: hash, created_ts: now, disabled: 0 })
        .execute();
      await tx
        .insertInto('user_roles')
        .values({ user_id: id, project_id: projectId, role })
        .execute();
    });
  } catch (err) {
    const taken = await db
      .selectFrom('users')
      .select('id')
      .where('username', '=', username)
      .executeTakeFirst();
    if (taken) throw new AccountError('conflict', `user ${username} already exists`);
    throw err;
  }
  return { user: { userId: id, username, role, createdTs: now, disabled: false }, created: true };
}

async function listWhere(
  ctx: CloudContext,
  projectId: string,
  userId?: string,
): Promise<UserInfo[]> {
  let query = ctx.store.db
    .selectFrom('users')
    .innerJoin('user_roles', 'user_roles.user_id', 'users.id')
    .select([
      'users.id as id',
      'users.username as username',
      'users.created_ts as created',
      'users.disabled as disabled',
      'user_roles.role as role',
    ])
    .where('user_roles.project_id', '=', projectId);
  if (userId !== undefined) query = query.where('users.id', '=', userId);
  const rows = await query.orderBy('users.username').execute();
  return rows.map((r) => ({
    userId: r.id,
    username: r.username,
    role: r.role,
    createdTs: r.created,
    disabled: Boolean(r.disabled),
  }));
}

/** The project's users, by username. */
export function listUsers(ctx: CloudContext, projectId: string): Promise<UserInfo[]> {
  return listWhere(ctx, projectId);
}

/** A user of the project, or undefined (also for a malformed id). */
export async function getUser(
  ctx: CloudContext,
  projectId: string,
  userId: string,
): Promise<UserInfo | undefined> {
  if (!USER_ID_PATTERN.test(userId)) return undefined;
  const [user] = await listWhere(ctx, projectId, userId);
  return user;
}

/** A user of the project by username, or undefined. */
export async function findUserByName(
  ctx: CloudContext,
  projectId: string,
  rawUsername: string,
): Promise<UserInfo | undefined> {
  const row = await ctx.store.db
    .selectFrom('users')
    .select('id')
    .where('username', '=', normalizeUsername(rawUsername))
    .executeTakeFirst();
  return row ? getUser(ctx, projectId, row.id) : undefined;
}

export interface UserChanges {
  role?: string;
  password?: string;
  disabled?: boolean;
}

/** Who asks for a change: a user acting on itself may not lock itself out. */
export interface AccountActor {
  /** The acting user's id, when the caller is a logged-in user. */
  userId?: string;
  /** The server's operator (the CLI on the store): may change accounts of any project. */
  operator?: boolean;
}

async function otherProjects(
  ctx: CloudContext,
  projectId: string,
  userId: string,
): Promise<number> {
  const row = await ctx.store.db
    .selectFrom('user_roles')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .where('project_id', '!=', projectId)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/**
 * Changes a user of the project: its role here, and (for accounts of this
 * project only, or by the operator) its password or disabled flag. A new
 * password or disabling ends the user's sessions at once.
 */
export async function updateUser(
  ctx: CloudContext,
  projectId: string,
  userId: string,
  changes: UserChanges,
  actor: AccountActor = {},
): Promise<UserInfo> {
  const user = await getUser(ctx, projectId, userId);
  if (!user) throw new AccountError('not_found', `no user ${userId} in this project`);
  const role = changes.role === undefined ? undefined : checkRole(changes.role);
  const password = changes.password === undefined ? undefined : checkedPassword(changes.password);
  if (actor.userId === userId && ((role && role !== 'admin') || changes.disabled === true)) {
    throw new AccountError(
      'forbidden',
      'you cannot take away your own admin role or disable yourself; ask another admin',
    );
  }
  const accountWide = password !== undefined || changes.disabled !== undefined;
  if (accountWide && !actor.operator && (await otherProjects(ctx, projectId, userId)) > 0) {
    throw new AccountError(
      'forbidden',
      `user ${user.username} also belongs to other projects: only the server's operator may change their password or disable them`,
    );
  }
  const hash = password === undefined ? undefined : await hashSecret(password);
  await ctx.store.db.transaction().execute(async (tx) => {
    if (role) {
      await tx
        .updateTable('user_roles')
        .set({ role })
        .where('user_id', '=', userId)
        .where('project_id', '=', projectId)
        .execute();
    }
    if (hash !== undefined || changes.disabled !== undefined) {
      await tx
        .updateTable('users')
        .set({
          ...(hash !== undefined ? { password_hash: hash } : {}),
          ...(changes.disabled !== undefined ? { disabled: changes.disabled ? 1 : 0 } : {}),
        })
        .where('id', '=', userId)
        .execute();
    }
    if (hash !== undefined || changes.disabled === true) {
      await tx.deleteFrom('sessions').where('user_id', '=', userId).execute();
    }
  });
  return (await getUser(ctx, projectId, userId))!;
}

/**
 * Removes a user from the project. An account left with no project is
 * deleted with its sessions.
 */
export async function removeUser(
  ctx: CloudContext,
  projectId: string,
  userId: string,
  actor: AccountActor = {},
): Promise<UserInfo> {
  const user = await getUser(ctx, projectId, userId);
  if (!user) throw new AccountError('not_found', `no user ${userId} in this project`);
  if (actor.userId === userId) {
    throw new AccountError('forbidden', 'you cannot remove yourself; ask another admin');
  }
  await ctx.store.db.transaction().execute(async (tx) => {
    await tx
      .deleteFrom('user_roles')
      .where('user_id', '=', userId)
      .where('project_id', '=', projectId)
      .execute();
    const left = await tx
      .selectFrom('user_roles')
      .select('project_id')
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (!left) {
      await tx.deleteFrom('sessions').where('user_id', '=', userId).execute();
      await tx.deleteFrom('users').where('id', '=', userId).execute();
    }
  });
  return user;
}
