/**
 * The `connections` table: one sealed connection per project and gateway.
 * Only the gateway name, the engine type and times are kept in the clear;
 * the settings are sealed (see connection-crypto.ts) and are opened only to
 * start cloud-hosted executors, never to answer an API call.
 */
import { createHash } from 'node:crypto';
import type { CloudContext } from '../context.js';
import { openConnection, sealConnection } from './connection-crypto.js';
import type { MasterKey } from './master-key.js';

/** A stored connection as the API lists it: never its settings. */
export interface ConnectionInfo {
  gateway: string;
  /** The engine type, e.g. `postgres`. */
  engine: string;
  createdTs: number;
  updatedTs: number;
  /**
   * True for the gateway cloud-hosted executors use when a task names none:
   * the connection saved first (then the first by name).
   */
  default: boolean;
}

/** A stored connection opened with the master key. */
export interface OpenedConnection {
  gateway: string;
  engine: string;
  /** The settings' YAML text as saved. */
  text: string;
}

/** The event published when a project's connections change. */
export const CONNECTION_CHANGED = 'connection.changed';

/** Seals and saves (inserts or replaces) a gateway's connection; true when it is new. */
export async function saveConnection(
  ctx: CloudContext,
  key: MasterKey,
  projectId: string,
  connection: { gateway: string; engine: string; text: string },
): Promise<{ info: ConnectionInfo; created: boolean }> {
  const now = ctx.clock.now();
  const encrypted = sealConnection(
    key,
    { projectId, gateway: connection.gateway },
    connection.text,
  );
  const created = await ctx.store.db.transaction().execute(async (tx) => {
    const existing = await tx
      .selectFrom('connections')
      .select('created_ts')
      .where('project_id', '=', projectId)
      .where('gateway', '=', connection.gateway)
      .executeTakeFirst();
    await tx
      .insertInto('connections')
      .values({
        project_id: projectId,
        gateway: connection.gateway,
        engine: connection.engine,
        encrypted,
        created_ts: now,
        updated_ts: now,
      })
      .onConflict((oc) =>
        oc.columns(['project_id', 'gateway']).doUpdateSet({
          engine: connection.engine,
          encrypted,
          updated_ts: now,
        }),
      )
      .execute();
    return existing === undefined;
  });
  const row = await ctx.store.db
    .selectFrom('connections')
    .select(['gateway', 'engine', 'created_ts', 'updated_ts'])
    .where('project_id', '=', projectId)
    .where('gateway', '=', connection.gateway)
    .executeTakeFirstOrThrow();
  ctx.events.publish({
    projectId,
    type: CONNECTION_CHANGED,
    payload: { gateway: connection.gateway, action: created ? 'created' : 'replaced' },
    ts: now,
  });
  const defaultGateway = await defaultGatewayOf(ctx, projectId);
  return { info: toInfo(row, defaultGateway), created };
}

function toInfo(
  row: { gateway: string; engine: string; created_ts: number; updated_ts: number },
  defaultGateway: string | undefined,
): ConnectionInfo {
  return {
    gateway: row.gateway,
    engine: row.engine,
    createdTs: Number(row.created_ts),
    updatedTs: Number(row.updated_ts),
    default: row.gateway === defaultGateway,
  };
}

/** The gateway executors fall back to: the connection saved first, then the first by name. */
async function defaultGatewayOf(ctx: CloudContext, projectId: string): Promise<string | undefined> {
  const row = await ctx.store.db
    .selectFrom('connections')
    .select('gateway')
    .where('project_id', '=', projectId)
    .orderBy('created_ts')
    .orderBy('gateway')
    .limit(1)
    .executeTakeFirst();
  return row?.gateway;
}

/** The project's connections by gateway name: names, engines and times only. */
export async function listConnections(
  ctx: CloudContext,
  projectId: string,
): Promise<ConnectionInfo[]> {
  const rows = await ctx.store.db
    .selectFrom('connections')
    .select(['gateway', 'engine', 'created_ts', 'updated_ts'])
    .where('project_id', '=', projectId)
    .orderBy('gateway')
    .execute();
  const defaultGateway = await defaultGatewayOf(ctx, projectId);
  return rows.map((r) => toInfo(r, defaultGateway));
}

/** Deletes a gateway's connection; false when there was none. */
export async function deleteConnection(
  ctx: CloudContext,
  projectId: string,
  gateway: string,
): Promise<boolean> {
  const result = await ctx.store.db
    .deleteFrom('connections')
    .where('project_id', '=', projectId)
    .where('gateway', '=', gateway)
    .executeTakeFirst();
  const deleted = Number(result.numDeletedRows) > 0;
  if (deleted) {
    ctx.events.publish({
      projectId,
      type: CONNECTION_CHANGED,
      payload: { gateway, action: 'deleted' },
      ts: ctx.clock.now(),
    });
  }
  return deleted;
}

/**
 * Opens every connection of the project with the master key, the default
 * gateway first (see {@link ConnectionInfo.default}). Throws ConnectionDecryptError (naming the gateway) when one cannot
 * be opened.
 */
export async function openConnections(
  ctx: CloudContext,
  key: MasterKey,
  projectId: string,
): Promise<OpenedConnection[]> {
  const rows = await ctx.store.db
    .selectFrom('connections')
    .select(['gateway', 'engine', 'encrypted'])
    .where('project_id', '=', projectId)
    .orderBy('created_ts')
    .orderBy('gateway')
    .execute();
  return rows.map((r) => ({
    gateway: r.gateway,
    engine: r.engine,
    text: openConnection(key, { projectId, gateway: r.gateway }, r.encrypted),
  }));
}

/** A project that has stored connections, with a digest that changes whenever they do. */
export interface ConnectedProject {
  projectId: string;
  org: string;
  name: string;
  /** sha256 over the gateways and their sealed values (new IV per write). */
  digest: string;
}

/** Every project with at least one stored connection. */
export async function connectedProjects(ctx: CloudContext): Promise<ConnectedProject[]> {
  const rows = await ctx.store.db
    .selectFrom('connections')
    .innerJoin('projects', 'projects.id', 'connections.project_id')
    .innerJoin('organizations', 'organizations.id', 'projects.org_id')
    .select([
      'connections.project_id as projectId',
      'organizations.name as org',
      'projects.name as name',
      'connections.gateway as gateway',
      'connections.encrypted as encrypted',
    ])
    .orderBy('connections.project_id')
    .orderBy('connections.gateway')
    .execute();
  const byProject = new Map<
    string,
    { org: string; name: string; hash: ReturnType<typeof createHash> }
  >();
  for (const r of rows) {
    let entry = byProject.get(r.projectId);
    if (!entry) {
      entry = { org: r.org, name: r.name, hash: createHash('sha256') };
      byProject.set(r.projectId, entry);
    }
    entry.hash.update(`${r.gateway}\u0000${r.encrypted}\u0000`);
  }
  return [...byProject].map(([projectId, e]) => ({
    projectId,
    org: e.org,
    name: e.name,
    digest: e.hash.digest('hex'),
  }));
}
