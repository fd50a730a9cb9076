/**
 * The client side of the cloud's API, shared by the CLI and the executors.
 *
 * A {@link CloudClient} holds the project URL (`TCLOUD_URL`,
 * `<server>/sqlmesh/<org>/<project>`) and OAuth client credentials. It gets
 * access tokens from `<project>/oauth/token` (client credentials grant) and
 * renews them before they expire, and once more when the server answers 401.
 * Requests are JSON with a timeout; idempotent ones are retried on network
 * errors and 502/503/504 with jittered exponential backoff, a bounded number
 * of times. Failures become one-line errors naming the path and the server's
 * message; a 409 `stale_state` becomes the engine's StaleStateError.
 * Secrets never appear in messages.
 */
import { ConfigError, TidelineError } from '../../engine/errors.js';
import { StaleStateError } from '../../engine/state/state-sync.js';
import { LEASE_HEADER, formatLeaseHeader } from '../../protocol/messages.js';

export interface CloudClientOptions {
  /** The project URL, `<server>/sqlmesh/<org>/<project>`. */
  url: string;
  clientId: string;
  clientSecret: string;
  /** Per-attempt timeout, ms (30 s by default). */
  timeoutMs?: number;
  /** Retries of an idempotent request after the first attempt (4 by default). */
  maxRetries?: number;
  /** First retry delay, ms, doubled per retry (200 by default). */
  retryBaseMs?: number;
  /** Longest retry delay, ms (5 s by default). */
  retryMaxMs?: number;
  /** Renew a token this long before it expires, ms (60 s, at most half its lifetime). */
  renewBeforeMs?: number;
  /** Current time in epoch ms (token expiry); the machine's clock by default. */
  clock?: () => number;
  /** Waits between retries (tests make it instant). */
  sleep?: (ms: number) => Promise<void>;
  /** A number in [0, 1) for jitter. */
  random?: () => number;
  /** The fetch to use; the global one by default. */
  fetch?: typeof fetch;
}

export interface RequestOptions {
  /** A JSON body. */
  body?: unknown;
  /** Safe to send again: retried on network errors and 502/503/504 (GET, PUT, DELETE are). */
  idempotent?: boolean;
  /** This request's timeout per attempt, ms (long polls need more than the default). */
  timeoutMs?: number;
  /** Query parameters; undefined values are left out. */
  query?: Record<string, string | number | undefined>;
  /** Called before each retry. */
  onRetry?: (attempt: number, reason: string) => void;
  signal?: AbortSignal;
}

/** The server refused a request: status, the server's code, and the path. */
export class CloudApiError extends TidelineError {
  override name = 'CloudApiError';
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The cloud could not be reached (after the retries an idempotent request gets). */
export class CloudUnreachableError extends TidelineError {
  override name = 'CloudUnreachableError';
}

interface TokenState {
  token?: string;
  expiresAt: number;
  pending?: Promise<string>;
}

const RETRYABLE_STATUS = new Set([502, 503, 504]);

function oneLine(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}...` : flat;
}

function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError') return 'timed out';
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof Error && cause.message) return oneLine(cause.message, 200);
  return oneLine(err.message, 200);
}

/** Checks and normalizes the project URL, naming TCLOUD_URL when it is wrong. */
function projectBase(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    throw new ConfigError('TCLOUD_URL', 'is not a URL; set it to <server>/sqlmesh/<org>/<project>');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError('TCLOUD_URL', `must be http or https, not ${parsed.protocol}`);
  }
  if (parsed.username || parsed.password) {
    throw new ConfigError(
      'TCLOUD_URL',
      'must not hold credentials; use TCLOUD_CLIENT_ID and TCLOUD_CLIENT_SECRET',
    );
  }
  if (!/\/sqlmesh\/[^/]+\/[^/]+\/?$/.test(parsed.pathname)) {
    throw new ConfigError(
      'TCLOUD_URL',
      `${parsed.origin}${parsed.pathname} does not name a project; use <server>/sqlmesh/<org>/<project>`,
    );
  }
  parsed.pathname = parsed.pathname.replace(/\/+$/, '');
  parsed.search = '';
  parsed.hash = '';
  return parsed;
}

export class CloudClient {
  /** The project URL without a trailing slash. */
  readonly projectUrl: string;
  private readonly options: Required<
    Pick<
      CloudClientOptions,
      'timeoutMs' | 'maxRetries' | 'retryBaseMs' | 'retryMaxMs' | 'renewBeforeMs'
    >
  >;
  private readonly clock: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly fetchFn: typeof fetch;
  private readonly credentials: { id: string; secret: string };
  private readonly tokenState: TokenState;
  private readonly lease: string | undefined;
  /** Token requests made, for diagnostics and tests. */
  get tokenRequests(): number {
    return this.counters.tokens;
  }
  private readonly counters: { tokens: number };

  constructor(
    options: CloudClientOptions,
    shared?: { tokenState: TokenState; counters: { tokens: number }; lease?: string },
  ) {
    this.projectUrl = projectBase(options.url).toString().replace(/\/+$/, '');
    if (!options.clientId.trim()) {
      throw new ConfigError('TCLOUD_CLIENT_ID', 'is empty; set it to the OAuth client id');
    }
    if (!options.clientSecret) {
      throw new ConfigError('TCLOUD_CLIENT_SECRET', 'is empty; set it to the OAuth client secret');
    }
    const positive = (key: string, value: number | undefined, fallback: number, min = 0) => {
      if (value === undefined) return fallback;
      if (!Number.isFinite(value) || value < min) {
        throw new ConfigError(key, `${String(value)} must be a number >= ${min}`);
      }
      return value;
    };
    this.options = {
      timeoutMs: positive('timeoutMs', options.timeoutMs, 30_000, 1),
      maxRetries: positive('maxRetries', options.maxRetries, 4),
      retryBaseMs: positive('retryBaseMs', options.retryBaseMs, 200),
      retryMaxMs: positive('retryMaxMs', options.retryMaxMs, 5_000),
      renewBeforeMs: positive('renewBeforeMs', options.renewBeforeMs, 60_000),
    };
    this.clock = options.clock ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
    this.fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
    this.credentials = { id: options.clientId.trim(), secret: options.clientSecret };
    this.tokenState = shared?.tokenState ?? { expiresAt: 0 };
    this.counters = shared?.counters ?? { tokens: 0 };
    this.lease = shared?.lease;
    this.clientOptions = options;
  }

  private readonly clientOptions: CloudClientOptions;

  /** A client from `TCLOUD_URL`, `TCLOUD_CLIENT_ID` and `TCLOUD_CLIENT_SECRET`. */
  static fromEnv(
    env: Record<string, string | undefined> = process.env,
    options: Omit<CloudClientOptions, 'url' | 'clientId' | 'clientSecret'> = {},
  ): CloudClient {
    const need = (key: string): string => {
      const value = env[key];
      if (value === undefined || value.trim() === '') {
        throw new ConfigError(key, 'is not set; the cloud client needs it');
      }
      return value;
    };
    return new CloudClient({
      ...options,
      url: need('TCLOUD_URL'),
      clientId: need('TCLOUD_CLIENT_ID'),
      clientSecret: need('TCLOUD_CLIENT_SECRET'),
    });
  }

  /**
   * A client that sends the lease of a task it holds with every request, so
   * that writes about the task are allowed (and refused once the lease is stale).
   * It shares this client's tokens.
   */
  withLease(taskId: string, leaseId: string, fencingToken: number): CloudClient {
    if (!Number.isSafeInteger(fencingToken) || fencingToken < 0) {
      throw new TidelineError(`fencing token ${String(fencingToken)} must be a whole number >= 0`);
    }
    for (const [what, value] of [
      ['task id', taskId],
      ['lease id', leaseId],
    ] as const) {
      if (!/^[A-Za-z0-9_.-]{1,128}$/.test(value)) {
        throw new TidelineError(`${what} ${JSON.stringify(value.slice(0, 140))} is not a valid id`);
      }
    }
    return new CloudClient(this.clientOptions, {
      tokenState: this.tokenState,
      counters: this.counters,
      lease: formatLeaseHeader(taskId, leaseId, fencingToken),
    });
  }

  /** The lease header value this client sends, if any. */
  get leaseHeader(): string | undefined {
    return this.lease;
  }

  /** A valid access token, renewed when it is about to expire. */
  async accessToken(force = false): Promise<string> {
    const state = this.tokenState;
    if (!force && state.token && this.clock() < state.expiresAt) return state.token;
    if (state.pending) return await state.pending;
    state.pending = this.fetchToken().finally(() => {
      state.pending = undefined;
    });
    return await state.pending;
  }

  private async fetchToken(): Promise<string> {
    const url = `${this.projectUrl}/oauth/token`;
    const path = new URL(url).pathname;
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: this.credentials.id,
      client_secret: this.credentials.secret,
    });
    const res = await this.send(
      path,
      () =>
        this.fetchFn(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            accept: 'application/json',
          },
          body: form.toString(),
          signal: AbortSignal.timeout(this.options.timeoutMs),
        }),
      { idempotent: true },
      'POST',
    );
    this.counters.tokens++;
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // Reported below.
    }
    if (!res.ok) {
      const code = typeof body['error'] === 'string' ? body['error'] : 'error';
      const description =
        typeof body['error_description'] === 'string'
          ? body['error_description']
          : oneLine(text) || res.statusText;
      const hint =
        res.status === 401 || code === 'invalid_client'
          ? '; check TCLOUD_CLIENT_ID and TCLOUD_CLIENT_SECRET'
          : '';
      throw new CloudApiError(
        `cloud POST ${path}: ${res.status} ${code}: ${oneLine(description)}${hint}`,
        res.status,
        code,
        path,
      );
    }
    const token = body['access_token'];
    const expiresIn = body['expires_in'];
    if (typeof token !== 'string' || !token) {
      throw new CloudApiError(
        `cloud POST ${path}: the answer holds no access_token`,
        res.status,
        'invalid_response',
        path,
      );
    }
    const lifetimeMs =
      typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0
        ? expiresIn * 1000
        : 60_000;
    const margin = Math.min(this.options.renewBeforeMs, lifetimeMs / 2);
    this.tokenState.token = token;
    this.tokenState.expiresAt = this.clock() + lifetimeMs - margin;
    return token;
  }

  /**
   * Sends one request (with retries when allowed), returning the raw
   * response. Retries network errors and 502/503/504 when idempotent.
   */
  private async send(
    path: string,
    attempt: () => Promise<Response>,
    options: RequestOptions,
    method: string,
  ): Promise<Response> {
    const retries = options.idempotent ? this.options.maxRetries : 0;
    for (let n = 0; ; n++) {
      let reason: string;
      try {
        const res = await attempt();
        if (!RETRYABLE_STATUS.has(res.status) || n >= retries) return res;
        reason = `${res.status}`;
        await res.body?.cancel().catch(() => undefined);
      } catch (err) {
        if (options.signal?.aborted) throw err;
        reason = reasonOf(err);
        if (n >= retries) {
          throw new CloudUnreachableError(
            `cloud ${method} ${path}: cannot reach ${new URL(this.projectUrl).origin}: ${reason}${n > 0 ? ` (after ${n + 1} attempts)` : ''}`,
            { cause: err },
          );
        }
      }
      options.onRetry?.(n + 1, reason);
      const ceiling = Math.min(this.options.retryMaxMs, this.options.retryBaseMs * 2 ** n);
      // Half fixed, half random: spreads clients out without waiting for nothing.
      await this.sleep(ceiling / 2 + (this.random() * ceiling) / 2);
    }
  }

  /**
   * A JSON request to the project's API: `path` is under `<project>/api`
   * (e.g. `/state/versions`). Returns the parsed body (undefined for 204).
   */
  async request<T = unknown>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    options: RequestOptions = {},
  ): Promise<T> {
    const url = new URL(`${this.projectUrl}/api${path}`);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const fullPath = url.pathname;
    const idempotent = options.idempotent ?? method !== 'POST';
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    let renewed = false;
    for (;;) {
      const token = await this.accessToken();
      const headers: Record<string, string> = {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
      };
      if (body !== undefined) headers['content-type'] = 'application/json';
      if (this.lease) headers[LEASE_HEADER] = this.lease;
      const res = await this.send(
        fullPath,
        () => {
          const signals = [AbortSignal.timeout(timeoutMs)];
          if (options.signal) signals.push(options.signal);
          return this.fetchFn(url, {
            method,
            headers,
            ...(body === undefined ? {} : { body }),
            signal: signals.length === 1 ? signals[0]! : AbortSignal.any(signals),
          });
        },
        { ...options, idempotent },
        method,
      );
      if (res.status === 401 && !renewed) {
        // The token may have been revoked or expired early: one fresh one, once.
        renewed = true;
        await res.body?.cancel().catch(() => undefined);
        this.tokenState.token = undefined;
        this.tokenState.expiresAt = 0;
        continue;
      }
      const text = await res.text();
      if (res.ok) {
        if (res.status === 204 || text === '') return undefined as T;
        try {
          return JSON.parse(text) as T;
        } catch {
          throw new CloudApiError(
            `cloud ${method} ${fullPath}: the answer is not JSON`,
            res.status,
            'invalid_response',
            fullPath,
          );
        }
      }
      throw this.errorOf(method, fullPath, res.status, text);
    }
  }

  private errorOf(method: string, path: string, status: number, text: string): Error {
    let code = 'error';
    let message = '';
    try {
      const parsed = JSON.parse(text) as { error?: unknown; error_description?: unknown };
      if (parsed.error && typeof parsed.error === 'object') {
        const e = parsed.error as { code?: unknown; message?: unknown };
        if (typeof e.code === 'string') code = e.code;
        if (typeof e.message === 'string') message = e.message;
      } else if (typeof parsed.error === 'string') {
        code = parsed.error;
        if (typeof parsed.error_description === 'string') message = parsed.error_description;
      }
    } catch {
      message = text;
    }
    message = oneLine(message) || `HTTP ${status}`;
    if (status === 409 && code === 'stale_state') return new StaleStateError(message);
    return new CloudApiError(
      `cloud ${method} ${path}: ${status} ${code}: ${message}`,
      status,
      code,
      path,
    );
  }

  get<T = unknown>(path: string, options: Omit<RequestOptions, 'body'> = {}): Promise<T> {
    return this.request<T>('GET', path, options);
  }

  post<T = unknown>(
    path: string,
    body: unknown,
    options: Omit<RequestOptions, 'body'> = {},
  ): Promise<T> {
    return this.request<T>('POST', path, { ...options, body });
  }

  put<T = unknown>(
    path: string,
    body: unknown,
    options: Omit<RequestOptions, 'body'> = {},
  ): Promise<T> {
    return this.request<T>('PUT', path, { ...options, body });
  }

  delete<T = unknown>(path: string, options: Omit<RequestOptions, 'body'> = {}): Promise<T> {
    return this.request<T>('DELETE', path, options);
  }
}
