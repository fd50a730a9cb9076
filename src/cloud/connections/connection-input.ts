/**
 * Reading a connection as an admin sends it: the gateway name from the path
 * and the settings as YAML, written as under `gateways.<name>.connection` in
 * config.yaml (`type: postgres`, `host: ...`, `password: ...`). The engine's
 * connection parser checks them, so the cloud accepts exactly what a
 * project's config.yaml would, with the same one-line errors naming the key.
 */
import { parseDocument, stringify } from 'yaml';
import type { ConnectionConfig } from '../../engine/config/config-types.js';
import { parseConnectionConfig } from '../../engine/config/connection-config.js';
import { ConfigError } from '../../engine/errors.js';

/** Largest connection YAML accepted, bytes: settings are short, so anything larger is a mistake. */
export const MAX_CONNECTION_BYTES = 64 * 1024;

/**
 * Gateway names: lower-case letters, digits and single underscores, as they
 * travel to executors inside `SQLMESH__GATEWAYS__<NAME>__CONNECTION__...`
 * variable names (where a double underscore would split the name).
 */
const GATEWAY = /^[a-z0-9](?:_?[a-z0-9])*$/;
export const MAX_GATEWAY_NAME = 63;

/** The gateway name in canonical (lower) case, or a ConfigError saying what to use. */
export function checkGatewayName(name: string): string {
  const lower = name.toLowerCase();
  if (lower.length > MAX_GATEWAY_NAME || !GATEWAY.test(lower)) {
    throw new ConfigError(
      'gateway',
      `${JSON.stringify(name.slice(0, 80))} is not a gateway name; use 1-${MAX_GATEWAY_NAME} letters and digits, optionally joined by single underscores`,
    );
  }
  return lower;
}

export interface ParsedConnection {
  gateway: string;
  /** The settings as written (snake_case keys), for executors' environment variables. */
  settings: Record<string, unknown>;
  /** The validated connection, for the connection test. */
  config: ConnectionConfig;
  /** Settings SQLMesh knows that Tideline ignores. */
  warnings: string[];
  /** The text that is sealed and stored: the settings as YAML. */
  text: string;
}

function yamlProblem(message: string, pos?: { line: number; col: number }): string {
  // The library's messages end in a code excerpt after the first line; keep the first.
  const first = (message.split('\n')[0] ?? message)
    .replace(/ at line \d+, column \d+:?$/, '')
    .replace(/:$/, '');
  return pos ? `line ${pos.line}, column ${pos.col}: ${first}` : first;
}

/**
 * Parses and validates connection settings for `gateway` (already checked).
 * Malformed YAML, a document that is not a mapping, unknown keys and values
 * of the wrong type are ConfigErrors of one line.
 */
export function parseConnectionYaml(gateway: string, yamlText: string): ParsedConnection {
  const where = `connections.${gateway}`;
  if (Buffer.byteLength(yamlText, 'utf8') > MAX_CONNECTION_BYTES) {
    throw new ConfigError(where, `the settings are larger than ${MAX_CONNECTION_BYTES} bytes`);
  }
  if (yamlText.includes('\u0000')) {
    throw new ConfigError(where, 'the settings contain a NUL character');
  }
  const doc = parseDocument(yamlText, { prettyErrors: true, uniqueKeys: true });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) {
    throw new ConfigError(
      where,
      `is not valid YAML: ${yamlProblem(problem.message, problem.linePos?.[0])}`,
    );
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 0 });
  } catch {
    throw new ConfigError(where, 'uses a YAML alias (*name); write the values out in full');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Map) {
    throw new ConfigError(
      where,
      'must be a mapping of connection settings, such as `type: postgres` followed by host, user, password and database',
    );
  }
  const settings = raw as Record<string, unknown>;
  const warnings: string[] = [];
  const config = parseConnectionConfig(settings, where, warnings);
  return { gateway, settings, config, warnings, text: stringify(settings) };
}

/** The settings of a stored (decrypted) connection text. */
export function settingsOf(text: string): Record<string, unknown> {
  const raw: unknown = parseDocument(text).toJS({ maxAliasCount: 0 });
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return {};
  return raw as Record<string, unknown>;
}
