import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { resolveSigningKey, sqliteKeyFile } from '../../../src/cloud/auth/signing-key.js';
import { openStore } from '../../../src/cloud/store/database.js';
import { TidelineError } from '../../../src/engine/errors.js';
import { newStore, storeTargets } from '../../helpers/stores.js';

const targets = await storeTargets();
const dir = mkdtempSync(join(tmpdir(), 'tideline-key-'));
after(() => rmSync(dir, { recursive: true, force: true }));

for (const target of targets) {
  describe(`signing key on ${target.kind}`, () => {
    it('takes TIDELINE_SIGNING_KEY first, then a key file, and refuses short or malformed keys', async () => {
      const store = await newStore(target);
      const bytes = randomBytes(32);
      const fromEnv = await resolveSigningKey({
        store,
        env: { TIDELINE_SIGNING_KEY: bytes.toString('base64') },
        keyFile: join(dir, 'missing.key'),
      });
      assert.deepEqual(Buffer.from(fromEnv.key), bytes);
      assert.equal(fromEnv.source, 'TIDELINE_SIGNING_KEY');
      const file = join(dir, `given-${target.kind}.key`);
      const other = randomBytes(48);
      writeFileSync(file, other.toString('base64') + '\n');
      const fromFile = await resolveSigningKey({ store, env: {}, keyFile: file });
      assert.deepEqual(Buffer.from(fromFile.key), other);
      await assert.rejects(
        resolveSigningKey({
          store,
          env: { TIDELINE_SIGNING_KEY: randomBytes(16).toString('base64') },
        }),
        (err: Error) =>
          err instanceof TidelineError &&
          /^TIDELINE_SIGNING_KEY: must be base64 of at least 32/.test(err.message),
      );
      await assert.rejects(
        resolveSigningKey({ store, env: { TIDELINE_SIGNING_KEY: 'not base64 at all!'.repeat(4) } }),
        /TIDELINE_SIGNING_KEY/,
      );
      await assert.rejects(
        resolveSigningKey({ store, env: {}, keyFile: join(dir, 'missing.key') }),
        /missing\.key: cannot read the signing key: no such file/,
      );
    });

    it('keeps a generated key across restarts of the store', async () => {
      const url = await target.newUrl();
      const first = await openStore(url);
      const made = await resolveSigningKey({ store: first, env: {} });
      assert.equal(made.generated, true);
      assert.equal(made.key.length, 32);
      const file = sqliteKeyFile(first);
      await first.close();
      if (target.kind === 'sqlite') {
        assert.ok(file && existsSync(file));
        assert.equal(statSync(file).mode & 0o777, 0o600);
        assert.deepEqual(
          Buffer.from(readFileSync(file, 'utf8').trim(), 'base64'),
          Buffer.from(made.key),
        );
      } else {
        assert.equal(file, undefined);
      }
      const second = await openStore(url);
      try {
        const warnings: string[] = [];
        if (file) chmodSync(file, 0o644);
        const again = await resolveSigningKey({
          store: second,
          env: {},
          warn: (m) => warnings.push(m),
        });
        assert.equal(again.generated, false);
        assert.deepEqual(Buffer.from(again.key), Buffer.from(made.key));
        if (target.kind === 'postgres') {
          const rows = await second.db.selectFrom('server_settings').selectAll().execute();
          assert.deepEqual(
            rows.map((r) => r.name),
            ['signing_key'],
          );
        } else {
          assert.match(warnings.join('\n'), /readable by other users; run chmod 600/);
        }
      } finally {
        await second.close();
      }
    });
  });
}
