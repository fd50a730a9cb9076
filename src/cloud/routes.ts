/** Every route module the cloud serves, in registration order, and its background services. */
import { tokenRoutes } from './auth/token-routes.js';
import { createLeaseReaper } from './queue/lease-reaper.js';
import { createLogRetention } from './observe/log-retention.js';
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
import { observeRoutes } from './observe/observe-routes.js';
import { webRoutes } from './web/web-routes.js';
import { connectionRoutes } from './connections/connection-routes.js';

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
  observeRoutes,
  connectionRoutes,
  webRoutes,
];

/** The loops a serving cloud runs: the cron scheduler, the lease reaper, log retention. */
export function defaultServices(): BackgroundService[] {
  return [new Scheduler(), createLeaseReaper(), createLogRetention()];
}
