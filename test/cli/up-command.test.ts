/**
 * `tideline up`: the helpers it is built from, its command line, and the
 * real thing as a child process: cloud, executors and the example project
 * started, the plan applied, the UI login and the CLI credentials working,
 * Ctrl-C stopping every process, and a second start reusing what the first
 * made.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import type { CliIo } from '../../src/cli/cli-context.js';
import {
  formatInterval,
  projectNameFor,
  registerUpCommand,
  warehouseEnvFor,
} from '../../src/cli/commands/up-command.js';
import { buildProgram } from '../../src/cli/main.js';
import { createAdapter } from '../../src/engine/adapters/adapter-factory.js';
import { ConfigError } from '../../src/engine/errors.js';
import { loadProject } from '../../src/engine/project/project-loader.js';
import { writeStarterProject } from '../../src/engine/starter/starter-project.js';
import { CloudClient } from '../../src/executor/client/cloud-client.js';
import { readExecutorSettings } from '../../src/executor/config.js';
import { cliPath, repoRoot } from '../helpers/paths.js';
import { tempDir } from './run-cli.js';

const DAY = 86_400_000;

describe('up helpers', () => {
  it('names the cloud project after the folder, in the characters names allow', () => {
    assert.equal(projectNameFor('/work/my project!'), 'my-project-');
    assert.equal(projectNameFor('/x/__data'), 'data');
    assert.equal(projectNameFor('/x/---'), 'project');
    assert.equal(projectNameFor(`/x/${'a'.repeat(80)}`).length, 63);
  });

  it('shows whole-day intervals with an inclusive last day', () => {
    const jan1 = Date.UTC(2020, 0, 1);
    assert.equal(formatInterval([jan1, jan1 + DAY]), '2020-01-01');
    assert.equal(formatInterval([jan1, jan1 + 9 * DAY]), '2020-01-01 – 2020-01-09');
    assert.equal(formatInterval([jan1, jan1 + 3_600_000]), '2020-01-01 – 2020-01-01T01:00:00Z');
  });

  it('gives executors the DuckDB file as an absolute path that readExecutorSettings accepts', async () => {
    const dir = tempDir();
    writeStarterProject(dir, 'duckdb');
    const project = await loadProject(dir, { env: {} });
    const env = warehouseEnvFor(project);
    assert.equal(env['SQLMESH__GATEWAYS__DUCKDB__CONNECTION__DATABASE'], join(dir, 'db.db'));
    const settings = readExecutorSettings({
      TCLOUD_URL: 'http://127.0.0.1:1/sqlmesh/local/p',
      TCLOUD_CLIENT_ID: 'tlc_x',
      TCLOUD_CLIENT_SECRET: 'secret',
      ...env,
    });
    assert.equal(settings.defaultGateway, 'duckdb');
    const connection = settings.gateways[0]!.connection;
    assert.equal(connection.type, 'duckdb');
    assert.equal(connection.type === 'duckdb' ? connection.database : '', join(dir, 'db.db'));
  });

  it('refuses a default gateway that is not a DuckDB file, naming the config key', async () => {
    const dir = tempDir();
    writeStarterProject(dir, 'duckdb');
    const config = join(dir, 'config.yaml');
    writeFileSync(
      config,
      readFileSync(config, 'utf8').replace('database: db.db', "database: ':memory:'"),
    );
    const memory = await loadProject(dir, { env: {} });
    assert.throws(
      () => warehouseEnvFor(memory),
      (err: unknown) =>
        err instanceof ConfigError && /gateways\.duckdb\.connection\.database/.test(err.message),
    );
    const pg = tempDir();
    writeStarterProject(pg, 'postgres');
    const postgres = await loadProject(pg, { env: {} });
    assert.throws(
      () => warehouseEnvFor(postgres),
      (err: unknown) => err instanceof ConfigError && /uses postgres/.test(err.message),
    );
  });
});

describe('up command line', () => {
  function program(): { program: Command; err: string[] } {
    const err: string[] = [];
    const io: CliIo = {
      out: () => undefined,
      err: (t) => err.push(t),
      env: {},
      interactive: false,
    };
    const p = new Command('tideline')
      .option('-p, --paths <dir>', 'the project folder', '.')
      .exitOverride()
      .configureOutput({ writeErr: (s) => err.push(s), writeOut: () => undefined });
    registerUpCommand(p, io);
    for (const c of p.commands) c.exitOverride();
    return { program: p, err };
  }

  for (const args of [
    ['--port', 'eighty'],
    ['--port', '70000'],
    ['--grace', 'soon'],
  ]) {
    it(`refuses up ${args.join(' ')}`, async () => {
      const { program: p, err } = program();
      await assert.rejects(p.parseAsync(['up', ...args], { from: 'user' }));
      assert.match(err.join('\n'), new RegExp(args[0]!));
    });
  }
});

/** A running `tideline up` child and everything it printed. */
class UpProcess {
  readonly child: ChildProcess;
  out = '';
  err = '';
  readonly exited: Promise<number | null>;

  constructor(entry: string[], args: string[]) {
    this.child = spawn(process.execPath, [...entry, ...args], {
      cwd: repoRoot,
      env: { ...process.env, TCLOUD_URL: '', SQLMESH__DEFAULT_GATEWAY: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.err += d));
    this.exited = new Promise((resolve) => this.child.once('close', (code) => resolve(code)));
  }

  async waitFor(pattern: RegExp, timeoutMs = 90_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.out.match(pattern);
      if (m) return m;
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`no ${String(pattern)} in:\n${this.out}\n${this.err}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  value(name: string): string {
    const m = this.out.match(new RegExp(`export ${name}=(\\S+)`));
    assert.ok(m, `${name} printed:\n${this.out}`);
    return m[1]!;
  }

  pids(): number[] {
    return [...this.out.matchAll(/executor \(pid (\d+)\)/g)].map((m) => Number(m[1]));
  }

  async interrupt(): Promise<number | null> {
    this.child.kill('SIGINT');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 60_000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * How to start the CLI with `up` in it: bin/tideline.js once main registers
 * the command, else an entry point that adds it to the same program.
 */
async function upEntry(dir: string): Promise<string[]> {
  const io: CliIo = { out: () => undefined, err: () => undefined, env: {}, interactive: false };
  if ((await buildProgram(io)).commands.some((c) => c.name() === 'up')) return [cliPath];
  const entry = join(dir, 'up-entry.mjs');
  const dist = (rel: string) => pathToFileURL(join(repoRoot, 'dist', 'src', rel)).href;
  writeFileSync(
    entry,
    [
      `import { buildProgram } from ${JSON.stringify(dist('cli/main.js'))};`,
      `import { processIo } from ${JSON.stringify(dist('cli/cli-context.js'))};`,
      `import { registerUpCommand } from ${JSON.stringify(dist('cli/commands/up-command.js'))};`,
      `import { TidelineError } from ${JSON.stringify(dist('engine/errors.js'))};`,
      'const io = processIo();',
      'const program = await buildProgram(io);',
      'registerUpCommand(program, io);',
      'program.commands.at(-1).exitOverride();',
      '// As main() does: user mistakes are one line and exit 1.',
      'try {',
      '  await program.parseAsync(process.argv);',
      '  process.exitCode = io.exitCode ?? 0;',
      '} catch (err) {',
      '  if (!(err instanceof TidelineError)) throw err;',
      '  io.err(`Error: ${err.message}`);',
      '  process.exitCode = 1;',
      '}',
    ].join('\n'),
  );
  return [entry];
}

describe('tideline up, as a process', () => {
  it('exits 1 with a one-line message when the port is taken', async () => {
    const root = tempDir();
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as AddressInfo).port;
      const up = new UpProcess(await upEntry(root), [
        'up',
        '-p',
        join(root, 'p'),
        '--port',
        String(port),
      ]);
      const timer = setTimeout(() => up.child.kill('SIGKILL'), 60_000);
      const code = await up.exited;
      clearTimeout(timer);
      assert.equal(code, 1);
      assert.match(up.err, new RegExp(`--port ${port}: already in use`));
      assert.ok(!/\n\s+at /.test(up.err), `no stack trace: ${up.err}`);
      assert.match(up.out, /Stopped\./);
    } finally {
      taken.close();
    }
  });

  it('starts everything, applies the example project, stops on SIGINT, and restarts reusing the store', async () => {
    const root = tempDir();
    const dir = join(root, 'example');
    const entry = await upEntry(root);

    const first = new UpProcess(entry, ['up', '-p', dir, '--port', '0', '--grace', '5']);
    try {
      await first.waitFor(/Press Ctrl-C to stop\./);
    } catch (err) {
      first.child.kill('SIGKILL');
      throw err;
    }
    assert.ok(existsSync(join(dir, 'config.yaml')), 'the example project was written');
    const url = first.value('TCLOUD_URL');
    const clientId = first.value('TCLOUD_CLIENT_ID');
    const clientSecret = first.value('TCLOUD_CLIENT_SECRET');
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/sqlmesh\/local\/example$/);
    assert.ok(first.out.includes(`Web UI:   ${url}/`));
    const password = first.out.match(/Password: (\S+) {2}\(shown only now\)/)?.[1];
    assert.ok(password, first.out);
    const planId = first.out.match(/submitting plan (\S+)/)?.[1];
    assert.ok(planId, first.out);
    const pids = first.pids();
    assert.equal(pids.length, 2);
    assert.ok(pids.every(alive));

    const admin = new CloudClient({ url, clientId, clientSecret });
    const plan = await admin.request<{ status: string; environment: string }>(
      'GET',
      `/plans/${planId}`,
    );
    assert.equal(plan.status, 'succeeded');
    assert.equal(plan.environment, 'prod');
    const { executors } = await admin.request<{
      executors: Array<{ kind: string; status: string }>;
    }>('GET', '/executors');
    for (const kind of ['run', 'apply']) {
      assert.ok(
        executors.some((e) => e.kind === kind && e.status === 'online'),
        `a ${kind} executor is online: ${JSON.stringify(executors)}`,
      );
    }
    // The printed password logs in to the web UI.
    const login = await fetch(`${url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password }),
    });
    assert.equal(login.status, 200, await login.clone().text());
    const saved = join(dir, '.tideline', 'up.json');
    assert.equal(statSync(saved).mode & 0o077, 0, 'saved secrets are readable by the owner only');

    assert.equal(await first.interrupt(), 0, first.err);
    assert.match(first.out, /Stopped\./);
    for (const pid of pids) assert.equal(alive(pid), false, `executor ${pid} is gone`);

    // The apply executor built the example's tables in the project's DuckDB file.
    const db = createAdapter(
      {
        type: 'duckdb',
        database: join(dir, 'db.db'),
        catalogs: {},
        extensions: [],
        connectorConfig: {},
        concurrentTasks: 1,
      },
      { projectRoot: dir },
    );
    try {
      const full = await db.query('SELECT COUNT(*) AS n FROM sqlmesh_example.full_model');
      assert.equal(Number(full.rows[0]!.n), 3);
      const orders = await db.query('SELECT COUNT(*) AS n FROM sqlmesh_example.incremental_model');
      assert.ok(Number(orders.rows[0]!.n) > 0);
    } finally {
      await db.close();
    }

    // Again on the same folder: the same project and clients, no new plan, no new password.
    const second = new UpProcess(entry, ['up', '-p', dir, '--port', '0', '--grace', '5']);
    try {
      await second.waitFor(/Press Ctrl-C to stop\./);
    } catch (err) {
      second.child.kill('SIGKILL');
      throw err;
    }
    assert.equal(second.value('TCLOUD_CLIENT_ID'), clientId);
    assert.match(second.out, /reusing its OAuth clients/);
    assert.match(second.out, /nothing to apply/);
    assert.match(second.out, /Password: shown at the first start/);
    const url2 = second.value('TCLOUD_URL');
    const admin2 = new CloudClient({ url: url2, clientId, clientSecret });
    const clients = await admin2.request<{
      clients: Array<{ createdBy: string | null; revokedTs: number | null }>;
    }>('GET', '/clients');
    const live = clients.clients.filter((c) => c.revokedTs === null);
    assert.equal(live.length, 2, JSON.stringify(clients));
    const pids2 = second.pids();
    assert.equal(await second.interrupt(), 0, second.err);
    for (const pid of pids2) assert.equal(alive(pid), false, `executor ${pid} is gone`);
  });
});
