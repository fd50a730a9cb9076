/**
 * The project's recent activity, one list assembled from what the store
 * keeps: plans and runs (their rows), pauses and unpauses (the events log),
 * OAuth clients created and revoked (their rows). Sorted newest first by
 * (time, type, id), so a cursor names an exact position across sources.
 *
 * And the home page of prod: freshness counts, the last run and plan, and
 * the last 14 days of runs and plans for a chart.
 */
import { sql, type Expression, type SqlBool } from 'kysely';
import type { CloudContext } from '../context.js';
import { freshness, type FreshnessState } from '../scheduler/freshness.js';
import type { PlanStatus, RunStatus } from '../store/schema.js';
import {
  durationOf,
  listPlans,
  listRunsPage,
  type PlanListItem,
  type RunListItem,
} from './history.js';
import { displayNameOf, principalNames } from './principals.js';
import { encodeCursor, type Cursor } from './query-params.js';
import { bytewise, compareBytes, num, parseObject } from './store-queries.js';

export const ACTIVITY_TYPES = ['plan', 'run', 'pause', 'client'] as const;
export type ActivityType = (typeof ACTIVITY_TYPES)[number];

export interface ActivityItem {
  /** `plan`, `run`, `pause`, `unpause`, `client.created` or `client.revoked`. */
  type: string;
  id: string;
  ts: number;
  environment: string | null;
  status: string | null;
  /** Who did it, as recorded (see principals.ts), when known. */
  by: string | null;
  /** Their display name: the OAuth client's or user's name where known. */
  byName: string | null;
  /** A one-line description. */
  text: string;
  details: Record<string, unknown>;
}

/** Sort type of each source; the cursor's key is `<sort type>|<id>`. */
interface Sourced extends Omit<ActivityItem, 'byName'> {
  sortType: string;
  sortId: string;
}

/** Rows of a source of sort type `type` after the cursor (see the module comment). */
function afterActivity(
  ctx: CloudContext,
  type: string,
  tsColumn: string,
  idColumn: string,
  cursor: Cursor | undefined,
  numericId = false,
): Expression<SqlBool> {
  if (!cursor) return sql<SqlBool>`1 = 1`;
  const ts = sql.ref(tsColumn);
  if (cursor.key === undefined) return sql<SqlBool>`${ts} < ${cursor.ts}`;
  const bar = cursor.key.indexOf('|');
  const ctype = bar >= 0 ? cursor.key.slice(0, bar) : cursor.key;
  const cid = bar >= 0 ? cursor.key.slice(bar + 1) : '';
  const order = compareBytes(type, ctype);
  if (order < 0) return sql<SqlBool>`${ts} <= ${cursor.ts}`;
  if (order > 0) return sql<SqlBool>`${ts} < ${cursor.ts}`;
  if (numericId) {
    const n = /^\d{1,20}$/.test(cid) ? Number(cid) : 0;
    return sql<SqlBool>`(${ts} < ${cursor.ts} OR (${ts} = ${cursor.ts} AND ${sql.ref(idColumn)} < ${n}))`;
  }
  return sql<SqlBool>`(${ts} < ${cursor.ts} OR (${ts} = ${cursor.ts} AND ${bytewise(ctx, idColumn)} < ${cid}))`;
}

function byActivityOrder(a: Sourced, b: Sourced): number {
  if (a.ts !== b.ts) return b.ts - a.ts;
  const t = compareBytes(b.sortType, a.sortType);
  if (t !== 0) return t;
  if (a.sortType === 'pause') return Number(b.sortId) - Number(a.sortId);
  return compareBytes(b.sortId, a.sortId);
}

export interface ActivityOptions {
  type?: ActivityType;
  environment?: string;
  before?: Cursor;
  limit: number;
}

export async function listActivity(
  ctx: CloudContext,
  projectId: string,
  options: ActivityOptions,
): Promise<{ activity: ActivityItem[]; truncated: boolean; nextBefore: string | null }> {
  const db = ctx.store.db;
  const want = (t: ActivityType) => options.type === undefined || options.type === t;
  const take = options.limit + 1;
  const env = options.environment;
  const items: Sourced[] = [];

  if (want('plan')) {
    const rows = await db
      .selectFrom('plans')
      .select(['id', 'environment', 'status', 'created_by', 'created_ts', 'summary', 'error'])
      .where('project_id', '=', projectId)
      .$if(env !== undefined, (q) => q.where('environment', '=', env!))
      .where(afterActivity(ctx, 'plan', 'created_ts', 'id', options.before))
      .orderBy('created_ts', 'desc')
      .orderBy(bytewise(ctx, 'id'), 'desc')
      .limit(take)
      .execute();
    for (const r of rows) {
      items.push({
        type: 'plan',
        id: r.id,
        ts: Number(r.created_ts),
        environment: r.environment,
        status: r.status,
        by: r.created_by,
        text: `plan of ${r.environment} ${r.status}`,
        details: { summary: parseObject(r.summary), error: r.error },
        sortType: 'plan',
        sortId: r.id,
      });
    }
  }
  if (want('run')) {
    const rows = await db
      .selectFrom('runs')
      .select(['id', 'environment', 'status', 'trigger', 'created_by', 'created_ts', 'error'])
      .where('project_id', '=', projectId)
      .$if(env !== undefined, (q) => q.where('environment', '=', env!))
      .where(afterActivity(ctx, 'run', 'created_ts', 'id', options.before))
      .orderBy('created_ts', 'desc')
      .orderBy(bytewise(ctx, 'id'), 'desc')
      .limit(take)
      .execute();
    for (const r of rows) {
      items.push({
        type: 'run',
        id: r.id,
        ts: Number(r.created_ts),
        environment: r.environment,
        status: r.status,
        by: r.created_by,
        text: `${r.trigger} run of ${r.environment} ${r.status}`,
        details: { trigger: r.trigger, error: r.error },
        sortType: 'run',
        sortId: r.id,
      });
    }
  }
  if (want('pause')) {
    const rows = await db
      .selectFrom('events')
      .select(['id', 'payload', 'ts'])
      .where('project_id', '=', projectId)
      .where('type', '=', 'pause.changed')
      .where(afterActivity(ctx, 'pause', 'ts', 'id', options.before, true))
      .orderBy('ts', 'desc')
      .orderBy('id', 'desc')
      .limit(env === undefined ? take : take * 4)
      .execute();
    for (const r of rows) {
      const p = parseObject(r.payload);
      const environment = typeof p['environment'] === 'string' ? p['environment'] : null;
      if (env !== undefined && environment !== env) continue;
      const model = typeof p['model'] === 'string' ? p['model'] : null;
      const paused = p['paused'] === true;
      items.push({
        type: paused ? 'pause' : 'unpause',
        id: String(r.id),
        ts: Number(r.ts),
        environment,
        status: paused ? 'paused' : 'unpaused',
        by: typeof p['by'] === 'string' ? p['by'] : null,
        text: `${model ?? 'environment'} ${paused ? 'paused' : 'unpaused'} in ${environment ?? '?'}`,
        details: { model },
        sortType: 'pause',
        sortId: String(r.id),
      });
    }
  }
  if (want('client') && env === undefined) {
    const created = await db
      .selectFrom('oauth_clients')
      .select(['id', 'name', 'role', 'created_ts', 'created_by'])
      .where('project_id', '=', projectId)
      .where(afterActivity(ctx, 'client.created', 'created_ts', 'id', options.before))
      .orderBy('created_ts', 'desc')
      .orderBy(bytewise(ctx, 'id'), 'desc')
      .limit(take)
      .execute();
    for (const r of created) {
      items.push({
        type: 'client.created',
        id: r.id,
        ts: Number(r.created_ts),
        environment: null,
        status: null,
        by: r.created_by,
        text: `client ${r.name} (${r.role}) created`,
        details: { name: r.name, role: r.role },
        sortType: 'client.created',
        sortId: r.id,
      });
    }
    const revoked = await db
      .selectFrom('oauth_clients')
      .select(['id', 'name', 'role', 'revoked_ts'])
      .where('project_id', '=', projectId)
      .where('revoked_ts', 'is not', null)
      .where(afterActivity(ctx, 'client.revoked', 'revoked_ts', 'id', options.before))
      .orderBy('revoked_ts', 'desc')
      .orderBy(bytewise(ctx, 'id'), 'desc')
      .limit(take)
      .execute();
    for (const r of revoked) {
      items.push({
        type: 'client.revoked',
        id: r.id,
        ts: Number(r.revoked_ts),
        environment: null,
        status: null,
        by: null,
        text: `client ${r.name} (${r.role}) revoked`,
        details: { name: r.name, role: r.role },
        sortType: 'client.revoked',
        sortId: r.id,
      });
    }
  }
  items.sort(byActivityOrder);
  const truncated = items.length > options.limit;
  const kept = items.slice(0, options.limit);
  const last = kept[kept.length - 1];
  const names = await principalNames(
    ctx,
    projectId,
    kept.map((i) => i.by),
  );
  return {
    activity: kept.map(({ sortType: _t, sortId: _i, ...item }) => ({
      ...item,
      byName: displayNameOf(names, item.by),
    })),
    truncated,
    nextBefore: truncated && last ? encodeCursor(last.ts, `${last.sortType}|${last.sortId}`) : null,
  };
}

// ---- home ----

export const CHART_DAYS = 14;
/** Most bars the chart carries; `chartTruncated` says when there were more. */
export const MAX_CHART_ITEMS = 5_000;

export interface ChartItem {
  id: string;
  kind: 'run' | 'plan';
  status: RunStatus | PlanStatus;
  startTs: number;
  durationMs: number | null;
}

export interface HomeSummary {
  environment: string;
  exists: boolean;
  asOf: number;
  paused: boolean;
  freshness: Record<FreshnessState, number> & { total: number; paused: number };
  lastRun: RunListItem | null;
  lastPlan: PlanListItem | null;
  chart: { since: number; items: ChartItem[]; truncated: boolean };
}

export async function homeSummary(
  ctx: CloudContext,
  projectId: string,
  environment: string,
): Promise<HomeSummary> {
  const now = ctx.clock.now();
  const fresh = await freshness(ctx, projectId, environment, now);
  const counts = { complete: 0, pending: 0, behind: 0, late: 0, total: 0, paused: 0 };
  for (const m of fresh?.models ?? []) {
    counts[m.state] += 1;
    counts.total += 1;
    if (m.paused) counts.paused += 1;
  }
  const lastRun = (await listRunsPage(ctx, projectId, { environment, limit: 1 })).items[0] ?? null;
  const lastPlan = (await listPlans(ctx, projectId, { environment, limit: 1 })).items[0] ?? null;
  const since = now - CHART_DAYS * 86_400_000;
  const db = ctx.store.db;
  const runs = await db
    .selectFrom('runs')
    .select(['id', 'status', 'created_ts', 'started_ts', 'finished_ts'])
    .where('project_id', '=', projectId)
    .where('environment', '=', environment)
    .where('created_ts', '>=', since)
    .orderBy('created_ts', 'desc')
    .limit(MAX_CHART_ITEMS + 1)
    .execute();
  const plans = await db
    .selectFrom('plans')
    .select(['id', 'status', 'created_ts', 'started_ts', 'finished_ts'])
    .where('project_id', '=', projectId)
    .where('environment', '=', environment)
    .where('created_ts', '>=', since)
    .orderBy('created_ts', 'desc')
    .limit(MAX_CHART_ITEMS + 1)
    .execute();
  const item = (kind: 'run' | 'plan') => (r: (typeof runs)[number] | (typeof plans)[number]) => {
    const started = num(r.started_ts);
    return {
      id: r.id,
      kind,
      status: r.status,
      startTs: started ?? Number(r.created_ts),
      durationMs: durationOf(started, num(r.finished_ts)),
    } as ChartItem;
  };
  const all = [...runs.map(item('run')), ...plans.map(item('plan'))].sort(
    (a, b) => a.startTs - b.startTs,
  );
  const truncated = all.length > MAX_CHART_ITEMS;
  return {
    environment,
    exists: fresh !== undefined,
    asOf: now,
    paused: fresh?.paused ?? false,
    freshness: counts,
    lastRun,
    lastPlan,
    chart: { since, items: truncated ? all.slice(-MAX_CHART_ITEMS) : all, truncated },
  };
}
