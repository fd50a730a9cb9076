/**
 * The web UI's admin side in Chromium against a real cloud: connections
 * (tested before they are saved, a bad one refused with its reason, values
 * never shown again, deleted), users and roles (a new user, a changed role,
 * the new user logging in), the controls each role sees, checked against
 * the cloud's permission table, and how an environment differs from prod
 * (and a model's versions: breaking or not, and which plan).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { PERMISSIONS } from '../../src/cloud/auth/permissions.js';
import { MASTER_KEY_ENV, decodeMasterKey } from '../../src/cloud/connections/master-key.js';
import {
  PASSWORD,
  addUiUser,
  applyStarterPlan,
  changeFullModel,
  launchBrowser,
  logIn,
  startUiCloud,
  submitStarterPlan,
  tempDir,
  type UiCloud,
  pageOpener,
} from './ui-fixture.js';
import { freePort } from '../helpers/pg-server.js';

const JAN_10 = Date.UTC(2020, 0, 10);

const dataDir = tempDir('tideline-ui-connections-');
const ui: UiCloud = await startUiCloud({
  start: JAN_10,
  connections: {
    masterKey: decodeMasterKey(MASTER_KEY_ENV, randomBytes(32).toString('base64')),
    dataDir,
    testTimeoutMs: 5_000,
  },
});
await addUiUser(ui, 'ada', 'admin');
await addUiUser(ui, 'dev', 'developer');
await addUiUser(ui, 'vic', 'viewer');
// prod and dev exist (applied once each); no executor runs afterwards, so later plans wait.
await applyStarterPlan(ui, 'prod');
// dev differs from prod in one model.
changeFullModel(ui);
const devPlan = await applyStarterPlan(ui, 'dev');
const browser: Browser = await launchBrowser();
after(() => browser.close());

describe('the web UI for admins', () => {
  const errors: string[] = [];

  const newPage = pageOpener(browser, errors);

  it('tests a connection before saving it, never shows its values, and deletes it', async () => {
    const { context, page } = await newPage();
    try {
      await logIn(page, ui, 'ada');
      await page.getByRole('link', { name: 'Settings' }).click();
      const section = page.getByRole('region', { name: 'Connections' });
      const form = section.getByRole('form', { name: 'Add a connection' });
      const error = section.locator('#connection-error');

      // Nothing listens on the port: the test fails, the reason is shown, nothing is saved.
      const secret = `pw-${randomBytes(6).toString('hex')}`;
      await form.getByLabel('Gateway', { exact: true }).fill('warehouse');
      await form
        .getByLabel(/Connection settings/)
        .fill(
          `type: postgres\nhost: 127.0.0.1\nport: ${await freePort()}\nuser: tideline\npassword: ${secret}\ndatabase: analytics`,
        );
      await form.getByRole('button', { name: 'Test and save' }).click();
      await error.getByText(/^Not saved: /).waitFor();
      assert.equal(
        (await error.textContent())?.includes(secret),
        false,
        'the password is not echoed',
      );
      assert.equal((await ui.cloud.api('/connections')).body.connections.length, 0);
      assert.equal(await section.getByRole('row', { name: /warehouse/ }).count(), 0);

      // A DuckDB file the cloud can open passes its test and is listed, without its settings.
      await form
        .getByLabel(/Connection settings/)
        .fill('type: duckdb\ndatabase: hosted-warehouse.db');
      await form.getByRole('button', { name: 'Test and save' }).click();
      const row = section.getByRole('row').filter({ hasText: 'warehouse' });
      await row.waitFor();
      assert.match((await row.textContent()) ?? '', /duckdb/);
      assert.equal(await form.getByLabel(/Connection settings/).inputValue(), '');
      const listed = await ui.cloud.api('/connections');
      assert.deepEqual(
        listed.body.connections.map((c: { gateway: string }) => c.gateway),
        ['warehouse'],
      );
      await page.reload();
      await row.waitFor();
      const text = (await page.locator('main').textContent()) ?? '';
      assert.equal(text.includes('hosted-warehouse.db'), false, 'settings are never shown again');
      assert.equal(text.includes(secret), false);

      await row.getByRole('button', { name: 'Delete' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
      await section.getByText('No connections.').waitFor();
      assert.equal((await ui.cloud.api('/connections')).body.connections.length, 0);
    } finally {
      await context.close();
    }
  });

  it('adds a user with a role, changes the role, and the user logs in with it', async () => {
    const { context, page } = await newPage();
    try {
      await logIn(page, ui, 'ada');
      await page.getByRole('link', { name: 'Settings' }).click();
      const section = page.getByRole('region', { name: 'Users and roles' });
      const form = section.getByRole('form', { name: 'Add a user' });
      await form.getByLabel('Username').fill('newbie');
      await form.getByLabel(/^Password/).fill(PASSWORD);
      await form.getByLabel('Role').selectOption('developer');
      await form.getByRole('button', { name: 'Add user' }).click();
      // The admin's own row offers no role change or removal (the server refuses both).
      const own = section.getByRole('row').filter({ hasText: /^ada \(you\)/ });
      await own.waitFor();
      assert.equal(await own.getByRole('button').count(), 0);
      const role = section.getByLabel('Role of newbie');
      await role.waitFor();
      assert.equal(await role.inputValue(), 'developer');
      const users = async () =>
        (await ui.cloud.api('/users')).body.users as Array<{ username: string; role: string }>;
      assert.equal((await users()).find((u) => u.username === 'newbie')?.role, 'developer');

      await role.selectOption('viewer');
      await section
        .getByRole('row')
        .filter({ has: page.getByLabel('Role of newbie') })
        .getByRole('button', { name: 'Save role' })
        .click();
      await page.locator('#announcer', { hasText: 'newbie is now viewer' }).waitFor();
      assert.equal((await users()).find((u) => u.username === 'newbie')?.role, 'viewer');
    } finally {
      await context.close();
    }
    const second = await newPage();
    try {
      await logIn(second.page, ui, 'newbie');
      assert.match((await second.page.locator('.who').textContent()) ?? '', /newbie\s*viewer/);
    } finally {
      await second.context.close();
    }
  });

  it('shows each role the controls its permissions allow, and no others', async () => {
    // A developer may run dev: the button works.
    {
      const { context, page } = await newPage();
      try {
        await logIn(page, ui, 'dev');
        await page.goto(`${ui.uiUrl}#/environments/dev`);
        await page.getByRole('button', { name: 'Run now' }).click();
        await page.locator('#announcer', { hasText: /queued|no run was started/ }).waitFor();
      } finally {
        await context.close();
      }
    }
    // Plans left waiting (no apply executor runs now), so each has its Cancel button or not.
    const plans = {
      prod: await submitStarterPlan(ui, 'prod'),
      dev: await submitStarterPlan(ui, 'dev'),
    };
    for (const role of ['viewer', 'developer', 'admin'] as const) {
      const allowed = PERMISSIONS[role];
      const user = { viewer: 'vic', developer: 'dev', admin: 'ada' }[role];
      const { context, page } = await newPage();
      try {
        await logIn(page, ui, user);
        const settings = await page.getByRole('link', { name: 'Settings' }).count();
        assert.equal(
          settings === 1,
          allowed.has('clients') || allowed.has('users') || allowed.has('connections'),
          `${role}: Settings`,
        );
        for (const env of ['prod', 'dev'] as const) {
          await page.goto(`${ui.uiUrl}#/environments/${env}`);
          await page
            .getByRole('heading', { level: 1, name: new RegExp(`^Environment ${env}\\b`) })
            .waitFor();
          await page.getByRole('region', { name: 'Model pauses' }).waitFor();
          const count = (name: string | RegExp) => page.getByRole('button', { name }).count();
          assert.equal(
            (await count('Run now')) === 1,
            allowed.has(`run.${env}`),
            `${role}: run ${env}`,
          );
          assert.equal(
            (await count('Pause environment')) === 1,
            allowed.has('pause'),
            `${role}: pause ${env}`,
          );
          assert.equal(
            (await page.getByRole('form', { name: 'Pause a model' }).count()) === 1,
            allowed.has('pause'),
            `${role}: pause a model in ${env}`,
          );

          await page.goto(`${ui.uiUrl}#/plans/${plans[env]}`);
          await page.getByRole('heading', { level: 1, name: /pending$/ }).waitFor();
          assert.equal(
            (await count('Cancel plan')) === 1,
            allowed.has(`plan.${env}`),
            `${role}: cancel a ${env} plan`,
          );
        }
        if (!allowed.has('clients')) {
          await page.goto(`${ui.uiUrl}#/settings`);
          await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
          assert.equal(
            await page
              .getByRole('button', { name: /Create client|Revoke|Add user|Test and save/ })
              .count(),
            0,
          );
        }
      } finally {
        await context.close();
      }
    }
  });

  it("shows how dev differs from prod, its last backfill, and the model's versions", async () => {
    const { context, page } = await newPage();
    try {
      await logIn(page, ui, 'vic');
      await page.goto(`${ui.uiUrl}#/environments/dev`);
      const diff = page.getByRole('region', { name: 'Differences from prod' });
      await diff.getByRole('list', { name: 'Differences by kind' }).waitFor();
      const counts = await diff
        .getByRole('list', { name: 'Differences by kind' })
        .locator('li')
        .allTextContents();
      assert.deepEqual(counts, [
        'Directly modified: 1',
        'Indirectly modified: 0',
        'Metadata only: 0',
        'Added: 0',
        'Removed: 0',
      ]);
      const rows = diff.getByRole('table').locator('tbody tr');
      assert.equal(await rows.count(), 1);
      assert.match(
        (await rows.first().textContent()) ?? '',
        /^sqlmesh_example\.full_modelDirectly modified/,
      );
      const last = page.locator('dt', { hasText: 'Last backfilled interval' }).locator('+ dd');
      assert.match((await last.textContent()) ?? '', / of sqlmesh_example\.full_model, /);

      await diff.getByRole('link', { name: 'sqlmesh_example.full_model' }).click();
      const versions = page.getByRole('table', { name: 'Versions of this model' });
      await versions.waitFor();
      const cells = async (i: number) =>
        versions.locator('tbody tr').nth(i).locator('td').allTextContents();
      assert.equal(await versions.locator('tbody tr').count(), 2);
      // Newest first: dev's version (a new column is not breaking), then prod's first one.
      const [mine, first] = [await cells(0), await cells(1)];
      assert.equal(mine[1], 'not breaking');
      assert.equal(mine[2], `Plan ${devPlan.slice(0, 8)}`);
      assert.match(mine[4] ?? '', /used by dev/);
      assert.equal(first[1], 'breaking');
      assert.equal(first[4], '');
    } finally {
      await context.close();
    }
  });

  it('raised no script errors in any page', () => {
    assert.deepEqual(errors, []);
  });
});
