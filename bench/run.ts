/**
 * Benchmarks: `npm run bench`. Prints one line per measurement; figures go to
 * the README's performance section.
 *
 * - project load: config, parse every model, render and parse its query,
 *   extract dependencies, build the DAG, for generated projects of 1,000 and
 *   10,000 models (target: under 1.5 s for 1,000; growth no worse than linear).
 */
import { rmSync } from 'node:fs';
import { loadProject } from '../src/engine/project/project-loader.js';
import { generateProject } from './project-generator.js';

interface Figure {
  name: string;
  value: number;
  unit: string;
  target?: string;
}

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

async function main(): Promise<void> {
  const figures: Figure[] = [];
  // Warm up the WASM parser and the file cache once.
  await timeLoad(100, 1);
  const t1k = await timeLoad(1_000, 5);
  figures.push({
    name: 'load 1,000 models (median of 5)',
    value: t1k,
    unit: 'ms',
    target: '< 1500 ms',
  });
  const t10k = await timeLoad(10_000, 3);
  figures.push({ name: 'load 10,000 models (median of 3)', value: t10k, unit: 'ms' });
  figures.push({
    name: 'growth 1,000 -> 10,000 (10x models)',
    value: t10k / t1k,
    unit: 'x',
    target: '<= 10x (linear)',
  });
  for (const f of figures) {
    const value = f.unit === 'x' ? f.value.toFixed(2) : f.value.toFixed(0);
    console.log(
      `${f.name.padEnd(40)} ${value.padStart(8)} ${f.unit}${f.target ? `   target ${f.target}` : ''}`,
    );
  }
  const failed = t1k > 1500 || t10k / t1k > 12;
  if (failed) {
    console.log('a target was missed');
    process.exitCode = 1;
  }
}

await main();
