/**
 * Adjustments made to a syntax tree before SQL is generated for another
 * dialect: constructs the generator would render wrongly are rewritten when
 * there is a faithful equivalent, and refused with a one-line error naming the
 * construct when there is not.
 */
import * as polyglot from '@polyglot-sql/sdk';
import { ProjectError, type SourceLocation } from '../errors.js';
import type { SqlDialect } from './dialects.js';
import { locationAt, type AstNode, type ParsedQuery } from './query-parser.js';

function isObject(value: unknown): value is AstNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Dialects that run PostgreSQL's grammar and function library. */
const POSTGRES_FAMILY = new Set(['postgres', 'redshift', 'materialize', 'risingwave']);

/**
 * DuckDB functions with no PostgreSQL counterpart. The generator translates
 * some of them in some forms only, so generated SQL is checked for them.
 */
const NO_POSTGRES_FUNCTION = new Set([
  'strftime',
  'strptime',
  'list_value',
  'list_pack',
  'first',
  'last',
  'median',
  'approx_count_distinct',
  'quantile',
  'quantile_cont',
  'quantile_disc',
  'range',
  'struct_pack',
  'struct_extract',
  'list_transform',
  'list_filter',
  'list_reduce',
  'list_sort',
  'list_distinct',
  'list_contains',
  'list_extract',
  'list_aggregate',
  'list',
  'list_agg',
  'map_from_entries',
  'regexp_extract',
  'regexp_extract_all',
  'epoch',
  'arg_max',
  'arg_min',
  'max_by',
  'min_by',
  'histogram',
  'columns',
  'read_csv',
  'read_csv_auto',
  'read_parquet',
  'read_json',
  'read_json_auto',
]);

/** Node types (keys) that compute an aggregate unless wrapped in a window. */
const AGGREGATE_NODES = new Set([
  'count',
  'sum',
  'avg',
  'min',
  'max',
  'median',
  'mode',
  'any_value',
  'first',
  'last',
  'stddev',
  'stddev_pop',
  'stddev_samp',
  'variance',
  'var_pop',
  'var_samp',
  'logical_and',
  'logical_or',
  'bool_and',
  'bool_or',
  'approx_count_distinct',
  'approx_distinct',
  'approx_quantile',
  'quantile',
  'quantile_cont',
  'quantile_disc',
  'percentile_cont',
  'percentile_disc',
  'array_agg',
  'string_agg',
  'group_concat',
  'list_agg',
  'listagg',
  'aggregate_function',
  'corr',
  'covar_pop',
  'covar_samp',
  'bit_and',
  'bit_or',
  'bit_xor',
  'count_if',
  'sum_if',
]);

/** The position of the first source span found in `node`, else the query's start. */
function positionOf(node: unknown, parsed: ParsedQuery): SourceLocation {
  let found: number | undefined;
  const visit = (value: unknown): void => {
    if (found !== undefined) return;
    if (Array.isArray(value)) {
      for (const v of value) visit(v);
      return;
    }
    if (!isObject(value)) return;
    const span = value['span'];
    if (isObject(span) && typeof span['start'] === 'number') {
      found = span['start'];
      return;
    }
    for (const key in value) visit(value[key]);
  };
  visit(node);
  return found === undefined ? parsed.location : locationAt(parsed.sql, found, parsed.location);
}

/** The position of the first token spelled `keyword` (case-insensitive), if any. */
function keywordPosition(keyword: string, parsed: ParsedQuery): SourceLocation | undefined {
  const tokens = polyglot.tokenize(parsed.sql, parsed.dialect.parser);
  if (!tokens.success || !tokens.tokens) return undefined;
  const wanted = keyword.toUpperCase();
  const token = tokens.tokens.find((t) => t.text.toUpperCase() === wanted);
  return token ? locationAt(parsed.sql, token.span.start, parsed.location) : undefined;
}

function unsupported(
  construct: string,
  node: unknown,
  parsed: ParsedQuery,
  target: SqlDialect,
  keyword?: string,
): never {
  const at = (keyword && keywordPosition(keyword, parsed)) || positionOf(node, parsed);
  throw new ProjectError(
    `${construct} cannot be translated from ${parsed.dialect.name} to ${target.name}; rewrite it without ${construct}`,
    at,
  );
}

function containsAggregate(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(containsAggregate);
  if (!isObject(value)) return false;
  for (const key in value) {
    if (key === 'window_function' || key === 'subquery' || key === 'select') continue;
    if (AGGREGATE_NODES.has(key)) return true;
    if (containsAggregate(value[key])) return true;
  }
  return false;
}

function stringLiteral(value: string): AstNode {
  return { literal: { literal_type: 'string', value } };
}

function numberLiteral(n: number): AstNode {
  return { literal: { literal_type: 'number', value: String(n) } };
}

function ordinalsOfProjections(
  select: AstNode,
  clause: string,
  parsed: ParsedQuery,
  target: SqlDialect,
  keep: (projection: unknown) => boolean,
): AstNode[] {
  const projections = Array.isArray(select['expressions']) ? select['expressions'] : [];
  const out: AstNode[] = [];
  projections.forEach((p, i) => {
    if (isObject(p) && 'star' in p)
      unsupported(`${clause} with a * projection`, p, parsed, target, '*');
    if (keep(p)) out.push(numberLiteral(i + 1));
  });
  return out;
}

function isAllColumn(value: unknown): boolean {
  if (!isObject(value)) return false;
  const column = value['column'];
  if (!isObject(column) || column['table']) return false;
  const name = column['name'];
  return isObject(name) && name['quoted'] !== true && name['name'] === 'ALL';
}

function adjustSelectForPostgres(select: AstNode, parsed: ParsedQuery, target: SqlDialect): void {
  if (select['qualify']) unsupported('QUALIFY', select['qualify'], parsed, target, 'QUALIFY');
  const sample = select['sample'];
  if (isObject(sample)) unsupported('USING SAMPLE', sample, parsed, target, 'SAMPLE');

  const groupBy = select['group_by'];
  if (isObject(groupBy) && groupBy['all'] === true) {
    // GROUP BY ALL groups by every projection that is not an aggregate.
    const ordinals = ordinalsOfProjections(
      select,
      'GROUP BY ALL',
      parsed,
      target,
      (p) => !containsAggregate(p),
    );
    if (ordinals.length === 0) select['group_by'] = null;
    else select['group_by'] = { ...groupBy, all: null, expressions: ordinals };
  }

  const orderBy = select['order_by'];
  if (isObject(orderBy) && Array.isArray(orderBy['expressions'])) {
    const items = orderBy['expressions'] as unknown[];
    const first = items[0];
    if (items.length === 1 && isObject(first) && isAllColumn(first['this'])) {
      // ORDER BY ALL sorts by every projection, left to right, in the given direction.
      const ordinals = ordinalsOfProjections(select, 'ORDER BY ALL', parsed, target, () => true);
      orderBy['expressions'] = ordinals.map((o) => ({ ...first, this: o }));
    }
  }
}

function adjustNodeForPostgres(
  node: AstNode,
  parsed: ParsedQuery,
  target: SqlDialect,
): AstNode | undefined {
  const key = Object.keys(node)[0];
  if (key === undefined) return undefined;
  const body = node[key];
  if (!isObject(body)) return undefined;
  switch (key) {
    case 'star':
      if (Array.isArray(body['except']) && body['except'].length > 0) {
        unsupported('SELECT * EXCLUDE', node, parsed, target, 'EXCLUDE');
      }
      if (Array.isArray(body['replace']) && body['replace'].length > 0) {
        unsupported('SELECT * REPLACE', node, parsed, target, 'REPLACE');
      }
      if (Array.isArray(body['rename']) && body['rename'].length > 0) {
        unsupported('SELECT * RENAME', node, parsed, target, 'RENAME');
      }
      return undefined;
    case 'map_func':
      if (body['curly_brace_syntax'] === true)
        unsupported('a {...} struct literal', node, parsed, target, '{');
      return undefined;
    case 'struct':
      unsupported('a STRUCT value', node, parsed, target);
      break;
    case 'pivot':
    case 'unpivot':
      unsupported(key.toUpperCase(), node, parsed, target, key);
      break;
    case 'string_agg':
      // PostgreSQL has no default separator; DuckDB's is a comma.
      body['separator'] ??= stringLiteral(',');
      return undefined;
    case 'select':
      adjustSelectForPostgres(body, parsed, target);
      return undefined;
    default:
      return undefined;
  }
  return undefined;
}

function transformInPlace(value: unknown, fn: (node: AstNode) => AstNode | undefined): unknown {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = transformInPlace(value[i], fn);
    return value;
  }
  if (!isObject(value)) return value;
  const keys = Object.keys(value);
  if (keys.length === 1) {
    const replaced = fn(value);
    if (replaced) return transformInPlace(replaced, fn);
  }
  for (const key of keys) {
    if (key === 'span') continue;
    value[key] = transformInPlace(value[key], fn);
  }
  return value;
}

/**
 * Prepares `ast` (a private copy, changed in place) for generation in
 * `target`. Throws a ProjectError naming the first construct that has no
 * faithful translation.
 */
export function adjustForTarget(ast: AstNode, parsed: ParsedQuery, target: SqlDialect): AstNode {
  if (!POSTGRES_FAMILY.has(target.name) || POSTGRES_FAMILY.has(parsed.dialect.name)) return ast;
  return transformInPlace(ast, (node) => adjustNodeForPostgres(node, parsed, target)) as AstNode;
}

/**
 * Repairs and checks SQL translated for `target` from `parsed`: it must parse
 * in the target dialect and call no function the target lacks (a ProjectError
 * naming the construct otherwise). Returns the SQL to run.
 */
export function finishTranslation(sql: string, parsed: ParsedQuery, target: SqlDialect): string {
  if (!POSTGRES_FAMILY.has(target.name) || POSTGRES_FAMILY.has(parsed.dialect.name)) return sql;
  const result = polyglot.parse(sql, target.parser);
  if (!result.success) {
    throw new ProjectError(
      `this query cannot be translated from ${parsed.dialect.name} to ${target.name}: the result is not valid ${target.name} SQL (${(result.error ?? '').replace(/\s+/g, ' ')})`,
      parsed.location,
    );
  }
  let changed = false;
  const fix = (node: AstNode): AstNode | undefined => {
    const key = Object.keys(node)[0] as string;
    const body = node[key];
    if (!isObject(body)) return undefined;
    // The translator writes string aggregation as LISTAGG, which PostgreSQL lacks.
    if (key === 'within_group' && isObject(body['this']) && isObject(body['this']['list_agg'])) {
      const agg = body['this']['list_agg'];
      changed = true;
      return { string_agg: { ...listAggAsStringAgg(agg), order_by: body['order_by'] ?? null } };
    }
    if (key === 'list_agg') {
      changed = true;
      return { string_agg: listAggAsStringAgg(body) };
    }
    // Function calls carry their name as a string, whether generic or typed.
    const name = typeof body['name'] === 'string' ? body['name'].toLowerCase() : undefined;
    if (name !== undefined && NO_POSTGRES_FUNCTION.has(name)) {
      unsupported(`function ${name}()`, undefined, parsed, target, name);
    }
    return undefined;
  };
  const ast = transformInPlace(result.ast, fix);
  if (!changed) return sql;
  const out = polyglot.generate(ast, target.parser);
  const fixed = out.success ? out.sql?.[0] : undefined;
  if (fixed === undefined) {
    throw new ProjectError(
      `cannot write this query as ${target.name} SQL: ${(out.error ?? 'unknown error').replace(/\s+/g, ' ')}`,
      parsed.location,
    );
  }
  return fixed;
}

function listAggAsStringAgg(agg: AstNode): AstNode {
  return {
    this: agg['this'],
    separator: agg['separator'] ?? stringLiteral(','),
    order_by: null,
    distinct: agg['distinct'] === true,
    filter: agg['filter'] ?? null,
  };
}
