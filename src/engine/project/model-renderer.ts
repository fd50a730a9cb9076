import { TidelineError } from '../errors.js';
import { MacroScope, type RuntimeStage } from '../render/macro-renderer.js';
import { fullyQualifiedName, parseFullyQualifiedName, renderTableName } from '../sql/names.js';
import { formatSql, parseQuery, rewriteTableReferences } from '../sql/query.js';
import { cronFloor, cronPrev, toEndTimestamp, toTimestamp } from '../time/index.js';
import type { LoadedModel, Project } from './project-loader.js';

export interface RenderOptions {
  /** Interval start as the user wrote it; defaults to the start of the latest complete interval. */
  start?: string | number;
  /** Interval end (a date means the whole day); defaults to the latest cron boundary. */
  end?: string | number;
  executionTime: number;
  /** The dialect to render in; defaults to the gateway engine's. */
  dialect?: string;
  /** Pretty-print over several lines. */
  pretty?: boolean;
  /**
   * Where each model the query reads lives, by canonical name. Defaults to the
   * model's own name, fully qualified; plans map them to physical tables.
   */
  tableFor?: (fqn: string) => string | undefined;
  /** `@this_model`; defaults to the model's own fully qualified name. */
  thisModel?: string;
  runtimeStage?: RuntimeStage;
}

/** The interval a render covers: explicit bounds, or the model's latest complete interval. */
export function renderInterval(
  model: LoadedModel,
  options: Pick<RenderOptions, 'start' | 'end' | 'executionTime'>,
): { start: number; end: number } {
  const { cron, cronTz } = model.definition;
  const now = options.executionTime;
  const end =
    options.end !== undefined ? toEndTimestamp(options.end, now) : cronFloor(cron, now, cronTz);
  const start =
    options.start !== undefined ? toTimestamp(options.start, now) : cronPrev(cron, end, cronTz);
  if (start >= end) {
    throw new TidelineError(
      `the interval start (${new Date(start).toISOString()}) must be before its end (${new Date(end).toISOString()}); check --start and --end`,
    );
  }
  return { start, end };
}

/**
 * The SQL that evaluating a model would run: Jinja and macros rendered for the
 * interval, references to other models replaced by their tables, and the
 * result written in the target dialect.
 */
export function renderModel(project: Project, name: string, options: RenderOptions): string {
  const model = project.findModel(name);
  const def = model.definition;
  if (!def.query) {
    const what =
      def.kind.name === 'SEED'
        ? `a SEED model loaded from ${model.seedPath ?? def.kind.path}`
        : 'an EXTERNAL model, built outside this project';
    throw new TidelineError(`${model.name} is ${what}; it has no query to render`);
  }
  const dialect = options.dialect ?? project.engineDialect;
  const { start, end } = renderInterval(model, options);
  const tableFor =
    options.tableFor ??
    ((fqn: string) => renderTableName(parseFullyQualifiedName(fqn), dialect, {}));
  const thisModel = options.thisModel ?? tableFor(model.fqn) ?? model.fqn;
  const scope = new MacroScope(
    {
      start,
      end,
      executionTime: options.executionTime,
      variables: project.variables,
      thisModel,
      gateway: project.gatewayName,
      runtimeStage: options.runtimeStage ?? 'evaluating',
      modelKindName: def.kind.name,
      dialect: def.dialect,
    },
    { definitions: [...def.preStatements, ...def.postStatements], jinja: project.jinja },
  );
  for (const pre of def.preStatements) scope.renderStatement(pre);
  const sql = scope.renderQuery(def.query);
  const parsed = parseQuery(sql, def.dialect, def.query.location);
  const rendered = rewriteTableReferences(
    parsed,
    (ref) => {
      const fqn = fullyQualifiedName(ref, def.dialect, project.defaultCatalog);
      return project.models.has(fqn) ? tableFor(fqn) : undefined;
    },
    dialect,
  );
  return options.pretty ? formatSql(rendered, dialect) : rendered;
}
