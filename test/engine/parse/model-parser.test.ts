import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ModelDefaultsConfig } from '../../../src/engine/config/config-types.js';
import { ProjectError } from '../../../src/engine/errors.js';
import type { ModelDefinition, ModelKind } from '../../../src/engine/model-types.js';
import { parseModelFile } from '../../../src/engine/parse/model-parser.js';

const DEFAULTS: ModelDefaultsConfig = { dialect: 'duckdb', extra: {} };

function parse(source: string, defaults: ModelDefaultsConfig = DEFAULTS): ModelDefinition {
  return parseModelFile(source, 'models/m.sql', defaults);
}

/** A model with the given MODEL properties (after the name) and a trivial query. */
function withProps(props: string, query = 'SELECT 1 AS id;'): ModelDefinition {
  return parse(`MODEL (\n  name s.m,\n  ${props}\n);\n${query}\n`);
}

function kindOf(props: string): ModelKind {
  return withProps(props).kind;
}

function errorOf(fn: () => unknown): ProjectError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ProjectError, `expected a ProjectError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected an error');
}

void test('defaults: kind VIEW, cron @daily, dialect from model_defaults, empty lists', () => {
  const m = parse('MODEL (name s.m); SELECT 1 AS id');
  assert.deepEqual(m.kind, { name: 'VIEW', materialized: false });
  assert.equal(m.cron, '@daily');
  assert.equal(m.dialect, 'duckdb');
  assert.equal(m.allowPartials, false);
  assert.equal(m.enabled, true);
  assert.deepEqual(
    [m.tags, m.grains, m.audits, m.preStatements, m.postStatements],
    [[], [], [], [], []],
  );
  assert.equal(m.columns, undefined);
  assert.equal(m.dependsOn, undefined);
  assert.equal(m.query?.sql, 'SELECT 1 AS id');
  assert.deepEqual(m.location, { file: 'models/m.sql', line: 1, column: 1 });
  assert.equal(m.path, 'models/m.sql');
});

void test('model_defaults supply dialect, cron, start, owner, kind and more; the model wins', () => {
  const defaults: ModelDefaultsConfig = {
    dialect: 'postgres',
    cron: '@hourly',
    start: '2024-01-01',
    owner: 'data-team',
    kind: 'full',
    storageFormat: 'parquet',
    extra: {
      table_format: 'iceberg',
      interval_unit: 'hour',
      allow_partials: true,
      physical_properties: { fillfactor: 70, comment: 'x' },
    },
  };
  const m = parse('MODEL (name s.m); SELECT 1', defaults);
  assert.equal(m.dialect, 'postgres');
  assert.equal(m.cron, '@hourly');
  assert.equal(m.start, '2024-01-01');
  assert.equal(m.owner, 'data-team');
  assert.deepEqual(m.kind, { name: 'FULL' });
  assert.equal(m.storageFormat, 'parquet');
  assert.equal(m.tableFormat, 'iceberg');
  assert.equal(m.intervalUnit, 'hour');
  assert.equal(m.allowPartials, true);
  assert.deepEqual(m.physicalProperties, { fillfactor: '70', comment: "'x'" });
  const own = parse(
    "MODEL (name s.m, dialect DuckDB, cron '@weekly', start '2020-01-01', owner me, kind VIEW, physical_properties (fillfactor = 50)); SELECT 1",
    defaults,
  );
  assert.deepEqual(
    [own.dialect, own.cron, own.start, own.owner, own.kind.name],
    ['duckdb', '@weekly', '2020-01-01', 'me', 'VIEW'],
  );
  assert.deepEqual(own.physicalProperties, { fillfactor: '50', comment: "'x'" });
});

void test('keys are case-insensitive and trailing commas are allowed', () => {
  const m = parse("MODEL (NAME s.m, Kind FULL, CRON '@hourly',); SELECT 1");
  assert.deepEqual([m.name, m.kind.name, m.cron], ['s.m', 'FULL', '@hourly']);
});

void test('comments anywhere in the MODEL block', () => {
  const m = parse(`-- leading comment
MODEL ( -- after the bracket
  name s.m, -- after a value
  /* between properties */
  kind FULL /* after a value */,
  owner /* before a value */ jen
  -- before the end
); -- after the block
SELECT 1 AS id -- a column comment; with a semicolon
`);
  assert.deepEqual([m.name, m.kind.name, m.owner], ['s.m', 'FULL', 'jen']);
  assert.deepEqual(m.location, { file: 'models/m.sql', line: 2, column: 1 });
  assert.equal(m.query?.sql, 'SELECT 1 AS id');
});

void test('strings in single or double quotes, with escapes', () => {
  const m = withProps(`description 'it''s here', owner "jen", stamp $$v1$$`);
  assert.deepEqual([m.description, m.owner, m.stamp], ["it's here", 'jen', 'v1']);
});

void test('names: dotted, quoted parts kept as written', () => {
  assert.equal(parse('MODEL (name "my-db".raw.items); SELECT 1').name, '"my-db".raw.items');
  assert.equal(parse('MODEL (name `proj`.ds.t); SELECT 1').name, '`proj`.ds.t');
  assert.equal(parse('MODEL (name @{schema}.t); SELECT 1').name, '@{schema}.t');
});

void test('macros in values are kept as SQL text', () => {
  const m = withProps("start @VAR('start', '2020-01-01'), end @end_ds, owner @{team}");
  assert.deepEqual(
    [m.start, m.end, m.owner],
    ["@VAR('start', '2020-01-01')", '@end_ds', '@{team}'],
  );
});

void test('numbers as start and end values', () => {
  const m = withProps('start 1704067200000, end -1');
  assert.deepEqual([m.start, m.end], ['1704067200000', '-1']);
});

void test('booleans: true/false words, quoted, 1/0', () => {
  assert.deepEqual(
    [withProps('allow_partials TRUE').allowPartials, withProps('enabled false').enabled],
    [true, false],
  );
  assert.equal(withProps("allow_partials 'yes'").allowPartials, true);
  assert.equal(withProps('enabled 0').enabled, false);
});

void test('lists as (a, b), [a, b], ARRAY[a, b] and a single value', () => {
  assert.deepEqual(withProps('tags (a, "b", \'c d\')').tags, ['a', 'b', 'c d']);
  assert.deepEqual(withProps('grains [id, ds]').grains, ['id', 'ds']);
  assert.deepEqual(withProps('grain ARRAY[id]').grains, ['id']);
  assert.deepEqual(withProps('grain id').grains, ['id']);
  assert.deepEqual(withProps('references (a, b)').references, ['a', 'b']);
  assert.deepEqual(withProps('depends_on [s.a, "x".b]').dependsOn, ['s.a', '"x".b']);
  assert.deepEqual(withProps("partitioned_by (ds, DATE_TRUNC('month', ts))").partitionedBy, [
    'ds',
    "DATE_TRUNC('month', ts)",
  ]);
  assert.deepEqual(withProps('clustered_by region').clusteredBy, ['region']);
});

void test('columns with complex types', () => {
  const m = withProps(
    'columns (id INT, price DECIMAL(10, 2), ts TIMESTAMP WITH TIME ZONE, s STRUCT(a INT, b TEXT[]), arr INT[], "Odd Name" VARCHAR)',
  );
  assert.deepEqual(m.columns, [
    { name: 'id', type: 'INT' },
    { name: 'price', type: 'DECIMAL(10, 2)' },
    { name: 'ts', type: 'TIMESTAMP WITH TIME ZONE' },
    { name: 's', type: 'STRUCT(a INT, b TEXT[])' },
    { name: 'arr', type: 'INT[]' },
    { name: 'Odd Name', type: 'VARCHAR' },
  ]);
});

void test('column_descriptions', () => {
  const m = withProps("column_descriptions (id = 'the key', \"Amount\" = 'in cents',)");
  assert.deepEqual(m.columnDescriptions, { id: 'the key', Amount: 'in cents' });
});

void test('audits with :=, = and quoted argument names, and bare audit names', () => {
  const m = withProps(
    "audits (unique_values(columns := [id]), NOT_NULL(columns=[a,b]), accepted_values(\"column\" = status, is_in = ('a','b')), assert_positive)",
  );
  assert.deepEqual(
    m.audits.map((a) => [a.name, a.args]),
    [
      ['unique_values', { columns: '[id]' }],
      ['not_null', { columns: '[a,b]' }],
      ['accepted_values', { column: 'status', is_in: "('a','b')" }],
      ['assert_positive', {}],
    ],
  );
  assert.deepEqual(m.audits[1]?.location, { file: 'models/m.sql', line: 3, column: 43 });
});

void test('a bare assignment in audits is refused', () => {
  const e = errorOf(() => withProps('audits (not_null(columns := [id]), threshold := 0)'));
  assert.match(e.reason, /`threshold := 0` is not an audit/);
});

void test('physical, virtual and session properties as key = value', () => {
  const m = withProps(
    "physical_properties (format = 'parquet', partition_expiration_days = 7), virtual_properties (creatable_type = SECURE), session_properties ('query_band' = 'x')",
  );
  assert.deepEqual(m.physicalProperties, { format: "'parquet'", partition_expiration_days: '7' });
  assert.deepEqual(m.virtualProperties, { creatable_type: 'SECURE' });
  assert.deepEqual(m.sessionProperties, { query_band: "'x'" });
  const quotedKey = withProps('session_properties ("query_band" = \'x\')');
  assert.deepEqual(quotedKey.sessionProperties, { query_band: "'x'" });
});

void test('table_properties is read as physical_properties', () => {
  assert.deepEqual(withProps('table_properties (a = 1)').physicalProperties, { a: '1' });
});

void test('scalar properties: cron_tz, stamp, gateway, storage and table format, interval_unit', () => {
  const m = withProps(
    "cron '*/5 * * * *', cron_tz 'America/New_York', stamp 'v2', gateway Local, storage_format parquet, table_format 'iceberg', interval_unit 'FIVE_MINUTE'",
  );
  assert.deepEqual(
    [m.cron, m.cronTz, m.stamp, m.gateway, m.storageFormat, m.tableFormat, m.intervalUnit],
    ['*/5 * * * *', 'America/New_York', 'v2', 'local', 'parquet', 'iceberg', 'five_minute'],
  );
});

void test('valid SQLMesh keys we do not model go to extraProperties as SQL text', () => {
  const m = withProps(
    "optimize_query false, formatting true, ignored_rules ['noselectstar'], signals (freshness(table := s.a)), virtual_environment_mode 'full'",
  );
  assert.deepEqual(m.extraProperties, {
    optimize_query: 'false',
    formatting: 'true',
    ignored_rules: "['noselectstar']",
    signals: '(freshness(table := s.a))',
    virtual_environment_mode: "'full'",
  });
  assert.match(
    errorOf(() => withProps('optimize_query sometimes')).reason,
    /must be true or false/,
  );
});

void test('kind VIEW with materialized', () => {
  assert.deepEqual(kindOf('kind VIEW (materialized true)'), { name: 'VIEW', materialized: true });
});

void test('kinds without properties: FULL, EMBEDDED, EXTERNAL', () => {
  assert.deepEqual(kindOf('kind full'), { name: 'FULL' });
  assert.deepEqual(kindOf('kind EMBEDDED'), { name: 'EMBEDDED' });
  assert.deepEqual(parse('MODEL (name s.ext, kind EXTERNAL);').kind, { name: 'EXTERNAL' });
});

void test('kind INCREMENTAL_BY_TIME_RANGE with every property', () => {
  const m = withProps(
    "kind INCREMENTAL_BY_TIME_RANGE (time_column (ds, '%Y%m%d'), batch_size 1, batch_concurrency 2, lookback 3, forward_only true, disable_restatement true, on_destructive_change warn, auto_restatement_cron '@weekly', on_additive_change 'error', partition_by_time_column false)",
  );
  assert.deepEqual(m.kind, {
    name: 'INCREMENTAL_BY_TIME_RANGE',
    timeColumn: { column: 'ds', format: '%Y%m%d' },
    batchSize: 1,
    batchConcurrency: 2,
    lookback: 3,
    forwardOnly: true,
    disableRestatement: true,
    onDestructiveChange: 'warn',
    autoRestatementCron: '@weekly',
  });
  assert.deepEqual(m.extraProperties, {
    'kind.on_additive_change': "'error'",
    'kind.partition_by_time_column': 'false',
  });
});

void test('INCREMENTAL_BY_TIME_RANGE defaults: format %Y-%m-%d, lookback 0, not forward-only', () => {
  assert.deepEqual(kindOf('kind INCREMENTAL_BY_TIME_RANGE (time_column event_date)'), {
    name: 'INCREMENTAL_BY_TIME_RANGE',
    timeColumn: { column: 'event_date', format: '%Y-%m-%d' },
    lookback: 0,
    forwardOnly: false,
    disableRestatement: false,
    onDestructiveChange: 'error',
  });
});

void test('model_defaults on_destructive_change applies to incremental kinds', () => {
  const m = parse('MODEL (name s.m, kind INCREMENTAL_BY_TIME_RANGE (time_column ds)); SELECT 1', {
    dialect: 'duckdb',
    extra: { on_destructive_change: 'allow' },
  });
  assert.equal(m.kind.name === 'INCREMENTAL_BY_TIME_RANGE' && m.kind.onDestructiveChange, 'allow');
});

void test('kind INCREMENTAL_BY_UNIQUE_KEY: unique_key forms, when_matched, merge_filter', () => {
  assert.deepEqual(kindOf('kind INCREMENTAL_BY_UNIQUE_KEY (unique_key id)'), {
    name: 'INCREMENTAL_BY_UNIQUE_KEY',
    uniqueKey: ['id'],
    lookback: 0,
    forwardOnly: false,
    disableRestatement: false,
    onDestructiveChange: 'error',
  });
  const k = kindOf(`kind INCREMENTAL_BY_UNIQUE_KEY (
    unique_key (a, COALESCE(b, '')),
    when_matched WHEN MATCHED THEN UPDATE SET target.x = source.x, target.y = source.y,
    merge_filter source.ds > target.ds AND target.ds > '2020-01-01',
    batch_size 5
  )`);
  assert.ok(k.name === 'INCREMENTAL_BY_UNIQUE_KEY');
  assert.deepEqual(k.uniqueKey, ['a', "COALESCE(b, '')"]);
  assert.equal(
    k.whenMatched,
    'WHEN MATCHED THEN UPDATE SET target.x = source.x, target.y = source.y',
  );
  assert.equal(k.mergeFilter, "source.ds > target.ds AND target.ds > '2020-01-01'");
  assert.equal(k.batchSize, 5);
  const bracketed = kindOf(
    'kind INCREMENTAL_BY_UNIQUE_KEY (unique_key [id], when_matched (WHEN MATCHED AND source.d = 1 THEN DELETE WHEN MATCHED THEN UPDATE SET target.v = source.v))',
  );
  assert.ok(bracketed.name === 'INCREMENTAL_BY_UNIQUE_KEY');
  assert.equal(
    bracketed.whenMatched,
    'WHEN MATCHED AND source.d = 1 THEN DELETE WHEN MATCHED THEN UPDATE SET target.v = source.v',
  );
});

void test('kind INCREMENTAL_BY_PARTITION is forward-only', () => {
  assert.deepEqual(kindOf('kind INCREMENTAL_BY_PARTITION'), {
    name: 'INCREMENTAL_BY_PARTITION',
    lookback: 0,
    forwardOnly: true,
    disableRestatement: false,
    onDestructiveChange: 'error',
  });
  assert.match(
    errorOf(() => kindOf('kind INCREMENTAL_BY_PARTITION (forward_only false)')).reason,
    /always forward-only/,
  );
});

void test('kind INCREMENTAL_UNMANAGED', () => {
  assert.deepEqual(kindOf('kind INCREMENTAL_UNMANAGED'), {
    name: 'INCREMENTAL_UNMANAGED',
    insertOverwrite: false,
    forwardOnly: true,
  });
  assert.deepEqual(
    kindOf('kind INCREMENTAL_UNMANAGED (insert_overwrite true, forward_only false)'),
    {
      name: 'INCREMENTAL_UNMANAGED',
      insertOverwrite: true,
      forwardOnly: false,
    },
  );
});

void test('kind SCD_TYPE_2 is SCD_TYPE_2_BY_TIME with SQLMesh default column names', () => {
  assert.deepEqual(kindOf('kind SCD_TYPE_2 (unique_key id)'), {
    name: 'SCD_TYPE_2_BY_TIME',
    uniqueKey: ['id'],
    validFromName: 'valid_from',
    validToName: 'valid_to',
    invalidateHardDeletes: false,
    timeDataType: 'TIMESTAMP',
    forwardOnly: true,
    disableRestatement: true,
    updatedAtName: 'updated_at',
    updatedAtAsValidFrom: false,
  });
});

void test('kind SCD_TYPE_2_BY_TIME with every property', () => {
  assert.deepEqual(
    kindOf(
      'kind SCD_TYPE_2_BY_TIME (unique_key (a, b), updated_at_name changed_at, valid_from_name start_ts, valid_to_name end_ts, invalidate_hard_deletes true, updated_at_as_valid_from true, time_data_type TIMESTAMP WITH TIME ZONE, forward_only false, disable_restatement false)',
    ),
    {
      name: 'SCD_TYPE_2_BY_TIME',
      uniqueKey: ['a', 'b'],
      validFromName: 'start_ts',
      validToName: 'end_ts',
      invalidateHardDeletes: true,
      timeDataType: 'TIMESTAMP WITH TIME ZONE',
      forwardOnly: false,
      disableRestatement: false,
      updatedAtName: 'changed_at',
      updatedAtAsValidFrom: true,
    },
  );
});

void test('kind SCD_TYPE_2_BY_COLUMN with a column list or *', () => {
  const k = kindOf(
    'kind SCD_TYPE_2_BY_COLUMN (unique_key [id], columns [a, b], execution_time_as_valid_from true)',
  );
  assert.ok(k.name === 'SCD_TYPE_2_BY_COLUMN');
  assert.deepEqual(
    [k.columns, k.executionTimeAsValidFrom, k.validFromName],
    [['a', 'b'], true, 'valid_from'],
  );
  const star = kindOf('kind SCD_TYPE_2_BY_COLUMN (unique_key id, columns *)');
  assert.ok(star.name === 'SCD_TYPE_2_BY_COLUMN');
  assert.equal(star.columns, '*');
});

void test('kind SEED: path, batch_size default 1000, csv_settings; no query needed', () => {
  const m = parse(
    "MODEL (name s.seed, kind SEED (path '$root/seeds/x.csv', csv_settings (delimiter = ';', na_values = ['NA', 'n/a'], keep_default_na = false, skiprows = 1)));",
  );
  assert.deepEqual(m.kind, {
    name: 'SEED',
    path: '$root/seeds/x.csv',
    batchSize: 1000,
    csvSettings: { delimiter: ';', na_values: ['NA', 'n/a'], keep_default_na: false, skiprows: 1 },
  });
  assert.equal(m.query, undefined);
  const sized = parse(
    "MODEL (name s.seed, kind SEED (path '..\\seeds\\x.csv', batch_size 50));",
  ).kind;
  assert.ok(sized.name === 'SEED');
  assert.deepEqual([sized.path, sized.batchSize], ['../seeds/x.csv', 50]);
});

void test('pre-statements, query and post-statements; macro statements stay pre-statements', () => {
  const m = parse(`MODEL (name s.m, kind FULL);
@DEF(x, 1);
SET threads = 4;
WITH a AS (SELECT @x AS v) SELECT v FROM a;
ANALYZE s.m;
@IF(@runtime_stage = 'evaluating', DELETE FROM t);
`);
  assert.deepEqual(
    m.preStatements.map((s) => s.sql),
    ['@DEF(x, 1)', 'SET threads = 4'],
  );
  assert.equal(m.query?.sql, 'WITH a AS (SELECT @x AS v) SELECT v FROM a');
  assert.deepEqual(m.query?.location, { file: 'models/m.sql', line: 4, column: 1 });
  assert.deepEqual(
    m.postStatements.map((s) => s.sql),
    ['ANALYZE s.m', "@IF(@runtime_stage = 'evaluating', DELETE FROM t)"],
  );
});

void test('query forms: VALUES, FROM-first, parenthesised, TABLE, @union', () => {
  for (const q of [
    'VALUES (1), (2)',
    'FROM t SELECT a',
    '(SELECT 1) UNION ALL (SELECT 2)',
    '((SELECT 1))',
    'TABLE t',
    "@union('all', a, b)",
    'select 1',
  ]) {
    const m = parse(`MODEL (name s.m); CREATE TEMP TABLE z AS SELECT 1; ${q};`);
    assert.equal(m.query?.sql, q);
    assert.equal(m.preStatements.length, 1);
  }
});

void test('a lone macro call is the query', () => {
  const m = parse('MODEL (name s.m); @my_query_macro()');
  assert.equal(m.query?.sql, '@my_query_macro()');
  assert.deepEqual(m.preStatements, []);
});

void test('JINJA_QUERY_BEGIN ... JINJA_END is a Jinja query', () => {
  const m = parse(`MODEL (name s.m, kind FULL);
JINJA_STATEMENT_BEGIN;
{% set cols = ['a', 'b'] %}
JINJA_END;
JINJA_QUERY_BEGIN;
SELECT {{ cols | join(', ') }} FROM t; -- no split here
JINJA_END;
JINJA_STATEMENT_BEGIN;
{{ log('done') }}
JINJA_END;
`);
  assert.deepEqual(m.query, {
    sql: "SELECT {{ cols | join(', ') }} FROM t; -- no split here",
    location: { file: 'models/m.sql', line: 6, column: 1 },
    jinja: true,
  });
  assert.deepEqual(
    m.preStatements.map((s) => [s.sql, s.jinja]),
    [["{% set cols = ['a', 'b'] %}", true]],
  );
  assert.deepEqual(
    m.postStatements.map((s) => [s.sql, s.jinja]),
    [["{{ log('done') }}", true]],
  );
});

void test('ON_VIRTUAL_UPDATE_BEGIN ... END holds statements, SQL and Jinja', () => {
  const m = parse(`MODEL (name s.m, kind FULL);
SELECT 1 AS id;
ON_VIRTUAL_UPDATE_BEGIN;
GRANT SELECT ON VIEW @this_model TO ROLE reader;
JINJA_STATEMENT_BEGIN;
GRANT SELECT ON VIEW {{ this_model }} TO ROLE admin;
JINJA_END;
ON_VIRTUAL_UPDATE_END;
ANALYZE t;
`);
  assert.deepEqual(
    m.onVirtualUpdate.map((s) => [s.sql, s.jinja]),
    [
      ['GRANT SELECT ON VIEW @this_model TO ROLE reader', false],
      ['GRANT SELECT ON VIEW {{ this_model }} TO ROLE admin;', true],
    ],
  );
  assert.deepEqual(
    m.postStatements.map((s) => s.sql),
    ['ANALYZE t'],
  );
});

void test('inline AUDIT blocks anywhere after MODEL, each with its query', () => {
  const m =
    parse(`MODEL (name s.m, kind FULL, dialect postgres, audits (no_nulls, no_dupes(col := id)));
AUDIT (name no_nulls, blocking false);
SELECT * FROM @this_model WHERE id IS NULL;
SELECT 1 AS id;
AUDIT (name No_Dupes, defaults (col = id), dialect duckdb);
SELECT @col FROM @this_model GROUP BY 1 HAVING COUNT(*) > 1;
`);
  assert.equal(m.query?.sql, 'SELECT 1 AS id');
  assert.deepEqual(
    m.inlineAudits.map((a) => [
      a.name,
      a.blocking,
      a.standalone,
      a.dialect,
      a.defaults,
      a.query.sql,
      a.location.line,
    ]),
    [
      ['no_nulls', false, false, 'postgres', {}, 'SELECT * FROM @this_model WHERE id IS NULL', 2],
      [
        'no_dupes',
        true,
        false,
        'duckdb',
        { col: 'id' },
        'SELECT @col FROM @this_model GROUP BY 1 HAVING COUNT(*) > 1',
        5,
      ],
    ],
  );
});

void test('an inline audit must be followed by a query', () => {
  const e = errorOf(() => parse('MODEL (name s.m); AUDIT (name a); SET x = 1; SELECT 1;'));
  assert.match(e.reason, /must end with a SELECT query/);
  assert.deepEqual([e.location?.line, e.location?.column], [1, 35]);
});

void test('the dialect named in the MODEL block decides string escapes', () => {
  const m = parse(
    "MODEL (name s.m, dialect bigquery); SELECT 'a\\';b' AS x; SELECT 2;".replace(
      '; SELECT 2;',
      '',
    ),
  );
  assert.equal(m.query?.sql, "SELECT 'a\\';b' AS x");
  // In DuckDB the backslash is an ordinary character, so the string ends earlier.
  const d = parse("MODEL (name s.m); SELECT 'a\\' AS x;");
  assert.equal(d.query?.sql, "SELECT 'a\\' AS x");
});

void test('column comments after projections do not confuse the split', () => {
  const m = parse(`MODEL (name s.m);
SELECT
  id, -- the id; unique
  name /* the name; ) */
FROM t -- a comment with a quote ' in it
`);
  assert.ok(m.query?.sql.startsWith('SELECT'));
  assert.ok(m.query?.sql.endsWith('FROM t'));
  assert.equal(m.postStatements.length, 0);
});

void test('macro keys in the MODEL block are kept', () => {
  const m = parse('MODEL (name s.m, @my_props()); SELECT 1');
  assert.deepEqual(m.extraProperties, { '@my_props()': '@my_props()' });
});

void test('quoted user text spanning lines still gives a one-line message', () => {
  const e = errorOf(() => withProps("cron '@daily' 'two\nlines'"));
  assert.ok(!e.message.includes('\n'));
  assert.match(e.reason, /unexpected `'two lines'` after the value of `cron`/);
});

void test('ON_VIRTUAL_UPDATE_END may follow a statement without a semicolon between them', () => {
  const m = parse(
    'MODEL (name s.m); SELECT 1;\nON_VIRTUAL_UPDATE_BEGIN;\nGRANT SELECT ON VIEW @this_model TO ROLE r\nON_VIRTUAL_UPDATE_END;',
  );
  assert.deepEqual(
    m.onVirtualUpdate.map((s) => s.sql),
    ['GRANT SELECT ON VIEW @this_model TO ROLE r'],
  );
});

void test('macro names glued to text and string-template macros', () => {
  assert.equal(parse('MODEL (name @{gw}__@{gw}.t_@{x}); SELECT 1').name, '@{gw}__@{gw}.t_@{x}');
  const m = withProps("physical_properties (location = @'s3://bucket/@{table}')");
  assert.deepEqual(m.physicalProperties, { location: "@'s3://bucket/@{table}'" });
});

void test('a time_column format in double quotes, as dialects with double-quoted strings write it', () => {
  const m = parse(
    'MODEL (name s.m, dialect hive, kind INCREMENTAL_BY_TIME_RANGE (time_column (ds, "yyyy-MM-dd"))); SELECT 1',
  );
  assert.ok(m.kind.name === 'INCREMENTAL_BY_TIME_RANGE');
  assert.deepEqual(m.kind.timeColumn, { column: 'ds', format: 'yyyy-MM-dd' });
});

void test('a boolean set by a macro is refused with advice', () => {
  assert.match(
    errorOf(() => withProps('enabled @IF(@gateway = 1, TRUE, FALSE)')).reason,
    /cannot be set by a macro yet/,
  );
});

void test('misspelt keys get a suggestion', () => {
  assert.match(errorOf(() => withProps("cronn '@daily'")).reason, /did you mean `cron`\?/);
  assert.match(
    errorOf(() => withProps('kind INCREMENTAL_BY_TIME_RANGE (time_colum ds)')).reason,
    /did you mean `time_column`\?/,
  );
});

void test('grain and grains together are refused', () => {
  assert.match(
    errorOf(() => withProps('grain a, grains [b]')).reason,
    /either `grain` or `grains`/,
  );
});

void test('default_catalog is refused with advice', () => {
  assert.match(errorOf(() => withProps('default_catalog x')).reason, /gateway connection/);
});

void test('a second MODEL block is refused', () => {
  const e = errorOf(() => parse('MODEL (name s.a); SELECT 1; MODEL (name s.b); SELECT 2;'));
  assert.match(e.reason, /one MODEL block/);
});

void test('queries inside an ON_VIRTUAL_UPDATE block are refused', () => {
  const e = errorOf(() =>
    parse('MODEL (name s.a); SELECT 1; ON_VIRTUAL_UPDATE_BEGIN; SELECT 2; ON_VIRTUAL_UPDATE_END;'),
  );
  assert.match(e.reason, /only statements/);
});

void test('10,000 model files parse, each into its own definition', () => {
  const location = (file: string, line: number, column: number) => ({ file, line, column });
  for (let i = 0; i < 10_000; i++) {
    const file = `models/m${i}.sql`;
    const query = `SELECT
  id, -- the key
  ds,
  SUM(amount) AS amount /* total */
FROM shop.raw_${i % 100}
WHERE ds BETWEEN @start_ds AND @end_ds AND note <> ';'
GROUP BY id, ds`;
    const source = `MODEL (
  name shop.model_${i}, -- model ${i}
  kind INCREMENTAL_BY_TIME_RANGE (time_column (ds, '%Y-%m-%d'), batch_size 7, lookback 2),
  cron '@daily',
  start '2024-01-01',
  grain (id, ds),
  audits (not_null(columns := [id, ds]), unique_values(columns := [id])),
  columns (id INT, ds TEXT, amount DECIMAL(10, 2)),
  tags (finance, daily),
  description 'Model number ${i}, with ''quotes'' inside'
);
@DEF(threshold, ${i});
${query};
`;
    const m = parseModelFile(source, file, DEFAULTS);
    assert.deepEqual(
      {
        name: m.name,
        kind: m.kind,
        cron: m.cron,
        start: m.start,
        grains: m.grains,
        audits: m.audits,
        columns: m.columns,
        tags: m.tags,
        description: m.description,
        preStatements: m.preStatements,
        query: m.query,
        path: m.path,
      },
      {
        name: `shop.model_${i}`,
        kind: {
          name: 'INCREMENTAL_BY_TIME_RANGE',
          timeColumn: { column: 'ds', format: '%Y-%m-%d' },
          batchSize: 7,
          lookback: 2,
          forwardOnly: false,
          disableRestatement: false,
          onDestructiveChange: 'error',
        },
        cron: '@daily',
        start: '2024-01-01',
        grains: ['id', 'ds'],
        audits: [
          { name: 'not_null', args: { columns: '[id, ds]' }, location: location(file, 7, 11) },
          { name: 'unique_values', args: { columns: '[id]' }, location: location(file, 7, 42) },
        ],
        columns: [
          { name: 'id', type: 'INT' },
          { name: 'ds', type: 'TEXT' },
          { name: 'amount', type: 'DECIMAL(10, 2)' },
        ],
        tags: ['finance', 'daily'],
        description: `Model number ${i}, with 'quotes' inside`,
        preStatements: [
          { sql: `@DEF(threshold, ${i})`, location: location(file, 12, 1), jinja: false },
        ],
        query: { sql: query, location: location(file, 13, 1), jinja: false },
        path: file,
      },
      file,
    );
  }
});
