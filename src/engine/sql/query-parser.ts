/**
 * Parsing SQL (already free of macros) into a handle that the other SQL
 * functions reuse, so each query goes through the parser once.
 */
import * as polyglot from '@polyglot-sql/sdk';
import { ProjectError, type SourceLocation } from '../errors.js';
import { resolveDialect, type SqlDialect } from './dialects.js';

/** A node of the parser's syntax tree: an object tagged by its single key (`select`, `table`, ...). */
export type AstNode = Record<string, unknown>;

/** One parsed statement, with where it came from. Treat `ast` as read-only. */
export interface ParsedQuery {
  /** The SQL text that was parsed. */
  readonly sql: string;
  readonly dialect: SqlDialect;
  /** Where `sql` starts in its project file. */
  readonly location: SourceLocation;
  /** The statement's syntax tree. */
  readonly ast: AstNode;
}

/** The location of the character at `offset` (counted in code points) of `sql` starting at `base`. */
export function locationAt(sql: string, offset: number, base: SourceLocation): SourceLocation {
  let line = 0;
  let column = 0;
  let i = 0;
  for (const ch of sql) {
    if (i >= offset) break;
    if (ch === '\n') {
      line++;
      column = 0;
    } else {
      column++;
    }
    i++;
  }
  return {
    file: base.file,
    line: base.line + line,
    column: line === 0 ? base.column + column : column + 1,
  };
}

/** A line and column (1-based) inside `sql`, mapped onto the file where `sql` starts at `base`. */
export function mapPosition(line: number, column: number, base: SourceLocation): SourceLocation {
  return {
    file: base.file,
    line: base.line + line - 1,
    column: line === 1 ? base.column + column - 1 : column,
  };
}

interface ParserFailure {
  error?: string | null;
  errorLine?: number;
  errorColumn?: number;
  errorStart?: number;
}

/** The parser's message without its own `at line L, column C` prefix. */
function reasonOf(error: string): string {
  const oneLine = error.replace(/\s*\n\s*/g, ' ').trim();
  return oneLine.replace(/^(\w+) error at line \d+, column \d+:\s*/i, (_m, kind: string) =>
    kind.toLowerCase() === 'tokenization' ? 'cannot read SQL: ' : 'SQL syntax error: ',
  );
}

/** The ProjectError for a failed parse, at the offending token's position in the file. */
export function parseFailure(
  result: ParserFailure,
  sql: string,
  location: SourceLocation,
): ProjectError {
  const reason = reasonOf(result.error ?? 'cannot parse SQL');
  let at: SourceLocation = location;
  if (typeof result.errorStart === 'number') at = locationAt(sql, result.errorStart, location);
  else if (typeof result.errorLine === 'number' && typeof result.errorColumn === 'number') {
    at = mapPosition(result.errorLine, result.errorColumn, location);
  }
  return new ProjectError(reason, at);
}

/** Parses every statement of `sql`; a syntax error is a ProjectError at its file:line:column. */
export function parseStatements(
  sql: string,
  dialect: string | SqlDialect,
  location: SourceLocation,
): ParsedQuery[] {
  const d = resolveDialect(dialect, location.file);
  const result = polyglot.parse(sql, d.parser);
  if (!result.success) throw parseFailure(result, sql, location);
  return (result.ast as unknown as AstNode[]).map((ast) => ({ sql, dialect: d, location, ast }));
}

/**
 * Parses one SQL statement (a model's query, an audit's query). Empty input
 * and more than one statement are errors, as is a syntax error, each a
 * ProjectError at its position in the file.
 */
export function parseQuery(
  sql: string,
  dialect: string | SqlDialect,
  location: SourceLocation,
): ParsedQuery {
  const statements = parseStatements(sql, dialect, location);
  const first = statements[0];
  if (!first) {
    throw new ProjectError('expected a SQL query but found none', location);
  }
  if (statements.length > 1) {
    throw new ProjectError(
      `expected one SQL statement but found ${statements.length}; remove the extra statements or the ';' between them`,
      location,
    );
  }
  return first;
}

/** Whether the statement is a query (SELECT, set operation, VALUES) rather than DDL or DML. */
export function isQuery(parsed: ParsedQuery): boolean {
  const kind = Object.keys(parsed.ast)[0];
  return (
    kind === 'select' ||
    kind === 'union' ||
    kind === 'intersect' ||
    kind === 'except' ||
    kind === 'values' ||
    kind === 'subquery' ||
    kind === 'paren'
  );
}

/**
 * Splits a script into its statements, as SQL text in the same dialect
 * (comments between statements are not kept).
 */
export function splitStatements(
  sql: string,
  dialect: string | SqlDialect,
  location: SourceLocation = { file: '<sql>', line: 1, column: 1 },
): string[] {
  const d = resolveDialect(dialect, location.file);
  const statements = parseStatements(sql, d, location);
  if (statements.length === 0) return [];
  const out = polyglot.generate(
    statements.map((s) => s.ast),
    d.parser,
  );
  if (!out.success || !out.sql) throw parseFailure(out, sql, location);
  return out.sql;
}

/** The SQL pretty-printed in its own dialect, one clause per line. */
export function formatSql(
  sql: string,
  dialect: string | SqlDialect,
  location: SourceLocation = { file: '<sql>', line: 1, column: 1 },
): string {
  const d = resolveDialect(dialect, location.file);
  const out = polyglot.format(sql, d.parser);
  if (!out.success || !out.sql) throw parseFailure(out, sql, location);
  return out.sql.join(';\n\n');
}
