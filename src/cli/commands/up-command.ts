/**
 * `tideline up`: the whole product on one machine, in one process tree.
 *
 * It starts the cloud on a SQLite store kept in the project folder
 * (`.tideline/cloud.db`), makes sure an organization, a project, OAuth clients
 * for the executors and the CLI, and a web UI user exist, starts a run
 * executor and an apply executor as child processes working on the project's
 * embedded DuckDB warehouse, writes the example project when the folder has
 * none, plans prod against the cloud's state and submits the plan, follows it
 * until it is applied, then prints how to reach the UI and the CLI settings and
 * keeps serving: the scheduler queues runs at cron boundaries and the run
 * executor evaluates them. SIGINT or SIGTERM drains the executors and stops
 * the cloud.
 *
 * Started again on the same folder it reuses the store, the project and the
 * OAuth clients (their secrets are kept in `.tideline/up.json`, readable by
 * the owner only); the web UI password is shown at the first start only,
 * unless `--reset-password` asks for a new one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, type Command } from 'commander';
import { listClients, revokeClient } from '../../cloud/auth/clients.js';
import { randomToken, verifySecret } from '../../cloud/auth/secrets.js';
import { resolveSigningKey } from '../../cloud/auth/signing-key.js';
import { addUser, findUserByName, updateUser } from '../../cloud/auth/users.js';
import type { CloudContext } from '../../cloud/context.js';
import { createLogger } from '../../cloud/logger.js';
import { ALL_ROUTES, defaultServices } from '../../cloud/routes.js';
import { startCloudServer, type CloudServer } from '../../cloud/server.js';
import { openStore } from '../../cloud/store/database.js';
import type { Role } from '../../cloud/store/schema.js';
import { createClient, ensureProject, type ProjectRecord } from '../../cloud/tenancy.js';
import { ConfigError, TidelineError } from '../../engine/errors.js';
import { buildPlan } from '../../engine/plan/plan-builder.js';
import { planHasWork, type Plan } from '../../engine/plan/plan-types.js';
import { loadProject, type Project } from '../../engine/project/project-loader.js';
import { buildSnapshots } from '../../engine/snapshot/snapshot-builder.js';
import { writeStarterProject } from '../../engine/starter/starter-project.js';
import { CloudClient } from '../../executor/client/cloud-client.js';
import { HttpStateSync } from '../../executor/client/http-state-sync.js';
import type { ExecutorInfo, PlanProgress } from '../../protocol/messages.js';
import type { CliIo } from '../cli-context.js';

export const UP_DEFAULT_PORT = 8000;
export const UP_DEFAULT_HOST = '127.0.0.1';
export const UP_DEFAULT_ORG = 'local';
export const UP_USERNAME = 'admin';
/** The folder inside the project that holds the store, logs and saved credentials. */
export const UP_FOLDER = '.tideline';
/** Who the OAuth clients `up` makes are marked as created by. */
const CREATED_BY = 'tideline up';
const EXECUTOR_KINDS = ['run', 'apply'] as const;
type ExecutorKind = (typeof EXECUTOR_KINDS)[number];

/** The compiled CLI entry point the executors are started with. */
const CLI_ENTRY = fileURLToPath(new URL('../../../../bin/tideline.js', import.meta.url));

export interface UpOptions {
  /** The project folder (absolute). */
  dir: string;
  host: string;
  port: number;
  /** The cloud's store URL; default `sqlite:<dir>/.tideline/cloud.db`. */
  state?: string;
  org: string;
  /** The cloud project's name; default the folder's name. */
  project?: string;
  resetPassword: boolean;
  /** Seconds the executors get to finish running work when stopping. */
  graceSeconds: number;
}

interface SavedClient {
  clientId: string;
  clientSecret: string;
}

/** What `.tideline/up.json` keeps between starts. */
interface SavedState {
  org: string;
  project: string;
  clients: Partial<Record<'executor' | 'admin', SavedClient>>;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) {
    throw new InvalidArgumentError('use a port number from 0 to 65535');
  }
  return port;
}

function parseSeconds(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 3600) {
    throw new InvalidArgumentError('use a whole number of seconds from 0 to 3600');
  }
  return n;
}

/** A cloud project name made from a folder name (letters, digits, `_ - .`). */
export function projectNameFor(dir: string): string {
  const cleaned = basename(dir)
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 63);
  return cleaned || 'project';
}

/**
 * The gateway variables an executor of the project gets: one DuckDB gateway
 * per DuckDB gateway of the project, its database file as an absolute path,
 * the project's default gateway first and named default. Refuses a default
 * gateway that is not a DuckDB file.
 */
export function warehouseEnvFor(
  project: Pick<Project, 'root' | 'config' | 'gatewayName'>,
): Record<string, string> {
  const env: Record<string, string> = {};
  const names = Object.keys(project.config.gateways).sort((a, b) =>
    a === project.gatewayName ? -1 : b === project.gatewayName ? 1 : a < b ? -1 : 1,
  );
  for (const name of names) {
    const connection = project.config.gateways[name]?.connection;
    const isDefault = name === project.gatewayName;
    const where = `${project.config.configFile ?? 'config.yaml'}: gateways.${name}.connection`;
    if (connection?.type !== 'duckdb') {
      if (isDefault) {
        throw new ConfigError(
          where,
          `tideline up runs the embedded DuckDB warehouse, but gateway ${name} uses ${connection?.type ?? 'no connection'}; use a DuckDB gateway here, or run executors next to your warehouse (see deploy/README.md)`,
        );
      }
      continue;
    }
    const database = connection.database;
    if (!database || database === ':memory:') {
      if (!isDefault) continue;
      throw new ConfigError(
        `${where}.database`,
        'is an in-memory DuckDB, which separate executor processes cannot share; set it to a file such as db.db',
      );
    }
    const key = `SQLMESH__GATEWAYS__${name.toUpperCase()}__CONNECTION__`;
    env[`${key}TYPE`] = 'duckdb';
    env[`${key}DATABASE`] = isAbsolute(database) ? database : resolve(project.root, database);
  }
  env['SQLMESH__DEFAULT_GATEWAY'] = project.gatewayName.toUpperCase();
  return env;
}

function readSaved(file: string): SavedState | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as SavedState;
    if (typeof value.org === 'string' && typeof value.project === 'string' && value.clients) {
      return value;
    }
  } catch {
    // A damaged file is replaced; the clients it named are revoked below.
  }
  return undefined;
}

function writeSaved(file: string, state: SavedState): void {
  writeFileSync(file, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
}

/**
 * The saved client when it still works (exists in the project, not revoked,
 * secret matches), else a new one; other clients `up` made with this role
 * are revoked so they do not pile up.
 */
async function reuseOrCreateClient(
  ctx: CloudContext,
  project: ProjectRecord,
  role: Role,
  name: string,
  saved: SavedClient | undefined,
): Promise<{ client: SavedClient; reused: boolean }> {
  let keep: SavedClient | undefined;
  if (saved) {
    const row = await ctx.store.db
      .selectFrom('oauth_clients')
      .select(['secret_hash', 'revoked_ts', 'role'])
      .where('id', '=', saved.clientId)
      .where('project_id', '=', project.id)
      .executeTakeFirst();
    if (
      row &&
      row.revoked_ts === null &&
      row.role === role &&
      (await verifySecret(saved.clientSecret, row.secret_hash))
    ) {
      keep = saved;
    }
  }
  for (const c of await listClients(ctx, project.id)) {
    if (c.createdBy === CREATED_BY && c.role === role && c.revokedTs === null) {
      if (c.clientId !== keep?.clientId) await revokeClient(ctx, project.id, c.clientId);
    }
  }
  if (keep) return { client: keep, reused: true };
  const made = await createClient(ctx, project.id, { name, role, createdBy: CREATED_BY });
  return { client: { clientId: made.clientId, clientSecret: made.clientSecret }, reused: false };
}

/** The UI user: created with a generated password, or given a new one on request. */
async function ensureUiUser(
  ctx: CloudContext,
  project: ProjectRecord,
  reset: boolean,
): Promise<{ password?: string; created: boolean }> {
  const found = await findUserByName(ctx, project.id, UP_USERNAME);
  if (found) {
    if (!reset) return { created: false };
    const password = randomToken('', 18);
    await updateUser(ctx, project.id, found.userId, { password }, { operator: true });
    return { password, created: false };
  }
  const account = await ctx.store.db
    .selectFrom('users')
    .select('id')
    .where('username', '=', UP_USERNAME)
    .executeTakeFirst();
  if (account) {
    // The account exists for another project of this store: give it a role here.
    await addUser(ctx, project.id, { username: UP_USERNAME, role: 'admin' });
    return { created: false };
  }
  const password = randomToken('', 18);
  await addUser(ctx, project.id, { username: UP_USERNAME, password, role: 'admin' });
  return { password, created: true };
}

function day(ts: number): string {
  const iso = new Date(ts).toISOString();
  return ts % 86_400_000 === 0 ? iso.slice(0, 10) : iso.replace(/\.\d{3}Z$/, 'Z');
}

/** An interval as people read it: `[start, end)` with the end day inclusive when whole days. */
export function formatInterval([start, end]: readonly [number, number]): string {
  if (start % 86_400_000 === 0 && end % 86_400_000 === 0) {
    const last = day(end - 86_400_000);
    return last === day(start) ? day(start) : `${day(start)} – ${last}`;
  }
  return `${day(start)} – ${day(end)}`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolveSleep) => {
    if (signal.aborted) return resolveSleep();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolveSleep();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** One executor child process, restarted when it stops on its own. */
class ExecutorChild {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stopping = false;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Pids of every process started, for the record. */
  readonly pids: number[] = [];

  constructor(
    readonly kind: ExecutorKind,
    private readonly env: NodeJS.ProcessEnv,
    private readonly cwd: string,
    private readonly logFile: string,
    private readonly graceSeconds: number,
    private readonly io: CliIo,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(
      process.execPath,
      [
        CLI_ENTRY,
        'executor',
        this.kind,
        '--data-dir',
        this.cwd,
        '--grace',
        String(this.graceSeconds),
      ],
      { cwd: this.cwd, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    this.child = child;
    if (child.pid !== undefined) this.pids.push(child.pid);
    this.exited = new Promise((done) => {
      child.once('error', (err) => {
        this.io.err(`Error: could not start the ${this.kind} executor: ${err.message}`);
      });
      child.once('close', (code, signal) => {
        log.end();
        this.child = undefined;
        done();
        if (this.stopping) return;
        this.restarts += 1;
        const why = signal ? `signal ${signal}` : `exit code ${String(code)}`;
        if (this.restarts > 5) {
          this.io.err(
            `Error: the ${this.kind} executor stopped (${why}) ${this.restarts} times; not restarting it. See ${this.logFile}`,
          );
          return;
        }
        this.io.err(
          `Warning: the ${this.kind} executor stopped (${why}); restarting it. See ${this.logFile}`,
        );
        this.restartTimer = setTimeout(() => this.start(), 2_000 * this.restarts);
      });
    });
  }

  /** Asks the executor to drain (SIGTERM) and waits; kills it when it takes too long. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), (this.graceSeconds + 10) * 1000);
    await this.exited;
    clearTimeout(killer);
  }

  /** Kills at once (a second Ctrl-C). */
  kill(): void {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.child?.kill('SIGKILL');
  }
}

/** Waits until both executors of this start have registered with the cloud. */
async function waitForExecutors(
  admin: CloudClient,
  names: string[],
  since: number,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!signal.aborted && Date.now() < deadline) {
    const { executors } = await admin.request<{ executors: ExecutorInfo[] }>('GET', '/executors');
    const online = names.every((n) =>
      executors.some((e) => e.name === n && e.status === 'online' && e.lastSeenTs >= since - 1000),
    );
    if (online) return true;
    await sleep(250, signal);
  }
  return false;
}

/** Prints the plan's progress until it ends; returns its final status and error. */
async function followPlan(
  admin: CloudClient,
  planId: string,
  io: CliIo,
  signal: AbortSignal,
): Promise<{ status: string; error: string | null }> {
  let after: number | undefined;
  let evaluationsAfter: string | undefined;
  for (;;) {
    const p = await admin.request<PlanProgress>(
      'GET',
      `/plans/${encodeURIComponent(planId)}/progress`,
      {
        query: { after, evaluationsAfter },
      },
    );
    for (const line of p.logs) {
      io.out(`  ${line.level === 'info' ? '' : `${line.level}: `}${line.message}`);
    }
    for (const e of p.evaluations) {
      const mark = e.status === 'succeeded' ? '✓' : e.status === 'failed' ? '✗' : '·';
      const rows = e.rows === null ? '' : `, ${e.rows} row(s)`;
      const err = e.error ? `: ${e.error}` : '';
      io.out(`  ${mark} ${e.model.replace(/"/g, '')} ${formatInterval(e.interval)}${rows}${err}`);
    }
    after = p.nextAfter;
    evaluationsAfter = p.nextEvaluationsAfter ?? undefined;
    const terminal = ['succeeded', 'failed', 'cancelled'].includes(p.status);
    // A terminal status is final only once nothing more is left to print.
    if (terminal && p.logs.length === 0 && p.evaluations.length === 0) {
      return { status: p.status, error: p.error };
    }
    if (signal.aborted) return { status: 'interrupted', error: null };
    if (!terminal) await sleep(300, signal);
  }
}

/** Plans prod against the cloud's state and submits the plan when it has work. */
async function planProd(
  dir: string,
  io: CliIo,
  admin: CloudClient,
  signal: AbortSignal,
): Promise<Plan | undefined> {
  const now = Date.now();
  const project = await loadProject(dir, { env: io.env, now });
  for (const w of project.warnings) io.err(`Warning: ${w}`);
  const snapshots = buildSnapshots(project, { now });
  const plan = await buildPlan({
    environment: 'prod',
    snapshots,
    state: new HttpStateSync(admin),
    now,
  });
  if (!planHasWork(plan)) {
    io.out('prod is up to date with the project files: nothing to apply.');
    return undefined;
  }
  const models = plan.backfill.filter((b) => b.batches.length > 0).length;
  io.out(
    `Planned prod: ${plan.changes.length} change(s), ${models} model(s) to backfill; submitting plan ${plan.id}`,
  );
  if (signal.aborted) return undefined;
  await admin.request('POST', '/plans', { body: { plan } });
  return plan;
}

/**
 * Runs `up` until `stop` aborts. Startup failures throw after everything
 * started so far is stopped again.
 */
export async function runUp(
  options: UpOptions,
  io: CliIo,
  stop: AbortSignal,
  kill?: AbortSignal,
): Promise<void> {
  const dir = options.dir;
  mkdirSync(dir, { recursive: true });
  const folder = join(dir, UP_FOLDER);
  mkdirSync(folder, { recursive: true });
  // The folder holds secrets and the store: keep it out of the project's git.
  writeFileSync(join(folder, '.gitignore'), '*\n');

  const hasProject = ['config.yaml', 'config.yml'].some((f) => existsSync(join(dir, f)));
  if (!hasProject) {
    writeStarterProject(dir, 'duckdb');
    io.out(`Created the example project in ${dir}`);
  }
  // Loading first reports project mistakes before anything starts.
  const project = await loadProject(dir, { env: io.env });
  const warehouseEnv = warehouseEnvFor(project);

  const savedFile = join(folder, 'up.json');
  const saved = readSaved(savedFile);
  const org = options.org;
  const projectName = options.project ?? saved?.project ?? projectNameFor(dir);
  const state = options.state ?? `sqlite:${join(folder, 'cloud.db')}`;

  const signingStore = await openStore(state);
  let signing;
  try {
    signing = await resolveSigningKey({
      store: signingStore,
      env: io.env,
      warn: (m) => io.err(`Warning: ${m}`),
    });
  } finally {
    await signingStore.close();
  }

  const cloudLog = createWriteStream(join(folder, 'cloud.log'), { flags: 'a' });
  let server: CloudServer | undefined;
  const children: ExecutorChild[] = [];
  const onKill = () => {
    for (const c of children) c.kill();
  };
  kill?.addEventListener('abort', onKill, { once: true });
  try {
    server = await startCloudServer({
      state,
      host: options.host,
      port: options.port,
      signingKey: signing.key,
      settings: { secureCookies: false },
      log: createLogger({ write: (line) => cloudLog.write(line + '\n') }),
      routes: ALL_ROUTES,
      services: defaultServices(),
    }).catch((err: unknown) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || code === 'EACCES') {
        throw new TidelineError(
          `--port ${options.port}: ${code === 'EADDRINUSE' ? 'already in use' : 'not allowed'} on ${options.host}; choose another port, or --port 0 for any free one`,
        );
      }
      throw err;
    });
    const ctx = server.ctx;
    io.out(`Cloud listening on ${server.url} (store ${ctx.store.where})`);

    const record = await ensureProject(ctx, org, projectName);
    const sameProject = saved?.org === org && saved.project === projectName;
    const executorClient = await reuseOrCreateClient(
      ctx,
      record,
      'executor',
      'tideline up executors',
      sameProject ? saved.clients.executor : undefined,
    );
    const adminClient = await reuseOrCreateClient(
      ctx,
      record,
      'admin',
      'tideline up CLI',
      sameProject ? saved.clients.admin : undefined,
    );
    writeSaved(savedFile, {
      org,
      project: projectName,
      clients: { executor: executorClient.client, admin: adminClient.client },
    });
    const user = await ensureUiUser(ctx, record, options.resetPassword);
    io.out(
      `Project ${org}/${projectName}: ${executorClient.reused && adminClient.reused ? 'reusing its OAuth clients' : 'OAuth clients ready'}`,
    );

    const projectUrl = `${server.url}/sqlmesh/${encodeURIComponent(org)}/${encodeURIComponent(projectName)}`;
    const executorEnv = {
      TCLOUD_URL: projectUrl,
      TCLOUD_CLIENT_ID: executorClient.client.clientId,
      TCLOUD_CLIENT_SECRET: executorClient.client.clientSecret,
      ...warehouseEnv,
    };
    const childEnv: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(io.env)) {
      if (v !== undefined && !k.startsWith('TCLOUD_') && !k.startsWith('SQLMESH__'))
        childEnv[k] = v;
    }
    const startedAt = Date.now();
    const names: string[] = [];
    for (const kind of EXECUTOR_KINDS) {
      const name = `tideline-up-${kind}`;
      names.push(name);
      const child = new ExecutorChild(
        kind,
        { ...childEnv, ...executorEnv, TCLOUD_EXECUTOR_NAME: name },
        dir,
        join(folder, `executor-${kind}.log`),
        options.graceSeconds,
        io,
      );
      children.push(child);
      child.start();
      io.out(`Started the ${kind} executor (pid ${child.pid ?? '?'})`);
    }

    const admin = new CloudClient({
      url: projectUrl,
      clientId: adminClient.client.clientId,
      clientSecret: adminClient.client.clientSecret,
    });
    if (await waitForExecutors(admin, names, startedAt, stop, 60_000)) {
      io.out('Executors registered with the cloud');
    } else if (!stop.aborted) {
      io.err(`Warning: the executors have not registered yet; see ${folder}/executor-*.log`);
    }

    if (!stop.aborted) {
      const plan = await planProd(dir, io, admin, stop);
      if (plan) {
        const result = await followPlan(admin, plan.id, io, stop);
        if (result.status === 'succeeded') io.out(`Plan ${plan.id} applied to prod`);
        else if (result.status !== 'interrupted') {
          io.err(
            `Error: plan ${plan.id} ${result.status}${result.error ? `: ${result.error}` : ''}; see ${folder}/executor-apply.log`,
          );
        }
      }
    }

    if (!stop.aborted) {
      const lines = [
        '',
        'Tideline is ready.',
        `  Web UI:   ${projectUrl}/`,
        `  Username: ${UP_USERNAME}`,
        user.password !== undefined
          ? `  Password: ${user.password}  (shown only now)`
          : '  Password: shown at the first start; run `tideline up --reset-password` for a new one',
        '',
        'Point the CLI at this cloud (plan, run and more against the same project):',
        `  export TCLOUD_URL=${projectUrl}`,
        `  export TCLOUD_CLIENT_ID=${adminClient.client.clientId}`,
        `  export TCLOUD_CLIENT_SECRET=${adminClient.client.clientSecret}`,
        '',
        `Logs: ${folder}/cloud.log, ${folder}/executor-run.log, ${folder}/executor-apply.log`,
        'The scheduler queues runs at each cron boundary; the run executor evaluates them.',
        'Press Ctrl-C to stop.',
      ];
      for (const line of lines) io.out(line);
      await new Promise<void>((done) => {
        if (stop.aborted) return done();
        stop.addEventListener('abort', () => done(), { once: true });
      });
    }
  } finally {
    io.out('Stopping: draining the executors...');
    await Promise.all(children.map((c) => c.stop()));
    kill?.removeEventListener('abort', onKill);
    await server?.close();
    await new Promise<void>((done) => cloudLog.end(() => done()));
    io.out('Stopped.');
  }
}

export function registerUpCommand(program: Command, io: CliIo): void {
  program
    .command('up')
    .description(
      'Start the cloud, a run and an apply executor and the example project (or yours, with -p) on this machine; Ctrl-C stops all.',
    )
    .option('--host <host>', 'the address the cloud listens on', UP_DEFAULT_HOST)
    .option(
      '--port <port>',
      'the port the cloud listens on (0 picks a free one)',
      parsePort,
      UP_DEFAULT_PORT,
    )
    .option('--state <url>', `the cloud's store (default: sqlite:<project>/${UP_FOLDER}/cloud.db)`)
    .option('--org <org>', 'the organization', UP_DEFAULT_ORG)
    .option('--project <name>', "the cloud project's name (default: the folder's name)")
    .option('--reset-password', `give the web UI user ${UP_USERNAME} a new password`)
    .option('--grace <seconds>', 'how long stopping waits for running work', parseSeconds, 30)
    .action(
      async (
        opts: {
          host: string;
          port: number;
          state?: string;
          org: string;
          project?: string;
          resetPassword?: boolean;
          grace: number;
        },
        cmd: Command,
      ) => {
        let root: Command = cmd;
        while (root.parent) root = root.parent;
        const given =
          root.getOptionValueSource('paths') === 'cli'
            ? root.opts<{ paths?: string }>().paths
            : undefined;
        const cwd = process.cwd();
        const dir = resolve(
          given ??
            (['config.yaml', 'config.yml'].some((f) => existsSync(join(cwd, f)))
              ? cwd
              : join(cwd, 'example')),
        );
        const controller = new AbortController();
        const killer = new AbortController();
        let signals = 0;
        const onSignal = (sig: NodeJS.Signals) => {
          signals += 1;
          if (signals === 1) {
            io.out(`Received ${sig}`);
            controller.abort();
          } else {
            io.err('Stopping at once.');
            killer.abort();
          }
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        try {
          await runUp(
            {
              dir,
              host: opts.host,
              port: opts.port,
              ...(opts.state ? { state: opts.state } : {}),
              org: opts.org,
              ...(opts.project ? { project: opts.project } : {}),
              resetPassword: opts.resetPassword === true,
              graceSeconds: opts.grace,
            },
            io,
            controller.signal,
            killer.signal,
          );
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
        if (!(io.exitCode ?? 0)) io.exitCode = 0;
      },
    );
}
