/**
 * What a unit test does to a model's rendered query before running it:
 * freezes CURRENT_TIMESTAMP and friends at the test's execution time, points
 * tables that are not models at their input tables, and splits out each
 * top-level CTE as a query of its own.
 */
import { resolveDialect } from '../sql/dialects.js';
import {
  generate,
  parseQuery,
  rewriteTableReferences,
  type AstNode,
  type ParsedQuery,
  type TableReference,
} from '../sql/query.js';

/** A query ready to run, and whether its result has a defined order (a top-level ORDER BY). */
export interface RunnableQuery {
  sql: string;
  ordered: boolean;
}

export interface PreparedQuery extends RunnableQuery {
  /** Each top-level CTE as `WITH ... SELECT * FROM cte`, by name (as written, and lowercased). */
  ctes: Map<string, RunnableQuery & { name: string }>;
}

export interface PrepareOptions {
  /** When set, current-time functions return this instant (epoch ms) instead of the clock's. */
  executionTime?: number;
  /** A replacement for a table reference (SQL in the query's dialect), or undefined to keep it. */
  tableFor?: (ref: TableReference) => string | undefined;
}

const TIMESTAMP_FUNCTIONS = new Set([
  'CURRENT_TIMESTAMP',
  'NOW',
  'GET_CURRENT_TIMESTAMP',
  'LOCALTIMESTAMP',
  'TRANSACTION_TIMESTAMP',
  'STATEMENT_TIMESTAMP',
  'GETDATE',
  'SYSDATE',
  'SYSTIMESTAMP',
  'CURRENT_DATETIME',
]);
const DATE_FUNCTIONS = new Set(['CURRENT_DATE', 'TODAY']);
const TIME_FUNCTIONS = new Set(['CURRENT_TIME', 'LOCALTIME']);

const MARK = '__tideline_now_';
const MARK_PATTERN = /"?__tideline_now_(\d+)__"?/g;
const WHERE = { file: '<rendered query>', line: 1, column: 1 };

function isObject(value: unknown): value is AstNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function timeKind(node: AstNode): 'timestamp' | 'date' | 'time' | undefined {
  const keys = Object.keys(node);
  if (keys.length !== 1) return undefined;
  const key = keys[0] as string;
  let name = key.toUpperCase();
  if (key === 'function') {
    const fn = node['function'];
    if (!isObject(fn) || typeof fn['name'] !== 'string') return undefined;
    const args = fn['args'];
    if (Array.isArray(args) && args.length > 0) return undefined;
    name = fn['name'].toUpperCase();
  }
  if (TIMESTAMP_FUNCTIONS.has(name)) return 'timestamp';
  if (DATE_FUNCTIONS.has(name)) return 'date';
  if (TIME_FUNCTIONS.has(name)) return 'time';
  return undefined;
}

function markerNode(index: number): AstNode {
  return {
    column: {
      name: { name: `${MARK}${index}__`, quoted: false, trailing_comments: [] },
      table: null,
      join_mark: false,
      trailing_comments: [],
    },
  };
}

/** Replaces current-time calls in the tree by markers; returns the kind of each marker. */
function markCurrentTime(root: AstNode): Array<'timestamp' | 'date' | 'time'> {
  const kinds: Array<'timestamp' | 'date' | 'time'> = [];
  const visit = (value: unknown): unknown => {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = visit(value[i]);
      return value;
    }
    if (!isObject(value)) return value;
    const kind = timeKind(value);
    if (kind) {
      kinds.push(kind);
      return markerNode(kinds.length - 1);
    }
    for (const key of Object.keys(value)) value[key] = visit(value[key]);
    return value;
  };
  visit(root);
  return kinds;
}

function timeText(ms: number, kind: 'timestamp' | 'date' | 'time'): string {
  const iso = new Date(ms).toISOString();
  const fraction = iso.slice(19, 23) === '.000' ? '' : iso.slice(19, 23);
  if (kind === 'date') return iso.slice(0, 10);
  if (kind === 'time') return `${iso.slice(11, 19)}${fraction}`;
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction}`;
}

function bodyOf(ast: AstNode): AstNode | undefined {
  const key = Object.keys(ast)[0];
  const body = key === undefined ? undefined : ast[key];
  return isObject(body) ? body : undefined;
}

/**
 * Parses a rendered query (in `dialect`) and returns it ready to run for a
 * test, with its top-level CTEs as queries of their own.
 */
export function prepareQuery(sql: string, dialect: string, options: PrepareOptions): PreparedQuery {
  const d = resolveDialect(dialect);
  const parsed = parseQuery(sql, d, WHERE);
  const ast = structuredClone(parsed.ast);
  const kinds = options.executionTime !== undefined ? markCurrentTime(ast) : [];
  const write = (tree: AstNode): string => {
    const query: ParsedQuery = { sql, dialect: d, location: WHERE, ast: tree };
    const mapper = options.tableFor;
    let out = mapper ? rewriteTableReferences(query, mapper) : generate(query);
    if (kinds.length > 0 && options.executionTime !== undefined) {
      const at = options.executionTime;
      out = out.replace(MARK_PATTERN, (_m, i: string) => {
        const kind = kinds[Number(i)] ?? 'timestamp';
        return `CAST('${timeText(at, kind)}' AS ${kind.toUpperCase()})`;
      });
    }
    return out;
  };
  const body = bodyOf(ast);
  const ordered = Boolean(body?.['order_by']);
  const ctes = new Map<string, RunnableQuery & { name: string }>();
  const withClause = body?.['with'];
  const list = isObject(withClause) ? withClause['ctes'] : undefined;
  if (Array.isArray(list)) {
    for (const cte of list) {
      if (!isObject(cte) || !isObject(cte['alias'])) continue;
      const alias = cte['alias'];
      const name = String(alias['name']);
      const template = structuredClone(parseQuery('SELECT * FROM __cte__', d, WHERE).ast);
      const select = bodyOf(template) as AstNode;
      const from = select['from'] as { expressions: Array<{ table: AstNode }> };
      const table = from.expressions[0]?.table as AstNode;
      table['name'] = structuredClone(alias);
      select['with'] = structuredClone(withClause);
      const inner = isObject(cte['this']) ? bodyOf(cte['this']) : undefined;
      const entry = { name, sql: write(template), ordered: Boolean(inner?.['order_by']) };
      ctes.set(name, entry);
      if (alias['quoted'] !== true) ctes.set(name.toLowerCase(), entry);
    }
  }
  return { sql: write(ast), ordered, ctes };
}
