/**
 * Plan computation without execution, on generated DuckDB projects:
 *
 * - a fresh state: every model is added (snapshots built, state read, the
 *   backfill computed);
 * - after the state holds every model (applied with skip-backfill) and one
 *   model's query was edited: one direct change, its downstream indirect
 *   ones, categorization and diffs.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SnapshotEvaluator } from '../src/engine/evaluate/snapshot-evaluator.js';
import { LocalContext } from '../src/engine/local-context.js';
import { applyPlan, type ApplyResult } from '../src/engine/plan/plan-applier.js';
import type { Plan } from '../src/engine/plan/plan-types.js';
import { fixedClock } from '../src/engine/time/index.js';
import { median, timed, utcDay, type Figure } from './common-bench-helpers.js';
import { generateProject } from './project-generator.js';

/** 1,000 models must plan in under this many milliseconds. */
export const PLAN_1K_TARGET_MS = 2000;

/** The plan's time: 30 days after the generated models' start. */
const PLAN_TIME = utcDay('2024-01-31');

function count(plan: Plan, type: string): number {
  return plan.changes.filter((c) => c.type === type).length;
}

/** Adds a column to model `m<index>`'s query: a non-breaking direct change. */
function editModel(root: string, index: number): void {
  const path = join(root, 'models', `m${index}.sql`);
  const text = readFileSync(path, 'utf8');
  const edited = text.replace(/ AS score_(\d)\n/, ' AS score_$1, 1 AS bench_extra\n');
  if (edited === text) throw new Error(`could not edit ${path}`);
  writeFileSync(path, edited);
}

/**
 * An evaluator that leaves the warehouse alone, so that applying a plan only
 * writes state: snapshots, the environment, the plan record.
 */
class StateOnlyEvaluator extends SnapshotEvaluator {
  override async createTable(): Promise<void> {}
  override async promote(): Promise<void> {}
  override async demote(): Promise<void> {}
}

/**
 * Applies a skip-backfill plan. With `stateOnly` the warehouse's tables and
 * views are not created: creating thousands of them on DuckDB takes longer
 * than a benchmark should (see the apply figure at 1,000 models), and
 * planning reads only state.
 */
async function applySkipBackfill(ctx: LocalContext, plan: Plan, stateOnly: boolean) {
  if (!stateOnly) return ctx.apply(plan);
  return applyPlan(plan, {
    state: ctx.state,
    evaluator: new StateOnlyEvaluator(ctx.adapter),
    concurrency: 1,
    clock: () => ctx.clock.now(),
  });
}

async function planMany(ctx: LocalContext, repeats: number): Promise<{ ms: number; plan: Plan }> {
  const times: number[] = [];
  let plan: Plan | undefined;
  for (let i = 0; i < repeats; i++) {
    const run = await timed(() => ctx.plan({ environment: 'prod' }));
    times.push(run.ms);
    plan = run.result;
  }
  return { ms: median(times), plan: plan! };
}

/**
 * Measures planning `models` generated models; `repeats` plans per figure
 * (median). With `stateOnly` the skip-backfill apply writes state only.
 */
export async function planBenchmark(
  models: number,
  repeats: number,
  options: { stateOnly?: boolean } = {},
): Promise<Figure[]> {
  const stateOnly = options.stateOnly === true;
  const root = generateProject(models);
  const clock = fixedClock(PLAN_TIME);
  const label = models.toLocaleString('en-US');
  const figures: Figure[] = [];
  try {
    let ctx = await LocalContext.open(root, { env: {}, clock });
    try {
      const fresh = await planMany(ctx, repeats);
      if (count(fresh.plan, 'added') !== models || fresh.plan.newSnapshots.length !== models) {
        throw new Error(`fresh plan of ${models} models: ${fresh.plan.changes.length} changes`);
      }
      figures.push({
        name: `plan ${label} models, fresh state (median of ${repeats})`,
        value: fresh.ms,
        unit: 'ms',
        ...(models === 1_000
          ? { target: `< ${PLAN_1K_TARGET_MS} ms`, missed: fresh.ms > PLAN_1K_TARGET_MS }
          : {}),
      });

      const skip = await ctx.plan({ environment: 'prod', skipBackfill: true });
      const applied = await timed<ApplyResult>(() => applySkipBackfill(ctx, skip, stateOnly));
      if (applied.result.status !== 'succeeded' || applied.result.backfill.evaluations !== 0) {
        throw new Error(`apply --skip-backfill: ${applied.result.status} ${applied.result.error}`);
      }
      figures.push({
        name: `apply ${label} models, skip-backfill${stateOnly ? ', state only' : ''} (once)`,
        value: applied.ms,
        unit: 'ms',
      });
    } finally {
      await ctx.close();
    }

    // A model in the middle of the DAG, so the change has downstream models.
    editModel(root, Math.floor(models / 2));
    ctx = await LocalContext.open(root, { env: {}, clock });
    try {
      const edited = await planMany(ctx, repeats);
      const direct = count(edited.plan, 'directly_modified');
      const indirect = count(edited.plan, 'indirectly_modified');
      const change = edited.plan.changes.find((c) => c.type === 'directly_modified');
      if (direct !== 1 || indirect !== (change?.downstream?.length ?? -1)) {
        throw new Error(`edited plan: ${direct} direct and ${indirect} indirect changes`);
      }
      figures.push({
        name: `plan ${label} models, 1 edited + ${indirect} downstream (median of ${repeats})`,
        value: edited.ms,
        unit: 'ms',
        ...(models === 1_000
          ? { target: `< ${PLAN_1K_TARGET_MS} ms`, missed: edited.ms > PLAN_1K_TARGET_MS }
          : {}),
      });
    } finally {
      await ctx.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return figures;
}
