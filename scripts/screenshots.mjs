#!/usr/bin/env node
// Pictures of the web UI for the README: starts a cloud on a temporary
// SQLite store, applies the starter project to prod, lets two weeks of
// daily runs happen (the cloud's clock moved a day at a time), plans a dev
// environment, then logs in with Chromium and saves a PNG of every page
// into docs/images/. Build first (npm run build).
//
//   node scripts/screenshots.mjs [output folder]
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const fixture = join(root, 'dist', 'test', 'web', 'ui-fixture.js');
const out = resolve(process.argv[2] ?? join(root, 'docs', 'images'));
mkdirSync(out, { recursive: true });

const {
  addUiUser,
  applyStarterPlan,
  launchBrowser,
  logIn,
  runNextDay,
  startExecutor,
  startUiCloud,
} = await import(fixture);

const DAY = 86_400_000;
const DAYS = 13;
const today = Math.floor(Date.now() / DAY) * DAY;

const ui = await startUiCloud({ start: today - DAYS * DAY + 3_600_000 });
await addUiUser(ui, 'ada', 'admin');
console.log('applying the starter project to prod…');
const prodPlan = await applyStarterPlan(ui, 'prod', 'apply-executor-1');
const runs = [];
for (let day = 1; day <= DAYS; day++) {
  runs.push(...(await runNextDay(ui, 'run-executor-1')));
}
console.log(`${runs.length} scheduled runs done`);
await applyStarterPlan(ui, 'dev', 'apply-executor-1');
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
  await shoot('run', `/runs/${encodeURIComponent(runs[runs.length - 1])}`, /^Run /);
  await shoot(
    'model',
    `/models/prod/${encodeURIComponent('"db"."sqlmesh_example"."incremental_model"')}`,
    /Model sqlmesh_example\.incremental_model/,
  );
  await shoot('executors', '/executors', 'Executors');
  await shoot('settings', '/settings', 'Settings');
  await context.close();
} finally {
  await browser.close();
  await Promise.all(executors.map((e) => e.stop()));
  // The helpers' own clean-ups run once nothing keeps the process alive.
  await ui.cloud.server.close();
}
