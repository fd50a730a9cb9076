/**
 * Execution benchmarks on DuckDB:
 *
 * - a `run` with nothing due, on generated models applied at the run's time:
 *   the cost of reading state and finding that nothing is missing;
 * - the engine's overhead: `plan` and apply of a project that writes ten
 *   million rows, against the same rendered SQL sent straight to the driver.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { LocalContext } from '../src/engine/local-context.js';
import { fixedClock } from '../src/engine/time/index.js';
import { median, tempFolder, timed, utcDay, type Figure } from './common-bench-helpers.js';
import { BIG_ROWS_PER_DAY, BIG_START, BIG_DAYS, writeBigProject } from './big-bench-project.js';
import { generateProject } from './project-generator.js';

/** A run with nothing due on 1,000 models must take under this many milliseconds. */
export const NOOP_RUN_TARGET_MS = 2000;
/** The engine may take at most this multiple of the direct driver's time. */
export const OVERHEAD_TARGET = 1.15;

/**
 * Applies `models` generated models (three days of history, so each is
 * evaluated once), then times `run` at the plan's own time, which must
 * evaluate nothing.
 */
export async function runBenchmark(models: number, repeats = 3): Promise<Figure[]> {
  const root = generateProject(models, { start: '2024-01-01' });
  const planTime = utcDay('2024-01-04');
  const label = models.toLocaleString('en-US');
  const figures: Figure[] = [];
  try {
    const ctx = await LocalContext.open(root, { env: {}, clock: fixedClock(planTime) });
    try {
      const plan = await ctx.plan({ environment: 'prod' });
      const applied = await timed(() => ctx.apply(plan));
      const evaluations = applied.result.backfill.evaluations;
      if (applied.result.status !== 'succeeded' || evaluations < models) {
        throw new Error(
          `apply of ${models} models: ${applied.result.status}, ${evaluations} evaluations, ${applied.result.error ?? ''}`,
        );
      }
      figures.push({
        name: `apply ${label} models, ${evaluations} evaluations (once)`,
        value: applied.ms,
        unit: 'ms',
      });
      const times: number[] = [];
      for (let i = 0; i < repeats; i++) {
        const run = await timed(() => ctx.run('prod', { executionTime: planTime }));
        const due = run.result.items.reduce((n, item) => n + item.batches.length, 0);
        if (run.result.backfill.evaluations !== 0 || due !== 0) {
          throw new Error(
            `a run at the plan's time evaluated ${run.result.backfill.evaluations} batches (${due} due)`,
          );
        }
        times.push(run.ms);
      }
      const ms = median(times);
      figures.push({
        name: `run ${label} models, nothing due (median of ${repeats})`,
        value: ms,
        unit: 'ms',
        target: `< ${NOOP_RUN_TARGET_MS} ms`,
        missed: ms > NOOP_RUN_TARGET_MS,
      });
    } finally {
      await ctx.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return figures;
}

/** One model's statements as the engine rendered them: its physical table and batch queries. */
interface RenderedWork {
  schema: string;
  table: string;
  queries: string[];
}

interface EngineRun {
  ms: number;
  rows: number;
  work?: RenderedWork[];
}

const PLAN_TIME = utcDay(BIG_START) + BIG_DAYS * 86_400_000;

/** Total rows of the physical tables named in `work`. */
async function countRows(
  query: (sql: string) => Promise<number>,
  work: readonly RenderedWork[],
): Promise<number> {
  let total = 0;
  for (const w of work) total += await query(`SELECT COUNT(*) FROM ${w.table}`);
  return total;
}

/** `open` + `plan` + apply of the big project in a fresh folder; optionally renders its SQL. */
async function engineOnce(render: boolean): Promise<EngineRun> {
  const dir = tempFolder('engine');
  try {
    writeBigProject(dir.path);
    const t0 = performance.now();
    const ctx = await LocalContext.open(dir.path, { env: {}, clock: fixedClock(PLAN_TIME) });
    try {
      const plan = await ctx.plan({ environment: 'prod' });
      const result = await ctx.apply(plan);
      const ms = performance.now() - t0;
      if (result.status !== 'succeeded') throw new Error(`apply failed: ${result.error}`);
      const byName = new Map(plan.snapshots.map((s) => [s.name, s]));
      const work: RenderedWork[] = plan.backfill.map((item) => {
        const snapshot = byName.get(item.name)!;
        const table = ctx.evaluator.physicalTable(snapshot);
        return {
          schema: ctx.adapter.quoteIdentifier(table.schema),
          table: ctx.adapter.tableName(table),
          queries: render
            ? item.batches.map(
                (b) => ctx.evaluator.render(snapshot, b, plan.executionTime, byName).query,
              )
            : [],
        };
      });
      const rows = await countRows(async (sql) => {
        const r = await ctx.adapter.query(sql);
        return Number(Object.values(r.rows[0] ?? {})[0] ?? 0);
      }, work);
      return { ms, rows, ...(render ? { work } : {}) };
    } finally {
      await ctx.close();
    }
  } finally {
    dir.remove();
  }
}

/** The same work straight through the driver: fresh file, schema, CREATE TABLE AS, INSERTs. */
async function directOnce(work: readonly RenderedWork[]): Promise<EngineRun> {
  const dir = tempFolder('direct');
  try {
    const t0 = performance.now();
    const instance = await DuckDBInstance.create(join(dir.path, 'db.duckdb'));
    const connection = await instance.connect();
    try {
      for (const schema of new Set(work.map((w) => w.schema))) {
        await connection.run(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      }
      for (const w of work) {
        for (const [i, sql] of w.queries.entries()) {
          await connection.run(
            i === 0 ? `CREATE TABLE ${w.table} AS ${sql}` : `INSERT INTO ${w.table} ${sql}`,
          );
        }
      }
      const ms = performance.now() - t0;
      const rows = await countRows(async (sql) => {
        const reader = await connection.runAndReadAll(sql);
        return Number(reader.getRows()[0]?.[0] ?? 0);
      }, work);
      return { ms, rows };
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  } finally {
    dir.remove();
  }
}

/**
 * Times the engine and the direct driver `repeats` times each, alternating,
 * and compares the medians.
 */
export async function overheadBenchmark(repeats: number): Promise<Figure[]> {
  const first = await engineOnce(true);
  const work = first.work!;
  const expected = BIG_ROWS_PER_DAY * BIG_DAYS;
  if (first.rows < expected) throw new Error(`the engine wrote ${first.rows} rows`);
  const engineTimes: number[] = [first.ms];
  const directTimes: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const direct = await directOnce(work);
    if (direct.rows !== first.rows) {
      throw new Error(`the direct run wrote ${direct.rows} rows, the engine ${first.rows}`);
    }
    directTimes.push(direct.ms);
    if (i + 1 < repeats) {
      const again = await engineOnce(false);
      if (again.rows !== first.rows) throw new Error(`the engine wrote ${again.rows} rows`);
      engineTimes.push(again.ms);
    }
  }
  const engineMs = median(engineTimes);
  const directMs = median(directTimes);
  const ratio = engineMs / directMs;
  const millions = (expected / 1e6).toFixed(0);
  return [
    {
      name: `plan + apply, ${millions}M rows (median of ${repeats})`,
      value: engineMs,
      unit: 'ms',
    },
    {
      name: `same SQL through the driver (median of ${repeats})`,
      value: directMs,
      unit: 'ms',
    },
    {
      name: 'engine overhead (engine / driver)',
      value: ratio,
      unit: 'x',
      target: `<= ${OVERHEAD_TARGET}x`,
      missed: ratio > OVERHEAD_TARGET,
    },
  ];
}
