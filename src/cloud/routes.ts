/** Every route module the cloud serves, in registration order, and its background services. */
import { tokenRoutes } from './auth/token-routes.js';
import { createLeaseReaper } from './queue/lease-reaper.js';
import { Scheduler } from './scheduler/scheduler.js';
import type { BackgroundService } from './server.js';
import { clientRoutes } from './admin/client-routes.js';
import { userRoutes } from './admin/user-routes.js';
import { sessionRoutes } from './auth/session-routes.js';
import type { RouteModule } from './http/app.js';
import { executorRoutes } from './executors/executor-routes.js';
import { pauseRoutes } from './pauses/pause-routes.js';
import { planRoutes } from './plans/plan-routes.js';
import { taskRoutes } from './queue/task-routes.js';
import { runRoutes } from './scheduler/run-routes.js';
import { infoRoutes } from './http/info-routes.js';
import { stateRoutes } from './state/state-routes.js';

export const ALL_ROUTES: readonly RouteModule[] = [
  tokenRoutes,
  sessionRoutes,
  infoRoutes,
  clientRoutes,
  userRoutes,
  stateRoutes,
  runRoutes,
  pauseRoutes,
  executorRoutes,
  taskRoutes,
  planRoutes,
];

/** The loops a serving cloud runs: the cron scheduler and the lease reaper. */
export function defaultServices(): BackgroundService[] {
  return [new Scheduler(), createLeaseReaper()];
}
