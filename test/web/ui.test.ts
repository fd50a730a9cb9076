/**
 * The web UI in Chromium against a real cloud: logging in, the executors
 * page, a plan's model executions, pausing and resuming an environment,
 * creating and revoking an OAuth client (its secret shown once), and a
 * viewer who sees no buttons the server would refuse.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  PASSWORD,
  addUiUser,
  launchBrowser,
  logIn,
  startExecutor,
  startUiCloud,
  submitStarterPlan,
  type UiCloud,
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

  async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ timezoneId: 'UTC' });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (err) => errors.push(err.message));
    return { context, page };
  }

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
      // A model link leads to the model's page with its definition.
      await executions.getByRole('link', { name: 'sqlmesh_example.full_model' }).first().click();
      await page
        .getByRole('heading', { level: 1, name: /Model sqlmesh_example\.full_model/ })
        .waitFor();
      assert.match((await page.locator('pre.code').first().textContent()) ?? '', /SELECT/i);
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

  it('raised no script errors in any page', () => {
    assert.deepEqual(errors, []);
  });
});
