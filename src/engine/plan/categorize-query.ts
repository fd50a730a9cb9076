/**
 * Comparing two versions of a query's syntax tree to tell whether the new one
 * only adds projections: SQLMesh's rule for a non-breaking change, where every
 * difference must be a new projection of some SELECT (with anything inside it).
 *
 * Layout, comments, keyword case, `AS` before an alias and the case of
 * unquoted identifiers (as the dialect folds them) are not differences.
 *
 * On top of SQLMesh's rule, a new projection is refused (the change is left
 * undecided) where it changes the number of rows rather than adding a column:
 * - a set-returning function (`unnest`, `explode`, `generate_series`, ...)
 *   outside a subquery, as SQLMesh also refuses;
 * - any projection added to a `SELECT DISTINCT` / `DISTINCT ON`, which
 *   dedupes on more columns and so may return more rows;
 * - any projection added to a branch of UNION (without ALL), INTERSECT or
 *   EXCEPT, whose row matching then takes the new column into account;
 * - an aggregate added to a SELECT that neither groups nor aggregates, which
 *   turns it into a one-row aggregate.
 */
import { normalizeIdentifier } from '../sql/names.js';
import type { SqlDialect } from '../sql/dialects.js';
import type { AstNode } from '../sql/query-parser.js';

/** Keys that record layout rather than meaning. */
function ignoredKey(key: string): boolean {
  return key === 'span' || key === 'alias_explicit_as' || key.endsWith('comments');
}

function isObject(value: unknown): value is AstNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The single tag of a node (`select`, `column`, ...), when it is one. */
function tagOf(value: unknown): string | undefined {
  if (!isObject(value)) return undefined;
  const keys = Object.keys(value);
  return keys.length === 1 ? keys[0] : undefined;
}

/** An identifier node: `{ name, quoted }` and nothing else that means something. */
function isIdentifier(node: AstNode): node is AstNode & { name: string; quoted: boolean } {
  if (typeof node['name'] !== 'string' || typeof node['quoted'] !== 'boolean') return false;
  return Object.keys(node).every((k) => k === 'name' || k === 'quoted' || ignoredKey(k));
}

const SET_OPERATIONS = new Set(['union', 'intersect', 'except']);

/** Functions that return a set of rows per input row when used as a projection. */
const SET_RETURNING = new Set([
  'unnest',
  'explode',
  'explode_outer',
  'posexplode',
  'posexplode_outer',
  'inline',
  'inline_outer',
  'stack',
  'generate_series',
  'exploding_generate_series',
  'generate_subscripts',
  'json_each',
  'json_each_text',
  'jsonb_each',
  'jsonb_each_text',
  'json_array_elements',
  'json_array_elements_text',
  'jsonb_array_elements',
  'jsonb_array_elements_text',
  'json_object_keys',
  'jsonb_object_keys',
  'jsonb_path_query',
  'json_tree',
  'regexp_split_to_table',
  'flatten',
]);

/** Aggregate functions, by node tag or function name (lower case). */
const AGGREGATES = new Set([
  'count',
  'count_if',
  'countif',
  'sum',
  'avg',
  'min',
  'max',
  'median',
  'mode',
  'stddev',
  'stddev_pop',
  'stddev_samp',
  'variance',
  'variance_pop',
  'var_pop',
  'var_samp',
  'corr',
  'covar_pop',
  'covar_samp',
  'skewness',
  'kurtosis',
  'entropy',
  'product',
  'percentile_cont',
  'percentile_disc',
  'quantile',
  'quantile_cont',
  'quantile_disc',
  'approx_distinct',
  'approx_count_distinct',
  'approx_quantile',
  'approx_percentile',
  'approx_top_k',
  'any_value',
  'arbitrary',
  'first',
  'last',
  'logical_and',
  'logical_or',
  'bool_and',
  'bool_or',
  'every',
  'bit_and',
  'bit_or',
  'bit_xor',
  'group_concat',
  'listagg',
  'list',
  'collect_list',
  'collect_set',
  'histogram',
  'max_by',
  'min_by',
  'arg_max',
  'arg_min',
  'argmax',
  'argmin',
  'aggregate_function',
  'anonymous_agg_func',
  'combined_agg_func',
  'parameterized_agg',
  'combined_parameterized_agg',
]);

function isAggregateName(name: string): boolean {
  return AGGREGATES.has(name) || name.endsWith('_agg') || name.startsWith('regr_');
}

/**
 * Whether `node` holds a call that `matches` outside any subquery (and, when
 * `skipWindows`, outside window functions, whose aggregates keep the row count).
 */
function containsCall(
  node: unknown,
  matches: (name: string) => boolean,
  skipWindows: boolean,
): boolean {
  if (Array.isArray(node)) return node.some((n) => containsCall(n, matches, skipWindows));
  if (!isObject(node)) return false;
  const tag = tagOf(node);
  if (tag !== undefined) {
    if (tag === 'subquery' || tag === 'select' || SET_OPERATIONS.has(tag)) return false;
    if (skipWindows && tag === 'window_function') return false;
    const body = node[tag];
    if (tag === 'function' && isObject(body) && typeof body['name'] === 'string') {
      if (matches(body['name'].toLowerCase())) return true;
    } else if (matches(tag)) {
      return true;
    }
    return containsCall(body, matches, skipWindows);
  }
  return Object.entries(node).some(
    ([key, value]) => !ignoredKey(key) && containsCall(value, matches, skipWindows),
  );
}

function emptyClause(value: unknown): boolean {
  return value === null || value === undefined || (Array.isArray(value) && value.length === 0);
}

function groupByIsEmpty(value: unknown): boolean {
  if (emptyClause(value)) return true;
  return isObject(value) && emptyClause(value['expressions']);
}

/** The result of comparing two queries. */
export interface QueryComparison {
  /** True when every difference is an allowed new projection. */
  additive: boolean;
  /** The new projections, keyed by the (new) SELECT body they were added to. */
  added: Map<AstNode, AstNode[]>;
}

/** Compares syntax trees of one dialect; see the module comment for the rule. */
export class QueryComparer {
  private readonly keys = new WeakMap<object, string>();
  private added = new Map<AstNode, AstNode[]>();

  constructor(private readonly dialect: SqlDialect) {}

  /** Compares the old and new trees of a query. */
  compare(oldAst: unknown, newAst: unknown): QueryComparison {
    this.added = new Map();
    const additive = this.compatible(oldAst, newAst, false);
    return { additive, added: this.added };
  }

  /** A string equal for two subtrees exactly when they mean the same. */
  key(value: unknown, tableName = false): string {
    if (value === null || value === undefined) return 'null';
    if (typeof value !== 'object') return JSON.stringify(value);
    const cached = this.keys.get(value);
    if (cached !== undefined) return cached;
    let out: string;
    if (Array.isArray(value)) {
      out = `[${value.map((v) => this.key(v)).join(',')}]`;
    } else if (isIdentifier(value as AstNode)) {
      const node = value as AstNode & { name: string; quoted: boolean };
      const id = normalizeIdentifier(
        { name: node.name, quoted: node.quoted },
        this.dialect,
        tableName ? 'table' : 'other',
      );
      // Not cached: the same identifier folds differently as a table name.
      return `#${JSON.stringify(id.name)}`;
    } else {
      const node = value as AstNode;
      const tag = tagOf(node);
      const body = tag === 'table' ? node['table'] : undefined;
      if (isObject(body)) {
        // A table's name parts fold as the dialect folds table names.
        const parts = Object.keys(body)
          .sort()
          .filter((k) => !ignoredKey(k))
          .map((k) => {
            const namePart = k === 'name' || k === 'schema' || k === 'catalog';
            return `${k}:${this.key(body[k], namePart)}`;
          });
        out = `{table:{${parts.join(',')}}}`;
      } else {
        const parts: string[] = [];
        for (const k of Object.keys(node).sort()) {
          if (ignoredKey(k)) continue;
          let v = node[k];
          // Function names are not case-sensitive.
          if ((k === 'name' || k === 'original_name') && typeof v === 'string') {
            v = v.toLowerCase();
          }
          parts.push(`${k}:${this.key(v)}`);
        }
        out = `{${parts.join(',')}}`;
      }
    }
    this.keys.set(value, out);
    return out;
  }

  private same(a: unknown, b: unknown): boolean {
    return this.key(a) === this.key(b);
  }

  /**
   * Whether `b` is `a` plus allowed new projections. `distinctRows` says the
   * node is a branch of a set operation that matches rows (UNION, INTERSECT, EXCEPT).
   */
  private compatible(a: unknown, b: unknown, distinctRows: boolean): boolean {
    if (this.same(a, b)) return true;
    if (Array.isArray(a) || Array.isArray(b)) {
      if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
      return a.every((item, i) => this.compatible(item, b[i], false));
    }
    if (!isObject(a) || !isObject(b)) return false;
    const tagA = tagOf(a);
    const tagB = tagOf(b);
    if (tagA !== undefined && tagA === tagB) {
      const bodyA = a[tagA];
      const bodyB = b[tagA];
      // A table reference holds no projections: it is the same or it changed.
      if (tagA === 'table') return false;
      if (!isObject(bodyA) || !isObject(bodyB)) return this.compatible(bodyA, bodyB, false);
      if (tagA === 'select') return this.compatibleSelect(bodyA, bodyB, distinctRows);
      if (SET_OPERATIONS.has(tagA)) {
        const matchesRows = distinctRows || !(tagA === 'union' && bodyA['all'] === true);
        return this.compatibleFields(bodyA, bodyB, (k) =>
          k === 'left' || k === 'right' ? matchesRows : false,
        );
      }
      if (tagA === 'subquery' || tagA === 'paren') {
        return this.compatibleFields(bodyA, bodyB, (k) => (k === 'this' ? distinctRows : false));
      }
      return this.compatibleFields(bodyA, bodyB, () => false);
    }
    if (tagA !== undefined || tagB !== undefined) return false;
    return this.compatibleFields(a, b, () => false);
  }

  /** Field-by-field comparison of two nodes of the same shape. */
  private compatibleFields(
    a: AstNode,
    b: AstNode,
    distinctRowsFor: (key: string) => boolean,
  ): boolean {
    const keysA = Object.keys(a).filter((k) => !ignoredKey(k));
    const keysB = Object.keys(b).filter((k) => !ignoredKey(k));
    if (keysA.length !== keysB.length || keysA.some((k) => !(k in b))) return false;
    return keysA.every((k) => this.compatible(a[k], b[k], distinctRowsFor(k)));
  }

  private compatibleSelect(a: AstNode, b: AstNode, distinctRows: boolean): boolean {
    const rest = (k: string): boolean => k !== 'expressions';
    const keysA = Object.keys(a).filter((k) => !ignoredKey(k) && rest(k));
    const keysB = Object.keys(b).filter((k) => !ignoredKey(k) && rest(k));
    if (keysA.length !== keysB.length || keysA.some((k) => !(k in b))) return false;
    if (!keysA.every((k) => this.compatible(a[k], b[k], false))) return false;

    const oldProjections = Array.isArray(a['expressions']) ? (a['expressions'] as unknown[]) : [];
    const newProjections = Array.isArray(b['expressions']) ? (b['expressions'] as unknown[]) : [];
    const inserted = this.matchProjections(oldProjections, newProjections);
    if (inserted === undefined) return false;
    if (inserted.length === 0) return true;

    if (distinctRows) return false;
    if (a['distinct'] === true || !emptyClause(a['distinct_on'])) return false;
    const aggregating =
      !groupByIsEmpty(a['group_by']) ||
      !emptyClause(a['having']) ||
      oldProjections.some((p) => containsCall(p, isAggregateName, true));
    for (const projection of inserted) {
      if (containsCall(projection, (n) => SET_RETURNING.has(n), false)) return false;
      if (!aggregating && containsCall(projection, isAggregateName, true)) return false;
    }
    this.added.set(b, inserted.filter(isObject));
    return true;
  }

  /**
   * The new projections not matched to an old one, when the old ones appear
   * in the new list in order (each the same or itself only extended); else undefined.
   */
  private matchProjections(oldList: unknown[], newList: unknown[]): unknown[] | undefined {
    const attempt = (match: (o: unknown, n: unknown) => boolean): unknown[] | undefined => {
      const inserted: unknown[] = [];
      let j = 0;
      for (const projection of newList) {
        if (j < oldList.length && match(oldList[j], projection)) j++;
        else inserted.push(projection);
      }
      return j === oldList.length ? inserted : undefined;
    };
    return attempt((o, n) => this.same(o, n)) ?? attempt((o, n) => this.compatible(o, n, false));
  }
}
