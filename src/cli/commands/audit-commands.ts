import type { Command } from 'commander';
import { runModelAudits, type AuditResult } from '../../engine/audit/audit-runner.js';
import { describeAuditFailure } from '../../engine/audit/audit-types.js';
import { NotFoundError } from '../../engine/errors.js';
import { hasPhysicalTable } from '../../engine/evaluate/snapshot-evaluator.js';
import { LocalContext } from '../../engine/local-context.js';
import { environmentSnapshots } from '../../engine/plan/runner.js';
import { normalizeEnvironmentName } from '../../engine/snapshot/table-naming.js';
import { formatIntervals, toEndTimestamp, toTimestamp } from '../../engine/time/index.js';
import { type CliIo, globalOptions } from '../cli-context.js';
import { toJson } from '../output.js';

interface AuditFlags {
  model?: string[];
  start?: string;
  end?: string;
  executionTime?: string;
  json?: boolean;
}

/** One model's audit outcome, as the command reports it. */
interface ModelAudits {
  model: string;
  results: AuditResult[];
  /** Set when the model's audits could not be run at all. */
  error?: string;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function rows(n: number): string {
  return `${n} row${n === 1 ? '' : 's'}`;
}

/** The status word of a result: PASS, FAIL (blocking), WARN (non-blocking) or SKIP. */
export function auditStatus(result: AuditResult): 'PASS' | 'FAIL' | 'WARN' | 'SKIP' {
  if (result.skipped) return 'SKIP';
  if (result.passed) return 'PASS';
  return result.blocking ? 'FAIL' : 'WARN';
}

function statusLine(model: string, result: AuditResult): string {
  const status = auditStatus(result);
  const detail =
    status === 'PASS' || status === 'SKIP'
      ? ''
      : result.error !== undefined
        ? ' (error)'
        : ` (${rows(result.failingRows)})`;
  return `${status.padEnd(4)}  ${model}: ${result.name}${detail}`;
}

export function registerAuditCommands(program: Command, io: CliIo): void {
  program
    .command('audit')
    .description("run the audits of an environment's models against their tables")
    .argument('[environment]', 'the environment to audit (default: prod)')
    .option('--model <model>', 'audit only this model (repeatable)', collect)
    .option('-s, --start <time>', "start of the range to audit (default: the environment's start)")
    .option('-e, --end <time>', 'end of the range to audit (default: now)')
    .option('--execution-time <time>', 'the time the audits run as (default: now)')
    .option('--json', 'print the results as JSON')
    .action(async (environment: string | undefined, opts: AuditFlags, cmd: Command) => {
      const { root, gateway } = globalOptions(cmd);
      const ctx = await LocalContext.open(root, { env: io.env, ...(gateway ? { gateway } : {}) });
      try {
        for (const w of ctx.project.warnings) io.err(`Warning: ${w}`);
        const envName = normalizeEnvironmentName(environment ?? 'prod');
        const snapshots = await environmentSnapshots(ctx.state, envName);
        const env = await ctx.state.getEnvironment(envName);
        const now = ctx.clock.now();
        const executionTime =
          opts.executionTime !== undefined ? toTimestamp(opts.executionTime, now) : now;
        const start = opts.start !== undefined ? toTimestamp(opts.start, now) : (env?.startAt ?? 0);
        const end =
          opts.end !== undefined ? toEndTimestamp(opts.end, now) : (env?.endAt ?? executionTime);

        const wanted = opts.model?.map((m) => ctx.resolveModel(m));
        for (const name of wanted ?? []) {
          if (!snapshots.some((s) => s.name === name)) {
            throw new NotFoundError(
              `model ${ctx.showName(name)} is not in environment \`${envName}\`; plan it first or pick another --model`,
            );
          }
        }
        const tables = new Map<string, string>();
        for (const s of snapshots) {
          if (hasPhysicalTable(s.node.definition)) {
            tables.set(s.name, ctx.adapter.tableName(ctx.evaluator.physicalTable(s)));
          }
        }
        const audited = snapshots.filter(
          (s) =>
            (wanted === undefined || wanted.includes(s.name)) &&
            s.node.definition.audits.length > 0 &&
            tables.has(s.name),
        );

        const outcomes: ModelAudits[] = [];
        const count = audited.reduce((n, s) => n + s.node.definition.audits.length, 0);
        if (!opts.json) {
          io.out(
            `Found ${count} audit(s) on ${audited.length} model(s) in \`${envName}\` for ${formatIntervals([[start, end]])}.`,
          );
        }
        for (const snapshot of audited) {
          const model = ctx.showName(snapshot.name);
          let outcome: ModelAudits;
          try {
            const results = await runModelAudits({
              adapter: ctx.adapter,
              snapshot,
              table: tables.get(snapshot.name) as string,
              tableRef: ctx.evaluator.physicalTable(snapshot),
              interval: [start, end],
              executionTime,
              tableFor: (fqn) => tables.get(fqn),
              gateway: ctx.project.gatewayName,
              environment: envName,
            });
            outcome = { model, results };
          } catch (err) {
            outcome = {
              model,
              results: [],
              error: err instanceof Error ? err.message : String(err),
            };
          }
          outcomes.push(outcome);
          if (opts.json) continue;
          if (outcome.error !== undefined) io.out(`ERROR ${model}: ${outcome.error}`);
          for (const r of outcome.results) io.out(statusLine(model, r));
        }

        const all = outcomes.flatMap((o) => o.results);
        const failed = all.filter((r) => auditStatus(r) === 'FAIL').length;
        const broken = outcomes.filter((o) => o.error !== undefined).length;
        if (failed > 0 || broken > 0) io.exitCode = 1;
        if (opts.json) {
          io.out(toJson({ environment: envName, start, end, models: outcomes }));
          return;
        }
        for (const o of outcomes) {
          for (const r of o.results) {
            const status = auditStatus(r);
            if (status !== 'FAIL' && status !== 'WARN') continue;
            io.out('');
            io.out(
              `${status === 'FAIL' ? 'Failure' : 'Warning'}: ${describeAuditFailure(o.model, r)}`,
            );
            if (r.sql) io.out(`  ${r.sql.replace(/\s*\n\s*/g, ' ')}`);
          }
        }
        const count0 = (s: string) => all.filter((r) => auditStatus(r) === s).length;
        io.out('');
        io.out(
          `${all.length} audit(s): ${count0('PASS')} passed, ${failed} failed, ` +
            `${count0('WARN')} warned, ${count0('SKIP')} skipped` +
            (broken > 0 ? `; ${broken} model(s) could not be audited` : '') +
            '.',
        );
      } finally {
        await ctx.close();
      }
    });
}
