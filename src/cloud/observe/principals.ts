/**
 * Who did something, as people know them. The store records who as the
 * stable value the principal had at the time: `client:<client id>` (plans
 * and clients made with an OAuth client's token), `user:<user id>`, a bare
 * client or user id (runs and pauses), a username (plans submitted from a
 * web session), or a word such as `cli`, `cloud` or `executor:<id>`.
 *
 * The display name is the OAuth client's name or the user's username where
 * the value names one, and the value itself otherwise; the API answers both
 * (`createdBy` with `createdByName`, `by` with `byName`).
 */
import type { CloudContext } from '../context.js';
import { chunks } from './store-queries.js';

/** Display names by recorded value; a value with no entry is shown as it is. */
export type PrincipalNames = ReadonlyMap<string, string>;

/** The display name of a recorded principal (null when none was recorded). */
export function displayNameOf(names: PrincipalNames, raw: string | null): string | null {
  if (raw === null) return null;
  return names.get(raw) ?? raw;
}

function clientIdIn(raw: string): string {
  return raw.startsWith('client:') ? raw.slice('client:'.length) : raw;
}

function userIdIn(raw: string): string {
  return raw.startsWith('user:') ? raw.slice('user:'.length) : raw;
}

/**
 * The display names of `values` in project `projectId`: OAuth clients of the
 * project by id (`client:<id>` or the bare id), users by id (`user:<id>` or
 * the bare id). Revoked clients keep their name.
 */
export async function principalNames(
  ctx: CloudContext,
  projectId: string,
  values: Iterable<string | null | undefined>,
): Promise<PrincipalNames> {
  const raws = new Set<string>();
  for (const v of values) if (typeof v === 'string' && v !== '') raws.add(v);
  const out = new Map<string, string>();
  if (raws.size === 0) return out;
  const db = ctx.store.db;
  const clientIds = [...new Set([...raws].map(clientIdIn))];
  const clients = new Map<string, string>();
  for (const part of chunks(clientIds)) {
    const rows = await db
      .selectFrom('oauth_clients')
      .select(['id', 'name'])
      .where('project_id', '=', projectId)
      .where('id', 'in', part)
      .execute();
    for (const r of rows) clients.set(r.id, r.name);
  }
  const userIds = [...new Set([...raws].filter((r) => !r.startsWith('client:')).map(userIdIn))];
  const users = new Map<string, string>();
  for (const part of chunks(userIds)) {
    const rows = await db
      .selectFrom('users')
      .select(['id', 'username'])
      .where('id', 'in', part)
      .execute();
    for (const r of rows) users.set(r.id, r.username);
  }
  for (const raw of raws) {
    const name = raw.startsWith('user:')
      ? users.get(userIdIn(raw))
      : (clients.get(clientIdIn(raw)) ?? users.get(raw));
    if (name !== undefined) out.set(raw, name);
  }
  return out;
}

/** `items` with `createdByName` beside each `createdBy`. */
export async function withCreatorNames<T extends { createdBy: string | null }>(
  ctx: CloudContext,
  projectId: string,
  items: readonly T[],
): Promise<Array<T & { createdByName: string | null }>> {
  const names = await principalNames(
    ctx,
    projectId,
    items.map((i) => i.createdBy),
  );
  return items.map((i) => ({ ...i, createdByName: displayNameOf(names, i.createdBy) }));
}
