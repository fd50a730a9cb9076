/**
 * The columns a query produces, in order, read from its syntax tree.
 */
import * as polyglot from '@polyglot-sql/sdk';
import { normalizeIdentifier } from './names.js';
import type { AstNode, ParsedQuery } from './query-parser.js';
import { identifierOf } from './table-references.js';

/** One projection of a query's result. */
export interface OutputColumn {
  /**
   * The column's name, case-folded per the dialect: the alias, or the column
   * a bare column reference names. Undefined for an unnamed expression and for `*`.
   */
  name: string | undefined;
  /** True for `*` and `t.*` projections. */
  star: boolean;
  /** The table a `t.*` projection is qualified with. */
  starTable?: string;
  /** The type of a projection that is a CAST (`CAST(x AS DATE) AS d`), as SQL in the query's dialect. */
  castType?: string;
}

/** The target type of a CAST node, as SQL. */
function castTypeOf(node: unknown, parsed: ParsedQuery): string | undefined {
  if (!isObject(node)) return undefined;
  const cast = node['cast'] ?? node['try_cast'];
  if (!isObject(cast) || !isObject(cast['to'])) return undefined;
  const out = polyglot.generate([{ data_type: cast['to'] }], parsed.dialect.parser);
  return out.success ? out.sql?.[0] : undefined;
}

function isObject(value: unknown): value is AstNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The SELECT whose projections name the query's output (the leftmost branch of a set operation). */
function outputSelect(node: unknown): AstNode | undefined {
  if (!isObject(node)) return undefined;
  const key = Object.keys(node)[0];
  if (key === undefined) return undefined;
  const body = node[key];
  if (!isObject(body)) return undefined;
  switch (key) {
    case 'select':
      return body;
    case 'union':
    case 'intersect':
    case 'except':
      return outputSelect(body['left']);
    case 'subquery':
    case 'paren':
      return outputSelect(body['this']);
    default:
      return undefined;
  }
}

/**
 * The names of the query's projections in order. A statement that is not a
 * query (or a bare VALUES list) has none.
 */
export function outputColumns(parsed: ParsedQuery): OutputColumn[] {
  const select = outputSelect(parsed.ast);
  if (!select || !Array.isArray(select['expressions'])) return [];
  const fold = (value: unknown): string | undefined => {
    const id = identifierOf(value);
    return id ? normalizeIdentifier(id, parsed.dialect).name : undefined;
  };
  return (select['expressions'] as unknown[]).map((projection): OutputColumn => {
    if (!isObject(projection)) return { name: undefined, star: false };
    const alias = projection['alias'];
    if (isObject(alias)) {
      const castType = castTypeOf(alias['this'], parsed);
      return castType === undefined
        ? { name: fold(alias['alias']), star: false }
        : { name: fold(alias['alias']), star: false, castType };
    }
    const column = projection['column'];
    if (isObject(column)) return { name: fold(column['name']), star: false };
    const star = projection['star'];
    if (isObject(star)) {
      const table = fold(star['table']);
      return table === undefined
        ? { name: undefined, star: true }
        : { name: undefined, star: true, starTable: table };
    }
    return { name: undefined, star: false };
  });
}
