/**
 * The environment of a cloud-hosted executor: the same variables a user
 * gives a hybrid executor. Stored connections become SQLMesh overrides,
 * `SQLMESH__GATEWAYS__<GATEWAY>__CONNECTION__<SETTING>=<value>`, with
 * mappings and lists as JSON text (which the engine's config reader accepts
 * for such settings), and `SQLMESH__DEFAULT_GATEWAY` naming the default one.
 */
import { settingsOf } from '../connections/connection-input.js';
import type { OpenedConnection } from '../connections/connection-store.js';

/** Variables of the cloud's own environment that children get (nothing secret). */
const INHERITED = [
  'PATH',
  'HOME',
  'TMPDIR',
  'TEMP',
  'TMP',
  'TZ',
  'LANG',
  'LC_ALL',
  'SYSTEMROOT',
  'NODE_EXTRA_CA_CERTS',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
];

/** The SQLMESH__ variables for `connections` (the default gateway first). */
export function connectionEnv(connections: readonly OpenedConnection[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const c of connections) {
    const prefix = `SQLMESH__GATEWAYS__${c.gateway.toUpperCase()}__CONNECTION__`;
    for (const [key, value] of Object.entries(settingsOf(c.text))) {
      if (value === null || value === undefined) continue;
      env[`${prefix}${key.toUpperCase()}`] =
        typeof value === 'object' ? JSON.stringify(value) : String(value);
    }
  }
  const first = connections[0];
  if (first) env['SQLMESH__DEFAULT_GATEWAY'] = first.gateway;
  return env;
}

/** The non-secret part of the cloud's environment that children inherit. */
export function inheritedEnv(from: Record<string, string | undefined>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED) {
    const value = from[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}
