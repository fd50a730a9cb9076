/**
 * Computes a plan: the project's snapshots against an environment's, with
 * every change found, categorized and turned into the backfill that applying
 * the plan will run.
 *
 * Versions follow SQLMesh's rules. A breaking or non-breaking direct change
 * gets a new table; a metadata-only change, a forward-only change and a
 * model downstream of only non-breaking changes keep the previous table; a
 * model downstream of a breaking change is indirectly breaking and gets a new
 * table. Snapshots the state already holds (built by another environment's
 * plan) keep their stored version and category, so promoting what dev built
 * to prod computes nothing again.
 */
import { randomUUID } from 'node:crypto';
import { TidelineError } from '../errors.js';
import { renderModelQuery } from '../evaluate/query-renderer.js';
import { JinjaRenderer } from '../render/jinja-renderer.js';
import type { StateReader } from '../state/state-sync.js';
import { snapshotKey, versionKey } from '../state/state-sync.js';
import { PROD, normalizeEnvironmentName } from '../snapshot/table-naming.js';
import type {
  ChangeCategory,
  Interval,
  Snapshot,
  SnapshotTableInfo,
} from '../snapshot/snapshot-types.js';
import { toEndTimestamp, toTimestamp, isDateOnly } from '../time/index.js';
import { computeBackfill, isEvaluatable } from './backfill.js';
import { categorizeChange, type AutoCategory } from './categorize.js';
import type { Plan, PlanChange, PlanOptions } from './plan-types.js';
import { modelDiffText, unifiedDiff } from './text-diff.js';

export interface BuildPlanInput {
  environment: string;
  /** The project's snapshots, parents before children (as `buildSnapshots` returns them). */
  snapshots: Map<string, Snapshot>;
  state: StateReader;
  /** Current time, epoch ms. */
  now: number;
  start?: string | number;
  end?: string | number;
  executionTime?: string | number;
  forwardOnly?: boolean;
  skipBackfill?: boolean;
  includeUnmodified?: boolean;
  /** Canonical names of models whose intervals are evaluated again. */
  restateModels?: string[];
  /** Category chosen by the user for direct changes, by canonical name. */
  categories?: Map<string, AutoCategory>;
  /** How a model's name is shown. */
  displayName?: (fqn: string) => string;
  planId?: string;
}

const DAY_MS = 86_400_000;

/** A time option read, its error naming the option. */
function timeOption(option: string, value: string | number, now: number, isEnd = false): number {
  try {
    return isEnd ? toEndTimestamp(value, now) : toTimestamp(value, now);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new TidelineError(`${option}: ${reason}`);
  }
}

const BREAKING_KINDS = new Set<ChangeCategory>(['breaking', 'indirect_breaking']);

export function tableInfo(snapshot: Snapshot, physicalTable = ''): SnapshotTableInfo {
  return {
    name: snapshot.name,
    identifier: snapshot.identifier,
    version: snapshot.version,
    ...(snapshot.devVersion ? { devVersion: snapshot.devVersion } : {}),
    physicalTable,
    kind: snapshot.node.definition.kind.name,
    ...(snapshot.changeCategory ? { changeCategory: snapshot.changeCategory } : {}),
    parents: snapshot.parents,
  };
}

/** A snapshot's query as rendered for comparison: names kept, a fixed interval. */
function comparableQuery(snapshot: Snapshot, now: number): string | undefined {
  const def = snapshot.node.definition;
  if (!def.query) return undefined;
  try {
    return renderModelQuery({
      definition: def,
      jinja: new JinjaRenderer(snapshot.node.jinjaMacros ?? []),
      variables: snapshot.node.variables,
      defaultCatalog: snapshot.node.defaultCatalog,
      start: now - 86_400_000,
      end: now,
      executionTime: now,
      dialect: def.dialect,
      tableFor: (fqn) => fqn,
      runtimeStage: 'loading',
    }).query;
  } catch {
    return undefined;
  }
}

/** Descendants of each of `names` within `snapshots` (children lists built once). */
function downstreamOf(snapshots: Map<string, Snapshot>): (name: string) => string[] {
  const children = new Map<string, string[]>();
  for (const s of snapshots.values()) {
    for (const p of s.parents) {
      const list = children.get(p.name) ?? [];
      list.push(s.name);
      children.set(p.name, list);
    }
  }
  return (name) => {
    const out: string[] = [];
    const seen = new Set<string>([name]);
    const queue = [...(children.get(name) ?? [])];
    while (queue.length > 0) {
      const next = queue.shift()!;
      if (seen.has(next)) continue;
      seen.add(next);
      out.push(next);
      queue.push(...(children.get(next) ?? []));
    }
    return out;
  };
}

export async function buildPlan(input: BuildPlanInput): Promise<Plan> {
  const environment = normalizeEnvironmentName(input.environment);
  if (!/^[a-z0-9_-]+$/.test(environment)) {
    throw new TidelineError(
      `invalid environment name ${JSON.stringify(input.environment)}: use letters, digits, '_' and '-'`,
    );
  }
  const now = input.now;
  const show = input.displayName ?? ((fqn: string) => fqn);
  const executionTime =
    input.executionTime !== undefined
      ? timeOption('--execution-time', input.executionTime, now)
      : now;
  const warnings: string[] = [];
  const target = await input.state.getEnvironment(environment);
  const base =
    target ?? (environment === PROD ? undefined : await input.state.getEnvironment(PROD));
  const baseInfos = new Map((base?.snapshots ?? []).map((s) => [s.name, s]));
  const baseSnapshots = await input.state.getSnapshots(
    (base?.snapshots ?? []).map((s) => ({ name: s.name, identifier: s.identifier })),
  );
  const baseByName = new Map<string, Snapshot>();
  for (const s of baseSnapshots.values()) baseByName.set(s.name, s);

  const local = [...input.snapshots.values()];
  const stored = await input.state.getSnapshots(
    local.map((s) => ({ name: s.name, identifier: s.identifier })),
  );

  const restate = new Set(input.restateModels ?? []);
  for (const name of restate) {
    if (!input.snapshots.has(name)) {
      throw new TidelineError(`--restate-model ${show(name)}: no such model in the project`);
    }
  }

  // Decide each snapshot's version and category, parents first.
  const finalByName = new Map<string, Snapshot>();
  const newSnapshots: Snapshot[] = [];
  const changes: PlanChange[] = [];
  const categoryOf = new Map<string, ChangeCategory | undefined>();
  const forwardOnlyUp = new Set<string>();
  for (const snapshot of local) {
    const name = snapshot.name;
    const previous = baseByName.get(name);
    const existing = stored.get(snapshotKey(snapshot));
    const def = snapshot.node.definition;
    const kind = def.kind;
    const kindForwardOnly = 'forwardOnly' in kind && kind.forwardOnly === true;

    if (previous && previous.identifier === snapshot.identifier) {
      finalByName.set(name, previous);
      continue;
    }

    let final: Snapshot;
    let category: ChangeCategory | undefined;
    const change: PlanChange = {
      name,
      displayName: show(name),
      type: 'added',
      identifier: snapshot.identifier,
    };
    if (!previous) {
      category = 'breaking';
    } else {
      change.previousIdentifier = previous.identifier;
      const ownData = previous.fingerprint.dataHash !== snapshot.fingerprint.dataHash;
      const ownMeta = previous.fingerprint.metadataHash !== snapshot.fingerprint.metadataHash;
      const parentData =
        previous.fingerprint.parentDataHash !== snapshot.fingerprint.parentDataHash;
      if (ownData) {
        change.type = 'directly_modified';
        const override = input.categories?.get(name);
        if (input.forwardOnly || kindForwardOnly) {
          category = 'forward_only';
        } else if (override) {
          category = override;
          change.categoryOverridden = true;
        } else {
          const auto = categorizeChange(previous.node.definition, def, {
            oldQuery: comparableQuery(previous, now),
            newQuery: comparableQuery(snapshot, now),
            dialect: def.dialect,
            ...(previous.node.seedCsv !== undefined ? { oldSeedCsv: previous.node.seedCsv } : {}),
            ...(snapshot.node.seedCsv !== undefined ? { newSeedCsv: snapshot.node.seedCsv } : {}),
          });
          if (auto === undefined) change.undecided = true;
          category = auto ?? 'breaking';
        }
        // Reading a table that is rebuilt changes this model's data whatever its own change.
        const upstreamBreaks = snapshot.parents.some((p) => {
          const c = categoryOf.get(p.name);
          return c !== undefined && BREAKING_KINDS.has(c);
        });
        if (category === 'non_breaking' && upstreamBreaks) category = 'breaking';
      } else if (ownMeta && !parentData) {
        change.type = 'metadata';
        category = 'metadata';
      } else {
        change.type = 'indirectly_modified';
        const upstreamCategories = snapshot.parents.map((p) => categoryOf.get(p.name));
        if (!parentData) category = 'metadata';
        else if (upstreamCategories.some((c) => c !== undefined && BREAKING_KINDS.has(c))) {
          category = 'indirect_breaking';
        } else if (snapshot.parents.some((p) => forwardOnlyUp.has(p.name))) {
          category = 'forward_only';
        } else {
          category = 'indirect_non_breaking';
        }
      }
      if (change.type !== 'indirectly_modified') {
        const diff = unifiedDiff(modelDiffText(previous.node.definition), modelDiffText(def), {
          oldLabel: `${show(name)} (${environment === PROD || target ? environment : PROD})`,
          newLabel: `${show(name)} (local)`,
        });
        if (diff) change.diff = diff;
      }
    }
    if (existing) {
      // Built before (by another environment's plan): keep what it was.
      final = existing;
      category = existing.changeCategory ?? category;
    } else {
      const keepsTable =
        previous !== undefined &&
        (category === 'metadata' ||
          category === 'indirect_non_breaking' ||
          category === 'forward_only');
      final = {
        ...snapshot,
        ...(category ? { changeCategory: category } : {}),
        version: keepsTable ? previous.version : snapshot.version,
      };
      newSnapshots.push(final);
    }
    if (category === 'forward_only') forwardOnlyUp.add(name);
    categoryOf.set(name, category);
    change.category = category;
    finalByName.set(name, final);
    changes.push(change);
  }

  const downstream = downstreamOf(finalByName);
  const children = new Map<string, string[]>();
  for (const s of finalByName.values()) {
    for (const p of s.parents) children.set(p.name, [...(children.get(p.name) ?? []), s.name]);
  }
  const childrenOf = (name: string): string[] => children.get(name) ?? [];
  for (const change of changes) {
    if (change.type === 'directly_modified') change.downstream = downstream(change.name).map(show);
  }

  const removed: SnapshotTableInfo[] = [];
  for (const info of baseInfos.values()) {
    if (!input.snapshots.has(info.name)) {
      removed.push(info);
      changes.push({
        name: info.name,
        displayName: show(info.name),
        type: 'removed',
        previousIdentifier: info.identifier,
      });
    }
  }

  const snapshots = local.map((s) => finalByName.get(s.name)!);
  const changedNames = new Set(changes.filter((c) => c.type !== 'removed').map((c) => c.name));
  const promoted = snapshots
    .filter(
      (s) =>
        environment === PROD ||
        input.includeUnmodified === true ||
        changedNames.has(s.name) ||
        (target?.promotedSnapshotIds ?? []).some((p) => p.name === s.name),
    )
    .map((s) => snapshotKey(s));

  // Time range.
  const start = input.start !== undefined ? timeOption('--start', input.start, now) : undefined;
  const end = input.end !== undefined ? timeOption('--end', input.end, now, true) : undefined;
  const endSlack = input.end !== undefined && isDateOnly(input.end) ? DAY_MS : 0;
  if (end !== undefined && end > executionTime + endSlack) {
    throw new TidelineError(
      `--end (${new Date(end).toISOString()}) is in the future (execution time ${new Date(executionTime).toISOString()}); choose an end at or before it`,
    );
  }
  if (environment === PROD && restate.size === 0 && (start !== undefined || end !== undefined)) {
    throw new TidelineError(
      '--start and --end apply to plans of dev environments or restatements; plan prod without them, or add --restate-model',
    );
  }
  if (start !== undefined && end !== undefined && start >= end) {
    throw new TidelineError(
      `--start (${new Date(start).toISOString()}) must be before --end (${new Date(end).toISOString()})`,
    );
  }

  // Restatements: the model and everything downstream of it, for the range.
  const restatements: Plan['restatements'] = [];
  const restated = new Set<string>();
  const baseVersions = new Set((base?.snapshots ?? []).map((s) => s.version));
  for (const name of restate) {
    if (target && !target.snapshots.some((s) => s.name === name)) {
      throw new TidelineError(
        `--restate-model ${show(name)}: the model is not in environment ${environment}; plan it there first`,
      );
    }
    if (!target && environment === PROD) {
      throw new TidelineError(
        `--restate-model ${show(name)}: environment prod does not exist yet; apply a plan to it first`,
      );
    }
    const visit = (n: string, isRoot: boolean): void => {
      if (restated.has(n)) return;
      const s = finalByName.get(n);
      if (!s) return;
      const kind = s.node.definition.kind;
      // Models that refuse restatement (and seeds) are skipped, and so is
      // what only they would have restated.
      if (kind.name === 'SEED' || ('disableRestatement' in kind && kind.disableRestatement)) {
        if (isRoot)
          warnings.push(`${show(n)} cannot be restated (disable_restatement or SEED); skipped`);
        return;
      }
      // A dev plan never rewrites a table the base environment (prod) uses.
      if (environment !== PROD && baseVersions.has(s.version)) {
        warnings.push(`${show(n)} is shared with ${base?.name ?? PROD}; restate it there instead`);
        return;
      }
      restated.add(n);
      for (const child of childrenOf(n)) visit(child, false);
    };
    visit(name, true);
  }
  const finalList = snapshots;
  const recorded = await input.state.getVersionIntervals(
    finalList.filter((s) => isEvaluatable(s.node.definition)),
  );
  for (const name of restated) {
    const s = finalByName.get(name);
    if (!s || !isEvaluatable(s.node.definition)) continue;
    const full = !['INCREMENTAL_BY_TIME_RANGE'].includes(s.node.definition.kind.name);
    const range: Interval = [
      full || start === undefined ? 0 : start,
      full || end === undefined ? Number.MAX_SAFE_INTEGER : end,
    ];
    restatements.push({ name, identifier: s.identifier, version: s.version, interval: range });
    const list = recorded.get(versionKey(s)) ?? [];
    recorded.set(
      versionKey(s),
      list.flatMap(([a, b]): Interval[] => {
        const out: Interval[] = [];
        if (a < range[0]) out.push([a, Math.min(b, range[0])]);
        if (b > range[1]) out.push([Math.max(a, range[1]), b]);
        return out;
      }),
    );
  }

  // What to evaluate: in prod everything missing; elsewhere only what this
  // environment does not share with its base.
  const only =
    environment === PROD
      ? undefined
      : new Set(
          finalList
            .filter((s) => !baseVersions.has(s.version) || restated.has(s.name))
            .map((s) => s.name),
        );
  const backfill = input.skipBackfill
    ? []
    : computeBackfill(finalList, {
        ...(start !== undefined ? { start } : {}),
        ...(end !== undefined ? { end } : {}),
        ...(input.end !== undefined && isDateOnly(input.end) ? { endFromDate: true } : {}),
        executionTime,
        recorded,
        ...(only ? { only } : {}),
      });

  const options: PlanOptions = {
    forwardOnly: input.forwardOnly === true,
    skipBackfill: input.skipBackfill === true,
    includeUnmodified: input.includeUnmodified === true,
    restateModels: [...restate],
  };
  const starts = backfill.flatMap((b) => b.batches.map((x) => x[0]));
  const ends = backfill.flatMap((b) => b.batches.map((x) => x[1]));
  return {
    id: input.planId ?? randomUUID(),
    environment,
    ...(base ? { baseEnvironment: base.name } : {}),
    isNewEnvironment: target === undefined,
    expectedPlanId: target?.planId ?? null,
    createdTs: now,
    start: start ?? (starts.length ? Math.min(...starts) : (target?.startAt ?? executionTime)),
    end: end ?? (ends.length ? Math.max(...ends) : executionTime),
    executionTime,
    options,
    changes,
    newSnapshots,
    snapshots: finalList,
    promoted,
    removed,
    restatements,
    backfill,
    warnings,
  };
}
