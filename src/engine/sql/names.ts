/**
 * Table names as a project writes them (`sushi.orders`, `"my-db".raw.items`,
 * `` `my-project`.ds.t ``): parsing into parts, case-folding per dialect,
 * qualifying with a default catalog, and rendering them back as SQL.
 */
import { ProjectError, type SourceLocation } from '../errors.js';
import { resolveDialect, type NormalizationStrategy, type SqlDialect } from './dialects.js';

/** One part of a name, with whether it was written in quotes. */
export interface Identifier {
  name: string;
  quoted: boolean;
}

/** A table name of one to three parts: `[catalog.][schema.]name`. */
export interface TableName {
  catalog?: Identifier;
  schema?: Identifier;
  name: Identifier;
}

/** PostgreSQL truncates identifiers longer than this many bytes. */
export const POSTGRES_MAX_IDENTIFIER_BYTES = 63;

const SIMPLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Words that must be quoted to be used as a name in most dialects. Not every
 * dialect reserves all of them; quoting one needlessly is harmless.
 */
const RESERVED = new Set(
  (
    'all analyse analyze and any array as asc asymmetric authorization between both case cast ' +
    'check collate column constraint create cross current_catalog current_date current_role ' +
    'current_schema current_time current_timestamp current_user default deferrable desc distinct ' +
    'do else end except exists false fetch filter for foreign from full grant group having ilike ' +
    'in initially inner intersect interval into is join lateral leading left like limit localtime ' +
    'localtimestamp natural not null offset on only or order outer over overlaps placing primary ' +
    'qualify references returning right select session_user similar some symmetric table then to ' +
    'trailing true union unique user using variadic when where window with'
  ).split(' '),
);

function foldCase(value: string, quoted: boolean, strategy: NormalizationStrategy): string {
  switch (strategy) {
    case 'lowercase':
      return quoted ? value : value.toLowerCase();
    case 'uppercase':
      return quoted ? value : value.toUpperCase();
    case 'case_insensitive':
      return value.toLowerCase();
    case 'case_sensitive':
      return value;
  }
}

/** The identifier as the dialect resolves it (case-folded per its strategy). */
export function normalizeIdentifier(
  id: Identifier,
  dialect: string | SqlDialect,
  kind: 'table' | 'other' = 'other',
): Identifier {
  const d = resolveDialect(dialect);
  const strategy = kind === 'table' ? d.tableNormalization : d.normalization;
  return { name: foldCase(id.name, id.quoted, strategy), quoted: id.quoted };
}

/** Every part of a table name case-folded as the dialect resolves table names. */
export function normalizeTableName(table: TableName, dialect: string | SqlDialect): TableName {
  const d = resolveDialect(dialect);
  const out: TableName = { name: normalizeIdentifier(table.name, d, 'table') };
  if (table.schema) out.schema = normalizeIdentifier(table.schema, d, 'table');
  if (table.catalog) out.catalog = normalizeIdentifier(table.catalog, d, 'table');
  return out;
}

/**
 * Adds the default catalog to a name that has a schema but no catalog, as
 * SQLMesh does; a bare table name is left alone. `defaultCatalog` is taken as
 * the warehouse reports it, so it is treated as quoted (kept verbatim).
 */
export function qualifyTableName(table: TableName, defaultCatalog: string | undefined): TableName {
  if (!defaultCatalog || table.catalog || !table.schema) return table;
  return { ...table, catalog: { name: defaultCatalog, quoted: true } };
}

function parts(table: TableName): Identifier[] {
  const out: Identifier[] = [];
  if (table.catalog) out.push(table.catalog);
  if (table.schema) out.push(table.schema);
  out.push(table.name);
  return out;
}

/**
 * Parses a dotted table name. Parts may be quoted with `"`, or with the
 * dialect's own quotes (backticks, brackets); a doubled closing quote inside
 * stands for itself. `location` is where the name starts, for error messages.
 */
export function parseTableName(
  text: string,
  dialect: string | SqlDialect,
  location?: SourceLocation,
): TableName {
  const d = resolveDialect(dialect);
  const fail = (reason: string, offset: number): never => {
    const at = location ? { ...location, column: location.column + offset } : undefined;
    throw new ProjectError(`${reason} in table name '${text}'`, at);
  };
  const ids: Identifier[] = [];
  let i = 0;
  const s = text.trim();
  const lead = text.indexOf(s);
  for (;;) {
    const start = i;
    const ch = s[i];
    const close =
      ch === '"' ? '"' : ch === '`' ? '`' : ch === d.quoteStart ? d.quoteEnd : undefined;
    if (close !== undefined) {
      let name = '';
      i++;
      for (;;) {
        if (i >= s.length) fail('unterminated quoted identifier', lead + start);
        if (s[i] === close) {
          if (s[i + 1] === close) {
            name += close;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        name += s[i];
        i++;
      }
      if (name === '') fail('empty identifier', lead + start);
      ids.push({ name, quoted: true });
    } else {
      const word = d.allowsDashInNames ? /^[A-Za-z0-9_$-]+/ : /^[A-Za-z0-9_$]+/;
      const m = word.exec(s.slice(i));
      if (!m) {
        fail(i >= s.length ? 'missing identifier' : `unexpected character '${s[i]}'`, lead + i);
      } else {
        ids.push({ name: m[0], quoted: false });
        i += m[0].length;
      }
    }
    if (i >= s.length) break;
    if (s[i] !== '.') fail(`unexpected character '${s[i]}'`, lead + i);
    i++;
  }
  if (ids.length > 3) fail('too many parts (at most catalog.schema.table)', lead);
  const [a, b, c] = ids;
  if (ids.length === 3)
    return { catalog: a as Identifier, schema: b as Identifier, name: c as Identifier };
  if (ids.length === 2) return { schema: a as Identifier, name: b as Identifier };
  return { name: a as Identifier };
}

/**
 * Whether a name must be quoted to mean itself in the dialect: it is not a
 * plain word, it is a reserved word, or case folding would change it.
 */
export function needsQuoting(name: string, dialect: string | SqlDialect): boolean {
  const d = resolveDialect(dialect);
  if (!SIMPLE_NAME.test(name)) return true;
  if (RESERVED.has(name.toLowerCase())) return true;
  if (d.normalization === 'lowercase') return name !== name.toLowerCase();
  if (d.normalization === 'uppercase') return name !== name.toUpperCase();
  return false;
}

/** The name in the dialect's quotes, with embedded closing quotes doubled. */
export function quoteIdentifier(name: string, dialect: string | SqlDialect): string {
  const d = resolveDialect(dialect);
  return d.quoteStart + name.split(d.quoteEnd).join(d.quoteEnd + d.quoteEnd) + d.quoteEnd;
}

/** The name as SQL for the dialect: quoted when `always` is set or when it needs quoting. */
export function renderIdentifier(
  name: string,
  dialect: string | SqlDialect,
  options: { always?: boolean } = {},
): string {
  return options.always || needsQuoting(name, dialect) ? quoteIdentifier(name, dialect) : name;
}

/** The table name as SQL for the dialect, each part quoted when needed (or always). */
export function renderTableName(
  table: TableName,
  dialect: string | SqlDialect,
  options: { always?: boolean } = {},
): string {
  const d = resolveDialect(dialect);
  return parts(table)
    .map((p) => renderIdentifier(p.name, d, options))
    .join('.');
}

/**
 * The canonical fully-qualified name of a model or table, as SQLMesh's `fqn`:
 * parsed in the model's dialect, qualified with the default catalog, case-folded,
 * and every part double-quoted (`"catalog"."schema"."table"`), whatever the dialect.
 */
export function fullyQualifiedName(
  name: string | TableName,
  dialect: string | SqlDialect,
  defaultCatalog?: string,
  location?: SourceLocation,
): string {
  const d = resolveDialect(dialect);
  const table = typeof name === 'string' ? parseTableName(name, d, location) : name;
  const normalized = normalizeTableName(qualifyTableName(table, defaultCatalog), d);
  return parts(normalized)
    .map((p) => `"${p.name.split('"').join('""')}"`)
    .join('.');
}

/**
 * The name to show a user: the catalog left out when it is the default one,
 * and a part quoted only when it is not a plain word (`"my-db".raw.items`).
 */
export function displayName(
  name: string | TableName,
  dialect: string | SqlDialect,
  defaultCatalog?: string,
): string {
  const d = resolveDialect(dialect);
  const table = typeof name === 'string' ? parseTableName(name, d) : name;
  const shown: TableName = normalizeTableName(table, d);
  if (shown.catalog && defaultCatalog !== undefined && shown.catalog.name === defaultCatalog) {
    delete shown.catalog;
  }
  return parts(shown)
    .map((p) => (SIMPLE_NAME.test(p.name) ? p.name : quoteIdentifier(p.name, d)))
    .join('.');
}

/** Splits a canonical name (`"c"."s"."t"`, as `fullyQualifiedName` renders) back into parts. */
export function parseFullyQualifiedName(fqn: string): TableName {
  return parseTableName(fqn, 'generic');
}

/** Whether a name is longer than `maxBytes` bytes in UTF-8 (PostgreSQL's limit by default). */
export function exceedsIdentifierLength(
  name: string,
  maxBytes = POSTGRES_MAX_IDENTIFIER_BYTES,
): boolean {
  return Buffer.byteLength(name, 'utf8') > maxBytes;
}
