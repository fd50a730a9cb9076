import { TidelineError } from '../errors.js';
import { renderModelQuery } from '../evaluate/query-renderer.js';
import type { RuntimeStage } from '../render/macro-renderer.js';
import { parseFullyQualifiedName, renderTableName } from '../sql/names.js';
import { formatSql } from '../sql/query.js';
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
 * interval, references to other models replaced by their tables (EMBEDDED
 * models by their query, as a subquery), and the result written in the
 * target dialect.
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
  const tableFor = (fqn: string): string | undefined => {
    if (!project.models.has(fqn)) return undefined;
    return options.tableFor?.(fqn) ?? renderTableName(parseFullyQualifiedName(fqn), dialect, {});
  };
  const renderOne = (m: LoadedModel, thisModel: string, seen: Set<string>): string =>
    renderModelQuery({
      definition: m.definition,
      variables: project.variables,
      jinja: project.jinja,
      defaultCatalog: project.defaultCatalog,
      gateway: project.gatewayName,
      start,
      end,
      executionTime: options.executionTime,
      dialect,
      tableFor,
      embeddedQuery: (fqn) => {
        const embedded = project.models.get(fqn);
        if (!embedded || embedded.definition.kind.name !== 'EMBEDDED' || seen.has(fqn)) {
          return undefined;
        }
        return renderOne(embedded, tableFor(fqn) ?? fqn, new Set([...seen, fqn]));
      },
      thisModel,
      runtimeStage: options.runtimeStage ?? 'evaluating',
    }).query;
  const thisModel = options.thisModel ?? tableFor(model.fqn) ?? model.fqn;
  const rendered = renderOne(model, thisModel, new Set([model.fqn]));
  return options.pretty ? formatSql(rendered, dialect) : rendered;
}
