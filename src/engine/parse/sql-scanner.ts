/**
 * A SQL-aware scanner: walks project files token by token, knowing quoted
 * strings and identifiers, comments, dollar-quoted strings, macros (`@name`)
 * and Jinja comments, so that semicolons and brackets inside them are never
 * taken for structure. It allocates nothing per token; callers that want
 * token objects use `tokenize`.
 */

import { ProjectError, type SourceLocation } from '../errors.js';

/**
 * - word: an identifier or keyword (`select`, `ds`, `$1`)
 * - qident: a quoted identifier (`"a b"`, `` `a` ``)
 * - string: a single-quoted string (`'x'`)
 * - dollar: a dollar-quoted string (`$$x$$`, `$tag$x$tag$`)
 * - number: `1`, `1.5`, `.5`, `1e3`
 * - macro: `@name` or `@{name}`
 * - punct: one bracket, comma, semicolon, dot or operator (`(`, `,`, `:=`, `::`)
 */
export type TokenKind =
  'word' | 'qident' | 'string' | 'dollar' | 'number' | 'macro' | 'punct' | 'eof';

export interface Token {
  kind: TokenKind;
  /** Offset of the first character in the source. */
  start: number;
  /** Offset just past the last character. */
  end: number;
  /** The token as written. */
  text: string;
}

export interface ScanOptions {
  /** Whether a backslash escapes the next character inside quotes (BigQuery, MySQL, Spark...). */
  backslashEscapes?: boolean;
}

/** Dialects whose strings treat a backslash as an escape character. */
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

export function scanOptionsForDialect(dialect: string | undefined): ScanOptions {
  return {
    backslashEscapes: dialect !== undefined && BACKSLASH_DIALECTS.has(dialect.toLowerCase()),
  };
}

/** Maps offsets to 1-based line and column numbers. Built once per file. */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(
    readonly source: string,
    readonly file: string,
  ) {
    let i = source.indexOf('\n');
    while (i !== -1) {
      this.starts.push(i + 1);
      i = source.indexOf('\n', i + 1);
    }
  }

  /** The location of the character at `offset`. */
  locate(offset: number): SourceLocation {
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { file: this.file, line: lo + 1, column: offset - (starts[lo] as number) + 1 };
  }

  /** A ProjectError pointing at `offset`. */
  error(offset: number, reason: string): ProjectError {
    // Reasons quote user text, which may span lines; the message stays on one.
    return new ProjectError(reason.replace(/\s*[\r\n]+\s*/g, ' '), this.locate(offset));
  }
}

function isWordStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c >= 128;
}

function isWordPart(c: number): boolean {
  return (
    (c >= 97 && c <= 122) ||
    (c >= 65 && c <= 90) ||
    (c >= 48 && c <= 57) ||
    c === 95 ||
    c === 36 ||
    c >= 128
  );
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

const TWO_CHAR_OPERATORS = new Set([
  ':=',
  '::',
  '=>',
  '->',
  '<=',
  '>=',
  '<>',
  '!=',
  '==',
  '||',
  '&&',
]);

/** Walks a range of a source, one token per `next()` call. */
export class SqlScanner {
  kind: TokenKind = 'eof';
  /** Offset of the current token. */
  start = 0;
  /** Offset past the current token. */
  end = 0;
  private pos: number;
  private readonly backslash: boolean;

  constructor(
    readonly source: string,
    readonly lines: LineIndex,
    options: ScanOptions = {},
    from = 0,
    private readonly to = source.length,
  ) {
    this.pos = from;
    this.backslash = options.backslashEscapes ?? false;
  }

  /** The current token's text. */
  text(): string {
    return this.source.slice(this.start, this.end);
  }

  /** True when the current token is the punctuation `p`. */
  is(p: string): boolean {
    return (
      this.kind === 'punct' &&
      this.end - this.start === p.length &&
      this.source.startsWith(p, this.start)
    );
  }

  /** Advances to the next token, skipping whitespace and comments. */
  next(): TokenKind {
    const s = this.source;
    const to = this.to;
    let p = this.pos;
    // Skip whitespace and comments.
    for (;;) {
      if (p >= to) {
        this.start = this.end = this.pos = to;
        return (this.kind = 'eof');
      }
      const c = s.charCodeAt(p);
      if (c === 32 || c === 10 || c === 9 || c === 13 || c === 12 || c === 0xfeff) {
        p++;
      } else if (c === 45 && s.charCodeAt(p + 1) === 45) {
        const nl = s.indexOf('\n', p + 2);
        p = nl === -1 || nl > to ? to : nl + 1;
      } else if (c === 47 && s.charCodeAt(p + 1) === 42) {
        p = this.skipBlockComment(p);
      } else if (c === 123 && s.charCodeAt(p + 1) === 35) {
        const close = s.indexOf('#}', p + 2);
        if (close === -1 || close + 2 > to) {
          throw this.lines.error(p, 'unterminated Jinja comment `{#`; close it with `#}`');
        }
        p = close + 2;
      } else {
        break;
      }
    }
    this.start = p;
    const c = s.charCodeAt(p);
    let kind: TokenKind;
    if (isWordStart(c)) {
      p++;
      while (p < to && isWordPart(s.charCodeAt(p))) p++;
      kind = 'word';
    } else if (isDigit(c) || (c === 46 && isDigit(s.charCodeAt(p + 1)))) {
      p = this.scanNumber(p);
      kind = 'number';
    } else if (c === 39) {
      p = this.scanQuoted(p, 39, 'string', "close it with `'` (write `''` for a quote inside)");
      kind = 'string';
    } else if (c === 34) {
      p = this.scanQuoted(p, 34, 'quoted identifier', 'close it with `"`');
      kind = 'qident';
    } else if (c === 96) {
      p = this.scanQuoted(p, 96, 'quoted identifier', 'close it with a backtick');
      kind = 'qident';
    } else if (c === 36) {
      const dollar = this.scanDollar(p);
      if (dollar > 0) {
        p = dollar;
        kind = 'dollar';
      } else {
        p++;
        while (p < to && isWordPart(s.charCodeAt(p))) p++;
        kind = p - this.start > 1 ? 'word' : 'punct';
      }
    } else if (c === 64) {
      const n = s.charCodeAt(p + 1);
      if (isWordStart(n)) {
        p += 2;
        while (p < to && isWordPart(s.charCodeAt(p))) p++;
        kind = 'macro';
      } else if (n === 39) {
        // `@'...'`: a string template macro.
        p = this.scanQuoted(p + 1, 39, 'string', "close it with `'`");
        kind = 'macro';
      } else if (n === 123) {
        const close = s.indexOf('}', p + 2);
        if (close === -1 || close >= to) {
          throw this.lines.error(p, 'unterminated macro variable `@{`; close it with `}`');
        }
        p = close + 1;
        kind = 'macro';
      } else {
        p++;
        kind = 'punct';
      }
    } else {
      const two = s.slice(p, p + 2);
      p += p + 1 < to && TWO_CHAR_OPERATORS.has(two) ? 2 : 1;
      kind = 'punct';
    }
    this.end = this.pos = p;
    return (this.kind = kind);
  }

  private skipBlockComment(from: number): number {
    const s = this.source;
    let depth = 1;
    let p = from + 2;
    while (depth > 0) {
      const close = s.indexOf('*/', p);
      if (close === -1 || close + 2 > this.to) {
        throw this.lines.error(from, 'unterminated block comment `/*`; close it with `*/`');
      }
      const open = s.indexOf('/*', p);
      if (open !== -1 && open < close) {
        depth++;
        p = open + 2;
      } else {
        depth--;
        p = close + 2;
      }
    }
    return p;
  }

  private scanNumber(from: number): number {
    const s = this.source;
    const to = this.to;
    let p = from;
    while (p < to && isDigit(s.charCodeAt(p))) p++;
    if (s.charCodeAt(p) === 46 && p < to) {
      p++;
      while (p < to && isDigit(s.charCodeAt(p))) p++;
    }
    const e = s.charCodeAt(p);
    if ((e === 101 || e === 69) && p < to) {
      let q = p + 1;
      const sign = s.charCodeAt(q);
      if (sign === 43 || sign === 45) q++;
      if (isDigit(s.charCodeAt(q))) {
        p = q;
        while (p < to && isDigit(s.charCodeAt(p))) p++;
      }
    }
    return p;
  }

  private scanQuoted(from: number, quote: number, what: string, fix: string): number {
    const s = this.source;
    const to = this.to;
    if (this.backslash && quote !== 96) {
      let p = from + 1;
      while (p < to) {
        const c = s.charCodeAt(p);
        if (c === 92) {
          p += 2;
        } else if (c === quote) {
          if (p + 1 < to && s.charCodeAt(p + 1) === quote) p += 2;
          else return p + 1;
        } else {
          p++;
        }
      }
      throw this.lines.error(from, `unterminated ${what} starting here; ${fix}`);
    }
    const q = String.fromCharCode(quote);
    let p = from + 1;
    for (;;) {
      const close = s.indexOf(q, p);
      if (close === -1 || close >= to) {
        throw this.lines.error(from, `unterminated ${what} starting here; ${fix}`);
      }
      if (close + 1 < to && s.charCodeAt(close + 1) === quote) {
        p = close + 2;
        continue;
      }
      return close + 1;
    }
  }

  /** Returns the end of a dollar-quoted string starting at `from`, or 0 when there is none. */
  private scanDollar(from: number): number {
    const s = this.source;
    let p = from + 1;
    if (isDigit(s.charCodeAt(p))) return 0;
    while (p < this.to && s.charCodeAt(p) !== 36) {
      const c = s.charCodeAt(p);
      if (!isWordPart(c) || c === 36) return 0;
      p++;
    }
    if (p >= this.to) return 0;
    const tag = s.slice(from, p + 1);
    const close = s.indexOf(tag, p + 1);
    if (close === -1 || close + tag.length > this.to) {
      throw this.lines.error(from, `unterminated dollar-quoted string; close it with \`${tag}\``);
    }
    return close + tag.length;
  }
}

/** All tokens of `source[from, to)` as objects. */
export function tokenize(
  source: string,
  lines: LineIndex,
  options: ScanOptions = {},
  from = 0,
  to = source.length,
): Token[] {
  const scanner = new SqlScanner(source, lines, options, from, to);
  const tokens: Token[] = [];
  while (scanner.next() !== 'eof') {
    tokens.push({
      kind: scanner.kind,
      start: scanner.start,
      end: scanner.end,
      text: scanner.text(),
    });
  }
  return tokens;
}

/**
 * One statement of a project file.
 * - sql: ordinary SQL, from its first token to its last (the `;` excluded)
 * - jinja-query / jinja-statement: the text between `JINJA_QUERY_BEGIN;` (or
 *   `JINJA_STATEMENT_BEGIN;`) and `JINJA_END;`
 * - virtual-begin / virtual-end: the `ON_VIRTUAL_UPDATE_BEGIN;` and `..._END;` markers
 */
export interface RawStatement {
  kind: 'sql' | 'jinja-query' | 'jinja-statement' | 'virtual-begin' | 'virtual-end';
  /** Start of the statement's text. */
  start: number;
  /** End of the statement's text (exclusive). */
  end: number;
  /** Offset of the statement's first token (the BEGIN marker for Jinja blocks). */
  tokenStart: number;
  /** Kind of the first token. */
  firstKind: TokenKind;
  /** The first token's text, upper-cased when it is a word or macro. */
  firstText: string;
}

const MARKERS = new Set([
  'JINJA_QUERY_BEGIN',
  'JINJA_STATEMENT_BEGIN',
  'JINJA_END',
  'ON_VIRTUAL_UPDATE_BEGIN',
  'ON_VIRTUAL_UPDATE_END',
]);

const VIRTUAL_END = 'ON_VIRTUAL_UPDATE_END';

const CLOSER_OF: Record<string, string> = { '(': ')', '[': ']', '{': '}' };

/**
 * Splits a file into statements on semicolons outside brackets, recognising
 * SQLMesh's block markers. Throws a ProjectError for unbalanced brackets and
 * unterminated strings, comments and Jinja blocks.
 */
export function splitStatements(
  source: string,
  lines: LineIndex,
  options: ScanOptions = {},
): RawStatement[] {
  const sc = new SqlScanner(source, lines, options);
  const out: RawStatement[] = [];
  const openers: number[] = [];
  let first = -1;
  let firstKind: TokenKind = 'eof';
  let firstEnd = 0;
  let lastEnd = 0;
  let lastStart = 0;
  let beforeLastEnd = 0;
  let count = 0;

  const flush = (): void => {
    if (count === 0) return;
    if (
      count > 1 &&
      lastEnd - lastStart === VIRTUAL_END.length &&
      source.slice(lastStart, lastEnd).toUpperCase() === VIRTUAL_END
    ) {
      // `...statement ON_VIRTUAL_UPDATE_END;`: the marker ends the statement before it.
      const text = source.slice(first, firstEnd);
      const upper = firstKind === 'word' || firstKind === 'macro' ? text.toUpperCase() : text;
      out.push({
        kind: 'sql',
        start: first,
        end: beforeLastEnd,
        tokenStart: first,
        firstKind,
        firstText: upper,
      });
      out.push({
        kind: 'virtual-end',
        start: lastStart,
        end: lastEnd,
        tokenStart: lastStart,
        firstKind: 'word',
        firstText: VIRTUAL_END,
      });
      count = 0;
      return;
    }
    const firstRaw = source.slice(first, firstEnd);
    const firstText =
      firstKind === 'word' || firstKind === 'macro' ? firstRaw.toUpperCase() : firstRaw;
    if (count === 1 && firstKind === 'word' && MARKERS.has(firstText)) {
      if (firstText === 'JINJA_QUERY_BEGIN' || firstText === 'JINJA_STATEMENT_BEGIN') {
        out.push(scanJinjaBlock(sc, first, firstText));
      } else if (firstText === 'JINJA_END') {
        throw lines.error(
          first,
          '`JINJA_END;` without an opening `JINJA_QUERY_BEGIN;` or `JINJA_STATEMENT_BEGIN;`',
        );
      } else {
        out.push({
          kind: firstText === 'ON_VIRTUAL_UPDATE_BEGIN' ? 'virtual-begin' : 'virtual-end',
          start: first,
          end: firstEnd,
          tokenStart: first,
          firstKind,
          firstText,
        });
      }
    } else {
      out.push({
        kind: 'sql',
        start: first,
        end: lastEnd,
        tokenStart: first,
        firstKind,
        firstText,
      });
    }
    count = 0;
  };

  for (;;) {
    const kind = sc.next();
    if (kind === 'eof') {
      if (openers.length > 0) {
        const at = openers[openers.length - 1] as number;
        const open = source[at] as string;
        throw lines.error(
          at,
          `\`${open}\` is never closed; add the matching \`${CLOSER_OF[open]}\``,
        );
      }
      flush();
      return out;
    }
    if (kind === 'punct' && sc.end - sc.start === 1) {
      const ch = source[sc.start] as string;
      if (ch === ';' && openers.length === 0) {
        flush();
        continue;
      }
      if (ch === '(' || ch === '[' || ch === '{') {
        openers.push(sc.start);
      } else if (ch === ')' || ch === ']' || ch === '}') {
        const at = openers.pop();
        if (at === undefined) {
          throw lines.error(
            sc.start,
            `unexpected \`${ch}\` with nothing open; remove it or add its opening bracket`,
          );
        }
        const open = source[at] as string;
        if (CLOSER_OF[open] !== ch) {
          const loc = lines.locate(at);
          throw lines.error(
            sc.start,
            `\`${ch}\` does not match the \`${open}\` opened at line ${loc.line}, column ${loc.column}; close it with \`${CLOSER_OF[open]}\``,
          );
        }
      }
    }
    if (count === 0) {
      first = sc.start;
      firstEnd = sc.end;
      firstKind = kind;
    }
    count++;
    beforeLastEnd = lastEnd;
    lastStart = sc.start;
    lastEnd = sc.end;
  }
}

/** Reads a Jinja block after its BEGIN marker (the scanner sits on the marker's `;`). */
function scanJinjaBlock(sc: SqlScanner, markerStart: number, marker: string): RawStatement {
  const source = sc.source;
  const bodyStart = sc.end;
  let endWordStart = -1;
  for (;;) {
    const kind = sc.next();
    if (kind === 'eof') {
      if (endWordStart !== -1) break;
      throw sc.lines.error(
        markerStart,
        `\`${marker};\` has no matching \`JINJA_END;\`; add it after the block`,
      );
    }
    if (endWordStart !== -1 && sc.is(';')) break;
    endWordStart = kind === 'word' && sc.text().toUpperCase() === 'JINJA_END' ? sc.start : -1;
  }
  let start = bodyStart;
  let end = endWordStart;
  while (start < end && /\s/.test(source[start] as string)) start++;
  while (end > start && /\s/.test(source[end - 1] as string)) end--;
  return {
    kind: marker === 'JINJA_QUERY_BEGIN' ? 'jinja-query' : 'jinja-statement',
    start,
    end,
    tokenStart: markerStart,
    firstKind: 'word',
    firstText: marker,
  };
}
