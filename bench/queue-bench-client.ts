/**
 * The executors' side of the queue throughput benchmark, run in a worker
 * thread so that the clients do not share the cloud's event loop: each
 * client claims and completes tasks over HTTP (keep-alive connections, one
 * per client) until the cloud has handed out `total` of them. With `slots`
 * above 1 a client works as an executor with that many slots does: it
 * claims up to `slots` tasks at once and reports their completions in one
 * request (protocol 1.1).
 */
import { Agent, request } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import type {
  ClaimBatchResponse,
  ClaimedTask,
  CompleteBatchResponse,
} from '../src/protocol/messages.js';

export interface QueueClientJob {
  api: string;
  headers: Record<string, string>;
  executorIds: string[];
  total: number;
  /** Tasks per claim and per completion request; 1 uses the one-task requests. */
  slots: number;
}

interface Answer {
  status: number;
  body: string;
}

function post(agent: Agent, url: URL, headers: Record<string, string>, body: string) {
  return new Promise<Answer>((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Runs the clients; `ready` is called once their first claims are sent, and
 * `allDone` as soon as the last of `total` completions is acknowledged (not
 * when the other clients' long polls, waiting for tasks that will not come,
 * return).
 */
async function runClients(
  job: QueueClientJob,
  ready: () => void,
  allDone: (done: number) => void,
): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: job.executorIds.length });
  const claimUrl = new URL(`${job.api}/tasks/claim`);
  let done = 0;
  let reported = false;
  const count = (n: number) => {
    done += n;
    if (done >= job.total && !reported) {
      reported = true;
      allDone(done);
    }
  };
  const completeUrl = new URL(`${job.api}/tasks/complete`);
  const batched = async (executorId: string) => {
    const claimBody = JSON.stringify({ executorId, waitMs: 200, max: job.slots });
    while (done < job.total) {
      const res = await post(agent, claimUrl, job.headers, claimBody);
      if (res.status === 204) continue;
      if (res.status !== 200) throw new Error(`claim answered ${res.status}: ${res.body}`);
      const { tasks } = JSON.parse(res.body) as ClaimBatchResponse;
      const fin = await post(
        agent,
        completeUrl,
        job.headers,
        JSON.stringify({
          items: tasks.map((t) => ({
            taskId: t.taskId,
            leaseId: t.lease.leaseId,
            fencingToken: t.lease.fencingToken,
            status: 'succeeded',
          })),
        }),
      );
      if (fin.status !== 200) throw new Error(`complete answered ${fin.status}: ${fin.body}`);
      const { results } = JSON.parse(fin.body) as CompleteBatchResponse;
      const refused = results.find((r) => 'error' in r);
      if (refused) throw new Error(`a completion was refused: ${JSON.stringify(refused)}`);
      count(results.length);
    }
  };
  const loops = job.executorIds.map(async (executorId) => {
    if (job.slots > 1) return batched(executorId);
    const claimBody = JSON.stringify({ executorId, waitMs: 200 });
    while (done < job.total) {
      const res = await post(agent, claimUrl, job.headers, claimBody);
      if (res.status === 204) continue;
      if (res.status !== 200) throw new Error(`claim answered ${res.status}: ${res.body}`);
      const t = JSON.parse(res.body) as ClaimedTask;
      const fin = await post(
        agent,
        new URL(`${job.api}/tasks/${t.taskId}/complete`),
        job.headers,
        JSON.stringify({
          leaseId: t.lease.leaseId,
          fencingToken: t.lease.fencingToken,
          status: 'succeeded',
        }),
      );
      if (fin.status !== 200) throw new Error(`complete answered ${fin.status}: ${fin.body}`);
      count(1);
    }
  });
  // The claims are on their way: the timing may start.
  ready();
  try {
    await Promise.all(loops);
  } finally {
    agent.destroy();
  }
  return done;
}

if (parentPort && workerData) {
  const port = parentPort;
  runClients(
    workerData as QueueClientJob,
    () => port.postMessage({ ready: true }),
    (done) => port.postMessage({ done }),
  ).then(
    () => port.postMessage({ finished: true }),
    (err: unknown) => port.postMessage({ error: err instanceof Error ? err.message : String(err) }),
  );
}
