/**
 * One project file being parsed: its text, line index and statements, plus the
 * helpers model and audit parsing share (header blocks, queries, fragments).
 */

import type { SqlFragment } from '../model-types.js';
import { PropertyParser } from './property-parser.js';
import {
  LineIndex,
  scanOptionsForDialect,
  splitStatements,
  tokenize,
  type RawStatement,
  type ScanOptions,
} from './sql-scanner.js';

/** Words that start a query statement. */
const QUERY_WORDS = new Set(['SELECT', 'WITH', 'VALUES', 'FROM', 'TABLE']);
/** Macro calls that stand for a model's query. */
const QUERY_MACROS = new Set(['@UNION', '@INSERT_SEED']);

/** Finds `dialect x` in the first MODEL or AUDIT block, as SQLMesh does before tokenizing. */
const DIALECT_PATTERN =
  /\b(?:model|audit)\b\s*\([^]*?[(,]\s*dialect\s+['"]?([a-z][a-z0-9_]*)['"]?\s*(?=[,)]|--|\/\*)/i;

/** The part of a file searched for the dialect. */
const DIALECT_SEARCH_LIMIT = 10_000;

/** A `MODEL (...)` or `AUDIT (...)` block, tokenized. */
export interface HeaderBlock {
  parser: PropertyParser;
  /** Token index of the opening bracket. */
  open: number;
  /** Token index of the closing bracket. */
  close: number;
}

export class SourceFile {
  readonly lines: LineIndex;
  readonly options: ScanOptions;
  readonly statements: RawStatement[];

  constructor(
    readonly source: string,
    readonly path: string,
    defaultDialect: string,
  ) {
    this.lines = new LineIndex(source, path);
    const found = DIALECT_PATTERN.exec(
      source.length > DIALECT_SEARCH_LIMIT ? source.slice(0, DIALECT_SEARCH_LIMIT) : source,
    );
    this.options = scanOptionsForDialect(found?.[1] ?? defaultDialect);
    this.statements = splitStatements(source, this.lines, this.options);
  }

  error(offset: number, reason: string): Error {
    return this.lines.error(offset, reason);
  }

  /** True when the statement starts with the word `keyword` followed by `(`. */
  startsBlock(stmt: RawStatement, keyword: string): boolean {
    if (stmt.kind !== 'sql' || stmt.firstKind !== 'word' || stmt.firstText !== keyword)
      return false;
    let p = stmt.tokenStart + keyword.length;
    const s = this.source;
    // Skip whitespace and comments between the keyword and the bracket.
    for (;;) {
      while (p < stmt.end && /\s/.test(s[p] as string)) p++;
      if (s.startsWith('--', p)) {
        const nl = s.indexOf('\n', p);
        p = nl === -1 ? stmt.end : nl + 1;
      } else if (s.startsWith('/*', p)) {
        const close = s.indexOf('*/', p);
        p = close === -1 ? stmt.end : close + 2;
      } else {
        break;
      }
    }
    return s[p] === '(';
  }

  /** Tokenizes `KEYWORD ( ... )`, which must make up the whole statement. */
  headerBlock(stmt: RawStatement, keyword: string): HeaderBlock {
    const tokens = tokenize(this.source, this.lines, this.options, stmt.start, stmt.end);
    const parser = new PropertyParser(this.source, this.lines, tokens);
    if (!parser.isPunct(1, '(')) {
      throw parser.fail(1, `expected \`(\` after ${keyword}; write \`${keyword} (name ..., ...)\``);
    }
    const close = parser.closing(1);
    if (close !== tokens.length - 1) {
      const extra = parser.token(close + 1);
      throw parser.fail(
        close + 1,
        `unexpected \`${extra.text}\` after the ${keyword} block; end the block with \`);\``,
      );
    }
    return { parser, open: 1, close };
  }

  /** Whether a statement is a query (SELECT, WITH, VALUES, FROM-first, `(SELECT ...)`, a Jinja query). */
  isQuery(stmt: RawStatement): boolean {
    if (stmt.kind === 'jinja-query') return true;
    if (stmt.kind !== 'sql') return false;
    if (stmt.firstKind === 'word') return QUERY_WORDS.has(stmt.firstText);
    if (stmt.firstKind === 'macro') return QUERY_MACROS.has(stmt.firstText);
    if (stmt.firstKind === 'punct' && stmt.firstText === '(') {
      // A parenthesised query: look at the first word after the opening brackets.
      const tokens = tokenize(
        this.source,
        this.lines,
        this.options,
        stmt.start,
        Math.min(stmt.end, stmt.start + 2000),
      );
      for (const t of tokens) {
        if (t.kind === 'punct' && t.text === '(') continue;
        return t.kind === 'word' && QUERY_WORDS.has(t.text.toUpperCase());
      }
    }
    return false;
  }

  /** True for a statement made of one macro call, such as `@DEF(x, 1)`. */
  isMacroCall(stmt: RawStatement): boolean {
    return stmt.kind === 'sql' && stmt.firstKind === 'macro';
  }

  fragment(stmt: RawStatement): SqlFragment {
    const jinja = stmt.kind === 'jinja-query' || stmt.kind === 'jinja-statement';
    return {
      sql: this.source.slice(stmt.start, stmt.end),
      location: this.lines.locate(jinja && stmt.start >= stmt.end ? stmt.tokenStart : stmt.start),
      jinja,
    };
  }

  /** A short, one-line description of a statement for error messages. */
  describe(stmt: RawStatement): string {
    if (stmt.kind !== 'sql') return `${stmt.firstText};`;
    const text = this.source
      .slice(stmt.start, Math.min(stmt.end, stmt.start + 40))
      .replace(/\s+/g, ' ');
    return stmt.end - stmt.start > 40 ? `${text}...` : text;
  }
}
