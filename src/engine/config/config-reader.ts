/**
 * Typed reads from a raw configuration tree (parsed YAML with overrides applied), with
 * errors that say where the bad value came from: `config.yaml:line:column` for values
 * written in the file, the variable name for values set by a `SQLMESH__...` override,
 * or just the key path when neither is known.
 *
 * Strings are coerced the way SQLMesh's settings accept them (`"5432"` for an integer,
 * `"true"`/`"yes"`/`"1"` for a boolean, JSON text for a list or mapping), which is what
 * lets overrides, whose values are always strings, set any setting.
 */

import { ConfigError } from '../errors.js';

export type KeyPath = readonly string[];

/** Where a key's value came from, for error messages. */
export interface ValueLocator {
  /** `file:line:column` of the value at `path`, or of its nearest written ancestor. */
  position(path: KeyPath): string | undefined;
  /** The environment variable that set the value at `path`, if one did. */
  envVar(path: KeyPath): string | undefined;
}

/** State shared by every read during one load. */
export interface ReadContext {
  locator: ValueLocator;
  warnings: string[];
}

/**
 * A position in the tree. `path` is the key path as spelled in the tree (used to find
 * the value's origin); `label` is how messages name it.
 */
export interface Cursor {
  ctx: ReadContext;
  path: KeyPath;
  label: string;
}

export function rootCursor(ctx: ReadContext, label = ''): Cursor {
  return { ctx, path: [], label };
}

export function child(cursor: Cursor, key: string, labelKey: string = key): Cursor {
  return {
    ctx: cursor.ctx,
    path: [...cursor.path, key],
    label: cursor.label ? `${cursor.label}.${labelKey}` : labelKey,
  };
}

/** The cursor for element `index` of a list. */
export function item(cursor: Cursor, index: number): Cursor {
  return {
    ctx: cursor.ctx,
    path: [...cursor.path, String(index)],
    label: `${cursor.label}[${index}]`,
  };
}

/** A ConfigError about the value at `cursor`: `<where>: <key path> <reason>`. */
export function failAt(cursor: Cursor, reason: string): ConfigError {
  const env = cursor.ctx.locator.envVar(cursor.path);
  if (env) return new ConfigError(env, `${cursor.label} ${reason}`);
  const position = cursor.ctx.locator.position(cursor.path);
  if (position) return new ConfigError(position, `${cursor.label} ${reason}`);
  return new ConfigError(cursor.label || 'config', reason);
}

/** Records a warning about the value at `cursor`, prefixed with where it is. */
export function warnAt(cursor: Cursor, message: string): void {
  const env = cursor.ctx.locator.envVar(cursor.path);
  const where = env ?? cursor.ctx.locator.position(cursor.path);
  cursor.ctx.warnings.push(
    where ? `${where}: ${cursor.label} ${message}` : `${cursor.label} ${message}`,
  );
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** How a value reads in an error message. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (isMapping(value)) return 'a mapping';
  return `${typeof value} ${String(value)}`;
}

export function readString(cursor: Cursor, value: unknown): string {
  if (typeof value === 'string') return value;
  throw failAt(
    cursor,
    `must be a string, got ${describe(value)}${typeof value === 'number' ? ' (quote it)' : ''}`,
  );
}

export function readOptionalString(cursor: Cursor, value: unknown): string | undefined {
  return value === undefined || value === null ? undefined : readString(cursor, value);
}

export function readInteger(cursor: Cursor, value: unknown, min?: number, max?: number): number {
  let n: number | undefined;
  if (typeof value === 'number' && Number.isInteger(value)) n = value;
  else if (typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value)) n = Number(value.trim());
  const range =
    min !== undefined && max !== undefined
      ? ` from ${min} to ${max}`
      : min !== undefined
        ? ` of at least ${min}`
        : '';
  if (n === undefined || (min !== undefined && n < min) || (max !== undefined && n > max)) {
    throw failAt(cursor, `must be an integer${range}, got ${describe(value)}`);
  }
  return n;
}

const TRUE_WORDS = new Set(['true', 't', 'yes', 'y', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'f', 'no', 'n', 'off', '0']);

export function readBoolean(cursor: Cursor, value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 0 || value === 1) return value === 1;
  if (typeof value === 'string') {
    const word = value.trim().toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
  }
  throw failAt(cursor, `must be true or false, got ${describe(value)}`);
}

/** JSON text given where a list or mapping is expected (typically from an override). */
function parseJsonText(cursor: Cursor, value: string, what: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    throw failAt(cursor, `must be ${what}; the text given is not valid JSON: ${describe(value)}`);
  }
}

export function readMapping(cursor: Cursor, value: unknown): Record<string, unknown> {
  const parsed =
    typeof value === 'string' && value.trim().startsWith('{')
      ? parseJsonText(cursor, value, 'a mapping')
      : value;
  if (isMapping(parsed)) return parsed;
  throw failAt(cursor, `must be a mapping of keys to values, got ${describe(value)}`);
}

export function readList(cursor: Cursor, value: unknown): unknown[] {
  const parsed =
    typeof value === 'string' && value.trim().startsWith('[')
      ? parseJsonText(cursor, value, 'a list')
      : value;
  if (Array.isArray(parsed)) return parsed;
  throw failAt(cursor, `must be a list, got ${describe(value)}`);
}

/** Edit distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((row[j - 1] ?? 0) + 1, (prev[j] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/** `; did you mean x?` when a known key is close to `key`, else the empty string. */
export function suggestKey(key: string, known: Iterable<string>): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = distance(key.toLowerCase(), candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(key.length / 3))
    ? `; did you mean ${best}?`
    : '';
}

/**
 * Settings SQLMesh knows but Tideline does not act on yet, with SQLMesh's default value.
 * A value equal to the default (or empty) is accepted silently; anything else warns.
 * `quiet` settings only affect tooling Tideline does not have (formatter, UI, ...) and
 * never warn.
 */
export interface IgnoredSetting {
  default?: unknown;
  quiet?: boolean;
}

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (isMapping(value)) return Object.keys(value).length === 0;
  return false;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (typeof b === 'boolean') {
    if (typeof a === 'boolean') return a === b;
    if (typeof a === 'string') {
      const word = a.trim().toLowerCase();
      return b ? TRUE_WORDS.has(word) : FALSE_WORDS.has(word);
    }
    return false;
  }
  if (typeof a === 'string' && typeof b === 'string') return a.toLowerCase() === b.toLowerCase();
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Checks every key of `mapping` against the ones read by the caller (`handled`) and the
 * ones SQLMesh knows (`ignored`). Unknown keys are errors, as SQLMesh rejects them;
 * `what` names the kind of mapping in that message ("a gateway setting").
 */
export function checkKeys(
  cursor: Cursor,
  mapping: Record<string, unknown>,
  handled: ReadonlySet<string>,
  ignored: Readonly<Record<string, IgnoredSetting>>,
  what: string,
): void {
  for (const [key, value] of Object.entries(mapping)) {
    if (handled.has(key)) continue;
    const setting = Object.hasOwn(ignored, key) ? ignored[key] : undefined;
    const at = child(cursor, key);
    if (setting === undefined) {
      const hint = suggestKey(key, [...handled, ...Object.keys(ignored)]);
      throw failAt(at, `is not ${what}${hint || '; remove it'}`);
    }
    if (setting.quiet || isEmpty(value)) continue;
    if ('default' in setting && sameValue(value, setting.default)) continue;
    warnAt(at, 'is not supported by Tideline yet and is ignored');
  }
}
