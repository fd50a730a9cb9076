/**
 * The executor's life: register with the cloud, long-poll for tasks of its
 * kind, run them with the engine against its own gateways, report progress,
 * logs and intervals under the task's lease, and complete them. Only
 * outbound requests; no warehouse setting ever leaves the process.
 *
 * A lease that cannot be renewed in time makes the executor cancel its
 * warehouse queries and drop the task. Draining (SIGTERM) stops claiming and
 * finishes, or hands back, running work within a grace period.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { hostname } from 'node:os';
import type { EngineAdapter } from '../engine/adapters/engine-adapter.js';
import { ProjectError } from '../engine/errors.js';
import type { createAdapter as createAdapterFn } from '../engine/adapters/adapter-factory.js';
import type { ApplyEvent } from '../engine/plan/plan-applier.js';
import type { Plan } from '../engine/plan/plan-types.js';
import type { Interval, Snapshot } from '../engine/snapshot/snapshot-types.js';
import { StaleStateError, type StateSync } from '../engine/state/state-sync.js';
import { subtractIntervals } from '../engine/time/intervals.js';
import type {
  ClaimBatchResponse,
  ClaimedTask,
  CompleteBatchResponse,
  CompleteRequest,
  ExecutorKind,
  LogLine,
  ProgressReport,
  RegisterResponse,
} from '../protocol/messages.js';
import { heartbeatIntervalFor, PROTOCOL_VERSION, supportsBatches } from '../protocol/version.js';
import { CloudApiError, CloudClient, CloudUnreachableError } from './client/cloud-client.js';
import { CompletionBatcher } from './client/completion-batcher.js';
import { HttpStateSync } from './client/http-state-sync.js';
import {
  EnvFileWatcher,
  ExecutorConfigError,
  readExecutorSettings,
  type Env,
  type ExecutorSettings,
} from './config.js';
import { createRedactor, type Redactor } from './redact.js';

export const EXECUTOR_VERSION = '0.1.0';

export interface ExecutorOptions {
  kind: ExecutorKind;
  /** The process environment (TCLOUD_*, SQLMESH__*). */
  env: Env;
  /** Handle one task, then exit. */
  once?: boolean;
  /** How long a drain waits for running work, ms (30 s by default). */
  graceMs?: number;
  /** `hybrid` (user-hosted, the default) or `cloud` (started by the cloud). */
  hosting?: 'hybrid' | 'cloud';
  /** Local log lines (JSON), standard error by default. */
  log?: (line: string) => void;
  /** Where relative DuckDB paths resolve. */
  dataDir?: string;
  /** Longest wait of one claim, ms (25 s by default). */
  claimWaitMs?: number;
}

export interface ExecutorStats {
  completed: number;
  failed: number;
  aborted: number;
  running: number;
  registered: boolean;
  /** Epoch ms of the last successful request to the cloud. */
  lastContactTs: number;
  cloudUp: boolean;
}

class LeaseLost extends Error {
  override name = 'LeaseLost';
}

/** Buffered log lines and evaluations kept while the cloud is away, at most. */
const MAX_BUFFERED = 10_000;

/**
 * The protocol version this executor announces: its own, unless
 * `TCLOUD_PROTOCOL_VERSION` (`major.minor`) overrides it. The override exists
 * to test version negotiation; an executor speaking another version than it
 * announces would misbehave, so never set it in production.
 */
export function announcedProtocolVersion(env: Env): string {
  const raw = env['TCLOUD_PROTOCOL_VERSION']?.trim();
  if (!raw) return `${PROTOCOL_VERSION.major}.${PROTOCOL_VERSION.minor}`;
  if (!/^\d{1,6}\.\d{1,6}$/.test(raw)) {
    throw new ExecutorConfigError(
      'TCLOUD_PROTOCOL_VERSION',
      `must be major.minor (such as 1.0), got ${JSON.stringify(raw.slice(0, 40))}; unset it outside tests`,
    );
  }
  return raw;
}

/**
 * How many retries a lease-bound request gets so that its waits (each at
 * least half of its backoff ceiling) add up to the lease's lifetime: a task's
 * writes keep trying for as long as the lease may still be valid.
 */
function retriesWithin(leaseTtlMs: number, baseMs: number, maxMs: number): number {
  let total = 0;
  let n = 0;
  while (total < leaseTtlMs && n < 10_000) {
    total += Math.min(maxMs, baseMs * 2 ** Math.min(n, 30)) / 2;
    n++;
  }
  return n + 1;
}

const restatedKey = (name: string, version: string) => `${name}\u0000${version}`;

/**
 * The plan without the batches whose intervals state records already: an
 * apply taken over from an executor that stopped (killed, lease lost)
 * resumes where that one stopped instead of evaluating everything again.
 * Restated snapshots keep all their batches (the restatement removes their
 * intervals again on every attempt).
 */
export async function withoutRecordedBatches(
  plan: Plan,
  state: Pick<StateSync, 'getIntervals'>,
): Promise<{ plan: Plan; skipped: number }> {
  const restated = new Set(plan.restatements.map((r) => restatedKey(r.name, r.version)));
  const candidates = plan.backfill.filter(
    (b) => b.batches.length > 0 && !restated.has(restatedKey(b.name, b.version)),
  );
  if (candidates.length === 0) return { plan, skipped: 0 };
  const recorded = await state.getIntervals(
    candidates.map((b) => ({ name: b.name, identifier: b.identifier })),
  );
  const byId = new Map(recorded.map((r) => [`${r.name}\u0000${r.identifier}`, r]));
  let skipped = 0;
  const backfill = plan.backfill.map((item) => {
    if (restated.has(restatedKey(item.name, item.version))) return item;
    const r = byId.get(`${item.name}\u0000${item.identifier}`);
    if (!r) return item;
    const done: Interval[] =
      item.version === r.version
        ? r.intervals
        : item.version === r.devVersion
          ? r.devIntervals
          : [];
    if (done.length === 0) return item;
    const batches = item.batches.filter((batch) => subtractIntervals([batch], done).length > 0);
    skipped += item.batches.length - batches.length;
    return batches.length === item.batches.length ? item : { ...item, batches };
  });
  return skipped === 0 ? { plan, skipped } : { plan: { ...plan, backfill }, skipped };
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

type CreateAdapter = typeof createAdapterFn;

function isRetryable(err: unknown): boolean {
  if (
    (err instanceof Error && err.name === 'AuditFailure') ||
    err instanceof ProjectError ||
    err instanceof StaleStateError
  ) {
    return false;
  }
  return true;
}

/** How soon a heartbeat is tried again while the cloud cannot be reached. */
const HEARTBEAT_RETRY_MS = 1_000;

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** One task in progress: its lease, heartbeats, buffered reports. */
class TaskRun {
  readonly abort = new AbortController();
  private readonly logs: LogLine[] = [];
  private readonly evaluations: NonNullable<ProgressReport['evaluations']> = [];
  private progress: Record<string, unknown> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  /** Epoch ms (this machine's clock) after which the lease may be gone. */
  leaseExpires: number;
  lost = false;
  private stopped = false;
  /** Given back to the queue by a drain: nothing more is reported about it. */
  handedBack = false;

  constructor(
    readonly task: ClaimedTask,
    private readonly client: CloudClient,
    private readonly redact: Redactor,
    private readonly heartbeatMs: number,
    private readonly leaseTtlMs: number,
    private readonly onLost: () => void,
  ) {
    // The cloud's clock may differ from ours: count the lease from now.
    this.leaseExpires =
      Date.now() +
      Math.min(leaseTtlMs, Math.max(0, task.lease.expiresTs - Date.now()) || leaseTtlMs);
  }

  get lease() {
    return { leaseId: this.task.lease.leaseId, fencingToken: this.task.lease.fencingToken };
  }

  log(level: LogLine['level'], message: string): void {
    this.logs.push({ level, message: this.redact(message), ts: Date.now() });
  }

  evaluation(e: NonNullable<ProgressReport['evaluations']>[number]): void {
    this.evaluations.push(e.error ? { ...e, error: this.redact(e.error) } : e);
  }

  setProgress(p: Record<string, unknown>): void {
    this.progress = p;
  }

  start(): void {
    this.nextBeat(this.heartbeatMs);
  }

  private nextBeat(ms: number): void {
    if (this.stopped || this.lost) return;
    this.heartbeat = setTimeout(() => void this.beat(), ms);
    this.heartbeat.unref();
  }

  private async beat(): Promise<void> {
    if (this.lost || this.stopped) return;
    try {
      await this.client.request('POST', `/tasks/${this.task.taskId}/heartbeat`, {
        body: this.lease,
        idempotent: true,
        timeoutMs: this.heartbeatMs,
      });
    } catch (err) {
      if (err instanceof CloudApiError && err.status === 409) return this.lose();
      // The cloud is away: keep the task while the lease may still be valid,
      // and try again soon rather than a whole interval later, so that the
      // lease is renewed within a second or so of the cloud coming back.
      if (Date.now() >= this.leaseExpires) return this.lose();
      return this.nextBeat(Math.min(HEARTBEAT_RETRY_MS, this.heartbeatMs));
    }
    this.leaseExpires = Date.now() + this.leaseTtlMs;
    this.nextBeat(this.heartbeatMs);
    await this.flush();
  }

  lose(): void {
    if (this.lost) return;
    this.lost = true;
    this.abort.abort(new LeaseLost('the lease was lost'));
    this.onLost();
  }

  /** Sends buffered logs, evaluations and progress (one request at a time). */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.logs.length === 0 && this.evaluations.length === 0 && !this.progress) return;
      const report: ProgressReport = {
        ...this.lease,
        ...(this.logs.length ? { logs: this.logs.splice(0) } : {}),
        ...(this.evaluations.length ? { evaluations: this.evaluations.splice(0) } : {}),
        ...(this.progress ? { progress: this.progress } : {}),
      };
      this.progress = undefined;
      try {
        await this.client.request('POST', `/tasks/${this.task.taskId}/progress`, { body: report });
      } catch (err) {
        if (err instanceof CloudApiError && err.status === 409) this.lose();
        else if (err instanceof CloudUnreachableError && !this.lost) {
          // The cloud is away: keep the report for the next flush (bounded).
          this.logs.unshift(...(report.logs ?? []));
          this.evaluations.unshift(...(report.evaluations ?? []));
          if (this.logs.length > MAX_BUFFERED) this.logs.splice(0, this.logs.length - MAX_BUFFERED);
          if (this.evaluations.length > MAX_BUFFERED) {
            this.evaluations.splice(0, this.evaluations.length - MAX_BUFFERED);
          }
          this.progress ??= report.progress;
        }
        // Other refusals drop the lines; the task's result still arrives.
      }
    });
    return this.flushing;
  }

  stop(): void {
    this.stopped = true;
    if (this.heartbeat) clearTimeout(this.heartbeat);
  }
}

export class Executor {
  private settings: ExecutorSettings;
  private readonly client: CloudClient;
  private redact: Redactor;
  private readonly watcher: EnvFileWatcher;
  private readonly stopping = new AbortController();
  /** Resolves when a drain starts. */
  private readonly stopped = new Promise<void>((resolve) =>
    this.stopping.signal.addEventListener('abort', () => resolve(), { once: true }),
  );
  private readonly running = new Set<TaskRun>();
  private readonly adapters = new Map<string, EngineAdapter>();
  private registration: RegisterResponse | undefined;
  /** The task being worked on, for requests made on its behalf. */
  private readonly taskScope = new AsyncLocalStorage<TaskRun>();
  /**
   * The client for writes about a claimed task (state, completion): it keeps
   * retrying an unreachable cloud for as long as the task's lease may be
   * valid, and gives up at once when the lease is lost.
   */
  private taskClient: CloudClient | undefined;
  private readonly protocolVersion: string;
  /**
   * Completions sent together (protocol 1.1). The request runs outside any
   * task's scope: it carries other tasks' completions too, so one task's
   * lost lease must not stop its retries.
   */
  private readonly completions = new CompletionBatcher((body) =>
    this.taskScope.exit(() =>
      (this.taskClient ?? this.client).request<CompleteBatchResponse>('POST', '/tasks/complete', {
        body,
        idempotent: true,
      }),
    ),
  );
  private executorId = '';
  readonly stats: ExecutorStats = {
    completed: 0,
    failed: 0,
    aborted: 0,
    running: 0,
    registered: false,
    lastContactTs: 0,
    cloudUp: false,
  };

  constructor(private readonly options: ExecutorOptions) {
    this.settings = readExecutorSettings(options.env);
    this.protocolVersion = announcedProtocolVersion(options.env);
    this.redact = createRedactor(this.settings.env, this.settings.redact);
    this.client = new CloudClient({
      url: this.settings.credentials.url,
      clientId: this.settings.credentials.clientId,
      clientSecret: this.settings.credentials.clientSecret,
    });
    this.watcher = new EnvFileWatcher(
      options.env,
      (s) => {
        this.settings = s;
        this.redact = createRedactor(s.env, s.redact);
        this.note('info', 'settings reloaded from TCLOUD_ENV_FILE');
      },
      (err) => this.note('error', `TCLOUD_ENV_FILE: ${err.message}; keeping the previous settings`),
    );
  }

  get kind(): ExecutorKind {
    return this.options.kind;
  }

  get id(): string {
    return this.executorId;
  }

  private note(level: LogLine['level'], msg: string, fields: Record<string, unknown> = {}): void {
    const line = JSON.stringify({
      ts: new Date().toISOString(),
      level,
      msg: this.redact(msg),
      executor: this.options.kind,
      ...fields,
    });
    (this.options.log ?? ((l: string) => process.stderr.write(l + '\n')))(line);
  }

  private contact(ok: boolean): void {
    this.stats.cloudUp = ok;
    if (ok) this.stats.lastContactTs = Date.now();
  }

  /** Registers, retrying with jittered backoff while the cloud is away. */
  private async register(): Promise<void> {
    let delay = 500;
    for (;;) {
      try {
        this.registration = await this.client.request<RegisterResponse>(
          'POST',
          '/executors/register',
          {
            body: {
              name: this.settings.name,
              kind: this.options.kind,
              version: EXECUTOR_VERSION,
              protocolVersion: this.protocolVersion,
              gateways: this.settings.gateways.map((g) => ({
                name: g.name,
                type: g.connection.type,
              })),
              address: hostname(),
              hosting: this.options.hosting ?? 'hybrid',
            },
          },
        );
        this.executorId = this.registration.executorId;
        this.taskClient = this.leaseBoundClient(this.registration.leaseTtlMs);
        this.stats.registered = true;
        this.contact(true);
        this.note('info', 'registered', { executorId: this.executorId });
        return;
      } catch (err) {
        this.contact(false);
        if (err instanceof CloudApiError && err.status < 500) throw err;
        if (this.stopping.signal.aborted) throw err;
        this.note('warn', `cannot reach the cloud (${messageOf(err)}); retrying`);
        await sleep(delay * (0.5 + Math.random()), this.stopping.signal);
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  private leaseBoundClient(leaseTtlMs: number): CloudClient {
    const retryBaseMs = 200;
    const retryMaxMs = Math.max(retryBaseMs, Math.min(5_000, Math.floor(leaseTtlMs / 4)));
    return new CloudClient({
      url: this.settings.credentials.url,
      clientId: this.settings.credentials.clientId,
      clientSecret: this.settings.credentials.clientSecret,
      retryBaseMs,
      retryMaxMs,
      maxRetries: retriesWithin(leaseTtlMs, retryBaseMs, retryMaxMs),
      sleep: async (ms) => {
        const run = this.taskScope.getStore();
        if (!run) return await sleep(ms);
        const left = run.leaseExpires - Date.now();
        if (run.lost || run.handedBack) throw new LeaseLost('the lease was lost');
        if (left <= 0) {
          run.lose();
          throw new LeaseLost('the lease expired while the cloud was unreachable');
        }
        await sleep(Math.min(ms, left), run.abort.signal);
        if (run.lost || run.handedBack) throw new LeaseLost('the lease was lost');
      },
    });
  }

  private adapterFor(
    gateway: string | undefined,
    createAdapter: CreateAdapter,
  ): {
    adapter: EngineAdapter;
    name: string;
    concurrency: number;
  } {
    const name = (gateway ?? this.settings.defaultGateway).toLowerCase();
    const gw = this.settings.gateways.find((g) => g.name === name);
    if (!gw) {
      throw new ProjectError(
        `this executor has no gateway ${JSON.stringify(name)}; it has ${this.settings.gateways.map((g) => g.name).join(', ')} (set SQLMESH__GATEWAYS__${name.toUpperCase()}__CONNECTION__TYPE and its settings)`,
        { file: '<executor>', line: 1, column: 1 },
      );
    }
    const key = JSON.stringify([name, gw.connection]);
    let adapter = this.adapters.get(key);
    if (!adapter) {
      adapter = createAdapter(gw.connection, {
        projectRoot: this.options.dataDir ?? process.cwd(),
      });
      this.adapters.set(key, adapter);
    }
    return { adapter, name, concurrency: gw.connection.concurrentTasks };
  }

  /** Runs until stopped (or after one task with `once`). */
  async run(): Promise<void> {
    this.watcher.start();
    try {
      await this.register();
      const slots = this.options.kind === 'run' ? this.settings.concurrency : 1;
      const tasks = new Set<Promise<void>>();
      let handled = 0;
      let delay = 500;
      while (!this.stopping.signal.aborted) {
        if (this.options.once && handled >= 1) break;
        if (tasks.size >= slots) {
          // Busy: wait for a free slot, or for a drain (whose grace period starts now).
          await Promise.race([...tasks, this.stopped]);
          continue;
        }
        let claimed: ClaimedTask[];
        try {
          claimed = await this.claim(this.options.once ? 1 : slots - tasks.size);
          this.contact(true);
          delay = 500;
        } catch (err) {
          if (this.stopping.signal.aborted) break;
          this.contact(false);
          if (
            err instanceof CloudApiError &&
            err.status === 404 &&
            err.code === 'unknown_executor'
          ) {
            await this.register();
            continue;
          }
          this.note('warn', `claim failed (${messageOf(err)}); retrying`);
          await sleep(delay * (0.5 + Math.random()), this.stopping.signal);
          delay = Math.min(delay * 2, 30_000);
          continue;
        }
        for (const task of claimed) {
          handled += 1;
          const p = this.execute(task).finally(() => tasks.delete(p));
          tasks.add(p);
          if (this.options.once) await p;
        }
      }
      await this.drainRunning(tasks);
    } finally {
      this.watcher.stop();
      for (const a of this.adapters.values()) await a.close().catch(() => undefined);
      this.adapters.clear();
    }
  }

  private async drainRunning(tasks: Set<Promise<void>>): Promise<void> {
    if (tasks.size === 0) return;
    const grace = this.options.graceMs ?? 30_000;
    const done = Promise.all(tasks).then(() => true);
    // The timer must not outlive the work: a pending one would keep the process up.
    const timer = new AbortController();
    const finished = await Promise.race([done, sleep(grace, timer.signal).then(() => false)]);
    timer.abort();
    if (finished) return;
    // Hand back what did not finish: the cloud gives it to another executor
    // at once, and the attempt does not count.
    for (const run of this.running) {
      run.handedBack = true;
      run.abort.abort(new LeaseLost('drained'));
      run.stop();
      run.log('warn', 'the executor is stopping: task handed back');
      await run.flush();
      try {
        await this.client.request('POST', `/tasks/${run.task.taskId}/release`, {
          body: run.lease,
          timeoutMs: 5_000,
        });
        this.note('info', `task ${run.task.taskId} handed back`);
      } catch (err) {
        this.note('warn', `could not hand back task ${run.task.taskId}: ${messageOf(err)}`);
      }
    }
    const last = new AbortController();
    await Promise.race([Promise.all(tasks), sleep(5_000, last.signal)]);
    last.abort();
  }

  /** Stops claiming; running tasks finish or are handed back within the grace period. */
  drain(): void {
    if (this.stopping.signal.aborted) return;
    this.note('info', 'draining: no new tasks');
    this.stopping.abort();
  }

  /** Both sides speak protocol 1.1: claims of several tasks, completions together. */
  private batches(): boolean {
    return (
      supportsBatches(this.protocolVersion) &&
      supportsBatches(this.registration?.protocolVersion ?? '1.0')
    );
  }

  /**
   * A long poll for up to `free` tasks (one at a time from a cloud older
   * than protocol 1.1); none when the wait ended empty.
   */
  private async claim(free: number): Promise<ClaimedTask[]> {
    const waitMs = this.options.claimWaitMs ?? 25_000;
    const options = { timeoutMs: waitMs + 10_000, signal: this.stopping.signal };
    if (!this.batches()) {
      const one = await this.client.request<ClaimedTask | undefined>('POST', '/tasks/claim', {
        ...options,
        body: { executorId: this.executorId, waitMs },
      });
      return one ? [one] : [];
    }
    const answer = await this.client.request<ClaimBatchResponse | undefined>(
      'POST',
      '/tasks/claim',
      { ...options, body: { executorId: this.executorId, waitMs, max: Math.max(1, free) } },
    );
    return answer?.tasks ?? [];
  }

  private async complete(
    run: TaskRun,
    req: Omit<CompleteRequest, 'leaseId' | 'fencingToken'>,
  ): Promise<void> {
    await run.flush();
    const body: CompleteRequest = {
      ...run.lease,
      ...req,
      ...(req.error ? { error: this.redact(req.error) } : {}),
    };
    if (this.batches()) {
      await this.completions.complete(run.task.taskId, body);
      return;
    }
    await (this.taskClient ?? this.client).request('POST', `/tasks/${run.task.taskId}/complete`, {
      body,
      idempotent: true,
    });
  }

  private execute(task: ClaimedTask): Promise<void> {
    const leaseTtlMs = this.registration?.leaseTtlMs ?? 30_000;
    // The protocol's rule, or the cloud's advice when that is more often.
    const advised = this.registration?.heartbeatIntervalMs ?? 0;
    const ruled = heartbeatIntervalFor(leaseTtlMs);
    const heartbeatMs = advised > 0 ? Math.min(advised, ruled) : ruled;
    let lostAdapter: EngineAdapter | undefined;
    const run = new TaskRun(task, this.client, this.redact, heartbeatMs, leaseTtlMs, () => {
      this.note('warn', 'lease lost: cancelling warehouse queries and dropping the task', {
        task: task.taskId,
      });
      void lostAdapter?.cancel().catch(() => undefined);
    });
    return this.taskScope.run(run, () =>
      this.executeIn(run, (a) => {
        lostAdapter = a;
      }),
    );
  }

  private async executeIn(run: TaskRun, useAdapter: (a: EngineAdapter) => void): Promise<void> {
    const task = run.task;
    this.running.add(run);
    this.stats.running = this.running.size;
    run.start();
    this.note(
      'info',
      `task ${task.taskId} claimed (${task.payload.kind}, attempt ${task.attempt})`,
    );
    try {
      const { adapter, name, concurrency } = await this.openAdapter(task.payload.gateway, run);
      useAdapter(adapter);
      const [{ SnapshotEvaluator }, { applyPlan }] = await Promise.all([
        import('../engine/evaluate/snapshot-evaluator.js'),
        import('../engine/plan/plan-applier.js'),
      ]);
      const evaluator = new SnapshotEvaluator(adapter, { gateway: name });
      const state = new HttpStateSync(
        (this.taskClient ?? this.client).withLease(
          task.taskId,
          task.lease.leaseId,
          task.lease.fencingToken,
        ),
      );
      if (task.payload.kind === 'apply_plan') {
        const resumed = await withoutRecordedBatches(task.payload.plan as Plan, state);
        const plan = resumed.plan;
        run.log('info', `applying plan ${plan.id} to ${plan.environment}`);
        if (resumed.skipped > 0) {
          run.log('info', `${resumed.skipped} batch(es) recorded already: resuming after them`);
        }
        const result = await applyPlan(plan, {
          state,
          evaluator,
          concurrency,
          clock: () => Date.now(),
          signal: run.abort.signal,
          createdBy: `executor:${this.executorId}`,
          onEvent: (e) => this.report(run, e, plan),
        });
        if (run.lost || run.handedBack) throw new LeaseLost('the lease was lost');
        if (result.status === 'succeeded') {
          run.log('info', `plan ${plan.id} applied: ${result.backfill.evaluations} evaluation(s)`);
          await this.complete(run, { status: 'succeeded' });
          this.stats.completed += 1;
        } else {
          run.log('error', result.error ?? 'the plan failed');
          await this.complete(run, {
            status: 'failed',
            error: result.error ?? 'the plan failed',
            retryable: false,
          });
          this.stats.failed += 1;
        }
      } else {
        const snapshot = task.payload.snapshot as Snapshot;
        const byName = new Map<string, Snapshot>();
        for (const s of Object.values(task.payload.parents) as Snapshot[]) byName.set(s.name, s);
        byName.set(snapshot.name, snapshot);
        await evaluator.createTable(snapshot, byName, task.payload.executionTime);
        for (const batch of task.payload.batches) {
          if (run.abort.signal.aborted) throw new LeaseLost('the lease was lost');
          const started = performance.now();
          try {
            const result = await evaluator.evaluate(
              snapshot,
              batch,
              task.payload.executionTime,
              byName,
              task.payload.environment,
            );
            if (run.lost || run.handedBack) throw new LeaseLost('the lease was lost');
            await state.addInterval(snapshot, snapshot.version, batch);
            run.evaluation({
              model: snapshot.name,
              identifier: snapshot.identifier,
              version: snapshot.version,
              interval: batch,
              status: 'succeeded',
              ...(result.rows !== undefined ? { rows: result.rows } : {}),
              durationMs: Math.round(performance.now() - started),
            });
            for (const a of result.audits ?? []) {
              if (!a.passed && !a.skipped)
                run.log('warn', `audit ${a.name} failed (${a.failingRows} row(s)); non-blocking`);
            }
          } catch (err) {
            if (!(err instanceof LeaseLost)) {
              run.evaluation({
                model: snapshot.name,
                identifier: snapshot.identifier,
                version: snapshot.version,
                interval: batch,
                status: 'failed',
                durationMs: Math.round(performance.now() - started),
                error: messageOf(err),
              });
            }
            throw err;
          }
        }
        await this.complete(run, { status: 'succeeded' });
        this.stats.completed += 1;
      }
    } catch (err) {
      if (err instanceof LeaseLost || run.lost || run.handedBack) {
        this.stats.aborted += 1;
        this.note(
          'warn',
          `task ${task.taskId} ${run.handedBack ? 'handed back' : 'dropped'}: ${messageOf(err)}`,
        );
      } else {
        this.stats.failed += 1;
        run.log('error', messageOf(err));
        this.note('error', `task ${task.taskId} failed: ${messageOf(err)}`);
        await this.complete(run, {
          status: 'failed',
          error: messageOf(err),
          retryable: isRetryable(err),
        }).catch((e) => this.note('warn', `could not report the failure: ${messageOf(e)}`));
      }
    } finally {
      run.stop();
      this.running.delete(run);
      this.stats.running = this.running.size;
      if (this.running.size === 0) await this.releaseFileDatabases();
    }
  }

  /**
   * The gateway's adapter, connected. A DuckDB file is open in one process at
   * a time, so while another process (the other executor, say) holds it the
   * executor waits for it, for as long as its lease lasts.
   */
  private async openAdapter(
    gateway: string | undefined,
    run: TaskRun,
  ): Promise<{ adapter: EngineAdapter; name: string; concurrency: number }> {
    let delay = 250;
    for (;;) {
      // The drivers load with the first task, not at start (an idle executor stays small).
      const { createAdapter } = await import('../engine/adapters/adapter-factory.js');
      const opened = this.adapterFor(gateway, createAdapter);
      try {
        await opened.adapter.ping();
        return opened;
      } catch (err) {
        if (!/Could not set lock|Conflicting lock|database is locked/i.test(messageOf(err)))
          throw err;
        // Forget the half-open adapter; the next try opens the file afresh.
        for (const [key, a] of this.adapters) {
          if (a === opened.adapter) this.adapters.delete(key);
        }
        await opened.adapter.close().catch(() => undefined);
        if (run.abort.signal.aborted) throw err;
        run.log(
          'info',
          `the warehouse file is in use by another process; waiting (${messageOf(err)})`,
        );
        await sleep(delay, run.abort.signal);
        delay = Math.min(delay * 2, 5_000);
      }
    }
  }

  /** Closes DuckDB files between tasks, so that other processes may open them. */
  private async releaseFileDatabases(): Promise<void> {
    for (const [key, adapter] of this.adapters) {
      const [, connection] = JSON.parse(key) as [string, { type?: string; database?: string }];
      if (
        connection.type !== 'duckdb' ||
        !connection.database ||
        connection.database === ':memory:'
      ) {
        continue;
      }
      this.adapters.delete(key);
      await adapter.close().catch(() => undefined);
    }
  }

  private report(run: TaskRun, event: ApplyEvent, plan: Plan): void {
    const snapshotOf = (name: string) => plan.snapshots.find((s) => s.name === name);
    switch (event.type) {
      case 'stage':
        run.setProgress({ stage: event.stage });
        run.log('info', `stage: ${event.stage}`);
        break;
      case 'batch_done':
        run.evaluation({
          model: event.name,
          identifier: snapshotOf(event.name)?.identifier ?? '',
          version: snapshotOf(event.name)?.version ?? '',
          interval: event.interval,
          status: 'succeeded',
          ...(event.rows !== undefined ? { rows: event.rows } : {}),
          durationMs: Math.round(event.durationMs),
        });
        run.setProgress({
          stage: 'backfill',
          batch: event.batch,
          batches: event.batches,
          model: event.name,
        });
        void run.flush();
        break;
      case 'batch_failed':
        run.evaluation({
          model: event.name,
          identifier: snapshotOf(event.name)?.identifier ?? '',
          version: snapshotOf(event.name)?.version ?? '',
          interval: event.interval,
          status: 'failed',
          durationMs: Math.round(event.durationMs),
          error: event.error.message,
        });
        break;
      case 'note':
        run.log(event.message.startsWith('warning:') ? 'warn' : 'info', event.message);
        break;
      default:
        break;
    }
  }
}
