/**
 * Local mode: a project, its gateway's warehouse and the state kept in it,
 * wired together for `plan`, `run` and `janitor`, as open-source SQLMesh
 * works without a cloud.
 */
import { createAdapter } from './adapters/adapter-factory.js';
import type { EngineAdapter } from './adapters/engine-adapter.js';
import { SnapshotEvaluator } from './evaluate/snapshot-evaluator.js';
import { applyPlan, type ApplyEvent, type ApplyResult } from './plan/plan-applier.js';
import { buildPlan, type BuildPlanInput } from './plan/plan-builder.js';
import type { Plan } from './plan/plan-types.js';
import { janitor, runEnvironment, type JanitorResult, type RunResult } from './plan/runner.js';
import type { BackfillEvent } from './plan/scheduler.js';
import { loadProject, type Project } from './project/project-loader.js';
import { buildSnapshots } from './snapshot/snapshot-builder.js';
import type { StateSync } from './state/state-sync.js';
import { WarehouseStateSync } from './state/warehouse-state-sync.js';
import { systemClock, type Clock } from './time/index.js';

export interface OpenContextOptions {
  env: Record<string, string | undefined>;
  gateway?: string;
  clock?: Clock;
}

export type PlanRequest = Omit<BuildPlanInput, 'snapshots' | 'state' | 'now' | 'displayName'>;

export class LocalContext {
  private constructor(
    readonly project: Project,
    readonly adapter: EngineAdapter,
    private readonly stateAdapter: EngineAdapter | undefined,
    readonly state: StateSync,
    readonly evaluator: SnapshotEvaluator,
    readonly clock: Clock,
  ) {}

  /** Loads the project, connects to its gateway and readies the state schema. */
  static async open(root: string, options: OpenContextOptions): Promise<LocalContext> {
    const clock = options.clock ?? systemClock;
    const project = await loadProject(root, {
      env: options.env,
      ...(options.gateway ? { gateway: options.gateway } : {}),
      now: clock.now(),
    });
    const connection = project.gateway.connection ?? {
      type: 'duckdb' as const,
      catalogs: {},
      extensions: [],
      connectorConfig: {},
      concurrentTasks: 1,
    };
    const adapter = createAdapter(connection, { projectRoot: project.root });
    let stateAdapter: EngineAdapter | undefined;
    try {
      if (project.gateway.stateConnection) {
        stateAdapter = createAdapter(project.gateway.stateConnection, {
          projectRoot: project.root,
        });
      }
      const state = new WarehouseStateSync(stateAdapter ?? adapter, {
        ...(project.gateway.stateSchema ? { schema: project.gateway.stateSchema } : {}),
        clock: () => clock.now(),
      });
      await state.migrate();
      const evaluator = new SnapshotEvaluator(adapter, { gateway: project.gatewayName });
      return new LocalContext(project, adapter, stateAdapter, state, evaluator, clock);
    } catch (err) {
      await adapter.close().catch(() => undefined);
      await stateAdapter?.close().catch(() => undefined);
      throw err;
    }
  }

  /** How many models evaluate at once: the connection's `concurrent_tasks`. */
  get concurrency(): number {
    return this.project.gateway.connection?.concurrentTasks ?? 1;
  }

  /** A model's canonical name from what a user typed. */
  resolveModel(name: string): string {
    return this.project.findModel(name).fqn;
  }

  /** How a model is shown: its name without the default catalog. */
  showName = (fqn: string): string => this.project.models.get(fqn)?.name ?? fqn;

  async plan(request: PlanRequest): Promise<Plan> {
    const now = this.clock.now();
    const snapshots = buildSnapshots(this.project, { now });
    return buildPlan({
      ...request,
      ...(request.restateModels
        ? { restateModels: request.restateModels.map((m) => this.resolveModel(m)) }
        : {}),
      snapshots,
      state: this.state,
      now,
      displayName: this.showName,
    });
  }

  async apply(plan: Plan, onEvent?: (event: ApplyEvent) => void): Promise<ApplyResult> {
    return applyPlan(plan, {
      state: this.state,
      evaluator: this.evaluator,
      concurrency: this.concurrency,
      clock: () => this.clock.now(),
      environmentTtl: this.project.config.environmentTtl,
      ...(onEvent ? { onEvent } : {}),
    });
  }

  async run(
    environment: string,
    options: {
      executionTime?: number;
      ignoreCron?: boolean;
      select?: string[];
      onEvent?: (event: BackfillEvent) => void;
    } = {},
  ): Promise<RunResult> {
    return runEnvironment({
      state: this.state,
      evaluator: this.evaluator,
      environment,
      executionTime: options.executionTime ?? this.clock.now(),
      concurrency: this.concurrency,
      ...(options.ignoreCron ? { ignoreCron: true } : {}),
      ...(options.select ? { select: options.select.map((m) => this.resolveModel(m)) } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    });
  }

  async janitor(now = this.clock.now()): Promise<JanitorResult> {
    return janitor(this.state, this.evaluator, now);
  }

  async close(): Promise<void> {
    await this.state.close().catch(() => undefined);
    await this.adapter.close();
    await this.stateAdapter?.close();
  }
}
