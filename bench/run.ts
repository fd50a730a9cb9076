/**
 * Benchmarks: `npm run bench`. Prints one line per measurement; figures go to
 * the README's performance section. Pass group names to run only some of
 * them: `node dist/bench/run.js plan run`.
 *
 * - load: config, parse every model, render and parse its query, extract
 *   dependencies, build the DAG, for generated projects of 1,000 and 10,000
 *   models (target: under 1.5 s for 1,000; growth no worse than linear).
 * - plan: plan computation without execution for 1,000 and 10,000 models, on
 *   a fresh state and after one model's edit (target: under 2 s for 1,000).
 * - run: a `run` with nothing due on 1,000 applied models (target: under 2 s).
 * - overhead: `plan` + apply of a DuckDB project writing 10 million rows
 *   against the same SQL sent straight to the driver (target: at most 1.15x).
 * - components: parsing, rendering, interval arithmetic and state storage at
 *   10,000 models, one figure each.
 * - executor: an idle executor's resident memory (target < 100 MB) and the
 *   time from a task becoming ready to an executor starting it.
 * - queue: the cloud's claim latency with a waiting long poll (p50, p99) and
 *   enqueue + claim + complete throughput, on SQLite and PostgreSQL.
 */
import { rmSync } from 'node:fs';
import { loadProject } from '../src/engine/project/project-loader.js';
import { overheadBenchmark, runBenchmark } from './apply-bench.js';
import { printFigure, type Figure } from './common-bench-helpers.js';
import { componentBenchmark } from './component-bench.js';
import { runExecutorBench } from './executor-bench.js';
import { runQueueBench } from './queue-bench.js';
import { planBenchmark } from './plan-bench.js';
import { generateProject } from './project-generator.js';

async function timeLoad(count: number, repeats: number): Promise<number> {
  const root = generateProject(count);
  try {
    const times: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const t0 = performance.now();
      const project = await loadProject(root, { env: {} });
      const elapsed = performance.now() - t0;
      if (project.models.size !== count) {
        throw new Error(`expected ${count} models, loaded ${project.models.size}`);
      }
      times.push(elapsed);
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)]!;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function loadBenchmark(): Promise<Figure[]> {
  const t1k = await timeLoad(1_000, 5);
  const t10k = await timeLoad(10_000, 3);
  return [
    {
      name: 'load 1,000 models (median of 5)',
      value: t1k,
      unit: 'ms',
      target: '< 1500 ms',
      missed: t1k > 1500,
    },
    { name: 'load 10,000 models (median of 3)', value: t10k, unit: 'ms' },
    {
      name: 'growth 1,000 -> 10,000 (10x models)',
      value: t10k / t1k,
      unit: 'x',
      target: '<= 10x (linear)',
      missed: t10k / t1k > 12,
    },
  ];
}

/** The cloud's queue over loopback HTTP, on SQLite and PostgreSQL (lines printed as they come). */
async function queueBenchmark(): Promise<Figure[]> {
  for (const line of await runQueueBench()) console.log(line);
  return [];
}

/** An idle executor's memory and the time from a ready task to an executor starting it. */
async function executorBenchmark(): Promise<Figure[]> {
  for (const line of await runExecutorBench()) console.log(line);
  return [];
}

/** Each group's steps; a step's figures are printed as soon as it ends. */
const groups: Record<string, Array<() => Promise<Figure[]>>> = {
  load: [loadBenchmark],
  plan: [() => planBenchmark(1_000, 3), () => planBenchmark(10_000, 3, { stateOnly: true })],
  run: [() => runBenchmark(1_000)],
  overhead: [() => overheadBenchmark(3)],
  components: [componentBenchmark],
  queue: [queueBenchmark],
  executor: [executorBenchmark],
};

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  for (const name of wanted) {
    if (!(name in groups)) {
      throw new Error(`unknown benchmark ${name}; choose from ${Object.keys(groups).join(', ')}`);
    }
  }
  // Warm up the WASM parser and the file cache once.
  await timeLoad(100, 1);
  let missed = false;
  for (const [name, steps] of Object.entries(groups)) {
    if (wanted.length > 0 && !wanted.includes(name)) continue;
    for (const step of steps) {
      for (const f of await step()) {
        printFigure(f);
        if (f.missed) missed = true;
      }
    }
  }
  if (missed) {
    console.log('a target was missed');
    process.exitCode = 1;
  }
}

await main();
