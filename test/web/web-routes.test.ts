/**
 * Serving the UI: the shell at `<project>/` with the project filled in and
 * a strict Content-Security-Policy, assets by name only, no authentication
 * needed for files, and nothing outside the asset folder reachable.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { sessionRoutes } from '../../src/cloud/auth/session-routes.js';
import {
  CONTENT_SECURITY_POLICY,
  createWebRoutes,
  webRoutes,
} from '../../src/cloud/web/web-routes.js';
import { startTestCloud } from '../helpers/cloud.js';
import { repoRoot } from '../helpers/paths.js';
import { sqliteTarget, tempDir } from './ui-fixture.js';

const assets = tempDir('tideline-ui-assets-');
mkdirSync(join(assets, 'pages'));
writeFileSync(join(assets, 'index.html'), '<title>%TITLE%</title><body data-p="%PROJECT_URL%">');
writeFileSync(join(assets, 'app.js'), 'export const x = 1;');
writeFileSync(join(assets, 'pages', 'page.js'), 'export const y = 2;');
writeFileSync(join(assets, 'notes.txt'), 'not served');

const cloud = await startTestCloud(sqliteTarget(), {
  org: 'acme',
  project: 'web-ui.1',
  routes: [sessionRoutes, createWebRoutes({ assetsDir: assets })],
});

describe('the web UI routes', () => {
  it('answers the shell at <project>/ with the project filled in', async () => {
    const res = await fetch(`${cloud.projectUrl}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.equal(res.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    const html = await res.text();
    assert.equal(
      html,
      '<title>acme/web-ui.1 · Tideline</title><body data-p="/sqlmesh/acme/web-ui.1">',
    );
  });

  it('redirects <project> to <project>/', async () => {
    const res = await fetch(cloud.projectUrl, { redirect: 'manual' });
    assert.equal(res.status, 308);
    assert.equal(res.headers.get('location'), '/sqlmesh/acme/web-ui.1/');
  });

  it('serves asset files with their types, without a session', async () => {
    const base = `${cloud.projectUrl}/ui`;
    const app = await fetch(`${base}/app.js`);
    assert.equal(app.status, 200);
    assert.match(app.headers.get('content-type') ?? '', /text\/javascript/);
    assert.equal(await app.text(), 'export const x = 1;');
    const nested = await fetch(`${base}/pages/page.js`);
    assert.equal(await nested.text(), 'export const y = 2;');
  });

  it('refuses files of unknown types, the shell as a file, and paths out of the folder', async () => {
    const base = `${cloud.projectUrl}/ui`;
    for (const path of [
      'notes.txt',
      'index.html',
      'missing.js',
      '..%2F..%2Fpackage.json',
      '%2e%2e/app.js',
    ]) {
      const res = await fetch(`${base}/${path}`);
      assert.equal(res.status, 404, path);
      const body = (await res.json()) as { error: { code: string } };
      assert.equal(body.error.code, 'not_found');
    }
  });

  it('answers 404 for a project that does not exist', async () => {
    const res = await fetch(`${cloud.server.url}/sqlmesh/acme/nope/`);
    assert.equal(res.status, 404);
  });

  it("finds the installation's own asset folder with the shell and every page module", async () => {
    assert.equal(typeof webRoutes.projectPublic, 'function');
    const { loadWebAssets, defaultAssetsDir } = await import('../../src/cloud/web/web-routes.js');
    const dir = defaultAssetsDir();
    assert.equal(dir, join(repoRoot, 'src', 'web', 'assets'));
    const loaded = loadWebAssets(dir);
    for (const file of ['app.js', 'api.js', 'style.css', 'pages/home.js', 'pages/settings.js']) {
      assert.ok(loaded.files.has(file), file);
    }
    assert.match(loaded.shell, /%PROJECT_URL%\/ui\/app\.js/);
    // Every relative import of the UI's modules names a file that is served.
    for (const [path, file] of loaded.files) {
      if (!path.endsWith('.js')) continue;
      const text = Buffer.from(file.body).toString('utf8');
      for (const m of text.matchAll(/from '(\.[^']+)'/g)) {
        const target = new URL(m[1]!, pathToFileURL(join(dir, path))).pathname;
        const rel = target.slice(pathToFileURL(dir).pathname.length + 1);
        assert.ok(loaded.files.has(rel), `${path} imports ${m[1]}, which is not served`);
      }
    }
  });
});
