/**
 * Shared by the queue, executor and plan tests: a test cloud with the
 * queue's routes, a clock the test moves, executors, tasks and plans.
 */
import { tokenRoutes } from '../../../src/cloud/auth/token-routes.js';
import type { CloudClock, CloudSettings } from '../../../src/cloud/context.js';
import { executorRoutes } from '../../../src/cloud/executors/executor-routes.js';
import type { RouteModule } from '../../../src/cloud/http/app.js';
import { planRoutes } from '../../../src/cloud/plans/plan-routes.js';
import { taskRoutes } from '../../../src/cloud/queue/task-routes.js';
import { enqueueTasks, type NewTask } from '../../../src/cloud/queue/task-queue.js';
import type { BackgroundService } from '../../../src/cloud/server.js';
import type { ClaimedTask } from '../../../src/protocol/messages.js';
import { startTestCloud, type TestCloud } from '../../helpers/cloud.js';
import type { StoreTarget } from '../../helpers/stores.js';

export const QUEUE_ROUTES: readonly RouteModule[] = [
  tokenRoutes,
  executorRoutes,
  taskRoutes,
  planRoutes,
];

/** A clock that only moves when told to. */
export class TestClock implements CloudClock {
  constructor(public t = Date.now()) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface QueueCloud extends TestCloud {
  clock: TestClock;
  executorToken: string;
  /** Registers an executor of `kind`; returns its id. */
  register(kind: 'run' | 'apply', name?: string): Promise<string>;
  /** Queues tasks straight into the store (as the scheduler does). */
  enqueue(tasks: NewTask[]): Promise<string[]>;
  /** One claim: the task, or undefined on 204. */
  claim(executorId: string, waitMs?: number): Promise<ClaimedTask | undefined>;
  /** A POST as the executor. */
  post(path: string, body: unknown): ReturnType<TestCloud['api']>;
}

export async function startQueueCloud(
  target: StoreTarget,
  options: { settings?: Partial<CloudSettings>; services?: BackgroundService[] } = {},
): Promise<QueueCloud> {
  const clock = new TestClock();
  const cloud = await startTestCloud(target, {
    clock,
    routes: QUEUE_ROUTES,
    ...(options.settings ? { settings: options.settings } : {}),
    ...(options.services ? { services: options.services } : {}),
  });
  const executorToken = await cloud.token(cloud.clients.executor);
  let n = 0;
  const post = (path: string, body: unknown) =>
    cloud.api(path, { method: 'POST', body, token: executorToken });
  return {
    ...cloud,
    clock,
    executorToken,
    post,
    async register(kind, name) {
      const res = await post('/executors/register', {
        name: name ?? `${kind}-executor-${++n}`,
        kind,
        version: '0.1.0',
        protocolVersion: '1.0',
        gateways: [{ name: 'local', type: 'duckdb' }],
      });
      if (res.status !== 201) throw new Error(`register failed: ${res.status}`);
      return res.body.executorId as string;
    },
    enqueue: (tasks) => enqueueTasks(cloud.server.ctx, cloud.projectId, tasks),
    async claim(executorId, waitMs = 0) {
      const res = await post('/tasks/claim', { executorId, waitMs });
      if (res.status === 204) return undefined;
      if (res.status !== 200) {
        throw new Error(`claim failed: ${res.status} ${JSON.stringify(res.body)}`);
      }
      return res.body as ClaimedTask;
    },
  };
}

/** A run-queue task of `model` (version v1 unless given). */
export function runTask(model: string | undefined, extra: Partial<NewTask> = {}): NewTask {
  return {
    queue: 'run',
    kind: 'evaluate',
    environment: 'prod',
    payload: { kind: 'evaluate', environment: 'prod', runId: 'r1', snapshot: {}, parents: {} },
    ...(model !== undefined ? { model, version: 'v1' } : {}),
    ...extra,
  };
}

/** The smallest plan the cloud accepts, as the engine writes it. */
export function minimalPlan(
  id: string,
  environment: string,
  expectedPlanId: string | null,
): Record<string, unknown> {
  return {
    id,
    environment,
    isNewEnvironment: expectedPlanId === null,
    expectedPlanId,
    createdTs: 1_700_000_000_000,
    start: 1_699_920_000_000,
    end: 1_700_006_400_000,
    executionTime: 1_700_006_400_000,
    options: {
      forwardOnly: false,
      skipBackfill: false,
      includeUnmodified: false,
      restateModels: [],
    },
    changes: [{ name: '"db"."a"', displayName: 'db.a', type: 'added' }],
    newSnapshots: [],
    snapshots: [],
    promoted: [],
    removed: [],
    restatements: [],
    backfill: [{ name: '"db"."a"', identifier: 'i1', version: 'v1', batches: [[1, 2]] }],
    warnings: [],
  };
}

/** Counts rows of a table of the project (to show nothing was stored). */
export async function countRows(
  cloud: TestCloud,
  table: 'logs' | 'evaluations' | 'executors' | 'plans' | 'tasks',
): Promise<number> {
  const row = await cloud.server.ctx.store.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('project_id', '=', cloud.projectId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Waits until `check` is true, looking every 20 ms, for at most `ms`. */
export async function eventually(check: () => Promise<boolean>, ms = 2_000): Promise<void> {
  const until = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > until) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
