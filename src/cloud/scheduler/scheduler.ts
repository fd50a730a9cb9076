/**
 * The scheduler: wakes at the next cron boundary of any model of any
 * environment (at least once a minute, and at once when a plan finishes or a
 * pause changes), and ticks. A tick finishes runs whose tasks are all final
 * and creates a run for every environment with something due.
 *
 * Several cloud replicas may tick at once: run creation is serialized per
 * environment (see run-planner), so they never queue the same work twice.
 */
import { isEvaluatable } from '../../engine/plan/backfill.js';
import { cronNext } from '../../engine/time/index.js';
import type { CloudContext } from '../context.js';
import { environmentPauses } from '../pauses/pauses.js';
import type { BackgroundService } from '../server.js';
import { createRun, type PlannedTask } from './run-planner.js';
import { refreshOpenRuns, refreshRun } from './runs.js';
import { environmentSnapshots, isExpired, listEnvironments } from './state-reader.js';

export interface TickRun {
  projectId: string;
  environment: string;
  runId: string;
  tasks: PlannedTask[];
}

export interface TickResult {
  /** Runs created by this tick. */
  created: TickRun[];
  /** Runs this tick found finished. */
  finished: number;
  /** Environments that could not be scheduled, with the reason (logged too). */
  errors: Array<{ projectId: string; environment: string; error: string }>;
}

async function projectIds(ctx: CloudContext): Promise<string[]> {
  const rows = await ctx.store.db.selectFrom('projects').select('id').orderBy('id').execute();
  return rows.map((r) => r.id);
}

/**
 * One pass of the scheduler as of `now`: refresh open runs, then create a
 * `schedule` run for each environment (not paused, not expired) that has
 * anything due. Errors of one environment are logged and do not stop the others.
 */
export async function tick(ctx: CloudContext, now: number = ctx.clock.now()): Promise<TickResult> {
  const result: TickResult = { created: [], finished: 0, errors: [] };
  result.finished = await refreshOpenRuns(ctx);
  for (const projectId of await projectIds(ctx)) {
    let environments;
    try {
      environments = await listEnvironments(ctx.store.db, projectId);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      ctx.log.error('scheduler cannot read environments', { projectId, error });
      result.errors.push({ projectId, environment: '', error });
      continue;
    }
    for (const env of environments) {
      if (isExpired(env, now)) continue;
      try {
        const created = await createRun(ctx, projectId, env.name, { trigger: 'schedule', now });
        if (created.created) {
          result.created.push({
            projectId,
            environment: env.name,
            runId: created.runId,
            tasks: created.tasks,
          });
          ctx.log.info('scheduled run created', {
            projectId,
            environment: env.name,
            runId: created.runId,
            tasks: created.tasks.length,
          });
        }
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        ctx.log.error('scheduler cannot schedule environment', {
          projectId,
          environment: env.name,
          error,
        });
        result.errors.push({ projectId, environment: env.name, error });
      }
    }
  }
  return result;
}

/** Crons of an environment's evaluated models, cached per plan (an environment changes only by plans). */
export type CronCache = Map<string, Array<{ cron: string; tz?: string }>>;

/**
 * The earliest cron run strictly after `now` of any evaluated model of any
 * environment that is neither expired nor paused; undefined when there is none.
 */
export async function nextWakeTime(
  ctx: CloudContext,
  now: number,
  cache: CronCache = new Map(),
): Promise<number | undefined> {
  let next: number | undefined;
  const live = new Set<string>();
  for (const projectId of await projectIds(ctx)) {
    for (const env of await listEnvironments(ctx.store.db, projectId)) {
      if (isExpired(env, now)) continue;
      if ((await environmentPauses(ctx.store.db, projectId, env.name)).environment) continue;
      const key = `${projectId}|${env.name}|${env.planId}`;
      live.add(key);
      let crons = cache.get(key);
      if (!crons) {
        const { snapshots } = await environmentSnapshots(ctx.store.db, projectId, env.environment);
        const seen = new Map<string, { cron: string; tz?: string }>();
        for (const s of snapshots) {
          const def = s.node.definition;
          if (!isEvaluatable(def)) continue;
          seen.set(`${def.cron}|${def.cronTz ?? ''}`, {
            cron: def.cron,
            ...(def.cronTz ? { tz: def.cronTz } : {}),
          });
        }
        crons = [...seen.values()];
        cache.set(key, crons);
      }
      for (const c of crons) {
        try {
          const at = cronNext(c.cron, now, c.tz);
          if (next === undefined || at < next) next = at;
        } catch {
          // A cron the engine refuses was refused at plan time too; nothing to wake for.
        }
      }
    }
  }
  for (const key of cache.keys()) if (!live.has(key)) cache.delete(key);
  return next;
}

export interface SchedulerOptions {
  /** Longest sleep between ticks, ms (60 s by default). */
  maxSleepMs?: number;
}

/**
 * The scheduler as a background service of the cloud server. It ticks at
 * start (catching up on boundaries passed while the cloud was down), then at
 * every cron boundary.
 */
export class Scheduler implements BackgroundService {
  readonly name = 'scheduler';
  private readonly maxSleepMs: number;
  private readonly cache: CronCache = new Map();
  private stopped = true;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private unsubscribe: (() => void) | undefined;

  constructor(options: SchedulerOptions = {}) {
    this.maxSleepMs = options.maxSleepMs ?? 60_000;
  }

  start(ctx: CloudContext): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.unsubscribe = ctx.events.subscribe((event) => {
      if (event.type === 'plan.finished' || event.type === 'pause.changed') this.wake();
      // A run ends when its last task does: bring its record up to date now.
      const runId = event.payload['runId'];
      if (/^task\.(succeeded|failed|cancelled)$/.test(event.type) && typeof runId === 'string') {
        refreshRun(ctx, runId).catch((err: unknown) =>
          ctx.log.error('cannot refresh a run', {
            runId,
            error: err instanceof Error ? err.message : String(err),
          }),
        );
      }
    });
    this.loop = this.run(ctx);
  }

  /** Ticks as soon as possible (the next wake-up is planned again after). */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    this.wakeUp?.();
    await this.loop;
  }

  private async run(ctx: CloudContext): Promise<void> {
    while (!this.stopped) {
      this.woken = false;
      try {
        await tick(ctx, ctx.clock.now());
      } catch (err) {
        ctx.log.error('scheduler tick failed', {
          error: err instanceof Error ? err.message : String(err),
        });
      }
      if (this.stopped) break;
      let delay = this.maxSleepMs;
      try {
        const now = ctx.clock.now();
        const next = await nextWakeTime(ctx, now, this.cache);
        // A few ms late rather than early: a timer firing just before the boundary would find nothing due.
        if (next !== undefined) delay = Math.min(delay, Math.max(0, next - now) + 5);
      } catch (err) {
        ctx.log.error('scheduler cannot plan its next wake-up', {
          error: err instanceof Error ? err.message : String(err),
        });
      }
      if (this.woken || this.stopped) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, delay);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.wakeUp = done;
      });
      this.wakeUp = undefined;
    }
  }
}
