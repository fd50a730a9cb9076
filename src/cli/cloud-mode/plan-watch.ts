/**
 * Following a submitted plan while an apply executor applies it: progress
 * lines for evaluations and the executor's log lines as they arrive, until
 * the plan has succeeded, failed or been cancelled.
 */
import type { CloudClient } from '../../executor/client/cloud-client.js';
import type { PlanInfo, PlanProgress, PlanStatusName } from '../../protocol/messages.js';
import type { CliIo } from '../cli-context.js';
import { Progress } from '../commands/plan-commands.js';
import { pause, type CloudTimings } from './cloud-session.js';

const FINISHED: ReadonlySet<PlanStatusName> = new Set(['succeeded', 'failed', 'cancelled']);
/** Log lines and evaluations asked for per poll. */
const PAGE = 1_000;

export interface WatchPlanOptions extends CloudTimings {
  /** Aborting stops the watching (not the plan). */
  signal?: AbortSignal;
  /** How a model is shown (its name without the default catalog). */
  nameOf?: (fqn: string) => string;
}

export type WatchPlanResult =
  | {
      outcome: 'finished';
      plan: PlanInfo;
      /** Evaluations that succeeded / failed, as reported. */
      evaluations: number;
      failures: number;
      /** Time since watching began, e.g. `1.25s`. */
      elapsed: string;
    }
  | { outcome: 'detached' };

/**
 * Polls `GET /plans/:id/progress` and prints what arrives; returns once the
 * plan is final (read from `GET /plans/:id`), or `detached` when `signal`
 * aborts first. Says once that the plan waits for an apply executor when it
 * stays queued for `waitNoticeMs`.
 */
export async function watchPlan(
  client: CloudClient,
  planId: string,
  io: CliIo,
  options: WatchPlanOptions = {},
): Promise<WatchPlanResult> {
  const { signal } = options;
  const pollMs = options.pollMs ?? 250;
  const maxPollMs = options.maxPollMs ?? 2_000;
  const noticeMs = options.waitNoticeMs ?? 10_000;
  const nameOf = options.nameOf ?? ((fqn: string) => fqn);
  const path = `/plans/${encodeURIComponent(planId)}`;
  const progress = new Progress(io, undefined, nameOf);
  const started = Date.now();
  let after = 0;
  let evaluationsAfter: string | undefined;
  let evaluations = 0;
  let failures = 0;
  let noticed = false;
  let lastStatus: PlanStatusName | undefined;
  let delay = pollMs;
  let backfillStarted = false;
  const printLog = (line: PlanProgress['logs'][number], planError: string | null) => {
    if (line.level === 'warn') io.err(`Warning: ${line.message}`);
    // The plan's own error is said once, at the end.
    else if (line.level === 'error') {
      if (line.message !== planError) io.err(line.message);
    } else io.out(line.message);
  };
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(2)}s`;

  for (;;) {
    if (signal?.aborted) return { outcome: 'detached' };
    let page: PlanProgress;
    try {
      page = await client.get<PlanProgress>(`${path}/progress`, {
        query: { after, evaluationsAfter, limit: PAGE },
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      if (signal?.aborted) return { outcome: 'detached' };
      throw err;
    }
    // Evaluations happen between the executor's backfill stage and the next
    // one: shown there when the page holds both, else after the log lines.
    let split = page.logs.length;
    page.logs.forEach((line, i) => {
      if (line.message === 'stage: backfill') backfillStarted = true;
      else if (backfillStarted && split === page.logs.length && line.message.startsWith('stage: '))
        split = i;
    });
    for (const line of page.logs.slice(0, split)) printLog(line, page.error);
    for (const e of page.evaluations) {
      if (e.status === 'failed') {
        failures += 1;
        progress.event({
          type: 'batch_failed',
          name: e.model,
          interval: e.interval,
          error: new Error(e.error ?? 'failed'),
          durationMs: e.durationMs ?? 0,
        });
      } else {
        evaluations += 1;
        progress.event({
          type: 'batch_done',
          name: e.model,
          interval: e.interval,
          batch: evaluations,
          batches: 0,
          durationMs: e.durationMs ?? 0,
          ...(e.rows !== null ? { rows: e.rows } : {}),
        });
      }
    }
    for (const line of page.logs.slice(split)) printLog(line, page.error);
    after = page.nextAfter;
    evaluationsAfter = page.nextEvaluationsAfter ?? undefined;
    // A full page may have more behind it: ask again at once.
    if (page.logs.length >= PAGE || page.evaluations.length >= PAGE) continue;
    // The executor sends its last reports before it completes the task, so a
    // final status read with this page means nothing more will come.
    if (FINISHED.has(page.status)) break;
    if (page.status === 'pending' && !noticed && Date.now() - started >= noticeMs) {
      noticed = true;
      io.out(
        `Waiting for an apply executor: plan ${planId} is queued at ${client.projectUrl} (start one next to your warehouse with \`tideline executor apply\`)...`,
      );
    }
    const moved = page.logs.length > 0 || page.evaluations.length > 0 || page.status !== lastStatus;
    lastStatus = page.status;
    delay = moved ? pollMs : Math.min(maxPollMs, delay * 2);
    await pause(delay, signal);
  }
  let plan: PlanInfo;
  try {
    plan = await client.get<PlanInfo>(path, signal ? { signal } : {});
  } catch (err) {
    if (signal?.aborted) return { outcome: 'detached' };
    throw err;
  }
  return { outcome: 'finished', plan, evaluations, failures, elapsed: elapsed() };
}
