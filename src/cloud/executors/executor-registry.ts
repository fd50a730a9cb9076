/**
 * The executor registry: executors register (kind, name, version, protocol
 * version, gateway names and engine types; never connection settings), are
 * seen on every claim and heartbeat, and are listed with what they hold and
 * how their tasks went. An executor is online while it was seen within two
 * lease lifetimes.
 */
import { randomUUID } from 'node:crypto';
import type {
  ExecutorInfo,
  ExecutorKind,
  GatewayInfo,
  RegisterRequest,
  RegisterResponse,
} from '../../protocol/messages.js';
import { heartbeatIntervalFor, PROTOCOL_VERSION } from '../../protocol/version.js';
import type { CloudContext } from '../context.js';
import { ApiError, badRequest, notFound } from '../http/api-error.js';
import { executorNotesWritten } from '../queue/executor-bookkeeping.js';

const CLOUD_PROTOCOL = `${PROTOCOL_VERSION.major}.${PROTOCOL_VERSION.minor}`;

/**
 * Throws unless an executor speaking `version` (`major.minor`) can talk to
 * this cloud: the same major version and a minor version not newer.
 */
export function checkProtocolVersion(version: string): void {
  const m = /^(\d{1,6})\.(\d{1,6})$/.exec(version);
  if (!m) {
    throw badRequest(
      `protocolVersion: ${JSON.stringify(version.slice(0, 40))} is not major.minor (this cloud speaks ${CLOUD_PROTOCOL})`,
    );
  }
  const major = Number(m[1]);
  const minor = Number(m[2]);
  if (major === PROTOCOL_VERSION.major && minor <= PROTOCOL_VERSION.minor) return;
  const executorNewer =
    major > PROTOCOL_VERSION.major ||
    (major === PROTOCOL_VERSION.major && minor > PROTOCOL_VERSION.minor);
  const advice = executorNewer
    ? `upgrade the cloud to one speaking protocol ${major}.${minor}, or run an executor speaking ${PROTOCOL_VERSION.major}.x up to ${CLOUD_PROTOCOL}`
    : `upgrade the executor to one speaking protocol ${PROTOCOL_VERSION.major}.x (up to ${CLOUD_PROTOCOL})`;
  throw new ApiError(
    409,
    'protocol_version',
    `executor protocol ${major}.${minor} does not work with this cloud's protocol ${CLOUD_PROTOCOL}: ${advice}`,
  );
}

/** How often an executor should heartbeat a lease (the protocol's rule). */
export function heartbeatIntervalMs(ctx: CloudContext): number {
  return heartbeatIntervalFor(ctx.settings.leaseTtlMs);
}

/**
 * Registers an executor and returns its id. An offline executor of the same
 * name and kind is taken over (its counts carry on), so restarts do not fill
 * the registry; otherwise a new entry is made.
 */
export async function registerExecutor(
  ctx: CloudContext,
  projectId: string,
  request: RegisterRequest,
): Promise<RegisterResponse> {
  try {
    checkProtocolVersion(request.protocolVersion);
  } catch (err) {
    // Both sides hear of it: the executor in the answer, operators in the log.
    ctx.log.warn('executor refused: incompatible protocol', {
      projectId,
      executor: request.name,
      kind: request.kind,
      reason: err instanceof Error ? err.message : String(err),
    });
    throw err;
  }
  const now = ctx.clock.now();
  const db = ctx.store.db;
  const fields = {
    version: request.version,
    protocol_version: request.protocolVersion,
    gateways: JSON.stringify(request.gateways.map((g) => ({ name: g.name, type: g.type }))),
    address: request.address ?? null,
    hosting: request.hosting ?? 'hybrid',
    status: 'online',
    registered_ts: now,
    last_seen_ts: now,
  };
  const offline = await db
    .selectFrom('executors')
    .select('id')
    .where('project_id', '=', projectId)
    .where('name', '=', request.name)
    .where('kind', '=', request.kind)
    .where('last_seen_ts', '<', now - 2 * ctx.settings.leaseTtlMs)
    .orderBy('last_seen_ts', 'desc')
    .limit(1)
    .executeTakeFirst();
  let executorId: string;
  const reused = offline
    ? await db
        .updateTable('executors')
        .set(fields)
        .where('id', '=', offline.id)
        .where('last_seen_ts', '<', now - 2 * ctx.settings.leaseTtlMs)
        .executeTakeFirst()
    : undefined;
  if (offline && Number(reused?.numUpdatedRows ?? 0) > 0) {
    executorId = offline.id;
  } else {
    executorId = randomUUID();
    await db
      .insertInto('executors')
      .values({
        id: executorId,
        project_id: projectId,
        name: request.name,
        kind: request.kind,
        ...fields,
        completed: 0,
        failed: 0,
        retried: 0,
        aborted: 0,
      })
      .execute();
  }
  ctx.events.publish({
    projectId,
    type: 'executor.registered',
    payload: { executorId, name: request.name, kind: request.kind, version: request.version },
    ts: now,
  });
  return {
    executorId,
    protocolVersion: CLOUD_PROTOCOL,
    heartbeatIntervalMs: heartbeatIntervalMs(ctx),
    leaseTtlMs: ctx.settings.leaseTtlMs,
  };
}

/** An executor of the project by id: its kind and name, or 404. */
export async function findExecutor(
  ctx: CloudContext,
  projectId: string,
  executorId: string,
): Promise<{ id: string; kind: ExecutorKind; name: string }> {
  const row = await ctx.store.db
    .selectFrom('executors')
    .select(['id', 'kind', 'name'])
    .where('id', '=', executorId)
    .where('project_id', '=', projectId)
    .executeTakeFirst();
  if (!row) {
    throw notFound(`no executor ${executorId} in this project: register it first`);
  }
  return { id: row.id, kind: row.kind === 'apply' ? 'apply' : 'run', name: row.name };
}

export interface ExecutorCounts {
  completed?: number;
  failed?: number;
  retried?: number;
  aborted?: number;
}

function parseGateways(text: string): GatewayInfo[] {
  try {
    const value = JSON.parse(text) as unknown;
    return Array.isArray(value) ? (value as GatewayInfo[]) : [];
  } catch {
    return [];
  }
}

/** Every executor of the project, most recently seen first. */
export async function listExecutors(ctx: CloudContext, projectId: string): Promise<ExecutorInfo[]> {
  // What the queue noted about executors so far, written before the read.
  await executorNotesWritten(ctx);
  const held = new Map<string, string[]>();
  const claimed = await ctx.store.db
    .selectFrom('tasks')
    .select(['id', 'executor_id'])
    .where('project_id', '=', projectId)
    .where('status', '=', 'claimed')
    .orderBy('id')
    .execute();
  for (const t of claimed) {
    if (t.executor_id === null) continue;
    const ids = held.get(t.executor_id);
    if (ids) ids.push(t.id);
    else held.set(t.executor_id, [t.id]);
  }
  const rows = await ctx.store.db
    .selectFrom('executors')
    .selectAll()
    .where('project_id', '=', projectId)
    .orderBy('last_seen_ts', 'desc')
    .orderBy('name')
    .execute();
  const onlineSince = ctx.clock.now() - 2 * ctx.settings.leaseTtlMs;
  return rows.map((r) => ({
    executorId: r.id,
    name: r.name,
    kind: r.kind === 'apply' ? 'apply' : 'run',
    version: r.version,
    protocolVersion: r.protocol_version,
    gateways: parseGateways(r.gateways),
    address: r.address,
    hosting: r.hosting === 'cloud' ? 'cloud' : 'hybrid',
    status: Number(r.last_seen_ts) >= onlineSince ? 'online' : 'offline',
    registeredTs: Number(r.registered_ts),
    lastSeenTs: Number(r.last_seen_ts),
    currentTasks: held.get(r.id) ?? [],
    completed: Number(r.completed),
    failed: Number(r.failed),
    retried: Number(r.retried),
    aborted: Number(r.aborted),
  }));
}
