/**
 * OAuth clients of a project: listing and revoking them (creating them is
 * `createClient` in tenancy.ts). Secrets are shown once at creation and only
 * their scrypt hash is kept; listings never carry secrets or hashes.
 */
import type { CloudContext } from '../context.js';
import type { Role } from '../store/schema.js';

/** An OAuth client as listings show it. */
export interface ClientInfo {
  clientId: string;
  name: string;
  role: Role;
  createdTs: number;
  createdBy: string | null;
  revokedTs: number | null;
  lastUsedTs: number | null;
}

/** The shape of a client id (`tlc_` and 24 hex digits). */
export const CLIENT_ID_PATTERN = /^tlc_[0-9a-f]{24}$/;

/** Every client of the project, oldest first, revoked ones included. */
export async function listClients(ctx: CloudContext, projectId: string): Promise<ClientInfo[]> {
  return listWhere(ctx, projectId);
}

async function listWhere(
  ctx: CloudContext,
  projectId: string,
  clientId?: string,
): Promise<ClientInfo[]> {
  let query = ctx.store.db
    .selectFrom('oauth_clients')
    .select(['id', 'name', 'role', 'created_ts', 'created_by', 'revoked_ts', 'last_used_ts'])
    .where('project_id', '=', projectId);
  if (clientId !== undefined) query = query.where('id', '=', clientId);
  const rows = await query.orderBy('created_ts').orderBy('id').execute();
  return rows.map((r) => ({
    clientId: r.id,
    name: r.name,
    role: r.role,
    createdTs: r.created_ts,
    createdBy: r.created_by,
    revokedTs: r.revoked_ts,
    lastUsedTs: r.last_used_ts,
  }));
}

export interface RevokeResult {
  client: ClientInfo;
  /** False when the client was revoked before (its first revocation time is kept). */
  revokedNow: boolean;
}

/**
 * Revokes a client of the project: its secret and every access token issued
 * to it stop working at once (tokens are checked against the client on every
 * request). Undefined when the project has no such client. Revoking twice
 * keeps the first time.
 */
export async function revokeClient(
  ctx: CloudContext,
  projectId: string,
  clientId: string,
): Promise<RevokeResult | undefined> {
  if (!CLIENT_ID_PATTERN.test(clientId)) return undefined;
  const now = ctx.clock.now();
  const updated = await ctx.store.db
    .updateTable('oauth_clients')
    .set({ revoked_ts: now })
    .where('id', '=', clientId)
    .where('project_id', '=', projectId)
    .where('revoked_ts', 'is', null)
    .executeTakeFirst();
  const [client] = await listWhere(ctx, projectId, clientId);
  if (!client) return undefined;
  return { client, revokedNow: Number(updated.numUpdatedRows) > 0 };
}
