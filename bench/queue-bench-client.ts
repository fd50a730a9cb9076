/**
 * The executors' side of the queue throughput benchmark, run in a worker
 * thread so that the clients do not share the cloud's event loop: each
 * client claims and completes tasks over HTTP until the cloud has handed out
 * `total` of them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ClaimedTask } from '../src/protocol/messages.js';

export interface QueueClientJob {
  api: string;
  headers: Record<string, string>;
  executorIds: string[];
  total: number;
}

async function runClients(job: QueueClientJob): Promise<number> {
  let done = 0;
  const loops = job.executorIds.map(async (executorId) => {
    while (done < job.total) {
      const res = await fetch(`${job.api}/tasks/claim`, {
        method: 'POST',
        headers: job.headers,
        body: JSON.stringify({ executorId, waitMs: 200 }),
      });
      if (res.status === 204) continue;
      if (res.status !== 200) throw new Error(`claim answered ${res.status}`);
      const t = (await res.json()) as ClaimedTask;
      const fin = await fetch(`${job.api}/tasks/${t.taskId}/complete`, {
        method: 'POST',
        headers: job.headers,
        body: JSON.stringify({
          leaseId: t.lease.leaseId,
          fencingToken: t.lease.fencingToken,
          status: 'succeeded',
        }),
      });
      if (fin.status !== 200) throw new Error(`complete answered ${fin.status}`);
      await fin.arrayBuffer();
      done++;
    }
  });
  await Promise.all(loops);
  return done;
}

if (parentPort && workerData) {
  const port = parentPort;
  runClients(workerData as QueueClientJob).then(
    (done) => port.postMessage({ done }),
    (err: unknown) => port.postMessage({ error: err instanceof Error ? err.message : String(err) }),
  );
}
