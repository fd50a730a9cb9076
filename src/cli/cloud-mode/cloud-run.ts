/**
 * `tideline run` in cloud mode: asks the cloud for a run of the environment
 * now (`POST /runs`); run executors evaluate its tasks. With `--wait` the CLI
 * follows the run (`GET /runs/:id`) and exits by its result.
 */
import type { Command } from 'commander';
import type { RunDetail } from '../../cloud/scheduler/runs.js';
import { loadProjectConfig } from '../../engine/config/config-loader.js';
import { TidelineError } from '../../engine/errors.js';
import { defaultCatalogOf } from '../../engine/project/project-loader.js';
import { formatIntervals } from '../../engine/time/index.js';
import type { CloudClient } from '../../executor/client/cloud-client.js';
import { type CliIo, globalOptions } from '../cli-context.js';
import {
  EXIT_INTERRUPTED,
  openCloudSession,
  pause,
  untilInterrupted,
  type CloudTimings,
} from './cloud-session.js';

export interface CloudRunFlags {
  ignoreCron?: boolean;
  executionTime?: string;
  selectModel?: string[];
  wait?: boolean;
}

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

/** The `run` action in cloud mode. */
export async function cloudRunCommand(
  environment: string | undefined,
  opts: CloudRunFlags,
  cmd: Command,
  io: CliIo,
  timings: CloudTimings & { signal?: AbortSignal } = {},
): Promise<void> {
  if (opts.executionTime !== undefined) {
    throw new TidelineError(
      '--execution-time: not available in cloud mode; the cloud runs at its own time',
    );
  }
  if (opts.selectModel !== undefined) {
    throw new TidelineError(
      '--select-model: not available in cloud mode; a cloud run evaluates every model that is due',
    );
  }
  const global = globalOptions(cmd);
  const { client, gateway } = openCloudSession(global, io.env);
  const config = loadProjectConfig(global.root, { env: io.env, gateway });
  const nameOf = shortName(defaultCatalogOf(config.gateways[gateway]?.connection));
  const env = environment ?? 'prod';
  const res = await client.post<{ run: RunDetail | null; message?: string }>('/runs', {
    environment: env,
    ...(opts.ignoreCron ? { ignoreCron: true } : {}),
  });
  const run = res.run;
  if (!run) {
    io.out(`Nothing to run in \`${env}\`: no model is due.`);
    return;
  }
  io.out(`Run ${run.id} queued in \`${run.environment}\`: ${run.tasks.length} task(s).`);
  run.tasks.forEach((t, i) => {
    const what = t.batches.length > 0 ? `: ${formatIntervals(t.batches)}` : '';
    io.out(`${i === run.tasks.length - 1 ? '└──' : '├──'} ${nameOf(t.model ?? t.id)}${what}`);
  });
  if (!opts.wait) return;
  const finished = timings.signal
    ? await followRun(client, run, io, nameOf, timings, timings.signal)
    : await untilInterrupted((signal) => followRun(client, run, io, nameOf, timings, signal));
  if (!finished) {
    io.err(`Stopped waiting: run ${run.id} goes on in the cloud (${client.projectUrl}).`);
    io.exitCode = EXIT_INTERRUPTED;
    return;
  }
  if (finished.status === 'succeeded') {
    io.out(`Run finished: ${finished.tasks.length} task(s) succeeded.`);
    return;
  }
  io.err(`Error: run ${run.id} ${finished.status}: ${finished.error ?? 'no reason given'}`);
  io.exitCode = 1;
}

/**
 * Polls a run until it is final, printing each task as it finishes; the
 * final run, or undefined when `signal` aborted first.
 */
async function followRun(
  client: CloudClient,
  run: RunDetail,
  io: CliIo,
  nameOf: (fqn: string) => string,
  timings: CloudTimings,
  signal: AbortSignal,
): Promise<RunDetail | undefined> {
  const pollMs = timings.pollMs ?? 250;
  const maxPollMs = timings.maxPollMs ?? 2_000;
  const reported = new Set<string>();
  let delay = pollMs;
  let current = run;
  for (;;) {
    let moved = false;
    for (const t of current.tasks) {
      if (!FINAL.has(t.status) || reported.has(t.id)) continue;
      reported.add(t.id);
      moved = true;
      const took =
        t.startedTs !== null && t.finishedTs !== null
          ? ` (${((t.finishedTs - t.startedTs) / 1000).toFixed(2)}s)`
          : '';
      const line = `[${reported.size}/${current.tasks.length}] ${nameOf(t.model ?? t.id)} ${formatIntervals(t.batches)}: ${t.status}${took}`;
      if (t.status === 'succeeded') io.out(line);
      else io.err(`${line}${t.error ? `: ${t.error}` : ''}`);
    }
    if (FINAL.has(current.status)) return current;
    delay = moved ? pollMs : Math.min(maxPollMs, delay * 2);
    await pause(delay, signal);
    if (signal.aborted) return undefined;
    try {
      current = (
        await client.get<{ run: RunDetail }>(`/runs/${encodeURIComponent(run.id)}`, { signal })
      ).run;
    } catch (err) {
      if (signal.aborted) return undefined;
      throw err;
    }
  }
}

/**
 * How a model is shown from its canonical name (`"catalog"."schema"."table"`):
 * without the default catalog, unquoted, as local mode shows it.
 */
export function shortName(defaultCatalog: string): (fqn: string) => string {
  return (fqn) => {
    if (!/^"(?:[^"]|"")*"(?:\."(?:[^"]|"")*")*$/.test(fqn)) return fqn;
    const parts = [...fqn.matchAll(/"((?:[^"]|"")*)"/g)].map((m) => m[1]!.replace(/""/g, '"'));
    return (parts.length === 3 && parts[0] === defaultCatalog ? parts.slice(1) : parts).join('.');
  };
}
