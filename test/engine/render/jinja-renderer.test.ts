import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProjectError } from '../../../src/engine/errors.js';
import type { SqlFragment } from '../../../src/engine/model-types.js';
import { JinjaRenderer } from '../../../src/engine/render/jinja-renderer.js';
import { MacroScope, type MacroContext } from '../../../src/engine/render/macro-renderer.js';

const START = Date.UTC(2024, 0, 1);

const ctx: MacroContext = {
  start: START,
  end: START + 86_400_000,
  executionTime: START,
  variables: { int_var: 7, names: ['car', 'bus'] },
  blueprintVariables: { customer: 'customer1' },
  dialect: 'duckdb',
  gateway: 'local',
  thisModel: '"db"."t"',
  runtimeStage: 'evaluating',
};

const macros = [
  {
    path: 'macros/alias.sql',
    source: '{% macro alias(expression, alias) %}{{ expression }} AS {{ alias }}{% endmacro %}',
  },
  {
    path: 'macros/more.sql',
    source:
      "{% macro twice(x) %}{{ alias(x ~ ' * 2', x ~ '_2') }}{% endmacro %}\n{% macro day() %}'{{ start_ds }}'{% endmacro %}",
  },
];

function jinja(sql: string, line = 4, column = 1): SqlFragment {
  return { sql, location: { file: 'models/j.sql', line, column }, jinja: true };
}

function render(sql: string): string {
  return new MacroScope(ctx, { jinja: new JinjaRenderer(macros) }).renderQuery(jinja(sql));
}

function renderError(sql: string, renderer = new JinjaRenderer(macros)): ProjectError {
  try {
    new MacroScope(ctx, { jinja: renderer }).renderQuery(jinja(sql));
  } catch (e) {
    assert.ok(e instanceof ProjectError, `expected a ProjectError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected an error');
}

test('predefined variables, var(), blueprint_var() and gateway()', () => {
  assert.equal(
    render(
      "SELECT {{ 1 + 1 }}, '{{ start_ds }}', '{{ end_ds }}', '{{ end_ts }}', {{ start_millis }}, {{ end_hour }}, '{{ runtime_stage }}', {{ this_model }}",
    ),
    "SELECT 2, '2024-01-01', '2024-01-01', '2024-01-01 23:59:59.999999', 1704067200000, 23, 'evaluating', \"db\".\"t\"",
  );
  assert.equal(
    render(
      "SELECT {{ var('int_var') }}, {{ var('INT_VAR') }}, {{ var('missing', 0) }}, '{{ gateway() }}' FROM {{ blueprint_var('customer') }}.src",
    ),
    "SELECT 7, 7, 0, 'local' FROM customer1.src",
  );
});

test('control flow, Python literals and no escaping', () => {
  assert.equal(
    render(
      "{% set testing = True %}SELECT {% for v in var('names') %}CASE WHEN t = '{{ v }}' THEN 1 END AS is_{{ v }}{% if not loop.last %}, {% endif %}{% endfor %}{% if testing %}, x{% endif %}{% if None is none %}, y{% endif %} <> '&'",
    ),
    "SELECT CASE WHEN t = 'car' THEN 1 END AS is_car, CASE WHEN t = 'bus' THEN 1 END AS is_bus, x, y <> '&'",
  );
});

test('macros from macros/*.sql are callable by name, also from each other', () => {
  assert.equal(
    render(
      "SELECT item_id, {{ alias(\"'item_id'\", 'item_id2') }}, {{ twice('n') }} WHERE ds = {{ day() }}",
    ),
    "SELECT item_id, 'item_id' AS item_id2, n * 2 AS n_2 WHERE ds = '2024-01-01'",
  );
});

test('Jinja output goes through the macro renderer', () => {
  assert.equal(
    render("SELECT {{ var('int_var') }} AS n, @start_ds, @IF(1 > 2, a, b)"),
    "SELECT 7 AS n, '2024-01-01', b",
  );
});

test('an undefined variable is an error at its position', () => {
  const err = renderError('SELECT\n  {{ missing_col }}');
  assert.equal(err.location?.file, 'models/j.sql');
  assert.equal(err.location?.line, 5);
  assert.match(err.reason, /'missing_col' is undefined/);
  assert.ok(!err.message.includes('\n'));
});

test('syntax errors in blocks and macro files are errors with a file', () => {
  const err = renderError('SELECT {% if %}');
  assert.equal(err.location?.line, 4);
  assert.match(err.message, /^models\/j\.sql:4:\d+: Jinja: /);
  assert.throws(
    () => new JinjaRenderer([{ path: 'macros/bad.sql', source: '{% macro broken( %}' }]),
    (e: unknown) => e instanceof ProjectError && e.location?.file === 'macros/bad.sql',
  );
  assert.match(renderError('SELECT {{ nothing_here() }}').reason, /nothing_here/);
});
