/**
 * `tideline cloud`: bootstrap, clients and users on the store directly (in
 * process), and `serve` as a real process that keeps its signing key across
 * restarts and stops cleanly on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import type { CliIo } from '../../src/cli/cli-context.js';
import { registerCloudCommands } from '../../src/cli/commands/cloud-commands.js';
import { tokenRoutes } from '../../src/cloud/auth/token-routes.js';
import { sessionRoutes } from '../../src/cloud/auth/session-routes.js';
import { silentLogger } from '../../src/cloud/logger.js';
import { startCloudServer } from '../../src/cloud/server.js';
import { TidelineError } from '../../src/engine/errors.js';
import { repoRoot } from '../helpers/paths.js';
import { storeTargets, type StoreTarget } from '../helpers/stores.js';
import type { CliRun } from './run-cli.js';

const targets = await storeTargets();
const commandsModule = fileURLToPath(
  new URL('../../src/cli/commands/cloud-commands.js', import.meta.url),
);
const contextModule = fileURLToPath(new URL('../../src/cli/cli-context.js', import.meta.url));

/** Runs `tideline cloud ...` in process, with main's exit-code contract. */
async function cloud(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (t) => out.push(t), err: (t) => err.push(t), env, interactive: false };
  const program = new Command('tideline').exitOverride().configureOutput({
    writeOut: (s) => out.push(s.trimEnd()),
    writeErr: (s) => err.push(s.trimEnd()),
  });
  registerCloudCommands(program, io);
  let code = 0;
  try {
    await program.parseAsync(['cloud', ...args], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) code = 2;
    else if (e instanceof TidelineError) {
      err.push(`Error: ${e.message}`);
      code = 1;
    } else throw e;
  }
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** The same commands in a child process (for stdin and signals). */
const CHILD = `
const { Command } = await import('commander');
const { registerCloudCommands } = await import(${JSON.stringify(commandsModule)});
const { processIo } = await import(${JSON.stringify(contextModule)});
const io = processIo();
const program = new Command('tideline').exitOverride();
registerCloudCommands(program, io);
try {
  await program.parseAsync(process.argv.slice(1), { from: 'user' });
} catch (e) {
  console.error('Error: ' + e.message);
  process.exitCode = 1;
}`;

function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env['TIDELINE_STATE_URL'];
  delete env['TIDELINE_SIGNING_KEY'];
  return env;
}

async function tokenFor(projectUrl: string, id: string, secret: string): Promise<Response> {
  return fetch(`${projectUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: id,
      client_secret: secret,
    }),
  });
}

/** A server on the store for checks over HTTP, closed by the caller. */
function serverOn(state: string) {
  return startCloudServer({
    state,
    log: silentLogger,
    settings: { secureCookies: false },
    routes: [tokenRoutes, sessionRoutes],
  });
}

/** Starts `cloud serve` and resolves once it prints its URL. */
function serve(state: string, extra: string[] = []) {
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      CHILD,
      'cloud',
      'serve',
      '--state',
      state,
      '--port',
      '0',
      ...extra,
    ],
    { cwd: repoRoot, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => resolve(code)),
  );
  const url = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) =>
      reject(new Error(`serve exited (${code}) before listening: ${err}`)),
    );
  });
  return { child, url, exited, output: () => out, errors: () => err };
}

/** `cloud bootstrap` of acme/sales on the store: its admin client. */
async function bootstrapSales(state: string): Promise<{ clientId: string; clientSecret: string }> {
  const run = await cloud([
    'bootstrap',
    '--org',
    'acme',
    '--project',
    'sales',
    '--state',
    state,
    '--json',
  ]);
  assert.equal(run.code, 0, run.err);
  return JSON.parse(run.out) as { clientId: string; clientSecret: string };
}

async function stateOf(target: StoreTarget): Promise<string> {
  return target.newUrl();
}

for (const target of targets) {
  describe(`tideline cloud on ${target.kind}`, () => {
    it('bootstraps a project whose admin client gets tokens, and can run again', async () => {
      const state = await stateOf(target);
      const run = await cloud([
        'bootstrap',
        '--org',
        'acme',
        '--project',
        'sales',
        '--state',
        state,
        '--json',
      ]);
      assert.equal(run.code, 0, run.err);
      const made = JSON.parse(run.out) as Record<string, string>;
      assert.deepEqual(Object.keys(made).sort(), [
        'clientId',
        'clientSecret',
        'org',
        'project',
        'url',
      ]);
      assert.equal(made['url'], 'http://127.0.0.1:8000/sqlmesh/acme/sales');
      const server = await serverOn(state);
      try {
        const res = await tokenFor(
          `${server.url}/sqlmesh/acme/sales`,
          made['clientId']!,
          made['clientSecret']!,
        );
        assert.equal(res.status, 200);
        assert.equal(((await res.json()) as { scope: string }).scope, 'admin');
      } finally {
        await server.close();
      }
      const text = await cloud(
        ['bootstrap', '--org', 'acme', '--project', 'sales', '--server', 'https://tl.example.com/'],
        {
          TIDELINE_STATE_URL: state,
        },
      );
      assert.equal(text.code, 0, text.err);
      assert.match(text.out, /^Project exists: acme\/sales/);
      assert.match(text.out, /TCLOUD_URL=https:\/\/tl\.example\.com\/sqlmesh\/acme\/sales\n/);
      assert.match(text.out, /TCLOUD_CLIENT_ID=tlc_[0-9a-f]{24}\n/);
      assert.match(text.out, /TCLOUD_CLIENT_SECRET=tls_[\w-]{43}$/);
      const bad = await cloud([
        'bootstrap',
        '--org',
        'acme corp',
        '--project',
        'x',
        '--state',
        state,
      ]);
      assert.equal(bad.code, 1);
      assert.match(bad.err, /^Error: invalid organization name "acme corp"/);
    });

    it('creates, lists and revokes clients without ever listing secrets', async () => {
      const state = await stateOf(target);
      await cloud(['bootstrap', '--org', 'acme', '--project', 'sales', '--state', state, '--json']);
      const created = await cloud([
        'client',
        'create',
        '--name',
        'runner',
        '--role',
        'executor',
        '--state',
        state,
        '--json',
      ]);
      assert.equal(created.code, 0, created.err);
      const client = JSON.parse(created.out) as {
        clientId: string;
        clientSecret: string;
        role: string;
      };
      assert.equal(client.role, 'executor');
      const listed = await cloud(['client', 'list', '--state', state, '--json']);
      const clients = JSON.parse(listed.out) as Array<{
        clientId: string;
        name: string;
        revokedTs: number | null;
      }>;
      assert.deepEqual(
        clients.map((c) => c.name),
        ['bootstrap admin', 'runner'],
      );
      assert.ok(!listed.out.includes(client.clientSecret));
      const table = await cloud(['client', 'list', '--state', state]);
      assert.match(table.out, /^id\s+name\s+role\s+created\s+last used\s+revoked\n/);
      assert.match(table.out, new RegExp(`${client.clientId}\\s+runner\\s+executor`));
      const revoked = await cloud(['client', 'revoke', client.clientId, '--state', state]);
      assert.equal(revoked.code, 0, revoked.err);
      assert.equal(revoked.out, `Revoked ${client.clientId} ("runner")`);
      const after = JSON.parse(
        (await cloud(['client', 'list', '--state', state, '--json'])).out,
      ) as typeof clients;
      assert.equal(typeof after.find((c) => c.clientId === client.clientId)?.revokedTs, 'number');
      const server = await serverOn(state);
      try {
        const res = await tokenFor(
          `${server.url}/sqlmesh/acme/sales`,
          client.clientId,
          client.clientSecret,
        );
        assert.equal(res.status, 401);
      } finally {
        await server.close();
      }
      const unknown = await cloud(['client', 'revoke', 'tlc_nope', '--state', state]);
      assert.equal(unknown.code, 1);
      assert.match(
        unknown.err,
        /^Error: no OAuth client tlc_nope in acme\/sales; see tideline cloud client list$/,
      );
      const role = await cloud([
        'client',
        'create',
        '--name',
        'x',
        '--role',
        'root',
        '--state',
        state,
      ]);
      assert.equal(role.code, 2);
      assert.match(role.err, /use viewer, developer, admin or executor/);
    });

    it('asks for --org and --project when the store has several projects', async () => {
      const state = await stateOf(target);
      const none = await cloud(['client', 'list', '--state', state]);
      assert.equal(none.code, 1);
      assert.match(none.err, /no project in .*; create one with tideline cloud bootstrap/);
      await cloud(['bootstrap', '--org', 'acme', '--project', 'a', '--state', state, '--json']);
      await cloud(['bootstrap', '--org', 'acme', '--project', 'b', '--state', state, '--json']);
      const many = await cloud(['client', 'list', '--state', state]);
      assert.equal(many.code, 1);
      assert.equal(
        many.err,
        'Error: name the project with --org and --project (projects here: acme/a, acme/b)',
      );
      const named = await cloud([
        'client',
        'list',
        '--org',
        'acme',
        '--project',
        'b',
        '--state',
        state,
        '--json',
      ]);
      assert.equal(named.code, 0, named.err);
      assert.equal((JSON.parse(named.out) as unknown[]).length, 1);
      const missing = await cloud([
        'client',
        'list',
        '--org',
        'acme',
        '--project',
        'c',
        '--state',
        state,
      ]);
      assert.match(missing.err, /no project acme\/c in/);
    });

    it('creates users with a generated password (or one from stdin) that logs in', async () => {
      const state = await stateOf(target);
      await cloud(['bootstrap', '--org', 'acme', '--project', 'sales', '--state', state, '--json']);
      const made = await cloud([
        'user',
        'create',
        '--username',
        'Ada',
        '--role',
        'admin',
        '--state',
        state,
      ]);
      assert.equal(made.code, 0, made.err);
      assert.match(made.out, /^Created user ada with role admin in acme\/sales\n/);
      const password = /Password \(shown only now\): (\S+)$/.exec(made.out)?.[1];
      assert.ok(password && password.length >= 12);
      const child = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          CHILD,
          'cloud',
          'user',
          'create',
          '--username',
          'bob',
          '--role',
          'viewer',
          '--password-stdin',
          '--state',
          state,
        ],
        { cwd: repoRoot, env: childEnv(), input: 'bobs own password\n', encoding: 'utf8' },
      );
      assert.equal(child.status, 0, child.stderr);
      assert.doesNotMatch(child.stdout, /Password/);
      const short = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          CHILD,
          'cloud',
          'user',
          'create',
          '--username',
          'cy',
          '--role',
          'viewer',
          '--password-stdin',
          '--state',
          state,
        ],
        { cwd: repoRoot, env: childEnv(), input: 'short\n', encoding: 'utf8' },
      );
      assert.equal(short.status, 1);
      assert.match(short.stderr, /password: use at least 12 characters/);
      const server = await serverOn(state);
      try {
        const login = (username: string, pw: string) =>
          fetch(`${server.url}/sqlmesh/acme/sales/auth/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ username, password: pw }),
          });
        assert.equal((await login('ada', password)).status, 200);
        const bob = await login('bob', 'bobs own password');
        assert.equal(bob.status, 200);
        assert.equal(((await bob.json()) as { role: string }).role, 'viewer');
      } finally {
        await server.close();
      }
      const users = JSON.parse(
        (await cloud(['user', 'list', '--state', state, '--json'])).out,
      ) as Array<{ username: string }>;
      assert.deepEqual(
        users.map((u) => u.username),
        ['ada', 'bob'],
      );
      const update = await cloud([
        'user',
        'update',
        'bob',
        '--role',
        'developer',
        '--disable',
        '--state',
        state,
      ]);
      assert.equal(update.code, 0, update.err);
      assert.equal(update.out, 'Updated bob: role developer, disabled');
      const executor = await cloud([
        'user',
        'create',
        '--username',
        'exe',
        '--role',
        'executor',
        '--state',
        state,
      ]);
      assert.equal(executor.code, 2);
      assert.match(executor.err, /use viewer, developer or admin/);
    });

    it('serves until SIGTERM and keeps its signing key across restarts', async () => {
      const state = await stateOf(target);
      const boot = await bootstrapSales(state);
      const first = serve(state);
      const url = await first.url;
      assert.equal(await (await fetch(`${url}/livez`)).text(), 'ok');
      assert.match(first.output(), /Signing key: .*\(new\)/);
      if (target.kind === 'sqlite') {
        const keyFile = `${state.slice('sqlite:'.length)}.key`;
        assert.ok(existsSync(keyFile));
        assert.equal(statSync(keyFile).mode & 0o777, 0o600);
      }
      const res = await tokenFor(`${url}/sqlmesh/acme/sales`, boot.clientId, boot.clientSecret);
      const token = ((await res.json()) as { access_token: string }).access_token;
      first.child.kill('SIGTERM');
      assert.equal(await first.exited, 0, first.errors());
      assert.match(first.output(), /Received SIGTERM: stopping\nStopped\.\n$/);
      const second = serve(state);
      try {
        const again = await second.url;
        assert.doesNotMatch(second.output(), /\(new\)/);
        const probe = (bearer: string) =>
          fetch(`${again}/sqlmesh/acme/sales/api/clients`, {
            headers: { authorization: `Bearer ${bearer}` },
          });
        const kept = await probe(token);
        assert.ok(
          kept.status !== 401 && kept.status !== 403,
          `the old token still works: ${kept.status}`,
        );
        assert.equal((await probe(`${token.slice(0, -4)}AAAA`)).status, 401);
      } finally {
        second.child.kill('SIGINT');
        assert.equal(await second.exited, 0, second.errors());
      }
    });

    it('serve takes its lease, retry, log and token settings from options, and says them', async () => {
      const state = await stateOf(target);
      const boot = await bootstrapSales(state);
      const made = await cloud([
        'client',
        'create',
        '--role',
        'executor',
        '--name',
        'executors',
        '--org',
        'acme',
        '--project',
        'sales',
        '--state',
        state,
        '--json',
      ]);
      assert.equal(made.code, 0, made.err);
      const executor = JSON.parse(made.out) as { clientId: string; clientSecret: string };
      const served = serve(state, [
        '--lease-ttl',
        '12s',
        '--max-attempts',
        '5',
        '--retry-backoff',
        '2s',
        '--log-retention',
        '3d',
        '--token-ttl',
        '5m',
      ]);
      try {
        const url = await served.url;
        // Printed after the URL; wait for the whole line.
        for (let i = 0; i < 200 && !/Settings: .*\n/.test(served.output()); i++) {
          await new Promise((r) => setTimeout(r, 25));
        }
        assert.match(
          served.output(),
          /Settings: leases 12s, 5 attempt\(s\) per evaluation with backoff from 2s, logs kept 3d, access tokens 5m\n/,
        );
        const projectUrl = `${url}/sqlmesh/acme/sales`;
        const admin = (await (
          await tokenFor(projectUrl, boot.clientId, boot.clientSecret)
        ).json()) as { expires_in: number };
        assert.equal(admin.expires_in, 300);
        const token = (
          (await (await tokenFor(projectUrl, executor.clientId, executor.clientSecret)).json()) as {
            access_token: string;
          }
        ).access_token;
        const registered = await fetch(`${projectUrl}/api/executors/register`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            name: 'exec-a',
            kind: 'run',
            version: '0.0.0',
            protocolVersion: '1.1',
            gateways: [{ name: 'local', type: 'duckdb' }],
          }),
        });
        assert.equal(registered.status, 201, await registered.clone().text());
        const body = (await registered.json()) as {
          leaseTtlMs: number;
          heartbeatIntervalMs: number;
        };
        assert.deepEqual(
          { lease: body.leaseTtlMs, heartbeat: body.heartbeatIntervalMs },
          { lease: 12_000, heartbeat: 2_000 },
        );
      } finally {
        served.child.kill('SIGTERM');
        assert.equal(await served.exited, 0, served.errors());
      }
    });
  });
}

describe('tideline cloud serve refuses bad settings', () => {
  it('answers each with one line that names the option and what to write, and starts nothing', async () => {
    const corpus: Array<[string[], RegExp]> = [
      [
        ['--lease-ttl', '30'],
        /'--lease-ttl <duration>' argument '30' is invalid\. use a number and a unit/,
      ],
      [
        ['--lease-ttl', '1s'],
        /'--lease-ttl <duration>' argument '1s' is invalid\. use a duration from 3s to 1h/,
      ],
      [['--lease-ttl', '2h'], /use a duration from 3s to 1h/],
      [['--retry-backoff', '-1s'], /'--retry-backoff <duration>' argument '-1s' is invalid/],
      [['--log-retention', '30m'], /use a duration from 1h to 365d/],
      [['--token-ttl', '48h'], /use a duration from 1m to 1d/],
      [['--token-ttl', "15m' OR 1=1"], /'--token-ttl <duration>' argument .* is invalid/],
      [
        ['--max-attempts', '0'],
        /'--max-attempts <n>' argument '0' is invalid\. use a whole number from 1 to 100/,
      ],
      [['--max-attempts', '2.5'], /use a whole number from 1 to 100/],
      [['--max-attempts', '101'], /use a whole number from 1 to 100/],
    ];
    for (const [args, message] of corpus) {
      const run = await cloud(['serve', '--state', 'sqlite::memory:', '--port', '0', ...args]);
      assert.equal(run.code, 2, args.join(' '));
      assert.equal(run.err.split('\n').length, 1, run.err);
      assert.match(run.err, message);
      assert.equal(run.out, '', 'nothing started');
    }
  });
});
