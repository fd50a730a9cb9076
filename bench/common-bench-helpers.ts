/** What the benchmarks share: figures, how they are printed, medians and temporary folders. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One measured figure, printed as one line. */
export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** The target as shown, e.g. `< 2000 ms`. */
  target?: string;
  /** True when the figure misses its target. */
  missed?: boolean;
}

/** Prints a figure on one line: name, value, unit and target. */
export function printFigure(f: Figure): void {
  const value = f.unit === 'x' ? f.value.toFixed(2) : f.value.toFixed(0);
  const target = f.target ? `   target ${f.target}${f.missed ? '  (missed)' : ''}` : '';
  console.log(`${f.name.padEnd(60)} ${value.padStart(8)} ${f.unit}${target}`);
}

/** The median of `values` (the lower middle one for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** Milliseconds `fn` takes, with its result. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const t0 = performance.now();
  const result = await fn();
  return { ms: performance.now() - t0, result };
}

/** A fresh temporary folder, removed by `remove()`. */
export function tempFolder(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `tideline-bench-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Midnight UTC of a YYYY-MM-DD date, epoch ms. */
export function utcDay(date: string): number {
  const ms = Date.parse(`${date}T00:00:00Z`);
  if (Number.isNaN(ms)) throw new Error(`not a date: ${date}`);
  return ms;
}

export const DAY_MS = 86_400_000;
