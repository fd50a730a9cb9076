/**
 * The SQL layer's query functions in one place: parse once, then ask the
 * parsed query for its table references and output columns, rewrite its
 * table names, or generate it in another dialect.
 */
export {
  formatSql,
  isQuery,
  parseQuery,
  parseStatements,
  splitStatements,
  type AstNode,
  type ParsedQuery,
} from './query-parser.js';
export { tableReferences, type TableReference } from './table-references.js';
export {
  generate,
  rewriteTableReferences,
  transpile,
  type TableReplacement,
} from './query-rewriter.js';
export { outputColumns, type OutputColumn } from './output-columns.js';
