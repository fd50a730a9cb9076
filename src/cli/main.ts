import { Command, CommanderError } from 'commander';
import { TidelineError } from '../engine/errors.js';
import { registerAuditCommands } from './commands/audit-commands.js';
import { registerCloudCommands } from './commands/cloud-commands.js';
import { registerExecutorCommands } from './commands/executor-commands.js';
import { registerPlanCommands } from './commands/plan-commands.js';
import { registerProjectCommands } from './commands/project-commands.js';
import { registerTestCommands } from './commands/test-commands.js';
import { registerUpCommand } from './commands/up-command.js';
import { CLI_VERSION, type CliIo, processIo } from './cli-context.js';

/** Exit codes: 0 success, 1 the work failed (or the project is wrong), 2 bad command line. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Builds the `tideline` program; `io` receives all output. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('tideline');
  program
    .description('Plan, run and schedule SQLMesh-format data projects.')
    .version(CLI_VERSION, '--version', 'print the version and exit')
    .option('-p, --paths <dir>', 'the project folder', '.')
    .option('--gateway <name>', 'the gateway to use (default: the config default)')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
    })
    .exitOverride();
  registerProjectCommands(program, io);
  registerPlanCommands(program, io);
  registerAuditCommands(program, io);
  registerTestCommands(program, io);
  registerExecutorCommands(program, io);
  registerCloudCommands(program, io);
  registerUpCommand(program, io);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/** Entry point of the `tideline` command; returns the exit code. */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
    return io.exitCode ?? EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version')
        return EXIT.ok;
      if (err.code === 'commander.help') return EXIT.ok;
      return EXIT.usage;
    }
    if (err instanceof TidelineError) {
      io.err(`Error: ${err.message}`);
      return EXIT.failed;
    }
    io.err(`Error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return EXIT.failed;
  }
}
