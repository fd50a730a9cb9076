import { InvalidArgumentError, type Command } from 'commander';
import { createAdapter, describeConnectionError } from '../../engine/adapters/adapter-factory.js';
import { TidelineError } from '../../engine/errors.js';
import { loadProject, type Project } from '../../engine/project/project-loader.js';
import { renderModel } from '../../engine/project/model-renderer.js';
import { writeStarterProject } from '../../engine/starter/starter-project.js';
import { toTimestamp } from '../../engine/time/time-values.js';
import { type CliIo, globalOptions } from '../cli-context.js';
import { formatTable, toJson } from '../output.js';

async function openProject(cmd: Command, io: CliIo): Promise<Project> {
  const { root, gateway } = globalOptions(cmd);
  const project = await loadProject(root, { env: io.env, ...(gateway ? { gateway } : {}) });
  for (const w of project.warnings) io.err(`Warning: ${w}`);
  return project;
}

function engineArg(value: string): 'duckdb' | 'postgres' {
  if (value === 'duckdb' || value === 'postgres') return value;
  throw new InvalidArgumentError('choose duckdb or postgres.');
}

export function registerProjectCommands(program: Command, io: CliIo): void {
  program
    .command('init')
    .description("write SQLMesh's starter project into the project folder")
    .argument('[engine]', 'duckdb or postgres', engineArg, 'duckdb')
    .action((engine: 'duckdb' | 'postgres', _opts: unknown, cmd: Command) => {
      const { root } = globalOptions(cmd);
      const written = writeStarterProject(root, engine);
      io.out(`Created a ${engine} project in ${root}:`);
      for (const f of written) io.out(`  ${f}`);
    });

  program
    .command('info')
    .description('count models, macros, seeds and tests, and check each gateway connection')
    .option('--skip-connection', 'do not test the connections')
    .option('--json', 'print JSON')
    .action(async (opts: { skipConnection?: boolean; json?: boolean }, cmd: Command) => {
      const project = await openProject(cmd, io);
      const gateways: Array<{ name: string; type?: string; ok?: boolean; error?: string }> = [];
      for (const [name, gw] of Object.entries(project.config.gateways)) {
        const entry: (typeof gateways)[number] = { name };
        if (gw.connection) entry.type = gw.connection.type;
        if (!opts.skipConnection && gw.connection) {
          const adapter = createAdapter(gw.connection, { projectRoot: project.root });
          try {
            await adapter.ping();
            entry.ok = true;
          } catch (err) {
            entry.ok = false;
            entry.error = describeConnectionError(err);
          } finally {
            await adapter.close().catch(() => {});
          }
        }
        gateways.push(entry);
      }
      const counts = project.counts();
      if (opts.json) {
        io.out(toJson({ ...counts, defaultGateway: project.gatewayName, gateways }));
      } else {
        io.out(`Models: ${counts.models}`);
        io.out(`Macros: ${counts.macros}`);
        io.out(`Seeds: ${counts.seeds}`);
        io.out(`Tests: ${counts.tests}`);
        for (const g of gateways) {
          const label = `Gateway ${g.name}${g.type ? ` (${g.type})` : ''}`;
          if (g.ok === undefined) io.out(`${label}: connection not tested`);
          else if (g.ok) io.out(`${label}: Data warehouse connection succeeded`);
          else io.out(`${label}: Data warehouse connection failed: ${g.error}`);
        }
      }
      if (gateways.some((g) => g.ok === false)) io.exitCode = 1;
    });

  program
    .command('render')
    .description('print the SQL that evaluating MODEL would run')
    .argument('<model>', 'model name')
    .option('-s, --start <time>', 'interval start (date, timestamp or relative like "1 day ago")')
    .option('-e, --end <time>', 'interval end (inclusive of a whole day when a date)')
    .option('--execution-time <time>', 'the execution time (default: now)')
    .option('--dialect <dialect>', 'render in this SQL dialect (default: the gateway engine)')
    .option('--no-format', 'print the query on one line')
    .action(
      async (
        name: string,
        opts: {
          start?: string;
          end?: string;
          executionTime?: string;
          dialect?: string;
          format: boolean;
        },
        cmd: Command,
      ) => {
        const project = await openProject(cmd, io);
        const now = Date.now();
        const executionTime = opts.executionTime ? toTimestamp(opts.executionTime, now) : now;
        const sql = renderModel(project, name, {
          ...(opts.start ? { start: opts.start } : {}),
          ...(opts.end ? { end: opts.end } : {}),
          executionTime,
          ...(opts.dialect ? { dialect: opts.dialect } : {}),
          pretty: opts.format,
        });
        io.out(sql);
      },
    );

  program
    .command('dag')
    .description('list models and their dependencies, in dependency order')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const project = await openProject(cmd, io);
      const order = project.dag.topologicalOrder();
      const nodes = order
        .map((fqn) => project.models.get(fqn))
        .filter((m) => m !== undefined)
        .map((m) => ({
          name: m.name,
          kind: m.definition.kind.name,
          dependsOn: m.dependencies.map((d) => project.models.get(d)?.name ?? d),
        }));
      if (opts.json) {
        io.out(toJson({ models: nodes }));
        return;
      }
      for (const n of nodes) {
        io.out(n.dependsOn.length ? `${n.name} <- ${n.dependsOn.join(', ')}` : n.name);
      }
    });

  program
    .command('fetchdf')
    .description('run a SQL query on the gateway and print the result')
    .argument('<sql>', 'the query')
    .option('--json', 'print the rows as JSON')
    .action(async (sql: string, opts: { json?: boolean }, cmd: Command) => {
      const project = await openProject(cmd, io);
      const connection = project.gateway.connection;
      if (!connection) {
        throw new TidelineError(
          `gateway ${project.gatewayName} has no connection; add one to config.yaml`,
        );
      }
      const adapter = createAdapter(connection, { projectRoot: project.root });
      try {
        const result = await adapter.query(sql);
        if (opts.json) io.out(toJson(result.rows));
        else
          io.out(
            formatTable(
              result.columns.map((c) => c.name),
              result.rows,
            ),
          );
      } finally {
        await adapter.close();
      }
    });
}
