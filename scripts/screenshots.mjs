#!/usr/bin/env node
// Pictures of the web UI for the README: starts a cloud on a temporary
// SQLite store, applies the starter project to prod, lets two weeks of
// daily runs happen (the clock moved a day at a time), plans a dev
// environment with one model changed, then logs in with Chromium and saves
// a PNG of every page into docs/images/. Build first (npm run build).
//
// The clock starts 13 days ago and catches up with the real one by the
// time the pictures are taken. It moves the whole process, executors
// included, so every time and duration on the pages comes from one clock.
//
//   node scripts/screenshots.mjs [output folder]
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const fixture = join(root, 'dist', 'test', 'web', 'ui-fixture.js');
const out = resolve(process.argv[2] ?? join(root, 'docs', 'images'));
mkdirSync(out, { recursive: true });

const {
  addUiUser,
  applyStarterPlan,
  changeFullModel,
  launchBrowser,
  logIn,
  runNextDay,
  startExecutor,
  startUiCloud,
} = await import(fixture);

const { MASTER_KEY_ENV, decodeMasterKey } = await import(
  join(root, 'dist', 'src', 'cloud', 'connections', 'master-key.js')
);

const DAY = 86_400_000;
const DAYS = 13;

const connectionsDir = mkdtempSync(join(tmpdir(), 'tideline-shots-'));
const ui = await startUiCloud({
  start: Date.now() - DAYS * DAY,
  wholeProcess: true,
  connections: {
    masterKey: decodeMasterKey(MASTER_KEY_ENV, randomBytes(32).toString('base64')),
    dataDir: connectionsDir,
  },
});
// A connection of the standard deployment, for the settings page.
await ui.cloud.api('/connections/warehouse', {
  method: 'PUT',
  body: { yaml: 'type: duckdb\ndatabase: warehouse.db\n' },
});
await addUiUser(ui, 'ada', 'admin');
await addUiUser(ui, 'dan', 'developer');
await addUiUser(ui, 'vera', 'viewer');
console.log('applying the starter project to prod…');
const prodPlan = await applyStarterPlan(ui, 'prod', 'apply-executor-1');
const runs = [];
for (let day = 1; day <= DAYS; day++) {
  runs.push(...(await runNextDay(ui, 'run-executor-1')));
}
console.log(`${runs.length} scheduled runs done`);
// dev differs from prod: full_model gains a column.
changeFullModel(ui);
const devPlan = await applyStarterPlan(ui, 'dev', 'apply-executor-1');
const executors = [
  startExecutor(ui, 'run', 'run-executor-1'),
  startExecutor(ui, 'apply', 'apply-executor-1'),
];
await new Promise((r) => setTimeout(r, 1_500));

const browser = await launchBrowser();
try {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 860 },
    timezoneId: 'UTC',
    reducedMotion: 'reduce',
    colorScheme: 'light',
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const shoot = async (name, hash, heading) => {
    if (hash !== undefined) await page.goto(`${ui.uiUrl}#${hash}`);
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
    await page.waitForTimeout(600);
    await page.screenshot({ path: join(out, `ui-${name}.png`), fullPage: true });
    console.log(`saved ui-${name}.png`);
  };

  await page.goto(ui.uiUrl);
  await shoot('login', undefined, 'Log in');
  await logIn(page, ui, 'ada');
  await shoot('home', '/', /^Home/);
  await shoot('environments', '/environments', 'Environments');
  await shoot('environment', '/environments/dev', /Environment dev/);
  await shoot('plan', `/plans/${encodeURIComponent(prodPlan)}`, /^Plan /);
  await shoot('plan-dev', `/plans/${encodeURIComponent(devPlan)}`, /^Plan /);
  await shoot('run', `/runs/${encodeURIComponent(runs[runs.length - 1])}`, /^Run /);
  await shoot(
    'model',
    `/models/dev/${encodeURIComponent('"db"."sqlmesh_example"."full_model"')}`,
    /Model sqlmesh_example\.full_model/,
  );
  await shoot('executors', '/executors', 'Executors');
  await shoot('settings', '/settings', 'Settings');
  await context.close();
} finally {
  await browser.close();
  await Promise.all(executors.map((e) => e.stop()));
  // The helpers' own clean-ups run once nothing keeps the process alive.
  await ui.cloud.server.close();
  ui.clock.restore();
  rmSync(connectionsDir, { recursive: true, force: true });
}
