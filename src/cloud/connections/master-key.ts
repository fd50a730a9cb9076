/**
 * The master key that encrypts stored warehouse connections (standard
 * deployment). It is never stored by the cloud: it comes from
 * `TIDELINE_MASTER_KEY` (base64 of 32 random bytes) or from a key file
 * (`--master-key-file`, the same base64 text, readable by its owner only).
 * Without one the connections API answers 503 and no cloud-hosted executor
 * starts.
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from '../../engine/errors.js';

export const MASTER_KEY_ENV = 'TIDELINE_MASTER_KEY';
/** AES-256 takes exactly 32 bytes. */
export const MASTER_KEY_BYTES = 32;

/** How to configure a key, for messages. */
export const MASTER_KEY_HINT = `set ${MASTER_KEY_ENV} to base64 of ${MASTER_KEY_BYTES} random bytes (make one with: openssl rand -base64 32), or start the cloud with --master-key-file <file> (mode 0600)`;

export interface MasterKey {
  /** The AES-256 key; a KeyObject so that it never prints or serializes by accident. */
  readonly key: KeyObject;
  /** Where the key came from (a variable or file name, never the key). */
  readonly source: string;
}

/** Decodes base64 (or base64url) text of exactly 32 bytes; `where` names the source in errors. */
export function decodeMasterKey(where: string, text: string): MasterKey {
  const trimmed = text.trim();
  const bytes = Buffer.from(trimmed, 'base64');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed) || bytes.length !== MASTER_KEY_BYTES) {
    throw new ConfigError(
      where,
      `must be base64 of exactly ${MASTER_KEY_BYTES} random bytes; make one with: openssl rand -base64 32`,
    );
  }
  const key = createSecretKey(bytes);
  bytes.fill(0);
  return { key, source: where };
}

/** Reads a key file, refusing one that other users may read. */
export function readMasterKeyFile(file: string): MasterKey {
  let text: string;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) throw new ConfigError(file, 'the master key file is not a regular file');
    if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
      throw new ConfigError(
        file,
        `the master key file is readable by other users (mode ${(stat.mode & 0o777).toString(8)}); run chmod 600 ${file}`,
      );
    }
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(err);
    throw new ConfigError(file, `cannot read the master key: ${reason}`, { cause: err });
  }
  return decodeMasterKey(file, text);
}

/**
 * The configured master key: from the environment variable or the key file
 * (giving both is refused, so that it is never unclear which key encrypts),
 * or undefined when neither is set. A malformed key is a ConfigError.
 */
export function resolveMasterKey(options: {
  env: Record<string, string | undefined>;
  keyFile?: string | undefined;
}): MasterKey | undefined {
  const fromEnv = options.env[MASTER_KEY_ENV];
  const hasEnv = fromEnv !== undefined && fromEnv.trim() !== '';
  if (hasEnv && options.keyFile) {
    throw new ConfigError(
      MASTER_KEY_ENV,
      'is set and --master-key-file is given; give the master key one way only',
    );
  }
  if (hasEnv) return decodeMasterKey(MASTER_KEY_ENV, fromEnv);
  if (options.keyFile) return readMasterKeyFile(options.keyFile);
  return undefined;
}
