import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  EnvFileWatcher,
  readExecutorSettings,
  type Env,
  type ExecutorSettings,
} from '../../src/executor/config.js';
import { createRedactor } from '../../src/executor/redact.js';

const dir = mkdtempSync(join(tmpdir(), 'tideline-exec-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const BASE: Env = {
  TCLOUD_URL: 'https://cloud.example.test/sqlmesh/acme/analytics',
  TCLOUD_CLIENT_ID: 'tlc_abc',
  TCLOUD_CLIENT_SECRET: 'tls_very-secret-value',
  SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__TYPE: 'postgres',
  SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__HOST: 'db.internal',
  SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__PORT: '5432',
  SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__USER: 'loader',
  SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__PASSWORD: 'pw-123456',
  SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__DATABASE: 'warehouse',
};

describe('executor settings from the environment', () => {
  it('reads credentials, gateways (default first) and options', () => {
    const s = readExecutorSettings({
      ...BASE,
      SQLMESH__GATEWAYS__LOCAL__CONNECTION__TYPE: 'duckdb',
      SQLMESH__DEFAULT_GATEWAY: 'GATEWAY_A',
      TCLOUD_CONCURRENCY: '8',
      TCLOUD_EXECUTOR_NAME: 'exec-1',
    });
    assert.equal(s.credentials.url, BASE['TCLOUD_URL']);
    assert.deepEqual(
      s.gateways.map((g) => [g.name, g.connection.type]),
      [
        ['gateway_a', 'postgres'],
        ['local', 'duckdb'],
      ],
    );
    assert.equal(s.defaultGateway, 'gateway_a');
    const pg = s.gateways[0]!.connection;
    assert.ok(pg.type === 'postgres' && pg.port === 5432 && pg.password === 'pw-123456');
    assert.equal(s.concurrency, 8);
    assert.equal(s.name, 'exec-1');
  });

  const bad: Array<[string, Env, RegExp]> = [
    ['missing URL', { ...BASE, TCLOUD_URL: undefined }, /^TCLOUD_URL: is not set/],
    ['blank URL', { ...BASE, TCLOUD_URL: '  ' }, /^TCLOUD_URL: is not set/],
    [
      'not a URL',
      { ...BASE, TCLOUD_URL: 'cloud.example' },
      /^TCLOUD_URL: "cloud\.example" is not a URL/,
    ],
    [
      'ftp URL',
      { ...BASE, TCLOUD_URL: 'ftp://x/sqlmesh/a/b' },
      /^TCLOUD_URL: must start with https/,
    ],
    [
      'no project path',
      { ...BASE, TCLOUD_URL: 'https://x.test/' },
      /^TCLOUD_URL: .* does not name a project/,
    ],
    [
      'credentials in URL',
      { ...BASE, TCLOUD_URL: 'https://u:p@x.test/sqlmesh/a/b' },
      /^TCLOUD_URL: must not hold credentials/,
    ],
    [
      'missing client id',
      { ...BASE, TCLOUD_CLIENT_ID: undefined },
      /^TCLOUD_CLIENT_ID: is not set/,
    ],
    ['missing secret', { ...BASE, TCLOUD_CLIENT_SECRET: '' }, /^TCLOUD_CLIENT_SECRET: is not set/],
    [
      'missing env file',
      { ...BASE, TCLOUD_ENV_FILE: join(dir, 'nope.env') },
      /^TCLOUD_ENV_FILE: ".*nope\.env" is not a readable file/,
    ],
    [
      'no gateway',
      { TCLOUD_URL: BASE['TCLOUD_URL'], TCLOUD_CLIENT_ID: 'a', TCLOUD_CLIENT_SECRET: 'b' },
      /no gateway is configured/,
    ],
    [
      'unknown default gateway',
      { ...BASE, SQLMESH__DEFAULT_GATEWAY: 'other' },
      /^SQLMESH__DEFAULT_GATEWAY: names "other", but only gateway_a is configured/,
    ],
    [
      'bad concurrency',
      { ...BASE, TCLOUD_CONCURRENCY: 'many' },
      /^TCLOUD_CONCURRENCY: must be a whole number/,
    ],
    ['bad port', { ...BASE, SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__PORT: 'abc' }, /port/i],
    [
      'unknown engine',
      { ...BASE, SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__TYPE: 'oracle' },
      /oracle/,
    ],
  ];
  for (const [name, env, pattern] of bad) {
    it(`${name} stops it with one line naming the variable`, () => {
      assert.throws(
        () => readExecutorSettings(env),
        (err: Error) => {
          assert.match(err.message, pattern);
          assert.equal(err.message.includes('\n'), false);
          assert.doesNotMatch(err.message, /tls_very-secret-value|pw-123456/);
          return true;
        },
      );
    });
  }

  it('takes values from TCLOUD_ENV_FILE over the process, but never the TCLOUD credentials', () => {
    const file = join(dir, 'exec.env');
    writeFileSync(
      file,
      'SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__PASSWORD=from-file-secret\nTCLOUD_CLIENT_SECRET=ignored\n',
    );
    const s = readExecutorSettings({ ...BASE, TCLOUD_ENV_FILE: file });
    const conn = s.gateways[0]!.connection;
    assert.ok(conn.type === 'postgres' && conn.password === 'from-file-secret');
    assert.equal(s.credentials.clientSecret, BASE['TCLOUD_CLIENT_SECRET']);
  });

  it('watches the env file and hands over new settings when it changes', async () => {
    const file = join(dir, 'watched.env');
    writeFileSync(file, 'TCLOUD_CONCURRENCY=2\n');
    const seen: ExecutorSettings[] = [];
    const watcher = new EnvFileWatcher(
      { ...BASE, TCLOUD_ENV_FILE: file },
      (s) => seen.push(s),
      () => undefined,
      50,
    );
    watcher.start();
    try {
      await new Promise((r) => setTimeout(r, 30));
      writeFileSync(file, 'TCLOUD_CONCURRENCY=7\n# changed\n');
      const deadline = Date.now() + 5000;
      while (!seen.some((s) => s.concurrency === 7) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.ok(
        seen.some((s) => s.concurrency === 7),
        'the new value arrived',
      );
    } finally {
      watcher.stop();
    }
  });
});

describe('redaction', () => {
  it('replaces the values of secret-named and listed variables, plain, URL-encoded and JSON-escaped', () => {
    const redact = createRedactor(
      {
        DB_PASSWORD: 'p@ss w"rd',
        API_TOKEN: 'tok-999',
        MY_KEY: 'k-1',
        ORDINARY: 'hello',
        NOTE: 'sensitive-x',
      },
      ['NOTE'],
    );
    const line = `connect postgres://u:${encodeURIComponent('p@ss w"rd')}@h failed; token tok-999; ${JSON.stringify('p@ss w"rd')} k-1 hello sensitive-x`;
    const out = redact(line);
    assert.doesNotMatch(out, /p@ss|tok-999|k-1|sensitive-x|p%40ss/);
    assert.match(out, /hello/);
    assert.equal((out.match(/\*\*\*/g) ?? []).length, 5);
  });
});
