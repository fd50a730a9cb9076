#!/usr/bin/env node
// Runs every compiled test file under dist/test with node's test runner.
// One PostgreSQL server is started for the whole run (unless TIDELINE_TEST_PG_URL
// names one already) and handed to every test file through that variable.
// Usage: node scripts/run-tests.mjs [substring ...]   (filters test files by path)
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const testDir = join(root, 'dist', 'test');
const filters = process.argv.slice(2);

function collect(dir) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...collect(full));
    else if (entry.endsWith('.test.js')) out.push(full);
  }
  return out;
}

const files = collect(testDir)
  .filter((f) => filters.length === 0 || filters.some((s) => relative(root, f).includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`no test files matched ${filters.join(' ') || '(all)'} under dist/test`);
  process.exit(1);
}

let stopPostgres = async () => {};
const env = { ...process.env };
if (!env.TIDELINE_TEST_PG_URL) {
  const { startTestPostgres } = await import(join(testDir, 'helpers', 'pg-server.js'));
  const server = await startTestPostgres();
  env.TIDELINE_TEST_PG_URL = server.url;
  stopPostgres = server.stop;
}

const concurrency = process.env.TIDELINE_TEST_CONCURRENCY ?? '2';
const child = spawn(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...files],
  { stdio: 'inherit', env },
);
const code = await new Promise((resolve) =>
  child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0))),
);
await stopPostgres();
process.exit(code);
