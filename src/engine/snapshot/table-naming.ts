/**
 * Where snapshots live and how environments show them.
 *
 * A snapshot's physical table sits in schema `sqlmesh__<schema>` (same
 * catalog as the model), named `<schema>__<table>__<version>`; a dev
 * (forward-only preview) table adds `__dev`. An environment exposes each model
 * as a view: in prod under the model's own name, elsewhere in schema
 * `<schema>__<env>`.
 */

import { createHash } from 'node:crypto';

import {
  fullyQualifiedName,
  parseFullyQualifiedName,
  POSTGRES_MAX_IDENTIFIER_BYTES,
  type Identifier,
  type TableName,
} from '../sql/names.js';

/** The prefix of physical schemas. */
export const PHYSICAL_SCHEMA_PREFIX = 'sqlmesh';
/** The schema of a model named without one. */
export const DEFAULT_SCHEMA = 'default';
/** The environment whose views carry the models' own names. */
export const PROD = 'prod';

export interface NamingOptions {
  /**
   * The engine's longest identifier in UTF-8 bytes; longer ones are shortened
   * (default: PostgreSQL's 63).
   */
  maxIdentifierLength?: number;
}

export interface PhysicalNameOptions extends NamingOptions {
  /** The dev (forward-only preview) table: `__dev` is appended. */
  dev?: boolean;
}

/** Characters other than ASCII letters, digits and `_` become `_` in generated table names. */
function sanitize(name: string): string {
  return name.replace(/[^A-Za-z0-9_]/g, '_');
}

/** The longest prefix of `text` of at most `maxBytes` UTF-8 bytes, never splitting a character. */
function truncateBytes(text: string, maxBytes: number): string {
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > maxBytes) break;
    out += ch;
    bytes += n;
  }
  return out;
}

const SHORT_HASH = 8;

/**
 * `base + suffix` when it fits in `max` bytes; otherwise `base` cut short, an
 * underscore and a hash of the full name, then `suffix` kept whole. Distinct
 * names stay distinct (up to the hash) and the same name always shortens the same way.
 */
export function shortenIdentifier(base: string, suffix: string, max: number): string {
  const full = base + suffix;
  if (Buffer.byteLength(full, 'utf8') <= max) return full;
  const hash = createHash('sha256').update(full, 'utf8').digest('hex').slice(0, SHORT_HASH);
  const tail = `_${hash}${suffix}`;
  const room = max - Buffer.byteLength(tail, 'utf8');
  if (room <= 0) return truncateBytes(`${hash}${suffix}`, max);
  return truncateBytes(base, room) + tail;
}

function schemaAndTable(fqn: string): { catalog?: Identifier; schema: string; table: string } {
  const parsed = parseFullyQualifiedName(fqn);
  return {
    ...(parsed.catalog ? { catalog: parsed.catalog } : {}),
    schema: parsed.schema?.name ?? DEFAULT_SCHEMA,
    table: parsed.name.name,
  };
}

const verbatim = (name: string): Identifier => ({ name, quoted: true });

/**
 * The physical table of a model version: catalog kept, schema
 * `sqlmesh__<schema>`, table `<schema>__<table>__<version>[__dev]`, each part
 * shortened when longer than the engine allows. Parts are marked quoted: they
 * are used verbatim.
 */
export function physicalTableName(
  fqn: string,
  version: string,
  options: PhysicalNameOptions = {},
): TableName {
  const max = options.maxIdentifierLength ?? POSTGRES_MAX_IDENTIFIER_BYTES;
  const { catalog, schema, table } = schemaAndTable(fqn);
  const suffix = `__${version}${options.dev ? '__dev' : ''}`;
  return {
    ...(catalog ? { catalog } : {}),
    schema: verbatim(shortenIdentifier(`${PHYSICAL_SCHEMA_PREFIX}__${schema}`, '', max)),
    name: verbatim(shortenIdentifier(`${sanitize(schema)}__${sanitize(table)}`, suffix, max)),
  };
}

/** An environment name as used in names: trimmed and lower case. */
export function normalizeEnvironmentName(environment: string): string {
  return environment.trim().toLowerCase();
}

/**
 * The view through which an environment shows a model: in prod the model's
 * own name; in any other environment the schema becomes `<schema>__<env>`
 * (shortened when too long).
 */
export function viewName(fqn: string, environment: string, options: NamingOptions = {}): TableName {
  const max = options.maxIdentifierLength ?? POSTGRES_MAX_IDENTIFIER_BYTES;
  const env = normalizeEnvironmentName(environment);
  const { catalog, schema, table } = schemaAndTable(fqn);
  const viewSchema = env === PROD ? schema : shortenIdentifier(`${schema}__${env}`, '', max);
  return {
    ...(catalog ? { catalog } : {}),
    schema: verbatim(viewSchema),
    name: verbatim(table),
  };
}

/** A table name rendered canonically, every part double-quoted (`"c"."s"."t"`). */
export function canonicalTableName(table: TableName): string {
  return fullyQualifiedName(table, 'generic');
}
