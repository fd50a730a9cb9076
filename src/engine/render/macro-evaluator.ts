/**
 * A small evaluator for the conditions of `@IF`, `@FILTER` and the clause
 * macros, and for `@EVAL`: literals, arithmetic, comparisons, `AND`, `OR`,
 * `NOT`, `IN`, `BETWEEN`, `LIKE`, `IS [NOT] NULL` and a few functions.
 *
 * It follows the semantics SQLMesh gets from evaluating conditions as Python:
 * comparisons with NULL give NULL, `AND`/`OR` return one of their operands,
 * and any value other than NULL, FALSE, 0 and '' counts as true. A bare name
 * (a column) is a symbol: equal only to the same name, and true.
 */

import { isTrivia, lexMacroSql, MacroSource, unquote, type MacroToken } from './macro-lexer.js';
import { sqlString } from './macro-values.js';
import { pythonFloat } from './temporal-variables.js';

/** A column or other bare name in a condition. */
export interface SymbolValue {
  symbol: string;
}

export type EvalValue = null | boolean | number | string | SymbolValue | EvalValue[];

/** A condition that cannot be evaluated; `offset` is inside the condition's text. */
export class EvalError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

function isSymbol(v: EvalValue): v is SymbolValue {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Python truthiness. */
export function truthy(v: EvalValue): boolean {
  if (v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  return true;
}

function equal(a: EvalValue, b: EvalValue): boolean {
  if (isSymbol(a) || isSymbol(b)) {
    return isSymbol(a) && isSymbol(b) && a.symbol.toLowerCase() === b.symbol.toLowerCase();
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => equal(x, b[i] ?? null));
  }
  if (typeof a === 'boolean' && typeof b === 'number') return (a ? 1 : 0) === b;
  if (typeof b === 'boolean' && typeof a === 'number') return (b ? 1 : 0) === a;
  return a === b;
}

/** Renders an evaluated value as a SQL literal, as `@EVAL` does. */
export function evalValueSql(v: EvalValue): string {
  if (v === null) return 'NULL';
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : pythonFloat(v);
  if (typeof v === 'string') return sqlString(v);
  if (Array.isArray(v)) return `(${v.map(evalValueSql).join(', ')})`;
  return v.symbol;
}

const FUNCTIONS: Record<string, (args: EvalValue[]) => EvalValue> = {
  LOWER: ([a]) => (typeof a === 'string' ? a.toLowerCase() : (a ?? null)),
  UPPER: ([a]) => (typeof a === 'string' ? a.toUpperCase() : (a ?? null)),
  LENGTH: ([a]) => (typeof a === 'string' ? a.length : null),
  TRIM: ([a]) => (typeof a === 'string' ? a.trim() : (a ?? null)),
  ABS: ([a]) => (typeof a === 'number' ? Math.abs(a) : null),
  COALESCE: (args) => args.find((a) => a !== null) ?? null,
  CONCAT: (args) => (args.some((a) => a === null) ? null : args.map(textOf).join('')),
};

function textOf(v: EvalValue): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  if (v === null) return '';
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return v.map(textOf).join(', ');
  return v.symbol;
}

class Parser {
  private pos = 0;
  private readonly toks: MacroToken[];

  constructor(tokens: MacroToken[]) {
    this.toks = tokens.filter((t) => !isTrivia(t));
  }

  private peek(k = 0): MacroToken | undefined {
    return this.toks[this.pos + k];
  }

  private kw(word: string, k = 0): boolean {
    const t = this.peek(k);
    return t !== undefined && t.kind === 'word' && t.text.toUpperCase() === word;
  }

  private punct(p: string): boolean {
    const t = this.peek();
    return t !== undefined && t.kind === 'punct' && t.text === p;
  }

  private fail(message: string): never {
    const t = this.peek();
    throw new EvalError(message, t ? t.start : (this.toks[this.toks.length - 1]?.end ?? 0));
  }

  private expect(p: string): void {
    if (!this.punct(p)) this.fail(`expected '${p}'`);
    this.pos += 1;
  }

  parseAll(): EvalValue {
    if (this.toks.length === 0) this.fail('empty condition');
    const v = this.or();
    if (this.pos < this.toks.length) this.fail(`unexpected '${this.peek()?.text ?? ''}'`);
    return v;
  }

  private or(): EvalValue {
    let left = this.and();
    while (this.kw('OR')) {
      this.pos += 1;
      const right = this.and();
      left = truthy(left) ? left : right;
    }
    return left;
  }

  private and(): EvalValue {
    let left = this.not();
    while (this.kw('AND')) {
      this.pos += 1;
      const right = this.not();
      left = truthy(left) ? right : left;
    }
    return left;
  }

  private not(): EvalValue {
    if (this.kw('NOT')) {
      this.pos += 1;
      return !truthy(this.not());
    }
    return this.comparison();
  }

  private comparison(): EvalValue {
    const left = this.concat();
    const t = this.peek();
    if (t === undefined) return left;
    if (t.kind === 'punct') {
      const op = t.text;
      if (['=', '==', '!=', '<>', '<', '>', '<=', '>='].includes(op)) {
        this.pos += 1;
        const right = this.concat();
        return compare(op, left, right, t.start);
      }
      return left;
    }
    if (t.kind !== 'word') return left;
    let negate = false;
    if (this.kw('IS')) {
      this.pos += 1;
      if (this.kw('NOT')) {
        negate = true;
        this.pos += 1;
      }
      const right = this.concat();
      const same = right === null ? left === null : equal(left, right);
      return negate ? !same : same;
    }
    if (this.kw('NOT') && (this.kw('IN', 1) || this.kw('BETWEEN', 1) || this.kw('LIKE', 1))) {
      negate = true;
      this.pos += 1;
    }
    if (this.kw('IN')) {
      this.pos += 1;
      const list = this.concat();
      const items = Array.isArray(list) ? list : [list];
      const found = items.some((i) => equal(left, i));
      return negate ? !found : found;
    }
    if (this.kw('BETWEEN')) {
      this.pos += 1;
      const low = this.concat();
      if (!this.kw('AND')) this.fail('expected AND in BETWEEN');
      this.pos += 1;
      const high = this.concat();
      const lo = compare('>=', left, low, t.start);
      const hi = compare('<=', left, high, t.start);
      if (lo === null || hi === null) return null;
      const inside = lo === true && hi === true;
      return negate ? !inside : inside;
    }
    if (this.kw('LIKE')) {
      this.pos += 1;
      const pattern = this.concat();
      if (left === null || pattern === null) return null;
      const matched = likeRegex(textOf(pattern)).test(textOf(left));
      return negate ? !matched : matched;
    }
    return left;
  }

  private concat(): EvalValue {
    let left = this.additive();
    while (this.punct('||')) {
      this.pos += 1;
      const right = this.additive();
      left = left === null || right === null ? null : textOf(left) + textOf(right);
    }
    return left;
  }

  private additive(): EvalValue {
    let left = this.multiplicative();
    for (;;) {
      const t = this.peek();
      if (!t || t.kind !== 'punct' || (t.text !== '+' && t.text !== '-')) return left;
      this.pos += 1;
      const right = this.multiplicative();
      left = arithmetic(t.text, left, right, t.start);
    }
  }

  private multiplicative(): EvalValue {
    let left = this.unary();
    for (;;) {
      const t = this.peek();
      if (!t || t.kind !== 'punct' || !['*', '/', '%'].includes(t.text)) return left;
      this.pos += 1;
      const right = this.unary();
      left = arithmetic(t.text, left, right, t.start);
    }
  }

  private unary(): EvalValue {
    const t = this.peek();
    if (t && t.kind === 'punct' && (t.text === '-' || t.text === '+')) {
      this.pos += 1;
      const v = this.unary();
      if (v === null) return null;
      if (typeof v !== 'number') throw new EvalError(`cannot negate ${evalValueSql(v)}`, t.start);
      return t.text === '-' ? -v : v;
    }
    return this.primary();
  }

  private primary(): EvalValue {
    const t = this.peek();
    if (t === undefined) return this.fail('unexpected end of condition');
    this.pos += 1;
    switch (t.kind) {
      case 'number':
        return Number(t.text);
      case 'string':
      case 'dollar':
        return t.kind === 'string'
          ? unquote(t.text)
          : t.text.slice(t.text.indexOf('$', 1) + 1, t.text.lastIndexOf('$', t.text.length - 2));
      case 'qident':
        return { symbol: unquote(t.text) };
      case 'word': {
        const upper = t.text.toUpperCase();
        if (upper === 'TRUE') return true;
        if (upper === 'FALSE') return false;
        if (upper === 'NULL' || upper === 'NONE') return null;
        if (this.punct('(')) {
          const fn = FUNCTIONS[upper];
          if (!fn)
            throw new EvalError(
              `cannot evaluate function ${t.text}() in a macro condition`,
              t.start,
            );
          this.pos += 1;
          const args: EvalValue[] = [];
          if (!this.punct(')')) {
            args.push(this.or());
            while (this.punct(',')) {
              this.pos += 1;
              args.push(this.or());
            }
          }
          this.expect(')');
          return fn(args);
        }
        let name = t.text;
        while (this.punct('.') && this.peek(1)?.kind === 'word') {
          name += `.${this.peek(1)?.text ?? ''}`;
          this.pos += 2;
        }
        return { symbol: name };
      }
      case 'punct': {
        if (t.text === '(' || t.text === '[') {
          const close = t.text === '(' ? ')' : ']';
          const items: EvalValue[] = [];
          let tuple = t.text === '[';
          if (!this.punct(close)) {
            items.push(this.or());
            while (this.punct(',')) {
              tuple = true;
              this.pos += 1;
              if (this.punct(close)) break;
              items.push(this.or());
            }
          } else {
            tuple = true;
          }
          this.expect(close);
          return tuple ? items : (items[0] ?? null);
        }
        break;
      }
      default:
        break;
    }
    throw new EvalError(`cannot evaluate '${t.text}' in a macro condition`, t.start);
  }
}

function likeRegex(pattern: string): RegExp {
  let re = '^';
  for (const ch of pattern) {
    if (ch === '%') re += '[\\s\\S]*';
    else if (ch === '_') re += '[\\s\\S]';
    else re += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`${re}$`);
}

function compare(op: string, a: EvalValue, b: EvalValue, offset: number): EvalValue {
  if (a === null || b === null) return null;
  if (op === '=' || op === '==') return equal(a, b);
  if (op === '!=' || op === '<>') return !equal(a, b);
  const an = typeof a === 'boolean' ? Number(a) : a;
  const bn = typeof b === 'boolean' ? Number(b) : b;
  const comparable =
    (typeof an === 'number' && typeof bn === 'number') ||
    (typeof an === 'string' && typeof bn === 'string');
  if (!comparable) {
    throw new EvalError(`cannot compare ${evalValueSql(a)} ${op} ${evalValueSql(b)}`, offset);
  }
  switch (op) {
    case '<':
      return an < bn;
    case '>':
      return an > bn;
    case '<=':
      return an <= bn;
    default:
      return an >= bn;
  }
}

function arithmetic(op: string, a: EvalValue, b: EvalValue, offset: number): EvalValue {
  if (a === null || b === null) return null;
  if (op === '+' && typeof a === 'string' && typeof b === 'string') return a + b;
  const an = typeof a === 'boolean' ? Number(a) : a;
  const bn = typeof b === 'boolean' ? Number(b) : b;
  if (typeof an !== 'number' || typeof bn !== 'number') {
    throw new EvalError(`cannot compute ${evalValueSql(a)} ${op} ${evalValueSql(b)}`, offset);
  }
  switch (op) {
    case '+':
      return an + bn;
    case '-':
      return an - bn;
    case '*':
      return an * bn;
    case '/':
      if (bn === 0) throw new EvalError('division by zero', offset);
      return an / bn;
    default:
      if (bn === 0) throw new EvalError('division by zero', offset);
      return an - bn * Math.floor(an / bn);
  }
}

/**
 * Evaluates a condition written in SQL (macros already rendered). Throws
 * {@link EvalError} with an offset into `text` when it cannot.
 */
export function evaluateSql(text: string): EvalValue {
  let tokens: MacroToken[];
  try {
    tokens = lexMacroSql(new MacroSource(text, { file: '', line: 1, column: 1 }), {
      backslashEscapes: false,
    });
  } catch (e) {
    throw new EvalError(e instanceof Error ? e.message : String(e), 0);
  }
  return new Parser(tokens).parseAll();
}
