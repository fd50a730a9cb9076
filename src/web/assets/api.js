// Talking to the cloud: the project's JSON API with the session cookie and,
// for writes, the CSRF header; the login endpoints; the live event stream
// (or polling when the server has none).

/** `/sqlmesh/<org>/<project>`, as the server wrote it into the page. */
export const projectUrl = document.body.dataset.projectUrl ?? '';

/** The logged-in user: {username, role, csrfToken}, or null. */
export const session = { current: null };

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** True when the server has no such route at all (an API this server does not offer). */
export function isMissingRoute(err) {
  return err instanceof ApiError && err.status === 404 && /^no route /.test(err.message);
}

const sessionEndedListeners = new Set();
export function onSessionEnded(fn) {
  sessionEndedListeners.add(fn);
}

async function request(url, { method = 'GET', body, csrf } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  let res;
  try {
    res = await fetch(url, {
      method,
      headers,
      credentials: 'same-origin',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch {
    throw new ApiError(
      0,
      'network',
      'the server cannot be reached: check your connection and retry',
    );
  }
  const text = await res.text();
  let data;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!res.ok) {
    const message =
      data?.error?.message ?? `the server answered ${res.status} ${res.statusText}`.trim();
    throw new ApiError(res.status, data?.error?.code ?? 'http', message);
  }
  return data;
}

/** A call to `<project>/api<path>`; a 401 ends the session in the UI. */
export async function api(path, options = {}) {
  try {
    return await request(`${projectUrl}/api${path}`, {
      ...options,
      csrf: session.current?.csrfToken,
    });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      session.current = null;
      for (const fn of sessionEndedListeners) fn(err);
    }
    throw err;
  }
}

/** Like {@link api}, but `undefined` when this server has no such route. */
export async function optionalApi(path, options = {}) {
  try {
    return await api(path, options);
  } catch (err) {
    if (isMissingRoute(err)) return undefined;
    throw err;
  }
}

/** The current session, or null when not logged in. */
export async function loadSession() {
  try {
    session.current = await request(`${projectUrl}/auth/session`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) session.current = null;
    else throw err;
  }
  return session.current;
}

export async function login(username, password) {
  session.current = await request(`${projectUrl}/auth/login`, {
    method: 'POST',
    body: { username, password },
  });
  return session.current;
}

export async function logout() {
  try {
    await request(`${projectUrl}/auth/logout`, { method: 'POST' });
  } finally {
    session.current = null;
  }
}

/** What the session's role may do (the server's permission table, for hiding buttons). */
export function can(action) {
  const role = session.current?.role;
  const table = {
    viewer: ['read'],
    developer: ['read', 'plan.dev', 'run.dev'],
    admin: [
      'read',
      'plan.dev',
      'plan.prod',
      'run.dev',
      'run.prod',
      'pause',
      'clients',
      'users',
      'connections',
    ],
  };
  return (table[role] ?? []).includes(action);
}

/** Event types that change what a page shows (heartbeats and task chatter are left out). */
export const LIVE_EVENT_TYPES = [
  'plan.submitted',
  'plan.finished',
  'plan.cancel_requested',
  'run.created',
  'run.finished',
  'task.succeeded',
  'task.failed',
  'task.retrying',
  'task.cancelled',
  'executor.registered',
  'pause.changed',
  'client.created',
  'client.revoked',
  'gap',
];

/**
 * Live updates: the server's event stream when it has one, else polling
 * every `pollMs`. `onChange(event)` is called for each event or tick;
 * `onMode(mode)` with `stream` or `polling`. Returns a stop function.
 */
export function startLive({ onChange, onMode, pollMs = 15_000 }) {
  let stopped = false;
  let timer;
  let source;
  const poll = () => {
    onMode('polling');
    timer = setInterval(() => {
      if (!stopped && document.visibilityState !== 'hidden') onChange({ type: 'poll' });
    }, pollMs);
  };
  if (typeof EventSource === 'function') {
    let opened = false;
    source = new EventSource(`${projectUrl}/api/events`, { withCredentials: true });
    source.onopen = () => {
      opened = true;
      onMode('stream');
    };
    const deliver = (e) => {
      let data;
      try {
        data = JSON.parse(e.data);
      } catch {
        data = { type: e.type };
      }
      onChange(data);
    };
    // The server names each event by its type; the page refreshes on the ones it shows.
    source.onmessage = deliver;
    for (const type of LIVE_EVENT_TYPES) source.addEventListener(type, deliver);
    source.onerror = () => {
      // Never opened: the server has no stream (or refuses it). Poll instead.
      // Opened then dropped: EventSource reconnects by itself.
      if (!opened && !stopped) {
        source.close();
        source = undefined;
        poll();
      }
    };
  } else {
    poll();
  }
  return () => {
    stopped = true;
    if (timer) clearInterval(timer);
    source?.close();
  };
}
