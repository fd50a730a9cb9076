/** Runs the `tideline` CLI in process (with captured output) or as a real child process. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { CliIo } from '../../src/cli/cli-context.js';
import { main } from '../../src/cli/main.js';
import { cliPath } from '../helpers/paths.js';

export interface CliRun {
  /** The exit code `main` returned (or the child process status). */
  code: number;
  /** Everything written to the output stream, lines joined by newlines. */
  out: string;
  /** Everything written to the error stream, lines joined by newlines. */
  err: string;
}

/**
 * Calls `main` with `args` after the program name; `env` is the only
 * environment the CLI sees (the test process's own is not passed on).
 */
export async function runCli(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    env: { ...env },
    interactive: false,
  };
  const code = await main([process.execPath, 'tideline', ...args], io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Runs the compiled `bin/tideline.js` as a child process. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = process.env): CliRun {
  const child = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', env });
  return {
    code: child.status ?? 1,
    out: child.stdout.replace(/\n$/, ''),
    err: child.stderr.replace(/\n$/, ''),
  };
}

const made: string[] = [];
after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A new empty folder, removed when the test file finishes. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tideline-cli-'));
  made.push(dir);
  return dir;
}
