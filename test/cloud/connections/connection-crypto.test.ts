/**
 * Sealing connections: AES-256-GCM round trips, a fresh IV per write, and
 * every way a sealed value can go wrong (altered, another key, another row,
 * another format) fails with a clear one-line error. Reading the master key:
 * 32 bytes of base64, from the variable or a 0600 file, never both.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  ConnectionDecryptError,
  openConnection,
  sealConnection,
} from '../../../src/cloud/connections/connection-crypto.js';
import {
  MASTER_KEY_ENV,
  decodeMasterKey,
  resolveMasterKey,
} from '../../../src/cloud/connections/master-key.js';
import { ConfigError } from '../../../src/engine/errors.js';

const newKey = () => decodeMasterKey(MASTER_KEY_ENV, randomBytes(32).toString('base64'));
const scope = { projectId: 'p-1', gateway: 'warehouse' };
const SETTINGS =
  'type: postgres\nhost: db.internal\nuser: etl\npassword: hunter2-secret\ndatabase: dw\n';

function flipFirstByte(b64url: string): string {
  const bytes = Buffer.from(b64url, 'base64url');
  bytes[0] = bytes[0]! ^ 0x01;
  return bytes.toString('base64url');
}

describe('sealing connections', () => {
  const key = newKey();

  it('round-trips, with a new IV (and so a new ciphertext) on every write', () => {
    const a = sealConnection(key, scope, SETTINGS);
    const b = sealConnection(key, scope, SETTINGS);
    assert.match(a, /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    assert.notEqual(a, b);
    assert.notEqual(a.split('.')[1], b.split('.')[1]);
    assert.ok(!a.includes('hunter2'));
    assert.equal(openConnection(key, scope, a), SETTINGS);
    assert.equal(openConnection(key, scope, b), SETTINGS);
  });

  it('refuses an altered IV, tag or ciphertext', () => {
    const sealed = sealConnection(key, scope, SETTINGS);
    for (const part of [1, 2, 3]) {
      const parts = sealed.split('.');
      parts[part] = flipFirstByte(parts[part]!);
      assert.throws(
        () => openConnection(key, scope, parts.join('.')),
        (err: unknown) =>
          err instanceof ConnectionDecryptError &&
          /cannot decrypt the stored connection of gateway "warehouse": the master key .* or the stored value was altered/.test(
            err.message,
          ) &&
          !err.message.includes('\n'),
      );
    }
  });

  it('refuses another master key, naming where the key came from', () => {
    const sealed = sealConnection(key, scope, SETTINGS);
    assert.throws(
      () => openConnection(newKey(), scope, sealed),
      (err: unknown) =>
        err instanceof ConnectionDecryptError &&
        err.message.includes(MASTER_KEY_ENV) &&
        err.message.includes('not the one it was saved with'),
    );
  });

  it('refuses a ciphertext moved to another project or gateway', () => {
    const sealed = sealConnection(key, scope, SETTINGS);
    assert.throws(
      () => openConnection(key, { ...scope, projectId: 'p-2' }, sealed),
      ConnectionDecryptError,
    );
    assert.throws(
      () => openConnection(key, { ...scope, gateway: 'other' }, sealed),
      ConnectionDecryptError,
    );
  });

  it('names malformed values and unknown format versions', () => {
    const sealed = sealConnection(key, scope, SETTINGS);
    assert.throws(
      () => openConnection(key, scope, 'not sealed at all'),
      /is not in the v1\.<iv>\.<tag>\.<ciphertext> format/,
    );
    assert.throws(
      () => openConnection(key, scope, sealed.split('.').slice(0, 3).join('.')),
      /is not in the v1/,
    );
    assert.throws(
      () => openConnection(key, scope, `v2${sealed.slice(2)}`),
      /sealed in format v2, which this Tideline cannot read/,
    );
    const parts = sealed.split('.');
    parts[1] = parts[1]!.slice(0, 8);
    assert.throws(() => openConnection(key, scope, parts.join('.')), /-byte IV/);
  });
});

describe('the master key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideline-mkey-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const text = randomBytes(32).toString('base64');

  it('is base64 of exactly 32 bytes, naming the variable otherwise', () => {
    assert.equal(resolveMasterKey({ env: {} }), undefined);
    assert.equal(resolveMasterKey({ env: { [MASTER_KEY_ENV]: '  ' } }), undefined);
    assert.equal(resolveMasterKey({ env: { [MASTER_KEY_ENV]: text } })?.source, MASTER_KEY_ENV);
    for (const bad of [
      randomBytes(16).toString('base64'),
      randomBytes(33).toString('base64'),
      'not base64!!',
      `${text}'; DROP TABLE connections; --`,
    ]) {
      assert.throws(
        () => resolveMasterKey({ env: { [MASTER_KEY_ENV]: bad } }),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.message.startsWith(`${MASTER_KEY_ENV}: must be base64 of exactly 32 random bytes`),
      );
    }
  });

  it('reads a 0600 key file and refuses a file others may read', () => {
    const file = join(dir, 'master.key');
    writeFileSync(file, `${text}\n`, { mode: 0o600 });
    const fromFile = resolveMasterKey({ env: {}, keyFile: file });
    assert.equal(fromFile?.source, file);
    // The same key from the file and from the variable opens the same values.
    const sealed = sealConnection(fromFile!, scope, SETTINGS);
    assert.equal(
      openConnection(resolveMasterKey({ env: { [MASTER_KEY_ENV]: text } })!, scope, sealed),
      SETTINGS,
    );
    if (process.platform !== 'win32') {
      chmodSync(file, 0o644);
      assert.throws(
        () => resolveMasterKey({ env: {}, keyFile: file }),
        /readable by other users \(mode 644\); run chmod 600/,
      );
    }
    assert.throws(
      () => resolveMasterKey({ env: {}, keyFile: join(dir, 'missing.key') }),
      /cannot read the master key: no such file/,
    );
  });

  it('is given one way only', () => {
    const file = join(dir, 'one.key');
    writeFileSync(file, text, { mode: 0o600 });
    assert.throws(
      () => resolveMasterKey({ env: { [MASTER_KEY_ENV]: text }, keyFile: file }),
      /give the master key one way only/,
    );
  });

  it('never shows its bytes when printed', () => {
    const key = resolveMasterKey({ env: { [MASTER_KEY_ENV]: text } })!;
    assert.ok(!JSON.stringify(key).includes(text));
    assert.ok(!String(key.key).includes(text));
  });
});
