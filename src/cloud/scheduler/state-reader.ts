/**
 * Reading what the scheduler needs from the store's state tables: an
 * environment (the engine's Environment JSON), its snapshots (the engine's
 * Snapshot JSON) and the intervals recorded per table version. The intervals
 * table is an append-only log folded in id order, so an interval removed and
 * added again counts as recorded.
 */
import { chunks } from '../../engine/state/state-helpers.js';
import type { Kysely } from 'kysely';
import type { Environment, Interval, Snapshot } from '../../engine/snapshot/snapshot-types.js';
import { mergeIntervals, removeInterval } from '../../engine/time/index.js';
import type { DB } from '../store/schema.js';

/** An environment row: the engine's Environment and when it expires. */
export interface StoredEnvironment {
  name: string;
  environment: Environment;
  planId: string;
  expirationTs: number | null;
}

/** Names per `IN (...)` list. */
const IN_BATCH = 500;

function parseEnvironment(row: { name: string; payload: string }): Environment {
  try {
    return JSON.parse(row.payload) as Environment;
  } catch (err) {
    throw new Error(`environment ${JSON.stringify(row.name)} has an unreadable payload`, {
      cause: err,
    });
  }
}

/** Every environment of the project, expired or not. */
export async function listEnvironments(
  db: Kysely<DB>,
  projectId: string,
): Promise<StoredEnvironment[]> {
  const rows = await db
    .selectFrom('environments')
    .select(['name', 'payload', 'plan_id', 'expiration_ts'])
    .where('project_id', '=', projectId)
    .orderBy('name')
    .execute();
  return rows.map((row) => ({
    name: row.name,
    environment: parseEnvironment(row),
    planId: row.plan_id,
    expirationTs: row.expiration_ts,
  }));
}

/** One environment, or undefined. */
export async function readEnvironment(
  db: Kysely<DB>,
  projectId: string,
  name: string,
): Promise<StoredEnvironment | undefined> {
  const row = await db
    .selectFrom('environments')
    .select(['name', 'payload', 'plan_id', 'expiration_ts'])
    .where('project_id', '=', projectId)
    .where('name', '=', name)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    name: row.name,
    environment: parseEnvironment(row),
    planId: row.plan_id,
    expirationTs: row.expiration_ts,
  };
}

/** True when the environment's expiry has passed (prod never expires). */
export function isExpired(env: StoredEnvironment, now: number): boolean {
  return env.expirationTs !== null && env.expirationTs <= now;
}

/**
 * The environment's snapshots in the environment's order. Snapshots the
 * store lacks are left out (and named in `missing`).
 */
export async function environmentSnapshots(
  db: Kysely<DB>,
  projectId: string,
  environment: Environment,
): Promise<{ snapshots: Snapshot[]; missing: string[] }> {
  const wanted = new Map(environment.snapshots.map((s) => [`${s.name}|${s.identifier}`, s]));
  const names = [...new Set(environment.snapshots.map((s) => s.name))];
  const found = new Map<string, Snapshot>();
  for (const batch of chunks(names, IN_BATCH)) {
    const rows = await db
      .selectFrom('snapshots')
      .select(['name', 'identifier', 'payload'])
      .where('project_id', '=', projectId)
      .where('name', 'in', batch)
      .execute();
    for (const row of rows) {
      const key = `${row.name}|${row.identifier}`;
      if (!wanted.has(key)) continue;
      found.set(key, JSON.parse(row.payload) as Snapshot);
    }
  }
  const snapshots: Snapshot[] = [];
  const missing: string[] = [];
  for (const [key, info] of wanted) {
    const s = found.get(key);
    if (s) snapshots.push(s);
    else missing.push(info.name);
  }
  return { snapshots, missing };
}

/** Non-dev intervals recorded for the snapshots' table versions, keyed `name|version`. */
export async function versionIntervals(
  db: Kysely<DB>,
  projectId: string,
  snapshots: readonly Snapshot[],
): Promise<Map<string, Interval[]>> {
  const wanted = new Set(snapshots.map((s) => `${s.name}|${s.version}`));
  const names = [...new Set(snapshots.map((s) => s.name))];
  const out = new Map<string, Interval[]>();
  for (const key of wanted) out.set(key, []);
  for (const batch of chunks(names, IN_BATCH)) {
    const rows = await db
      .selectFrom('intervals')
      .select(['name', 'version', 'start_ts', 'end_ts', 'is_removed'])
      .where('project_id', '=', projectId)
      .where('is_dev', '=', 0)
      .where('name', 'in', batch)
      .orderBy('id')
      .execute();
    for (const row of rows) {
      const key = `${row.name}|${row.version}`;
      const current = out.get(key);
      if (!current) continue;
      const interval: Interval = [Number(row.start_ts), Number(row.end_ts)];
      if (Number(row.is_removed)) out.set(key, removeInterval(current, interval));
      else current.push(interval);
    }
  }
  for (const [key, list] of out) out.set(key, mergeIntervals(list));
  return out;
}
