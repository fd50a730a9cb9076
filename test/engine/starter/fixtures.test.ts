import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { parse as parseYaml } from 'yaml';

import { fixturesDir } from '../../helpers/paths.js';

const zoo = join(fixturesDir, 'projects', 'syntax-zoo');

interface VariantEntry {
  variant: string;
  model: string;
  snippet: string;
}

const index = JSON.parse(readFileSync(join(zoo, 'VARIANTS.json'), 'utf8')) as VariantEntry[];

/** Every syntax form the zoo promises to show; VARIANTS.json must name a file for each. */
const REQUIRED_VARIANTS = [
  'keys-mixed-case',
  'trailing-comma-model-block',
  'trailing-comma-kind-block',
  'trailing-comma-list',
  'list-parens',
  'list-brackets',
  'list-array',
  'string-single-quotes',
  'string-double-quotes',
  'comment-dash',
  'comment-block',
  'comment-dash-after-projection',
  'comment-block-after-projection',
  'comment-dash-in-model-block',
  'comment-block-in-model-block',
  'kind-incremental-by-time-range',
  'time-column-with-format',
  'time-column-text-type',
  'batch-size-1',
  'lookback',
  'forward-only',
  'kind-incremental-by-unique-key',
  'kind-seed-root-path',
  'seed-batch-size',
  'kind-seed-relative-path',
  'kind-scd-type-2-by-time',
  'kind-scd-type-2-by-column',
  'kind-full',
  'kind-view-default',
  'kind-embedded',
  'kind-external',
  'external-columns',
  'property-name',
  'property-cron',
  'property-start',
  'property-end',
  'property-grain',
  'property-grains',
  'property-audits',
  'audit-call-arguments',
  'property-columns',
  'property-column-descriptions',
  'property-references',
  'property-depends-on',
  'property-tags',
  'property-owner',
  'property-description',
  'property-partitioned-by',
  'property-clustered-by',
  'property-interval-unit',
  'property-allow-partials',
  'property-enabled',
  'property-dialect',
  'property-stamp',
  'property-physical-properties',
  'pre-statements',
  'post-statements',
  'inline-audit',
  'audits-file-several',
  'jinja-query',
  'jinja-macro-call',
  'jinja-macro-file',
  'macro-start-ds',
  'macro-end-ds',
  'macro-start-dt',
  'macro-execution-ds',
  'macro-this-model',
  'macro-def',
  'macro-if',
  'macro-each',
  'macro-var',
  'project-variables',
  'macro-sql',
  'identifier-interpolation-braces',
  'identifier-suffix-macro',
  'catalog-qualified-reference',
  'cte-unique-name',
  'yaml-unit-test',
  'config-duckdb-gateway',
];

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

const modelFiles = walk(join(zoo, 'models')).filter((f) => f.endsWith('.sql'));
const read = (path: string): string => readFileSync(join(zoo, path), 'utf8');

/** The text after the file's `MODEL (...);` block. */
function afterModelBlock(text: string): string {
  const start = text.indexOf('MODEL (');
  let depth = 0;
  for (let i = start + 5; i < text.length; i++) {
    if (text[i] === '(') depth++;
    if (text[i] === ')' && --depth === 0) return text.slice(text.indexOf(';', i) + 1);
  }
  throw new Error('unclosed MODEL block');
}

describe('syntax-zoo VARIANTS.json', () => {
  test('every snippet occurs in the file it names', () => {
    assert.ok(index.length > 0);
    for (const entry of index) {
      const path = join(zoo, entry.model);
      assert.ok(existsSync(path), `${entry.variant}: ${entry.model} exists`);
      assert.ok(
        read(entry.model).includes(entry.snippet),
        `${entry.variant}: ${entry.model} contains ${JSON.stringify(entry.snippet)}`,
      );
    }
  });

  test('names every required variant, each once', () => {
    const names = index.map((e) => e.variant);
    assert.equal(new Set(names).size, names.length, 'no variant is listed twice');
    const missing = REQUIRED_VARIANTS.filter((v) => !names.includes(v));
    assert.deepEqual(missing, []);
  });

  test('the VIEW-by-default model really has no kind', () => {
    const entry = index.find((e) => e.variant === 'kind-view-default');
    assert.ok(entry);
    const text = read(entry.model);
    const header = text.slice(text.indexOf('MODEL ('), text.length - afterModelBlock(text).length);
    assert.doesNotMatch(header, /^\s*kind\b/im);
  });
});

describe('syntax-zoo project', () => {
  test('has at least 14 model files, each headed by the variants it exercises', () => {
    assert.ok(modelFiles.length >= 14, `${modelFiles.length} model files`);
    for (const file of modelFiles) {
      const text = readFileSync(file, 'utf8');
      const header = text.slice(0, text.indexOf('MODEL ('));
      assert.match(header, /Exercises:/, `${relative(zoo, file)} says what it exercises`);
      assert.match(header, /^\s*(--|\/\*)/, `${relative(zoo, file)} starts with a comment`);
    }
  });

  test('every model file appears in the index', () => {
    const indexed = new Set(index.map((e) => e.model));
    for (const file of modelFiles) {
      const path = relative(zoo, file).split('\\').join('/');
      assert.ok(indexed.has(path), `${path} is in VARIANTS.json`);
    }
  });

  test('model names are unique', () => {
    const names = modelFiles.map((f) => {
      const text = readFileSync(f, 'utf8');
      return /\bname\s+([\w.]+)/i.exec(text.slice(text.indexOf('MODEL (')))?.[1];
    });
    assert.ok(names.every((n) => n !== undefined));
    assert.equal(new Set(names.map((n) => n?.toLowerCase())).size, names.length);
  });

  test('seed paths lead to CSV files inside the project', () => {
    let seeds = 0;
    for (const file of modelFiles) {
      const text = readFileSync(file, 'utf8');
      const path = /\bkind\s+SEED\s*\(\s*path\s+'([^']+)'/i.exec(text)?.[1];
      if (path === undefined) continue;
      seeds++;
      const target = path.startsWith('$root/')
        ? join(zoo, path.slice('$root/'.length))
        : resolve(dirname(file), path);
      assert.ok(existsSync(target), `${relative(zoo, file)}: ${path} exists`);
      assert.ok(!relative(zoo, target).startsWith('..'), `${path} stays inside the project`);
      const header = readFileSync(target, 'utf8').split('\n')[0] ?? '';
      assert.ok(header.split(',').length >= 2, `${path} has a header row`);
    }
    assert.ok(seeds >= 3);
  });

  test('config, external models and unit tests are YAML of the expected shape', () => {
    const config = parseYaml(read('config.yaml')) as Record<string, unknown>;
    const gateway = (config.gateways as Record<string, { connection: { type: string } }>)[
      String(config.default_gateway)
    ];
    assert.equal(gateway?.connection.type, 'duckdb');
    const variables = config.variables as Record<string, unknown>;
    assert.ok(Array.isArray(variables.channels));

    const externals = parseYaml(read('external_models.yaml')) as Array<{
      name: string;
      columns: Record<string, string>;
    }>;
    assert.ok(externals.length > 0);
    for (const e of externals)
      assert.ok(Object.keys(e.columns).length > 0, `${e.name} has columns`);

    const audits = read('audits/zoo_audits.sql').match(/^AUDIT \(/gm) ?? [];
    assert.ok(audits.length >= 2, 'several audits share one file');
    const macros = read('macros/zoo_macros.sql').match(/\{%-?\s*macro\s/g) ?? [];
    assert.ok(macros.length >= 1);
  });

  test("the YAML unit test agrees with zoo.orders_daily's query on DuckDB", async () => {
    const suite = parseYaml(read('tests/test_orders_daily.yaml')) as Record<
      string,
      {
        model: string;
        inputs: Record<string, { rows: Record<string, string | number>[] }>;
        outputs: { query: { rows: Record<string, string | number>[] } };
        vars: { start: string; end: string };
      }
    >;
    const unit = suite.test_orders_daily;
    assert.ok(unit);
    const file = index.find((e) => e.variant === 'time-column-with-format')?.model;
    assert.ok(file);
    assert.ok(read(file).includes(`name ${unit.model}`));
    const query = afterModelBlock(read(file))
      .replaceAll('@start_ds', `'${unit.vars.start}'`)
      .replaceAll('@end_ds', `'${unit.vars.end}'`);
    const input = unit.inputs['zoo.stg_orders']?.rows ?? [];
    assert.ok(input.length > 0);

    const instance = await DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    try {
      await conn.run('CREATE SCHEMA zoo');
      await conn.run(
        'CREATE TABLE zoo.stg_orders (order_id INTEGER, channel TEXT, amount DECIMAL(10, 2), ds TEXT)',
      );
      for (const r of input) {
        await conn.run(
          `INSERT INTO zoo.stg_orders VALUES (${Number(r.order_id)}, '${r.channel}', ${Number(r.amount)}, '${r.ds}')`,
        );
      }
      const actual = (
        await conn.runAndReadAll(
          `SELECT ds, channel, order_count::INTEGER AS order_count, revenue::DOUBLE AS revenue FROM (${query}) ORDER BY ds, channel`,
        )
      ).getRowObjectsJson();
      const expected = unit.outputs.query.rows
        .map((r): Record<string, string | number> => ({ ...r, revenue: Number(r.revenue) }))
        .sort((a, b) => `${a.ds}${a.channel}`.localeCompare(`${b.ds}${b.channel}`));
      assert.deepEqual(actual, expected);
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
  });
});
