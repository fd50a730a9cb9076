/**
 * Shared pieces of the hybrid executor tests: projects written to disk, the
 * cloud and executors as child processes (`bin/tideline.js`), plan
 * submission the way the CLI does it, and polling with a deadline.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createAdapter } from '../../src/engine/adapters/adapter-factory.js';
import type { EngineAdapter } from '../../src/engine/adapters/engine-adapter.js';
import type { ConnectionConfig } from '../../src/engine/config/config-types.js';
import { SnapshotEvaluator } from '../../src/engine/evaluate/snapshot-evaluator.js';
import { applyPlan } from '../../src/engine/plan/plan-applier.js';
import { buildPlan } from '../../src/engine/plan/plan-builder.js';
import type { Plan } from '../../src/engine/plan/plan-types.js';
import { loadProject } from '../../src/engine/project/project-loader.js';
import { buildSnapshots } from '../../src/engine/snapshot/snapshot-builder.js';
import { WarehouseStateSync } from '../../src/engine/state/warehouse-state-sync.js';
import { CloudClient } from '../../src/executor/client/cloud-client.js';
import { HttpStateSync } from '../../src/executor/client/http-state-sync.js';
import { cliPath } from '../helpers/paths.js';

export const DAY = 86_400_000;
/** The backfill projects start here. */
export const START = Date.UTC(2020, 0, 1);

export interface BackfillProjectOptions {
  /** Rows generated per day (the plan's `now` decides how many days). */
  rowsPerDay: number;
}

/**
 * A DuckDB project with one INCREMENTAL_BY_TIME_RANGE model, `batch_size 1`,
 * whose every day generates `rowsPerDay` rows (id, event_date, payload).
 * The gateway is `duckdb` over `db.db`, so executors name the same catalog.
 */
export function writeBackfillProject(dir: string, options: BackfillProjectOptions): void {
  mkdirSync(join(dir, 'models'), { recursive: true });
  writeFileSync(
    join(dir, 'config.yaml'),
    [
      'gateways:',
      '  duckdb:',
      '    connection:',
      '      type: duckdb',
      '      database: db.db',
      'default_gateway: duckdb',
      'model_defaults:',
      '  dialect: duckdb',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'models', 'events.sql'),
    [
      'MODEL (',
      '  name demo.events,',
      '  kind INCREMENTAL_BY_TIME_RANGE (',
      '    time_column event_date,',
      '    batch_size 1',
      '  ),',
      "  start '2020-01-01',",
      "  cron '@daily',",
      '  grain (id, event_date)',
      ');',
      '',
      'SELECT',
      '  r.range AS id,',
      '  CAST(@start_ds AS DATE) AS event_date,',
      '  md5(CAST(r.range AS VARCHAR) || @start_ds) AS payload',
      `FROM range(${options.rowsPerDay}) AS r`,
      'WHERE CAST(@start_ds AS DATE) BETWEEN @start_date AND @end_date',
      '',
    ].join('\n'),
  );
}

/** A free loopback port (closed again before it is returned). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A child process of the CLI with its output collected line by line. */
export interface CliChild {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** Resolves with the exit code (or the signal's name) once the process ended. */
  exited: Promise<number | string>;
  /** Sends a signal unless the process ended already. */
  kill(signal?: NodeJS.Signals): void;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Starts `node bin/tideline.js <args>` with exactly `env` (plus PATH). */
export function startCli(args: string[], env: Record<string, string>, cwd?: string): CliChild {
  const child = spawn(process.execPath, [cliPath, ...args], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(cwd ? { cwd } : {}),
  });
  children.add(child);
  const stdout: string[] = [];
  const stderr: string[] = [];
  const collect = (into: string[]) => {
    let rest = '';
    return (chunk: Buffer) => {
      rest += chunk.toString('utf8');
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      into.push(...lines);
    };
  };
  child.stdout!.on('data', collect(stdout));
  child.stderr!.on('data', collect(stderr));
  const exited = new Promise<number | string>((resolve) => {
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve(code ?? signal ?? -1);
    });
  });
  return {
    child,
    stdout,
    stderr,
    exited,
    kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/** Runs the CLI to the end; returns its exit code and output. */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<{ code: number | string; stdout: string[]; stderr: string[] }> {
  const c = startCli(args, env);
  const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
  const code = await c.exited;
  clearTimeout(timer);
  return { code, stdout: c.stdout, stderr: c.stderr };
}

/** A cloud served by `tideline cloud serve` over a SQLite file, on a fixed port. */
export interface ChildCloud {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  port: number;
  process: CliChild;
  /** Every log line of every start (restarts append). */
  logs: string[];
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and store. */
  restart(): Promise<void>;
}

export async function startChildCloud(stateFile: string, port?: number): Promise<ChildCloud> {
  const chosen = port ?? (await freePort());
  const logs: string[] = [];
  const start = async (): Promise<CliChild> => {
    const c = startCli(
      [
        'cloud',
        'serve',
        '--state',
        `sqlite:${stateFile}`,
        '--port',
        String(chosen),
        '--no-secure-cookies',
      ],
      {},
    );
    c.child.stderr!.on('data', (d: Buffer) => logs.push(...d.toString('utf8').split('\n')));
    await waitFor(
      'the cloud to listen',
      async () => {
        if (c.child.exitCode !== null) throw new Error(`cloud exited: ${c.stderr.join('\n')}`);
        return c.stdout.some((l) => l.includes('listening on'));
      },
      15_000,
    );
    return c;
  };
  const cloud: ChildCloud = {
    url: `http://127.0.0.1:${chosen}`,
    port: chosen,
    process: await start(),
    logs,
    async stop(signal = 'SIGTERM') {
      cloud.process.kill(signal);
      await cloud.process.exited;
    },
    async restart() {
      cloud.process = await start();
    },
  };
  return cloud;
}

/** Admin credentials and an executor client of a project made with the CLI on a SQLite store. */
export async function bootstrapChildProject(
  stateFile: string,
  serverUrl: string,
): Promise<{
  projectUrl: string;
  admin: { clientId: string; clientSecret: string };
  executor: { clientId: string; clientSecret: string };
}> {
  const boot = await runCli(
    [
      'cloud',
      'bootstrap',
      '--org',
      'acme',
      '--project',
      'analytics',
      '--state',
      `sqlite:${stateFile}`,
      '--server',
      serverUrl,
      '--json',
    ],
    {},
  );
  if (boot.code !== 0) throw new Error(`bootstrap failed: ${boot.stderr.join('\n')}`);
  const admin = JSON.parse(boot.stdout.join('\n')) as {
    url: string;
    clientId: string;
    clientSecret: string;
  };
  const made = await runCli(
    [
      'cloud',
      'client',
      'create',
      '--name',
      'executors',
      '--role',
      'executor',
      '--state',
      `sqlite:${stateFile}`,
      '--json',
    ],
    {},
  );
  if (made.code !== 0) throw new Error(`client create failed: ${made.stderr.join('\n')}`);
  const executor = JSON.parse(made.stdout.join('\n')) as { clientId: string; clientSecret: string };
  return {
    projectUrl: admin.url,
    admin: { clientId: admin.clientId, clientSecret: admin.clientSecret },
    executor: { clientId: executor.clientId, clientSecret: executor.clientSecret },
  };
}

/** A CLI-side client of the cloud (the admin's), as `tideline plan` in cloud mode makes one. */
export function cloudClient(
  projectUrl: string,
  credentials: { clientId: string; clientSecret: string },
): CloudClient {
  return new CloudClient({ url: projectUrl, ...credentials });
}

/** Plans `environment` against the cloud's state at `now` and submits it (POST /plans). */
export async function submitPlan(
  client: CloudClient,
  projectDir: string,
  now: number,
  environment = 'prod',
): Promise<Plan> {
  const loaded = await loadProject(projectDir, { env: {}, now });
  const snapshots = buildSnapshots(loaded, { now });
  const plan = await buildPlan({
    environment,
    snapshots,
    state: new HttpStateSync(client),
    now,
  });
  await client.request('POST', '/plans', { body: { plan } });
  return plan;
}

/** A DuckDB connection config for a file. */
export function duckdbConfig(database: string): ConnectionConfig {
  return {
    type: 'duckdb',
    database,
    catalogs: {},
    extensions: [],
    connectorConfig: {},
    concurrentTasks: 1,
  };
}

/** Opens a warehouse, runs `work`, closes it. */
export async function withWarehouse<T>(
  config: ConnectionConfig,
  projectRoot: string,
  work: (db: EngineAdapter) => Promise<T>,
): Promise<T> {
  const db = createAdapter(config, { projectRoot });
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}

/**
 * Applies `environment` the local way (state in the warehouse, no cloud) at
 * `now`: the reference a hybrid apply must equal.
 */
export async function applyLocally(
  projectDir: string,
  config: ConnectionConfig,
  now: number,
): Promise<void> {
  await withWarehouse(config, projectDir, async (adapter) => {
    const state = new WarehouseStateSync(adapter);
    await state.migrate();
    const loaded = await loadProject(projectDir, { env: {}, now });
    const snapshots = buildSnapshots(loaded, { now });
    const plan = await buildPlan({ environment: 'prod', snapshots, state, now });
    const result = await applyPlan(plan, {
      state,
      evaluator: new SnapshotEvaluator(adapter, { gateway: 'duckdb' }),
      concurrency: 1,
      clock: () => now,
    });
    if (result.status !== 'succeeded') throw new Error(`local apply failed: ${result.error}`);
  });
}

/** The rows of `demo.events`, summarized per day (count, distinct ids, a checksum). */
export async function eventsSummary(
  config: ConnectionConfig,
  projectRoot: string,
): Promise<Array<{ day: string; rows: number; ids: number; checksum: string }>> {
  return await withWarehouse(config, projectRoot, async (db) => {
    const result = await db.query(
      `SELECT CAST(event_date AS VARCHAR) AS day, COUNT(*) AS rows, COUNT(DISTINCT id) AS ids,
              CAST(SUM(hash(payload) % 1000003) AS VARCHAR) AS checksum
         FROM demo.events GROUP BY event_date ORDER BY event_date`,
    );
    return result.rows.map((r) => ({
      day: String(r['day']),
      rows: Number(r['rows']),
      ids: Number(r['ids']),
      checksum: String(r['checksum']),
    }));
  });
}
