/**
 * Automatic categorization of a direct change to a model, as SQLMesh does it.
 *
 * - A change of kind that needs a new table is breaking: the kind's name
 *   changed, unless both kinds are incremental and `partitioned_by` stayed
 *   the same. A change between a SQL model, a seed and an external model is
 *   always such a change.
 * - SQL models: non-breaking when the new query (macros expanded) differs
 *   from the old one only by new projections; undecided otherwise, and when a
 *   query cannot be parsed or the kind's `lookback` changed. Only the query
 *   counts: a change to pre- or post-statements, properties or the kind's
 *   other settings with the same query is non-breaking, as in SQLMesh; so is
 *   a query that differs only in layout or comments (which the plan normally
 *   does not even report as a change).
 * - Seed models: non-breaking when the new CSV keeps every old column with
 *   the same values and only adds columns; undecided otherwise (a new, removed
 *   or edited row changes every column), or when the CSV text is not given.
 * - External models: non-breaking when every old column keeps its type;
 *   undecided otherwise.
 *
 * "Undecided" (undefined) is where SQLMesh asks the user in its `semi` mode
 * and falls back to breaking in its default `full` mode.
 */
import type { ModelDefinition, ModelKind } from '../model-types.js';
import { readSeed } from '../evaluate/seed-reader.js';
import { resolveDialect, type SqlDialect } from '../sql/dialects.js';
import { outputColumns } from '../sql/output-columns.js';
import { parseQuery, type AstNode, type ParsedQuery } from '../sql/query-parser.js';
import { QueryComparer } from './categorize-query.js';

export type AutoCategory = 'breaking' | 'non_breaking';

export interface CategorizeOptions {
  /** The old query, rendered (macros expanded) in `dialect`; the written query when absent. */
  oldQuery?: string;
  /** The new query, rendered in `dialect`; the written query when absent. */
  newQuery?: string;
  /** The dialect of the rendered queries. */
  dialect: string;
  /** SEED models: the old CSV text. */
  oldSeedCsv?: string;
  /** SEED models: the new CSV text. */
  newSeedCsv?: string;
}

type SourceType = 'sql' | 'seed' | 'external';

function sourceType(def: ModelDefinition): SourceType {
  if (def.kind.name === 'SEED') return 'seed';
  if (def.kind.name === 'EXTERNAL') return 'external';
  return 'sql';
}

const INCREMENTAL_KINDS = new Set<ModelKind['name']>([
  'INCREMENTAL_BY_TIME_RANGE',
  'INCREMENTAL_BY_UNIQUE_KEY',
  'INCREMENTAL_BY_PARTITION',
  'INCREMENTAL_UNMANAGED',
  'SCD_TYPE_2_BY_TIME',
  'SCD_TYPE_2_BY_COLUMN',
]);

/**
 * Whether the kind changed in a way that needs a new table: a different
 * kind, unless both are incremental and keep the same partitioning.
 */
export function isBreakingKindChange(oldDef: ModelDefinition, newDef: ModelDefinition): boolean {
  if (oldDef.kind.name === newDef.kind.name) return false;
  if (!INCREMENTAL_KINDS.has(oldDef.kind.name) || !INCREMENTAL_KINDS.has(newDef.kind.name)) {
    return true;
  }
  const same =
    oldDef.partitionedBy.length === newDef.partitionedBy.length &&
    oldDef.partitionedBy.every((p, i) => p.trim() === newDef.partitionedBy[i]?.trim());
  return !same;
}

function lookbackOf(kind: ModelKind): number {
  return 'lookback' in kind ? kind.lookback : 0;
}

/**
 * Parses a query for comparison; undefined when there is none or it does not
 * parse (a written query may still hold macros or Jinja).
 */
function parseForComparison(sql: string | undefined, dialect: SqlDialect): ParsedQuery | undefined {
  if (sql === undefined || sql.trim() === '') return undefined;
  try {
    return parseQuery(sql, dialect, { file: '<query>', line: 1, column: 1 });
  } catch {
    return undefined;
  }
}

/** The SELECT whose projections are the query's output (the leftmost branch of a set operation). */
function outputSelect(node: unknown): AstNode | undefined {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
  const entries = Object.entries(node as AstNode);
  const [tag, body] = entries[0] ?? [];
  if (entries.length !== 1 || typeof body !== 'object' || body === null) return undefined;
  const b = body as AstNode;
  if (tag === 'select') return b;
  if (tag === 'union' || tag === 'intersect' || tag === 'except') return outputSelect(b['left']);
  if (tag === 'subquery' || tag === 'paren') return outputSelect(b['this']);
  return undefined;
}

interface QueryChange {
  additive: boolean;
  /** Output column names the new query adds (unnamed expressions are left out). */
  added: string[];
}

function compareQueries(
  oldSql: string | undefined,
  newSql: string | undefined,
  dialectName: string,
): QueryChange | undefined {
  let dialect: SqlDialect;
  try {
    dialect = resolveDialect(dialectName);
  } catch {
    return undefined;
  }
  const oldParsed = parseForComparison(oldSql, dialect);
  const newParsed = parseForComparison(newSql, dialect);
  if (!oldParsed || !newParsed) return undefined;
  const result = new QueryComparer(dialect).compare(oldParsed.ast, newParsed.ast);
  if (!result.additive) return { additive: false, added: [] };
  const outer = outputSelect(newParsed.ast);
  const inserted = new Set(outer ? (result.added.get(outer) ?? []) : []);
  const projections = outer && Array.isArray(outer['expressions']) ? outer['expressions'] : [];
  const columns = outputColumns(newParsed);
  const added: string[] = [];
  (projections as unknown[]).forEach((p, i) => {
    const name = columns[i]?.name;
    if (inserted.has(p as AstNode) && name !== undefined) added.push(name);
  });
  return { additive: true, added };
}

/**
 * The output columns `newQuery` adds to `oldQuery` when the only change is
 * new projections (SQLMesh's non-breaking change), in order; unnamed
 * expressions are left out. Undefined when the change is anything else or a
 * query does not parse.
 */
export function addedColumns(
  oldQuery: string,
  newQuery: string,
  dialect: string,
): string[] | undefined {
  const change = compareQueries(oldQuery, newQuery, dialect);
  return change?.additive ? change.added : undefined;
}

/** Each seed column's type and values as one comparable string, by column name. */
function seedColumns(def: ModelDefinition, csv: string): Map<string, string> | undefined {
  if (def.kind.name !== 'SEED') return undefined;
  try {
    const data = readSeed(csv, {
      path: def.kind.path,
      ...(def.columns ? { columns: def.columns } : {}),
      csvSettings: def.kind.csvSettings,
    });
    const out = new Map<string, string>();
    data.columns.forEach((column, c) => {
      const values = data.rows.map((row) => {
        const v = row[c];
        return typeof v === 'bigint' ? `${v}n` : v;
      });
      out.set(column.name, `${column.type}\u0000${JSON.stringify(values)}`);
    });
    return out;
  } catch {
    return undefined;
  }
}

function categorizeSeed(
  oldDef: ModelDefinition,
  newDef: ModelDefinition,
  options: CategorizeOptions,
): AutoCategory | undefined {
  if (options.oldSeedCsv === undefined || options.newSeedCsv === undefined) return undefined;
  const before = seedColumns(oldDef, options.oldSeedCsv);
  const after = seedColumns(newDef, options.newSeedCsv);
  if (!before || !after) return undefined;
  for (const [name, values] of before) {
    if (after.get(name) !== values) return undefined;
  }
  return 'non_breaking';
}

function categorizeExternal(
  oldDef: ModelDefinition,
  newDef: ModelDefinition,
): AutoCategory | undefined {
  if (!oldDef.columns || !newDef.columns) return undefined;
  const typeOf = (t: string): string => t.replace(/\s+/g, ' ').trim().toUpperCase();
  const after = new Map(newDef.columns.map((c) => [c.name, typeOf(c.type)]));
  const kept = oldDef.columns.every((c) => after.get(c.name) === typeOf(c.type));
  return kept ? 'non_breaking' : undefined;
}

/**
 * SQLMesh's automatic categorization of a direct change between two versions
 * of one model (see the module comment): 'breaking' for a kind change that
 * needs a new table, 'non_breaking' when the change only adds columns (or
 * leaves the query alone), undefined when it cannot decide; the caller asks
 * the user or, non-interactively, treats undefined as breaking.
 * `oldQuery`/`newQuery` are the queries already rendered in `dialect`; when
 * absent the queries as written are compared.
 */
export function categorizeChange(
  oldDef: ModelDefinition,
  newDef: ModelDefinition,
  options: CategorizeOptions,
): AutoCategory | undefined {
  if (isBreakingKindChange(oldDef, newDef)) return 'breaking';
  const type = sourceType(newDef);
  if (type !== sourceType(oldDef)) return 'breaking';
  if (type === 'seed') return categorizeSeed(oldDef, newDef, options);
  if (type === 'external') return categorizeExternal(oldDef, newDef);

  if (lookbackOf(oldDef.kind) !== lookbackOf(newDef.kind)) return undefined;
  const oldSql = options.oldQuery ?? oldDef.query?.sql;
  const newSql = options.newQuery ?? newDef.query?.sql;
  if (oldSql !== undefined && oldSql === newSql) return 'non_breaking';
  const change = compareQueries(oldSql, newSql, options.dialect);
  return change?.additive ? 'non_breaking' : undefined;
}
