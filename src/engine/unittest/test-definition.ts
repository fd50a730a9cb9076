/**
 * Reading unit test files (tests/test*.yaml): several named tests per file,
 * each with the model it tests, rows (or a query) for the models that model
 * reads, and the rows expected from its query and CTEs. Mistakes are one-line
 * ProjectErrors at file:line:column saying what to fix.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import nunjucks from 'nunjucks';
import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node,
  type Pair,
  type ScalarTag,
  type YAMLMap,
} from 'yaml';
import { ProjectError, type SourceLocation } from '../errors.js';
import { readSeed, type CsvSettingValue } from '../evaluate/seed-reader.js';
import { TemporalLiteral } from './test-values.js';

/** A row of a test: column name (as written) -> value. */
export type TestRow = Record<string, unknown>;

/** Rows given in the test, or a SQL query that produces them. */
export interface RowSource {
  rows?: TestRow[];
  /** SQL run on the test connection instead of listing rows. */
  query?: string;
  location: SourceLocation;
}

/** The data standing in for one table the model reads. */
export interface TestInput extends RowSource {
  /** The name as written: a model name, or any table the query reads. */
  name: string;
  /** Types given in the test's `columns:`, in order. */
  columns: Array<{ name: string; type: string }>;
}

/** Rows expected from the model's query or one of its CTEs. */
export interface TestOutput extends RowSource {
  /** Compare only the columns the expected rows name. */
  partial: boolean;
}

/** One unit test as declared. */
export interface UnitTestDefinition {
  name: string;
  /** The test file, relative to the project root. */
  file: string;
  location: SourceLocation;
  /** The tested model's name as written. */
  model: string;
  modelLocation: SourceLocation;
  description?: string;
  /** The gateway whose `test_connection` runs this test. */
  gateway?: string;
  gatewayLocation?: SourceLocation;
  /** The schema to hold the test's input tables (default: a new random one). */
  schema?: string;
  inputs: TestInput[];
  outputs: { query?: TestOutput; ctes: Array<TestOutput & { name: string }> };
  /** Macro variables; `start`, `end` and `execution_time` set the render's times. */
  vars: Record<string, unknown>;
}

export interface ReadTestFileOptions {
  /** The project folder, for `path:` data files. */
  root: string;
  /** Project variables for `{{ var('name') }}` in the file. */
  variables: Record<string, unknown>;
  /** Environment for `{{ env_var('NAME') }}`. */
  env: Record<string, string | undefined>;
}

const TEST_KEYS = ['model', 'inputs', 'outputs', 'vars', 'description', 'gateway', 'schema'];
const DATA_KEYS = ['rows', 'query', 'columns', 'format', 'path', 'csv_settings', 'partial'];

/** Unquoted YAML dates and timestamps, kept apart from quoted text. */
const TIMESTAMP_TAG: ScalarTag = {
  tag: 'tag:yaml.org,2002:timestamp',
  default: true,
  test: /^\d{4}-\d\d?-\d\d?(?:(?:[Tt]|[ \t]+)\d\d?:\d\d(?::\d\d(?:\.\d+)?)?(?:[ \t]*(?:Z|[-+]\d\d?(?::?\d\d)?))?)?$/,
  resolve: (text: string) =>
    new TemporalLiteral(text, /^\d{4}-\d\d?-\d\d?$/.test(text) ? 'date' : 'timestamp'),
};

class Reader {
  constructor(
    readonly file: string,
    readonly lines: LineCounter,
    readonly doc: Document,
    readonly options: ReadTestFileOptions,
  ) {}

  at(node: Node | null | undefined, fallback?: SourceLocation): SourceLocation {
    const offset = node?.range?.[0];
    if (offset === undefined) return fallback ?? { file: this.file, line: 1, column: 1 };
    const pos = this.lines.linePos(offset);
    return { file: this.file, line: pos.line, column: pos.col };
  }

  fail(node: Node | null | undefined, reason: string, fallback?: SourceLocation): ProjectError {
    return new ProjectError(reason, this.at(node, fallback));
  }

  js(node: Node | null | undefined): unknown {
    if (node === null || node === undefined) return null;
    return node.toJS(this.doc);
  }

  /** The pairs of a mapping with their key text. */
  entries(map: YAMLMap): Array<{ key: string; keyNode: Node; value: Node | null; pair: Pair }> {
    return map.items.map((pair) => {
      const keyNode = pair.key as Node;
      const key = isScalar(keyNode) ? String(keyNode.value) : String(this.js(keyNode));
      return { key, keyNode, value: (pair.value as Node | null) ?? null, pair };
    });
  }

  text(node: Node | null, what: string, fallback: SourceLocation): string {
    if (!isScalar(node) || node.value === null || typeof node.value === 'object') {
      throw this.fail(node, `${what} must be text`, fallback);
    }
    return String(node.value);
  }

  bool(node: Node | null, what: string, fallback: SourceLocation): boolean {
    if (!isScalar(node) || typeof node.value !== 'boolean') {
      throw this.fail(node, `${what} must be true or false`, fallback);
    }
    return node.value;
  }
}

function suggest(key: string, known: string[]): string {
  const k = key.toLowerCase();
  const close = known.find((c) => c.startsWith(k.slice(0, 4)) || k.startsWith(c.slice(0, 4)));
  return close ? `; did you mean ${close}?` : `; use one of ${known.join(', ')}`;
}

/** Renders `{{ var(...) }}` and friends, as SQLMesh renders test files with Jinja first. */
function renderJinja(text: string, file: string, options: ReadTestFileOptions): string {
  if (!text.includes('{{') && !text.includes('{%')) return text;
  const env = new nunjucks.Environment(null, { autoescape: false });
  const variables = Object.fromEntries(
    Object.entries(options.variables).map(([k, v]) => [k.toLowerCase(), v]),
  );
  env.addGlobal('var', (name: unknown, fallback?: unknown) => {
    const value = variables[String(name).toLowerCase()];
    return value !== undefined ? value : (fallback ?? null);
  });
  env.addGlobal('env_var', (name: unknown, fallback?: unknown) => {
    return options.env[String(name)] ?? fallback ?? null;
  });
  try {
    return env.renderString(text, {});
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const pos = /\[Line (\d+), Column (\d+)\]/.exec(message);
    const reason = message
      .split('\n')
      .slice(1)
      .map((l) => l.trim())
      .join(' ')
      .replace(/^Error: /, '');
    throw new ProjectError(`Jinja template error: ${reason || message}; fix the template`, {
      file,
      line: pos ? Number(pos[1]) : 1,
      column: pos ? Number(pos[2]) : 1,
    });
  }
}

/** The parsed rows of a row list, each checked to be a mapping. */
function readRowList(r: Reader, node: Node, what: string): TestRow[] {
  if (!isSeq(node)) {
    throw r.fail(node, `${what} must be a list of rows (one "- column: value" mapping per row)`);
  }
  return node.items.map((item, i) => {
    const row = item as Node | null;
    if (!isMap(row)) {
      throw r.fail(
        row,
        `row ${i + 1} of ${what} must be a mapping of column names to values, like "- id: 1"`,
        r.at(node),
      );
    }
    const value = r.js(row) as TestRow;
    return value;
  });
}

function csvRows(
  r: Reader,
  text: string,
  settings: Record<string, CsvSettingValue>,
  at: SourceLocation,
  source: string,
): TestRow[] {
  const mapped: Record<string, CsvSettingValue> = {};
  for (const [key, value] of Object.entries(settings)) {
    if (key === 'sep') mapped['delimiter'] = value;
    else if (key === 'skip_blank_lines') continue;
    else mapped[key] = value;
  }
  const body = text
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '')
    .join('\n');
  try {
    const data = readSeed(body, { path: source, csvSettings: mapped, settingsLocation: at });
    return data.rows.map((values) =>
      Object.fromEntries(data.columns.map((c, i) => [c.name, values[i] ?? null])),
    );
  } catch (err) {
    if (err instanceof ProjectError) {
      throw new ProjectError(`CSV data: ${err.reason}`, at);
    }
    throw err;
  }
}

/** Reads an input or output: a bare list of rows, or a mapping with rows/query/... */
function readRowSource(
  r: Reader,
  node: Node | null,
  what: string,
  kind: 'input' | 'output',
  fallback: SourceLocation,
): RowSource & { columns: Array<{ name: string; type: string }>; partial?: boolean } {
  const location = r.at(node, fallback);
  if (node === null || (isScalar(node) && node.value === null)) {
    throw r.fail(node, `${what} is empty; give its rows (a list of mappings) or a query`, fallback);
  }
  if (isSeq(node)) return { rows: readRowList(r, node, what), columns: [], location };
  if (!isMap(node)) {
    throw r.fail(
      node,
      `${what} must be a list of rows or a mapping with rows: or query:`,
      fallback,
    );
  }
  let rowsNode: Node | null = null;
  let query: string | undefined;
  let format = 'yaml';
  let path: string | undefined;
  let partial: boolean | undefined;
  let settings: Record<string, CsvSettingValue> = {};
  const columns: Array<{ name: string; type: string }> = [];
  let hasRows = false;
  for (const { key, keyNode, value } of r.entries(node)) {
    switch (key) {
      case 'rows':
        rowsNode = value;
        hasRows = true;
        break;
      case 'query':
        query = r.text(value, `${what}.query`, r.at(keyNode));
        break;
      case 'format':
        format = r.text(value, `${what}.format`, r.at(keyNode)).toLowerCase();
        if (format !== 'yaml' && format !== 'csv') {
          throw r.fail(value, `${what}.format must be yaml or csv, not ${format}`);
        }
        break;
      case 'path':
        path = r.text(value, `${what}.path`, r.at(keyNode));
        break;
      case 'partial':
        if (kind === 'input') throw r.fail(keyNode, `partial applies to outputs, not ${what}`);
        partial = r.bool(value, `${what}.partial`, r.at(keyNode));
        break;
      case 'csv_settings': {
        if (!isMap(value)) throw r.fail(value ?? keyNode, `${what}.csv_settings must be a mapping`);
        settings = r.js(value) as Record<string, CsvSettingValue>;
        break;
      }
      case 'columns': {
        if (kind === 'output') throw r.fail(keyNode, `columns applies to inputs, not ${what}`);
        if (!isMap(value)) {
          throw r.fail(
            value ?? keyNode,
            `${what}.columns must be a mapping of column names to types, like "id: INT"`,
          );
        }
        for (const col of r.entries(value)) {
          columns.push({
            name: col.key,
            type: r.text(col.value, `the type of column ${col.key}`, r.at(col.keyNode)),
          });
        }
        break;
      }
      default:
        throw r.fail(keyNode, `unknown key ${key} in ${what}${suggest(key, DATA_KEYS)}`);
    }
  }
  if (query !== undefined && (hasRows || path !== undefined)) {
    throw r.fail(node, `${what} sets both query and rows; keep one`);
  }
  if (query !== undefined)
    return { query, columns, location, ...(partial !== undefined ? { partial } : {}) };
  let rows: TestRow[];
  if (path !== undefined) {
    const full = join(r.options.root, path);
    if (!existsSync(full)) {
      throw r.fail(
        node,
        `${what}.path ${path} does not exist; give a path relative to the project folder`,
      );
    }
    const text = readFileSync(full, 'utf8');
    if (format === 'csv') {
      rows = csvRows(r, text, settings, location, path);
    } else {
      const doc = parseDocument(text, { customTags: [TIMESTAMP_TAG] });
      if (doc.errors[0]) {
        throw r.fail(
          node,
          `${what}.path ${path} is not valid YAML: ${doc.errors[0].message.split('\n')[0]}`,
        );
      }
      const loaded: unknown = doc.toJS();
      const list =
        loaded && typeof loaded === 'object' && !Array.isArray(loaded)
          ? (loaded as Record<string, unknown>)['rows']
          : loaded;
      if (
        !Array.isArray(list) ||
        list.some((x) => !x || typeof x !== 'object' || Array.isArray(x))
      ) {
        throw r.fail(
          node,
          `${what}.path ${path} must hold a list of rows (mappings), or rows: with one`,
        );
      }
      rows = list as TestRow[];
    }
  } else if (!hasRows) {
    throw r.fail(node, `${what} has no rows; add rows: (a list of mappings) or query:`);
  } else if (format === 'csv') {
    if (!isScalar(rowsNode) || typeof rowsNode.value !== 'string') {
      throw r.fail(
        rowsNode ?? node,
        `${what}.rows must be CSV text when format is csv (use rows: |)`,
      );
    }
    rows = csvRows(r, rowsNode.value, settings, r.at(rowsNode), r.file);
  } else if (rowsNode === null || (isScalar(rowsNode) && rowsNode.value === null)) {
    rows = [];
  } else {
    rows = readRowList(r, rowsNode, `${what}.rows`);
  }
  return { rows, columns, location, ...(partial !== undefined ? { partial } : {}) };
}

function readTest(r: Reader, name: string, keyNode: Node, body: Node | null): UnitTestDefinition {
  const location = r.at(keyNode);
  if (!isMap(body)) {
    throw r.fail(
      body ?? keyNode,
      `test ${name} must be a mapping with model, inputs and outputs`,
      location,
    );
  }
  const test: Partial<UnitTestDefinition> & { inputs: TestInput[]; vars: Record<string, unknown> } =
    { name, file: r.file, location, inputs: [], vars: {} };
  let outputsNode: Node | null = null;
  let outputsKey: Node | undefined;
  for (const { key, keyNode: k, value } of r.entries(body)) {
    switch (key) {
      case 'model':
        test.model = r.text(value, `model of test ${name}`, r.at(k));
        test.modelLocation = r.at(value, r.at(k));
        break;
      case 'description':
        test.description = r.text(value, `description of test ${name}`, r.at(k));
        break;
      case 'gateway':
        test.gateway = r.text(value, `gateway of test ${name}`, r.at(k));
        test.gatewayLocation = r.at(value, r.at(k));
        break;
      case 'schema':
        test.schema = r.text(value, `schema of test ${name}`, r.at(k));
        break;
      case 'vars': {
        if (value === null || (isScalar(value) && value.value === null)) break;
        if (!isMap(value))
          throw r.fail(value, `vars of test ${name} must be a mapping of names to values`);
        for (const entry of r.entries(value))
          test.vars[entry.key.toLowerCase()] = r.js(entry.value);
        break;
      }
      case 'inputs': {
        if (value === null || (isScalar(value) && value.value === null)) break;
        if (!isMap(value)) {
          throw r.fail(value, `inputs of test ${name} must be a mapping of table names to rows`);
        }
        for (const entry of r.entries(value)) {
          const what = `input ${entry.key}`;
          const source = readRowSource(r, entry.value, what, 'input', r.at(entry.keyNode));
          test.inputs.push({
            name: entry.key,
            columns: source.columns,
            location: r.at(entry.keyNode),
            ...(source.rows !== undefined ? { rows: source.rows } : {}),
            ...(source.query !== undefined ? { query: source.query } : {}),
          });
        }
        break;
      }
      case 'outputs':
        outputsNode = value;
        outputsKey = k;
        break;
      default:
        throw r.fail(k, `unknown key ${key} in test ${name}${suggest(key, TEST_KEYS)}`);
    }
  }
  if (test.model === undefined) {
    throw r.fail(keyNode, `test ${name} has no model; add model: <the model to test>`);
  }
  if (outputsNode === null || !isMap(outputsNode)) {
    throw r.fail(
      outputsNode ?? outputsKey ?? keyNode,
      `test ${name} needs outputs: with query: and/or ctes: (the expected rows)`,
    );
  }
  let partialAll = false;
  let queryNode: Node | null | undefined;
  let queryKey: Node | undefined;
  let ctesNode: Node | null | undefined;
  for (const { key, keyNode: k, value } of r.entries(outputsNode)) {
    if (key === 'partial') partialAll = r.bool(value, 'outputs.partial', r.at(k));
    else if (key === 'query') {
      queryNode = value;
      queryKey = k;
    } else if (key === 'ctes') ctesNode = value ?? null;
    else
      throw r.fail(k, `unknown key ${key} in outputs of test ${name}; use query, ctes or partial`);
  }
  if (queryNode === undefined && ctesNode === undefined) {
    throw r.fail(outputsNode, `outputs of test ${name} must have query: or ctes:`);
  }
  const outputs: UnitTestDefinition['outputs'] = { ctes: [] };
  const toOutput = (node: Node | null, what: string, at: SourceLocation): TestOutput => {
    if (isSeq(node) && node.items.length === 0)
      return { rows: [], partial: partialAll, location: at };
    const source = readRowSource(r, node, what, 'output', at);
    return {
      partial: source.partial ?? partialAll,
      location: source.location,
      ...(source.rows !== undefined ? { rows: source.rows } : {}),
      ...(source.query !== undefined ? { query: source.query } : {}),
    };
  };
  if (queryNode !== undefined) {
    outputs.query = toOutput(queryNode, 'outputs.query', r.at(queryKey));
  }
  if (ctesNode !== undefined) {
    if (!isMap(ctesNode)) {
      throw r.fail(
        ctesNode,
        `outputs.ctes of test ${name} must be a mapping of CTE names to rows`,
        r.at(outputsNode),
      );
    }
    for (const entry of r.entries(ctesNode)) {
      outputs.ctes.push({
        name: entry.key,
        ...toOutput(entry.value, `outputs.ctes.${entry.key}`, r.at(entry.keyNode)),
      });
    }
  }
  return { ...(test as UnitTestDefinition), outputs };
}

/**
 * Reads the tests of one file. `file` is the path relative to the project
 * root, used in error locations. An empty file holds no tests.
 */
export function parseTestFile(
  text: string,
  file: string,
  options: ReadTestFileOptions,
): UnitTestDefinition[] {
  const rendered = renderJinja(text, file, options);
  const lines = new LineCounter();
  const doc = parseDocument(rendered, { lineCounter: lines, customTags: [TIMESTAMP_TAG] });
  const first = doc.errors[0];
  if (first) {
    const pos = first.linePos?.[0] ?? { line: 1, col: 1 };
    throw new ProjectError(`${first.message.split('\n')[0]}; fix the YAML syntax`, {
      file,
      line: pos.line,
      column: pos.col,
    });
  }
  const r = new Reader(file, lines, doc, options);
  const root = doc.contents as Node | null;
  if (root === null || (isScalar(root) && root.value === null)) return [];
  if (!isMap(root)) {
    throw r.fail(root, 'a test file must be a mapping of test names to tests');
  }
  return r.entries(root).map(({ key, keyNode, value }) => readTest(r, key, keyNode, value));
}

/** Reads a test file from the project folder. */
export function readTestFile(file: string, options: ReadTestFileOptions): UnitTestDefinition[] {
  return parseTestFile(readFileSync(join(options.root, file), 'utf8'), file, options);
}
