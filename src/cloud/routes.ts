/** Every route module the cloud serves, in registration order. */
import { tokenRoutes } from './auth/token-routes.js';
import type { RouteModule } from './http/app.js';
import { infoRoutes } from './http/info-routes.js';
import { stateRoutes } from './state/state-routes.js';

export const ALL_ROUTES: readonly RouteModule[] = [tokenRoutes, infoRoutes, stateRoutes];
