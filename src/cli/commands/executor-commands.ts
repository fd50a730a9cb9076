import { fstatSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { formatCheck, runChecks, startHealthServer } from '../../executor/health.js';
import { Executor } from '../../executor/runtime.js';
import type { CliIo } from '../cli-context.js';

interface ExecutorFlags {
  once?: boolean;
  check?: boolean;
  healthPort?: string;
  healthHost?: string;
  grace?: string;
  dataDir?: string;
  hosting?: string;
}

function stdinIsPipe(): boolean {
  try {
    // A parent's pipe is a FIFO or (as Node makes them) a socket; /dev/null and terminals are not.
    const stat = fstatSync(0);
    return stat.isFIFO() || stat.isSocket();
  } catch {
    return false;
  }
}

/**
 * Who hosts the executor, as it registers: `hybrid` (the user, the default)
 * or `cloud` (started by `tideline cloud serve --executors`). From the hidden
 * `--hosting` flag, else `TCLOUD_HOSTING`.
 */
function hostingOf(
  flag: string | undefined,
  env: Record<string, string | undefined>,
  io: CliIo,
): 'hybrid' | 'cloud' | undefined {
  const value = (flag ?? env['TCLOUD_HOSTING'] ?? 'hybrid').trim().toLowerCase();
  if (value === 'hybrid' || value === 'cloud') return value;
  io.err(
    `Error: ${flag !== undefined ? '--hosting' : 'TCLOUD_HOSTING'} must be hybrid or cloud, got ${JSON.stringify(value.slice(0, 40))}`,
  );
  return undefined;
}

function portArg(value: string | undefined, io: CliIo): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    io.err(
      `Error: --health-port must be a port number from 0 to 65535, got ${JSON.stringify(value)}`,
    );
    return NaN;
  }
  return n;
}

export function registerExecutorCommands(program: Command, io: CliIo): void {
  const executor = program
    .command('executor')
    .description(
      'run a hybrid executor next to your warehouse (configured by TCLOUD_* and SQLMESH__* variables)',
    );
  for (const kind of ['run', 'apply'] as const) {
    executor
      .command(kind)
      .description(
        kind === 'run'
          ? 'evaluate scheduled model runs claimed from the cloud'
          : 'apply plans claimed from the cloud, one at a time',
      )
      .option('--once', 'handle one task, then exit')
      .option(
        '--check',
        'check the cloud, the credentials, the protocol and every gateway, then exit',
      )
      .option('--health-port <port>', 'serve /livez, /readyz and /metrics on this port')
      .option('--health-host <host>', 'the address the health port listens on', '0.0.0.0')
      .option('--grace <seconds>', 'how long SIGTERM waits for running work', '30')
      .option(
        '--data-dir <dir>',
        'where relative DuckDB paths resolve (default: the working folder)',
      )
      .addOption(
        new Option(
          '--hosting <hosting>',
          'hybrid or cloud (set by the cloud for its own executors)',
        ).hideHelp(),
      )
      .action(async (opts: ExecutorFlags) => {
        if (opts.check) {
          const lines = await runChecks(io.env);
          for (const line of lines) io.out(formatCheck(line));
          io.exitCode = lines.every((l) => l.ok) ? 0 : 1;
          return;
        }
        const healthPort = portArg(opts.healthPort, io);
        if (Number.isNaN(healthPort)) {
          io.exitCode = 2;
          return;
        }
        const hosting = hostingOf(opts.hosting, io.env, io);
        if (hosting === undefined) {
          io.exitCode = 2;
          return;
        }
        const grace = Number(opts.grace ?? '30');
        const runner = new Executor({
          kind,
          env: io.env,
          ...(opts.once ? { once: true } : {}),
          graceMs: Number.isFinite(grace) && grace >= 0 ? grace * 1000 : 30_000,
          ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
          hosting,
          log: (line) => io.err(line),
        });
        const health =
          healthPort !== undefined
            ? await startHealthServer(runner, healthPort, opts.healthHost)
            : undefined;
        const onSignal = () => runner.drain();
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
        // A cloud-hosted executor keeps its standard input open to the cloud
        // that started it: when it closes, the cloud is gone, and the
        // executor drains instead of running on as an orphan.
        const watchParent = hosting === 'cloud' && stdinIsPipe();
        if (watchParent) {
          process.stdin.on('end', onSignal);
          process.stdin.on('error', onSignal);
          process.stdin.resume();
        }
        try {
          await runner.run();
        } finally {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          if (watchParent) {
            process.stdin.off('end', onSignal);
            process.stdin.off('error', onSignal);
            process.stdin.destroy();
          }
          await health?.close();
        }
      });
  }
}
