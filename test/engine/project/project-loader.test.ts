import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { loadProject } from '../../../src/engine/project/project-loader.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const CONFIG = [
  'gateways:',
  '  local:',
  '    connection:',
  '      type: duckdb',
  '      database: wh.duckdb',
  'model_defaults:',
  '  dialect: duckdb',
  '',
].join('\n');

function project(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'tideline-loader-'));
  dirs.push(root);
  for (const [path, text] of Object.entries({ 'config.yaml': CONFIG, ...files })) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const model = (name: string, query: string, extra = '') =>
  `MODEL (name ${name}, kind FULL${extra});\n${query}\n`;

test('dependencies come from the query (CTEs and unknown tables excluded) plus depends_on', async () => {
  const root = project({
    'models/a.sql': model('s.a', 'SELECT 1 AS id'),
    'models/b.sql': model(
      's.b',
      'WITH a AS (SELECT * FROM s.a) SELECT * FROM a JOIN raw.x USING (id)',
    ),
    'models/c.sql': model('s.c', 'SELECT * FROM wh.s.b', ', depends_on [s.a]'),
    'external_models.yaml': '- name: raw.x\n  columns:\n    id: int\n',
  });
  const p = await loadProject(root, { env: {} });
  assert.equal(p.defaultCatalog, 'wh');
  assert.deepEqual(p.findModel('s.b').dependencies, ['"wh"."raw"."x"', '"wh"."s"."a"']);
  assert.deepEqual(p.findModel('s.c').dependencies, ['"wh"."s"."a"', '"wh"."s"."b"']);
  assert.equal(p.findModel('raw.x').definition.kind.name, 'EXTERNAL');
  assert.deepEqual(p.counts(), { models: 4, macros: 0, seeds: 0, tests: 0 });
  assert.deepEqual(
    p.dag.topologicalOrder().map((f) => p.models.get(f)!.name),
    ['raw.x', 's.a', 's.b', 's.c'],
  );
});

test('Python files are skipped with a warning; disabled models are left out', async () => {
  const root = project({
    'models/a.sql': model('s.a', 'SELECT 1 AS id'),
    'models/off.sql': model('s.off', 'SELECT 1 AS id', ', enabled false'),
    'models/py_model.py': 'def entrypoint(): pass\n',
    'macros/util.py': 'pass\n',
  });
  const p = await loadProject(root, { env: {} });
  assert.deepEqual(
    [...p.models.values()].map((m) => m.name),
    ['s.a'],
  );
  assert.equal(p.warnings.filter((w) => /Python (models|macros)/.test(w)).length, 2);
});

const broken: Array<[string, Record<string, string>, RegExp]> = [
  [
    'a model defined twice',
    { 'models/a.sql': model('s.a', 'SELECT 1'), 'models/b.sql': model('S.A', 'SELECT 2') },
    /^models\/b\.sql:1:1: model S\.A is defined twice \(also in models\/a\.sql\)/,
  ],
  [
    'a dependency cycle',
    {
      'models/a.sql': model('s.a', 'SELECT * FROM s.b'),
      'models/b.sql': model('s.b', 'SELECT * FROM s.a'),
    },
    /dependency cycle: .*"s"."a".*"s"."b"/,
  ],
  [
    'depends_on naming an unknown model',
    { 'models/a.sql': model('s.a', 'SELECT 1', ', depends_on (s.ghost)') },
    /^models\/a\.sql:1:1: depends_on names s\.ghost, which is not a model/,
  ],
  [
    'a seed whose file is missing',
    { 'models/s.sql': "MODEL (name s.seed, kind SEED (path '$root/seeds/none.csv'));\n" },
    /^models\/s\.sql:1:1: seed file \$root\/seeds\/none\.csv not found/,
  ],
  [
    'an external model without a name',
    { 'external_models.yaml': '- columns:\n    id: int\n' },
    /^external_models\.yaml:1:3: external model without a name/,
  ],
  [
    'an external model column without a type',
    { 'external_models.yaml': '- name: raw.x\n  columns:\n    id:\n' },
    /column id needs a type/,
  ],
  [
    'malformed external models YAML',
    { 'external_models.yaml': '- name: [raw.x\n' },
    /^external_models\.yaml:\d+:\d+: .*fix the YAML syntax/,
  ],
  [
    'a SQL syntax error in a query',
    { 'models/a.sql': model('s.a', 'SELECT 1 +* FROM') },
    /^models\/a\.sql:2:\d+: /,
  ],
  [
    'a malformed unit test file',
    { 'models/a.sql': model('s.a', 'SELECT 1'), 'tests/test_a.yaml': 'test_a: [\n' },
    /^tests\/test_a\.yaml:\d+:\d+: .*fix the YAML syntax/,
  ],
  [
    'an undefined macro variable',
    { 'models/a.sql': model('s.a', 'SELECT @missing_var AS x') },
    /^models\/a\.sql:2:8: /,
  ],
];

for (const [what, files, expected] of broken) {
  test(`bad project input: ${what}`, async () => {
    const root = project(files);
    await assert.rejects(loadProject(root, { env: {} }), (err: Error) => {
      assert.match(err.message, expected);
      assert.equal(err.message.includes('\n'), false, 'one line');
      return true;
    });
  });
}

test('findModel takes short, catalog-qualified and canonical names, and suggests close ones', async () => {
  const root = project({
    'models/a.sql': model('s.orders', 'SELECT 1 AS id'),
    'models/b.sql': model('s.orders_daily', 'SELECT * FROM s.orders'),
  });
  const p = await loadProject(root, { env: {} });
  const canonical = '"wh"."s"."orders"';
  assert.equal(p.findModel('s.orders').fqn, canonical);
  assert.equal(p.findModel('wh.s.orders').fqn, canonical);
  assert.equal(p.findModel(canonical).fqn, canonical);
  assert.equal(p.findModel('S.Orders').fqn, canonical);
  assert.throws(
    () => p.findModel('s.order'),
    (err: Error) => {
      assert.match(
        err.message,
        /^no model named s\.order; did you mean s\.orders, s\.orders_daily\?$/,
      );
      return true;
    },
  );
  assert.throws(() => p.findModel('s.zzz'), /no model named s\.zzz; run `tideline dag`/);
});

test('seed paths resolve from $root or from the model file, and may not leave the project', async () => {
  const csv = 'id,name\n1,a\n';
  const root = project({
    'seeds/one.csv': csv,
    'models/raw/one.sql': "MODEL (name raw.one, kind SEED (path '../../seeds/one.csv'));\n",
    'models/raw/two.sql': "MODEL (name raw.two, kind SEED (path '$root/seeds/one.csv'));\n",
    'models/raw/three.sql': "MODEL (name raw.three, kind SEED (path 'local.csv'));\n",
    'models/raw/local.csv': csv,
  });
  const p = await loadProject(root, { env: {} });
  assert.equal(p.findModel('raw.one').seedPath, 'seeds/one.csv');
  assert.equal(p.findModel('raw.two').seedPath, 'seeds/one.csv');
  assert.equal(p.findModel('raw.three').seedPath, 'models/raw/local.csv');
  assert.equal(p.counts().seeds, 3);

  const outside = project({
    'models/x.sql': "MODEL (name raw.x, kind SEED (path '../../elsewhere.csv'));\n",
  });
  writeFileSync(join(dirname(outside), 'elsewhere.csv'), csv);
  dirs.push(join(dirname(outside), 'elsewhere.csv'));
  await assert.rejects(
    loadProject(outside, { env: {} }),
    /seed file \.\.\/\.\.\/elsewhere\.csv not found/,
  );
});
