/**
 * Running unit tests: for each test, its input rows become tables in a
 * schema of its own on the test connection (an in-memory DuckDB unless the
 * gateway sets `test_connection`); the model's query is rendered with its
 * references pointed at those tables and run; its result (and each tested
 * CTE's) is compared with the expected rows.
 */
import { randomBytes } from 'node:crypto';
import { createAdapter } from '../adapters/adapter-factory.js';
import type { EngineAdapter } from '../adapters/engine-adapter.js';
import type { ConnectionConfig } from '../config/config-types.js';
import { ProjectError, TidelineError } from '../errors.js';
import { renderModel } from '../project/model-renderer.js';
import type { LoadedModel, Project } from '../project/project-loader.js';
import {
  fullyQualifiedName,
  normalizeIdentifier,
  normalizeTableName,
  parseFullyQualifiedName,
  parseTableName,
  quoteIdentifier,
} from '../sql/names.js';
import { outputColumns, parseQuery } from '../sql/query.js';
import { toTimestamp } from '../time/index.js';
import { ColumnTypeResolver, type ColumnType } from './column-types.js';
import { prepareQuery, type PreparedQuery } from './query-rewrite.js';
import { compareRows } from './row-diff.js';
import type { TestInput, TestOutput, UnitTestDefinition } from './test-definition.js';
import { discoverTests, selectTests } from './test-selection.js';
import { inferType, sqlLiteral, TemporalLiteral } from './test-values.js';

/** The outcome of one unit test. */
export interface UnitTestResult {
  name: string;
  /** The test file, relative to the project root. */
  file: string;
  passed: boolean;
  /** When the rows differ: the diff of expected and actual rows. */
  diff?: string;
  /** When the test could not run to a comparison: why. */
  error?: string;
  durationMs: number;
  description?: string;
}

export interface UnitTestRun {
  passed: number;
  failed: number;
  results: UnitTestResult[];
}

export interface RunUnitTestsOptions {
  /** Tests to run: `test_name`, `tests/file.yaml::test_name` or a test file; all when empty. */
  names?: string[];
  /** Only tests whose name (or `file::name`) contains this text or matches this glob. */
  pattern?: string;
  /** Called as each test finishes. */
  onResult?: (result: UnitTestResult) => void;
}

/** The connection tests use when their gateway has no `test_connection`. */
export const DEFAULT_TEST_CONNECTION: ConnectionConfig = {
  type: 'duckdb',
  catalogs: {},
  extensions: [],
  connectorConfig: {},
  concurrentTasks: 1,
};

const TIME_VARS = new Set(['start', 'end', 'execution_time', 'latest']);
const EPOCH_DAY = '1970-01-01';

interface Connection {
  adapter: EngineAdapter;
  types: ColumnTypeResolver;
}

/** A test that names an existing model with a query, and the connection it runs on. */
interface PreparedTest {
  test: UnitTestDefinition;
  model: LoadedModel;
  connection: ConnectionConfig;
}

function timeText(value: unknown): string | number {
  if (value instanceof TemporalLiteral) return value.text;
  if (typeof value === 'number') return value;
  return String(value);
}

/** Edit distance, for suggesting a model name close to a misspelt one. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

function checkTest(project: Project, test: UnitTestDefinition): PreparedTest {
  let model: LoadedModel;
  try {
    model = project.findModel(test.model);
  } catch (err) {
    if (!(err instanceof TidelineError)) throw err;
    const wanted = test.model.toLowerCase();
    const close = [...project.models.values()]
      .map((m) => m.name)
      .filter((n) => distance(n.toLowerCase(), wanted) <= Math.max(2, wanted.length / 5))
      .slice(0, 3);
    throw new ProjectError(
      `test ${test.name}: unknown model ${test.model}; fix model:` +
        (close.length
          ? ` (did you mean ${close.join(', ')}?)`
          : ' (`tideline dag` lists the models)'),
      test.modelLocation,
    );
  }
  if (!model.definition.query) {
    throw new ProjectError(
      `test ${test.name}: ${model.name} is a ${model.definition.kind.name} model with no query to test; test a model that reads it instead`,
      test.modelLocation,
    );
  }
  const gatewayName = test.gateway ?? project.gatewayName;
  const gateways = project.config.gateways;
  const key = Object.keys(gateways).find((g) => g.toLowerCase() === gatewayName.toLowerCase());
  const gateway = key !== undefined ? gateways[key] : undefined;
  if (test.gateway !== undefined && !gateway) {
    throw new ProjectError(
      `test ${test.name}: unknown gateway ${test.gateway}; use one of ${Object.keys(gateways).join(', ')}`,
      test.gatewayLocation ?? test.location,
    );
  }
  const connection = (gateway ?? project.gateway).testConnection ?? DEFAULT_TEST_CONNECTION;
  return { test, model, connection };
}

/**
 * Discovers the project's unit tests, runs the selected ones and reports each.
 * A malformed test file, or a test naming an unknown model or gateway, is a
 * ProjectError before anything runs; a test that fails or cannot run is a
 * failed result.
 */
export async function runUnitTests(
  project: Project,
  options: RunUnitTestsOptions = {},
): Promise<UnitTestRun> {
  const selected = selectTests(discoverTests(project), options);
  const prepared = selected.map((t) => checkTest(project, t));
  const connections = new Map<string, Connection>();
  const results: UnitTestResult[] = [];
  try {
    for (const item of prepared) {
      const key = JSON.stringify(item.connection);
      let connection = connections.get(key);
      if (!connection) {
        const adapter = createAdapter(item.connection, { projectRoot: project.root });
        connection = { adapter, types: new ColumnTypeResolver(project, adapter) };
        connections.set(key, connection);
      }
      const result = await runOne(project, item, connection);
      results.push(result);
      options.onResult?.(result);
    }
  } finally {
    for (const c of connections.values()) {
      await c.types.close().catch(() => undefined);
      await c.adapter.close().catch(() => undefined);
    }
  }
  const passed = results.filter((r) => r.passed).length;
  return { passed, failed: results.length - passed, results };
}

function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s*\n\s*/g, ' ').trim();
}

async function runOne(
  project: Project,
  item: PreparedTest,
  connection: Connection,
): Promise<UnitTestResult> {
  const { test } = item;
  const started = Date.now();
  const base = {
    name: test.name,
    file: test.file,
    ...(test.description !== undefined ? { description: test.description } : {}),
  };
  const { adapter } = connection;
  const schema = test.schema ?? `tideline_test_${randomBytes(4).toString('hex')}`;
  // A schema the test names may hold other tables: then only the test's own views are dropped.
  const existed =
    test.schema !== undefined && (await adapter.schemaExists(schema).catch(() => false));
  let execution: TestExecution | undefined;
  let created = false;
  try {
    if (!existed) {
      await adapter.createSchema(schema);
      created = true;
    }
    execution = new TestExecution(project, item, connection, schema);
    const diffs = await execution.run();
    return {
      ...base,
      passed: diffs.length === 0,
      ...(diffs.length > 0 ? { diff: diffs.join('\n\n') } : {}),
      durationMs: Date.now() - started,
    };
  } catch (err) {
    return { ...base, passed: false, error: oneLine(err), durationMs: Date.now() - started };
  } finally {
    if (created) await adapter.dropSchema(schema, { cascade: true }).catch(() => undefined);
    else if (execution) {
      for (const view of execution.views) {
        await adapter.execute(`DROP VIEW IF EXISTS ${view}`).catch(() => undefined);
      }
    }
  }
}

/** One run of one test, in its schema. */
class TestExecution {
  private readonly adapter: EngineAdapter;
  private readonly dialect: string;
  /** Input tables by the model's canonical name. */
  private readonly modelTables = new Map<string, string>();
  /** Input tables of names that are not models, by their canonical form. */
  private readonly otherTables = new Map<string, string>();
  /** The views this run created, as SQL names. */
  readonly views: string[] = [];

  constructor(
    private readonly project: Project,
    private readonly item: PreparedTest,
    private readonly connection: Connection,
    private readonly schema: string,
  ) {
    this.adapter = connection.adapter;
    this.dialect = connection.adapter.dialect;
  }

  private q(name: string): string {
    return quoteIdentifier(name, this.dialect);
  }

  private column(name: string): string {
    return normalizeIdentifier({ name, quoted: false }, this.dialect).name;
  }

  private tableSql(parts: string[]): string {
    return `${this.q(this.schema)}.${this.q(parts.join('__'))}`;
  }

  /** Creates a view per input, named for the table it stands in for. */
  private async createInputs(): Promise<void> {
    const { test } = this.item;
    const projectDialect = this.project.config.modelDefaults.dialect;
    for (const input of test.inputs) {
      const fqn = fullyQualifiedName(
        input.name,
        projectDialect,
        this.project.defaultCatalog,
        input.location,
      );
      const isModel = this.project.models.has(fqn);
      const parsed = isModel
        ? parseFullyQualifiedName(fqn)
        : normalizeTableName(
            parseTableName(input.name, projectDialect, input.location),
            projectDialect,
          );
      const parts = [
        ...(parsed.catalog && parsed.catalog.name !== this.project.defaultCatalog
          ? [parsed.catalog.name]
          : []),
        ...(parsed.schema ? [parsed.schema.name] : []),
        parsed.name.name,
      ];
      const table = this.tableSql(parts);
      const target = isModel ? this.modelTables : this.otherTables;
      if (target.has(fqn)) {
        throw new ProjectError(`input ${input.name} is given twice; keep one`, input.location);
      }
      target.set(fqn, table);
      const known = isModel ? await this.connection.types.typesOf(fqn) : undefined;
      await this.createInput(table, input, known);
    }
  }

  /**
   * The model's query rendered for the test: vars applied, models read from the
   * input views (a model reading itself from an empty one when its columns are
   * declared), other tables from their inputs, current time frozen when asked.
   */
  private async renderQuery(): Promise<PreparedQuery> {
    const { test, model } = this.item;
    const vars = test.vars;
    const variables: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(vars)) {
      if (!TIME_VARS.has(k)) variables[k] = v instanceof TemporalLiteral ? v.text : v;
    }
    const frozen = vars['execution_time'] ?? vars['latest'];
    const executionTime =
      frozen !== undefined && frozen !== null ? toTimestamp(timeText(frozen), 0) : 0;
    const start = vars['start'] ?? (vars['end'] !== undefined ? EPOCH_DAY : undefined);
    const end = vars['end'] ?? vars['start'];
    const view: Project =
      Object.keys(variables).length === 0
        ? this.project
        : (Object.create(this.project, {
            // Test vars overlay the project's variables for this render only.
            variables: { value: { ...this.project.variables, ...variables } },
          }) as Project);

    const thisTable =
      this.modelTables.get(model.fqn) ??
      this.tableSql([`${parseFullyQualifiedName(model.fqn).name.name}__self`]);
    const render = (requested: Set<string>) =>
      renderModel(view, model.fqn, {
        start: start !== undefined && start !== null ? timeText(start) : EPOCH_DAY,
        end: end !== undefined && end !== null ? timeText(end) : EPOCH_DAY,
        executionTime,
        dialect: this.dialect,
        thisModel: thisTable,
        runtimeStage: 'testing',
        tableFor: (fqn) => {
          requested.add(fqn);
          return this.modelTables.get(fqn);
        },
      });
    let requested = new Set<string>();
    let sql = render(requested);
    const missing = [...requested].filter((f) => !this.modelTables.has(f));
    if (missing.includes(model.fqn)) {
      // A model that reads its own table (incremental logic) starts from an empty one.
      const own = model.definition.columns?.length
        ? await this.connection.types.typesOf(model.fqn)
        : undefined;
      if (!own || own.length === 0) {
        throw new ProjectError(
          `${model.name} reads its own table; add an input named ${model.name} with its current rows, or declare the model's columns`,
          test.location,
        );
      }
      this.modelTables.set(model.fqn, thisTable);
      await this.createInput(
        thisTable,
        { name: model.name, columns: [], rows: [], location: test.location },
        own,
      );
      requested = new Set<string>();
      sql = render(requested);
    }
    const stillMissing = [...requested].filter((f) => !this.modelTables.has(f));
    if (stillMissing.length > 0) {
      const names = stillMissing.map((f) => this.project.models.get(f)?.name ?? f);
      throw new ProjectError(
        `missing input for ${names.join(', ')}, which ${model.name} reads; add ${names.length > 1 ? 'them' : 'it'} under inputs`,
        test.location,
      );
    }

    return prepareQuery(sql, this.dialect, {
      ...(frozen !== undefined && frozen !== null ? { executionTime } : {}),
      ...(this.otherTables.size > 0
        ? {
            tableFor: (ref) =>
              this.otherTables.get(
                fullyQualifiedName(ref, this.dialect, this.project.defaultCatalog),
              ),
          }
        : {}),
    });
  }

  async run(): Promise<string[]> {
    const { test, model } = this.item;
    await this.createInputs();
    const prepared = await this.renderQuery();
    const diffs: string[] = [];
    for (const cte of test.outputs.ctes) {
      const found = prepared.ctes.get(cte.name) ?? prepared.ctes.get(cte.name.toLowerCase());
      if (!found) {
        const names = [...new Set([...prepared.ctes.values()].map((c) => c.name))];
        throw new ProjectError(
          `no CTE named ${cte.name} in ${model.name}` +
            (names.length
              ? `; its CTEs are ${names.join(', ')}`
              : '; its query has no WITH clause'),
          cte.location,
        );
      }
      const diff = await this.check(`CTE ${found.name}`, cte, found.sql, found.ordered);
      if (diff) diffs.push(diff);
    }
    if (test.outputs.query) {
      const diff = await this.check('query', test.outputs.query, prepared.sql, prepared.ordered);
      if (diff) diffs.push(diff);
    }
    return diffs;
  }

  private async check(
    what: string,
    output: TestOutput,
    sql: string,
    ordered: boolean,
  ): Promise<string | undefined> {
    const actual = await this.adapter.query(sql);
    const expected =
      output.query !== undefined
        ? (await this.adapter.query(output.query)).rows
        : (output.rows ?? []);
    return compareRows({ what, expected, actual, partial: output.partial, ordered });
  }

  /** Creates the view holding one input's rows, typed as well as can be known. */
  private async createInput(
    table: string,
    input: TestInput,
    known: ColumnType[] | undefined,
  ): Promise<void> {
    // Column name (folded) -> the column as it will be created.
    const columns = new Map<string, { name: string; type: string | undefined }>();
    const add = (name: string, type: string | undefined, override: boolean) => {
      const key = this.column(name).toLowerCase();
      const prior = columns.get(key);
      if (!prior) columns.set(key, { name: this.column(name), type });
      else if (override && type !== undefined) prior.type = type;
    };
    for (const c of known ?? []) add(c.name, c.type, false);
    for (const c of input.columns) add(c.name, c.type, true);

    if (input.query !== undefined) {
      let select = input.query;
      let names: Array<string | undefined> = [];
      try {
        names = outputColumns(parseQuery(input.query, this.dialect, input.location)).map((c) =>
          c.star ? undefined : c.name?.toLowerCase(),
        );
      } catch {
        names = [undefined];
      }
      if (!names.includes(undefined)) {
        const extra = [...columns.entries()].filter(([key]) => !names.includes(key));
        if (extra.length > 0) {
          select =
            `SELECT *, ${extra.map(([, c]) => `${sqlLiteral(null, c.type, this.dialect)} AS ${this.q(c.name)}`).join(', ')} ` +
            `FROM (${input.query}) AS tideline_input`;
        }
      }
      await this.adapter.execute(`CREATE VIEW ${table} AS ${select}`);
      this.views.push(table);
      return;
    }

    const rows = input.rows ?? [];
    for (const row of rows) {
      for (const name of Object.keys(row)) add(name, undefined, false);
    }
    const list = [...columns.entries()];
    for (const [key, c] of list) {
      if (c.type !== undefined) continue;
      for (const row of rows) {
        const entry = Object.entries(row).find(([k]) => this.column(k).toLowerCase() === key);
        const type = entry ? inferType(entry[1]) : undefined;
        if (type) {
          c.type = type;
          break;
        }
      }
    }
    if (list.length === 0) {
      throw new ProjectError(
        `input ${input.name} has no rows and no known columns; add columns: with their types`,
        input.location,
      );
    }
    const names = list.map(([, c]) => this.q(c.name));
    let select: string;
    if (rows.length === 0) {
      select = `SELECT ${list.map(([, c]) => `${sqlLiteral(null, c.type, this.dialect)} AS ${this.q(c.name)}`).join(', ')} WHERE 1 = 0`;
    } else {
      const values = rows.map((row) => {
        const folded = new Map(
          Object.entries(row).map(([k, v]) => [this.column(k).toLowerCase(), v]),
        );
        return `(${list.map(([key, c]) => sqlLiteral(folded.get(key) ?? null, c.type, this.dialect)).join(', ')})`;
      });
      select = `SELECT * FROM (VALUES ${values.join(', ')}) AS tideline_input (${names.join(', ')})`;
    }
    await this.adapter.execute(`CREATE VIEW ${table} AS ${select}`);
    this.views.push(table);
  }
}
