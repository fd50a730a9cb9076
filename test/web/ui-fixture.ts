/**
 * What the web UI's browser tests (and the screenshot script) stand on: a
 * real cloud over a SQLite store, users to log in as, in-process executors,
 * the starter project planned and applied through the cloud, and Chromium.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { addUser } from '../../src/cloud/auth/users.js';
import type { CloudClock } from '../../src/cloud/context.js';
import {
  connectionRoutes,
  createConnectionRoutes,
  type ConnectionRoutesOptions,
} from '../../src/cloud/connections/connection-routes.js';
import { ALL_ROUTES } from '../../src/cloud/routes.js';
import { refreshRun } from '../../src/cloud/scheduler/runs.js';
import { tick } from '../../src/cloud/scheduler/scheduler.js';
import { webRoutes } from '../../src/cloud/web/web-routes.js';
import { buildPlan } from '../../src/engine/plan/plan-builder.js';
import { loadProject } from '../../src/engine/project/project-loader.js';
import { buildSnapshots } from '../../src/engine/snapshot/snapshot-builder.js';
import { writeStarterProject } from '../../src/engine/starter/starter-project.js';
import { CloudClient } from '../../src/executor/client/cloud-client.js';
import { HttpStateSync } from '../../src/executor/client/http-state-sync.js';
import { Executor } from '../../src/executor/runtime.js';
import { startTestCloud, type TestCloud } from '../helpers/cloud.js';
import type { StoreTarget } from '../helpers/stores.js';

export const PASSWORD = 'correct horse battery';
const DAY = 86_400_000;

/** A folder removed when the test file ends. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** SQLite stores only: the UI tests exercise the pages, not the store. */
export function sqliteTarget(): StoreTarget {
  const dir = tempDir('tideline-ui-store-');
  let n = 0;
  return { kind: 'sqlite', newUrl: async () => `sqlite:${join(dir, `store-${++n}.db`)}` };
}

/** The process's own clock, before any {@link MovableClock} moved it. */
const realNow = Date.now.bind(Date);

/**
 * A clock that runs at real speed from `start` (so durations are real) and
 * can be moved forward by whole steps (to reach the next cron boundary).
 *
 * With `wholeProcess`, `Date.now()` of the whole process follows it too, so
 * the in-process executors (which stamp plan and evaluation times with
 * `Date.now()`) and the cloud tell the same time, and every duration is
 * measured on one clock. `restore()` gives the process its clock back.
 */
export class MovableClock implements CloudClock {
  private offset: number;
  constructor(start: number, options: { wholeProcess?: boolean } = {}) {
    this.offset = start - realNow();
    if (options.wholeProcess) Date.now = () => realNow() + this.offset;
  }
  now(): number {
    return realNow() + this.offset;
  }
  advance(ms: number): void {
    this.offset += ms;
  }
  restore(): void {
    Date.now = realNow;
  }
}

export interface UiCloud {
  cloud: TestCloud;
  clock: MovableClock;
  /** Where the starter project and the executors' warehouse live. */
  dir: string;
  /** `<project>/` (the UI's address). */
  uiUrl: string;
}

export interface UiCloudOptions {
  /** The cloud clock's time at start. */
  start: number;
  /** Move the whole process's `Date.now()` with the cloud's clock (see {@link MovableClock}). */
  wholeProcess?: boolean;
  /** Serve the connections API with these options (a master key, where DuckDB files go). */
  connections?: ConnectionRoutesOptions;
}

/** A cloud serving every route (the UI's included), without background loops. */
export async function startUiCloud(options: UiCloudOptions): Promise<UiCloud> {
  const clock = new MovableClock(options.start, { wholeProcess: options.wholeProcess === true });
  if (options.wholeProcess) after(() => clock.restore());
  let routes = ALL_ROUTES.includes(webRoutes) ? ALL_ROUTES : [...ALL_ROUTES, webRoutes];
  if (options.connections) {
    const own = createConnectionRoutes(options.connections);
    routes = routes.map((r) => (r === connectionRoutes ? own : r));
  }
  const cloud = await startTestCloud(sqliteTarget(), { clock, routes, services: [] });
  const dir = tempDir('tideline-ui-');
  return { cloud, clock, dir, uiUrl: `${cloud.projectUrl}/` };
}

/** Adds a user with the shared test password. */
export async function addUiUser(
  ui: UiCloud,
  username: string,
  role: 'viewer' | 'developer' | 'admin',
): Promise<void> {
  await addUser(ui.cloud.server.ctx, ui.cloud.projectId, { username, password: PASSWORD, role });
}

/** The settings an in-process executor reads from its environment. */
export function executorEnv(ui: UiCloud, name: string): Record<string, string> {
  return {
    TCLOUD_URL: ui.cloud.projectUrl,
    TCLOUD_CLIENT_ID: ui.cloud.clients.executor.clientId,
    TCLOUD_CLIENT_SECRET: ui.cloud.clients.executor.clientSecret,
    TCLOUD_EXECUTOR_NAME: name,
    SQLMESH__GATEWAYS__DUCKDB__CONNECTION__TYPE: 'duckdb',
    SQLMESH__GATEWAYS__DUCKDB__CONNECTION__DATABASE: join(ui.dir, 'db.db'),
  };
}

/** An executor that keeps claiming until stopped; `stop()` drains it and waits. */
export function startExecutor(
  ui: UiCloud,
  kind: 'run' | 'apply',
  name: string,
  lines: string[] = [],
): { executor: Executor; stop(): Promise<void> } {
  const executor = new Executor({
    kind,
    env: executorEnv(ui, name),
    claimWaitMs: 1_000,
    graceMs: 5_000,
    log: (l) => lines.push(l),
  });
  const running = executor.run();
  return {
    executor,
    async stop() {
      executor.drain();
      await running;
    },
  };
}

/** Runs one task with a fresh executor of `kind` (its registration stays in the registry). */
export async function runOnce(ui: UiCloud, kind: 'run' | 'apply', name: string): Promise<number> {
  const lines: string[] = [];
  const executor = new Executor({
    kind,
    env: executorEnv(ui, name),
    once: true,
    claimWaitMs: 2_000,
    log: (l) => lines.push(l),
  });
  await executor.run();
  if (executor.stats.completed + executor.stats.failed === 0) {
    throw new Error(`the ${kind} executor handled no task:\n${lines.join('\n')}`);
  }
  return executor.stats.completed;
}

/** An admin's API client for the CLI's part (planning against the cloud's state). */
export function adminClient(ui: UiCloud): CloudClient {
  return new CloudClient({
    url: ui.cloud.projectUrl,
    clientId: ui.cloud.clients.admin.clientId,
    clientSecret: ui.cloud.clients.admin.clientSecret,
  });
}

/** Writes the starter project (once) and plans `environment` against the cloud; returns the plan id. */
export async function submitStarterPlan(ui: UiCloud, environment: string): Promise<string> {
  const project = join(ui.dir, 'project');
  try {
    writeStarterProject(project, 'duckdb');
  } catch {
    // Written by an earlier plan of this cloud.
  }
  const now = ui.clock.now();
  const loaded = await loadProject(project, { env: {}, now });
  const admin = adminClient(ui);
  const snapshots = buildSnapshots(loaded, { now });
  const plan = await buildPlan({ environment, snapshots, state: new HttpStateSync(admin), now });
  const submitted = await admin.request<{ planId: string }>('POST', '/plans', { body: { plan } });
  return submitted.planId;
}

/** Changes the starter project's full_model (a new column), so the next plan modifies it directly. */
export function changeFullModel(ui: UiCloud): void {
  const file = join(ui.dir, 'project', 'models', 'full_model.sql');
  const before = readFileSync(file, 'utf8');
  const after = before.replace(
    'COUNT(DISTINCT id) AS num_orders',
    'COUNT(DISTINCT id) AS num_orders,\n  MAX(event_date) AS last_order_date',
  );
  if (after === before) throw new Error(`${file}: the column to follow was not found`);
  writeFileSync(file, after);
}

/** Plans `environment` and applies it with an in-process apply executor. */
export async function applyStarterPlan(
  ui: UiCloud,
  environment: string,
  executorName = 'apply-1',
): Promise<string> {
  const planId = await submitStarterPlan(ui, environment);
  await runOnce(ui, 'apply', executorName);
  return planId;
}

/** Moves the clock a day on, lets the scheduler queue the run, and runs its tasks. */
export async function runNextDay(ui: UiCloud, executorName = 'run-1'): Promise<string[]> {
  ui.clock.advance(DAY);
  const ticked = await tick(ui.cloud.server.ctx, ui.clock.now());
  const runIds = ticked.created.map((c) => c.runId);
  for (;;) {
    const pending = await ui.cloud.server.ctx.store.db
      .selectFrom('tasks')
      .select('id')
      .where('project_id', '=', ui.cloud.projectId)
      .where('queue', '=', 'run')
      .where('status', 'in', ['pending', 'waiting'])
      .execute();
    if (!pending.length) break;
    await runOnce(ui, 'run', executorName);
  }
  // Runs are marked finished when next looked at; look now, so they end now.
  for (const id of runIds) await refreshRun(ui.cloud.server.ctx, id);
  return runIds;
}

/** Chromium from the system, headless. */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env['TIDELINE_CHROMIUM'] ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/**
 * Opens pages in fresh contexts of `browser` (UTC unless another time zone is
 * given), with a 10 s default timeout; the pages' script errors go into `errors`.
 */
export function pageOpener(
  browser: Browser,
  errors: string[],
): (timezoneId?: string) => Promise<{ context: BrowserContext; page: Page }> {
  return async (timezoneId = 'UTC') => {
    const context = await browser.newContext({ timezoneId });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (err) => errors.push(err.message));
    return { context, page };
  };
}

/** Logs in through the login form and waits for Home. */
export async function logIn(page: Page, ui: UiCloud, username: string): Promise<void> {
  await page.goto(ui.uiUrl);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { level: 1, name: /^Home/ }).waitFor();
}
