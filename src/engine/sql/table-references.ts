/**
 * The tables a query reads, found by walking its syntax tree with the CTE
 * names in scope, and the same walk used to replace them.
 */
import type { SqlDialect } from './dialects.js';
import { normalizeIdentifier, type Identifier, type TableName } from './names.js';
import type { AstNode, ParsedQuery } from './query-parser.js';

/** A table the query reads, as written, with a key that identifies it after case folding. */
export interface TableReference extends TableName {
  /** The normalized name with every part double-quoted (`"sushi"."orders"`); no default catalog. */
  key: string;
}

function isObject(value: unknown): value is AstNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The parser's identifier object as a name part, or undefined when absent. */
export function identifierOf(value: unknown): Identifier | undefined {
  if (!isObject(value) || typeof value['name'] !== 'string') return undefined;
  return { name: value['name'], quoted: value['quoted'] === true };
}

/** A name part as the parser's identifier object. */
export function identifierNode(id: Identifier): AstNode {
  return { name: id.name, quoted: id.quoted, trailing_comments: [] };
}

/** The body of a `{ table: {...} }` node, or undefined when `node` is not a table reference. */
export function tableBody(node: AstNode): AstNode | undefined {
  const body = node['table'];
  if (!isObject(body) || !isObject(body['name'])) return undefined;
  for (const key in node) if (key !== 'table') return undefined;
  return body;
}

/** The name parts of a table node's body. */
export function tableNameOf(body: AstNode): TableName | undefined {
  const name = identifierOf(body['name']);
  if (!name) return undefined;
  const out: TableName = { name };
  const schema = identifierOf(body['schema']);
  const catalog = identifierOf(body['catalog']);
  if (schema) out.schema = schema;
  if (catalog) out.catalog = catalog;
  return out;
}

function quotedKey(table: TableName, dialect: SqlDialect): string {
  const parts = [table.catalog, table.schema, table.name].filter(
    (p): p is Identifier => p !== undefined,
  );
  return parts
    .map((p) => normalizeIdentifier(p, dialect, 'table').name)
    .map((n) => `"${n.split('"').join('""')}"`)
    .join('.');
}

/**
 * Calls `visit` for every table node that names a real table (not a CTE in
 * scope), with the table's name. CTE bodies see the CTEs defined before them,
 * and themselves when the WITH is RECURSIVE.
 */
export function forEachTableNode(
  root: AstNode,
  dialect: SqlDialect,
  visit: (body: AstNode, name: TableName) => void,
): void {
  const cteKey = (id: Identifier): string => normalizeIdentifier(id, dialect).name;

  const walk = (value: unknown, ctes: ReadonlySet<string>): void => {
    if (Array.isArray(value)) {
      for (const item of value) walk(item, ctes);
      return;
    }
    if (!isObject(value)) return;
    const body = tableBody(value);
    if (body) {
      const name = tableNameOf(body);
      if (!name) return;
      const isCte = !name.schema && !name.catalog && ctes.has(cteKey(name.name));
      if (!isCte) visit(body, name);
      return;
    }
    const withClause = value['with'];
    let scope = ctes;
    if (isObject(withClause) && Array.isArray(withClause['ctes'])) {
      const inner = new Set(ctes);
      const recursive = withClause['recursive'] === true;
      for (const cte of withClause['ctes'] as unknown[]) {
        if (!isObject(cte)) continue;
        const alias = identifierOf(cte['alias']);
        if (alias && recursive) inner.add(cteKey(alias));
        walk(cte['this'], inner);
        if (alias) inner.add(cteKey(alias));
      }
      scope = inner;
    }
    for (const key in value) {
      if (key === 'with' || key === 'span') continue;
      walk(value[key], scope);
    }
  };

  walk(root, new Set());
}

/**
 * Every table the query reads, in order of first appearance and without
 * duplicates: FROM and JOIN sources, subqueries anywhere (IN, EXISTS, scalar,
 * LATERAL), CTE bodies and every branch of a set operation. Names of CTEs in
 * scope are left out; a qualified name (`db.cte_name`) is always a table.
 */
export function tableReferences(parsed: ParsedQuery): TableReference[] {
  const seen = new Map<string, TableReference>();
  forEachTableNode(parsed.ast, parsed.dialect, (_body, name) => {
    const key = quotedKey(name, parsed.dialect);
    if (!seen.has(key)) seen.set(key, { ...name, key });
  });
  return [...seen.values()];
}

/** A table reference's key, for looking up a name written in `dialect`. */
export function tableKey(table: TableName, dialect: SqlDialect): string {
  return quotedKey(table, dialect);
}
