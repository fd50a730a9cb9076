/**
 * The key that signs access tokens. Tokens outlive a restart only if the key
 * does, so `tideline cloud serve` takes it, in order, from:
 *
 * 1. `TIDELINE_SIGNING_KEY` (base64 of at least 32 bytes), or a key file
 *    (`--signing-key-file`, the same base64 text on one line);
 * 2. for a SQLite store, the file `<db>.key` beside the database, made on
 *    first start with mode 0600. It is kept out of the database so that a
 *    copy of the database (a backup, a bug report) cannot mint tokens;
 * 3. for PostgreSQL, the `server_settings` table, made by the first replica
 *    to start, so every replica signs and checks with the same key;
 * 4. for an in-memory SQLite store, a new random key (tokens end with the process).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../../engine/errors.js';
import type { Store } from '../store/database.js';

export const SIGNING_KEY_ENV = 'TIDELINE_SIGNING_KEY';
export const MIN_SIGNING_KEY_BYTES = 32;
const SETTING = 'signing_key';

export interface SigningKey {
  key: Uint8Array;
  /** Where the key came from, for the start-up message. */
  source: string;
  /** True when the key was made just now (first start). */
  generated: boolean;
}

function decode(where: string, text: string): Uint8Array {
  const trimmed = text.trim();
  const key = Buffer.from(trimmed, 'base64');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed) || key.length < MIN_SIGNING_KEY_BYTES) {
    throw new ConfigError(
      where,
      `must be base64 of at least ${MIN_SIGNING_KEY_BYTES} random bytes; make one with: openssl rand -base64 32`,
    );
  }
  return new Uint8Array(key);
}

function newKey(): { key: Uint8Array; text: string } {
  const bytes = randomBytes(MIN_SIGNING_KEY_BYTES);
  return { key: new Uint8Array(bytes), text: bytes.toString('base64') };
}

function readKeyFile(file: string): Uint8Array {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(err);
    throw new ConfigError(file, `cannot read the signing key: ${reason}`, { cause: err });
  }
  return decode(file, text);
}

/** The file beside a SQLite store that holds its signing key, or undefined for other stores. */
export function sqliteKeyFile(store: Store): string | undefined {
  if (store.kind !== 'sqlite') return undefined;
  const file = store.where.slice('sqlite:'.length);
  return file === ':memory:' ? undefined : `${file}.key`;
}

/** Resolves the signing key as the module comment says; `warn` hears about loose file modes. */
export async function resolveSigningKey(options: {
  store: Store;
  env: Record<string, string | undefined>;
  keyFile?: string;
  warn?: (message: string) => void;
}): Promise<SigningKey> {
  const fromEnv = options.env[SIGNING_KEY_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    return { key: decode(SIGNING_KEY_ENV, fromEnv), source: SIGNING_KEY_ENV, generated: false };
  }
  if (options.keyFile) {
    return { key: readKeyFile(options.keyFile), source: options.keyFile, generated: false };
  }
  const store = options.store;
  if (store.kind === 'postgres') {
    const made = newKey();
    await store.db
      .insertInto('server_settings')
      .values({ name: SETTING, value: made.text, updated_ts: Date.now() })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const row = await store.db
      .selectFrom('server_settings')
      .select('value')
      .where('name', '=', SETTING)
      .executeTakeFirstOrThrow();
    return {
      key: decode(`server_settings.${SETTING}`, row.value),
      source: `the store (server_settings.${SETTING})`,
      generated: row.value === made.text,
    };
  }
  const file = sqliteKeyFile(store);
  if (!file)
    return { key: newKey().key, source: 'a new random key (in-memory store)', generated: true };
  const made = newKey();
  try {
    // 'wx' fails when the file exists: two servers starting at once keep one key.
    writeFileSync(file, made.text + '\n', { mode: 0o600, flag: 'wx' });
    return { key: made.key, source: file, generated: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new ConfigError(file, `cannot write the signing key: ${String(err)}`, { cause: err });
    }
  }
  if (process.platform !== 'win32' && (statSync(file).mode & 0o077) !== 0) {
    options.warn?.(`${file}: the signing key is readable by other users; run chmod 600 ${file}`);
  }
  return { key: readKeyFile(file), source: file, generated: false };
}
