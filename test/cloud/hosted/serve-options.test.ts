/**
 * The command-line side of the standard deployment: `cloud serve
 * --executors` refuses to start without a usable master key, naming how to
 * set one, and `executor run|apply` checks its hosting.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, tempDir } from '../../cli/run-cli.js';

describe('cloud serve --executors', () => {
  it('refuses to start without a master key, and with a bad one', async () => {
    const dir = tempDir();
    const state = `sqlite:${join(dir, 'c.db')}`;
    const none = await runCli(['cloud', 'serve', '--state', state, '--port', '0', '--executors']);
    assert.equal(none.code, 1);
    assert.match(
      none.err,
      /--executors needs the master key .*TIDELINE_MASTER_KEY.*--master-key-file/,
    );
    assert.equal(none.err.split('\n').length, 1);

    const short = await runCli(['cloud', 'serve', '--state', state, '--port', '0', '--executors'], {
      TIDELINE_MASTER_KEY: randomBytes(16).toString('base64'),
    });
    assert.equal(short.code, 1);
    assert.match(short.err, /TIDELINE_MASTER_KEY: must be base64 of exactly 32 random bytes/);

    const file = join(dir, 'master.key');
    writeFileSync(file, randomBytes(32).toString('base64'));
    chmodSync(file, 0o644);
    const loose = await runCli([
      'cloud',
      'serve',
      '--state',
      state,
      '--port',
      '0',
      '--executors',
      '--master-key-file',
      file,
    ]);
    assert.equal(loose.code, 1);
    assert.match(loose.err, /readable by other users .*chmod 600/);

    const counts = await runCli(['cloud', 'serve', '--state', state, '--run-executors', 'many']);
    assert.notEqual(counts.code, 0);
    assert.match(counts.err, /--run-executors.*whole number from 0 to 64/);
  });

  it('checks the hosting an executor registers with', async () => {
    const bad = await runCli(['executor', 'run', '--hosting', 'elsewhere']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--hosting must be hybrid or cloud, got "elsewhere"/);
    const badEnv = await runCli(['executor', 'apply'], { TCLOUD_HOSTING: 'moon' });
    assert.equal(badEnv.code, 2);
    assert.match(badEnv.err, /TCLOUD_HOSTING must be hybrid or cloud/);
  });
});
