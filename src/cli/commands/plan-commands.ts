import { createInterface } from 'node:readline/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { LocalContext, type PlanRequest } from '../../engine/local-context.js';
import { snapshotIntervalUnit } from '../../engine/plan/backfill.js';
import type { AutoCategory } from '../../engine/plan/categorize.js';
import type { ApplyEvent } from '../../engine/plan/plan-applier.js';
import type { Plan, PlanChange } from '../../engine/plan/plan-types.js';
import { planHasWork } from '../../engine/plan/plan-types.js';
import type { BackfillEvent, BackfillResult } from '../../engine/plan/scheduler.js';
import { formatIntervals, toTimestamp } from '../../engine/time/index.js';
import type { Project } from '../../engine/project/project-loader.js';
import { runUnitTests } from '../../engine/unittest/test-runner.js';
import { type CliIo, globalOptions } from '../cli-context.js';
import { cloudGateway } from '../cloud-mode/cloud-detect.js';
import { toJson } from '../output.js';

async function openContext(cmd: Command, io: CliIo): Promise<LocalContext> {
  const { root, gateway } = globalOptions(cmd);
  const ctx = await LocalContext.open(root, { env: io.env, ...(gateway ? { gateway } : {}) });
  for (const w of ctx.project.warnings) io.err(`Warning: ${w}`);
  return ctx;
}

const CATEGORY_LABEL: Record<string, string> = {
  breaking: 'Breaking',
  non_breaking: 'Non-breaking',
  forward_only: 'Forward-only',
  indirect_breaking: 'Indirect Breaking',
  indirect_non_breaking: 'Indirect Non-breaking',
  metadata: 'Metadata',
};

const SECTIONS: Array<[PlanChange['type'], string]> = [
  ['added', 'Added'],
  ['removed', 'Removed'],
  ['directly_modified', 'Directly Modified'],
  ['indirectly_modified', 'Indirectly Modified'],
  ['metadata', 'Metadata Updated'],
];

function tree(title: string, lines: string[], last: boolean): string[] {
  const out = [`${last ? '└──' : '├──'} ${title}:`];
  lines.forEach((line, i) => {
    out.push(`${last ? '    ' : '│   '}${i === lines.length - 1 ? '└──' : '├──'} ${line}`);
  });
  return out;
}

/** The plan as people read it: changes, diffs, categories and what will be backfilled. */
export function formatPlan(
  plan: Plan,
  options: { diff: boolean; unitOf?: (name: string) => string | undefined },
): string[] {
  const out: string[] = [];
  if (plan.isNewEnvironment && !plan.baseEnvironment) {
    out.push(`\`${plan.environment}\` environment will be initialized`);
  } else {
    out.push(`Differences from the \`${plan.baseEnvironment ?? plan.environment}\` environment:`);
  }
  const present = SECTIONS.filter(([type]) => plan.changes.some((c) => c.type === type));
  if (present.length === 0) {
    out.push('', 'No changes to plan: project files match the environment.');
  } else {
    out.push('', 'Models:');
    present.forEach(([type, title], i) => {
      const names = plan.changes.filter((c) => c.type === type).map((c) => c.displayName);
      out.push(...tree(title, names, i === present.length - 1));
    });
  }
  for (const change of plan.changes) {
    if (change.type !== 'directly_modified' && change.type !== 'metadata') continue;
    if (options.diff && change.diff) out.push('', change.diff.trimEnd());
    const label = change.category ? CATEGORY_LABEL[change.category] : 'Unknown';
    const note = change.categoryOverridden
      ? ', set by you'
      : change.undecided
        ? ', could not tell: treated as breaking'
        : '';
    out.push(
      '',
      `${change.type === 'metadata' ? 'Metadata Updated' : 'Directly Modified'}: ${change.displayName} (${label}${note})`,
    );
    const children = plan.changes.filter(
      (c) => c.type === 'indirectly_modified' && (change.downstream ?? []).includes(c.displayName),
    );
    if (children.length > 0) {
      out.push(
        ...tree(
          'Indirectly Modified Children',
          children.map((c) => `${c.displayName} (${c.category ? CATEGORY_LABEL[c.category] : ''})`),
          true,
        ),
      );
    }
  }
  const backfill = plan.backfill.filter((b) => b.batches.length > 0);
  if (backfill.length > 0) {
    out.push('', 'Models needing backfill (missing dates):');
    backfill.forEach((b, i) => {
      const shown =
        plan.changes.find((c) => c.name === b.name)?.displayName ?? showName(plan, b.name);
      const unit = options.unitOf?.(b.name);
      const range = formatIntervals(b.batches, unit as never);
      out.push(`${i === backfill.length - 1 ? '└──' : '├──'} ${shown}: ${range}`);
    });
  }
  return out;
}

function showName(plan: Plan, fqn: string): string {
  const s = plan.snapshots.find((x) => x.name === fqn);
  return s?.node.definition.name ?? fqn;
}

/** Progress of a backfill: a bar on a terminal, a line per batch otherwise. */
export class Progress {
  private done = 0;
  private readonly started = Date.now();
  constructor(
    private readonly io: CliIo,
    /** Batches to run, when known beforehand. */
    private readonly total: number | undefined,
    private readonly nameOf: (fqn: string) => string,
  ) {}

  event(event: ApplyEvent | BackfillEvent): void {
    if (event.type === 'batch_done') {
      this.done += 1;
      const rows = event.rows !== undefined ? `, ${event.rows} rows` : '';
      const what =
        `${this.nameOf(event.name)} ${formatIntervals([event.interval])} ` +
        `(${(event.durationMs / 1000).toFixed(2)}s${rows})`;
      for (const a of event.audits ?? []) {
        if (!a.passed && !a.skipped) {
          this.io.err(
            `Warning: audit ${a.name} failed for ${this.nameOf(event.name)} (${a.failingRows} row(s)${a.error ? `: ${a.error}` : ''}); it does not block`,
          );
        }
      }
      if (this.total === undefined) {
        this.io.out(`[${this.done}] ${what}`);
        return;
      }
      const pct = this.total ? Math.floor((this.done / this.total) * 100) : 100;
      const width = 30;
      const filled = Math.round((pct / 100) * width);
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
      this.io.out(`${bar} ${String(pct).padStart(3)}% ${this.done}/${this.total} ${what}`);
    } else if (event.type === 'batch_failed') {
      this.io.err(
        `Failed: ${this.nameOf(event.name)} ${formatIntervals([event.interval])}: ${event.error.message}`,
      );
    } else if (event.type === 'note') {
      if (event.message.startsWith('warning:')) this.io.err(`Warning: ${event.message.slice(9)}`);
      else this.io.out(event.message);
    } else if (event.type === 'skipped') {
      this.io.err(`Skipped: ${this.nameOf(event.name)} (${event.reason})`);
    }
  }

  elapsed(): string {
    return `${((Date.now() - this.started) / 1000).toFixed(2)}s`;
  }
}

function reportFailures(io: CliIo, result: BackfillResult, nameOf: (n: string) => string): void {
  for (const f of result.failed) {
    io.err(
      `Error: ${nameOf(f.name)} failed for ${formatIntervals([f.interval])}: ${f.error.message}`,
    );
  }
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await rl.question(question);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function categoryArg(value: string, previous: string[] = []): string[] {
  if (!/^[^=]+=(breaking|non-breaking|non_breaking)$/i.test(value)) {
    throw new InvalidArgumentError('write MODEL=breaking or MODEL=non-breaking.');
  }
  return [...previous, value];
}

/** The options of `tideline plan`, as commander parses them. */
export interface PlanFlags {
  skipTests?: boolean;
  autoApply?: boolean;
  prompts?: boolean;
  start?: string;
  end?: string;
  executionTime?: string;
  forwardOnly?: boolean;
  restateModel?: string[];
  skipBackfill?: boolean;
  includeUnmodified?: boolean;
  diff?: boolean;
  explain?: boolean;
  categorize?: string[];
  json?: boolean;
}

/**
 * Runs the project's unit tests before a plan (unless --skip-tests), printing
 * failures; false when one failed (the exit code is then set to 1).
 */
export async function unitTestsPass(
  project: Project,
  opts: PlanFlags,
  io: CliIo,
): Promise<boolean> {
  if (opts.skipTests || project.counts().tests === 0) return true;
  const tests = await runUnitTests(project, {});
  if (tests.failed > 0) {
    for (const r of tests.results.filter((x) => !x.passed)) {
      io.err(`FAIL: ${r.name} (${r.file})`);
      if (r.diff) io.err(r.diff);
      if (r.error) io.err(r.error);
    }
    io.err(`${tests.passed} passed, ${tests.failed} failed`);
    io.err('Error: unit tests failed; fix them, or plan with --skip-tests');
    io.exitCode = 1;
    return false;
  }
  if (!opts.json) io.out(`Unit tests: ${tests.passed} passed, 0 failed`);
  return true;
}

/** What to plan, from the command line; `resolveModel` turns a typed name into a canonical one. */
export function planRequest(
  environment: string,
  opts: PlanFlags,
  now: number,
  resolveModel: (name: string) => string,
): PlanRequest {
  const categories = new Map<string, AutoCategory>();
  for (const c of opts.categorize ?? []) {
    const at = c.lastIndexOf('=');
    const value = c
      .slice(at + 1)
      .toLowerCase()
      .replace('-', '_') as AutoCategory;
    categories.set(resolveModel(c.slice(0, at)), value);
  }
  return {
    environment,
    ...(opts.start !== undefined ? { start: opts.start } : {}),
    ...(opts.end !== undefined ? { end: opts.end } : {}),
    ...(opts.executionTime !== undefined
      ? { executionTime: toTimestamp(opts.executionTime, now) }
      : {}),
    forwardOnly: opts.forwardOnly === true,
    skipBackfill: opts.skipBackfill === true,
    includeUnmodified: opts.includeUnmodified === true,
    restateModels: opts.restateModel ?? [],
    categories,
  };
}

/**
 * Shows a computed plan (as JSON with --json, explained with --explain) and
 * decides whether to apply it: true when there is work and the user wants it
 * applied (--auto-apply, or yes at the prompt on a terminal).
 */
export async function presentPlan(
  plan: Plan,
  opts: PlanFlags,
  io: CliIo,
  showName: (fqn: string) => string,
): Promise<boolean> {
  if (opts.json) {
    io.out(
      toJson({
        ...plan,
        newSnapshots: plan.newSnapshots.map((s) => ({
          name: s.name,
          identifier: s.identifier,
          version: s.version,
        })),
        snapshots: plan.snapshots.map((s) => ({
          name: s.name,
          identifier: s.identifier,
          version: s.version,
          changeCategory: s.changeCategory,
        })),
      }),
    );
    return false;
  }
  for (const w of plan.warnings) io.err(`Warning: ${w}`);
  const unitOf = (fqn: string) => {
    const s = plan.snapshots.find((x) => x.name === fqn);
    return s ? snapshotIntervalUnit(s.node.definition) : undefined;
  };
  for (const line of formatPlan(plan, { diff: opts.diff !== false, unitOf })) io.out(line);
  if (opts.explain) {
    io.out('');
    io.out('Explained plan:');
    for (const line of explainPlan(plan, showName)) io.out(line);
    return false;
  }
  if (!planHasWork(plan)) {
    io.out('');
    io.out(`Nothing to apply: \`${plan.environment}\` is up to date.`);
    return false;
  }
  if (!opts.autoApply) {
    if (!io.interactive || opts.prompts === false) {
      io.out('');
      io.out('Not applied: run with --auto-apply to apply without a prompt.');
      return false;
    }
    if (!(await confirm('\nApply - Backfill Tables [y/n]: '))) {
      io.out('Not applied.');
      return false;
    }
  }
  return true;
}

export function registerPlanCommands(program: Command, io: CliIo): void {
  program
    .command('plan')
    .description('compare the project with an environment, then apply the changes')
    .argument('[environment]', 'the environment to plan (default: prod)')
    .option('--auto-apply', 'apply without asking')
    .option('--no-prompts', 'never ask: categorize automatically, do not apply unless --auto-apply')
    .option('-s, --start <time>', 'start of the backfill range')
    .option('-e, --end <time>', 'end of the backfill range')
    .option('--execution-time <time>', 'the time the plan runs as (default: now)')
    .option('--forward-only', 'treat every change as forward-only: keep tables, change from now on')
    .option(
      '--restate-model <model>',
      'evaluate this model (and downstream) again for the range',
      collect,
    )
    .option('--skip-backfill', 'do not evaluate anything; only create tables and views')
    .option('--include-unmodified', 'give the environment views of unchanged models too')
    .option('--no-diff', 'do not show the text diff of changed models')
    .option('--explain', 'show what applying would do, step by step, and stop')
    .option(
      '--categorize <model=category>',
      'set a changed model to breaking or non-breaking',
      categoryArg,
    )
    .option('--json', 'print the plan as JSON and stop')
    .option('--skip-tests', 'do not run the unit tests first')
    .action(async (environment: string | undefined, opts: PlanFlags, cmd: Command) => {
      const { root, gateway } = globalOptions(cmd);
      if (cloudGateway(root, io.env, gateway) !== undefined) {
        const { cloudPlanCommand } = await import('../cloud-mode/cloud-plan.js');
        await cloudPlanCommand(environment, opts, cmd, io);
        return;
      }
      const ctx = await openContext(cmd, io);
      try {
        if (!(await unitTestsPass(ctx.project, opts, io))) return;
        const env = environment ?? ctx.project.config.defaultTargetEnvironment ?? 'prod';
        const plan = await ctx.plan(
          planRequest(env, opts, ctx.clock.now(), (m) => ctx.resolveModel(m)),
        );
        if (!(await presentPlan(plan, opts, io, ctx.showName))) return;
        const total = plan.backfill.reduce((n, b) => n + b.batches.length, 0);
        const progress = new Progress(io, total, ctx.showName);
        if (total > 0) io.out('');
        const result = await ctx.apply(plan, (e) => progress.event(e));
        if (result.status === 'succeeded') {
          io.out('');
          io.out(
            `Applied plan to \`${plan.environment}\`: ${result.backfill.evaluations} evaluation(s) in ${progress.elapsed()}; virtual layer updated.`,
          );
          return;
        }
        reportFailures(io, result.backfill, ctx.showName);
        io.err(
          `Error: plan for \`${plan.environment}\` failed: ${result.error ?? 'unknown error'}`,
        );
        io.exitCode = 1;
      } finally {
        await ctx.close();
      }
    });

  program
    .command('run')
    .description('evaluate the missing intervals of models whose cron is due')
    .argument('[environment]', 'the environment to run (default: prod)')
    .option('--ignore-cron', 'evaluate everything missing up to now, due or not')
    .option('--execution-time <time>', 'the time the run happens at (default: now)')
    .option('--select-model <model>', 'run only this model (repeatable)', collect)
    .option('--wait', 'in cloud mode: wait until the run has finished')
    .action(
      async (
        environment: string | undefined,
        opts: {
          ignoreCron?: boolean;
          executionTime?: string;
          selectModel?: string[];
          wait?: boolean;
        },
        cmd: Command,
      ) => {
        const { root, gateway } = globalOptions(cmd);
        if (cloudGateway(root, io.env, gateway) !== undefined) {
          const { cloudRunCommand } = await import('../cloud-mode/cloud-run.js');
          await cloudRunCommand(environment, opts, cmd, io);
          return;
        }
        const ctx = await openContext(cmd, io);
        try {
          const now = ctx.clock.now();
          const env = environment ?? 'prod';
          const executionTime =
            opts.executionTime !== undefined ? toTimestamp(opts.executionTime, now) : now;
          const progress = new Progress(io, undefined, ctx.showName);
          const result = await ctx.run(env, {
            executionTime,
            ...(opts.ignoreCron ? { ignoreCron: true } : {}),
            ...(opts.selectModel ? { select: opts.selectModel } : {}),
            onEvent: (e) => progress.event(e),
          });
          const { backfill, items } = result;
          if (items.length === 0) {
            io.out(`Nothing to run in \`${result.environment}\`: no model is due.`);
            return;
          }
          if (backfill.failed.length === 0 && backfill.skipped.length === 0) {
            io.out(
              `Run finished: ${backfill.evaluations} evaluation(s) of ${items.length} model(s).`,
            );
            return;
          }
          reportFailures(io, backfill, ctx.showName);
          for (const s of backfill.skipped) io.err(`Skipped: ${ctx.showName(s)} (upstream failed)`);
          io.exitCode = 1;
        } finally {
          await ctx.close();
        }
      },
    );

  program
    .command('janitor')
    .description('drop expired environments and tables no environment uses')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = await openContext(cmd, io);
      try {
        const result = await ctx.janitor();
        io.out(
          `Removed ${result.environments.length} expired environment(s)` +
            (result.environments.length ? ` (${result.environments.join(', ')})` : '') +
            `, ${result.tables.length} table(s) and ${result.snapshots} snapshot(s).`,
        );
      } finally {
        await ctx.close();
      }
    });
}

/** What applying a plan would do, step by step. */
export function explainPlan(plan: Plan, nameOf: (fqn: string) => string): string[] {
  const out: string[] = [];
  const fresh = new Set(plan.newSnapshots.map((s) => `${s.name}|${s.identifier}`));
  const created = plan.snapshots.filter(
    (s) =>
      fresh.has(`${s.name}|${s.identifier}`) &&
      s.node.definition.kind.name !== 'EMBEDDED' &&
      s.node.definition.kind.name !== 'EXTERNAL',
  );
  out.push(`1. Create ${created.length} physical table(s) (existing ones are reused)`);
  for (const s of created)
    out.push(`   - ${nameOf(s.name)} (${s.node.definition.kind.name}, version ${s.version})`);
  out.push(`2. Backfill ${plan.backfill.length} model(s)`);
  for (const b of plan.backfill) {
    out.push(
      `   - ${nameOf(b.name)}: ${b.batches.length} batch(es), ${formatIntervals(b.batches)}`,
    );
  }
  const promoted = plan.promoted.length;
  out.push(
    `3. Update ${promoted} view(s) of \`${plan.environment}\`` +
      (plan.removed.length ? `; drop ${plan.removed.length}` : ''),
  );
  return out;
}
