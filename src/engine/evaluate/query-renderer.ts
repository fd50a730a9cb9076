/**
 * Rendering a model for evaluation: Jinja and macros for one interval, model
 * references replaced by the tables that hold them (or, for EMBEDDED models,
 * by their own query as a subquery), written in the engine's dialect.
 *
 * Both the CLI's `render` (from a loaded project) and the evaluator (from a
 * snapshot, away from the project files) come through here, so what users
 * see is what runs.
 */
import { TidelineError } from '../errors.js';
import type { ModelDefinition } from '../model-types.js';
import { MacroScope, type JinjaStage, type RuntimeStage } from '../render/macro-renderer.js';
import { fullyQualifiedName } from '../sql/names.js';
import { parseQuery, rewriteTableReferences, transpile } from '../sql/query.js';

/** What rendering a model needs to know besides its definition. */
export interface QueryRenderInput {
  definition: ModelDefinition;
  /** Project variables (gateway variables overlaid). */
  variables: Record<string, unknown>;
  jinja?: JinjaStage;
  /** The catalog unqualified names belong to. */
  defaultCatalog: string;
  gateway?: string;
  start: number;
  end: number;
  executionTime: number;
  /** The dialect to write; the engine's. */
  dialect: string;
  /**
   * The table holding a model, by canonical name, as SQL in `dialect`; undefined
   * for names that are not models of the project (they are kept as written).
   */
  tableFor: (fqn: string) => string | undefined;
  /** For EMBEDDED models: their rendered query in `dialect`, inlined where they are read. */
  embeddedQuery?: (fqn: string) => string | undefined;
  /** `@this_model`. */
  thisModel?: string;
  runtimeStage?: RuntimeStage;
  /** `@this_env` and friends. */
  extraVariables?: Record<string, unknown>;
}

export interface RenderedModel {
  /** Pre-statements, rendered, in `dialect` when they could be translated. */
  pre: string[];
  query: string;
  post: string[];
}

const EMBEDDED_MARK = '__tideline_embedded_';
const EMBEDDED_PATTERN = /"?__tideline_embedded_(\d+)__"?/g;

function renderStatementSql(sql: string, from: string, to: string): string {
  if (from === to) return sql;
  try {
    return transpile(sql, from, to);
  } catch {
    // Statements the parser cannot read (SET, ATTACH, ...) run as written.
    return sql;
  }
}

/** Renders a model's pre-statements, query and post-statements for one interval. */
export function renderModelQuery(input: QueryRenderInput): RenderedModel {
  const def = input.definition;
  if (!def.query) {
    throw new TidelineError(`${def.name} (${def.kind.name}) has no query to render`);
  }
  const thisModel = input.thisModel ?? input.tableFor(def.name) ?? def.name;
  const scope = new MacroScope(
    {
      start: input.start,
      end: input.end,
      executionTime: input.executionTime,
      variables: input.variables,
      thisModel,
      ...(input.gateway !== undefined ? { gateway: input.gateway } : {}),
      runtimeStage: input.runtimeStage ?? 'evaluating',
      modelKindName: def.kind.name,
      dialect: def.dialect,
      ...(input.extraVariables ? { extraVariables: input.extraVariables } : {}),
    },
    {
      definitions: [...def.preStatements, ...def.postStatements],
      ...(input.jinja ? { jinja: input.jinja } : {}),
    },
  );
  const pre: string[] = [];
  for (const fragment of def.preStatements) {
    const sql = scope.renderStatement(fragment);
    if (sql && sql.trim()) pre.push(renderStatementSql(sql, def.dialect, input.dialect));
  }
  const sql = scope.renderQuery(def.query);
  const parsed = parseQuery(sql, def.dialect, def.query.location);
  const inlined: string[] = [];
  let query = rewriteTableReferences(
    parsed,
    (ref) => {
      const fqn = fullyQualifiedName(ref, def.dialect, input.defaultCatalog);
      const embedded = input.embeddedQuery?.(fqn);
      if (embedded !== undefined) {
        inlined.push(embedded);
        return `${EMBEDDED_MARK}${inlined.length - 1}__`;
      }
      return input.tableFor(fqn);
    },
    input.dialect,
  );
  if (inlined.length > 0) {
    query = query.replace(EMBEDDED_PATTERN, (_, i: string) => `(${inlined[Number(i)]})`);
  }
  const post: string[] = [];
  for (const fragment of def.postStatements) {
    const text = scope.renderStatement(fragment);
    if (text && text.trim()) post.push(renderStatementSql(text, def.dialect, input.dialect));
  }
  return { pre, query, post };
}
