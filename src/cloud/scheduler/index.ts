/** The cloud's scheduler: cron-driven runs, manual runs, run records and freshness. */
export {
  Scheduler,
  nextWakeTime,
  tick,
  type SchedulerOptions,
  type TickResult,
} from './scheduler.js';
export { createRun, type CreateRunOptions, type CreateRunResult } from './run-planner.js';
export {
  getRun,
  listRuns,
  refreshOpenRuns,
  refreshRun,
  type RunDetail,
  type RunSummary,
} from './runs.js';
export { freshness, type EnvironmentFreshness, type ModelFreshness } from './freshness.js';
export { runRoutes } from './run-routes.js';
