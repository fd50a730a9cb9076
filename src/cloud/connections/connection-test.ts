/**
 * The check a connection passes before it is saved: the engine's adapter
 * connects and runs `SELECT 1` within a time limit. The reason of a failure
 * is the engine's own one line, with the connection's secret values hidden.
 */
import { createAdapter, describeConnectionError } from '../../engine/adapters/adapter-factory.js';
import type { ConnectionConfig } from '../../engine/config/config-types.js';
import { TidelineError } from '../../engine/errors.js';

/** The connection did not answer, or not in time; `message` is one line. */
export class ConnectionTestError extends TidelineError {
  override name = 'ConnectionTestError';
}

export interface ConnectionTestOptions {
  /** Where relative DuckDB paths resolve. */
  dataDir: string;
  /** Longest wait for the warehouse's answer, ms. */
  timeoutMs: number;
  /** Values to hide from the reason (passwords). */
  secrets?: readonly string[];
}

const SECRET_KEY = /password|secret|token|key/i;

/** The string values of secret-looking settings (password, token...), at any depth. */
export function secretValuesOf(settings: unknown, secretParent = false): string[] {
  if (typeof settings === 'string') return secretParent ? [settings] : [];
  if (Array.isArray(settings)) return settings.flatMap((v) => secretValuesOf(v, secretParent));
  if (settings === null || typeof settings !== 'object') return [];
  return Object.entries(settings).flatMap(([k, v]) =>
    secretValuesOf(v, secretParent || SECRET_KEY.test(k)),
  );
}

/** `text` with every secret value (and its URL-encoded form) replaced by `***`. */
export function hideSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of [...secrets].filter((v) => v.length >= 3).sort((a, b) => b.length - a.length)) {
    out = out.split(s).join('***');
    out = out.split(encodeURIComponent(s)).join('***');
  }
  return out;
}

/** Connects with `config` and pings; throws ConnectionTestError with the reason. */
export async function testConnection(
  gateway: string,
  config: ConnectionConfig,
  options: ConnectionTestOptions,
): Promise<void> {
  const adapter = createAdapter(config, { projectRoot: options.dataDir });
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  try {
    await Promise.race([
      adapter.ping(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          reject(new Error(`no answer within ${Math.round(options.timeoutMs / 100) / 10} s`));
        }, options.timeoutMs);
      }),
    ]);
  } catch (err) {
    const reason = timedOut ? (err as Error).message : describeConnectionError(err);
    throw new ConnectionTestError(
      `the ${config.type} connection of gateway ${JSON.stringify(gateway)} failed its test: ${hideSecrets(reason, options.secrets ?? [])}`,
      { cause: err },
    );
  } finally {
    if (timer) clearTimeout(timer);
    // A timed-out attempt may still be connecting: close without waiting for it.
    const closing = adapter.close().catch(() => undefined);
    if (!timedOut) await closing;
  }
}
