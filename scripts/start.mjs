#!/usr/bin/env node
// `npm start`: `tideline up` on ./example (written on first start): the cloud,
// a run executor and an apply executor, the example project planned and
// applied to prod, then the web UI's address and login. Ctrl-C stops it all.
// A first argument that is not an option names another project folder; the
// remaining arguments go to `tideline up` (for example `npm start -- --port 0`).
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'bin', 'tideline.js');
const args = process.argv.slice(2);
const project = args[0] && !args[0].startsWith('-') ? resolve(args.shift()) : join(root, 'example');

const child = spawn(process.execPath, [cli, '-p', project, 'up', ...args], { stdio: 'inherit' });
// Ctrl-C reaches the whole process group; `tideline up` stops its own
// children, so this process only waits (and passes on a SIGTERM sent to it alone).
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
