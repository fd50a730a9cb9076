/**
 * The users API, under the project's `/api`, for admins only. Users log in
 * to the web UI; each has a role per project.
 *
 * - `POST /users {username, password?, role}` → 201 `{user, created}`: a new
 *   account (password of at least 12 characters), or, without a password, an
 *   existing account of another project given a role here.
 * - `GET /users` → `{users: [{userId, username, role, createdTs, disabled}]}`.
 * - `PATCH /users/:id {role?, password?, disabled?}` → `{user}`. Password and
 *   disabled change the account itself, so only for accounts of this project
 *   alone; a new password or disabling ends the user's sessions.
 * - `DELETE /users/:id` → `{user}`: removes the user's role in this project
 *   (the account goes when it has no project left).
 *
 * Logged-in admins cannot demote, disable or remove themselves.
 */
import { z } from 'zod';
import type { Principal } from '../auth/tokens.js';
import {
  AccountError,
  MAX_PASSWORD_LENGTH,
  MAX_USERNAME_LENGTH,
  MIN_PASSWORD_LENGTH,
  addUser,
  listUsers,
  removeUser,
  updateUser,
  USER_ROLES,
  type AccountActor,
} from '../auth/users.js';
import type { CloudContext } from '../context.js';
import { badRequest, conflict, forbidden, notFound } from '../http/api-error.js';
import type { RouteModule } from '../http/app.js';
import { readJson } from '../http/json-body.js';
import { requirePermission } from '../http/project-scope.js';
import type { Role } from '../store/schema.js';

const role = z.enum(USER_ROLES as [Role, ...Role[]], {
  error: 'must be viewer, developer or admin (executor is for OAuth clients only)',
});
const password = z
  .string()
  .min(MIN_PASSWORD_LENGTH, `use at least ${MIN_PASSWORD_LENGTH} characters`)
  .max(MAX_PASSWORD_LENGTH, `at most ${MAX_PASSWORD_LENGTH} characters`);

const CreateUserRequest = z
  .object({
    username: z
      .string()
      .min(1, 'must not be empty')
      .max(MAX_USERNAME_LENGTH, `at most ${MAX_USERNAME_LENGTH} characters`),
    password: password.optional(),
    role,
  })
  .strict();

const UpdateUserRequest = z
  .object({
    role: role.optional(),
    password: password.optional(),
    disabled: z.boolean().optional(),
  })
  .strict()
  .refine((b) => b.role !== undefined || b.password !== undefined || b.disabled !== undefined, {
    message: 'send at least one of role, password, disabled',
  });

function asApiError(err: unknown): unknown {
  if (!(err instanceof AccountError)) return err;
  switch (err.kind) {
    case 'invalid':
      return badRequest(err.message);
    case 'conflict':
      return conflict(err.message);
    case 'not_found':
      return notFound(err.message);
    case 'forbidden':
      return forbidden(err.message);
  }
}

async function mapped<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw asApiError(err);
  }
}

function actorOf(principal: Principal): AccountActor {
  return principal.kind === 'user' ? { userId: principal.id } : {};
}

export const userRoutes: RouteModule = {
  name: 'users',
  project(app, ctx: CloudContext) {
    app.post('/users', async (c) => {
      const principal = requirePermission(c, 'users');
      const body = await readJson(c, CreateUserRequest);
      const result = await mapped(addUser(ctx, c.get('project').id, body));
      ctx.log.info('user added', {
        project: c.get('project').id,
        user: result.user.username,
        role: result.user.role,
        by: principal.name,
      });
      return c.json(result, 201);
    });

    app.get('/users', async (c) => {
      requirePermission(c, 'users');
      return c.json({ users: await listUsers(ctx, c.get('project').id) });
    });

    app.patch('/users/:id', async (c) => {
      const principal = requirePermission(c, 'users');
      const body = await readJson(c, UpdateUserRequest);
      const user = await mapped(
        updateUser(ctx, c.get('project').id, c.req.param('id'), body, actorOf(principal)),
      );
      ctx.log.info('user changed', {
        project: c.get('project').id,
        user: user.username,
        fields: Object.keys(body),
        by: principal.name,
      });
      return c.json({ user });
    });

    app.delete('/users/:id', async (c) => {
      const principal = requirePermission(c, 'users');
      const user = await mapped(
        removeUser(ctx, c.get('project').id, c.req.param('id'), actorOf(principal)),
      );
      ctx.log.info('user removed', {
        project: c.get('project').id,
        user: user.username,
        by: principal.name,
      });
      return c.json({ user });
    });
  },
};
