/**
 * Shared set-up for the audit tests: warehouses (DuckDB in memory, a fresh
 * PostgreSQL database), models parsed from MODEL text, snapshots around them,
 * and the built-in audit cases every engine runs.
 */
import { createAdapter } from '../../../src/engine/adapters/adapter-factory.js';
import type { EngineAdapter } from '../../../src/engine/adapters/engine-adapter.js';
import { runModelAudits, type AuditResult } from '../../../src/engine/audit/audit-runner.js';
import type { AuditDefinition, ModelDefinition } from '../../../src/engine/model-types.js';
import { parseAuditFile } from '../../../src/engine/parse/audit-parser.js';
import { parseModelFile } from '../../../src/engine/parse/model-parser.js';
import { fullyQualifiedName } from '../../../src/engine/sql/names.js';
import type { Snapshot } from '../../../src/engine/snapshot/snapshot-types.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js';

export const DAY = 86_400_000;

/** Epoch ms of a UTC date `YYYY-MM-DD`. */
export function day(text: string): number {
  return Date.parse(`${text}T00:00:00Z`);
}

export function duckdb(): EngineAdapter {
  return createAdapter(
    { type: 'duckdb', catalogs: {}, extensions: [], connectorConfig: {}, concurrentTasks: 1 },
    { projectRoot: '.' },
  );
}

/** A PostgreSQL adapter on a new database; `close` closes it and drops the database. */
export async function postgres(): Promise<{ adapter: EngineAdapter; close(): Promise<void> }> {
  const db: TestDatabase = await createTestDatabase();
  const adapter = createAdapter(db.config, { projectRoot: '.' });
  return {
    adapter,
    async close() {
      await adapter.close();
      await db.drop();
    },
  };
}

/** A model parsed from a MODEL file (`dialect` is the project's default dialect). */
export function model(source: string, dialect = 'duckdb'): ModelDefinition {
  return parseModelFile(source, 'models/m.sql', { dialect, extra: {} });
}

/** Project audits parsed from an audits/*.sql file, by lower-case name. */
export function projectAudits(source: string, dialect = 'duckdb'): Record<string, AuditDefinition> {
  const out: Record<string, AuditDefinition> = {};
  for (const a of parseAuditFile(source, 'audits/a.sql', dialect)) out[a.name] = a;
  return out;
}

/** A snapshot of a model, as the evaluator would hand it over. */
export function snapshotOf(
  def: ModelDefinition,
  options: { audits?: Record<string, AuditDefinition>; variables?: Record<string, unknown> } = {},
): Snapshot {
  const name = fullyQualifiedName(def.name, def.dialect, 'memory');
  return {
    name,
    identifier: '1',
    fingerprint: { dataHash: '1', metadataHash: '1', parentDataHash: '1', parentMetadataHash: '1' },
    version: '1',
    parents: [],
    node: {
      definition: def,
      dependencies: [],
      variables: options.variables ?? {},
      defaultCatalog: 'memory',
      ...(options.audits ? { audits: options.audits } : {}),
    },
    ttl: 'in 1 week',
    createdTs: 0,
    updatedTs: 0,
  };
}

let tableCount = 0;

/** Creates a table in schema `audits` from a SELECT and returns its name as SQL. */
export async function tableFrom(adapter: EngineAdapter, select: string): Promise<string> {
  await adapter.createSchema('audits');
  tableCount += 1;
  const table = adapter.tableName({ schema: 'audits', name: `t_${tableCount}` });
  await adapter.execute(`CREATE TABLE ${table} AS ${select}`);
  return table;
}

/** Runs the audits a model (given by its `audits (...)` text) calls against `table`. */
export async function audit(
  adapter: EngineAdapter,
  table: string,
  audits: string,
  options: {
    kind?: string;
    dialect?: string;
    interval?: [number, number];
    projectAudits?: Record<string, AuditDefinition>;
    tableFor?: (fqn: string) => string | undefined;
    variables?: Record<string, unknown>;
    extra?: string;
  } = {},
): Promise<AuditResult[]> {
  const def = model(
    `MODEL (name s.m, kind ${options.kind ?? 'FULL'}, audits (${audits}));\n` +
      `SELECT 1 AS id;\n${options.extra ?? ''}`,
    options.dialect,
  );
  return runModelAudits({
    adapter,
    snapshot: snapshotOf(def, {
      ...(options.projectAudits ? { audits: options.projectAudits } : {}),
      ...(options.variables ? { variables: options.variables } : {}),
    }),
    table,
    interval: options.interval ?? [day('2024-01-01'), day('2024-01-02')],
    executionTime: day('2024-01-02'),
    ...(options.tableFor ? { tableFor: options.tableFor } : {}),
  });
}

/** One built-in audit call, with rows it accepts and rows it rejects. */
export interface BuiltinCase {
  call: string;
  /** A SELECT whose rows pass the audit. */
  passing: string;
  /** A SELECT whose rows fail it, and how many rows the audit returns for them. */
  failing: string;
  failingRows: number;
}

const values = (columns: string, rows: string) => `SELECT * FROM (VALUES ${rows}) AS v(${columns})`;

const repeat = (row: string, n: number) => Array.from({ length: n }, () => row).join(', ');

/** Every built-in audit (and the main argument variants), with a passing and a failing table. */
export const BUILTIN_CASES: BuiltinCase[] = [
  {
    call: 'not_null(columns := [id, name])',
    passing: values('id, name', "(1, 'a'), (2, 'b')"),
    failing: values('id, name', "(1, NULL), (NULL, 'b'), (3, 'c')"),
    failingRows: 2,
  },
  {
    call: 'not_null(columns := (name), condition := id > 1)',
    passing: values('id, name', "(1, NULL), (2, 'b')"),
    failing: values('id, name', '(1, NULL), (2, NULL), (3, NULL)'),
    failingRows: 2,
  },
  {
    call: 'unique_values(columns := (id, name))',
    passing: values('id, name', "(1, 'a'), (2, 'b')"),
    failing: values('id, name', "(1, 'a'), (1, 'b'), (2, 'c'), (3, 'c')"),
    failingRows: 2,
  },
  {
    call: 'unique_values(columns := [id], condition := id <> 1)',
    passing: values('id', '(1), (1), (2)'),
    failing: values('id', '(1), (2), (2), (2)'),
    failingRows: 2,
  },
  {
    call: 'unique_combination_of_columns(columns := (id, ds))',
    passing: values('id, ds', "(1, 'x'), (1, 'y'), (2, 'x')"),
    failing: values('id, ds', "(1, 'x'), (1, 'x'), (2, 'y'), (2, 'y'), (3, 'y')"),
    failingRows: 2,
  },
  {
    call: "accepted_values(column := name, is_in := ('Hamachi', 'Unagi'))",
    passing: values('name', "('Hamachi'), ('Unagi'), (NULL)"),
    failing: values('name', "('Hamachi'), ('Burger'), ('Fries')"),
    failingRows: 2,
  },
  {
    call: "accepted_values(column := name, is_in := ['Hamachi'], condition := id < 3)",
    passing: values('id, name', "(1, 'Hamachi'), (3, 'Burger')"),
    failing: values('id, name', "(1, 'Burger'), (3, 'Burger')"),
    failingRows: 1,
  },
  {
    call: "not_accepted_values(column := name, is_in := ['Burger', 'Fries'])",
    passing: values('name', "('Hamachi'), (NULL)"),
    failing: values('name', "('Burger'), ('Fries'), ('Unagi')"),
    failingRows: 2,
  },
  {
    call: 'number_of_rows(threshold := 2)',
    passing: values('id', '(1), (2), (3)'),
    failing: values('id', '(1), (2)'),
    failingRows: 1,
  },
  {
    call: 'number_of_rows(threshold := 1, condition := id > 1)',
    passing: values('id', '(1), (2), (3)'),
    failing: values('id', '(1), (2), (0)'),
    failingRows: 1,
  },
  {
    call: 'forall(criteria := (price > 0, LENGTH(name) > 0))',
    passing: values('price, name', "(1, 'a'), (2, 'b')"),
    failing: values('price, name', "(0, 'a'), (2, ''), (3, 'c')"),
    failingRows: 2,
  },
  {
    call: 'accepted_range(column := price, min_v := 1, max_v := 100)',
    passing: values('price', '(1), (50), (100)'),
    failing: values('price', '(0), (101), (50)'),
    failingRows: 2,
  },
  {
    call: 'accepted_range(column := price, min_v := 0, max_v := 100, inclusive := false)',
    passing: values('price', '(1), (99)'),
    failing: values('price', '(0), (100), (50)'),
    failingRows: 2,
  },
  {
    call: 'accepted_range(column := price, min_v := 10)',
    passing: values('price', '(10), (100000)'),
    failing: values('price', '(9), (10)'),
    failingRows: 1,
  },
  {
    call: 'at_least_one(column := zip)',
    passing: values('id, zip', "(1, NULL), (2, '10001')"),
    failing: values('id, zip', '(1, NULL), (2, NULL)'),
    failingRows: 1,
  },
  {
    call: 'not_null_proportion(column := zip, threshold := 0.5)',
    passing: values('zip', "('a'), ('b'), (NULL)"),
    failing: values('zip', "('a'), (NULL), (NULL)"),
    failingRows: 1,
  },
  {
    call: 'not_constant(column := c)',
    passing: values('c', '(1), (2), (NULL)'),
    failing: values('c', '(1), (1), (NULL)'),
    failingRows: 1,
  },
  {
    call: 'not_empty_string(column := name)',
    passing: values('name', "('a'), (NULL)"),
    failing: values('name', "(''), ('a'), ('')"),
    failingRows: 2,
  },
  {
    call: 'sequential_values(column := item_id)',
    passing: values('item_id', '(3), (1), (2)'),
    failing: values('item_id', '(1), (2), (4), (5), (7)'),
    failingRows: 2,
  },
  {
    call: 'sequential_values(column := item_id, interval := 2)',
    passing: values('item_id', '(2), (4), (6)'),
    failing: values('item_id', '(2), (3), (4)'),
    failingRows: 2,
  },
  {
    call: 'mutually_exclusive_ranges(lower_bound_column := lo, upper_bound_column := hi)',
    passing: values('lo, hi', '(1, 2), (2, 5), (6, 9)'),
    failing: values('lo, hi', '(1, 5), (4, 8), (10, 9)'),
    failingRows: 2,
  },
  {
    call: 'mutually_exclusive_ranges(lower_bound_column := lo, upper_bound_column := hi, partition_clause := grp)',
    passing: values('grp, lo, hi', "('a', 1, 5), ('b', 4, 8)"),
    failing: values('grp, lo, hi', "('a', 1, 5), ('a', 4, 8), ('b', 1, 2)"),
    failingRows: 1,
  },
  {
    call: 'valid_uuid(column := u)',
    passing: values(
      'u',
      "('123e4567-e89b-12d3-a456-426614174000'), ('123E4567-E89B-42D3-A456-426614174000'), (NULL)",
    ),
    failing: values(
      'u',
      "('not-a-uuid'), ('123e4567-e89b-62d3-a456-426614174000'), ('123e4567-e89b-12d3-a456-426614174000')",
    ),
    failingRows: 2,
  },
  {
    call: 'valid_email(column := email)',
    passing: values('email', "('a.b+c@example.com'), ('x_y@mail.co.uk'), (NULL)"),
    failing: values('email', "('a@b'), ('no-at.example.com'), ('ok@example.com')"),
    failingRows: 2,
  },
  {
    call: 'valid_url(column := url)',
    passing: values('url', "('https://example.com/x?y=1'), ('ftp://files.org'), (NULL)"),
    failing: values('url', "('example.com'), ('http://'), ('http://ok.org')"),
    failingRows: 2,
  },
  {
    call: 'valid_http_method(column := method)',
    passing: values('method', "('GET'), ('POST'), ('OPTIONS'), (NULL)"),
    failing: values('method', "('get'), ('FETCH'), ('PUT')"),
    failingRows: 2,
  },
  {
    call: "match_regex_pattern_list(column := todo, patterns := ('^\\d.*', '.*!$'))",
    passing: values('todo', "('1 thing'), ('urgent!'), (NULL)"),
    failing: values('todo', "('nothing'), ('1 ok'), ('later')"),
    failingRows: 2,
  },
  {
    call: "not_match_regex_pattern_list(column := todo, patterns := ('^!.*', '.*\\d$'))",
    passing: values('todo', "('ok'), (NULL)"),
    failing: values('todo', "('!x'), ('x1'), ('fine')"),
    failingRows: 2,
  },
  {
    call: "match_like_pattern_list(column := name, patterns := ('jim%', 'pam%'))",
    passing: values('name', "('jim halpert'), ('pam beesly')"),
    failing: values('name', "('dwight'), ('jim'), ('angela')"),
    failingRows: 2,
  },
  {
    call: "not_match_like_pattern_list(column := name, patterns := ['%doe', '%smith'])",
    passing: values('name', "('jane'), (NULL)"),
    failing: values('name', "('john doe'), ('x smith'), ('y')"),
    failingRows: 2,
  },
  {
    call: 'string_length_between(column := name, min_v := 2, max_v := 4)',
    passing: values('name', "('ab'), ('abcd')"),
    failing: values('name', "('a'), ('abcde'), ('abc')"),
    failingRows: 2,
  },
  {
    call: 'string_length_between(column := name, min_v := 1, max_v := 4, inclusive := false)',
    passing: values('name', "('ab'), ('abc')"),
    failing: values('name', "('a'), ('abcd'), ('ab')"),
    failingRows: 2,
  },
  {
    call: 'string_length_equal(column := zip, v := 5)',
    passing: values('zip', "('12345'), ('54321')"),
    failing: values('zip', "('1234'), ('12345'), ('123456')"),
    failingRows: 2,
  },
  {
    call: 'mean_in_range(column := age, min_v := 20, max_v := 30)',
    passing: values('age', '(20), (30)'),
    failing: values('age', '(40), (50)'),
    failingRows: 1,
  },
  {
    call: 'mean_in_range(column := age, min_v := 20, max_v := 30, inclusive := false)',
    passing: values('age', '(21), (29)'),
    failing: values('age', '(20), (40)'),
    failingRows: 1,
  },
  {
    call: 'stddev_in_range(column := age, min_v := 1, max_v := 5)',
    passing: values('age', '(10), (12), (14)'),
    failing: values('age', '(1), (100)'),
    failingRows: 1,
  },
  {
    call: 'z_score(column := age, threshold := 1.5)',
    passing: values('age', '(10), (11), (12)'),
    failing: values('age', `${repeat('(10)', 9)}, (100)`),
    failingRows: 1,
  },
  {
    call: 'kl_divergence(column := a, target_column := b, threshold := 0.1)',
    passing: values('a, b', '(1, 2), (2, 1), (3, 3)'),
    failing: values('a, b', '(1, 1), (1, 2), (1, 2), (2, 2)'),
    failingRows: 1,
  },
  {
    call: 'kl_divergence(source_column := a, target_column := b, threshold := 1.5)',
    passing: values('a, b', '(1, 1), (1, 2), (1, 2), (2, 2)'),
    failing: values('a, b', `${repeat('(1, 2)', 9)}, (2, 1)`),
    failingRows: 1,
  },
  {
    call: 'chi_square(column_a := a, column_b := b, critical_value := 3.841)',
    passing: values('a, b', `${repeat("('x', 'p')", 5)}, ${repeat("('y', 'q')", 5)}`),
    failing: values('a, b', "('x', 'p'), ('x', 'q'), ('y', 'p'), ('y', 'q')"),
    failingRows: 1,
  },
  {
    call: 'chi_square(column := a, target_column := b, critical_value := 3.841, dependent := false)',
    passing: values('a, b', "('x', 'p'), ('x', 'q'), ('y', 'p'), ('y', 'q'), (NULL, 'p')"),
    failing: values('a, b', `${repeat("('x', 'p')", 5)}, ${repeat("('y', 'q')", 5)}`),
    failingRows: 1,
  },
];

/** The built-in audits (without the `_non_blocking` twins) the cases call. */
export function casesCover(): Set<string> {
  return new Set(BUILTIN_CASES.map((c) => c.call.slice(0, c.call.indexOf('('))));
}
