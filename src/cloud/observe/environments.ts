/**
 * Environments as people look at them: the list, one environment with its
 * snapshots and how each differs from prod, and one model of it (definition,
 * query as written and as rendered, lineage, versions, loaded intervals,
 * recent evaluations and audits).
 *
 * Differences from prod follow the plan builder's rules on fingerprints: the
 * same identifier is unchanged; a different data hash is a direct change; a
 * different metadata hash with the same parent data hash is metadata only;
 * anything else changed through a parent (indirectly modified).
 */
import { sql } from 'kysely';
import { isEvaluatable, snapshotIntervalUnit } from '../../engine/plan/backfill.js';
import { renderModelQuery } from '../../engine/evaluate/query-renderer.js';
import { JinjaRenderer } from '../../engine/render/jinja-renderer.js';
import { displayName } from '../../engine/sql/names.js';
import { canonicalTableName, physicalTableName, PROD } from '../../engine/snapshot/table-naming.js';
import type { Interval, Snapshot } from '../../engine/snapshot/snapshot-types.js';
import { addUnits, floorToUnit } from '../../engine/time/index.js';
import type { CloudContext } from '../context.js';
import { listPauses, pausesOf, resolveModelName, type Pause } from '../pauses/pauses.js';
import {
  environmentSnapshots,
  isExpired,
  readEnvironment,
  versionIntervals,
  type StoredEnvironment,
} from '../scheduler/state-reader.js';
import { ModelGraph } from '../scheduler/model-graph.js';
import {
  listAudits,
  listEvaluations,
  listPlans,
  type AuditItem,
  type EvaluationItem,
  type PlanListItem,
} from './history.js';
import { lineageOf, type LineageEntry } from './lineage.js';
import { withCreatorNames } from './principals.js';
import { bytewise, num, parseObject } from './store-queries.js';

export type Difference =
  'directly_modified' | 'indirectly_modified' | 'metadata' | 'added' | 'removed';

export interface EnvironmentListItem {
  name: string;
  createdTs: number;
  updatedTs: number;
  expirationTs: number | null;
  expired: boolean;
  planId: string;
  finalizedTs: number | null;
  modelCount: number;
  paused: boolean;
}

function shownName(s: Snapshot): string {
  try {
    return displayName(s.name, s.node.definition.dialect, s.node.defaultCatalog);
  } catch {
    return s.name;
  }
}

/** Environments by name, `limit` of them after `after`; `truncated` when more follow. */
export async function listEnvironmentsPage(
  ctx: CloudContext,
  projectId: string,
  options: { after?: string; limit: number },
): Promise<{ environments: EnvironmentListItem[]; truncated: boolean; nextAfter: string | null }> {
  const db = ctx.store.db;
  const rows = await db
    .selectFrom('environments')
    .select(['name', 'payload', 'plan_id', 'expiration_ts', 'created_ts', 'updated_ts'])
    .where('project_id', '=', projectId)
    .$if(options.after !== undefined, (q) => q.where(bytewise(ctx, 'name'), '>', options.after!))
    .orderBy(bytewise(ctx, 'name'))
    .limit(options.limit + 1)
    .execute();
  const truncated = rows.length > options.limit;
  const kept = truncated ? rows.slice(0, options.limit) : rows;
  const paused = new Set(
    (
      await db
        .selectFrom('pauses')
        .select('environment')
        .where('project_id', '=', projectId)
        .where('model', '=', '')
        .execute()
    ).map((r) => r.environment),
  );
  const now = ctx.clock.now();
  const environments = kept.map((r): EnvironmentListItem => {
    const payload = parseObject(r.payload);
    const snapshots = Array.isArray(payload['snapshots']) ? payload['snapshots'] : [];
    const expirationTs = num(r.expiration_ts);
    return {
      name: r.name,
      createdTs: Number(r.created_ts),
      updatedTs: Number(r.updated_ts),
      expirationTs,
      expired: expirationTs !== null && expirationTs <= now,
      planId: r.plan_id,
      finalizedTs: typeof payload['finalizedTs'] === 'number' ? payload['finalizedTs'] : null,
      modelCount: snapshots.length,
      paused: paused.has(r.name),
    };
  });
  const last = environments[environments.length - 1];
  return { environments, truncated, nextAfter: truncated && last ? last.name : null };
}

/** How `s` differs from prod's snapshot of the same name (undefined: the same). */
export function differenceFrom(s: Snapshot, prod: Snapshot | undefined): Difference | undefined {
  if (!prod) return 'added';
  if (prod.identifier === s.identifier) return undefined;
  const a = prod.fingerprint;
  const b = s.fingerprint;
  if (a.dataHash !== b.dataHash) return 'directly_modified';
  if (a.metadataHash !== b.metadataHash && a.parentDataHash === b.parentDataHash) return 'metadata';
  return 'indirectly_modified';
}

export interface EnvironmentSnapshotItem {
  name: string;
  displayName: string;
  identifier: string;
  version: string;
  kind: string;
  changeCategory: string | null;
  /** How it differs from prod; null when it is prod's snapshot (or this is prod). */
  difference: Difference | null;
  paused: boolean;
}

export interface EnvironmentDetail {
  name: string;
  planId: string;
  previousPlanId: string | null;
  /** The latest plan submitted for the environment, whatever became of it. */
  lastPlan: PlanListItem | null;
  startTs: number;
  endTs: number | null;
  createdTs: number;
  updatedTs: number;
  expirationTs: number | null;
  expired: boolean;
  finalizedTs: number | null;
  paused: boolean;
  /** The environment's pauses (model null: the whole environment), with who paused. */
  pauses: Array<Pause & { createdByName: string | null }>;
  snapshots: EnvironmentSnapshotItem[];
  /** Models prod has that this environment does not. */
  removed: Array<{ name: string; displayName: string; identifier: string }>;
  differences: Record<Difference, number>;
  /** Snapshots the environment names that the store lacks. */
  missing: string[];
}

export async function environmentDetail(
  ctx: CloudContext,
  projectId: string,
  name: string,
): Promise<EnvironmentDetail | undefined> {
  const db = ctx.store.db;
  const stored = await readEnvironment(db, projectId, name);
  if (!stored) return undefined;
  const row = await db
    .selectFrom('environments')
    .select(['created_ts', 'updated_ts'])
    .where('project_id', '=', projectId)
    .where('name', '=', name)
    .executeTakeFirstOrThrow();
  const { snapshots, missing } = await environmentSnapshots(db, projectId, stored.environment);
  let prodByName = new Map<string, Snapshot>();
  if (name !== PROD) {
    const prod = await readEnvironment(db, projectId, PROD);
    if (prod) {
      const found = await environmentSnapshots(db, projectId, prod.environment);
      prodByName = new Map(found.snapshots.map((s) => [s.name, s]));
    }
  }
  const pauseList = await listPauses(db, projectId, name);
  const pauses = pausesOf(pauseList);
  const held = new ModelGraph(snapshots).downstreamOf(pauses.models);
  const differences: Record<Difference, number> = {
    directly_modified: 0,
    indirectly_modified: 0,
    metadata: 0,
    added: 0,
    removed: 0,
  };
  const items = snapshots.map((s): EnvironmentSnapshotItem => {
    const difference = name === PROD ? undefined : differenceFrom(s, prodByName.get(s.name));
    if (difference) differences[difference] += 1;
    return {
      name: s.name,
      displayName: shownName(s),
      identifier: s.identifier,
      version: s.version,
      kind: s.node.definition.kind.name,
      changeCategory: s.changeCategory ?? null,
      difference: difference ?? null,
      paused: pauses.environment || held.has(s.name),
    };
  });
  const own = new Set(snapshots.map((s) => s.name));
  const removed = [...prodByName.values()]
    .filter((s) => !own.has(s.name))
    .map((s) => ({ name: s.name, displayName: shownName(s), identifier: s.identifier }));
  differences.removed = removed.length;
  const lastPlan = (await listPlans(ctx, projectId, { environment: name, limit: 1 })).items[0];
  const env = stored.environment;
  return {
    name,
    planId: stored.planId,
    previousPlanId: env.previousPlanId ?? null,
    lastPlan: lastPlan ?? null,
    startTs: env.startAt,
    endTs: env.endAt ?? null,
    createdTs: Number(row.created_ts),
    updatedTs: Number(row.updated_ts),
    expirationTs: stored.expirationTs,
    expired: isExpired(stored, ctx.clock.now()),
    finalizedTs: env.finalizedTs ?? null,
    paused: pauses.environment,
    pauses: await withCreatorNames(ctx, projectId, pauseList),
    snapshots: items,
    removed,
    differences,
    missing,
  };
}

// ---- one model ----

export interface ModelVersion {
  identifier: string;
  version: string;
  changeCategory: string | null;
  createdTs: number;
  /** The plan that first brought this snapshot, when the cloud kept that plan's body. */
  planId: string | null;
  /** This environment's current snapshot. */
  current: boolean;
}

export interface ModelDetail {
  environment: string;
  name: string;
  displayName: string;
  identifier: string;
  version: string;
  changeCategory: string | null;
  fingerprint: Snapshot['fingerprint'];
  definition: {
    kind: string;
    dialect: string;
    cron: string;
    cronTz: string | null;
    intervalUnit: string | null;
    start: string | null;
    owner: string | null;
    description: string | null;
    tags: string[];
    grains: string[];
    columns: Array<{ name: string; type: string | null; description: string | null }>;
    audits: string[];
    path: string;
  };
  /** The query as written (macros and Jinja included). */
  querySource: string | null;
  /** The query rendered for `renderedInterval`, reading the physical tables. */
  renderedSql: string | null;
  renderedInterval: Interval | null;
  /** Why rendering failed, when it did. */
  renderError: string | null;
  lineage: {
    /** The models this one reads directly. */
    parents: Array<{ name: string; displayName: string }>;
    /** The models that read this one directly. */
    children: Array<{ name: string; displayName: string }>;
    /** Every model upstream, nearest first; `depth` 1 is a parent. */
    ancestors: Array<LineageEntry & { displayName: string }>;
    /** Every model downstream, nearest first; `depth` 1 is a child. */
    descendants: Array<LineageEntry & { displayName: string }>;
  };
  versions: ModelVersion[];
  /** Intervals recorded for the current table version, merged. */
  intervals: Interval[];
  evaluations: EvaluationItem[];
  audits: AuditItem[];
}

/** Columns: declared ones with descriptions, then described ones not declared. */
function columnsOf(s: Snapshot): ModelDetail['definition']['columns'] {
  const def = s.node.definition;
  const out: ModelDetail['definition']['columns'] = (def.columns ?? []).map((c) => ({
    name: c.name,
    type: c.type,
    description: def.columnDescriptions[c.name] ?? null,
  }));
  const seen = new Set(out.map((c) => c.name));
  for (const [name, description] of Object.entries(def.columnDescriptions)) {
    if (!seen.has(name)) out.push({ name, type: null, description });
  }
  return out;
}

/** Renders the model for its latest whole interval, reading the environment's physical tables. */
function renderSnapshot(
  s: Snapshot,
  byName: Map<string, Snapshot>,
  now: number,
): { sql: string | null; interval: Interval | null; error: string | null } {
  const def = s.node.definition;
  if (!def.query) return { sql: null, interval: null, error: null };
  const unit = snapshotIntervalUnit(def);
  const end = floorToUnit(now, unit);
  const interval: Interval = [addUnits(end, unit, -1), end];
  const physical = (x: Snapshot) => canonicalTableName(physicalTableName(x.name, x.version));
  const hasTable = (x: Snapshot) =>
    x.node.definition.kind.name !== 'EMBEDDED' && x.node.definition.kind.name !== 'EXTERNAL';
  try {
    const renderOne = (target: Snapshot, seen: Set<string>): string =>
      renderModelQuery({
        definition: target.node.definition,
        variables: target.node.variables,
        jinja: new JinjaRenderer(target.node.jinjaMacros ?? []),
        defaultCatalog: target.node.defaultCatalog,
        start: interval[0],
        end: interval[1],
        executionTime: now,
        dialect: def.dialect,
        tableFor: (fqn) => {
          const parent = byName.get(fqn);
          return parent && hasTable(parent) ? physical(parent) : undefined;
        },
        embeddedQuery: (fqn) => {
          const parent = byName.get(fqn);
          if (!parent || parent.node.definition.kind.name !== 'EMBEDDED' || seen.has(fqn)) {
            return undefined;
          }
          return renderOne(parent, new Set([...seen, fqn]));
        },
        thisModel: physical(target),
        extraVariables: { this_env: PROD },
      }).query;
    return { sql: renderOne(s, new Set([s.name])), interval, error: null };
  } catch (err) {
    return { sql: null, interval, error: err instanceof Error ? err.message : String(err) };
  }
}

/** The plans that introduced each of `identifiers`, looking at plans kept with their bodies. */
async function introducingPlans(
  ctx: CloudContext,
  projectId: string,
  name: string,
  versions: Array<{ identifier: string; createdTs: number }>,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const db = ctx.store.db;
  for (const v of versions) {
    // A snapshot is stored while its plan is applied, after the plan was submitted.
    const contains =
      ctx.store.kind === 'postgres'
        ? sql<boolean>`strpos("payload", ${v.identifier}) > 0`
        : sql<boolean>`instr("payload", ${v.identifier}) > 0`;
    const rows = await db
      .selectFrom('plans')
      .select(['id', 'payload'])
      .where('project_id', '=', projectId)
      .where('payload', 'is not', null)
      .where('created_ts', '<=', v.createdTs)
      .where(contains)
      .orderBy('created_ts', 'asc')
      .limit(5)
      .execute();
    for (const r of rows) {
      const plan = parseObject(r.payload);
      const fresh = Array.isArray(plan['newSnapshots']) ? plan['newSnapshots'] : [];
      const found = fresh.some(
        (s) =>
          s &&
          typeof s === 'object' &&
          (s as Snapshot).name === name &&
          (s as Snapshot).identifier === v.identifier,
      );
      if (found) {
        out.set(v.identifier, r.id);
        break;
      }
    }
  }
  return out;
}

/** At most this many stored versions are listed per model, newest first. */
export const MAX_VERSIONS = 100;

export async function modelDetail(
  ctx: CloudContext,
  projectId: string,
  stored: StoredEnvironment,
  rawModel: string,
): Promise<ModelDetail | undefined> {
  const db = ctx.store.db;
  const { snapshots } = await environmentSnapshots(db, projectId, stored.environment);
  const name = resolveModelName(snapshots, rawModel);
  if (!name) return undefined;
  const graph = new ModelGraph(snapshots);
  const byName = graph.byName;
  const s = byName.get(name)!;
  const def = s.node.definition;
  const parents = graph.parentsOf(s).map((p) => ({ name: p.name, displayName: shownName(p) }));
  const children = graph.order
    .filter((x) => graph.parentsOf(x).some((p) => p.name === name))
    .map((x) => ({ name: x.name, displayName: shownName(x) }));
  const lineage = lineageOf(graph, name);
  const shown = (e: LineageEntry) => ({ ...e, displayName: shownName(byName.get(e.name)!) });

  const versionRows = await db
    .selectFrom('snapshots')
    .select(['identifier', 'version', 'payload', 'created_ts'])
    .where('project_id', '=', projectId)
    .where('name', '=', name)
    .orderBy('created_ts', 'desc')
    .orderBy(bytewise(ctx, 'identifier'), 'desc')
    .limit(MAX_VERSIONS)
    .execute();
  const versionList = versionRows.map((r) => {
    const payload = parseObject(r.payload);
    return {
      identifier: r.identifier,
      version: r.version,
      changeCategory:
        typeof payload['changeCategory'] === 'string' ? payload['changeCategory'] : null,
      createdTs: Number(r.created_ts),
    };
  });
  const plans = await introducingPlans(ctx, projectId, name, versionList);
  const versions = versionList.map((v): ModelVersion => ({
    ...v,
    planId: plans.get(v.identifier) ?? null,
    current: v.identifier === s.identifier,
  }));

  const recorded = await versionIntervals(db, projectId, [s]);
  const rendered = renderSnapshot(s, byName, ctx.clock.now());
  const evaluations = await listEvaluations(ctx, projectId, {
    model: name,
    environment: stored.name,
    limit: 20,
  });
  const audits = await listAudits(ctx, projectId, { model: name, limit: 20 });
  return {
    environment: stored.name,
    name,
    displayName: shownName(s),
    identifier: s.identifier,
    version: s.version,
    changeCategory: s.changeCategory ?? null,
    fingerprint: s.fingerprint,
    definition: {
      kind: def.kind.name,
      dialect: def.dialect,
      cron: def.cron,
      cronTz: def.cronTz ?? null,
      intervalUnit: isEvaluatable(def) ? snapshotIntervalUnit(def) : null,
      start: def.start ?? null,
      owner: def.owner ?? null,
      description: def.description ?? null,
      tags: def.tags,
      grains: def.grains,
      columns: columnsOf(s),
      audits: [...def.audits.map((a) => a.name), ...def.inlineAudits.map((a) => a.name)],
      path: def.path,
    },
    querySource: s.node.querySource ?? def.query?.sql ?? null,
    renderedSql: rendered.sql,
    renderedInterval: rendered.interval,
    renderError: rendered.error,
    lineage: {
      parents,
      children,
      ancestors: lineage.ancestors.map(shown),
      descendants: lineage.descendants.map(shown),
    },
    versions,
    intervals: recorded.get(`${s.name}|${s.version}`) ?? [],
    evaluations: evaluations.items,
    audits: audits.items,
  };
}
