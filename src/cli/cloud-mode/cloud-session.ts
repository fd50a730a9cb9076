/**
 * What every cloud-mode command starts from: the selected gateway (which
 * must use the cloud scheduler), the credentials, and a client of the
 * project's API. Nothing here connects to the warehouse.
 */
import { loadProjectEnv } from '../../engine/config/config-loader.js';
import { ConfigError, TidelineError } from '../../engine/errors.js';
import { CloudClient } from '../../executor/client/cloud-client.js';
import type { GlobalOptions } from '../cli-context.js';
import { cloudGateway } from './cloud-detect.js';
import { readCloudCredentials, type CloudCredentials } from './cloud-credentials.js';

export interface CloudSession {
  /** The project folder. */
  root: string;
  /** The gateway whose scheduler is the cloud. */
  gateway: string;
  credentials: CloudCredentials;
  client: CloudClient;
}

/** How often the CLI waits for the cloud, ms; tests shorten them. */
export interface CloudTimings {
  /** First wait between progress polls (250 ms by default); doubles while nothing happens. */
  pollMs?: number;
  /** Longest wait between polls (2 s by default). */
  maxPollMs?: number;
  /** How long a plan may stay queued before the CLI says it waits for an executor (10 s). */
  waitNoticeMs?: number;
}

/**
 * Opens a session for the project in `global.root`. The project's `.env` is
 * read as SQLMesh does, so TCLOUD_* may be set there too. Throws a one-line
 * ConfigError when the gateway is not a cloud one or credentials are missing.
 */
export function openCloudSession(
  global: GlobalOptions,
  env: Record<string, string | undefined>,
): CloudSession {
  const gateway = cloudGateway(global.root, env, global.gateway);
  if (gateway === undefined) {
    throw new TidelineError(
      `gateway ${JSON.stringify(global.gateway ?? 'default')} does not use the cloud scheduler; add \`scheduler: {type: cloud}\` to it in the project config`,
    );
  }
  const projectEnv = loadProjectEnv(global.root, { env });
  const credentials = readCloudCredentials(global.root, projectEnv, gateway);
  let client: CloudClient;
  try {
    client = new CloudClient({
      url: credentials.url,
      clientId: credentials.clientId,
      clientSecret: credentials.clientSecret,
    });
  } catch (err) {
    // A URL from tcloud.yaml is reported at the file, not at the variable.
    if (err instanceof ConfigError && err.where === 'TCLOUD_URL' && credentials.file) {
      const fromEnv = (projectEnv['TCLOUD_URL'] ?? '').trim() !== '';
      if (!fromEnv) {
        throw new ConfigError(
          `${credentials.file}: url`,
          err.message.slice('TCLOUD_URL: '.length),
          { cause: err },
        );
      }
    }
    throw err;
  }
  return { root: global.root, gateway, credentials, client };
}

/** Waits `ms`, or less when `signal` aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Runs `work` with a signal that Ctrl-C (SIGINT) aborts, for as long as the
 * CLI only waits on the cloud: the work itself goes on there.
 */
export async function untilInterrupted<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.on('SIGINT', onSigint);
  try {
    return await work(abort.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** Exit code when the user stopped waiting with Ctrl-C (128 + SIGINT). */
export const EXIT_INTERRUPTED = 130;
