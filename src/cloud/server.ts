/**
 * Starting and stopping the cloud: open the store, build the context and the
 * app, listen on HTTP, run the background loops (scheduler, lease reaper,
 * retention), and stop them all on close.
 */
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import {
  createCloudContext,
  type CloudClock,
  type CloudContext,
  type CloudSettings,
} from './context.js';
import { createCloudApp, type RouteModule } from './http/app.js';
import type { Logger } from './logger.js';
import { ALL_ROUTES } from './routes.js';
import { executorNotesWritten } from './queue/executor-bookkeeping.js';
import { eventsWritten } from './observe/event-log.js';
import { openStore } from './store/database.js';

/** A loop the server runs beside the HTTP listener (scheduler, reaper...). */
export interface BackgroundService {
  name: string;
  start(ctx: CloudContext): void;
  stop(): Promise<void>;
}

export interface CloudServerOptions {
  /** Store URL: `sqlite:./tideline.db`, `sqlite::memory:`, `postgres://...`. */
  state: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  clock?: CloudClock;
  signingKey?: Uint8Array;
  settings?: Partial<CloudSettings>;
  log?: Logger;
  routes?: readonly RouteModule[];
  services?: readonly BackgroundService[];
  /** Working folder for relative SQLite paths. */
  cwd?: string;
}

export interface CloudServer {
  ctx: CloudContext;
  /** `http://host:port`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startCloudServer(options: CloudServerOptions): Promise<CloudServer> {
  const store = await openStore(options.state, options.cwd ? { cwd: options.cwd } : {});
  const ctx = createCloudContext({
    store,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.signingKey ? { signingKey: options.signingKey } : {}),
    ...(options.settings ? { settings: options.settings } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  const app = createCloudApp(ctx, options.routes ?? ALL_ROUTES);
  const server = createAdaptorServer({ fetch: app.fetch });
  const host = options.host ?? '127.0.0.1';
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => resolve());
    });
  } catch (err) {
    await store.close();
    throw err;
  }
  const services = options.services ?? [];
  for (const s of services) s.start(ctx);
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  ctx.log.info('cloud listening', { url, store: store.where });
  let closed = false;
  return {
    ctx,
    url,
    port,
    async close() {
      if (closed) return;
      closed = true;
      for (const s of services) await s.stop().catch(() => undefined);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Long polls and event streams end with the process's sockets.
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      // The executors' last-seen times and counts noted meanwhile, and the
      // events published by the last requests.
      await executorNotesWritten(ctx).catch(() => undefined);
      await eventsWritten(ctx);
      await store.close();
    },
  };
}
