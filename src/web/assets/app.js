// The single page: session, header and navigation, hash routes, the time
// zone switch, live refreshes, and the page modules.
import { can, loadSession, logout, onSessionEnded, session, startLive, ApiError } from './api.js';
import { h, link, replace, note } from './dom.js';
import { readTimeZone, writeTimeZone } from './format.js';
import { renderLogin } from './pages/login.js';
import { renderHome } from './pages/home.js';
import { renderEnvironments, renderEnvironment } from './pages/environments.js';
import { renderPlan } from './pages/plan.js';
import { renderRun } from './pages/run.js';
import { renderModel } from './pages/model.js';
import { renderExecutors } from './pages/executors.js';
import { renderSettings } from './pages/settings.js';

const main = document.getElementById('main');
const top = document.getElementById('top');
const bottom = document.getElementById('bottom');
const announcer = document.getElementById('announcer');

const state = {
  timeZone: readTimeZone(globalThis.localStorage),
  liveMode: 'connecting',
  stopLive: undefined,
  rendering: 0,
};

/** Says something to screen readers (the page's polite live region). */
export function announce(text) {
  announcer.textContent = '';
  // A fresh text node is announced even when the words repeat.
  setTimeout(() => (announcer.textContent = text), 30);
}

/** Routes: pattern → page. Parameters are URI-decoded path segments. */
const ROUTES = [
  { pattern: /^\/?$/, page: renderHome, nav: 'home', title: 'Home' },
  {
    pattern: /^\/environments$/,
    page: renderEnvironments,
    nav: 'environments',
    title: 'Environments',
  },
  {
    pattern: /^\/environments\/([^/]+)$/,
    page: renderEnvironment,
    nav: 'environments',
    title: 'Environment',
  },
  { pattern: /^\/plans\/([^/]+)$/, page: renderPlan, nav: 'environments', title: 'Plan' },
  { pattern: /^\/runs\/([^/]+)$/, page: renderRun, nav: 'home', title: 'Run' },
  {
    pattern: /^\/models\/([^/]+)\/([^/]+)$/,
    page: renderModel,
    nav: 'environments',
    title: 'Model',
  },
  { pattern: /^\/executors$/, page: renderExecutors, nav: 'executors', title: 'Executors' },
  { pattern: /^\/settings$/, page: renderSettings, nav: 'settings', title: 'Settings' },
];

function currentPath() {
  const hash = location.hash.replace(/^#/, '');
  const [path, query = ''] = hash.split('?');
  return { path: path || '/', query: new URLSearchParams(query) };
}

function navItems() {
  const items = [
    ['/', 'Home', 'home'],
    ['/environments', 'Environments', 'environments'],
    ['/executors', 'Executors', 'executors'],
  ];
  if (can('clients') || can('users') || can('connections'))
    items.push(['/settings', 'Settings', 'settings']);
  return items;
}

function renderHeader(active) {
  const project = decodeURIComponent(
    document.body.dataset.projectUrl.split('/').slice(2).join('/'),
  );
  const zoneButton = (mode, label) =>
    h(
      'button',
      {
        type: 'button',
        class: 'toggle',
        'aria-pressed': state.timeZone === mode ? 'true' : 'false',
        onclick: () => {
          if (state.timeZone === mode) return;
          state.timeZone = mode;
          writeTimeZone(globalThis.localStorage, mode);
          announce(`Times now shown in ${label}`);
          void route();
        },
      },
      label,
    );
  replace(
    top,
    h(
      'div',
      { class: 'brand' },
      h('span', { class: 'logo', 'aria-hidden': 'true' }, '≋'),
      h('span', {}, 'Tideline'),
      h('span', { class: 'project' }, project),
    ),
    session.current
      ? h(
          'nav',
          { 'aria-label': 'Main' },
          h(
            'ul',
            {},
            navItems().map(([href, label, key]) =>
              h(
                'li',
                {},
                link(href, label, { 'aria-current': key === active ? 'page' : undefined }),
              ),
            ),
          ),
        )
      : null,
    h(
      'div',
      { class: 'tools' },
      h(
        'div',
        { class: 'zone', role: 'group', 'aria-label': 'Show times in' },
        zoneButton('utc', 'UTC'),
        zoneButton('local', 'Local'),
      ),
      session.current
        ? [
            h(
              'span',
              { class: 'who', 'data-role': session.current.role },
              session.current.username,
              h('span', { class: 'role-badge' }, session.current.role),
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'secondary',
                onclick: async () => {
                  await logout().catch(() => undefined);
                  stopLive();
                  location.hash = '#/login';
                  announce('Logged out');
                },
              },
              'Log out',
            ),
          ]
        : null,
    ),
  );
}

function renderFooter() {
  const words = {
    connecting: 'Live updates: connecting…',
    stream: 'Live updates: on (event stream)',
    polling: 'Live updates: refreshing every 15 s (this server has no event stream)',
    off: 'Live updates: off',
  };
  replace(bottom, h('p', { class: 'muted', id: 'live-status' }, words[state.liveMode]));
}

function stopLive() {
  state.stopLive?.();
  state.stopLive = undefined;
  state.liveMode = 'off';
  renderFooter();
}

let refreshTimer;
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    // Never pull the page from under someone typing or choosing.
    const active = document.activeElement;
    if (active && main.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) return;
    if (document.querySelector('[data-keep]')) return;
    void route({ quiet: true });
  }, 400);
}

function ensureLive() {
  if (state.stopLive) return;
  state.liveMode = 'connecting';
  state.stopLive = startLive({
    onChange: () => scheduleRefresh(),
    onMode: (mode) => {
      state.liveMode = mode;
      renderFooter();
    },
  });
  renderFooter();
}

/** Renders the page the hash names. `quiet` keeps focus and scroll (live refresh). */
async function route(options = {}) {
  const ticket = ++state.rendering;
  const { path, query } = currentPath();
  if (path === '/login' || !session.current) {
    if (!session.current) {
      const known = await loadSession().catch(() => null);
      if (ticket !== state.rendering) return;
      if (!known || path === '/login') {
        stopLive();
        renderHeader(null);
        document.title = `Log in · ${document.body.dataset.projectUrl.split('/').slice(2).join('/')}`;
        renderLogin(main, {
          onLoggedIn: () => {
            const back = query.get('next');
            const target = back && back.startsWith('/') && back !== '/login' ? `#${back}` : '#/';
            if (location.hash === target) void route();
            else location.hash = target;
          },
        });
        return;
      }
    } else {
      location.hash = '#/';
      return;
    }
  }
  const match = ROUTES.map((r) => ({ r, m: r.pattern.exec(path) })).find((x) => x.m);
  renderHeader(match?.r.nav ?? null);
  ensureLive();
  if (!match) {
    replace(
      main,
      h('h1', {}, 'Not found'),
      note(`There is no page ${path} here.`),
      link('/', 'Go to Home'),
    );
    return;
  }
  const params = match.m.slice(1).map((p) => decodeURIComponent(p));
  const scrollY = window.scrollY;
  const view = h('div', { class: 'page' });
  const ctx = {
    params,
    query,
    timeZone: state.timeZone,
    now: Date.now(),
    announce,
    refresh: () => route({ quiet: true }),
    go: (hash) => (location.hash = hash),
  };
  try {
    await match.r.page(view, ctx);
  } catch (err) {
    if (ticket !== state.rendering) return;
    if (err instanceof ApiError && err.status === 401) return;
    replace(
      view,
      h('h1', {}, match.r.title),
      note(err instanceof Error ? err.message : String(err), 'error'),
    );
  }
  if (ticket !== state.rendering) return;
  const focusedId = options.quiet ? document.activeElement?.id : undefined;
  replace(main, view);
  const heading = main.querySelector('h1');
  document.title = `${heading?.textContent ?? match.r.title} · Tideline`;
  if (options.quiet) {
    window.scrollTo(0, scrollY);
    if (focusedId) document.getElementById(focusedId)?.focus();
  } else {
    main.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }
  main.dataset.ready = 'true';
}

onSessionEnded(() => {
  stopLive();
  const { path } = currentPath();
  if (path !== '/login') location.hash = `#/login?next=${encodeURIComponent(path)}`;
});

document.getElementById('skip-link').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
window.addEventListener('hashchange', () => void route());
renderFooter();
void route();
