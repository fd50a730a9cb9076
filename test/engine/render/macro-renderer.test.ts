import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProjectError } from '../../../src/engine/errors.js';
import type { SqlFragment } from '../../../src/engine/model-types.js';
import {
  MacroScope,
  renderMacroExpression,
  type MacroContext,
} from '../../../src/engine/render/macro-renderer.js';

const DAY = 86_400_000;
const START = Date.UTC(2024, 0, 1);

function context(extra: Partial<MacroContext> = {}): MacroContext {
  return {
    start: START,
    end: START + DAY,
    executionTime: Date.UTC(2024, 0, 2, 6),
    variables: { int_var: 1, str_var: 'cat', list_var: [1, 2, 3], flag: true, nothing: null },
    dialect: 'duckdb',
    gateway: 'local',
    thisModel: '"db"."sqlmesh__db"."db__t__123"',
    runtimeStage: 'evaluating',
    ...extra,
  };
}

function fragment(sql: string, line = 10, column = 1): SqlFragment {
  return { sql, location: { file: 'models/m.sql', line, column }, jinja: false };
}

function render(sql: string, extra: Partial<MacroContext> = {}): string {
  return new MacroScope(context(extra)).renderQuery(fragment(sql));
}

function renderError(sql: string, extra: Partial<MacroContext> = {}): ProjectError {
  try {
    render(sql, extra);
  } catch (e) {
    assert.ok(e instanceof ProjectError, `expected a ProjectError, got ${String(e)}`);
    return e;
  }
  assert.fail(`expected an error rendering ${sql}`);
}

test('text without macros is returned unchanged', () => {
  const sql = 'SELECT a, \'x@y\' AS "b" FROM t -- @c\n/* @d */';
  assert.equal(render(sql), sql);
});

test('temporal, runtime and project variables', () => {
  assert.equal(
    render('SELECT * FROM t WHERE ds BETWEEN @start_ds AND @end_ds AND ts <= @end_ts'),
    "SELECT * FROM t WHERE ds BETWEEN '2024-01-01' AND '2024-01-01' AND ts <= '2024-01-01 23:59:59.999999'",
  );
  assert.equal(
    render('SELECT @start_date, @end_dt, @execution_epoch, @end_millis, @end_hour'),
    "SELECT CAST('2024-01-01' AS DATE), CAST('2024-01-01 23:59:59.999999+00:00' AS TIMESTAMPTZ), 1704175200.0, 1704153599999, 23",
  );
  assert.equal(
    render(
      'SELECT @INT_VAR, @str_var, @list_var, @flag, @nothing, @gateway, @runtime_stage, @this_model',
    ),
    'SELECT 1, \'cat\', (1, 2, 3), TRUE, NULL, \'local\', \'evaluating\', "db"."sqlmesh__db"."db__t__123"',
  );
});

test('hourly interval: end variables show the last instant of the hour', () => {
  const start = Date.UTC(2024, 2, 5, 13);
  assert.equal(
    render('SELECT @start_ts, @end_ts, @start_hour, @end_hour, @end_ds', {
      start,
      end: start + 3_600_000,
    }),
    "SELECT '2024-03-05 13:00:00', '2024-03-05 13:59:59.999999', 13, 13, '2024-03-05'",
  );
});

test('blueprint variables win over project variables; @VAR reads project variables only', () => {
  const extra = { blueprintVariables: { str_var: 'customer1', field_c: "'foo'" } };
  assert.equal(
    render(
      "SELECT @str_var, @VAR('str_var'), @BLUEPRINT_VAR('field_c'), @field_c AS @{field_c}",
      extra,
    ),
    "SELECT customer1, 'cat', 'foo', 'foo' AS foo",
  );
});

test('@{name} and names glued to macros render identifiers', () => {
  assert.equal(
    render(
      'SELECT amount_@str_var, @{str_var}_total, my_@{str_var}_col, @{str_var} FROM @{str_var}.t',
    ),
    'SELECT amount_cat, cat_total, my_cat_col, cat FROM cat.t',
  );
  // Text that is not a plain identifier gets quoted.
  assert.equal(render('SELECT 1 AS tbl_@{start_ds}'), 'SELECT 1 AS "tbl_2024-01-01"');
  assert.equal(
    render('SELECT 1 AS @{x}', { variables: { x: 'foo.bar' } }),
    'SELECT 1 AS "foo.bar"',
  );
  assert.equal(
    render('SELECT 1 AS @{x}', { dialect: 'bigquery', variables: { x: 'a b' } }),
    'SELECT 1 AS `a b`',
  );
});

test('quoted identifiers are substituted, string literals and comments are not', () => {
  assert.equal(
    render('SELECT "@{str_var}", "col_@str_var", "a@nobody", \'@str_var\' -- @str_var'),
    'SELECT "cat", "col_cat", "a@nobody", \'@str_var\' -- @str_var',
  );
  assert.equal(render("SELECT @'hello @str_var @{int_var}'"), "SELECT 'hello cat 1'");
});

test('@DEF values and lambdas are visible to later statements and the query', () => {
  const scope = new MacroScope(context());
  assert.equal(scope.renderStatement(fragment('@DEF(size, 1)')), null);
  assert.equal(scope.renderStatement(fragment("@DEF(label, 'big')")), null);
  assert.equal(scope.renderStatement(fragment('@DEF(next_size, @size + 1)')), null);
  assert.equal(
    scope.renderStatement(fragment('@DEF(pythag, (x, y) -> SQRT(POW(x, 2) + POW(y, 2)))')),
    null,
  );
  assert.equal(scope.renderStatement(fragment('@DEF(area, r -> PI() * r * r)')), null);
  assert.equal(scope.renderStatement(fragment('@DEF(volume, (r, h) -> @area(@r) * h)')), null);
  assert.equal(
    scope.renderQuery(
      fragment(
        'SELECT @size, @label AS @{label}, @next_size, @pythag(a, b), @volume((d / 2), h) FROM t WHERE s > @SIZE',
      ),
    ),
    "SELECT 1, 'big' AS big, 1 + 1, SQRT(POW(a, 2) + POW(b, 2)), PI() * (d / 2) * (d / 2) * h FROM t WHERE s > 1",
  );
  assert.equal(
    scope.renderStatement(fragment('INSERT INTO log VALUES (@size)')),
    'INSERT INTO log VALUES (1)',
  );
});

test('definitions among post-statements are made before the query renders', () => {
  const post = fragment('@DEF(late, 42)');
  const scope = new MacroScope(context(), { definitions: [post] });
  assert.equal(scope.renderQuery(fragment('SELECT @late')), 'SELECT 42');
  assert.equal(scope.renderStatement(post), null);
});

test('@VAR with defaults, and gateway variables', () => {
  assert.equal(
    render(
      "SELECT @VAR('int_var'), @VAR('INT_VAR'), @VAR('missing', 0), @VAR('missing'), @VAR('gateway')",
    ),
    "SELECT 1, 1, 0, NULL, 'local'",
  );
  const err = renderError('SELECT @VAR(int_var)');
  assert.match(err.reason, /string literal/);
});

test('@IF as an expression, dropping the comma it leaves behind', () => {
  assert.equal(
    render('SELECT col1, @IF(1 > 0, sensitive_col) FROM t'),
    'SELECT col1, sensitive_col FROM t',
  );
  assert.equal(render('SELECT col1, @IF(1 > 2, sensitive_col) FROM t'), 'SELECT col1 FROM t');
  assert.equal(render('SELECT @IF(1 > 2, a), b FROM t'), 'SELECT b FROM t');
  assert.equal(render('SELECT a, @IF(1 > 2, b), c FROM t'), 'SELECT a, c FROM t');
  assert.equal(render('SELECT col1, @if(1 > 2, s, ns) FROM t'), 'SELECT col1, ns FROM t');
  assert.equal(
    render("SELECT @IF(@gateway = 'local' AND @int_var IN (1, 2), 'dev', 'prod')"),
    "SELECT 'dev'",
  );
  assert.equal(
    render("SELECT @IF('a' != 'b' AND 2 BETWEEN 1 AND 3 AND NOT FALSE, 1, 2)"),
    'SELECT 1',
  );
  assert.equal(render('SELECT @IF(@nothing IS NULL, 1, 2), @IF(NULL = 1, 1, 2)'), 'SELECT 1, 2');
  assert.equal(render('SELECT @IF(2 * 3 - 1 = 5 OR FALSE, 1, 2)'), 'SELECT 1');
});

test('@IF as a whole statement, by runtime stage', () => {
  const stmt = fragment("@IF(@runtime_stage = 'evaluating', ALTER TABLE t ALTER c TYPE VARCHAR)");
  assert.equal(
    new MacroScope(context({ runtimeStage: 'evaluating' })).renderStatement(stmt),
    'ALTER TABLE t ALTER c TYPE VARCHAR',
  );
  assert.equal(new MacroScope(context({ runtimeStage: 'creating' })).renderStatement(stmt), null);
  assert.equal(new MacroScope(context({ runtimeStage: undefined })).renderStatement(stmt), null);
});

test('@EACH over arrays, strings and variables', () => {
  assert.equal(render('SELECT @EACH([4, 5, 6], x -> x) FROM t'), 'SELECT 4, 5, 6 FROM t');
  assert.equal(
    render("SELECT @EACH(['4', '5'], x -> CASE WHEN n = x THEN 1 ELSE 0 END AS column_@x) FROM t"),
    "SELECT CASE WHEN n = '4' THEN 1 ELSE 0 END AS column_4, CASE WHEN n = '5' THEN 1 ELSE 0 END AS column_5 FROM t",
  );
  assert.equal(
    render('SELECT @EACH(@list_var, v -> v * 2 AS @{v}_x)'),
    'SELECT 1 * 2 AS "1_x", 2 * 2 AS "2_x", 3 * 2 AS "3_x"',
  );
  // A qualified name is a column, not the lambda parameter.
  assert.equal(render('SELECT @EACH([a, b], x -> t.x + x)'), 'SELECT t.x + a, t.x + b');
  assert.equal(render("SELECT @EACH(['a', 'b'], x -> @SQL('@x'))"), 'SELECT a, b');
});

test('@REDUCE and @FILTER', () => {
  assert.equal(
    render(
      'SELECT * FROM t WHERE @REDUCE(@EACH([col1, col2, col3], x -> x = 1), (x, y) -> x AND y)',
    ),
    'SELECT * FROM t WHERE col1 = 1 AND col2 = 1 AND col3 = 1',
  );
  assert.equal(
    render('SELECT @REDUCE([100, 200, 300], (x, y) -> x + y)'),
    'SELECT 100 + 200 + 300',
  );
  assert.equal(
    render('SELECT @REDUCE(@FILTER([1, 2, 3], x -> x > 1), (x, y) -> x + y)'),
    'SELECT 2 + 3',
  );
  assert.equal(
    render('SELECT @EVAL(@REDUCE(@FILTER([1, 2, 3], x -> x > 1), (x, y) -> x + y))'),
    'SELECT 5',
  );
  assert.equal(render("SELECT @FILTER(['a', 'b', 'c'], x -> x <> 'b')"), "SELECT 'a', 'c'");
  assert.equal(render('SELECT a, @FILTER([1, 2], x -> x > 5) FROM t'), 'SELECT a FROM t');
});

test('@SQL and @EVAL', () => {
  assert.equal(render("SELECT @SQL('@str_var + 1') FROM t"), 'SELECT cat + 1 FROM t');
  assert.equal(render('SELECT @SQL(@REDUCE([100, 200], (x, y) -> x + y))'), 'SELECT 300');
  assert.equal(
    render('SELECT @EVAL(5 + @int_var) AS six, @EVAL(1 = 1), @EVAL(7 / 2)'),
    'SELECT 6 AS six, TRUE, 3.5',
  );
});

test('@AND and @OR drop NULL arguments', () => {
  assert.equal(render('SELECT @AND(TRUE, NULL)'), 'SELECT TRUE');
  assert.equal(render('SELECT @OR(NULL, NULL)'), 'SELECT TRUE');
  assert.equal(
    render('SELECT * FROM t WHERE @AND(a = 1, NULL, b > 2)'),
    'SELECT * FROM t WHERE a = 1 AND b > 2',
  );
  assert.equal(render('SELECT @OR(a = 1 OR b = 2, c)'), 'SELECT (a = 1 OR b = 2) OR c');
  assert.equal(render('SELECT @AND(x BETWEEN 1 AND 2, @IF(FALSE, y))'), 'SELECT x BETWEEN 1 AND 2');
});

test('@GENERATE_SURROGATE_KEY', () => {
  assert.equal(
    render('SELECT @GENERATE_SURROGATE_KEY(a, b) AS col FROM foo'),
    "SELECT MD5(CONCAT(COALESCE(CAST(a AS TEXT), '_sqlmesh_surrogate_key_null_'), '|', COALESCE(CAST(b AS TEXT), '_sqlmesh_surrogate_key_null_'))) AS col FROM foo",
  );
  assert.equal(
    render("SELECT @GENERATE_SURROGATE_KEY(a, hash_function := 'SHA256')"),
    "SELECT SHA256(CONCAT(COALESCE(CAST(a AS TEXT), '_sqlmesh_surrogate_key_null_')))",
  );
  assert.equal(
    render('SELECT @GENERATE_SURROGATE_KEY(a)', { dialect: 'bigquery' }),
    "SELECT TO_HEX(MD5(CONCAT(COALESCE(CAST(a AS STRING), '_sqlmesh_surrogate_key_null_'))))",
  );
});

test('@SAFE_ADD, @SAFE_SUB, @SAFE_DIV', () => {
  assert.equal(
    render('SELECT @SAFE_ADD(a, b, c) FROM foo'),
    'SELECT CASE WHEN a IS NULL AND b IS NULL AND c IS NULL THEN NULL ELSE COALESCE(a, 0) + COALESCE(b, 0) + COALESCE(c, 0) END FROM foo',
  );
  assert.equal(
    render('SELECT @SAFE_SUB(a, b)'),
    'SELECT CASE WHEN a IS NULL AND b IS NULL THEN NULL ELSE COALESCE(a, 0) - COALESCE(b, 0) END',
  );
  assert.equal(
    render('SELECT @SAFE_DIV(a, b), @SAFE_DIV(a + 1, b)'),
    'SELECT a / NULLIF(b, 0), (a + 1) / NULLIF(b, 0)',
  );
});

test('@STAR uses the columns the caller knows', () => {
  const columnsOf = (table: string) =>
    table === 'foo'
      ? [
          { name: 'a', type: 'TEXT' },
          { name: 'b', type: 'TEXT' },
          { name: 'c', type: 'TEXT' },
          { name: 'd', type: 'INT' },
        ]
      : table === 'bar'
        ? ['x', 'y']
        : undefined;
  assert.equal(
    render("SELECT @STAR(foo, bar, [c], 'baz_', '_qux') FROM foo AS bar", { columnsOf }),
    'SELECT CAST("bar"."a" AS TEXT) AS "baz_a_qux", CAST("bar"."b" AS TEXT) AS "baz_b_qux", CAST("bar"."d" AS INT) AS "baz_d_qux" FROM foo AS bar',
  );
  assert.equal(
    render('SELECT @STAR(bar, exclude := [y], quote_identifiers := FALSE) FROM bar', { columnsOf }),
    'SELECT bar.x AS x FROM bar',
  );
  assert.match(
    renderError('SELECT @STAR(nope)', { columnsOf }).reason,
    /columns of nope are not known/,
  );
});

test('clause macros keep or drop their clause', () => {
  assert.equal(
    render('SELECT * FROM t @WHERE(1 < 2) x > @int_var GROUP BY 1'),
    'SELECT * FROM t WHERE x > 1 GROUP BY 1',
  );
  assert.equal(
    render('SELECT * FROM t @WHERE(1 > 2) x > 1 GROUP BY 1'),
    'SELECT * FROM t GROUP BY 1',
  );
  assert.equal(
    render('SELECT * FROM t @GROUP_BY(TRUE) a @ORDER_BY(FALSE) a @LIMIT(TRUE) 10'),
    'SELECT * FROM t GROUP BY a LIMIT 10',
  );
  assert.equal(
    render('SELECT * FROM a LEFT OUTER @JOIN(TRUE) b ON a.x = b.x'),
    'SELECT * FROM a LEFT OUTER JOIN b ON a.x = b.x',
  );
  assert.equal(
    render('SELECT * FROM a LEFT OUTER @JOIN(FALSE) b ON a.x = b.x WHERE 1 = 1').replace(
      /\s+/g,
      ' ',
    ),
    'SELECT * FROM a WHERE 1 = 1',
  );
});

test('macro names are case-insensitive; postgres operators are left alone', () => {
  assert.equal(render('SELECT @each([1], x -> x), @Safe_Div(a, b)'), 'SELECT 1, a / NULLIF(b, 0)');
  assert.equal(
    render("SELECT a @> b, c <@ d, @@version, 'a' || @str_var"),
    "SELECT a @> b, c <@ d, @@version, 'a' || 'cat'",
  );
});

test('errors carry file:line:column and one-line reasons', () => {
  const undef = renderError('SELECT\n  a,\n  @nope');
  assert.deepEqual(undef.location, { file: 'models/m.sql', line: 12, column: 3 });
  assert.match(undef.message, /^models\/m\.sql:12:3: undefined macro variable @nope/);
  assert.ok(!undef.message.includes('\n'));

  const unknown = renderError('SELECT @frobnicate(1)');
  assert.deepEqual(unknown.location, { file: 'models/m.sql', line: 10, column: 8 });
  assert.match(unknown.reason, /unknown macro function @frobnicate\(\)/);

  const arityErr = renderError('SELECT @IF(TRUE)');
  assert.deepEqual(arityErr.location, { file: 'models/m.sql', line: 10, column: 8 });
  assert.match(arityErr.reason, /@IF takes 2 or 3 arguments/);
  assert.match(renderError('SELECT @IF(a, b, c, d)').reason, /got 4 arguments/);

  const brace = renderError('SELECT x,\n  @{oops AS y');
  assert.deepEqual(brace.location, { file: 'models/m.sql', line: 11, column: 3 });
  assert.match(brace.reason, /unterminated '@\{'/);

  const glued = renderError('SELECT amount_@missing');
  assert.deepEqual(glued.location, { file: 'models/m.sql', line: 10, column: 15 });

  const paren = renderError('SELECT @IF(TRUE, a');
  assert.match(paren.reason, /missing its closing '\)'/);

  const cond = renderError("SELECT @IF(1 < 'a', x)");
  assert.match(cond.reason, /cannot evaluate/);
});

test('a fragment starting mid-line offsets the column of its first line only', () => {
  const scope = new MacroScope(context());
  assert.throws(
    () => scope.renderQuery(fragment('SELECT @bad,\n @worse', 3, 20)),
    (e: unknown) => e instanceof ProjectError && e.location?.line === 3 && e.location.column === 27,
  );
  assert.throws(
    () => scope.renderQuery(fragment('SELECT 1,\n @worse', 3, 20)),
    (e: unknown) => e instanceof ProjectError && e.location?.line === 4 && e.location.column === 2,
  );
});

test('renderMacroExpression renders one expression', () => {
  const loc = { file: 'models/m.sql', line: 5, column: 30 };
  assert.equal(renderMacroExpression('@int_var + 1', context(), loc), '1 + 1');
  assert.equal(renderMacroExpression('[a, b]', context(), loc), '[a, b]');
  assert.throws(
    () => renderMacroExpression('@x', context(), loc),
    (e: unknown) => e instanceof ProjectError && e.location?.column === 30,
  );
});

test('one scope renders 10,000 queries, each with its own values', () => {
  const scope = new MacroScope(context());
  scope.renderStatement(fragment('@DEF(size, 10)'));
  for (let i = 0; i < 10_000; i++) {
    const q = fragment(
      `SELECT id, amount_@str_var, @IF(@size > ${i % 20}, a, b) FROM t WHERE ds BETWEEN @start_ds AND @end_ds AND n = ${i}`,
    );
    const expected = `SELECT id, amount_cat, ${i % 20 < 10 ? 'a' : 'b'} FROM t WHERE ds BETWEEN '2024-01-01' AND '2024-01-01' AND n = ${i}`;
    assert.equal(scope.renderQuery(q), expected, `query ${i}`);
  }
});
