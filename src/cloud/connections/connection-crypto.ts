/**
 * Sealing a connection's settings for the store: AES-256-GCM under the
 * master key, a random 12-byte IV per write, the 16-byte tag kept beside the
 * ciphertext, written `v1.<iv>.<tag>.<ciphertext>` (base64url).
 *
 * The associated data binds a sealed value to its row (format version,
 * project id and gateway name): a ciphertext copied to another project or
 * gateway fails to open, as does any altered byte or another key.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { TidelineError } from '../../engine/errors.js';
import { MASTER_KEY_ENV, type MasterKey } from './master-key.js';

/** The sealed format this code writes. The prefix leaves room for key rotation. */
export const SEAL_VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The row a sealed value belongs to. */
export interface SealScope {
  projectId: string;
  gateway: string;
}

/** A stored connection that cannot be opened: wrong key, altered value, or unknown format. */
export class ConnectionDecryptError extends TidelineError {
  override name = 'ConnectionDecryptError';
}

function associatedData(version: string, scope: SealScope): Buffer {
  // NUL separators: neither ids nor gateway names can contain one.
  return Buffer.from(
    `tideline-connection\u0000${version}\u0000${scope.projectId}\u0000${scope.gateway}`,
  );
}

/** Encrypts `plaintext` for the row `scope`. */
export function sealConnection(key: MasterKey, scope: SealScope, plaintext: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData(SEAL_VERSION, scope));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [SEAL_VERSION, iv, tag, body]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join('.');
}

/** Decrypts a value {@link sealConnection} wrote for the same row; throws ConnectionDecryptError otherwise. */
export function openConnection(key: MasterKey, scope: SealScope, sealed: string): string {
  const what = `the stored connection of gateway ${JSON.stringify(scope.gateway)}`;
  const parts = sealed.split('.');
  const version = parts[0] ?? '';
  if (/^v\d+$/.test(version) && version !== SEAL_VERSION) {
    throw new ConnectionDecryptError(
      `${what} is sealed in format ${version}, which this Tideline cannot read; upgrade Tideline`,
    );
  }
  const b64 = /^[A-Za-z0-9_-]*$/;
  if (parts.length !== 4 || version !== SEAL_VERSION || !parts.every((p) => b64.test(p))) {
    throw new ConnectionDecryptError(
      `${what} is not in the ${SEAL_VERSION}.<iv>.<tag>.<ciphertext> format; save the connection again`,
    );
  }
  const iv = Buffer.from(parts[1]!, 'base64url');
  const tag = Buffer.from(parts[2]!, 'base64url');
  const body = Buffer.from(parts[3]!, 'base64url');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
    throw new ConnectionDecryptError(
      `${what} has a ${iv.length}-byte IV and a ${tag.length}-byte tag (expected ${IV_BYTES} and ${TAG_BYTES}); save the connection again`,
    );
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData(version, scope));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  } catch (err) {
    throw new ConnectionDecryptError(
      `cannot decrypt ${what}: the master key (${key.source === MASTER_KEY_ENV ? MASTER_KEY_ENV : `from ${key.source}`}) is not the one it was saved with, or the stored value was altered; set the original key or save the connection again`,
      { cause: err },
    );
  }
}
