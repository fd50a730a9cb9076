/**
 * A cloud server for tests: started on loopback over a new store of the
 * given kind, with an organization, a project and clients of every role,
 * stopped when the test file ends.
 */
import { after } from 'node:test';
import type { CloudClock, CloudSettings } from '../../src/cloud/context.js';
import type { RouteModule } from '../../src/cloud/http/app.js';
import { silentLogger } from '../../src/cloud/logger.js';
import {
  startCloudServer,
  type BackgroundService,
  type CloudServer,
} from '../../src/cloud/server.js';
import type { Role } from '../../src/cloud/store/schema.js';
import { bootstrap, createClient, type NewClient } from '../../src/cloud/tenancy.js';
import type { StoreTarget } from './stores.js';

export interface TestCloud {
  server: CloudServer;
  /** `<server>/sqlmesh/<org>/<project>`. */
  projectUrl: string;
  projectId: string;
  clients: Record<Role, NewClient>;
  /** An access token for a client (an admin's by default). */
  token(client?: NewClient): Promise<string>;
  /** A request to the project API (`path` after `<project>/api`), JSON in and out. */
  api(
    path: string,
    init?: {
      method?: string;
      body?: unknown;
      token?: string | null;
      headers?: Record<string, string>;
    },
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read response JSON freely
  ): Promise<{ status: number; body: any; headers: Headers }>;
}

export interface TestCloudOptions {
  org?: string;
  project?: string;
  clock?: CloudClock;
  settings?: Partial<CloudSettings>;
  routes?: readonly RouteModule[];
  services?: readonly BackgroundService[];
}

export async function startTestCloud(
  target: StoreTarget,
  options: TestCloudOptions = {},
): Promise<TestCloud> {
  const server = await startCloudServer({
    state: await target.newUrl(),
    log: silentLogger,
    settings: { secureCookies: false, ...options.settings },
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.routes ? { routes: options.routes } : {}),
    ...(options.services ? { services: options.services } : {}),
  });
  after(() => server.close());
  const org = options.org ?? 'acme';
  const projectName = options.project ?? 'analytics';
  const { project, client: admin } = await bootstrap(server.ctx, org, projectName);
  const clients = { admin } as Record<Role, NewClient>;
  for (const role of ['viewer', 'developer', 'executor'] as const) {
    clients[role] = await createClient(server.ctx, project.id, { name: `${role} client`, role });
  }
  const projectUrl = `${server.url}/sqlmesh/${org}/${projectName}`;
  const tokens = new Map<string, string>();
  const token = async (client: NewClient = admin): Promise<string> => {
    const cached = tokens.get(client.clientId);
    if (cached) return cached;
    const res = await fetch(`${projectUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: client.clientId,
        client_secret: client.clientSecret,
      }),
    });
    const body = (await res.json()) as { access_token?: string };
    if (!res.ok || !body.access_token) throw new Error(`token request failed: ${res.status}`);
    tokens.set(client.clientId, body.access_token);
    return body.access_token;
  };
  const api: TestCloud['api'] = async (path, init = {}) => {
    const headers: Record<string, string> = { ...init.headers };
    const bearer = init.token === undefined ? await token() : init.token;
    if (bearer !== null) headers['authorization'] = `Bearer ${bearer}`;
    let body: string | undefined;
    if (init.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
    }
    const res = await fetch(`${projectUrl}/api${path}`, {
      method: init.method ?? (body === undefined ? 'GET' : 'POST'),
      headers,
      ...(body !== undefined ? { body } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
  return { server, projectUrl, projectId: project.id, clients, token, api };
}
