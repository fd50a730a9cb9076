import { Command, CommanderError } from 'commander';
import { TidelineError } from '../engine/errors.js';
import { CLI_VERSION, type CliIo, processIo } from './cli-context.js';

/** Exit codes: 0 success, 1 the work failed (or the project is wrong), 2 bad command line. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

type Registrar = (program: Command, io: CliIo) => void;

/**
 * The command modules, loaded when needed: an executor process loads only its
 * own (the engine's SQL parser and drivers wait for its first task).
 */
async function registrars(only?: 'executor'): Promise<Registrar[]> {
  if (only === 'executor') {
    return [(await import('./commands/executor-commands.js')).registerExecutorCommands];
  }
  const [project, plan, audit, test, executor, cloud, up] = await Promise.all([
    import('./commands/project-commands.js'),
    import('./commands/plan-commands.js'),
    import('./commands/audit-commands.js'),
    import('./commands/test-commands.js'),
    import('./commands/executor-commands.js'),
    import('./commands/cloud-commands.js'),
    import('./commands/up-command.js'),
  ]);
  return [
    project.registerProjectCommands,
    plan.registerPlanCommands,
    audit.registerAuditCommands,
    test.registerTestCommands,
    executor.registerExecutorCommands,
    cloud.registerCloudCommands,
    up.registerUpCommand,
  ];
}

/** Builds the `tideline` program; `io` receives all output. */
export async function buildProgram(io: CliIo, only?: 'executor'): Promise<Command> {
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
  for (const register of await registrars(only)) register(program, io);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

/** Entry point of the `tideline` command; returns the exit code. */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const program = await buildProgram(io, argv[2] === 'executor' ? 'executor' : undefined);
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
