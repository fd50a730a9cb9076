/**
 * Producing SQL from a parsed query: in another dialect, and with table
 * names replaced (model names by the physical tables of their snapshots).
 */
import * as polyglot from '@polyglot-sql/sdk';
import { ProjectError, type SourceLocation } from '../errors.js';
import { resolveDialect, type SqlDialect } from './dialects.js';
import { parseTableName, type TableName } from './names.js';
import { parseQuery, type AstNode, type ParsedQuery } from './query-parser.js';
import {
  forEachTableNode,
  identifierNode,
  tableKey,
  type TableReference,
} from './table-references.js';
import { adjustForTarget, finishTranslation } from './transpile-rules.js';

/** A replacement for a table reference: name parts, or a name as SQL (`"db"."s"."t"`). */
export type TableReplacement = TableName | string;

function failure(target: SqlDialect, error: string | null | undefined, parsed: ParsedQuery): never {
  throw new ProjectError(
    `cannot write this query as ${target.name} SQL: ${(error ?? 'unknown error').replace(/\s+/g, ' ')}`,
    parsed.location,
  );
}

/**
 * SQL for `target` from a (private, changeable) copy of the query's tree. The
 * parser translates between dialects only from text, so another dialect costs
 * a generation in the source dialect and a translation of that text.
 */
function generateAst(ast: AstNode, parsed: ParsedQuery, target: SqlDialect): string {
  const adjusted = adjustForTarget(ast, parsed, target);
  const source = parsed.dialect;
  const written = polyglot.generate([adjusted], source.parser);
  const sql = written.success ? written.sql?.[0] : undefined;
  if (sql === undefined) return failure(source, written.error, parsed);
  if (target.parser === source.parser) return sql;
  const translated = polyglot.transpile(sql, source.parser, target.parser);
  const out = translated.success ? translated.sql?.[0] : undefined;
  if (out === undefined) return failure(target, translated.error, parsed);
  return finishTranslation(out, parsed, target);
}

/**
 * The query as SQL in `toDialect` (its own dialect by default). A construct
 * with no faithful translation is a ProjectError naming it, at its position.
 */
export function generate(parsed: ParsedQuery, toDialect?: string | SqlDialect): string {
  const target = toDialect === undefined ? parsed.dialect : resolveDialect(toDialect);
  return generateAst(structuredClone(parsed.ast), parsed, target);
}

/** Translates one SQL statement from one dialect to another (parse + generate). */
export function transpile(
  sql: string,
  fromDialect: string | SqlDialect,
  toDialect: string | SqlDialect,
  location: SourceLocation = { file: '<sql>', line: 1, column: 1 },
): string {
  return generate(parseQuery(sql, fromDialect, location), toDialect);
}

/**
 * The query as SQL in `toDialect` (its own by default) with table references
 * replaced: `map` is called for every reference to a real table (CTE names are
 * never passed) and returns the replacement name, or undefined to keep it.
 * A replaced reference keeps its alias; one without an alias gets its
 * original table name as alias, so `orders.id` still resolves.
 */
export function rewriteTableReferences(
  parsed: ParsedQuery,
  map: (ref: TableReference) => TableReplacement | undefined,
  toDialect?: string | SqlDialect,
): string {
  const target = toDialect === undefined ? parsed.dialect : resolveDialect(toDialect);
  const ast = structuredClone(parsed.ast);
  forEachTableNode(ast, parsed.dialect, (body, name) => {
    const replacement = map({ ...name, key: tableKey(name, parsed.dialect) });
    if (replacement === undefined) return;
    const table =
      typeof replacement === 'string' ? parseTableName(replacement, parsed.dialect) : replacement;
    if (!body['alias']) {
      body['alias'] = identifierNode(name.name);
      body['alias_explicit_as'] = true;
    }
    body['name'] = identifierNode(table.name);
    body['schema'] = table.schema ? identifierNode(table.schema) : null;
    body['catalog'] = table.catalog ? identifierNode(table.catalog) : null;
  });
  return generateAst(ast, parsed, target);
}
