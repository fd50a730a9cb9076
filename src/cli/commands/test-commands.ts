import type { Command } from 'commander';
import { loadProject } from '../../engine/project/project-loader.js';
import { runUnitTests, type UnitTestResult } from '../../engine/unittest/test-runner.js';
import { type CliIo, globalOptions } from '../cli-context.js';
import { toJson } from '../output.js';

interface TestFlags {
  k?: string;
  verbose?: boolean;
  json?: boolean;
}

function indent(text: string): string[] {
  return text.split('\n').map((line) => `  ${line}`);
}

/** What a user reads about one failed test: a heading, then the diff or the error. */
export function formatFailure(result: UnitTestResult): string[] {
  const out = [`FAIL: ${result.name} (${result.file})`];
  if (result.description) out.push(`  ${result.description}`);
  if (result.error) out.push(...indent(`Error: ${result.error}`));
  if (result.diff) out.push(...indent(result.diff));
  return out;
}

export function registerTestCommands(program: Command, io: CliIo): void {
  program
    .command('test')
    .description("run the project's unit tests (tests/test*.yaml)")
    .argument('[tests...]', 'tests to run: test_name, tests/file.yaml::test_name or a test file')
    .option('-k <pattern>', 'only tests whose name contains this text or matches this glob')
    .option('-v, --verbose', 'list every test with its result and time')
    .option('--json', 'print the results as JSON')
    .action(async (tests: string[], opts: TestFlags, cmd: Command) => {
      const { root, gateway } = globalOptions(cmd);
      const project = await loadProject(root, {
        env: io.env,
        ...(gateway ? { gateway } : {}),
      });
      for (const w of project.warnings) io.err(`Warning: ${w}`);
      const started = Date.now();
      const run = await runUnitTests(project, {
        ...(tests.length > 0 ? { names: tests } : {}),
        ...(opts.k !== undefined ? { pattern: opts.k } : {}),
      });
      io.exitCode = run.failed > 0 ? 1 : 0;
      if (opts.json) {
        io.out(toJson(run));
        return;
      }
      for (const result of run.results) {
        if (opts.verbose && result.passed) {
          io.out(`PASS: ${result.name} (${result.file}) ${result.durationMs}ms`);
        }
        if (!result.passed) for (const line of formatFailure(result)) io.err(line);
      }
      const seconds = ((Date.now() - started) / 1000).toFixed(2);
      if (run.results.length === 0) io.out('No unit tests to run.');
      else io.out(`Ran ${run.results.length} test(s) in ${seconds}s`);
      io.out(`${run.passed} passed, ${run.failed} failed`);
    });
}
