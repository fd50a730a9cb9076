/**
 * Query parameters of the observability API, read strictly: a parameter the
 * route does not know is refused (a typo must not silently widen a list),
 * numbers are whole and bounded, names are bounded and free of control
 * characters. Every refusal is a 400 naming the parameter.
 */
import type { Context } from 'hono';
import { badRequest } from '../http/api-error.js';
import type { CloudEnv } from '../http/project-scope.js';
import { environmentName } from '../scheduler/environment-name.js';

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;
/** Longest free-text filter value (model names, ids). */
export const MAX_TEXT = 1_000;

/** Log levels from least to most severe. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const CONTROL = /[\u0000-\u001f\u007f]/;

function shown(raw: string): string {
  return JSON.stringify(raw.slice(0, 60));
}

/** The query of a request, refusing parameters not in `known` and repeated ones. */
export class QueryReader {
  private readonly values = new Map<string, string>();

  constructor(c: Context<CloudEnv>, known: readonly string[]) {
    const all = c.req.queries();
    for (const [key, list] of Object.entries(all)) {
      if (!known.includes(key)) {
        const allowed = known.length ? known.join(', ') : 'none';
        throw badRequest(`unknown query parameter ${shown(key)}; this route takes: ${allowed}`);
      }
      if (list.length > 1) throw badRequest(`${key}: give it once`);
      this.values.set(key, list[0] ?? '');
    }
  }

  /** The raw value, or undefined when absent or empty. */
  raw(key: string): string | undefined {
    const value = this.values.get(key);
    return value === undefined || value === '' ? undefined : value;
  }

  /** `limit`: 1..max, `fallback` when absent. */
  limit(fallback = DEFAULT_LIMIT, max = MAX_LIMIT): number {
    const raw = this.raw('limit');
    if (raw === undefined) return fallback;
    if (!/^\d{1,7}$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
      throw badRequest(`limit: expected a whole number from 1 to ${max}, got ${shown(raw)}`);
    }
    return Number(raw);
  }

  /** A whole number of at least `min` (epoch ms, ids). */
  integer(key: string, min = 0): number | undefined {
    const raw = this.raw(key);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!/^-?\d{1,16}$/.test(raw) || !Number.isSafeInteger(value) || value < min) {
      throw badRequest(`${key}: expected a whole number >= ${min}, got ${shown(raw)}`);
    }
    return value;
  }

  /** Free text: at most `max` characters, no control characters. */
  text(key: string, max = MAX_TEXT): string | undefined {
    const raw = this.raw(key);
    if (raw === undefined) return undefined;
    if (raw.length > max) throw badRequest(`${key}: at most ${max} characters`);
    if (CONTROL.test(raw)) throw badRequest(`${key}: control characters are not allowed`);
    return raw;
  }

  /** An environment name (normalized as the engine does). */
  environment(key = 'environment'): string | undefined {
    const raw = this.raw(key);
    return raw === undefined ? undefined : environmentName(raw, key);
  }

  /** One of `choices`. */
  oneOf<T extends string>(key: string, choices: readonly T[]): T | undefined {
    const raw = this.raw(key);
    if (raw === undefined) return undefined;
    const found = choices.find((c) => c === raw);
    if (!found)
      throw badRequest(`${key}: expected one of ${choices.join(', ')}, got ${shown(raw)}`);
    return found;
  }

  /** A cursor made by {@link encodeCursor}, or a bare epoch-ms time. */
  cursor(key = 'before'): Cursor | undefined {
    const raw = this.raw(key);
    if (raw === undefined) return undefined;
    const cursor = decodeCursor(raw);
    if (!cursor) {
      throw badRequest(
        `${key}: expected a cursor from a previous page (nextBefore) or a time in epoch ms, got ${shown(raw)}`,
      );
    }
    return cursor;
  }
}

/**
 * A position in a list sorted newest first by (ts, key): the next page holds
 * the rows strictly after it. `key` breaks ties between rows of one time;
 * without it every row of time `ts` is after the cursor.
 */
export interface Cursor {
  ts: number;
  key?: string;
}

/** `<ts>` or `<ts>~<key>`, safe in a URL. */
export function encodeCursor(ts: number, key: string): string {
  return `${ts}~${Buffer.from(key, 'utf8').toString('base64url')}`;
}

export function decodeCursor(raw: string): Cursor | undefined {
  const match = /^(-?\d{1,16})(?:~([A-Za-z0-9_-]{1,700}))?$/.exec(raw);
  if (!match) return undefined;
  const ts = Number(match[1]);
  if (!Number.isSafeInteger(ts)) return undefined;
  if (match[2] === undefined) return { ts };
  const key = Buffer.from(match[2], 'base64url').toString('utf8');
  if (!key || CONTROL.test(key)) return undefined;
  return { ts, key };
}

/** A path parameter that names an id: bounded, printable. */
export function idParam(c: Context<CloudEnv>, name: string, what: string): string {
  const value = c.req.param(name) ?? '';
  if (!value || value.length > 200 || CONTROL.test(value)) {
    throw badRequest(`${what} id ${shown(value)}: expected 1-200 printable characters`);
  }
  return value;
}
