/**
 * Shared pieces of the real-project tests: copying a fixture project to a
 * temporary folder, the environment that points a `postgres` gateway at a
 * test database, and the rows each project should hold, computed here from
 * its seed CSVs or raw data (never from what the engine produced).
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { EngineAdapter } from '../../../src/engine/adapters/engine-adapter.js';
import type { TestDatabase } from '../../helpers/postgres.js';
import { fixturesDir } from '../../helpers/paths.js';

export const DAY = 86_400_000;
export type Row = Record<string, unknown>;

const made: string[] = [];
after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A new temporary folder, removed when the test file finishes. */
export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tideline-project-'));
  made.push(dir);
  return dir;
}

/** A copy of `fixtures/projects/<name>` in a temporary folder. */
export function copyProject(name: string): string {
  const dir = scratchDir();
  cpSync(join(fixturesDir, 'projects', name), dir, { recursive: true });
  return dir;
}

/** The libpq variables the projects' `postgres` gateways read with env_var(). */
export function pgEnv(db: TestDatabase): Record<string, string> {
  return {
    PGHOST: db.config.host,
    PGPORT: String(db.config.port),
    PGUSER: db.config.user,
    PGPASSWORD: db.config.password ?? '',
    PGDATABASE: db.config.database,
  };
}

/** Replaces `from` (which must be there) by `to` in a project file. */
export function edit(dir: string, file: string, from: string, to: string): void {
  const path = join(dir, file);
  const text = readFileSync(path, 'utf8');
  assert.ok(text.includes(from), `${file} should contain ${from}`);
  writeFileSync(path, text.replace(from, to));
}

/** The rows of `sql`, numbers that an engine returns as decimal text made numbers. */
export async function rows(adapter: EngineAdapter, sql: string): Promise<Row[]> {
  return (await adapter.query(sql)).rows.map((r) =>
    Object.fromEntries(
      Object.entries(r).map(([k, v]) => [
        k,
        typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v,
      ]),
    ),
  );
}

/** Rounds to cents, so that sums of doubles compare exactly. */
export const cents = (n: number): number => Math.round(n * 100) / 100;

/** The day `ms` falls on, as YYYY-MM-DD. */
export const isoDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** Reads a fixture's CSV file (no quoting in these files) as rows of text. */
export function readCsv(project: string, file: string): Array<Record<string, string>> {
  const text = readFileSync(join(fixturesDir, 'projects', project, 'seeds', file), 'utf8');
  const [header, ...lines] = text.trim().split('\n');
  const names = header!.split(',');
  return lines.map((line) => {
    const cells = line.split(',');
    return Object.fromEntries(names.map((n, i) => [n, cells[i] ?? '']));
  });
}
