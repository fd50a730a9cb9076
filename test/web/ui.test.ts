/**
 * The web UI in Chromium against a real cloud: logging in, the executors
 * page, a plan's model executions and who submitted it (by name), a
 * model's lineage up and down, pausing and
 * resuming an environment, creating and revoking an OAuth client (its
 * secret shown once), a viewer who sees no buttons the server would
 * refuse, the activity feed's filters and pages, logs filtered by level
 * and marked incomplete, and times in UTC or local time.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  PASSWORD,
  addUiUser,
  launchBrowser,
  logIn,
  startExecutor,
  startUiCloud,
  submitStarterPlan,
  type UiCloud,
  pageOpener,
} from './ui-fixture.js';

const JAN_10 = Date.UTC(2020, 0, 10);

async function waitFor<T>(
  what: string,
  read: () => Promise<T | undefined>,
  ms = 20_000,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Set up at the top level: the helpers' clean-ups (after) then run when the file ends.
const ui: UiCloud = await startUiCloud({ start: JAN_10 });
await addUiUser(ui, 'ada', 'admin');
await addUiUser(ui, 'vic', 'viewer');
const executorLines: string[] = [];
const executors = [
  startExecutor(ui, 'run', 'ui-run-executor', executorLines),
  startExecutor(ui, 'apply', 'ui-apply-executor', executorLines),
];
after(() => Promise.all(executors.map((e) => e.stop())));
const planId = await submitStarterPlan(ui, 'prod');
await waitFor('the plan to be applied', async () => {
  const res = await ui.cloud.api(`/plans/${planId}`);
  if (res.body.status === 'failed') {
    throw new Error(`plan failed: ${JSON.stringify(res.body)}\n${executorLines.join('\n')}`);
  }
  return res.body.status === 'succeeded' ? true : undefined;
});
const browser: Browser = await launchBrowser();
after(() => browser.close());

describe('the web UI', () => {
  const errors: string[] = [];

  const newPage = pageOpener(browser, errors);

  it('refuses a wrong password with a plain message, then logs in', async () => {
    const { context, page } = await newPage();
    try {
      await page.goto(ui.uiUrl);
      await page.getByLabel('Username').fill('ada');
      await page.getByLabel('Password').fill('not the password');
      await page.getByRole('button', { name: 'Log in' }).click();
      const alert = page.getByRole('alert');
      await alert.filter({ hasText: 'Wrong username or password' }).waitFor();
      assert.equal(await page.getByLabel('Password').inputValue(), '');

      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('heading', { level: 1, name: /^Home/ }).waitFor();
      assert.match((await page.locator('.who').textContent()) ?? '', /ada.*admin/);
      // The last plan on Home is the one the executor applied.
      const lastPlan = page.getByRole('region', { name: 'Last plan' });
      await lastPlan.getByRole('link', { name: planId }).waitFor();
      assert.match((await lastPlan.textContent()) ?? '', /succeeded/);

      await page.getByRole('button', { name: 'Log out' }).click();
      await page.getByRole('heading', { name: 'Log in' }).waitFor();
      const session = await page.evaluate(
        async (url) => (await fetch(`${url}auth/session`)).status,
        ui.uiUrl,
      );
      assert.equal(session, 401);
    } finally {
      await context.close();
    }
  });

  it('lists the run and apply executors the test started', async () => {
    const { context, page } = await newPage();
    try {
      await logIn(page, ui, 'ada');
      await page.getByRole('link', { name: 'Executors' }).click();
      const hybrid = page.getByRole('table', { name: 'Hybrid executors' });
      await hybrid.getByText('ui-run-executor').waitFor();
      const cells = async (name: string) =>
        hybrid.locator('tbody tr').filter({ hasText: name }).locator('td').allTextContents();
      const headers = await hybrid.locator('thead th').allTextContents();
      const column = (title: string) => headers.indexOf(title);
      const run = await cells('ui-run-executor');
      const apply = await cells('ui-apply-executor');
      assert.equal(run[column('Type')], 'run');
      assert.equal(apply[column('Type')], 'apply');
      for (const row of [run, apply]) assert.match(row[column('Status')] ?? '', /online/);
      // The apply executor completed the plan's task; the run executor had none.
      assert.equal(apply[column('Completed')], '1');
      assert.equal(run[column('Completed')], '0');
      const listed = await ui.cloud.api('/executors');
      const id = listed.body.executors.find((e: { name: string }) => e.name === 'ui-run-executor')
        ?.executorId as string;
      assert.equal(run[column('Id')], id.slice(0, 8));
    } finally {
      await context.close();
    }
  });

  it("shows a plan's model executions after an executor applied it", async () => {
    const { context, page } = await newPage();
    try {
      await logIn(page, ui, 'ada');
      await page.goto(`${ui.uiUrl}#/plans/${planId}`);
      await page
        .getByRole('heading', { level: 1, name: new RegExp(`^Plan ${planId}\\s+succeeded$`) })
        .waitFor();
      const executions = page.getByRole('table', { name: 'Model executions' });
      await executions.waitFor();
      const text = (await executions.textContent()) ?? '';
      for (const model of ['seed_model', 'incremental_model', 'full_model']) {
        assert.match(text, new RegExp(`sqlmesh_example\\.${model}`));
      }
      const progress = await ui.cloud.api(`/plans/${planId}/progress`);
      const rows = await executions.locator('tbody tr').count();
      assert.equal(rows, Math.min(25, progress.body.evaluations.length));
      // Every model of the new environment got its view, once the apply succeeded.
      const views = page.getByRole('table', { name: 'View updates' }).locator('tbody tr');
      assert.equal(await views.count(), 3);
      for (const row of await views.all()) {
        assert.match((await row.textContent()) ?? '', /view created.*updated$/);
      }
      // Submitted by the admin client that sent the plan, not the executor that applied it.
      // Shown by the client's name, its identifier kept in the title.
      const submittedBy = page.locator('dt', { hasText: 'Submitted by' }).locator('+ dd');
      assert.equal(await submittedBy.textContent(), ui.cloud.clients.admin.name);
      assert.equal(
        await submittedBy.locator('[title]').getAttribute('title'),
        `client:${ui.cloud.clients.admin.clientId}`,
      );
      // A model link leads to the model's page with its definition.
      await executions.getByRole('link', { name: 'sqlmesh_example.full_model' }).first().click();
      await page
        .getByRole('heading', { level: 1, name: /Model sqlmesh_example\.full_model/ })
        .waitFor();
      assert.match((await page.locator('pre.code').first().textContent()) ?? '', /SELECT/i);
      // Lineage up through every step, each model a link to its page.
      const upstream = page.getByRole('table', { name: 'Upstream models' });
      const upRows = await upstream.locator('tbody tr').allTextContents();
      assert.deepEqual(upRows, [
        'sqlmesh_example.incremental_model1 (direct)',
        'sqlmesh_example.seed_model2',
      ]);
      await upstream.getByRole('link', { name: 'sqlmesh_example.seed_model' }).click();
      await page
        .getByRole('heading', { level: 1, name: /Model sqlmesh_example\.seed_model/ })
        .waitFor();
      const downstream = page.getByRole('table', { name: 'Downstream models' });
      assert.deepEqual(await downstream.locator('tbody tr').allTextContents(), [
        'sqlmesh_example.incremental_model1 (direct)',
        'sqlmesh_example.full_model2',
      ]);
    } finally {
      await context.close();
    }
  });

  it('pauses and resumes an environment', async () => {
    const { context, page } = await newPage();
    try {
      await logIn(page, ui, 'ada');
      await page.goto(`${ui.uiUrl}#/environments/prod`);
      await page.getByRole('button', { name: 'Pause environment' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Pause environment' }).click();
      await page.getByRole('button', { name: 'Resume environment' }).waitFor();
      let pauses = await ui.cloud.api('/environments/prod/pauses');
      assert.equal(pauses.body.paused, true);
      assert.match((await page.getByRole('heading', { level: 1 }).textContent()) ?? '', /paused/);

      await page.getByRole('button', { name: 'Resume environment' }).click();
      await page.getByRole('button', { name: 'Pause environment' }).waitFor();
      pauses = await ui.cloud.api('/environments/prod/pauses');
      assert.equal(pauses.body.paused, false);
    } finally {
      await context.close();
    }
  });

  it('creates a client, shows its secret once, and revokes it', async () => {
    const { context, page } = await newPage();
    try {
      await logIn(page, ui, 'ada');
      await page.getByRole('link', { name: 'Settings' }).click();
      await page.getByLabel('Name', { exact: true }).fill('nightly executor');
      await page.getByRole('button', { name: 'Create client' }).click();
      const secret = (await page.locator('#new-client-secret').textContent()) ?? '';
      const clientId = (await page.locator('#new-client-id').textContent()) ?? '';
      assert.ok(secret.length >= 20, secret);
      assert.ok(page.getByRole('button', { name: 'Copy secret' }));
      // The secret shown is the real one: it gets a token.
      const token = await fetch(`${ui.cloud.projectUrl}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: clientId,
          client_secret: secret,
        }),
      });
      assert.equal(token.status, 200);

      await page.getByRole('button', { name: 'I have copied the secret' }).click();
      const row = page.getByRole('row').filter({ hasText: clientId });
      await row.waitFor();
      assert.equal(await page.getByText(secret).count(), 0, 'the secret is not shown again');

      await row.getByRole('button', { name: 'Revoke' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
      await row.getByText('revoked').waitFor();
      const clients = await ui.cloud.api('/clients');
      const stored = clients.body.clients.find(
        (c: { clientId: string }) => c.clientId === clientId,
      );
      assert.ok(stored?.revokedTs, JSON.stringify(stored));
    } finally {
      await context.close();
    }
  });

  it('shows a viewer no buttons the server would refuse', async () => {
    const { context, page } = await newPage();
    try {
      await logIn(page, ui, 'vic');
      assert.equal(await page.getByRole('link', { name: 'Settings' }).count(), 0);
      await page.goto(`${ui.uiUrl}#/environments/prod`);
      await page.getByRole('heading', { level: 1, name: /Environment prod/ }).waitFor();
      await page.getByRole('region', { name: 'Model pauses' }).waitFor();
      assert.equal(await page.getByRole('button', { name: /Pause|Resume|Remove/ }).count(), 0);
      assert.equal(await page.getByRole('form', { name: 'Pause a model' }).count(), 0);
      await page.goto(`${ui.uiUrl}#/settings`);
      await page.getByText('Settings need the admin role').waitFor();
      assert.equal(await page.getByRole('button', { name: /Create|Revoke|Add user/ }).count(), 0);
      // The only buttons left are the time zone switch and logging out.
      const buttons = await page.getByRole('button').allTextContents();
      assert.deepEqual(buttons.sort(), ['Local', 'Log out', 'UTC']);
    } finally {
      await context.close();
    }
  });

  it("draws the plan in Home's two-week chart: details on hover, its page on click", async () => {
    const { context, page } = await newPage();
    try {
      await logIn(page, ui, 'ada');
      const chart = page.getByRole('region', { name: 'Last two weeks' });
      // The two weeks end at the cloud's time (January 2020 here), not the browser's.
      const bar = chart.getByRole('link', { name: new RegExp(`^Plan ${planId} — ✓ succeeded`) });
      await bar.hover();
      await chart.locator('.chart-detail', { hasText: `Plan ${planId}` }).waitFor();
      await bar.click();
      await page.getByRole('heading', { level: 1, name: new RegExp(`^Plan ${planId}`) }).waitFor();
    } finally {
      await context.close();
    }
  });

  it('pages the activity feed and filters it by type and environment', async () => {
    // Twenty pause changes of prod make the feed longer than a page (15 items).
    for (let i = 0; i < 10; i++) {
      await ui.cloud.api('/environments/prod/pause', { method: 'POST', body: {} });
      await ui.cloud.api('/environments/prod/pause', { method: 'DELETE' });
    }
    const all = await ui.cloud.api('/activity?limit=500');
    const total = all.body.activity.length as number;
    assert.ok(total > 15 && total <= 30, String(total));
    const { context, page } = await newPage();
    try {
      await logIn(page, ui, 'ada');
      const feed = page.getByRole('region', { name: 'Recent activity' });
      const rows = feed.getByRole('table', { name: 'Recent activity' }).locator('tbody tr');
      await feed.getByText('Page 1: 15 items; older ones follow.').waitFor();
      assert.equal(await rows.count(), 15);
      // The newest item comes first: the last resume.
      assert.match((await rows.first().textContent()) ?? '', /^Resume/);

      await feed.getByRole('button', { name: 'Older →' }).click();
      await feed.getByText(`Page 2: ${total - 15} items.`).waitFor();
      assert.equal(await rows.count(), total - 15);
      assert.equal(await feed.getByRole('button', { name: 'Older →' }).isDisabled(), true);
      // The plan, older than every pause, is on the second page.
      assert.equal(await rows.filter({ hasText: `Plan ${planId.slice(0, 8)}` }).count(), 1);
      await feed.getByRole('button', { name: '← Newer' }).click();
      await feed.getByText('Page 1: 15 items; older ones follow.').waitFor();

      await feed.getByLabel('Show').selectOption('plan');
      await feed.getByText('Page 1: 1 item.').waitFor();
      assert.match((await rows.first().textContent()) ?? '', /succeeded/);
      // Pauses and resumes: 20 of them, so a full page and more.
      await feed.getByLabel('Show').selectOption('pause');
      await feed.getByText('Page 1: 15 items; older ones follow.').waitFor();
      assert.deepEqual(
        [...new Set(await rows.locator('td:first-child').allTextContents())].sort(),
        ['Pause', 'Resume'],
      );
      await feed.getByLabel('Environment').selectOption('prod');
      await feed.getByText('Page 1: 15 items; older ones follow.').waitFor();
      await feed.getByLabel('Show').selectOption('run');
      await feed.getByText('Nothing matches these filters.').waitFor();
      // Client changes belong to no environment.
      await feed.getByLabel('Environment').selectOption('');
      await feed.getByLabel('Show').selectOption('client');
      await feed.getByText(/^Page 1: [1-9] items?\.$/).waitFor();
      await feed.getByLabel('Environment').selectOption('prod');
      await feed.getByLabel('Show').selectOption('client');
      await feed.getByText('Nothing matches these filters.').waitFor();
    } finally {
      await context.close();
    }
  });

  it("filters a plan's log by level and says when lines are missing", async () => {
    const db = ui.cloud.server.ctx.store.db;
    const { created_ts: submitted } = await db
      .selectFrom('plans')
      .select('created_ts')
      .where('id', '=', planId)
      .executeTakeFirstOrThrow();
    const line = (level: string, message: string) => ({
      project_id: ui.cloud.projectId,
      task_id: null,
      run_id: null,
      plan_id: planId,
      executor_id: null,
      level,
      message,
      ts: Number(submitted) + 1,
    });
    await db
      .insertInto('logs')
      .values([
        line('debug', 'a debug detail'),
        line('warn', 'a warning to read'),
        line('error', 'an error to fix'),
      ])
      .execute();
    const { context, page } = await newPage();
    try {
      await logIn(page, ui, 'ada');
      await page.goto(`${ui.uiUrl}#/plans/${planId}`);
      const log = page.getByRole('region', { name: 'Log' });
      const levels = async () =>
        (await log.locator('.log-level').allTextContents()).filter((l, i, a) => a.indexOf(l) === i);
      await log.getByText('an error to fix').waitFor();
      assert.deepEqual((await levels()).sort(), ['DEBUG', 'ERROR', 'INFO', 'WARN']);
      assert.equal(await log.getByText('Incomplete').count(), 0);

      await log.getByLabel('Show').selectOption('warn');
      assert.deepEqual(await levels(), ['WARN', 'ERROR']);
      await log.getByLabel('Show').selectOption('error');
      assert.deepEqual(await levels(), ['ERROR']);
      assert.equal(await log.getByText('a warning to read').count(), 0);
      await log.getByLabel('Show').selectOption('info');
      assert.deepEqual((await levels()).sort(), ['ERROR', 'INFO', 'WARN']);

      // Log retention removed lines older than the plan's start: the page says so.
      await db
        .insertInto('server_settings')
        .values({
          name: `log_retention_cutoff:${ui.cloud.projectId}`,
          value: String(Number(submitted) + 1),
          updated_ts: ui.clock.now(),
        })
        .execute();
      try {
        await page.reload();
        await log
          .getByText('Incomplete: older lines of this plan were removed by log retention.')
          .waitFor();
      } finally {
        await db
          .deleteFrom('server_settings')
          .where('name', '=', `log_retention_cutoff:${ui.cloud.projectId}`)
          .execute();
      }
    } finally {
      await context.close();
    }
  });

  it('shows times in UTC or in local time, as chosen, and keeps the choice', async () => {
    const { context, page } = await newPage('Asia/Kolkata');
    try {
      const plan = await ui.cloud.api(`/plans/${planId}`);
      const submitted = new Date(plan.body.createdTs as number);
      const pad = (n: number) => String(n).padStart(2, '0');
      const utc = `${submitted.getUTCFullYear()}-${pad(submitted.getUTCMonth() + 1)}-${pad(submitted.getUTCDate())} ${pad(submitted.getUTCHours())}:${pad(submitted.getUTCMinutes())}:${pad(submitted.getUTCSeconds())} UTC`;
      // India is UTC+05:30 all year.
      const shifted = new Date(submitted.getTime() + 330 * 60_000);
      const local = `${shifted.getUTCFullYear()}-${pad(shifted.getUTCMonth() + 1)}-${pad(shifted.getUTCDate())} ${pad(shifted.getUTCHours())}:${pad(shifted.getUTCMinutes())}:${pad(shifted.getUTCSeconds())} UTC+05:30`;

      await logIn(page, ui, 'ada');
      await page.goto(`${ui.uiUrl}#/plans/${planId}`);
      const when = page.locator('dt', { hasText: /^Submitted$/ }).locator('+ dd');
      await when.getByText(utc).waitFor();
      const zone = page.getByRole('group', { name: 'Show times in' });
      assert.equal(
        await zone.getByRole('button', { name: 'UTC' }).getAttribute('aria-pressed'),
        'true',
      );

      await zone.getByRole('button', { name: 'Local' }).click();
      await when.getByText(local).waitFor();
      assert.equal(
        await zone.getByRole('button', { name: 'Local' }).getAttribute('aria-pressed'),
        'true',
      );
      // The other zone is on hover; log lines follow the choice too.
      assert.match((await when.locator('time').getAttribute('title')) ?? '', / UTC \(/);
      assert.match((await page.locator('.log-time').first().textContent()) ?? '', /UTC\+05:30$/);

      await page.reload();
      await when.getByText(local).waitFor();
      await zone.getByRole('button', { name: 'UTC' }).click();
      await when.getByText(utc).waitFor();
    } finally {
      await context.close();
    }
  });

  it('raised no script errors in any page', () => {
    assert.deepEqual(errors, []);
  });
});
