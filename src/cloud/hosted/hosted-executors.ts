/**
 * Cloud-hosted executors (the standard deployment): for every project with
 * stored connections, the cloud starts run and apply executors as child
 * processes of the same program (`tideline executor run|apply --hosting
 * cloud`). Each project's children share an OAuth client of role executor
 * that the cloud creates for itself (named `cloud-hosted`; its secret lives
 * only in this process's memory and the children's environment) and receive
 * the opened connections as `SQLMESH__...` variables. They reach the cloud
 * over its own loopback address.
 *
 * Lifecycle: children that exit unexpectedly are restarted with exponential
 * backoff; when a project's connections change its children are stopped and
 * started again with the new ones; on stop every child gets SIGTERM (it
 * drains: finishes or hands back its task), then SIGKILL after the grace
 * period, and the cloud's clients are revoked. A child whose cloud dies sees
 * its standard input close and drains by itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { revokeClient } from '../auth/clients.js';
import {
  CONNECTION_CHANGED,
  connectedProjects,
  openConnections,
  type ConnectedProject,
} from '../connections/connection-store.js';
import type { MasterKey } from '../connections/master-key.js';
import type { CloudContext } from '../context.js';
import type { LogLevel } from '../logger.js';
import type { BackgroundService } from '../server.js';
import { createClient, type NewClient } from '../tenancy.js';
import { connectionEnv, inheritedEnv } from './executor-env.js';

export type HostedKind = 'run' | 'apply';

/** The name of the OAuth client the cloud makes for its own executors. */
export const HOSTED_CLIENT_NAME = 'cloud-hosted';

export interface HostedExecutorsOptions {
  masterKey: MasterKey;
  /** Run executors per project (1 by default; 0 for none). */
  runExecutors?: number;
  /** Apply executors per project (1 by default; 0 for none). */
  applyExecutors?: number;
  /**
   * The cloud's own base URL on loopback (`http://127.0.0.1:8000`). When
   * unknown at construction (port 0), give it to {@link HostedExecutors.listening}.
   */
  cloudUrl?: string;
  /** The program to start: Node and the CLI script (this package's `bin/tideline.js` by default). */
  command?: { execPath: string; args: readonly string[] };
  /** Where children resolve relative DuckDB paths (the working folder by default). */
  dataDir?: string;
  /** How long a stopping child may drain before SIGKILL, ms (30 s by default). */
  graceMs?: number;
  /** First restart delay, ms (1 s by default), doubled per quick failure up to `maxRestartDelayMs`. */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
  /** How often the store is checked for connection changes made elsewhere, ms (15 s by default). */
  pollMs?: number;
  /** Extra variables for every child (e.g. TCLOUD_CONCURRENCY). */
  env?: Record<string, string>;
  /** The environment whose harmless part children inherit (PATH, HOME, TZ...); the process's by default. */
  baseEnv?: Record<string, string | undefined>;
}

/** A child as {@link HostedExecutors.children} describes it. */
export interface HostedChildInfo {
  projectId: string;
  /** The name it registers with, e.g. `cloud-apply-1`. */
  name: string;
  kind: HostedKind;
  /** The process id while running. */
  pid: number | undefined;
  restarts: number;
}

interface Child {
  name: string;
  kind: HostedKind;
  env: Record<string, string>;
  proc: ChildProcess | undefined;
  /** Resolves when the current process has exited. */
  exited: Promise<void>;
  startedAt: number;
  /** Consecutive quick failures, for the backoff. */
  failures: number;
  restarts: number;
  restartTimer: NodeJS.Timeout | undefined;
  stopping: boolean;
}

interface Group {
  project: ConnectedProject;
  client: NewClient | undefined;
  children: Child[];
}

/** A child that ran this long had a good run: its next failure restarts at the first delay. */
const STABLE_MS = 60_000;
/** Longest output line forwarded to the log. */
const MAX_LINE = 4_000;

/** This package's CLI script, found above this module (dist or sources). */
export function defaultCliScript(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'bin', 'tideline.js');
    if (existsSync(candidate) && existsSync(join(dir, 'package.json'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find bin/tideline.js above the cloud module');
    dir = parent;
  }
}

/** The cloud's loopback base URL for a listen address and port. */
export function loopbackUrl(host: string, port: number): string {
  const h = host.trim();
  if (h === '' || h === '0.0.0.0') return `http://127.0.0.1:${port}`;
  if (h === '::' || h === '[::]') return `http://[::1]:${port}`;
  return h.includes(':') && !h.startsWith('[') ? `http://[${h}]:${port}` : `http://${h}:${port}`;
}

const LEVELS = new Set<LogLevel>(['debug', 'info', 'warn', 'error']);

export class HostedExecutors implements BackgroundService {
  readonly name = 'hosted-executors';
  private ctx: CloudContext | undefined;
  private cloudUrl: string | undefined;
  private readonly groups = new Map<string, Group>();
  private chain: Promise<void> = Promise.resolve();
  private pending = false;
  private stopped = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly options: HostedExecutorsOptions) {
    for (const [what, n] of [
      ['runExecutors', options.runExecutors],
      ['applyExecutors', options.applyExecutors],
    ] as const) {
      if (n !== undefined && (!Number.isInteger(n) || n < 0 || n > 64)) {
        throw new RangeError(`${what} must be a whole number from 0 to 64, got ${n}`);
      }
    }
    this.cloudUrl = options.cloudUrl?.replace(/\/+$/, '');
  }

  start(ctx: CloudContext): void {
    this.ctx = ctx;
    this.unsubscribe = ctx.events.subscribe((event) => {
      if (event.type === CONNECTION_CHANGED) this.schedule(100);
    });
    this.pollTimer = setInterval(() => this.schedule(0), this.options.pollMs ?? 15_000);
    this.pollTimer.unref();
    this.schedule(0);
  }

  /** Tells the supervisor where the cloud listens (when not known at construction). */
  listening(cloudUrl: string): void {
    this.cloudUrl = cloudUrl.replace(/\/+$/, '');
    this.schedule(0);
  }

  /** The children as they are now. */
  children(): HostedChildInfo[] {
    return [...this.groups.values()].flatMap((g) =>
      g.children.map((c) => ({
        projectId: g.project.projectId,
        name: c.name,
        kind: c.kind,
        pid: c.proc?.pid,
        restarts: c.restarts,
      })),
    );
  }

  /** Checks the store now and brings the children in line; resolves when done. */
  reconcileNow(): Promise<void> {
    this.chain = this.chain.then(() => this.reconcile()).catch((err) => this.fail(err));
    return this.chain;
  }

  private schedule(delayMs: number): void {
    if (this.stopped || this.pending) return;
    this.pending = true;
    this.debounce = setTimeout(() => {
      this.pending = false;
      void this.reconcileNow();
    }, delayMs);
    this.debounce.unref();
  }

  private fail(err: unknown): void {
    this.ctx?.log.error('hosted executors: cannot check the connections', {
      error: err instanceof Error ? err.message : String(err),
    });
  }

  private async reconcile(): Promise<void> {
    const ctx = this.ctx;
    if (!ctx || !this.cloudUrl || this.stopped) return;
    const projects = await connectedProjects(ctx);
    const wanted = new Map(projects.map((p) => [p.projectId, p]));
    for (const [id, group] of this.groups) {
      if (wanted.has(id)) continue;
      ctx.log.info(
        'hosted executors: the project has no connections left; stopping its executors',
        {
          project: id,
        },
      );
      await this.stopGroup(group, true);
      this.groups.delete(id);
    }
    for (const project of projects) {
      if (this.stopped) return;
      const group = this.groups.get(project.projectId);
      if (group && group.project.digest === project.digest) continue;
      if (group) {
        ctx.log.info('hosted executors: connections changed; restarting the executors', {
          project: project.projectId,
        });
        await this.stopGroup(group, false);
      }
      const next: Group = group ?? { project, client: undefined, children: [] };
      next.project = project;
      next.children = [];
      this.groups.set(project.projectId, next);
      await this.startGroup(ctx, next);
    }
  }

  private async startGroup(ctx: CloudContext, group: Group): Promise<void> {
    // A project whose connections cannot be opened keeps no children until they change.
    const { projectId, org, name } = group.project;
    let connectionVars: Record<string, string>;
    try {
      const opened = await openConnections(ctx, this.options.masterKey, projectId);
      connectionVars = connectionEnv(opened);
    } catch (err) {
      ctx.log.error('hosted executors: cannot open the connections; no executors for the project', {
        project: projectId,
        error: err instanceof Error ? err.message : String(err),
      });
      return;
    }
    group.client ??= await createClient(ctx, projectId, {
      name: HOSTED_CLIENT_NAME,
      role: 'executor',
      createdBy: 'cloud',
    });
    const env: Record<string, string> = {
      ...inheritedEnv(this.options.baseEnv ?? process.env),
      ...this.options.env,
      ...connectionVars,
      TCLOUD_URL: `${this.cloudUrl}/sqlmesh/${encodeURIComponent(org)}/${encodeURIComponent(name)}`,
      TCLOUD_CLIENT_ID: group.client.clientId,
      TCLOUD_CLIENT_SECRET: group.client.clientSecret,
    };
    const counts: Array<[HostedKind, number]> = [
      ['apply', this.options.applyExecutors ?? 1],
      ['run', this.options.runExecutors ?? 1],
    ];
    for (const [kind, count] of counts) {
      for (let i = 1; i <= count; i++) {
        const childName = `cloud-${kind}-${i}`;
        const child: Child = {
          name: childName,
          kind,
          env: { ...env, TCLOUD_EXECUTOR_NAME: childName },
          proc: undefined,
          exited: Promise.resolve(),
          startedAt: 0,
          failures: 0,
          restarts: 0,
          restartTimer: undefined,
          stopping: false,
        };
        group.children.push(child);
        this.spawnChild(group, child);
      }
    }
    ctx.log.info('hosted executors started', {
      project: projectId,
      executors: group.children.map((c) => c.name),
    });
  }

  private spawnChild(group: Group, child: Child): void {
    const ctx = this.ctx;
    if (!ctx || this.stopped || child.stopping) return;
    const command = this.options.command ?? {
      execPath: process.execPath,
      args: [defaultCliScript()],
    };
    const graceMs = this.options.graceMs ?? 30_000;
    // The child's own drain ends a little before the supervisor's SIGKILL.
    const childGrace = Math.max(0, graceMs - Math.min(2_000, graceMs / 4)) / 1000;
    const args = [
      ...command.args,
      'executor',
      child.kind,
      '--hosting',
      'cloud',
      '--grace',
      String(childGrace),
      ...(this.options.dataDir ? ['--data-dir', this.options.dataDir] : []),
    ];
    const log = ctx.log.child({ project: group.project.projectId, hostedExecutor: child.name });
    let proc: ChildProcess;
    try {
      proc = spawn(command.execPath, args, {
        env: child.env,
        // stdin stays open and unwritten: it closes if the cloud dies, and the child drains.
        stdio: ['pipe', 'pipe', 'pipe'],
        ...(this.options.dataDir ? { cwd: this.options.dataDir } : {}),
      });
    } catch (err) {
      log.error('hosted executor could not start', {
        error: err instanceof Error ? err.message : String(err),
      });
      this.scheduleRestart(group, child, log);
      return;
    }
    child.proc = proc;
    child.startedAt = Date.now();
    let ended = false;
    child.exited = new Promise<void>((resolve) => {
      const onEnd = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
        if (ended) return;
        ended = true;
        if (child.proc === proc) child.proc = undefined;
        resolve();
        if (child.stopping || this.stopped) return;
        log.warn('hosted executor exited', {
          code,
          signal,
          ...(error ? { error: error.message } : {}),
        });
        if (Date.now() - child.startedAt >= STABLE_MS) child.failures = 0;
        this.scheduleRestart(group, child, log);
      };
      proc.once('exit', (code, signal) => onEnd(code, signal));
      proc.once('error', (err) => onEnd(null, null, err));
    });
    proc.stdin?.on('error', () => undefined);
    for (const stream of [proc.stdout, proc.stderr]) {
      if (!stream) continue;
      const lines = createInterface({ input: stream, crlfDelay: Infinity });
      lines.on('line', (line) => this.forward(log, line));
    }
  }

  private scheduleRestart(group: Group, child: Child, log: CloudContext['log']): void {
    if (child.stopping || this.stopped) return;
    const first = this.options.restartDelayMs ?? 1_000;
    const max = this.options.maxRestartDelayMs ?? 60_000;
    const delay = Math.min(max, first * 2 ** Math.min(child.failures, 20));
    child.failures += 1;
    log.info('hosted executor restarting', { inMs: delay });
    child.restartTimer = setTimeout(() => {
      child.restartTimer = undefined;
      child.restarts += 1;
      this.spawnChild(group, child);
    }, delay);
    child.restartTimer.unref();
  }

  /** A child's output line (its JSON log) into the cloud's log, at the line's level. */
  private forward(log: CloudContext['log'], raw: string): void {
    const line = raw.length > MAX_LINE ? `${raw.slice(0, MAX_LINE)}...` : raw;
    if (!line.trim()) return;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed && typeof parsed === 'object' && typeof parsed['msg'] === 'string') {
        const { msg, level, ts: _ts, ...fields } = parsed;
        const at = LEVELS.has(level as LogLevel) ? (level as LogLevel) : 'info';
        log[at](`executor: ${msg as string}`, fields);
        return;
      }
    } catch {
      // Not a JSON log line: forwarded as text.
    }
    log.info(`executor: ${line}`);
  }

  private async stopChild(child: Child): Promise<void> {
    child.stopping = true;
    if (child.restartTimer) clearTimeout(child.restartTimer);
    child.restartTimer = undefined;
    const proc = child.proc;
    if (!proc) return;
    proc.kill('SIGTERM');
    const graceMs = this.options.graceMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([
      child.exited.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), graceMs);
      }),
    ]);
    if (timer) clearTimeout(timer);
    if (!inTime) {
      this.ctx?.log.warn('hosted executor did not stop in time; killing it', {
        hostedExecutor: child.name,
      });
      proc.kill('SIGKILL');
      await child.exited;
    }
  }

  private async stopGroup(group: Group, revoke: boolean): Promise<void> {
    await Promise.all(group.children.map((c) => this.stopChild(c)));
    group.children = [];
    if (revoke && group.client && this.ctx) {
      await revokeClient(this.ctx, group.project.projectId, group.client.clientId).catch(
        () => undefined,
      );
      group.client = undefined;
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.debounce) clearTimeout(this.debounce);
    // Let a check in progress finish (it sees `stopped` and starts nothing more).
    await this.chain.catch(() => undefined);
    await Promise.all([...this.groups.values()].map((g) => this.stopGroup(g, true)));
    this.groups.clear();
  }
}
