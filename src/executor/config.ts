/**
 * An executor is configured by its environment only: `TCLOUD_URL`,
 * `TCLOUD_CLIENT_ID`, `TCLOUD_CLIENT_SECRET`, optionally `TCLOUD_ENV_FILE`
 * (a .env file re-read when it changes), and SQLMesh overrides naming its
 * gateways (`SQLMESH__GATEWAYS__<GW>__CONNECTION__<PARAM>`,
 * `SQLMESH__DEFAULT_GATEWAY`). Values from the env file win over the process
 * environment, except the four TCLOUD variables that must be on the process.
 */
import { existsSync, statSync, watch, type FSWatcher } from 'node:fs';
import { hostname } from 'node:os';
import type { ConnectionConfig } from '../engine/config/config-types.js';
import { parseConnectionConfig } from '../engine/config/connection-config.js';
import { readDotenvFile } from '../engine/config/dotenv.js';
import { applyEnvOverrides } from '../engine/config/env-overrides.js';
import { ConfigError } from '../engine/errors.js';

export type Env = Record<string, string | undefined>;

export interface CloudCredentials {
  /** The project URL, `<server>/sqlmesh/<org>/<project>`. */
  url: string;
  clientId: string;
  clientSecret: string;
}

export interface ExecutorGateway {
  name: string;
  connection: ConnectionConfig;
}

export interface ExecutorSettings {
  credentials: CloudCredentials;
  /** Gateways by lower-case name; the default one first. */
  gateways: ExecutorGateway[];
  defaultGateway: string;
  /** Evaluations at once (run executors): `TCLOUD_CONCURRENCY`, default 4. */
  concurrency: number;
  /** The name shown in the registry: `TCLOUD_EXECUTOR_NAME`, default the host name. */
  name: string;
  /** Extra variable names whose values are redacted from logs (`TCLOUD_REDACT`, comma separated). */
  redact: string[];
  /** The environment the settings were read from (process + env file). */
  env: Env;
}

/** Thrown for a missing or malformed TCLOUD variable: one line naming it. */
export class ExecutorConfigError extends ConfigError {}

function required(env: Env, name: string, hint: string): string {
  const value = env[name]?.trim();
  if (!value) throw new ExecutorConfigError(name, `is not set; ${hint}`);
  return value;
}

/** Reads and checks the TCLOUD variables. They must be on the process itself. */
export function readCredentials(processEnv: Env): CloudCredentials {
  const url = required(
    processEnv,
    'TCLOUD_URL',
    'set it to the project URL, https://<server>/sqlmesh/<org>/<project>',
  );
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ExecutorConfigError(
      'TCLOUD_URL',
      `${JSON.stringify(url)} is not a URL; set it to https://<server>/sqlmesh/<org>/<project>`,
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ExecutorConfigError(
      'TCLOUD_URL',
      `must start with https:// (or http:// on a private network)`,
    );
  }
  if (!/^\/sqlmesh\/[^/]+\/[^/]+\/?$/.test(parsed.pathname)) {
    throw new ExecutorConfigError(
      'TCLOUD_URL',
      `${JSON.stringify(url)} does not name a project; it must end in /sqlmesh/<org>/<project>`,
    );
  }
  if (parsed.username || parsed.password) {
    throw new ExecutorConfigError(
      'TCLOUD_URL',
      'must not hold credentials; use TCLOUD_CLIENT_ID and TCLOUD_CLIENT_SECRET',
    );
  }
  const clientId = required(
    processEnv,
    'TCLOUD_CLIENT_ID',
    'set it to the OAuth client id an admin created for this executor',
  );
  const clientSecret = required(
    processEnv,
    'TCLOUD_CLIENT_SECRET',
    'set it to the secret shown when the client was created',
  );
  return { url: url.replace(/\/+$/, ''), clientId, clientSecret };
}

/** The process environment overlaid with TCLOUD_ENV_FILE's values (when set). */
export function effectiveEnv(processEnv: Env): Env {
  const file = processEnv['TCLOUD_ENV_FILE']?.trim();
  if (!file) return { ...processEnv };
  if (!existsSync(file) || !statSync(file).isFile()) {
    throw new ExecutorConfigError(
      'TCLOUD_ENV_FILE',
      `${JSON.stringify(file)} is not a readable file`,
    );
  }
  const values = readDotenvFile(file, processEnv) ?? {};
  const merged: Env = { ...processEnv, ...values };
  // The TCLOUD credentials come from the process only.
  for (const name of [
    'TCLOUD_URL',
    'TCLOUD_CLIENT_ID',
    'TCLOUD_CLIENT_SECRET',
    'TCLOUD_ENV_FILE',
  ]) {
    merged[name] = processEnv[name];
  }
  return merged;
}

/** The gateways the SQLMESH__ variables describe. */
export function readGateways(env: Env): { gateways: ExecutorGateway[]; defaultGateway: string } {
  const { tree } = applyEnvOverrides({}, env);
  const rawGateways = (tree['gateways'] ?? {}) as Record<string, unknown>;
  const gateways: ExecutorGateway[] = [];
  for (const [name, raw] of Object.entries(rawGateways)) {
    const gw = (raw ?? {}) as Record<string, unknown>;
    if (gw['connection'] === undefined) continue;
    const where = `SQLMESH__GATEWAYS__${name.toUpperCase()}__CONNECTION`;
    gateways.push({
      name: name.toLowerCase(),
      connection: parseConnectionConfig(gw['connection'], where),
    });
  }
  const wanted =
    typeof tree['default_gateway'] === 'string' ? tree['default_gateway'].toLowerCase() : undefined;
  if (gateways.length === 0) {
    throw new ExecutorConfigError(
      'SQLMESH__GATEWAYS__<GATEWAY>__CONNECTION__TYPE',
      'no gateway is configured; set at least the TYPE (and connection settings) of one gateway',
    );
  }
  const defaultGateway = wanted ?? gateways[0]!.name;
  if (!gateways.some((g) => g.name === defaultGateway)) {
    throw new ExecutorConfigError(
      'SQLMESH__DEFAULT_GATEWAY',
      `names ${JSON.stringify(defaultGateway)}, but only ${gateways.map((g) => g.name).join(', ')} ${gateways.length === 1 ? 'is' : 'are'} configured`,
    );
  }
  gateways.sort((a, b) =>
    a.name === defaultGateway ? -1 : b.name === defaultGateway ? 1 : a.name < b.name ? -1 : 1,
  );
  return { gateways, defaultGateway };
}

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new ExecutorConfigError(
      name,
      `must be a whole number from 1 to 256, got ${JSON.stringify(raw)}`,
    );
  }
  return n;
}

/** Everything an executor needs, read from its environment. */
export function readExecutorSettings(processEnv: Env): ExecutorSettings {
  const credentials = readCredentials(processEnv);
  const env = effectiveEnv(processEnv);
  const { gateways, defaultGateway } = readGateways(env);
  return {
    credentials,
    gateways,
    defaultGateway,
    concurrency: positiveInt(env, 'TCLOUD_CONCURRENCY', 4),
    name: env['TCLOUD_EXECUTOR_NAME']?.trim() || hostname(),
    redact: (env['TCLOUD_REDACT'] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    env,
  };
}

/**
 * Watches TCLOUD_ENV_FILE and re-reads the settings when it changes (with a
 * polling fallback, since file events are not reliable everywhere). A file
 * that turns invalid keeps the previous settings and reports the error.
 */
export class EnvFileWatcher {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastStamp = '';

  constructor(
    private readonly processEnv: Env,
    private readonly onChange: (settings: ExecutorSettings) => void,
    private readonly onError: (error: Error) => void,
    private readonly pollMs = 2000,
  ) {}

  private stamp(file: string): string {
    try {
      const s = statSync(file);
      return `${s.mtimeMs}:${s.size}`;
    } catch {
      return 'missing';
    }
  }

  private check(file: string): void {
    const stamp = this.stamp(file);
    if (stamp === this.lastStamp) return;
    this.lastStamp = stamp;
    try {
      this.onChange(readExecutorSettings(this.processEnv));
    } catch (err) {
      this.onError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  start(): void {
    const file = this.processEnv['TCLOUD_ENV_FILE']?.trim();
    if (!file) return;
    this.lastStamp = this.stamp(file);
    try {
      this.watcher = watch(file, { persistent: false }, () => this.check(file));
    } catch {
      this.watcher = undefined;
    }
    this.timer = setInterval(() => this.check(file), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
  }
}
