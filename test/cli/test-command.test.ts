/**
 * `tideline test`: the summary line, exit codes, the diff of a failing test,
 * choosing tests by name and with -k, and one-line errors for bad files.
 * The command is registered on a program of its own with captured output.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Command, CommanderError } from 'commander';
import type { CliIo } from '../../src/cli/cli-context.js';
import { registerTestCommands } from '../../src/cli/commands/test-commands.js';
import { TidelineError } from '../../src/engine/errors.js';
import { fixturesDir } from '../helpers/paths.js';

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs `tideline <args>` with only the test command registered, as main() would. */
async function tideline(...args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    env: {},
    interactive: false,
  };
  const program = new Command('tideline')
    .option('-p, --paths <dir>', 'the project folder', '.')
    .option('--gateway <name>', 'the gateway to use')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride();
  registerTestCommands(program, io);
  for (const c of program.commands) c.exitOverride();
  let code: number;
  try {
    await program.parseAsync(['node', 'tideline', ...args]);
    code = io.exitCode ?? 0;
  } catch (e) {
    if (e instanceof CommanderError) code = 2;
    else if (e instanceof TidelineError) {
      io.err(`Error: ${e.message}`);
      code = 1;
    } else throw e;
  }
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('tideline test', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tideline-test-cmd-'));
    cpSync(join(fixturesDir, 'unittest', 'shop'), dir, { recursive: true });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('all passing: exit 0 and the summary line on its own', async () => {
    const run = await tideline('-p', dir, 'test');
    assert.equal(run.code, 0, run.err);
    const lines = run.out.split('\n');
    assert.equal(lines.at(-1), '14 passed, 0 failed');
    assert.match(lines.at(-2) ?? '', /^Ran 14 test\(s\) in \d+\.\d\ds$/);
    assert.equal(run.err, '');
  });

  test('named tests and -k choose what runs', async () => {
    const named = await tideline(
      '-p',
      dir,
      'test',
      'test_ranked_csv',
      'tests/test_shop.yaml::test_enriched_rows',
      '--verbose',
    );
    assert.equal(named.code, 0, named.err);
    assert.match(named.out, /^PASS: test_ranked_csv \(tests\/nested\/test_more\.yml\) \d+ms$/m);
    assert.match(named.out, /^PASS: test_enriched_rows \(tests\/test_shop\.yaml\) \d+ms$/m);
    assert.equal(named.out.split('\n').at(-1), '2 passed, 0 failed');

    const pattern = await tideline('-p', dir, 'test', '-k', 'test_ranked_*');
    assert.equal(pattern.out.split('\n').at(-1), '5 passed, 0 failed');
    const substring = await tideline('-p', dir, 'test', '-k', 'nested/');
    assert.equal(substring.out.split('\n').at(-1), '4 passed, 0 failed');
  });

  test('a failing test: exit 1, its name and diff on stderr, counted in the summary', async () => {
    writeFileSync(
      join(dir, 'tests', 'test_failing.yaml'),
      `
test_wrong_total:
  description: Bob spent 30, not 31
  model: shop.ranked
  inputs:
    shop.orders_enriched:
      - {name: Bob, amount: 30}
  outputs:
    query:
      - {name: Bob, spent: 31}
`,
    );
    try {
      const run = await tideline('-p', dir, 'test');
      assert.equal(run.code, 1);
      assert.equal(run.out.split('\n').at(-1), '14 passed, 1 failed');
      assert.equal(
        run.err,
        [
          'FAIL: test_wrong_total (tests/test_failing.yaml)',
          '  Bob spent 30, not 31',
          '  Data mismatch in the query (- expected, + actual, compared in order): 1 expected row(s), 1 actual; 1 expected not found, 1 not expected',
          '      #  name  spent',
          '    - 1  Bob   31',
          '    + 1  Bob   30',
        ].join('\n'),
      );
      const json = await tideline('-p', dir, 'test', '--json', 'test_wrong_total');
      assert.equal(json.code, 1);
      const parsed = JSON.parse(json.out) as { passed: number; failed: number; results: unknown[] };
      assert.equal(parsed.passed, 0);
      assert.equal(parsed.failed, 1);
    } finally {
      rmSync(join(dir, 'tests', 'test_failing.yaml'));
    }
  });

  test('an unknown test name or a malformed file is a one-line error with exit 1', async () => {
    const unknown = await tideline('-p', dir, 'test', 'test_nope');
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /^Error: no unit test matches test_nope/);
    assert.equal(unknown.err.split('\n').length, 1);

    writeFileSync(
      join(dir, 'tests', 'test_broken.yaml'),
      'test_x:\n  model: shop.ranked\n  inputs: 3\n  outputs:\n    query: []\n',
    );
    try {
      const bad = await tideline('-p', dir, 'test');
      assert.equal(bad.code, 1);
      assert.equal(
        bad.err,
        'Error: tests/test_broken.yaml:3:11: inputs of test test_x must be a mapping of table names to rows',
      );
    } finally {
      rmSync(join(dir, 'tests', 'test_broken.yaml'));
    }
  });

  test('no tests at all still prints the summary and exits 0', async () => {
    const empty = await tideline('-p', dir, 'test', '-k', 'matches_nothing');
    assert.equal(empty.code, 0);
    assert.deepEqual(empty.out.split('\n'), ['No unit tests to run.', '0 passed, 0 failed']);
  });
});
