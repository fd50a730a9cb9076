/**
 * Task queue benchmarks, on loopback, on both stores (a SQLite file and an
 * embedded PostgreSQL):
 *
 * - claim latency: an executor's claim waits in a long poll; a task is
 *   queued; time until the claim's answer arrives (p50, p99; target p99 < 20 ms);
 * - throughput: tasks queued in-process (as the scheduler does) while
 *   several executors claim and complete them over HTTP: once one task per
 *   request, and once as executors with free slots work (protocol 1.1: a
 *   claim takes up to `slots` tasks, their completions go in one request;
 *   target >= 5,000/s on PostgreSQL), timed from when the executors' first
 *   claims are sent until the last completion is acknowledged.
 */
import { tokenRoutes } from '../src/cloud/auth/token-routes.js';
import { executorRoutes } from '../src/cloud/executors/executor-routes.js';
import { silentLogger } from '../src/cloud/logger.js';
import { createObserveRoutes } from '../src/cloud/observe/observe-routes.js';
import { planRoutes } from '../src/cloud/plans/plan-routes.js';
import { enqueueTasks, type NewTask } from '../src/cloud/queue/task-queue.js';
import { taskRoutes } from '../src/cloud/queue/task-routes.js';
import { startCloudServer, type CloudServer } from '../src/cloud/server.js';
import { bootstrap, createClient } from '../src/cloud/tenancy.js';
import type { ClaimedTask } from '../src/protocol/messages.js';
import { PROTOCOL_VERSION } from '../src/protocol/version.js';
import { Worker } from 'node:worker_threads';
import { tempFolder } from './common-bench-helpers.js';
import type { QueueClientJob } from './queue-bench-client.js';
// The same throwaway server the tests use.
import { startTestPostgres } from '../test/helpers/pg-server.js';

interface Harness {
  server: CloudServer;
  projectId: string;
  api: string;
  headers: Record<string, string>;
  executorIds: string[];
}

async function harness(state: string, executors: number): Promise<Harness> {
  const server = await startCloudServer({
    state,
    log: silentLogger,
    settings: { secureCookies: false },
    // The observability routes too: as in a served cloud, every event is stored.
    routes: [tokenRoutes, executorRoutes, taskRoutes, planRoutes, createObserveRoutes()],
  });
  const { project } = await bootstrap(server.ctx, 'bench', 'queue');
  const client = await createClient(server.ctx, project.id, { name: 'bench', role: 'executor' });
  const base = `${server.url}/sqlmesh/bench/queue`;
  const tokenRes = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: client.clientId,
      client_secret: client.clientSecret,
    }),
  });
  const token = ((await tokenRes.json()) as { access_token: string }).access_token;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const api = `${base}/api`;
  const executorIds: string[] = [];
  for (let i = 0; i < executors; i++) {
    const res = await fetch(`${api}/executors/register`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        name: `bench-${i}`,
        kind: 'run',
        version: '0.0.0',
        // The protocol the batched run speaks (claims of several tasks, completions in one request).
        protocolVersion: `${PROTOCOL_VERSION.major}.${PROTOCOL_VERSION.minor}`,
        gateways: [],
      }),
    });
    executorIds.push(((await res.json()) as { executorId: string }).executorId);
  }
  return { server, projectId: project.id, api, headers, executorIds };
}

function task(i: number): NewTask {
  return {
    queue: 'run',
    kind: 'evaluate',
    environment: 'prod',
    payload: { kind: 'evaluate', environment: 'prod', runId: 'bench', batches: [[i, i + 1]] },
  };
}

async function claim(h: Harness, executorId: string, waitMs: number) {
  const res = await fetch(`${h.api}/tasks/claim`, {
    method: 'POST',
    headers: h.headers,
    body: JSON.stringify({ executorId, waitMs }),
  });
  if (res.status === 204) return undefined;
  if (res.status !== 200) throw new Error(`claim answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as ClaimedTask;
}

async function complete(h: Harness, t: ClaimedTask): Promise<void> {
  const res = await fetch(`${h.api}/tasks/${t.taskId}/complete`, {
    method: 'POST',
    headers: h.headers,
    body: JSON.stringify({
      leaseId: t.lease.leaseId,
      fencingToken: t.lease.fencingToken,
      status: 'succeeded',
    }),
  });
  if (res.status !== 200) throw new Error(`complete answered ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Enqueue-to-answer latency of a claim already waiting, `rounds` times. */
async function claimLatency(h: Harness, rounds: number): Promise<number[]> {
  const times: number[] = [];
  const executor = h.executorIds[0]!;
  for (let i = 0; i < rounds + 10; i++) {
    let answered = 0;
    const waiting = claim(h, executor, 5_000).then((t) => {
      answered = performance.now();
      return t;
    });
    // Let the claim reach its wait.
    await new Promise((r) => setTimeout(r, 5));
    const queued = performance.now();
    await enqueueTasks(h.server.ctx, h.projectId, [task(i)]);
    const t = await waiting;
    if (!t) throw new Error('the waiting claim got nothing');
    if (i >= 10) times.push(answered - queued);
    await complete(h, t);
  }
  return times.sort((a, b) => a - b);
}

/**
 * Tasks per second through enqueue (in-process, as the scheduler does),
 * claim and complete (over HTTP, from `clients` executors in a worker thread).
 */
async function throughput(
  h: Harness,
  total: number,
  clients: number,
  slots: number,
): Promise<number> {
  const job: QueueClientJob = {
    api: h.api,
    headers: h.headers,
    executorIds: h.executorIds.slice(0, clients),
    total,
    slots,
  };
  const worker = new Worker(new URL('./queue-bench-client.js', import.meta.url), {
    workerData: job,
  });
  // Timed from when the clients are up (their claims sent), not from the thread's
  // start, until the last completion is acknowledged; the thread ends once the
  // other clients' long polls have returned.
  let ready: () => void = () => {};
  const up = new Promise<void>((resolve) => (ready = resolve));
  let doneAt = 0;
  const finished = new Promise<void>((resolve, reject) => {
    worker.on(
      'message',
      (m: { ready?: boolean; done?: number; finished?: boolean; error?: string }) => {
        if (m.ready) ready();
        else if (m.error) reject(new Error(m.error));
        else if (m.done !== undefined) doneAt = performance.now();
        else resolve();
      },
    );
    worker.once('error', reject);
  });
  await Promise.race([up, finished]);
  const started = performance.now();
  for (let i = 0; i < total; i += 100) {
    await enqueueTasks(
      h.server.ctx,
      h.projectId,
      Array.from({ length: Math.min(100, total - i) }, (_, k) => task(i + k)),
    );
    await new Promise((r) => setImmediate(r));
  }
  try {
    await finished;
  } finally {
    await worker.terminate();
  }
  if (doneAt === 0) throw new Error('the clients ended without completing every task');
  return total / ((doneAt - started) / 1000);
}

/** What to measure; every field has a default (the figures the README shows). */
export interface QueueBenchOptions {
  /** The stores to measure, both by default. */
  stores?: ReadonlyArray<'sqlite' | 'postgres'>;
  /** Concurrent executors claiming and completing (32 by default). */
  clients?: number;
  /** Tasks in each throughput run (10,000 by default). */
  total?: number;
  /** Claim-latency rounds (200 by default). */
  rounds?: number;
  /** Slots per executor in the batched run: tasks per claim and per completion request (8). */
  slots?: number;
}

async function benchStore(
  label: string,
  state: string,
  target: boolean,
  options: QueueBenchOptions,
): Promise<string[]> {
  const clients = options.clients ?? 32;
  const h = await harness(state, clients);
  try {
    const lat = await claimLatency(h, options.rounds ?? 200);
    const p50 = percentile(lat, 50);
    const p99 = percentile(lat, 99);
    const slots = options.slots ?? 8;
    await throughput(h, 500, clients, 1); // warm-up
    const single = await throughput(h, options.total ?? 10_000, clients, 1);
    await throughput(h, 500, clients, slots); // warm-up
    const batched = await throughput(h, options.total ?? 10_000, clients, slots);
    const tp = target ? `   target >= 5000/s${batched < 5_000 ? '  (missed)' : ''}` : '';
    return [
      `${`queue ${label}: claim latency p50 (waiting long poll)`.padEnd(52)} ${p50.toFixed(2).padStart(8)} ms`,
      `${`queue ${label}: claim latency p99`.padEnd(52)} ${p99.toFixed(2).padStart(8)} ms   target < 20 ms${p99 >= 20 ? '  (missed)' : ''}`,
      `${`queue ${label}: enqueue+claim+complete, ${clients} x 1 task/request`.padEnd(52)} ${single.toFixed(0).padStart(8)} /s`,
      `${`queue ${label}: enqueue+claim+complete, ${clients} x ${slots} slots`.padEnd(52)} ${batched.toFixed(0).padStart(8)} /s${tp}`,
    ];
  } finally {
    await h.server.close();
    // Let the pool's connections finish closing before the server may stop.
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Runs the queue benchmarks on SQLite and PostgreSQL; one printable line per figure. */
export async function runQueueBench(options: QueueBenchOptions = {}): Promise<string[]> {
  const stores = options.stores ?? ['sqlite', 'postgres'];
  const lines: string[] = [];
  if (stores.includes('sqlite')) {
    const folder = tempFolder('queue');
    try {
      lines.push(...(await benchStore('sqlite', `sqlite:${folder.path}/queue.db`, false, options)));
    } finally {
      folder.remove();
    }
  }
  if (stores.includes('postgres')) {
    const pg = await startTestPostgres();
    try {
      lines.push(...(await benchStore('postgres', pg.url, true, options)));
    } finally {
      await pg.stop();
    }
  }
  return lines;
}
