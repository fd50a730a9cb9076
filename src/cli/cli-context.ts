import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';

function readVersion(): string {
  try {
    const pkg = JSON.parse(
      readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'),
    ) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export const CLI_VERSION = readVersion();

/** Where the CLI writes. Tests pass their own to capture output. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
  /** Set by a command to choose the process exit code. */
  exitCode?: number;
  /** True when stdin and stdout are a terminal (prompts allowed). */
  interactive: boolean;
}

export function processIo(): CliIo {
  return {
    out: (text) => process.stdout.write(text + '\n'),
    err: (text) => process.stderr.write(text + '\n'),
    env: process.env,
    interactive: Boolean(process.stdin.isTTY && process.stdout.isTTY),
  };
}

export interface GlobalOptions {
  /** Absolute project folder. */
  root: string;
  gateway?: string;
}

/** The global options, read from the root program whatever command runs. */
export function globalOptions(cmd: Command): GlobalOptions {
  let root: Command = cmd;
  while (root.parent) root = root.parent;
  const opts = root.opts<{ paths?: string; gateway?: string }>();
  const out: GlobalOptions = { root: resolve(opts.paths ?? '.') };
  if (opts.gateway) out.gateway = opts.gateway;
  return out;
}
