/**
 * Parses audit files (audits/*.sql): one or more `AUDIT (...)` blocks, each
 * followed by optional statements and then its query, which returns the rows
 * that break the rule. The same block reader serves inline audits in models.
 */

import type { AuditDefinition, SqlFragment } from '../model-types.js';
import type { Property } from './property-parser.js';
import { asBool, asScalarText, suggest } from './property-values.js';
import type { RawStatement } from './sql-scanner.js';
import { SourceFile } from './source-file.js';

/** Keys every audit takes. */
const AUDIT_KEYS = new Set([
  'name',
  'dialect',
  'skip',
  'blocking',
  'standalone',
  'defaults',
  'formatting',
]);
/** Keys only standalone audits take (they are scheduled nodes of their own). */
const STANDALONE_KEYS = new Set([
  'description',
  'owner',
  'start',
  'end',
  'cron',
  'cron_tz',
  'interval_unit',
  'tags',
  'stamp',
  'depends_on',
  'project',
]);

/**
 * Parses an audit file. `defaultDialect` applies to audits that do not name
 * their own. Throws a ProjectError (`file:line:column: reason`) on any mistake.
 */
export function parseAuditFile(
  source: string,
  path: string,
  defaultDialect: string,
): AuditDefinition[] {
  const file = new SourceFile(source, path, defaultDialect);
  const stmts = file.statements;
  if (stmts.length === 0) {
    throw file.error(
      0,
      'the audit file is empty; add `AUDIT (name my_audit);` followed by its SELECT query',
    );
  }
  const audits: AuditDefinition[] = [];
  const names = new Map<string, AuditDefinition>();
  let i = 0;
  while (i < stmts.length) {
    const head = stmts[i] as RawStatement;
    if (!file.startsBlock(head, 'AUDIT')) {
      throw file.error(
        head.tokenStart,
        `expected an \`AUDIT (...)\` block, found \`${file.describe(head)}\`; every audit starts with \`AUDIT (name ...);\``,
      );
    }
    let j = i + 1;
    while (j < stmts.length && !file.startsBlock(stmts[j] as RawStatement, 'AUDIT')) j++;
    const body = stmts.slice(i + 1, j);
    const audit = readAudit(file, head, body, defaultDialect);
    const before = names.get(audit.name);
    if (before) {
      throw file.error(
        head.tokenStart,
        `audit \`${audit.name}\` is defined twice in this file (first at line ${before.location.line}); rename one`,
      );
    }
    names.set(audit.name, audit);
    audits.push(audit);
    i = j;
  }
  return audits;
}

/**
 * Reads one AUDIT block and the statements after it; the last of them must be
 * the query. Inline audits in model files pass exactly one statement and the
 * model's dialect as the default.
 */
export function readAudit(
  file: SourceFile,
  head: RawStatement,
  body: RawStatement[],
  defaultDialect: string,
): AuditDefinition {
  const { parser: p, open, close } = file.headerBlock(head, 'AUDIT');
  const props = p.parseProperties(open, close, 'AUDIT', (key, i, limit) =>
    p.parsePrimary(i, limit, key),
  );
  const byKey = new Map<string, Property>(props.map((prop) => [prop.key, prop]));

  const standaloneProp = byKey.get('standalone');
  const standalone = standaloneProp ? asBool(p, standaloneProp.value, 'standalone') : false;
  for (const prop of props) {
    if (AUDIT_KEYS.has(prop.key)) continue;
    if (STANDALONE_KEYS.has(prop.key)) {
      if (standalone) continue;
      throw p.fail(
        prop.keyIndex,
        `\`${prop.key}\` applies only to standalone audits; add \`standalone true\` or remove it`,
      );
    }
    const hint = suggest(prop.key, [...AUDIT_KEYS, ...STANDALONE_KEYS]);
    throw p.fail(
      prop.keyIndex,
      `unknown AUDIT property \`${prop.key}\`${hint || `; use one of ${[...AUDIT_KEYS].join(', ')}`}`,
    );
  }

  const nameProp = byKey.get('name');
  if (!nameProp) {
    throw p.fail(0, 'the AUDIT block has no `name`; add `name my_audit`');
  }
  const name = asScalarText(p, nameProp.value, 'name', 'my_audit').toLowerCase();
  if (name === '')
    throw p.fail(nameProp.value.from, 'the audit name is empty; write `name my_audit`');

  const dialectProp = byKey.get('dialect');
  const dialect = dialectProp
    ? asScalarText(p, dialectProp.value, 'dialect', 'duckdb').toLowerCase()
    : undefined;

  const blockingProp = byKey.get('blocking');
  const blocking = blockingProp ? asBool(p, blockingProp.value, 'blocking') : !standalone;
  if (standalone && blocking) {
    throw p.fail(
      (blockingProp as Property).value.from,
      `standalone audit \`${name}\` cannot be blocking; remove \`blocking true\``,
    );
  }
  const skipProp = byKey.get('skip');
  const skip = skipProp ? asBool(p, skipProp.value, 'skip') : false;

  const defaults: Record<string, string> = {};
  const defaultsProp = byKey.get('defaults');
  if (defaultsProp) {
    const value = defaultsProp.value;
    const items = value.type === 'list' ? value.items : [value];
    for (const item of items) {
      if (item.type !== 'assign') {
        throw p.fail(
          item.from,
          'audit `defaults` takes `name = value` pairs, e.g. `defaults (threshold = 10)`',
        );
      }
      defaults[item.key.toLowerCase()] = p.text(item.value);
    }
  }

  const location = p.locate(0);
  const last = body[body.length - 1];
  if (!last) {
    throw file.error(
      head.tokenStart,
      `audit \`${name}\` has no query; add a SELECT returning the bad rows after its AUDIT block`,
    );
  }
  if (!file.isQuery(last)) {
    throw file.error(
      last.tokenStart,
      `audit \`${name}\` must end with a SELECT query returning the bad rows, found \`${file.describe(last)}\``,
    );
  }
  const statements: SqlFragment[] = [];
  for (const stmt of body.slice(0, -1)) {
    if (file.isQuery(stmt)) {
      throw file.error(
        stmt.tokenStart,
        `audit \`${name}\` has more than one query; keep one SELECT per AUDIT block`,
      );
    }
    statements.push(file.fragment(stmt));
  }

  const audit: AuditDefinition = {
    name,
    blocking,
    standalone,
    defaults,
    query: file.fragment(last),
    location,
  };
  audit.dialect = dialect ?? defaultDialect;
  if (skip) audit.skip = true;
  if (statements.length > 0) audit.statements = statements;
  return audit;
}
