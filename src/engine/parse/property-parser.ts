/**
 * Parses the property lists of `MODEL (...)` and `AUDIT (...)` blocks, and the
 * nested `kind NAME (...)` lists, into small value trees. Values stay close to
 * the source: every node knows its token range so that anything that is not a
 * plain literal can be kept as SQL text.
 */

import type { SourceLocation } from '../errors.js';
import type { LineIndex, Token } from './sql-scanner.js';

interface NodeBase {
  /** Index of the node's first token. */
  from: number;
  /** Index just past the node's last token. */
  to: number;
}

export type ValueNode =
  | (NodeBase & { type: 'string'; value: string })
  | (NodeBase & { type: 'number'; value: number })
  | (NodeBase & { type: 'boolean'; value: boolean })
  /** A possibly dotted identifier; `parts` are unquoted. */
  | (NodeBase & { type: 'ident'; parts: string[] })
  | (NodeBase & { type: 'list'; items: ValueNode[]; bracket: '(' | '[' })
  | (NodeBase & { type: 'call'; name: string; args: ValueNode[] })
  /** `key := value`, `key = value` or `key => value` inside a list or call. */
  | (NodeBase & { type: 'assign'; key: string; value: ValueNode })
  /** `NAME (key value, ...)`, used by `kind`. */
  | (NodeBase & { type: 'props'; name: string; props: Property[] | undefined })
  /** Any other SQL expression (macros, operators, casts...), kept as text. */
  | (NodeBase & { type: 'expr' });

export interface Property {
  /** The key, lower-cased. */
  key: string;
  /** Index of the key's token. */
  keyIndex: number;
  value: ValueNode;
}

/** Parses one property's value starting at token `i`, never past `limit`. */
export type ValueReader = (key: string, i: number, limit: number) => ValueNode;

export class PropertyParser {
  /** For each opening bracket, the index of its closing bracket. */
  private readonly match: Int32Array;

  constructor(
    readonly source: string,
    readonly lines: LineIndex,
    readonly tokens: Token[],
  ) {
    this.match = new Int32Array(tokens.length).fill(-1);
    const stack: number[] = [];
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i] as Token;
      if (t.kind !== 'punct') continue;
      if (t.text === '(' || t.text === '[' || t.text === '{') stack.push(i);
      else if (t.text === ')' || t.text === ']' || t.text === '}') {
        const open = stack.pop();
        if (open !== undefined) this.match[open] = i;
      }
    }
  }

  token(i: number): Token {
    return this.tokens[i] as Token;
  }

  /** Index of the bracket closing the one at `i`. */
  closing(i: number): number {
    const m = this.match[i];
    if (m === undefined || m < 0)
      throw this.fail(i, `\`${this.token(i).text}\` is never closed; add its closing bracket`);
    return m;
  }

  isPunct(i: number, text: string): boolean {
    const t = this.tokens[i];
    return t !== undefined && t.kind === 'punct' && t.text === text;
  }

  isWord(i: number, upper?: string): boolean {
    const t = this.tokens[i];
    return (
      t !== undefined &&
      t.kind === 'word' &&
      (upper === undefined || t.text.toUpperCase() === upper)
    );
  }

  locate(i: number): SourceLocation {
    const t = this.tokens[i];
    if (t !== undefined) return this.lines.locate(t.start);
    const last = this.tokens[this.tokens.length - 1];
    return this.lines.locate(last ? last.end : 0);
  }

  fail(i: number, reason: string): Error {
    const t = this.tokens[i];
    const last = this.tokens[this.tokens.length - 1];
    return this.lines.error(t ? t.start : last ? last.end : 0, reason);
  }

  /** The tokens `[from, to)` as SQL text, comments dropped, one space where there was any gap. */
  raw(from: number, to: number): string {
    let out = '';
    let prevEnd = -1;
    for (let i = from; i < to; i++) {
      const t = this.tokens[i] as Token;
      if (prevEnd !== -1 && t.start > prevEnd) out += ' ';
      out += t.text;
      prevEnd = t.end;
    }
    return out;
  }

  /** The text of a node. */
  text(node: ValueNode): string {
    return this.raw(node.from, node.to);
  }

  /** The name a word, quoted identifier or string token stands for. */
  nameOf(i: number): string {
    const t = this.token(i);
    if (t.kind === 'qident') return unquote(t.text);
    if (t.kind === 'string') return unquoteString(t.text);
    return t.text;
  }

  /** Index of the first `,` at this bracket level in `[i, limit)`, or `limit`. */
  untilComma(i: number, limit: number): number {
    let j = i;
    while (j < limit) {
      const t = this.token(j);
      if (t.kind === 'punct') {
        if (t.text === ',') return j;
        if (t.text === '(' || t.text === '[' || t.text === '{') {
          j = this.closing(j) + 1;
          continue;
        }
      }
      j++;
    }
    return limit;
  }

  /**
   * Parses `key value, key value, ...` between the brackets at `open` and
   * `close`. Trailing commas are allowed; a repeated key is an error.
   */
  parseProperties(open: number, close: number, where: string, read: ValueReader): Property[] {
    const props: Property[] = [];
    const seen = new Map<string, number>();
    let i = open + 1;
    while (i < close) {
      const t = this.token(i);
      let key: string;
      let value: ValueNode;
      if (t.kind === 'macro') {
        // A macro call that produces properties when rendered; kept as text.
        value = this.parsePrimary(i, close, t.text);
        key = this.text(value);
      } else if (t.kind === 'word' || t.kind === 'qident') {
        key = this.nameOf(i).toLowerCase();
        if (i + 1 >= close || this.isPunct(i + 1, ',')) {
          throw this.fail(
            i,
            `property \`${key}\` in the ${where} block has no value; write \`${key} <value>\``,
          );
        }
        value = read(key, i + 1, close);
      } else if (t.kind === 'punct' && t.text === ',') {
        throw this.fail(i, `unexpected \`,\` in the ${where} block; remove the extra comma`);
      } else {
        throw this.fail(i, `expected a property name in the ${where} block, found \`${t.text}\``);
      }
      const before = seen.get(key);
      if (before !== undefined) {
        const loc = this.locate(before);
        throw this.fail(
          i,
          `property \`${key}\` is given twice in the ${where} block (first at line ${loc.line}); keep one`,
        );
      }
      seen.set(key, i);
      props.push({ key, keyIndex: i, value });
      const j = value.to;
      if (j < close) {
        if (!this.isPunct(j, ',')) {
          throw this.fail(
            j,
            `unexpected \`${this.token(j).text}\` after the value of \`${key}\`; separate properties with commas`,
          );
        }
        i = j + 1;
      } else {
        i = j;
      }
    }
    return props;
  }

  /** Everything up to the next `,` at this level, as one expression. */
  parseUntilComma(key: string, i: number, limit: number): ValueNode {
    const to = this.untilComma(i, limit);
    if (to === i) throw this.fail(i, `property \`${key}\` has no value; write \`${key} <value>\``);
    const single = this.parsePrimary(i, to, key);
    return single.to === to ? single : { type: 'expr', from: i, to };
  }

  /** A literal, identifier, list, function call or macro, with casts and subscripts. */
  parsePrimary(i: number, limit: number, key: string): ValueNode {
    if (i >= limit)
      throw this.fail(i, `property \`${key}\` has no value; write \`${key} <value>\``);
    const t = this.token(i);
    let node: ValueNode;
    switch (t.kind) {
      case 'string':
        node = { type: 'string', value: unquoteString(t.text), from: i, to: i + 1 };
        break;
      case 'dollar': {
        const tagEnd = t.text.indexOf('$', 1) + 1;
        node = {
          type: 'string',
          value: t.text.slice(tagEnd, t.text.length - tagEnd),
          from: i,
          to: i + 1,
        };
        break;
      }
      case 'number':
        node = { type: 'number', value: Number(t.text), from: i, to: i + 1 };
        break;
      case 'word':
      case 'qident':
        node = this.parseName(i, limit);
        break;
      case 'macro':
        if (i + 1 < limit && this.isPunct(i + 1, '(')) {
          node = { type: 'expr', from: i, to: this.closing(i + 1) + 1 };
        } else {
          node = { type: 'expr', from: i, to: this.glue(i + 1, limit) };
        }
        node = this.dotted(node, limit);
        break;
      case 'punct':
        if (
          (t.text === '-' || t.text === '+') &&
          i + 1 < limit &&
          this.token(i + 1).kind === 'number'
        ) {
          const n = Number(this.token(i + 1).text);
          node = { type: 'number', value: t.text === '-' ? -n : n, from: i, to: i + 2 };
        } else if (t.text === '(' || t.text === '[') {
          node = this.parseList(i, i, t.text);
        } else if (t.text === '{') {
          node = { type: 'expr', from: i, to: this.closing(i) + 1 };
        } else if (t.text === '*') {
          node = { type: 'expr', from: i, to: i + 1 };
        } else {
          throw this.fail(i, `expected a value for \`${key}\`, found \`${t.text}\``);
        }
        break;
      default:
        throw this.fail(i, `expected a value for \`${key}\`, found the end of the block`);
    }
    // Postfix: casts and subscripts turn the value into an expression.
    let to = node.to;
    for (;;) {
      if (to < limit && this.isPunct(to, '[')) {
        to = this.closing(to) + 1;
      } else if (to + 1 < limit && this.isPunct(to, '::') && this.token(to + 1).kind === 'word') {
        to += 2;
        if (to < limit && this.isPunct(to, '(')) to = this.closing(to) + 1;
      } else {
        break;
      }
    }
    return to === node.to ? node : { type: 'expr', from: i, to };
  }

  private parseName(i: number, limit: number): ValueNode {
    const t = this.token(i);
    const next = i + 1 < limit ? this.token(i + 1) : undefined;
    const nextIs = (p: string): boolean =>
      next !== undefined && next.kind === 'punct' && next.text === p;
    if (t.kind === 'word') {
      const upper = t.text.toUpperCase();
      if ((upper === 'TRUE' || upper === 'FALSE') && !nextIs('(') && !nextIs('.')) {
        return { type: 'boolean', value: upper === 'TRUE', from: i, to: i + 1 };
      }
      if (upper === 'ARRAY' && nextIs('[')) return this.parseList(i, i + 1, '[');
      if (nextIs('(')) {
        const close = this.closing(i + 1);
        const args = this.parseElements(i + 1, close, t.text);
        return this.dotted({ type: 'call', name: t.text, args, from: i, to: close + 1 }, limit);
      }
    }
    const parts = [this.nameOf(i)];
    let j = this.glue(i + 1, limit);
    let glued = j > i + 1;
    while (j + 1 < limit && this.isPunct(j, '.')) {
      const part = this.token(j + 1);
      if (part.kind === 'word' || part.kind === 'qident') parts.push(this.nameOf(j + 1));
      else if (part.kind === 'macro' || (part.kind === 'punct' && part.text === '*'))
        parts.push(part.text);
      else break;
      const next = this.glue(j + 2, limit);
      glued ||= next > j + 2;
      j = next;
    }
    return glued ? { type: 'expr', from: i, to: j } : { type: 'ident', parts, from: i, to: j };
  }

  /**
   * Skips words, macros and numbers written right against the token before
   * `j`, as in `@{schema}_raw` or `orders_@{suffix}`; returns the index after them.
   */
  private glue(j: number, limit: number): number {
    let k = j;
    while (k < limit) {
      const t = this.token(k);
      const touching = t.start === this.token(k - 1).end;
      if (!touching || (t.kind !== 'word' && t.kind !== 'macro' && t.kind !== 'number')) break;
      k++;
    }
    return k;
  }

  /** Extends a node over `.name` parts that follow it (`@{schema}.table`, `f(x).y`). */
  private dotted(node: ValueNode, limit: number): ValueNode {
    let j = node.to;
    while (j + 1 < limit && this.isPunct(j, '.')) {
      const k = this.token(j + 1).kind;
      if (k !== 'word' && k !== 'qident' && k !== 'macro') break;
      j = this.glue(j + 2, limit);
    }
    return j === node.to ? node : { type: 'expr', from: node.from, to: j };
  }

  /** `( ... )` or `[ ... ]` (or `ARRAY[ ... ]` starting at `from`). */
  parseList(from: number, open: number, bracket: string): ValueNode {
    const close = this.closing(open);
    const items = this.parseElements(open, close, bracket);
    return { type: 'list', items, bracket: bracket === '(' ? '(' : '[', from, to: close + 1 };
  }

  /** The comma-separated entries between the brackets at `open` and `close`. */
  parseElements(open: number, close: number, what: string): ValueNode[] {
    const items: ValueNode[] = [];
    let i = open + 1;
    while (i < close) {
      const end = this.untilComma(i, close);
      if (end === i) throw this.fail(i, `empty entry in \`${what}\`; remove the extra comma`);
      items.push(this.parseElement(i, end, what));
      i = end + 1;
    }
    return items;
  }

  /** One entry of a list or call: `value`, `key := value`, `key = value` or an expression. */
  parseElement(i: number, end: number, what: string): ValueNode {
    const t = this.token(i);
    if (
      end - i >= 3 &&
      (t.kind === 'word' || t.kind === 'qident' || t.kind === 'string') &&
      (this.isPunct(i + 1, ':=') || this.isPunct(i + 1, '=') || this.isPunct(i + 1, '=>'))
    ) {
      const value = this.parseElement(i + 2, end, what);
      return { type: 'assign', key: this.nameOf(i), value, from: i, to: end };
    }
    const node = this.parsePrimary(i, end, what);
    return node.to === end ? node : { type: 'expr', from: i, to: end };
  }
}

/** `"a""b"` -> `a"b`, `` `a` `` -> `a`. */
export function unquote(text: string): string {
  const q = text[0] as string;
  return text
    .slice(1, -1)
    .split(q + q)
    .join(q);
}

/** `'it''s'` -> `it's`. */
export function unquoteString(text: string): string {
  return text.slice(1, -1).split("''").join("'");
}
