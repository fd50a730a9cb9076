/**
 * Values of macro variables and how they become SQL text.
 *
 * A value is kept as the SQL it renders to (`@x`), the plain text spliced
 * into identifiers and string templates (`col_@x`, `@{x}`, `@'...@x...'`),
 * and, for arrays and tuples, its items (for `@EACH` and friends).
 */

import { lexMacroSql, MacroSource, isTrivia, unquote, type MacroToken } from './macro-lexer.js';

export interface MacroValue {
  /** The SQL that `@name` renders to. */
  sql: string;
  /** The text spliced into identifiers and templates: strings and plain names unquoted. */
  text: string;
  /** Items, when the value is an array or a tuple. */
  items?: MacroValue[];
}

const NOWHERE = { file: '<value>', line: 1, column: 1 };

/** Single quotes a string for SQL. */
export function sqlString(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** Dialects that quote identifiers with backticks. */
const BACKTICK_DIALECTS = new Set([
  'bigquery',
  'mysql',
  'spark',
  'spark2',
  'hive',
  'databricks',
  'doris',
  'starrocks',
  'drill',
]);

/** An identifier that needs no quotes: a letter or underscore, then letters, digits, underscores. */
export function isSafeIdentifier(name: string): boolean {
  if (name.length === 0) return false;
  const c0 = name.charCodeAt(0);
  if (!((c0 >= 97 && c0 <= 122) || (c0 >= 65 && c0 <= 90) || c0 === 95 || c0 > 127)) return false;
  for (let i = 1; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (!(
      (c >= 97 && c <= 122) ||
      (c >= 65 && c <= 90) ||
      c === 95 ||
      (c >= 48 && c <= 57) ||
      c > 127
    )) {
      return false;
    }
  }
  return true;
}

/** Quotes an identifier with the dialect's quote character. */
export function quoteIdentifier(name: string, dialect: string): string {
  const q = BACKTICK_DIALECTS.has(dialect.toLowerCase()) ? '`' : '"';
  return `${q}${name.split(q).join(q + q)}${q}`;
}

/** An identifier as SQL: bare when safe and not asked to quote, quoted otherwise. */
export function identifierSql(name: string, dialect: string, quoted: boolean): string {
  return quoted || !isSafeIdentifier(name) ? quoteIdentifier(name, dialect) : name;
}

/** Splits tokens at top-level commas (outside brackets). Trivia at the edges is kept. */
export function splitTopLevel(
  tokens: MacroToken[],
  from: number,
  to: number,
): Array<[number, number]> {
  const parts: Array<[number, number]> = [];
  let depth = 0;
  let partStart = from;
  for (let i = from; i < to; i++) {
    const t = tokens[i];
    if (t === undefined || t.kind !== 'punct') continue;
    const p = t.text;
    if (p === '(' || p === '[' || p === '{') depth += 1;
    else if (p === ')' || p === ']' || p === '}') depth -= 1;
    else if (p === ',' && depth === 0) {
      parts.push([partStart, i]);
      partStart = i + 1;
    }
  }
  parts.push([partStart, to]);
  return parts;
}

/** The indexes of the first and last meaningful tokens in [from, to), or undefined when none. */
export function trimRange(
  tokens: MacroToken[],
  from: number,
  to: number,
): [number, number] | undefined {
  let a = from;
  let b = to - 1;
  while (a <= b && isTrivia(tokens[a])) a += 1;
  while (b >= a && isTrivia(tokens[b])) b -= 1;
  return a <= b ? [a, b] : undefined;
}

/** Finds the bracket closing the one at `open`, or -1. */
export function matchingClose(tokens: MacroToken[], open: number, to = tokens.length): number {
  let depth = 0;
  for (let i = open; i < to; i++) {
    const t = tokens[i];
    if (t === undefined || t.kind !== 'punct') continue;
    const p = t.text;
    if (p === '(' || p === '[' || p === '{') depth += 1;
    else if (p === ')' || p === ']' || p === '}') {
      depth -= 1;
      if (depth === 0) return i;
    }
  }
  return -1;
}

function tokensText(tokens: MacroToken[], from: number, to: number): string {
  let s = '';
  for (let i = from; i <= to; i++) s += tokens[i]?.text ?? '';
  return s;
}

/**
 * A value from SQL text (a `@DEF` value, a macro argument, a lambda argument):
 * a string literal or a plain name splices as its bare text; `[a, b]` and
 * `(a, b)` have items.
 */
export function sqlValue(sql: string): MacroValue {
  const text = sql.trim();
  if (text === '') return { sql: text, text };
  let tokens: MacroToken[];
  try {
    tokens = lexMacroSql(new MacroSource(text, NOWHERE), { backslashEscapes: false });
  } catch {
    return { sql: text, text };
  }
  const range = trimRange(tokens, 0, tokens.length);
  if (!range) return { sql: text, text };
  const [a, b] = range;
  const first = tokens[a];
  if (first === undefined) return { sql: text, text };
  if (a === b) {
    if (first.kind === 'string') return { sql: text, text: unquote(first.text) };
    if (first.kind === 'qident') return { sql: text, text: unquote(first.text) };
    return { sql: text, text };
  }
  const last = tokens[b];
  if (
    first.kind === 'punct' &&
    (first.text === '[' || first.text === '(') &&
    matchingClose(tokens, a) === b &&
    last !== undefined
  ) {
    const parts = splitTopLevel(tokens, a + 1, b);
    const isArray = first.text === '[';
    // `(a)` is a parenthesized expression with one item; `(a, b)` a tuple; `[]` no items.
    if (isArray || parts.length > 1) {
      const items: MacroValue[] = [];
      for (const [from, to] of parts) {
        const r = trimRange(tokens, from, to);
        if (r) items.push(sqlValue(tokensText(tokens, r[0], r[1])));
      }
      return { sql: text, text, items };
    }
    const inner = trimRange(tokens, a + 1, b);
    if (inner) {
      const one = sqlValue(tokensText(tokens, inner[0], inner[1]));
      return { sql: text, text, items: [one] };
    }
  }
  return { sql: text, text };
}

/** A value from configuration (YAML/JSON): strings become string literals, lists tuples. */
export function jsValue(value: unknown): MacroValue {
  if (value === null || value === undefined) return { sql: 'NULL', text: 'NULL' };
  if (typeof value === 'string') return { sql: sqlString(value), text: value };
  if (typeof value === 'number' || typeof value === 'bigint') {
    const s = String(value);
    return { sql: s, text: s };
  }
  if (typeof value === 'boolean') {
    const s = value ? 'TRUE' : 'FALSE';
    return { sql: s, text: s };
  }
  if (value instanceof Date) {
    const s = sqlString(value.toISOString());
    return { sql: s, text: value.toISOString() };
  }
  if (Array.isArray(value)) {
    const items = value.map(jsValue);
    const sql = `(${items.map((i) => i.sql).join(', ')})`;
    return { sql, text: sql, items };
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    const keys = entries.map(([k]) => sqlString(k)).join(', ');
    const values = entries.map(([, v]) => jsValue(v).sql).join(', ');
    const sql = `MAP(ARRAY(${keys}), ARRAY(${values}))`;
    return { sql, text: sql };
  }
  const s = sqlString(String(value));
  return { sql: s, text: String(value) };
}

/** A list of values, as a macro returns it (`@EACH`, `@FILTER`): renders comma-separated. */
export function listValue(items: MacroValue[]): MacroValue {
  const sql = items.map((i) => i.sql).join(', ');
  return { sql, text: sql, items };
}

/**
 * Substitutes `@name` and `@{name}` inside a piece of text (an identifier or
 * a string template). `@@` stands for a single `@`. A name that `lookup` does
 * not know is left as written when `strict` is false, and reported through
 * `onMissing` otherwise.
 */
export function substituteTemplate(
  text: string,
  lookup: (name: string) => MacroValue | undefined,
  onMissing?: (name: string, offset: number) => never,
): string {
  let at = text.indexOf('@');
  if (at === -1) return text;
  let out = '';
  let pos = 0;
  while (at !== -1) {
    out += text.slice(pos, at);
    const next = text.charCodeAt(at + 1);
    if (next === 64) {
      out += '@';
      pos = at + 2;
    } else {
      let nameStart = at + 1;
      const braced = next === 123;
      if (braced) nameStart += 1;
      let j = nameStart;
      const c0 = text.charCodeAt(j);
      const startsName = (c0 >= 97 && c0 <= 122) || (c0 >= 65 && c0 <= 90) || c0 === 95;
      if (startsName) {
        j += 1;
        for (;;) {
          const c = text.charCodeAt(j);
          if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || (c >= 48 && c <= 57))
            j += 1;
          else break;
        }
      }
      const nameEnd = j;
      const end = braced ? (text.charCodeAt(j) === 125 ? j + 1 : -1) : j;
      if (!startsName || end === -1) {
        out += '@';
        pos = at + 1;
      } else {
        const name = text.slice(nameStart, nameEnd);
        const value = lookup(name.toLowerCase());
        if (value === undefined) {
          if (onMissing) onMissing(name, at);
          out += text.slice(at, end);
        } else {
          out += value.text;
        }
        pos = end;
      }
    }
    at = text.indexOf('@', pos);
  }
  return out + text.slice(pos);
}
