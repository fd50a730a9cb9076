/**
 * `tideline plan`, `run` and `janitor` from the command line: output, exit
 * codes, prompts without a terminal, JSON, and one-line errors for bad input.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { runCli, tempDir } from './run-cli.js';

function assertOneLine(text: string): void {
  const lines = text.split('\n').filter((l) => !l.startsWith('Warning:'));
  assert.equal(lines.length, 1, `expected one line, got:\n${text}`);
  assert.doesNotMatch(text, /^\s+at /m);
}

function edit(dir: string, file: string, from: string, to: string): void {
  const path = join(dir, file);
  const text = readFileSync(path, 'utf8');
  assert.ok(text.includes(from), `${file} should contain ${from}`);
  writeFileSync(path, text.replace(from, to));
}

describe('plan and run commands', () => {
  let dir = '';
  const cli = (...args: string[]) => runCli(['-p', dir, ...args]);

  before(async () => {
    dir = tempDir();
    const init = await runCli(['-p', dir, 'init', 'duckdb']);
    assert.equal(init.code, 0, init.err);
  });

  test('without a terminal and without --auto-apply, plan shows the plan and applies nothing', async () => {
    const run = await cli('plan', '--execution-time', '2020-01-10');
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /`prod` environment will be initialized/);
    assert.match(run.out, /└── Added:/);
    assert.match(run.out, /sqlmesh_example\.incremental_model: 2020-01-01 - 2020-01-09/);
    assert.match(run.out, /Not applied: run with --auto-apply/);
    const nothing = await cli('run');
    assert.equal(nothing.code, 1);
    assert.match(
      nothing.err,
      /environment "prod" does not exist; create it with `tideline plan prod`/,
    );
    assertOneLine(nothing.err);
  });

  test('plan runs the unit tests first and stops when one fails, unless --skip-tests', async () => {
    edit(dir, 'tests/test_full_model.yaml', 'num_orders: 3', 'num_orders: 30');
    const failed = await cli('plan', '--execution-time', '2020-01-10');
    assert.equal(failed.code, 1);
    assert.match(failed.err, /FAIL: test_full_model/);
    assert.match(failed.err, /^0 passed, 1 failed$/m);
    assert.match(failed.err, /unit tests failed; fix them, or plan with --skip-tests/);
    assert.doesNotMatch(failed.out, /environment will be initialized/);
    const skipped = await cli('plan', '--execution-time', '2020-01-10', '--skip-tests');
    assert.equal(skipped.code, 0, skipped.err);
    assert.match(skipped.out, /environment will be initialized/);
    edit(dir, 'tests/test_full_model.yaml', 'num_orders: 30', 'num_orders: 3');
    const passing = await cli('plan', '--execution-time', '2020-01-10');
    assert.match(passing.out, /^Unit tests: 1 passed, 0 failed$/m);
  });

  test('--explain lists the steps and --json prints the plan', async () => {
    const explain = await cli('plan', '--execution-time', '2020-01-10', '--explain');
    assert.equal(explain.code, 0, explain.err);
    assert.match(explain.out, /1\. Create 3 physical table\(s\)/);
    assert.match(explain.out, /2\. Backfill 3 model\(s\)/);
    const json = await cli('plan', '--execution-time', '2020-01-10', '--json');
    assert.equal(json.code, 0, json.err);
    const plan = JSON.parse(json.out) as { environment: string; changes: Array<{ type: string }> };
    assert.equal(plan.environment, 'prod');
    assert.deepEqual(
      plan.changes.map((c) => c.type),
      ['added', 'added', 'added'],
    );
  });

  test('--auto-apply backfills with progress and updates the views', async () => {
    const run = await cli('plan', '--auto-apply', '--execution-time', '2020-01-10');
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /\[#+\] 100% 3\/3 /);
    assert.match(run.out, /Applied plan to `prod`: 3 evaluation\(s\)/);
    const rows = await cli(
      'fetchdf',
      'SELECT COUNT(*) AS n FROM sqlmesh_example.incremental_model',
    );
    assert.match(rows.out, /\b8\b/);
    const again = await cli('plan', '--auto-apply', '--execution-time', '2020-01-10');
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /No changes to plan/);
    assert.match(again.out, /Nothing to apply: `prod` is up to date/);
  });

  test('run evaluates what is due once, then nothing', async () => {
    const first = await cli('run', '--execution-time', '2020-01-11');
    assert.equal(first.code, 0, first.err);
    assert.match(first.out, /Run finished: 2 evaluation\(s\) of 2 model\(s\)/);
    const second = await cli('run', '--execution-time', '2020-01-11');
    assert.equal(second.code, 0, second.err);
    assert.match(second.out, /Nothing to run in `prod`: no model is due/);
  });

  test('a changed model shows its diff and category; --categorize overrides it', async () => {
    edit(
      dir,
      'models/full_model.sql',
      'COUNT(DISTINCT id) AS num_orders',
      'COUNT(DISTINCT id) AS num_orders,\n  MAX(id) AS last_id',
    );
    const shown = await cli('plan', 'dev', '--skip-tests', '--execution-time', '2020-01-11');
    assert.equal(shown.code, 0, shown.err);
    assert.match(shown.out, /Differences from the `prod` environment:/);
    assert.match(shown.out, /^\+\s+MAX\(id\) AS last_id/m);
    assert.match(shown.out, /Directly Modified: sqlmesh_example\.full_model \(Non-breaking\)/);
    const noDiff = await cli(
      'plan',
      'dev',
      '--skip-tests',
      '--execution-time',
      '2020-01-11',
      '--no-diff',
    );
    assert.doesNotMatch(noDiff.out, /^\+\s+MAX/m);
    const forced = await cli(
      'plan',
      'dev',
      '--skip-tests',
      '--execution-time',
      '2020-01-11',
      '--categorize',
      'sqlmesh_example.full_model=breaking',
    );
    assert.match(
      forced.out,
      /Directly Modified: sqlmesh_example\.full_model \(Breaking, set by you\)/,
    );
  });

  test('a failing model fails the plan with its name and exit code 1', async () => {
    edit(dir, 'models/full_model.sql', 'MAX(id) AS last_id', 'MAX(no_such_column) AS last_id');
    const run = await cli(
      'plan',
      'dev',
      '--skip-tests',
      '--auto-apply',
      '--execution-time',
      '2020-01-11',
    );
    assert.equal(run.code, 1);
    assert.match(run.err, /sqlmesh_example\.full_model/);
    assert.match(run.err, /no_such_column/);
    assert.match(run.err, /plan for `dev` failed/);
    edit(dir, 'models/full_model.sql', 'MAX(no_such_column) AS last_id', 'MAX(id) AS last_id');
    const fixed = await cli(
      'plan',
      'dev',
      '--skip-tests',
      '--auto-apply',
      '--execution-time',
      '2020-01-11',
    );
    assert.equal(fixed.code, 0, fixed.err);
  });

  test('janitor removes an expired environment', async () => {
    const cfg = join(dir, 'config.yaml');
    writeFileSync(cfg, readFileSync(cfg, 'utf8') + '\nenvironment_ttl: in 1 second\n');
    edit(dir, 'models/full_model.sql', 'MAX(id) AS last_id', 'MIN(id) AS first_id');
    const made = await cli(
      'plan',
      'temp',
      '--skip-tests',
      '--auto-apply',
      '--execution-time',
      '2020-01-11',
    );
    assert.equal(made.code, 0, made.err);
    const before = await cli(
      'fetchdf',
      'SELECT COUNT(*) AS n FROM sqlmesh_example__temp.full_model',
    );
    assert.equal(before.code, 0, before.err);
    await new Promise((r) => setTimeout(r, 1100));
    const janitor = await cli('janitor');
    assert.equal(janitor.code, 0, janitor.err);
    assert.match(janitor.out, /Removed \d+ expired environment\(s\) \([^)]*temp[^)]*\)/);
    const gone = await cli('fetchdf', 'SELECT COUNT(*) AS n FROM sqlmesh_example__temp.full_model');
    assert.equal(gone.code, 1);
    const prod = await cli('fetchdf', 'SELECT COUNT(*) AS n FROM sqlmesh_example.full_model');
    assert.equal(prod.code, 0, prod.err);
  });
});

describe('plan and run refuse bad input with one line', () => {
  let dir = '';
  before(async () => {
    dir = tempDir();
    assert.equal((await runCli(['-p', dir, 'init', 'duckdb'])).code, 0);
  });

  const cases: Array<{ args: string[]; code: number; message: RegExp }> = [
    {
      args: ['plan', 'dev', '--start', '2020-01-05', '--end', '2020-01-01'],
      code: 1,
      message: /--start \(2020-01-05.*\) must be before --end/,
    },
    {
      args: ['plan', '--start', '2020-01-05'],
      code: 1,
      message: /--start and --end apply to plans of dev environments or restatements/,
    },
    {
      args: ['plan', 'dev', '--end', '2999-01-01'],
      code: 1,
      message: /--end \(2999-01-02.*\) is in the future/,
    },
    { args: ['plan', 'bad env!'], code: 1, message: /invalid environment name "bad env!"/ },
    {
      args: ['plan', '--restate-model', 'nope.nothing'],
      code: 1,
      message: /no model named nope\.nothing/,
    },
    {
      args: ['plan', '--categorize', 'full_model'],
      code: 2,
      message: /MODEL=breaking or MODEL=non-breaking/,
    },
    {
      args: ['plan', '--execution-time', 'next tuesday-ish'],
      code: 1,
      message: /next tuesday-ish/,
    },
    { args: ['plan', '--start', 'soonish'], code: 1, message: /soonish/ },
    { args: ['run', 'nosuchenv'], code: 1, message: /environment "nosuchenv" does not exist/ },
    { args: ['run', '--execution-time', '2020-13-45'], code: 1, message: /2020-13-45/ },
    {
      args: ['run', '--select-model', 'ghost'],
      code: 1,
      message: /no model named ghost|does not exist/,
    },
    { args: ['plan', '--bogus-flag'], code: 2, message: /unknown option '--bogus-flag'/ },
  ];
  for (const c of cases) {
    test(`${c.args.join(' ')}`, async () => {
      const run = await runCli(['-p', dir, ...c.args]);
      assert.equal(run.code, c.code, run.out + run.err);
      assert.match(run.err, c.message);
      if (c.code === 1) assertOneLine(run.err);
    });
  }
});
