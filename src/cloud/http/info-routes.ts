/**
 * What the server speaks: `GET <project>/api/protocol` answers the protocol
 * version to any authenticated caller (executors check it in `--check`).
 */
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import type { RouteModule } from './app.js';

export const infoRoutes: RouteModule = {
  name: 'info',
  project(app) {
    app.get('/protocol', (c) =>
      c.json({ protocolVersion: `${PROTOCOL_VERSION.major}.${PROTOCOL_VERSION.minor}` }),
    );
  },
};
