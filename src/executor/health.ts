/**
 * Health of an executor: `--check` (one line per check, for humans and
 * container health checks) and an optional HTTP port with `/livez`,
 * `/readyz` and `/metrics` (Prometheus text). Nothing else listens.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudApiError, CloudClient } from './client/cloud-client.js';
import { readExecutorSettings, type Env } from './config.js';
import { createRedactor } from './redact.js';
import { announcedProtocolVersion, type Executor } from './runtime.js';

export interface CheckLine {
  name: string;
  ok: boolean;
  detail: string;
}

/** The cloud accepts an executor of its major version whose minor version is not newer. */
function compatible(executor: string, server: string): boolean {
  const [major, minor] = server.split('.').map(Number);
  const [ownMajor, ownMinor] = executor.split('.').map(Number);
  return major === ownMajor && (minor ?? 0) >= (ownMinor ?? 0);
}

/**
 * Runs every check and returns one line each: the cloud answers, the
 * credentials are accepted, the protocol versions agree, each gateway connects.
 */
export async function runChecks(
  env: Env,
  options: { timeoutMs?: number } = {},
): Promise<CheckLine[]> {
  const lines: CheckLine[] = [];
  let settings;
  try {
    settings = readExecutorSettings(env);
  } catch (err) {
    return [
      {
        name: 'configuration',
        ok: false,
        detail: err instanceof Error ? err.message : String(err),
      },
    ];
  }
  const redact = createRedactor(settings.env, settings.redact);
  lines.push({ name: 'configuration', ok: true, detail: `${settings.gateways.length} gateway(s)` });
  const timeoutMs = options.timeoutMs ?? 10_000;
  const { url } = settings.credentials;
  let reachable = false;
  try {
    const res = await fetch(`${url}/.well-known/oauth-authorization-server`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    reachable = res.status < 500;
    lines.push({
      name: 'cloud reachable',
      ok: res.ok,
      detail: res.ok
        ? url
        : `${url} answered ${res.status}${res.status === 404 ? ' (check the org and project in TCLOUD_URL)' : ''}`,
    });
  } catch (err) {
    lines.push({
      name: 'cloud reachable',
      ok: false,
      detail: `${url}: ${redact(err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err))}`,
    });
  }
  if (reachable) {
    const client = new CloudClient({
      url,
      clientId: settings.credentials.clientId,
      clientSecret: settings.credentials.clientSecret,
      timeoutMs,
      maxRetries: 0,
    });
    try {
      await client.accessToken(true);
      lines.push({ name: 'credentials accepted', ok: true, detail: settings.credentials.clientId });
      try {
        const info = await client.request<{ protocolVersion: string }>('GET', '/protocol');
        const own = announcedProtocolVersion(env);
        const ok = compatible(own, info.protocolVersion);
        lines.push({
          name: 'protocol compatible',
          ok,
          detail: ok
            ? `executor ${own}, cloud ${info.protocolVersion}`
            : `executor speaks ${own} but the cloud speaks ${info.protocolVersion}; upgrade the older one`,
        });
      } catch (err) {
        lines.push({
          name: 'protocol compatible',
          ok: false,
          detail: redact(err instanceof Error ? err.message : String(err)),
        });
      }
    } catch (err) {
      const detail =
        err instanceof CloudApiError && (err.status === 400 || err.status === 401)
          ? `the cloud refused client ${settings.credentials.clientId}; check TCLOUD_CLIENT_ID and TCLOUD_CLIENT_SECRET`
          : redact(err instanceof Error ? err.message : String(err));
      lines.push({ name: 'credentials accepted', ok: false, detail });
    }
  }
  for (const gw of settings.gateways) {
    const { createAdapter, describeConnectionError } =
      await import('../engine/adapters/adapter-factory.js');
    const adapter = createAdapter(gw.connection, { projectRoot: process.cwd() });
    try {
      await Promise.race([
        adapter.ping(),
        new Promise((_, reject) =>
          setTimeout(
            () => reject(new Error(`no answer within ${timeoutMs} ms`)),
            timeoutMs,
          ).unref(),
        ),
      ]);
      lines.push({
        name: `gateway ${gw.name} (${gw.connection.type})`,
        ok: true,
        detail: 'connection succeeded',
      });
    } catch (err) {
      lines.push({
        name: `gateway ${gw.name} (${gw.connection.type})`,
        ok: false,
        detail: redact(describeConnectionError(err)),
      });
    } finally {
      await adapter.close().catch(() => undefined);
    }
  }
  return lines;
}

export function formatCheck(line: CheckLine): string {
  return `${line.ok ? 'ok  ' : 'FAIL'} ${line.name}: ${line.detail}`;
}

/** Prometheus text for an executor's counters. */
export function metricsText(executor: Executor): string {
  const s = executor.stats;
  const kind = executor.kind;
  const mem = process.memoryUsage();
  const lines = [
    '# HELP tideline_executor_tasks_total Tasks finished by this executor, by result.',
    '# TYPE tideline_executor_tasks_total counter',
    `tideline_executor_tasks_total{kind="${kind}",result="completed"} ${s.completed}`,
    `tideline_executor_tasks_total{kind="${kind}",result="failed"} ${s.failed}`,
    `tideline_executor_tasks_total{kind="${kind}",result="aborted"} ${s.aborted}`,
    '# HELP tideline_executor_running_tasks Tasks running now.',
    '# TYPE tideline_executor_running_tasks gauge',
    `tideline_executor_running_tasks{kind="${kind}"} ${s.running}`,
    '# HELP tideline_executor_cloud_up 1 when the last request to the cloud succeeded.',
    '# TYPE tideline_executor_cloud_up gauge',
    `tideline_executor_cloud_up{kind="${kind}"} ${s.cloudUp ? 1 : 0}`,
    '# HELP process_resident_memory_bytes Resident memory size in bytes.',
    '# TYPE process_resident_memory_bytes gauge',
    `process_resident_memory_bytes ${mem.rss}`,
    '# HELP nodejs_heap_used_bytes V8 heap in use.',
    '# TYPE nodejs_heap_used_bytes gauge',
    `nodejs_heap_used_bytes ${mem.heapUsed}`,
  ];
  return lines.join('\n') + '\n';
}

/** Serves /livez, /readyz and /metrics; every other path is 404. */
export async function startHealthServer(
  executor: Executor,
  port: number,
  host = '0.0.0.0',
): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ready = executor.stats.registered && executor.stats.cloudUp;
      res
        .writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' })
        .end(
          ready
            ? 'ready\n'
            : executor.stats.registered
              ? 'cloud unreachable\n'
              : 'not registered\n',
        );
    } else if (path === '/metrics') {
      res
        .writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
        .end(metricsText(executor));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
