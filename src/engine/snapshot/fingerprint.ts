/**
 * Fingerprints: the hashes that say whether a model changed, and how.
 *
 * The data hash covers everything that changes what a model's table holds;
 * the metadata hash covers the rest (schedule, ownership, audits, views). The
 * parent hashes fold in the parents' fingerprints, so a change upstream
 * reaches every model downstream. A snapshot's version (which names its
 * physical table) comes from the data hash and the parent data hash only.
 *
 * Hashing: each hash is the SHA-256 of the JSON array of its values (absent
 * values as `null`, so no two lists of values collide by concatenation), cut
 * to its first {@link HASH_LENGTH} lowercase hex digits. SQLMesh uses decimal
 * CRC-32 strings; ours differ in value but play the same part.
 *
 * SQL text counts after normalization: comments dropped and tokens separated
 * by single spaces, so a change of comments or layout changes no hash.
 */

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type {
  AuditCall,
  AuditDefinition,
  JinjaMacroFile,
  ModelDefinition,
  ModelKind,
  SqlFragment,
} from '../model-types.js';
import { LineIndex, scanOptionsForDialect, tokenize } from '../parse/sql-scanner.js';
import type { LoadedModel } from '../project/project-loader.js';
import type { SnapshotFingerprint } from './snapshot-types.js';

/** Length of every hash and version, in hex digits. */
export const HASH_LENGTH = 10;

/** What fingerprinting needs from a project besides the model itself (a `Project` fits). */
export interface FingerprintContext {
  /** The project folder; seed CSV files are read from here. */
  root: string;
  jinjaMacros: JinjaMacroFile[];
  /** Project variables (gateway variables overlaid). */
  variables: Record<string, unknown>;
  /** Project audits by lower-case name. */
  audits: Map<string, AuditDefinition>;
}

/** A short stable hash of a list of values (see the module comment). */
export function hashValues(values: readonly (string | undefined | null)[]): string {
  const text = JSON.stringify(values.map((v) => v ?? null));
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, HASH_LENGTH);
}

/**
 * SQL text with comments dropped and tokens joined by single spaces; strings,
 * quoted identifiers and macros are kept as written. Text the scanner cannot
 * read (a broken Jinja template, say) falls back to its whitespace collapsed.
 */
export function normalizeSql(sql: string, dialect?: string): string {
  try {
    return tokenize(sql, new LineIndex(sql, ''), scanOptionsForDialect(dialect))
      .map((t) => t.text)
      .join(' ');
  } catch {
    return sql.trim().replace(/\s+/g, ' ');
  }
}

function fragmentSql(f: SqlFragment, dialect: string): string {
  return normalizeSql(f.sql, dialect);
}

/** Seed CSV text with line endings unified and trailing blank space dropped. */
export function normalizeCsv(csv: string): string {
  return csv.replace(/\r\n?/g, '\n').trimEnd();
}

/** The CSV text of a SEED model, read from the project folder; undefined for other kinds. */
export function readSeedCsv(model: LoadedModel, root: string): string | undefined {
  if (model.definition.kind.name !== 'SEED' || model.seedPath === undefined) return undefined;
  return readFileSync(join(root, model.seedPath), 'utf8');
}

const str = (v: unknown): string | undefined => (v === undefined ? undefined : String(v));

/** Kind values that change the data (per kind, as SQLMesh splits them). */
function kindDataValues(kind: ModelKind, dialect: string): (string | undefined)[] {
  const out: (string | undefined)[] = [kind.name];
  switch (kind.name) {
    case 'VIEW':
      out.push(String(kind.materialized));
      break;
    case 'SEED':
      for (const key of Object.keys(kind.csvSettings).sort()) {
        out.push(key, JSON.stringify(kind.csvSettings[key]));
      }
      break;
    case 'INCREMENTAL_BY_TIME_RANGE':
      out.push(dialect, String(kind.lookback), kind.timeColumn.column, kind.timeColumn.format);
      break;
    case 'INCREMENTAL_BY_UNIQUE_KEY':
      out.push(dialect, String(kind.lookback), ...kind.uniqueKey.map((k) => normalizeSql(k)));
      out.push(str(kind.whenMatched && normalizeSql(kind.whenMatched)));
      out.push(str(kind.mergeFilter && normalizeSql(kind.mergeFilter)));
      break;
    case 'INCREMENTAL_BY_PARTITION':
      out.push(dialect, String(kind.lookback));
      break;
    case 'INCREMENTAL_UNMANAGED':
      out.push(String(kind.insertOverwrite));
      break;
    case 'SCD_TYPE_2_BY_TIME':
    case 'SCD_TYPE_2_BY_COLUMN':
      out.push(dialect, ...kind.uniqueKey.map((k) => normalizeSql(k)));
      out.push(kind.validFromName, kind.validToName, String(kind.invalidateHardDeletes));
      out.push(kind.timeDataType);
      if (kind.name === 'SCD_TYPE_2_BY_TIME') {
        out.push(kind.updatedAtName, String(kind.updatedAtAsValidFrom));
      } else {
        out.push(...(kind.columns === '*' ? ['*'] : kind.columns.map((c) => normalizeSql(c))));
        out.push(String(kind.executionTimeAsValidFrom));
      }
      break;
    case 'FULL':
    case 'EMBEDDED':
    case 'EXTERNAL':
      break;
  }
  return out;
}

/** Kind values that change only metadata. */
function kindMetadataValues(kind: ModelKind): (string | undefined)[] {
  switch (kind.name) {
    case 'SEED':
      return [String(kind.batchSize)];
    case 'INCREMENTAL_BY_TIME_RANGE':
    case 'INCREMENTAL_BY_UNIQUE_KEY':
    case 'INCREMENTAL_BY_PARTITION':
      return [
        str(kind.batchSize),
        str(kind.batchConcurrency),
        String(kind.forwardOnly),
        String(kind.disableRestatement),
        kind.onDestructiveChange,
        kind.autoRestatementCron,
      ];
    case 'INCREMENTAL_UNMANAGED':
    case 'SCD_TYPE_2_BY_TIME':
    case 'SCD_TYPE_2_BY_COLUMN':
      return [String(kind.forwardOnly)];
    default:
      return [];
  }
}

/**
 * Extra properties (kept as text, not modelled) that change the data; every
 * other extra property counts as metadata.
 */
function isDataExtra(key: string, kind: ModelKind): boolean {
  if (['optimize_query', 'physical_version', 'virtual_environment_mode'].includes(key)) return true;
  if (key === 'kind.dialect' || key === 'kind.updated_at_name') return true;
  return key === 'kind.batch_size' && kind.name.startsWith('SCD_TYPE_2');
}

function extraValues(def: ModelDefinition, data: boolean): string[] {
  const out: string[] = [];
  for (const key of Object.keys(def.extraProperties).sort()) {
    if (isDataExtra(key, def.kind) !== data) continue;
    out.push(key, def.extraProperties[key] ?? '');
  }
  return out;
}

function recordValues(record: Record<string, string>): string[] {
  const out: string[] = [];
  for (const key of Object.keys(record).sort()) out.push(key, normalizeSql(record[key] ?? ''));
  return out;
}

/** All SQL text a model's data depends on: query, pre- and post-statements. */
function modelSqlTexts(def: ModelDefinition): string[] {
  return [...def.preStatements, ...(def.query ? [def.query] : []), ...def.postStatements].map(
    (f) => f.sql,
  );
}

function usesJinja(text: string): boolean {
  return text.includes('{{') || text.includes('{%');
}

const MACRO_DEFINITION = /\{%-?\s*macro\s+([A-Za-z_][A-Za-z0-9_]*)/g;

function callsName(text: string, name: string): boolean {
  return new RegExp(`\\b${name}\\s*\\(`).test(text);
}

/**
 * The Jinja macro files a model's SQL calls, directly or through other macros:
 * a file counts when one of the macros it defines is called by name. Models
 * without Jinja depend on none.
 */
export function jinjaMacrosUsed(def: ModelDefinition, macros: JinjaMacroFile[]): JinjaMacroFile[] {
  const texts = modelSqlTexts(def).filter(usesJinja);
  if (texts.length === 0) return [];
  const defined = macros.map((f) => [...f.source.matchAll(MACRO_DEFINITION)].map((m) => m[1]!));
  const used = new Set<number>();
  const pending = [...texts];
  while (pending.length > 0) {
    const text = pending.pop()!;
    macros.forEach((file, i) => {
      if (used.has(i)) return;
      if ((defined[i] ?? []).some((name) => callsName(text, name))) {
        used.add(i);
        pending.push(file.source);
      }
    });
  }
  return macros.filter((_, i) => used.has(i)).sort((a, b) => (a.path < b.path ? -1 : 1));
}

/**
 * The project variables a model's SQL (and `moreSql`, such as the Jinja macro
 * files it calls) reads: `@VAR('name')`, `@name` or `@{name}` in SQLMesh
 * macros, `var('name')` in Jinja. Names compare case-insensitively.
 */
export function variablesUsed(
  def: ModelDefinition,
  variables: Record<string, unknown>,
  moreSql: string[] = [],
): Record<string, unknown> {
  const names = new Set<string>();
  for (const text of [...modelSqlTexts(def), ...moreSql]) {
    for (const m of text.matchAll(/\bvar\s*\(\s*['"]([^'"]+)['"]/gi))
      names.add(m[1]!.toLowerCase());
    for (const m of text.matchAll(/@\{?([A-Za-z_][A-Za-z0-9_]*)/g)) names.add(m[1]!.toLowerCase());
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(variables).sort()) {
    if (names.has(key.toLowerCase())) out[key] = variables[key];
  }
  return out;
}

/** JSON with object keys sorted, so equal values always render the same. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const sorted: Record<string, unknown> = {};
      for (const key of Object.keys(v).sort()) sorted[key] = (v as Record<string, unknown>)[key];
      return sorted;
    }
    return v;
  });
}

/**
 * The hash of everything that changes a model's data: query (normalized),
 * kind data values, declared columns and types, pre/post statements,
 * physical properties, partitioning, clustering, stamp, storage and table
 * format, interval unit, gateway, lookback, data-changing extra properties,
 * the Jinja macro files it calls, the project variables it reads, and for
 * SEED models the CSV content (`seedCsv` when given, else read from the project).
 */
export function modelDataHash(
  model: LoadedModel,
  ctx: FingerprintContext,
  seedCsv?: string,
): string {
  const def = model.definition;
  const d = def.dialect;
  const values: (string | undefined)[] = [
    ...kindDataValues(def.kind, d),
    def.tableFormat,
    def.storageFormat,
    'lookback' in def.kind ? String(def.kind.lookback) : undefined,
    ...def.partitionedBy.map((e) => normalizeSql(e, d)),
    '|',
    ...def.clusteredBy.map((e) => normalizeSql(e, d)),
    '|',
    def.stamp,
    def.gateway,
    def.intervalUnit,
    ...extraValues(def, true),
    '|columns',
  ];
  for (const c of def.columns ?? []) values.push(c.name, normalizeSql(c.type, d));
  values.push('|physical', ...recordValues(def.physicalProperties));
  values.push('|pre', ...def.preStatements.map((f) => fragmentSql(f, d)));
  values.push('|post', ...def.postStatements.map((f) => fragmentSql(f, d)));
  values.push('|query', def.query ? fragmentSql(def.query, d) : undefined);
  const macros = jinjaMacrosUsed(def, ctx.jinjaMacros);
  values.push('|macros');
  for (const f of macros) values.push(f.path, f.source);
  const vars = variablesUsed(
    def,
    ctx.variables,
    macros.map((f) => f.source),
  );
  values.push('|variables', stableJson(vars));
  if (def.kind.name === 'SEED') {
    const csv = seedCsv ?? readSeedCsv(model, ctx.root);
    values.push('|seed', csv === undefined ? undefined : normalizeCsv(csv));
  }
  return hashValues(values);
}

function auditValues(calls: AuditCall[], def: ModelDefinition, ctx: FingerprintContext): string[] {
  const inline = new Map(def.inlineAudits.map((a) => [a.name.toLowerCase(), a]));
  const out: string[] = [];
  const sorted = [...calls].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const call of sorted) {
    out.push(call.name);
    const key = call.name.toLowerCase();
    const audit = inline.get(key) ?? ctx.audits.get(key);
    if (audit) {
      const d = audit.dialect ?? def.dialect;
      out.push(
        ...(audit.statements ?? []).map((s) => fragmentSql(s, d)),
        fragmentSql(audit.query, d),
        d,
        String(audit.skip ?? false),
        String(audit.blocking),
        ...recordValues(audit.defaults),
      );
    }
    out.push(...recordValues(call.args));
  }
  return out;
}

/**
 * The hash of everything else: dialect, owner, description, column
 * descriptions, cron and its time zone, start, end, kind metadata values
 * (batch size, forward only, ...), tags, references, allow_partials, grains,
 * audits with their arguments (and a custom audit's query), virtual and
 * session properties, on-virtual-update statements and metadata-only extra
 * properties.
 */
export function modelMetadataHash(model: LoadedModel, ctx: FingerprintContext): string {
  const def = model.definition;
  const d = def.dialect;
  const values: (string | undefined)[] = [
    def.dialect,
    def.owner,
    def.description,
    stableJson(def.columnDescriptions),
    def.cron,
    def.cronTz,
    def.start,
    def.end,
    ...kindMetadataValues(def.kind),
    '|tags',
    ...[...def.tags].sort(),
    '|references',
    ...[...def.references].map((r) => normalizeSql(r, d)).sort(),
    String(def.allowPartials),
    '|grains',
    ...def.grains.map((g) => normalizeSql(g, d)),
    '|audits',
    ...auditValues(def.audits, def, ctx),
    '|virtual',
    ...recordValues(def.virtualProperties),
    '|session',
    ...recordValues(def.sessionProperties),
    '|on_virtual_update',
    ...def.onVirtualUpdate.map((f) => fragmentSql(f, d)),
    '|extra',
    ...extraValues(def, false),
  ];
  return hashValues(values);
}

/**
 * A model's fingerprint given its parents' fingerprints (in any order): the
 * parent data hash combines the parents' versions, the parent metadata hash
 * their metadata and parent metadata hashes, each sorted so order never matters.
 */
export function fingerprintOf(
  model: LoadedModel,
  parentFingerprints: SnapshotFingerprint[],
  ctx: FingerprintContext,
  seedCsv?: string,
): SnapshotFingerprint {
  return {
    dataHash: modelDataHash(model, ctx, seedCsv),
    metadataHash: modelMetadataHash(model, ctx),
    ...parentHashes(parentFingerprints),
  };
}

/** The parent hashes of a node whose parents have these fingerprints. */
export function parentHashes(
  parents: SnapshotFingerprint[],
): Pick<SnapshotFingerprint, 'parentDataHash' | 'parentMetadataHash'> {
  return {
    parentDataHash: hashValues(parents.map(versionOf).sort()),
    parentMetadataHash: hashValues(
      parents.flatMap((p) => [p.metadataHash, p.parentMetadataHash]).sort(),
    ),
  };
}

/**
 * A fingerprint's version: the hash of its data hash and parent data hash.
 * Changes of data here or upstream give a new version (a new physical
 * table); metadata changes keep it.
 */
export function versionOf(fp: SnapshotFingerprint): string {
  return hashValues([fp.dataHash, fp.parentDataHash]);
}

/** The snapshot identifier: the hash of all four parts of the fingerprint. */
export function identifierOf(fp: SnapshotFingerprint): string {
  return hashValues([fp.dataHash, fp.metadataHash, fp.parentDataHash, fp.parentMetadataHash]);
}
