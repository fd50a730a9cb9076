/**
 * Reading test files: the shapes inputs and outputs may take, and a corpus of
 * malformed files, each a one-line ProjectError at file:line:column saying
 * what to fix, raised before any test runs.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ProjectError } from '../../../src/engine/errors.js';
import type { Project } from '../../../src/engine/project/project-loader.js';
import { parseTestFile } from '../../../src/engine/unittest/test-definition.js';
import { runUnitTests } from '../../../src/engine/unittest/test-runner.js';
import { TemporalLiteral } from '../../../src/engine/unittest/test-values.js';
import { load, shopCopy } from './helpers.js';

const OPTIONS = { root: '.', variables: { gold: 'gold_db' }, env: { WHO: 'me' } };

describe('parseTestFile', () => {
  test('several tests per file, inputs as a bare list or under rows:, with columns and query', () => {
    const tests = parseTestFile(
      `
test_one:
  model: a.b
  description: first
  inputs:
    x.y:
      - id: 1
    x.z:
      columns:
        id: INT
        at: DATE
      rows:
        - id: 2
          at: 2020-01-01
    x.q:
      query: SELECT 1 AS id
  outputs:
    query:
      - id: 1
test_two:
  model: a.c
  gateway: other
  vars:
    start: 2020-01-01
    Execution_Time: "2020-01-02 03:04:05"
    n: 3
  outputs:
    partial: true
    ctes:
      c1:
        rows:
          - id: 1
      c2:
        partial: false
        query: SELECT 1 AS id
`,
      'tests/test_x.yaml',
      OPTIONS,
    );
    assert.deepEqual(
      tests.map((t) => [t.name, t.model, t.file, t.location.line]),
      [
        ['test_one', 'a.b', 'tests/test_x.yaml', 2],
        ['test_two', 'a.c', 'tests/test_x.yaml', 20],
      ],
    );
    const [one, two] = tests;
    assert.equal(one?.description, 'first');
    assert.deepEqual(
      one?.inputs.map((i) => [i.name, i.rows?.length, i.query, i.columns]),
      [
        ['x.y', 1, undefined, []],
        [
          'x.z',
          1,
          undefined,
          [
            { name: 'id', type: 'INT' },
            { name: 'at', type: 'DATE' },
          ],
        ],
        ['x.q', undefined, 'SELECT 1 AS id', []],
      ],
    );
    const at = one?.inputs[1]?.rows?.[0]?.['at'];
    assert.ok(at instanceof TemporalLiteral);
    assert.equal(at.kind, 'date');
    assert.equal(two?.gateway, 'other');
    assert.equal(two?.outputs.query, undefined);
    assert.deepEqual(
      two?.outputs.ctes.map((c) => [c.name, c.partial, c.rows?.length, c.query]),
      [
        ['c1', true, 1, undefined],
        ['c2', false, undefined, 'SELECT 1 AS id'],
      ],
    );
    assert.deepEqual(Object.keys(two?.vars ?? {}), ['start', 'execution_time', 'n']);
    assert.equal(two?.vars['execution_time'], '2020-01-02 03:04:05');
    const start = two?.vars['start'];
    assert.ok(start instanceof TemporalLiteral && start.text === '2020-01-01');
  });

  test('unquoted dates and timestamps are temporal, quoted ones are text', () => {
    const [t] = parseTestFile(
      `
test_t:
  model: m
  outputs:
    query:
      - a: 2020-01-01
        b: 2020-01-01 10:11:12
        c: "2020-01-01"
        d: 2020-01-01T10:11:12Z
        e: 1.5
        f: null
`,
      'tests/test_t.yaml',
      OPTIONS,
    );
    const row = t?.outputs.query?.rows?.[0] ?? {};
    assert.ok(row['a'] instanceof TemporalLiteral && row['a'].kind === 'date');
    assert.ok(row['b'] instanceof TemporalLiteral && row['b'].kind === 'timestamp');
    assert.equal(row['c'], '2020-01-01');
    assert.ok(row['d'] instanceof TemporalLiteral && row['d'].kind === 'timestamp');
    assert.equal(row['e'], 1.5);
    assert.equal(row['f'], null);
  });

  test('CSV rows are read with types per column and empty fields as NULL', () => {
    const [t] = parseTestFile(
      `
test_csv:
  model: m
  inputs:
    x:
      format: csv
      csv_settings:
        sep: ";"
      rows: |
        id;name;score

        1;Ada;1.5
        2;;2
  outputs:
    query: []
`,
      'tests/test_csv.yaml',
      OPTIONS,
    );
    assert.deepEqual(t?.inputs[0]?.rows, [
      { id: 1, name: 'Ada', score: 1.5 },
      { id: 2, name: null, score: 2 },
    ]);
    assert.deepEqual(t?.outputs.query?.rows, []);
  });

  test('Jinja in a test file sees project variables and environment variables', () => {
    const [t] = parseTestFile(
      `
test_jinja:
  model: "{{ var('gold') }}.some_table"
  description: "by {{ env_var('WHO') }}"
  outputs:
    query: []
`,
      'tests/test_j.yaml',
      OPTIONS,
    );
    assert.equal(t?.model, 'gold_db.some_table');
    assert.equal(t?.description, 'by me');
  });

  test('an empty file holds no tests', () => {
    assert.deepEqual(parseTestFile('# nothing yet\n', 'tests/test_e.yaml', OPTIONS), []);
  });
});

/** [what is wrong, file text, expected line:column, expected reason] */
const CORPUS: Array<[string, string, RegExp, RegExp]> = [
  [
    'YAML syntax error',
    'test_a:\n  model: shop.ranked\n  outputs: [unclosed\n',
    /^tests\/test_bad\.yaml:4:1: /,
    /fix the YAML syntax$/,
  ],
  [
    'a test file that is a list',
    '- model: shop.ranked\n',
    /^tests\/test_bad\.yaml:1:1: /,
    /a test file must be a mapping of test names to tests/,
  ],
  [
    'a test that is not a mapping',
    'test_a: 5\n',
    /^tests\/test_bad\.yaml:1:9: /,
    /test test_a must be a mapping with model, inputs and outputs/,
  ],
  [
    'missing model',
    'test_a:\n  outputs:\n    query: []\n',
    /^tests\/test_bad\.yaml:1:1: /,
    /test test_a has no model; add model: <the model to test>/,
  ],
  [
    'unknown model',
    'test_a:\n  model: shop.rankd\n  outputs:\n    query: []\n',
    /^tests\/test_bad\.yaml:2:10: /,
    /test test_a: unknown model shop\.rankd; fix model: \(did you mean shop\.ranked\?\)$/,
  ],
  [
    'a model with no query',
    'test_a:\n  model: shop.customers\n  outputs:\n    query: []\n',
    /^tests\/test_bad\.yaml:2:10: /,
    /shop\.customers is a SEED model with no query to test/,
  ],
  [
    'a misspelt key',
    'test_a:\n  model: shop.ranked\n  input: {}\n  outputs:\n    query: []\n',
    /^tests\/test_bad\.yaml:3:3: /,
    /unknown key input in test test_a; did you mean inputs\?/,
  ],
  [
    'inputs that are a list',
    'test_a:\n  model: shop.ranked\n  inputs:\n    - id: 1\n  outputs:\n    query: []\n',
    /^tests\/test_bad\.yaml:4:5: /,
    /inputs of test test_a must be a mapping of table names to rows/,
  ],
  [
    'an input that is not a list',
    'test_a:\n  model: shop.ranked\n  inputs:\n    shop.orders_enriched: 5\n  outputs:\n    query: []\n',
    /^tests\/test_bad\.yaml:4:27: /,
    /input shop\.orders_enriched must be a list of rows or a mapping with rows: or query:/,
  ],
  [
    'rows that are not a list',
    'test_a:\n  model: shop.ranked\n  inputs:\n    shop.orders_enriched:\n      rows:\n        id: 1\n  outputs:\n    query: []\n',
    /^tests\/test_bad\.yaml:6:9: /,
    /input shop\.orders_enriched\.rows must be a list of rows/,
  ],
  [
    'a row that is not a mapping',
    'test_a:\n  model: shop.ranked\n  inputs:\n    shop.orders_enriched:\n      - name: Ada\n      - 5\n  outputs:\n    query: []\n',
    /^tests\/test_bad\.yaml:6:9: /,
    /row 2 of input shop\.orders_enriched must be a mapping of column names to values/,
  ],
  [
    'an expected row that is not a mapping',
    'test_a:\n  model: shop.ranked\n  outputs:\n    query:\n      - [1, 2]\n',
    /^tests\/test_bad\.yaml:5:9: /,
    /row 1 of outputs\.query must be a mapping/,
  ],
  [
    'missing outputs',
    'test_a:\n  model: shop.ranked\n',
    /^tests\/test_bad\.yaml:1:1: /,
    /test test_a needs outputs: with query: and\/or ctes:/,
  ],
  [
    'outputs without query or ctes',
    'test_a:\n  model: shop.ranked\n  outputs:\n    partial: true\n',
    /^tests\/test_bad\.yaml:4:5: /,
    /outputs of test test_a must have query: or ctes:/,
  ],
  [
    'query and rows together',
    'test_a:\n  model: shop.ranked\n  inputs:\n    x:\n      query: SELECT 1\n      rows: []\n  outputs:\n    query: []\n',
    /^tests\/test_bad\.yaml:5:7: /,
    /input x sets both query and rows; keep one/,
  ],
  [
    'an unknown format',
    'test_a:\n  model: shop.ranked\n  inputs:\n    x:\n      format: parquet\n      rows: []\n  outputs:\n    query: []\n',
    /^tests\/test_bad\.yaml:5:15: /,
    /input x\.format must be yaml or csv, not parquet/,
  ],
  [
    'columns that are a list',
    'test_a:\n  model: shop.ranked\n  inputs:\n    x:\n      columns: [id]\n      rows: []\n  outputs:\n    query: []\n',
    /^tests\/test_bad\.yaml:5:16: /,
    /input x\.columns must be a mapping of column names to types/,
  ],
  [
    'partial that is not a boolean',
    'test_a:\n  model: shop.ranked\n  outputs:\n    query:\n      partial: maybe\n      rows: []\n',
    /^tests\/test_bad\.yaml:5:16: /,
    /outputs\.query\.partial must be true or false/,
  ],
  [
    'vars that are a list',
    'test_a:\n  model: shop.ranked\n  vars: [1]\n  outputs:\n    query: []\n',
    /^tests\/test_bad\.yaml:3:9: /,
    /vars of test test_a must be a mapping of names to values/,
  ],
  [
    'an unknown gateway',
    'test_a:\n  model: shop.ranked\n  gateway: nowhere\n  outputs:\n    query: []\n',
    /^tests\/test_bad\.yaml:3:12: /,
    /unknown gateway nowhere; use one of local, second/,
  ],
  [
    'CSV with too many fields',
    'test_a:\n  model: shop.ranked\n  inputs:\n    x:\n      format: csv\n      rows: |\n        a,b\n        1,2,3\n  outputs:\n    query: []\n',
    /^tests\/test_bad\.yaml:6:13: /,
    /CSV data: row has 3 fields but the header has 2/,
  ],
];

describe('malformed test files', () => {
  let dir = '';
  let project: Project;
  before(async () => {
    dir = shopCopy({ 'tests/test_bad.yaml': '' }, false);
    project = await load(dir);
  });

  for (const [what, text, where, reason] of CORPUS) {
    test(`${what} is a one-line error at its position`, async () => {
      writeFileSync(join(dir, 'tests', 'test_bad.yaml'), text);
      await assert.rejects(runUnitTests(project, {}), (err: unknown) => {
        assert.ok(err instanceof ProjectError, `expected a ProjectError, got ${String(err)}`);
        assert.equal(err.message.split('\n').length, 1, err.message);
        assert.match(err.message, where);
        assert.match(err.message, reason);
        return true;
      });
    });
  }

  test('a bad file stops the run even when the selected tests are elsewhere', async () => {
    writeFileSync(join(dir, 'tests', 'test_bad.yaml'), 'test_a: [\n');
    await assert.rejects(runUnitTests(project, { names: ['test_other'] }), ProjectError);
  });
});
