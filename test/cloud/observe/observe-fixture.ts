/**
 * A cloud with history made the way it is made in production: the starter
 * project (plus an independent `other_model`) planned against the cloud's
 * state and submitted as admin; an apply executor's part played over the
 * task API (claim, progress with log lines and evaluations, complete) while
 * the engine applies the plan to a DuckDB warehouse; then a dev plan with a
 * direct change, a metadata change, an added and a removed model; then a
 * scheduled run a day later whose tasks a run executor evaluates, one of
 * them failing.
 */
import { mkdtempSync, rmSync, writeFileSync, readFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { tokenRoutes } from '../../../src/cloud/auth/token-routes.js';
import { clientRoutes } from '../../../src/cloud/admin/client-routes.js';
import { executorRoutes } from '../../../src/cloud/executors/executor-routes.js';
import type { RouteModule } from '../../../src/cloud/http/app.js';
import { createObserveRoutes } from '../../../src/cloud/observe/observe-routes.js';
import { pauseRoutes } from '../../../src/cloud/pauses/pause-routes.js';
import { planRoutes } from '../../../src/cloud/plans/plan-routes.js';
import { taskRoutes } from '../../../src/cloud/queue/task-routes.js';
import { runRoutes } from '../../../src/cloud/scheduler/run-routes.js';
import { refreshOpenRuns } from '../../../src/cloud/scheduler/runs.js';
import { tick } from '../../../src/cloud/scheduler/scheduler.js';
import { CloudStateSync } from '../../../src/cloud/state/cloud-state-sync.js';
import { createAdapter } from '../../../src/engine/adapters/adapter-factory.js';
import type { EngineAdapter } from '../../../src/engine/adapters/engine-adapter.js';
import { SnapshotEvaluator } from '../../../src/engine/evaluate/snapshot-evaluator.js';
import { applyPlan } from '../../../src/engine/plan/plan-applier.js';
import { buildPlan } from '../../../src/engine/plan/plan-builder.js';
import type { Plan } from '../../../src/engine/plan/plan-types.js';
import { loadProject } from '../../../src/engine/project/project-loader.js';
import { buildSnapshots } from '../../../src/engine/snapshot/snapshot-builder.js';
import type { Snapshot } from '../../../src/engine/snapshot/snapshot-types.js';
import { writeStarterProject } from '../../../src/engine/starter/starter-project.js';
import type { ClaimedTask, LogLine } from '../../../src/protocol/messages.js';
import { startTestCloud, type TestCloud } from '../../helpers/cloud.js';
import type { StoreTarget } from '../../helpers/stores.js';

export const DAY = 86_400_000;
export const JAN_10 = Date.UTC(2020, 0, 10);
export const INCREMENTAL = '"db"."sqlmesh_example"."incremental_model"';
export const FULL = '"db"."sqlmesh_example"."full_model"';
export const SEED = '"db"."sqlmesh_example"."seed_model"';
export const OTHER = '"db"."sqlmesh_example"."other_model"';
export const EXTRA = '"db"."sqlmesh_example"."extra_model"';

const OTHER_MODEL = `MODEL (name sqlmesh_example.other_model, kind FULL, cron '@daily');
SELECT 1 AS x
`;
const EXTRA_MODEL = `MODEL (name sqlmesh_example.extra_model, kind FULL, cron '@daily');
SELECT item_id FROM sqlmesh_example.full_model
`;

export interface Clock {
  t: number;
  now(): number;
}

export interface ObservedCloud {
  cloud: TestCloud;
  clock: Clock;
  prodPlan: Plan;
  devPlan: Plan;
  runId: string;
  viewer: string;
}

export function observeModules(options: { heartbeatMs?: number } = {}): RouteModule[] {
  return [
    tokenRoutes,
    clientRoutes,
    executorRoutes,
    taskRoutes,
    planRoutes,
    runRoutes,
    pauseRoutes,
    createObserveRoutes(options),
  ];
}

/** The executor's side over HTTP. */
class ExecutorPart {
  constructor(
    private readonly cloud: TestCloud,
    private readonly token: string,
    readonly id: string,
  ) {}

  static async register(cloud: TestCloud, kind: 'run' | 'apply'): Promise<ExecutorPart> {
    const token = await cloud.token(cloud.clients.executor);
    const res = await cloud.api('/executors/register', {
      token,
      body: {
        name: `${kind}-1`,
        kind,
        version: '0.1.0',
        protocolVersion: '1.0',
        gateways: [{ name: 'duckdb', type: 'duckdb' }],
      },
    });
    if (res.status !== 201) throw new Error(`register: ${res.status} ${JSON.stringify(res.body)}`);
    return new ExecutorPart(cloud, token, res.body.executorId as string);
  }

  async claim(): Promise<ClaimedTask> {
    const res = await this.cloud.api('/tasks/claim', {
      token: this.token,
      body: { executorId: this.id, waitMs: 0 },
    });
    if (res.status !== 200) throw new Error(`claim: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as ClaimedTask;
  }

  async progress(task: ClaimedTask, body: Record<string, unknown>): Promise<void> {
    const res = await this.cloud.api(`/tasks/${task.taskId}/progress`, {
      token: this.token,
      body: { leaseId: task.lease.leaseId, fencingToken: task.lease.fencingToken, ...body },
    });
    if (res.status !== 200) throw new Error(`progress: ${res.status} ${JSON.stringify(res.body)}`);
  }

  async complete(task: ClaimedTask, body: Record<string, unknown>): Promise<void> {
    const res = await this.cloud.api(`/tasks/${task.taskId}/complete`, {
      token: this.token,
      body: { leaseId: task.lease.leaseId, fencingToken: task.lease.fencingToken, ...body },
    });
    if (res.status !== 200) throw new Error(`complete: ${res.status} ${JSON.stringify(res.body)}`);
  }
}

async function applyAsExecutor(
  cloud: TestCloud,
  executor: ExecutorPart,
  state: CloudStateSync,
  adapter: EngineAdapter,
  clock: Clock,
): Promise<void> {
  const task = await executor.claim();
  if (task.payload.kind !== 'apply_plan') throw new Error('expected an apply task');
  const plan = task.payload.plan as Plan;
  const logs: LogLine[] = [{ level: 'info', message: `applying plan ${plan.id}`, ts: clock.now() }];
  const evaluations: unknown[] = [];
  const audits: Array<{
    model: string;
    name: string;
    blocking: boolean;
    passed: boolean;
    failingRows: number;
    sample: unknown;
  }> = [];
  const result = await applyPlan(plan, {
    state,
    evaluator: new SnapshotEvaluator(adapter, { gateway: 'duckdb' }),
    concurrency: 1,
    clock: () => clock.now(),
    createdBy: `executor:${executor.id}`,
    onEvent: (e) => {
      if (e.type === 'stage')
        logs.push({ level: 'debug', message: `stage: ${e.stage}`, ts: clock.now() });
      if (e.type === 'batch_done') {
        const s = plan.snapshots.find((x) => x.name === e.name)!;
        evaluations.push({
          model: e.name,
          identifier: s.identifier,
          version: s.version,
          interval: e.interval,
          status: 'succeeded',
          ...(e.rows !== undefined ? { rows: e.rows } : {}),
          durationMs: Math.round(e.durationMs),
        });
        for (const a of e.audits ?? []) audits.push({ model: e.name, ...a });
      }
    },
  });
  if (result.status !== 'succeeded') throw new Error(`apply failed: ${result.error}`);
  logs.push({ level: 'info', message: `plan ${plan.id} applied`, ts: clock.now() });
  await executor.progress(task, { logs, evaluations });
  // Audit results as the cloud would keep them from the executor's report.
  const db = cloud.server.ctx.store.db;
  let n = 0;
  for (const a of audits) {
    await db
      .insertInto('audit_results')
      .values({
        id: `${plan.id}-audit-${++n}`,
        project_id: cloud.projectId,
        evaluation_id: null,
        run_id: null,
        plan_id: plan.id,
        model: a.model,
        audit: a.name,
        blocking: a.blocking ? 1 : 0,
        passed: a.passed ? 1 : 0,
        failing_rows: a.failingRows,
        sample: JSON.stringify(a.sample),
        created_ts: clock.now(),
      })
      .execute();
  }
  await executor.complete(task, { status: 'succeeded' });
}

async function planAndSubmit(
  cloud: TestCloud,
  dir: string,
  environment: string,
  state: CloudStateSync,
  now: number,
): Promise<Plan> {
  const loaded = await loadProject(dir, { env: {}, now });
  const snapshots = buildSnapshots(loaded, { now });
  const plan = await buildPlan({ environment, snapshots, state, now });
  const res = await cloud.api('/plans', { body: { plan } });
  if (res.status !== 201) throw new Error(`submit: ${res.status} ${JSON.stringify(res.body)}`);
  return plan;
}

/** Builds the history described in the module comment on a new cloud of `target`. */
export async function observedCloud(
  target: StoreTarget,
  options: { heartbeatMs?: number } = {},
): Promise<ObservedCloud> {
  const clock: Clock = { t: JAN_10, now: () => clock.t };
  const cloud = await startTestCloud(target, {
    clock,
    settings: { accessTokenTtlMs: 30 * DAY },
    routes: observeModules(options),
  });
  const dir = mkdtempSync(join(tmpdir(), 'tideline-observe-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const project = join(dir, 'project');
  writeStarterProject(project, 'duckdb');
  writeFileSync(join(project, 'models', 'other_model.sql'), OTHER_MODEL);
  const adapter = createAdapter(
    {
      type: 'duckdb',
      database: join(dir, 'db.db'),
      catalogs: {},
      extensions: [],
      connectorConfig: {},
      concurrentTasks: 1,
    },
    { projectRoot: dir },
  );
  after(() => adapter.close());
  const state = new CloudStateSync(cloud.server.ctx.store, cloud.projectId, { clock });

  const apply = await ExecutorPart.register(cloud, 'apply');
  const prodPlan = await planAndSubmit(cloud, project, 'prod', state, clock.t);
  clock.t += 1_000;
  await applyAsExecutor(cloud, apply, state, adapter, clock);

  // dev: full_model changed, incremental_model's owner set, extra_model added, other_model gone.
  clock.t += 60_000;
  const full = join(project, 'models', 'full_model.sql');
  writeFileSync(
    full,
    readFileSync(full, 'utf8').replace('AS num_orders', 'AS num_orders,\n  1 AS one'),
  );
  const inc = join(project, 'models', 'incremental_model.sql');
  writeFileSync(
    inc,
    readFileSync(inc, 'utf8').replace("cron '@daily',", "cron '@daily',\n  owner 'alice',"),
  );
  writeFileSync(join(project, 'models', 'extra_model.sql'), EXTRA_MODEL);
  unlinkSync(join(project, 'models', 'other_model.sql'));
  const devPlan = await planAndSubmit(cloud, project, 'dev', state, clock.t);
  clock.t += 1_000;
  await applyAsExecutor(cloud, apply, state, adapter, clock);

  // A day later: the scheduled run of prod; full_model fails.
  clock.t = JAN_10 + DAY;
  const ticked = await tick(cloud.server.ctx, clock.t);
  const prodRun = ticked.created.find((r) => r.environment === 'prod');
  if (!prodRun) throw new Error('no prod run was created');
  const runner = await ExecutorPart.register(cloud, 'run');
  for (;;) {
    const res = await cloud.api('/tasks/claim', {
      token: await cloud.token(cloud.clients.executor),
      body: { executorId: runner.id, waitMs: 0 },
    });
    if (res.status === 204) break;
    const task = res.body as ClaimedTask;
    if (task.payload.kind !== 'evaluate') throw new Error('expected an evaluation task');
    const payload = task.payload;
    const snapshot = payload.snapshot as Snapshot;
    const byName = new Map<string, Snapshot>();
    for (const s of Object.values(payload.parents) as Snapshot[]) byName.set(s.name, s);
    byName.set(snapshot.name, snapshot);
    const evaluator = new SnapshotEvaluator(adapter, { gateway: 'duckdb' });
    const batch = payload.batches[0]!;
    clock.t += 500;
    if (snapshot.name === FULL) {
      await runner.progress(task, {
        logs: [
          { level: 'info', message: `evaluating ${snapshot.name}`, ts: clock.t },
          { level: 'error', message: 'Binder Error: column "nope" not found', ts: clock.t },
        ],
        evaluations: [
          {
            model: snapshot.name,
            identifier: snapshot.identifier,
            version: snapshot.version,
            interval: batch,
            status: 'failed',
            durationMs: 12,
            error: 'Binder Error: column "nope" not found',
          },
        ],
      });
      await runner.complete(task, { status: 'failed', error: 'Binder Error', retryable: false });
      continue;
    }
    await evaluator.createTable(snapshot, byName, payload.executionTime);
    const result = await evaluator.evaluate(snapshot, batch, payload.executionTime, byName, 'prod');
    await state.addInterval(snapshot, snapshot.version, batch);
    await runner.progress(task, {
      logs: [{ level: 'info', message: `evaluated ${snapshot.name}`, ts: clock.t }],
      evaluations: [
        {
          model: snapshot.name,
          identifier: snapshot.identifier,
          version: snapshot.version,
          interval: batch,
          status: 'succeeded',
          ...(result.rows !== undefined ? { rows: result.rows } : {}),
          durationMs: 7,
        },
      ],
    });
    await runner.complete(task, { status: 'succeeded' });
  }
  await refreshOpenRuns(cloud.server.ctx);
  const viewer = await cloud.token(cloud.clients.viewer);
  return { cloud, clock, prodPlan, devPlan, runId: prodRun.runId, viewer };
}
