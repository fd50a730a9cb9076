#!/usr/bin/env node
// `npm start`: builds a starter project (once) in ./example, then works it
// as local mode does: project info, the model DAG, the SQL one model runs, a
// plan applied to prod, a run, and the rows the views now show.
// Pass another project folder as the first argument to use it instead.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'bin', 'tideline.js');
const project = resolve(process.argv[2] ?? join(root, 'example'));

function tideline(...args) {
  console.log(`\n$ tideline -p ${project} ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [cli, '-p', project, ...args], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (!existsSync(join(project, 'config.yaml'))) tideline('init', 'duckdb');
tideline('info');
tideline('dag');
tideline(
  'render',
  'sqlmesh_example.incremental_model',
  '--start',
  '2020-01-01',
  '--end',
  '2020-01-07',
);
tideline('plan', '--auto-apply');
tideline('run');
tideline('fetchdf', 'SELECT item_id, num_orders FROM sqlmesh_example.full_model ORDER BY item_id');
