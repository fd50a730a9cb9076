/**
 * `tideline audit`: the audits of an environment's models run against their
 * tables, one line per audit, a summary, and exit code 1 when a blocking
 * audit fails.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { Command } from 'commander';
import type { CliIo } from '../../src/cli/cli-context.js';
import { registerAuditCommands } from '../../src/cli/commands/audit-commands.js';
import { TidelineError } from '../../src/engine/errors.js';
import { runCli, tempDir, type CliRun } from './run-cli.js';

/** Runs `tideline -p dir audit ...` through a program holding only the audit command. */
async function auditCli(dir: string, ...args: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    env: {},
    interactive: false,
  };
  const program = new Command('tideline').option('-p, --paths <dir>').exitOverride();
  registerAuditCommands(program, io);
  let code = 0;
  try {
    await program.parseAsync([process.execPath, 'tideline', '-p', dir, 'audit', ...args]);
    code = io.exitCode ?? 0;
  } catch (e) {
    if (!(e instanceof TidelineError)) throw e;
    err.push(`Error: ${e.message}`);
    code = 1;
  }
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const ITEMS_MODEL = `MODEL (
  name sqlmesh_example.items_view,
  kind VIEW,
  audits (
    not_null(columns := [name]),
    unique_values_non_blocking(columns := [id]),
    later
  )
);
SELECT id, name FROM raw.items;

AUDIT (name later, skip true);
SELECT * FROM @this_model WHERE id < 0;
`;

describe('audit command', () => {
  let dir = '';
  const cli = (...args: string[]) => runCli(['-p', dir, ...args]);

  before(async () => {
    dir = tempDir();
    assert.equal((await cli('init', 'duckdb')).code, 0);
    for (const sql of [
      'CREATE SCHEMA raw',
      "CREATE TABLE raw.items AS SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(id, name)",
    ]) {
      const run = await cli('fetchdf', sql);
      assert.equal(run.code, 0, run.err);
    }
    writeFileSync(join(dir, 'models', 'items_view.sql'), ITEMS_MODEL);
    const plan = await cli('plan', '--auto-apply', '--execution-time', '2020-01-10');
    assert.equal(plan.code, 0, plan.err);
  });

  test('every audit passes on good data', async () => {
    const run = await auditCli(dir, '--execution-time', '2020-01-10');
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /^Found 4 audit\(s\) on 2 model\(s\) in `prod`/);
    assert.match(run.out, /^PASS  sqlmesh_example\.full_model: assert_positive_order_ids$/m);
    assert.match(run.out, /^PASS  sqlmesh_example\.items_view: not_null$/m);
    assert.match(run.out, /^PASS  sqlmesh_example\.items_view: unique_values_non_blocking$/m);
    assert.match(run.out, /^SKIP  sqlmesh_example\.items_view: later$/m);
    assert.match(run.out, /4 audit\(s\): 3 passed, 0 failed, 0 warned, 1 skipped\.$/);
  });

  test('bad rows fail blocking audits (exit 1) and warn for non-blocking ones', async () => {
    const insert = await cli('fetchdf', "INSERT INTO raw.items VALUES (1, NULL), (3, 'c')");
    assert.equal(insert.code, 0, insert.err);
    const run = await auditCli(dir);
    assert.equal(run.code, 1);
    assert.match(run.out, /^FAIL  sqlmesh_example\.items_view: not_null \(1 row\)$/m);
    assert.match(
      run.out,
      /^WARN  sqlmesh_example\.items_view: unique_values_non_blocking \(1 row\)$/m,
    );
    assert.match(
      run.out,
      /^Failure: audit not_null failed for sqlmesh_example\.items_view: 1 row\(s\), first: \{"id":1,"name":null\}$/m,
    );
    assert.match(run.out, /^Warning: audit unique_values_non_blocking failed/m);
    assert.match(run.out, /4 audit\(s\): 1 passed, 1 failed, 1 warned, 1 skipped\.$/);

    const json = await auditCli(dir, '--json');
    assert.equal(json.code, 1);
    const parsed = JSON.parse(json.out) as {
      environment: string;
      models: Array<{ model: string; results: Array<{ name: string; failingRows: number }> }>;
    };
    assert.equal(parsed.environment, 'prod');
    const items = parsed.models.find((m) => m.model === 'sqlmesh_example.items_view');
    assert.deepEqual(
      items?.results.map((r) => [r.name, r.failingRows]),
      [
        ['not_null', 1],
        ['unique_values_non_blocking', 1],
        ['later', 0],
      ],
    );
  });

  test('--model limits the audit to the models named', async () => {
    const run = await auditCli(dir, '--model', 'sqlmesh_example.full_model');
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, /Found 1 audit\(s\) on 1 model\(s\)/);
    assert.doesNotMatch(run.out, /items_view/);
    const unknown = await auditCli(dir, '--model', 'sqlmesh_example.nope');
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /^Error: .*sqlmesh_example\.nope/);
  });

  test('an environment that does not exist is an error', async () => {
    const run = await auditCli(dir, 'dev');
    assert.equal(run.code, 1);
    assert.match(run.err, /environment "dev" does not exist; create it with `tideline plan dev`/);
    assert.equal(run.err.split('\n').length, 1);
  });
});
