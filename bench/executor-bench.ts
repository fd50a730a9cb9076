/**
 * The hybrid executor's own costs, end to end against a cloud on loopback:
 *
 * - idle resident memory of an executor process (`tideline executor run`)
 *   after it registered and long-polled for a few seconds (target: under
 *   100 MB), read from its /metrics;
 * - from a task becoming ready (enqueued) to the executor claiming it and to
 *   its first report about it, median and worst of 10. The task names a
 *   gateway the executor lacks, so its work ends at once and the figure is
 *   the protocol's, not the warehouse's.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { silentLogger } from '../src/cloud/logger.js';
import { enqueueTasks } from '../src/cloud/queue/task-queue.js';
import { ALL_ROUTES } from '../src/cloud/routes.js';
import { startCloudServer } from '../src/cloud/server.js';
import { bootstrap, createClient } from '../src/cloud/tenancy.js';
import { median, tempFolder } from './common-bench-helpers.js';

const CLI = new URL('../../bin/tideline.js', import.meta.url).pathname;
const IDLE_MS = 4_000;
const SAMPLES = 10;

async function freePort(): Promise<number> {
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

async function until(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function runExecutorBench(): Promise<string[]> {
  const folder = tempFolder('tideline-executor-bench-');
  const server = await startCloudServer({
    state: `sqlite:${join(folder.path, 'cloud.db')}`,
    log: silentLogger,
    settings: { secureCookies: false },
    routes: ALL_ROUTES,
  });
  const healthPort = await freePort();
  const child = spawn(
    process.execPath,
    [CLI, 'executor', 'run', '--health-port', String(healthPort), '--health-host', '127.0.0.1'],
    {
      stdio: 'ignore',
      env: {
        PATH: process.env['PATH'] ?? '',
        ...(await (async () => {
          const { project } = await bootstrap(server.ctx, 'acme', 'analytics');
          const client = await createClient(server.ctx, project.id, {
            name: 'bench',
            role: 'executor',
          });
          return {
            TCLOUD_URL: `${server.url}/sqlmesh/acme/analytics`,
            TCLOUD_CLIENT_ID: client.clientId,
            TCLOUD_CLIENT_SECRET: client.clientSecret,
          };
        })()),
        SQLMESH__GATEWAYS__DUCKDB__CONNECTION__TYPE: 'duckdb',
        SQLMESH__GATEWAYS__DUCKDB__CONNECTION__DATABASE: join(folder.path, 'warehouse.db'),
      },
    },
  );
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const lines: string[] = [];
  try {
    const health = `http://127.0.0.1:${healthPort}`;
    await until(
      'the executor to be ready',
      async () => (await fetch(`${health}/readyz`)).ok,
      20_000,
    );
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const metrics = await (await fetch(`${health}/metrics`)).text();
    const rss = Number(/^process_resident_memory_bytes (\d+)/m.exec(metrics)?.[1] ?? NaN);
    const mb = rss / 1024 / 1024;
    lines.push(
      `executor idle resident memory: ${mb.toFixed(1)} MB after ${IDLE_MS / 1000} s of long polls (target < 100 MB)${mb < 100 ? '' : ' OVER TARGET'}`,
    );

    const projectId = (
      await server.ctx.store.db.selectFrom('projects').select('id').executeTakeFirstOrThrow()
    ).id;
    const claimed: number[] = [];
    const reported: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const id = `bench-task-${i}`;
      let claimedAt = 0;
      const done = new Promise<number>((resolve) => {
        const unsubscribe = server.ctx.events.subscribe((e) => {
          if (e.payload['taskId'] !== id) return;
          if (e.type === 'task.claimed') claimedAt = performance.now();
          if (e.type === 'task.failed' || e.type === 'task.succeeded') {
            unsubscribe();
            resolve(performance.now());
          }
        });
      });
      const t0 = performance.now();
      await enqueueTasks(server.ctx, projectId, [
        {
          id,
          queue: 'run',
          kind: 'evaluate',
          environment: 'prod',
          maxAttempts: 1,
          payload: {
            kind: 'evaluate',
            environment: 'prod',
            runId: 'bench',
            snapshot: {},
            parents: {},
            batches: [],
            executionTime: 0,
            gateway: 'not_configured',
          },
        },
      ]);
      const finished = await Promise.race([
        done,
        new Promise<number>((_, reject) =>
          setTimeout(() => reject(new Error(`task ${id} was not taken within 10 s`)), 10_000),
        ),
      ]);
      claimed.push(claimedAt - t0);
      reported.push(finished - t0);
    }
    lines.push(
      `task ready -> claimed by the executor: median ${median(claimed).toFixed(1)} ms, worst ${Math.max(...claimed).toFixed(1)} ms (${SAMPLES} tasks)`,
    );
    lines.push(
      `task ready -> the executor's first report on it: median ${median(reported).toFixed(1)} ms, worst ${Math.max(...reported).toFixed(1)} ms (${SAMPLES} tasks)`,
    );
    return lines;
  } finally {
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
    await server.close();
    folder.remove();
  }
}
