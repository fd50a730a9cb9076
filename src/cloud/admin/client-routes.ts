/**
 * The OAuth clients API, under the project's `/api`, for admins only:
 *
 * - `POST /clients {name, role}` → 201 `{clientId, clientSecret, name, role}`;
 *   the secret is shown in this answer only (the store keeps its scrypt hash).
 * - `GET /clients` → `{clients: [{clientId, name, role, createdTs, createdBy,
 *   revokedTs, lastUsedTs}]}`, never secrets or hashes.
 * - `DELETE /clients/:id` → `{client, revokedNow, warning?}`: the client's
 *   secret and live tokens stop working at once. An admin may revoke the
 *   client it calls with (the way to retire a leaked credential in one step);
 *   the answer then carries a `warning`, and its next request is refused.
 */
import { z } from 'zod';
import { listClients, revokeClient } from '../auth/clients.js';
import { ROLES } from '../auth/permissions.js';
import type { CloudContext } from '../context.js';
import { notFound } from '../http/api-error.js';
import type { RouteModule } from '../http/app.js';
import { readJson } from '../http/json-body.js';
import { requirePermission } from '../http/project-scope.js';
import type { Role } from '../store/schema.js';
import { createClient } from '../tenancy.js';

export const MAX_CLIENT_NAME = 100;
/** Letters, digits, spaces and a few separators: names are labels, not code. */
const CLIENT_NAME = /^[\p{L}\p{N}][\p{L}\p{N} _.:@/()-]*$/u;

const CreateClientRequest = z
  .object({
    name: z
      .string()
      .trim()
      .min(1, 'must not be empty')
      .max(MAX_CLIENT_NAME, `at most ${MAX_CLIENT_NAME} characters`)
      .regex(
        CLIENT_NAME,
        'use letters, digits, spaces and _ . : @ / ( ) -, starting with a letter or digit',
      ),
    role: z.enum(ROLES as [Role, ...Role[]], {
      error: 'must be viewer, developer, admin or executor',
    }),
  })
  .strict();

export const clientRoutes: RouteModule = {
  name: 'clients',
  project(app, ctx: CloudContext) {
    app.post('/clients', async (c) => {
      const principal = requirePermission(c, 'clients');
      const body = await readJson(c, CreateClientRequest);
      const client = await createClient(ctx, c.get('project').id, {
        name: body.name,
        role: body.role,
        createdBy: principal.name,
      });
      ctx.log.info('client created', {
        project: c.get('project').id,
        client: client.clientId,
        role: client.role,
        by: principal.name,
      });
      c.header('cache-control', 'no-store');
      return c.json(client, 201);
    });

    app.get('/clients', async (c) => {
      requirePermission(c, 'clients');
      return c.json({ clients: await listClients(ctx, c.get('project').id) });
    });

    app.delete('/clients/:id', async (c) => {
      const principal = requirePermission(c, 'clients');
      const id = c.req.param('id');
      const result = await revokeClient(ctx, c.get('project').id, id);
      if (!result)
        throw notFound(`no OAuth client ${JSON.stringify(id.slice(0, 100))} in this project`);
      const self = principal.kind === 'client' && principal.id === id;
      if (result.revokedNow) {
        ctx.log.warn('client revoked', {
          project: c.get('project').id,
          client: id,
          by: principal.name,
        });
      }
      return c.json({
        ...result,
        ...(self
          ? {
              warning:
                'you revoked the client this request was made with: its tokens no longer work',
            }
          : {}),
      });
    });
  },
};
