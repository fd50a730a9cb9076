/**
 * Small pieces of SQL text the write strategies assemble: a query wrapped as
 * a subquery, temporary table names, and two rewrites of user-written
 * expressions (unique keys, partition expressions, `when_matched`) done on a
 * light tokenizer rather than a full parse, because the expressions arrive as
 * text in the warehouse's dialect.
 */
import { randomBytes } from 'node:crypto';
import type { EngineAdapter } from '../adapters/engine-adapter.js';

/** A query as the body of a subquery: trailing semicolons dropped, on lines of its own. */
export function asSubquery(querySql: string): string {
  const body = querySql.replace(/[\s;]+$/, '');
  return `(\n${body}\n)`;
}

/** A fresh name for a temporary table, unique within the session. */
export function tempTableName(purpose: string): string {
  return `__tideline_${purpose}_${randomBytes(6).toString('hex')}`;
}

/** `"a", "b", "c"`. */
export function columnList(
  adapter: Pick<EngineAdapter, 'quoteIdentifier'>,
  names: string[],
): string {
  return names.map((n) => adapter.quoteIdentifier(n)).join(', ');
}

type TokenKind = 'word' | 'quoted' | 'string' | 'number' | 'space' | 'comment' | 'punct';

export interface Token {
  kind: TokenKind;
  /** The token exactly as written. */
  text: string;
  /** For `word` and `quoted`: the identifier's name (quotes removed, doubled quotes undone). */
  name?: string;
}

/** Splits SQL text into tokens; concatenating their `text` gives the input back. */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    const rest = sql.slice(i);
    let m: RegExpMatchArray | null;
    if ((m = rest.match(/^\s+/))) {
      tokens.push({ kind: 'space', text: m[0] });
    } else if ((m = rest.match(/^--[^\n]*/)) || (m = rest.match(/^\/\*[\s\S]*?(\*\/|$)/))) {
      tokens.push({ kind: 'comment', text: m[0] });
    } else if (c === "'" || ((c === 'E' || c === 'e') && sql[i + 1] === "'")) {
      m = rest.match(/^[Ee]?'(?:[^']|'')*('|$)/);
      tokens.push({ kind: 'string', text: (m as RegExpMatchArray)[0] });
    } else if (c === '"') {
      m = rest.match(/^"(?:[^"]|"")*("|$)/) as RegExpMatchArray;
      tokens.push({ kind: 'quoted', text: m[0], name: m[0].slice(1, -1).replace(/""/g, '"') });
    } else if ((m = rest.match(/^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/))) {
      tokens.push({ kind: 'word', text: m[0], name: m[0] });
    } else if ((m = rest.match(/^(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?)/i))) {
      tokens.push({ kind: 'number', text: m[0] });
    } else if ((m = rest.match(/^(::|<>|!=|<=|>=|\|\|)/))) {
      tokens.push({ kind: 'punct', text: m[0] });
    } else {
      tokens.push({ kind: 'punct', text: c });
    }
    i += (tokens[tokens.length - 1] as Token).text.length;
  }
  return tokens;
}

/** The index of the nearest token before (`step` -1) or after (+1) `i` that is not space or comment. */
function neighbour(tokens: Token[], i: number, step: 1 | -1): number {
  let j = i + step;
  while (j >= 0 && j < tokens.length) {
    const kind = (tokens[j] as Token).kind;
    if (kind !== 'space' && kind !== 'comment') return j;
    j += step;
  }
  return -1;
}

/**
 * Rewrites the unqualified column references of `expr` that name one of
 * `columns`: `replace(column)` gives the SQL put in their place (say
 * `"target"."id"`). A bare word matches a column case-insensitively, a quoted
 * one exactly. Words that are qualifiers, qualified, function names, or type
 * names after `::` or `AS` are left alone.
 */
export function rewriteColumns(
  expr: string,
  columns: readonly string[],
  replace: (column: string) => string,
): string {
  const tokens = tokenize(expr);
  const out: string[] = [];
  tokens.forEach((token, i) => {
    const column = token.name === undefined ? undefined : matchColumn(token, columns);
    if (column === undefined) {
      out.push(token.text);
      return;
    }
    const before = tokens[neighbour(tokens, i, -1)];
    const after = tokens[neighbour(tokens, i, 1)];
    const isQualified = before?.text === '.' || before?.text === '::';
    const isTypeName = before?.kind === 'word' && before.text.toUpperCase() === 'AS';
    const isQualifierOrCall = after?.text === '.' || after?.text === '(';
    out.push(isQualified || isTypeName || isQualifierOrCall ? token.text : replace(column));
  });
  return out.join('');
}

function matchColumn(token: Token, columns: readonly string[]): string | undefined {
  const name = token.name as string;
  if (token.kind === 'quoted') return columns.find((c) => c === name);
  const lower = name.toLowerCase();
  return columns.find((c) => c === name) ?? columns.find((c) => c.toLowerCase() === lower);
}

/**
 * Removes the `target.` qualifier from the columns assigned in the
 * `UPDATE SET` lists of `WHEN MATCHED` clauses: users write
 * `SET target.salary = source.salary`, which neither PostgreSQL nor DuckDB
 * accepts on the left of `=`.
 */
export function unqualifySetTargets(whens: string, targetAlias = 'target'): string {
  const tokens = tokenize(whens);
  const drop = new Set<number>();
  let inSet = false;
  let expectLhs = false;
  let depth = 0;
  tokens.forEach((token, i) => {
    if (token.kind === 'space' || token.kind === 'comment') return;
    const upper = token.kind === 'word' ? token.text.toUpperCase() : '';
    if (upper === 'SET') {
      inSet = true;
      expectLhs = true;
      depth = 0;
      return;
    }
    if (!inSet) return;
    if (upper === 'WHEN' && depth === 0) {
      inSet = false;
      return;
    }
    if (token.text === '(') depth += 1;
    else if (token.text === ')') depth -= 1;
    else if (token.text === ',' && depth === 0) {
      expectLhs = true;
      return;
    }
    if (expectLhs) {
      expectLhs = false;
      const dot = neighbour(tokens, i, 1);
      const isTarget =
        (token.kind === 'word' && token.text.toLowerCase() === targetAlias) ||
        (token.kind === 'quoted' && token.name === targetAlias);
      if (isTarget && tokens[dot]?.text === '.') {
        for (let j = i; j <= dot; j++) drop.add(j);
      }
    }
  });
  return tokens
    .filter((_, i) => !drop.has(i))
    .map((t) => t.text)
    .join('');
}
