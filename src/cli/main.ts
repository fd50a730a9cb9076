import { Command } from 'commander';

/** Entry point of the `tideline` command; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = new Command('tideline');
  program.version('0.1.0');
  await program.parseAsync(argv);
  return 0;
}
