/**
 * Serving the web UI, without authentication (the files hold no data; the
 * pages call the JSON API with the session cookie and CSRF header):
 *
 * - `GET <project>/` answers the HTML shell, with the project's URL filled in
 *   (`<project>` without the trailing slash redirects there); the pages route
 *   by the URL's hash (`#/plans/<id>`).
 * - `GET <project>/ui/<file>` answers a file of the UI's asset folder
 *   (`src/web/assets`): scripts, styles and images, nothing else.
 *
 * The asset folder is listed once, at start-up; a request can only reach a
 * file of that list, so no path in a URL ever reaches the file system.
 * Every answer carries a Content-Security-Policy that allows only this
 * server's own scripts, styles and API.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context } from 'hono';
import { PROJECT_PREFIX, type RouteModule } from '../http/app.js';
import { notFound } from '../http/api-error.js';
import { projectScope, type CloudEnv } from '../http/project-scope.js';

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};

/** The policy every UI answer carries: this origin only, no inline script, no framing. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The shell's file in the asset folder; `%PROJECT_URL%` and `%TITLE%` are filled in per request. */
const SHELL = 'index.html';

export interface WebAssets {
  /** Relative path (with `/`) → bytes and content type. */
  files: Map<string, { body: Uint8Array; type: string }>;
  shell: string;
}

/** The UI's asset folder of this installation: `src/web/assets` beside package.json. */
export function defaultAssetsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'src', 'web', 'assets');
    if (existsSync(join(dir, 'package.json')) && existsSync(join(candidate, SHELL))) {
      return candidate;
    }
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(
        'the web UI files (src/web/assets/index.html) are missing from this installation: reinstall Tideline',
      );
    }
    dir = parent;
  }
}

function listFiles(root: string, dir = root): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('.')) continue;
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...listFiles(root, full));
    else out.push(relative(root, full).split(sep).join('/'));
  }
  return out;
}

/** Reads the asset folder: every file with a known type, and the shell. */
export function loadWebAssets(dir: string = defaultAssetsDir()): WebAssets {
  const files = new Map<string, { body: Uint8Array; type: string }>();
  for (const path of listFiles(dir)) {
    const type = CONTENT_TYPES[extname(path).toLowerCase()];
    if (!type || path === SHELL) continue;
    files.set(path, { body: readFileSync(join(dir, path)), type });
  }
  return { files, shell: readFileSync(join(dir, SHELL), 'utf8') };
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]!);
}

function projectUrl(c: Context<CloudEnv>): string {
  const p = c.get('project');
  return `/sqlmesh/${encodeURIComponent(p.org)}/${encodeURIComponent(p.name)}`;
}

function secure(c: Context<CloudEnv>): void {
  c.header('content-security-policy', CONTENT_SECURITY_POLICY);
  c.header('x-content-type-options', 'nosniff');
  c.header('referrer-policy', 'no-referrer');
  c.header('x-frame-options', 'DENY');
}

/** The UI's routes over the given asset folder (the installation's by default). */
export function createWebRoutes(options: { assetsDir?: string } = {}): RouteModule {
  let assets: WebAssets | undefined;
  const load = (): WebAssets => (assets ??= loadWebAssets(options.assetsDir));
  const shell = (c: Context<CloudEnv>) => {
    const p = c.get('project');
    const html = load()
      .shell.replaceAll('%PROJECT_URL%', escapeHtml(projectUrl(c)))
      .replaceAll('%TITLE%', escapeHtml(`${p.org}/${p.name} · Tideline`));
    secure(c);
    c.header('cache-control', 'no-cache');
    return c.html(html);
  };
  return {
    name: 'web',
    root(app, ctx) {
      // `<project>/` is a route of its own: under the project prefix, `/`
      // matches the prefix without the slash only.
      app.get(`${PROJECT_PREFIX}/`, projectScope(ctx), shell);
    },
    projectPublic(app) {
      app.get('/', (c) => c.redirect(`${projectUrl(c)}/`, 308));
      app.get('/ui/*', (c) => {
        const prefix = `${projectUrl(c)}/ui/`;
        const raw = c.req.path.startsWith(prefix) ? c.req.path.slice(prefix.length) : '';
        const file = load().files.get(raw);
        if (!file) throw notFound(`no UI file ${JSON.stringify(raw.slice(0, 100))}`);
        secure(c);
        c.header('content-type', file.type);
        c.header('cache-control', 'no-cache');
        return c.body(file.body as Uint8Array<ArrayBuffer>);
      });
    },
  };
}

/** The UI served from the installation's asset folder. */
export const webRoutes: RouteModule = createWebRoutes();
