/**
 * Running a model's audits after an evaluation: each audit the model calls
 * (inline audits first, then the project's audits/*.sql, then the built-in
 * ones) is rendered for the interval just written, run against the model's
 * physical table, and reported with its failing rows counted and sampled.
 *
 * `@this_model` is the physical table; for INCREMENTAL_BY_TIME_RANGE models
 * it is only the rows of the interval just written, as SQLMesh audits only
 * the data being processed.
 */
import type { EngineAdapter, Row, TableRef } from '../adapters/engine-adapter.js';
import { ProjectError, type SourceLocation } from '../errors.js';
import { inclusiveEnd, timeLiteral } from '../evaluate/materialize-time.js';
import { findColumn } from '../evaluate/scd-type-2.js';
import type { AuditCall, AuditDefinition, ModelDefinition } from '../model-types.js';
import { suggest } from '../parse/property-values.js';
import { JinjaRenderer } from '../render/jinja-renderer.js';
import { MacroScope, type MacroContext } from '../render/macro-renderer.js';
import { sqlValue } from '../render/macro-values.js';
import { fullyQualifiedName, parseTableName } from '../sql/names.js';
import { parseQuery, rewriteTableReferences, transpile } from '../sql/query.js';
import { AUDIT_SAMPLE_SIZE, type AuditResult, type AuditRunContext } from './audit-types.js';
import { BUILTIN_AUDITS, type BuiltinArgs, type BuiltinAudit } from './builtin-audits.js';

export {
  AuditFailure,
  auditFailureOf,
  describeAuditFailure,
  type AuditResult,
  type AuditRunContext,
} from './audit-types.js';

/** An audit a call resolves to: one of the model's or project's, or a built-in. */
export type ResolvedAudit =
  { type: 'custom'; definition: AuditDefinition } | { type: 'builtin'; builtin: BuiltinAudit };

type AuditsByName = Record<string, AuditDefinition> | ReadonlyMap<string, AuditDefinition>;

function lookupAudit(audits: AuditsByName | undefined, name: string): AuditDefinition | undefined {
  if (!audits) return undefined;
  if (audits instanceof Map) return (audits as ReadonlyMap<string, AuditDefinition>).get(name);
  return Object.prototype.hasOwnProperty.call(audits, name)
    ? (audits as Record<string, AuditDefinition>)[name]
    : undefined;
}

function auditNames(audits: AuditsByName | undefined): string[] {
  if (!audits) return [];
  return audits instanceof Map ? [...audits.keys()] : Object.keys(audits);
}

/**
 * The audit a model's call names: an inline audit of the model, else a
 * project audit, else a built-in one. An unknown name is a ProjectError at
 * the call, suggesting the closest name.
 */
export function resolveAudit(
  call: AuditCall,
  definition: ModelDefinition,
  projectAudits?: AuditsByName,
): ResolvedAudit {
  const name = call.name.toLowerCase();
  const inline = definition.inlineAudits.find((a) => a.name.toLowerCase() === name);
  if (inline) return { type: 'custom', definition: inline };
  const project = lookupAudit(projectAudits, name);
  if (project) return { type: 'custom', definition: project };
  const builtin = BUILTIN_AUDITS.get(name);
  if (builtin) return { type: 'builtin', builtin };
  const candidates = [
    ...definition.inlineAudits.map((a) => a.name),
    ...auditNames(projectAudits),
    ...BUILTIN_AUDITS.keys(),
  ];
  const hint = suggest(name, candidates);
  throw new ProjectError(
    `model ${definition.name} calls unknown audit \`${call.name}\`` +
      (hint ||
        '; define it in audits/ or inline with `AUDIT (name ...)` in the model file, or use a built-in audit'),
    call.location,
  );
}

/** The call's arguments for a built-in, by canonical name; checks names and required ones. */
function builtinArguments(call: AuditCall, builtin: BuiltinAudit): Record<string, string> {
  const out: Record<string, string> = {};
  const known = [...builtin.required, ...Object.keys(builtin.defaults)];
  for (const [rawKey, value] of Object.entries(call.args)) {
    const key = rawKey.toLowerCase();
    if (key === 'blocking') continue;
    const canonical = builtin.aliases[key] ?? key;
    if (!known.includes(canonical)) {
      const hint = suggest(key, [...known, ...Object.keys(builtin.aliases)]);
      throw new ProjectError(
        `audit \`${call.name}\` takes no argument \`${rawKey}\`${hint || `; it takes ${known.join(', ')}`}`,
        call.location,
      );
    }
    if (out[canonical] !== undefined) {
      throw new ProjectError(
        `audit \`${call.name}\` is given \`${canonical}\` twice (once as \`${key}\`); keep one`,
        call.location,
      );
    }
    out[canonical] = value;
  }
  for (const name of builtin.required) {
    if (out[name] === undefined) {
      throw new ProjectError(
        `audit \`${call.name}\` needs the argument \`${name}\`: write \`${call.name}(${name} := ...)\``,
        call.location,
      );
    }
  }
  return out;
}

/**
 * Checks a model's audit calls without running them: every name resolves and
 * every built-in gets its required arguments and no unknown ones. Throws a
 * ProjectError at the first bad call.
 */
export function checkAuditCalls(definition: ModelDefinition, projectAudits?: AuditsByName): void {
  for (const call of definition.audits) {
    const resolved = resolveAudit(call, definition, projectAudits);
    if (call.args['blocking'] !== undefined) parseBool(call.args['blocking'], 'blocking', call);
    if (resolved.type === 'builtin') builtinArguments(call, resolved.builtin);
  }
}

function parseBool(text: string, what: string, call: AuditCall): boolean {
  const t = text
    .trim()
    .replace(/^'(.*)'$/, '$1')
    .toUpperCase();
  if (t === 'TRUE' || t === '1') return true;
  if (t === 'FALSE' || t === '0') return false;
  throw new ProjectError(
    `audit \`${call.name}\`: \`${what}\` must be true or false, got \`${text.trim()}\``,
    call.location,
  );
}

/** An argument list's items as SQL: `(a, b)`, `[a, b]`, or a single value. */
function listItems(text: string): string[] {
  const value = sqlValue(text);
  return value.items ? value.items.map((i) => i.sql) : [value.sql];
}

/** Translates one expression between dialects; kept as written when translation fails. */
function translateExpression(expr: string, from: string, to: string): string {
  if (sameDialect(from, to)) return expr;
  try {
    const sql = transpile(`SELECT ${expr}`, from, to);
    return sql.replace(/^\s*SELECT\s+/i, '');
  } catch {
    return expr;
  }
}

/** Translates an argument; a list is translated item by item and keeps its brackets. */
function translateArgument(text: string, from: string, to: string): string {
  if (sameDialect(from, to)) return text;
  const value = sqlValue(text);
  if (!value.items) return translateExpression(text, from, to);
  const items = value.items.map((i) => translateExpression(i.sql, from, to)).join(', ');
  return text.trim().startsWith('[') ? `[${items}]` : `(${items})`;
}

function sameDialect(a: string, b: string): boolean {
  const norm = (d: string) => (d.toLowerCase() === 'postgresql' ? 'postgres' : d.toLowerCase());
  return norm(a) === norm(b);
}

const THIS_MODEL_MARK = '__tideline_this_model__';
const AUDITED_MARK = '__tideline_audited_rows__';
/** The alias `@this_model` gets when an audit does not give it one. */
const THIS_MODEL_ALIAS = '_this_model';

/** What rendering one audit call needs. */
export interface AuditRenderInput {
  ctx: AuditRunContext;
  call: AuditCall;
  /** The audited rows as SQL: the table, or the interval's rows as a parenthesized subquery. */
  relation: string;
  jinja: () => JinjaRenderer;
}

/** The audit call's rendered query in the engine's dialect, and whether it blocks. */
export interface RenderedAudit {
  name: string;
  blocking: boolean;
  skip: boolean;
  sql: string;
}

function macroContext(ctx: AuditRunContext, dialect: string): MacroContext {
  const def = ctx.snapshot.node.definition;
  return {
    start: ctx.interval[0],
    end: ctx.interval[1],
    executionTime: ctx.executionTime,
    variables: ctx.snapshot.node.variables,
    thisModel: THIS_MODEL_MARK,
    runtimeStage: 'auditing',
    modelKindName: def.kind.name,
    dialect,
    ...(ctx.gateway !== undefined ? { gateway: ctx.gateway } : {}),
    ...(ctx.environment !== undefined ? { extraVariables: { this_env: ctx.environment } } : {}),
  };
}

const UNDEFINED_VARIABLE = /^undefined macro variable @(\w+)/;

function renderBuiltin(input: AuditRenderInput, builtin: BuiltinAudit): string {
  const { ctx, call } = input;
  const def = ctx.snapshot.node.definition;
  const engine = ctx.adapter.dialect;
  const given = builtinArguments(call, builtin);
  const scope = new MacroScope(macroContext(ctx, def.dialect));
  const values: Record<string, string> = {};
  for (const [name, text] of Object.entries({ ...builtin.defaults, ...given })) {
    values[name] = scope.renderExpression(text, call.location).trim();
  }
  const fail = (reason: string): never => {
    throw new ProjectError(`audit \`${call.name}\` ${reason}`, call.location);
  };
  const raw = (name: string): string => {
    const v = values[name];
    return v === undefined ? fail(`needs the argument \`${name}\``) : v;
  };
  const isNull = (text: string) => text === '' || text.toUpperCase() === 'NULL';
  const args: BuiltinArgs = {
    expr: (name) => translateExpression(raw(name), def.dialect, engine),
    optional: (name) => {
      const v = values[name];
      return v === undefined || isNull(v) ? undefined : translateExpression(v, def.dialect, engine);
    },
    list: (name) => {
      const items = listItems(raw(name));
      if (items.length === 0) fail(`needs at least one value in \`${name}\``);
      return items.map((i) => translateExpression(i, def.dialect, engine));
    },
    bool: (name) => parseBool(raw(name), name, call),
    fail,
  };
  const sql = builtin.sql(args, { relation: input.relation, dialect: engine });
  // Arguments may read other models (`condition := id IN (SELECT id FROM sushi.items)`).
  const readsTables = Object.values(given).some((v) => /\bselect\b/i.test(v));
  if (!readsTables || !ctx.tableFor) return sql;
  return mapTables(sql, engine, input, call.location);
}

/** Replaces model names in `sql` (written in `dialect`) by their tables, and writes it for the engine. */
function mapTables(
  sql: string,
  dialect: string,
  input: AuditRenderInput,
  at: SourceLocation,
): string {
  const { ctx } = input;
  const node = ctx.snapshot.node;
  const parsed = parseQuery(sql, dialect, at);
  let out = rewriteTableReferences(
    parsed,
    (ref) => {
      if (!ref.schema && !ref.catalog && ref.name.name === THIS_MODEL_MARK) return AUDITED_MARK;
      let fqn: string;
      try {
        fqn = fullyQualifiedName(ref, dialect, node.defaultCatalog);
      } catch {
        return undefined;
      }
      if (fqn === ctx.snapshot.name) return ctx.table;
      return ctx.tableFor?.(fqn);
    },
    ctx.adapter.dialect,
  );
  out = out.replace(new RegExp(`"?${AUDITED_MARK}"?`, 'g'), () => input.relation);
  return out.replace(new RegExp(`"?${THIS_MODEL_MARK}"?`, 'g'), THIS_MODEL_ALIAS);
}

function renderCustom(input: AuditRenderInput, audit: AuditDefinition): string {
  const { ctx, call } = input;
  const def = ctx.snapshot.node.definition;
  const dialect = audit.dialect ?? def.dialect;
  // Arguments and defaults are rendered first (they may use @start_ds, project variables, ...).
  const plain = new MacroScope(macroContext(ctx, dialect));
  const blueprint: Record<string, string> = {};
  for (const [name, text] of Object.entries(audit.defaults)) {
    blueprint[name.toLowerCase()] = plain.renderExpression(text, audit.location);
  }
  for (const [name, text] of Object.entries(call.args)) {
    if (name.toLowerCase() === 'blocking') continue;
    const rendered = plain.renderExpression(text, call.location);
    blueprint[name.toLowerCase()] = translateArgument(rendered, def.dialect, dialect);
  }
  const scope = new MacroScope(
    { ...macroContext(ctx, dialect), blueprintVariables: blueprint },
    {
      ...(audit.statements ? { definitions: audit.statements } : {}),
      ...(audit.query.jinja || audit.statements?.some((s) => s.jinja)
        ? { jinja: input.jinja() }
        : {}),
    },
  );
  let text: string;
  try {
    text = scope.renderQuery(audit.query);
  } catch (err) {
    const missing = err instanceof ProjectError ? UNDEFINED_VARIABLE.exec(err.reason) : null;
    if (missing) {
      const name = (missing[1] as string).toLowerCase();
      throw new ProjectError(
        `audit \`${call.name}\` needs the argument \`${name}\` (its query uses @${name}): ` +
          `write \`${call.name}(${name} := ...)\` or give it a default in the AUDIT block`,
        call.location,
        { cause: err },
      );
    }
    throw err;
  }
  return mapTables(text, dialect, input, audit.query.location);
}

/** Renders one audit call of the model for the context's interval. */
export function renderAudit(input: AuditRenderInput): RenderedAudit {
  const { ctx, call } = input;
  const def = ctx.snapshot.node.definition;
  const resolved = resolveAudit(call, def, ctx.snapshot.node.audits);
  const defaultBlocking =
    resolved.type === 'builtin' ? resolved.builtin.blocking : resolved.definition.blocking;
  const blockingArg = call.args['blocking'];
  const blocking =
    !ctx.forceNonBlocking &&
    (blockingArg !== undefined ? parseBool(blockingArg, 'blocking', call) : defaultBlocking);
  if (resolved.type === 'custom' && resolved.definition.skip) {
    return { name: call.name, blocking, skip: true, sql: '' };
  }
  const sql =
    resolved.type === 'builtin'
      ? renderBuiltin(input, resolved.builtin)
      : renderCustom(input, resolved.definition);
  return { name: call.name, blocking, skip: false, sql };
}

function tableRefFromSql(table: string, dialect: string): TableRef {
  const name = parseTableName(table, dialect);
  return {
    ...(name.catalog ? { catalog: name.catalog.name } : {}),
    schema: name.schema?.name ?? 'main',
    name: name.name.name,
  };
}

/**
 * The rows a model's audits read: its table, or for INCREMENTAL_BY_TIME_RANGE
 * models the rows of the interval, compared in the time column's own type
 * (text columns through the column's format).
 */
export async function auditedRelation(ctx: AuditRunContext): Promise<string> {
  const def = ctx.snapshot.node.definition;
  if (def.kind.name !== 'INCREMENTAL_BY_TIME_RANGE') return ctx.table;
  const ref: TableRef = ctx.tableRef ?? tableRefFromSql(ctx.table, ctx.adapter.dialect);
  const columns = await ctx.adapter.columns(ref);
  const { column, format } = def.kind.timeColumn;
  const col = findColumn(columns, column);
  if (!col) {
    throw new ProjectError(
      `model ${def.name}: time_column ${column} is not a column of ${ctx.table}, so its audits cannot ` +
        'select the interval; make the query return it or fix time_column',
      def.location,
    );
  }
  const what = `model ${def.name}: time_column ${col.name}`;
  const fmt = format ?? '%Y-%m-%d';
  const low = timeLiteral({ ms: ctx.interval[0], micros: 0 }, col.type, fmt, what);
  const high = timeLiteral(inclusiveEnd(ctx.interval[1]), col.type, fmt, what);
  return (
    `(SELECT * FROM ${ctx.table} WHERE ` +
    `${ctx.adapter.quoteIdentifier(col.name)} BETWEEN ${low} AND ${high})`
  );
}

function errorText(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s+/g, ' ').trim();
}

/** Runs a rendered audit query: counts its rows and keeps the first few. */
export async function runAuditQuery(
  adapter: EngineAdapter,
  sql: string,
): Promise<{ failingRows: number; sample: Row[] }> {
  const body = `(\n${sql}\n) AS _audit_rows`;
  const { rows } = await adapter.query(`SELECT * FROM ${body} LIMIT ${AUDIT_SAMPLE_SIZE}`);
  if (rows.length < AUDIT_SAMPLE_SIZE) return { failingRows: rows.length, sample: rows };
  const counted = await adapter.query<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${body}`);
  return { failingRows: Number(counted.rows[0]?.n ?? rows.length), sample: rows };
}

/**
 * Runs every audit the model calls, in order, and reports each. Audits
 * defined with `skip true` are reported skipped. A mistake in a call (unknown
 * audit, missing argument) is a ProjectError; an audit query the engine
 * rejects is reported as a failed audit with its error.
 */
export async function runModelAudits(ctx: AuditRunContext): Promise<AuditResult[]> {
  const def = ctx.snapshot.node.definition;
  if (def.audits.length === 0) return [];
  checkAuditCalls(def, ctx.snapshot.node.audits);
  const relation = await auditedRelation(ctx);
  let jinja: JinjaRenderer | undefined;
  const jinjaStage = () => (jinja ??= new JinjaRenderer(ctx.snapshot.node.jinjaMacros ?? []));
  const results: AuditResult[] = [];
  for (const call of def.audits) {
    const rendered = renderAudit({ ctx, call, relation, jinja: jinjaStage });
    if (rendered.skip) {
      results.push({
        name: rendered.name,
        blocking: rendered.blocking,
        passed: true,
        skipped: true,
        failingRows: 0,
        sample: [],
        sql: '',
      });
      continue;
    }
    try {
      const { failingRows, sample } = await runAuditQuery(ctx.adapter, rendered.sql);
      results.push({
        name: rendered.name,
        blocking: rendered.blocking,
        passed: failingRows === 0,
        failingRows,
        sample,
        sql: rendered.sql,
      });
    } catch (err) {
      results.push({
        name: rendered.name,
        blocking: rendered.blocking,
        passed: false,
        failingRows: 0,
        sample: [],
        sql: rendered.sql,
        error: errorText(err),
      });
    }
  }
  return results;
}
