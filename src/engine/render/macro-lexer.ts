/**
 * The tokenizer of the macro renderer: splits SQL text into tokens that keep
 * every character (whitespace and comments included), so that text without
 * macros can be copied through unchanged. It knows quoted strings and
 * identifiers, dollar quotes and comments, so an `@` inside them is never
 * taken for a macro, and it recognizes the macro forms `@name`, `@{name}` and
 * `@'text'` / `@"text"`.
 */

import { ProjectError, type SourceLocation } from '../errors.js';

/**
 * - ws: spaces, tabs and newlines
 * - comment: `-- ...` to the end of the line, or `/* ... *\/`
 * - string: `'...'` (also the quote part of `E'...'`, `N'...'`)
 * - dollar: `$$...$$` or `$tag$...$tag$`
 * - qident: `"..."` or `` `...` ``
 * - number: `1`, `1.5`, `.5`, `1e3`
 * - word: identifiers and keywords (`select`, `amount_usd`, `$1`)
 * - var: `@name`; `name` holds the name
 * - brace: `@{name}`; `name` holds the name
 * - template: `@'...'` or `@"..."`; `name` holds the text between the quotes
 * - punct: one operator or bracket (`(`, `,`, `->`, `:=`, `::`, `<=`, `||`, ...)
 */
export type MacroTokenKind =
  | 'ws'
  | 'comment'
  | 'string'
  | 'dollar'
  | 'qident'
  | 'number'
  | 'word'
  | 'var'
  | 'brace'
  | 'template'
  | 'punct';

export interface MacroToken {
  kind: MacroTokenKind;
  /** The token as written. */
  text: string;
  /** Offset of the first character in the source text. */
  start: number;
  /** Offset just past the last character. */
  end: number;
  /** For `var`, `brace` and `template` tokens: the name or the template text. */
  name: string;
}

/** SQL text with where it came from, able to turn offsets into file positions. */
export class MacroSource {
  private lineStarts: number[] | undefined;

  constructor(
    readonly text: string,
    readonly location: SourceLocation,
  ) {}

  /** The file position of the character at `offset`. */
  locate(offset: number): SourceLocation {
    if (!this.lineStarts) {
      const starts = [0];
      let i = this.text.indexOf('\n');
      while (i !== -1) {
        starts.push(i + 1);
        i = this.text.indexOf('\n', i + 1);
      }
      this.lineStarts = starts;
    }
    const starts = this.lineStarts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    const lineStart = starts[lo] ?? 0;
    const col = offset - lineStart;
    return {
      file: this.location.file,
      line: this.location.line + lo,
      column: lo === 0 ? this.location.column + col : col + 1,
    };
  }

  /** A ProjectError pointing at `offset`. */
  error(reason: string, offset: number): ProjectError {
    return new ProjectError(reason, this.locate(offset));
  }
}

/** Dialects whose quoted strings treat a backslash as an escape character. */
const BACKSLASH_DIALECTS = new Set([
  'bigquery',
  'mysql',
  'spark',
  'spark2',
  'hive',
  'databricks',
  'clickhouse',
  'snowflake',
  'doris',
  'starrocks',
  'drill',
]);

export interface LexOptions {
  /** Whether a backslash escapes the next character inside quotes. */
  backslashEscapes: boolean;
}

export function lexOptionsForDialect(dialect: string): LexOptions {
  return { backslashEscapes: BACKSLASH_DIALECTS.has(dialect.toLowerCase()) };
}

const THREE_CHAR_PUNCT = new Set(['->>', '<=>']);
const TWO_CHAR_PUNCT = new Set([
  '->',
  ':=',
  '::',
  '=>',
  '<=',
  '>=',
  '<>',
  '!=',
  '==',
  '||',
  '<<',
  '>>',
  '@>',
  '<@',
]);

function isWordStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || (c > 127 && c !== 0xfeff);
}

function isWordPart(c: number): boolean {
  return isWordStart(c) || (c >= 48 && c <= 57) || c === 36;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** ASCII name characters of macro variables (`@name`), as in a template placeholder. */
function isNameStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
}

function isNamePart(c: number): boolean {
  return isNameStart(c) || isDigit(c);
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11;
}

/** Finds the end of a quoted run starting at `start` (the opening quote). Unterminated runs end the text. */
function quotedEnd(text: string, start: number, quote: number, backslash: boolean): number {
  let i = start + 1;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (backslash && c === 92) {
      i += 2;
      continue;
    }
    if (c === quote) {
      if (text.charCodeAt(i + 1) === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i += 1;
  }
  return n;
}

/** The body of a quoted token without its quotes, with doubled quotes undone. */
export function unquote(text: string): string {
  const q = text[0] ?? '';
  const body = text.length >= 2 && text.endsWith(q) ? text.slice(1, -1) : text.slice(1);
  return body.includes(q) ? body.split(q + q).join(q) : body;
}

/**
 * Splits `source` into tokens. Throws a ProjectError for an unterminated `@{`.
 * Unterminated strings and comments run to the end of the text (the SQL
 * parser reports them).
 */
export function lexMacroSql(source: MacroSource, options: LexOptions): MacroToken[] {
  const text = source.text;
  const n = text.length;
  const tokens: MacroToken[] = [];
  const backslash = options.backslashEscapes;
  let i = 0;
  const push = (kind: MacroTokenKind, start: number, end: number, name = ''): void => {
    tokens.push({ kind, text: text.slice(start, end), start, end, name });
  };
  while (i < n) {
    const c = text.charCodeAt(i);
    const start = i;
    if (isSpace(c)) {
      i += 1;
      while (i < n && isSpace(text.charCodeAt(i))) i += 1;
      push('ws', start, i);
      continue;
    }
    const next = text.charCodeAt(i + 1);
    if (c === 45 && next === 45) {
      const nl = text.indexOf('\n', i);
      i = nl === -1 ? n : nl;
      push('comment', start, i);
      continue;
    }
    if (c === 47 && next === 42) {
      const close = text.indexOf('*/', i + 2);
      i = close === -1 ? n : close + 2;
      push('comment', start, i);
      continue;
    }
    if (c === 39) {
      i = quotedEnd(text, i, 39, backslash);
      push('string', start, i);
      continue;
    }
    if (c === 34 || c === 96) {
      i = quotedEnd(text, i, c, false);
      push('qident', start, i);
      continue;
    }
    if (c === 36) {
      // $$...$$ or $tag$...$tag$; otherwise `$1` and friends are words.
      let j = i + 1;
      while (j < n && isNamePart(text.charCodeAt(j))) j += 1;
      if (text.charCodeAt(j) === 36 && !isDigit(next)) {
        const tag = text.slice(i, j + 1);
        const close = text.indexOf(tag, j + 1);
        i = close === -1 ? n : close + tag.length;
        push('dollar', start, i);
        continue;
      }
      i += 1;
      while (i < n && isWordPart(text.charCodeAt(i))) i += 1;
      push('word', start, i);
      continue;
    }
    if (c === 64) {
      if (next === 123) {
        let j = i + 2;
        while (j < n && isSpace(text.charCodeAt(j))) j += 1;
        const nameStart = j;
        while (j < n && isNamePart(text.charCodeAt(j))) j += 1;
        const name = text.slice(nameStart, j);
        while (j < n && isSpace(text.charCodeAt(j))) j += 1;
        if (name === '' || text.charCodeAt(j) !== 125) {
          throw source.error("unterminated '@{': write '@{name}' with a variable name", i);
        }
        i = j + 1;
        push('brace', start, i, name);
        continue;
      }
      if (isNameStart(next)) {
        i += 2;
        while (i < n && isNamePart(text.charCodeAt(i))) i += 1;
        push('var', start, i, text.slice(start + 1, i));
        continue;
      }
      if (next === 39 || next === 34) {
        i = quotedEnd(text, i + 1, next, next === 39 && backslash);
        push('template', start, i, unquote(text.slice(start + 1, i)));
        continue;
      }
      if (next === 64) {
        // `@@name`: a system variable (T-SQL, MySQL), not a macro.
        i += 2;
        while (i < n && isNamePart(text.charCodeAt(i))) i += 1;
        push('word', start, i);
        continue;
      }
      // `@>` and other operators.
      const two = text.slice(i, i + 2);
      if (TWO_CHAR_PUNCT.has(two)) {
        i += 2;
        push('punct', start, i);
        continue;
      }
      i += 1;
      push('punct', start, i);
      continue;
    }
    if (isDigit(c) || (c === 46 && isDigit(next))) {
      i += 1;
      while (i < n && isDigit(text.charCodeAt(i))) i += 1;
      if (text.charCodeAt(i) === 46 && isDigit(text.charCodeAt(i + 1))) {
        i += 1;
        while (i < n && isDigit(text.charCodeAt(i))) i += 1;
      } else if (text.charCodeAt(i) === 46 && c !== 46 && !isWordStart(text.charCodeAt(i + 1))) {
        i += 1;
      }
      const e = text.charCodeAt(i);
      if (e === 101 || e === 69) {
        let j = i + 1;
        const s = text.charCodeAt(j);
        if (s === 43 || s === 45) j += 1;
        if (isDigit(text.charCodeAt(j))) {
          i = j;
          while (i < n && isDigit(text.charCodeAt(i))) i += 1;
        }
      }
      if (i < n && isWordStart(text.charCodeAt(i))) {
        // `1abc`: an identifier that starts with digits.
        while (i < n && isWordPart(text.charCodeAt(i))) i += 1;
        push('word', start, i);
        continue;
      }
      push('number', start, i);
      continue;
    }
    if (isWordStart(c)) {
      i += 1;
      while (i < n && isWordPart(text.charCodeAt(i))) i += 1;
      push('word', start, i);
      continue;
    }
    const three = text.slice(i, i + 3);
    if (THREE_CHAR_PUNCT.has(three)) {
      i += 3;
    } else if (TWO_CHAR_PUNCT.has(text.slice(i, i + 2))) {
      i += 2;
    } else {
      i += 1;
    }
    push('punct', start, i);
  }
  return tokens;
}

/** True for tokens that carry no meaning (whitespace and comments). */
export function isTrivia(token: MacroToken | undefined): boolean {
  return token !== undefined && (token.kind === 'ws' || token.kind === 'comment');
}
