/**
 * The Docker Compose files: their structure, that every variable they use is
 * documented in .env.example, and that the environment the executors get
 * (with the example values) is exactly what an executor accepts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { readExecutorSettings } from '../../src/executor/config.js';
import { repoRoot } from '../helpers/paths.js';
import { runCli, tempDir } from '../cli/run-cli.js';

const deploy = join(repoRoot, 'deploy');
const read = (name: string) => readFileSync(join(deploy, name), 'utf8');

type Env = Record<string, string>;

/** The variables .env.example defines, with their example values. */
function exampleEnv(): Env {
  const env: Env = {};
  for (const line of read('.env.example').split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

/** Names of the `${VAR}` references in a compose file (`$$` is a literal dollar). */
function variablesUsed(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.replace(/\$\$/g, '').matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)) {
    names.add(m[1]!);
  }
  return names;
}

/** Compose's interpolation: `${V}`, `${V:-default}`, `${V-default}`, `$$`. */
function interpolate(value: string, env: Env): string {
  return value
    .replace(/\$\$/g, '\u0000')
    .replace(
      /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}/g,
      (_, name: string, op: string | undefined, fallback: string | undefined) => {
        const v = env[name];
        if (op === ':-') return v === undefined || v === '' ? (fallback ?? '') : v;
        if (op === '-') return v === undefined ? (fallback ?? '') : v;
        return v ?? '';
      },
    )
    .replace(/\u0000/g, '$');
}

interface Service {
  image: string;
  command?: string[];
  entrypoint?: string[];
  restart?: string;
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  deploy?: {
    resources: {
      limits: { memory: string; cpus: string };
      reservations: { memory: string; cpus: string };
    };
  };
  healthcheck?: {
    test: string[];
    interval: string;
    timeout: string;
    retries: number;
    start_period?: string;
  };
}

interface ComposeFile {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

function compose(name: string): ComposeFile {
  return parse(read(name)) as ComposeFile;
}

function seconds(duration: string): number {
  const m = /^(\d+)(s|m)$/.exec(duration);
  assert.ok(m, `a duration: ${duration}`);
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1);
}

function service(file: ComposeFile, name: string): Service {
  const s = file.services[name];
  assert.ok(s, `service ${name}`);
  return s;
}

function interpolatedEnv(s: Service, env: Env): Env {
  const out: Env = {};
  for (const [k, v] of Object.entries(s.environment ?? {})) out[k] = interpolate(String(v), env);
  return out;
}

const GATEWAY_KEYS = ['TYPE', 'HOST', 'PORT', 'DATABASE', 'USER', 'PASSWORD'].map(
  (p) => `SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__${p}`,
);

describe('deploy/docker-compose.yml (hybrid executors)', () => {
  const file = compose('docker-compose.yml');
  const example = exampleEnv();

  it('has exactly an apply and a run executor with their commands', () => {
    assert.deepEqual(Object.keys(file.services).sort(), ['apply-executor', 'run-executor']);
    assert.deepEqual(service(file, 'apply-executor').command, ['executor', 'apply']);
    assert.deepEqual(service(file, 'run-executor').command, ['executor', 'run']);
    for (const s of Object.values(file.services)) {
      assert.equal(s.restart, 'unless-stopped');
      assert.match(s.image, /\$\{TIDELINE_IMAGE/);
    }
  });

  it('gives both executors the TCLOUD and gateway variables built from the settings', () => {
    for (const name of ['apply-executor', 'run-executor']) {
      const env = service(file, name).environment ?? {};
      assert.equal(env['TCLOUD_URL'], '${TCLOUD_BASE_URL}/sqlmesh/${ORGANIZATION}/${PROJECT}');
      assert.equal(env['TCLOUD_CLIENT_ID'], '${TCLOUD_CLIENT_ID}');
      assert.equal(env['TCLOUD_CLIENT_SECRET'], '${TCLOUD_CLIENT_SECRET}');
      assert.match(env['SQLMESH__DEFAULT_GATEWAY'] ?? '', /^\$\{DEFAULT_GATEWAY/);
      for (const key of GATEWAY_KEYS) {
        const param = key.split('__').pop()!;
        assert.match(env[key] ?? '', new RegExp(`^\\$\\{DB_${param}[:}]`), key);
      }
    }
  });

  it('limits and reserves memory and CPU from APPLY_* and RUN_* settings', () => {
    for (const [name, prefix] of [
      ['apply-executor', 'APPLY'],
      ['run-executor', 'RUN'],
    ] as const) {
      const r = service(file, name).deploy?.resources;
      assert.ok(r, `${name} has resources`);
      assert.match(r.limits.memory, new RegExp(`^\\$\\{${prefix}_MEMORY_LIMIT`));
      assert.match(r.limits.cpus, new RegExp(`^\\$\\{${prefix}_CPU_LIMIT`));
      assert.match(r.reservations.memory, new RegExp(`^\\$\\{${prefix}_MEMORY_RESERVATION`));
      assert.match(r.reservations.cpus, new RegExp(`^\\$\\{${prefix}_CPU_RESERVATION`));
      // With the example values, the limit is at least the reservation.
      const gib = (v: string) => Number(v.replace(/g$/, '')) * (v.endsWith('g') ? 1 : 1 / 1024);
      const limit = gib(interpolate(r.limits.memory, example));
      const reserved = gib(interpolate(r.reservations.memory, example));
      assert.ok(limit >= reserved && reserved >= 2, `${name}: ${limit} >= ${reserved} >= 2`);
    }
  });

  it('checks health with the executor --check of its own kind and generous timeouts', () => {
    for (const kind of ['apply', 'run']) {
      const hc = service(file, `${kind}-executor`).healthcheck;
      assert.ok(hc);
      assert.deepEqual(hc.test, ['CMD', 'tideline', 'executor', kind, '--check']);
      assert.ok(seconds(hc.timeout) >= 30, 'timeout of 30 s or more');
      assert.ok(seconds(hc.interval) >= seconds(hc.timeout));
      assert.ok(hc.retries >= 3);
    }
  });

  it('keeps /app/data in a declared volume', () => {
    for (const s of Object.values(file.services)) {
      const mount = (s.volumes ?? []).find((v) => v.endsWith(':/app/data'));
      assert.ok(mount, 'a volume at /app/data');
      assert.ok(mount.split(':')[0]! in file.volumes, `volume ${mount} declared`);
    }
  });

  it('uses only variables that .env.example documents', () => {
    const missing = [...variablesUsed(read('docker-compose.yml'))].filter((v) => !(v in example));
    assert.deepEqual(missing, []);
  });

  it('hands the executors an environment readExecutorSettings accepts, value for value', () => {
    for (const name of ['apply-executor', 'run-executor']) {
      const env = interpolatedEnv(service(file, name), example);
      const settings = readExecutorSettings(env);
      assert.equal(
        settings.credentials.url,
        `${example['TCLOUD_BASE_URL']}/sqlmesh/${example['ORGANIZATION']}/${example['PROJECT']}`,
      );
      assert.equal(settings.credentials.clientId, example['TCLOUD_CLIENT_ID']);
      assert.equal(settings.credentials.clientSecret, example['TCLOUD_CLIENT_SECRET']);
      assert.equal(settings.defaultGateway, example['DEFAULT_GATEWAY']!.toLowerCase());
      assert.equal(settings.gateways.length, 1);
      const c = settings.gateways[0]!.connection;
      assert.equal(c.type, 'postgres');
      if (c.type !== 'postgres') return;
      assert.equal(c.host, example['DB_HOST']);
      assert.equal(c.port, Number(example['DB_PORT']));
      assert.equal(c.database, example['DB_DATABASE']);
      assert.equal(c.user, example['DB_USER']);
      assert.equal(c.password, example['DB_PASSWORD']);
    }
  });

  it('an executor refuses the environment when a setting is wrong or missing', () => {
    const env = interpolatedEnv(service(file, 'run-executor'), { ...example, DB_PORT: 'five' });
    assert.throws(() => readExecutorSettings(env), /PORT|port/);
    const noSecret = interpolatedEnv(service(file, 'run-executor'), {
      ...example,
      TCLOUD_CLIENT_SECRET: '',
    });
    assert.throws(() => readExecutorSettings(noSecret), /TCLOUD_CLIENT_SECRET/);
  });
});

describe('deploy/docker-compose.full.yml (cloud, executors and warehouse)', () => {
  const file = compose('docker-compose.full.yml');
  const example = exampleEnv();

  it('runs the cloud on a PostgreSQL store, both executors and a PostgreSQL warehouse', () => {
    assert.deepEqual(Object.keys(file.services).sort(), [
      'apply-executor',
      'cloud',
      'init',
      'run-executor',
      'store',
      'warehouse',
    ]);
    const cloud = service(file, 'cloud');
    assert.deepEqual(cloud.command?.slice(0, 4), ['cloud', 'serve', '--host', '0.0.0.0']);
    // The executors wait for a healthy cloud: one whose store answers (/readyz).
    assert.match(cloud.healthcheck?.test.join(' ') ?? '', /http:\/\/127\.0\.0\.1:8000\/readyz'/);
    const state = interpolate(cloud.environment?.['TIDELINE_STATE_URL'] ?? '', example);
    assert.equal(
      state,
      `postgres://${example['STORE_USER']}:${example['STORE_PASSWORD']}@store:5432/${example['STORE_DB']}`,
    );
    assert.match(service(file, 'store').image, /^postgres:/);
    assert.match(service(file, 'warehouse').image, /^postgres:/);
    assert.deepEqual(service(file, 'apply-executor').command, ['executor', 'apply']);
    assert.deepEqual(service(file, 'run-executor').command, ['executor', 'run']);
    for (const name of ['apply-executor', 'run-executor']) {
      const s = service(file, name);
      assert.equal(s.depends_on?.['init']?.condition, 'service_completed_successfully');
      assert.equal(s.depends_on?.['cloud']?.condition, 'service_healthy');
      assert.ok(s.deploy?.resources.limits.memory);
      assert.match(
        s.healthcheck?.test.join(' ') ?? '',
        new RegExp(`executor ${name.split('-')[0]} --check`),
      );
    }
  });

  it('uses only variables that .env.example documents', () => {
    const missing = [...variablesUsed(read('docker-compose.full.yml'))].filter(
      (v) => !(v in example),
    );
    assert.deepEqual(missing, []);
  });

  it("extracts the executor client from the CLI's output and gives executors a valid environment", async () => {
    // The init service turns `tideline cloud client create` output into an env file with sed.
    const init = service(file, 'init').command?.[0] ?? '';
    const sedExpr = /sed -n '([^']+)'/.exec(interpolate(init, example))?.[1];
    assert.ok(sedExpr, 'init extracts the credentials with sed');
    const dir = tempDir();
    const state = `sqlite:${join(dir, 'cloud.db')}`;
    const boot = await runCli([
      'cloud',
      'bootstrap',
      '--state',
      state,
      '--org',
      'acme',
      '--project',
      'analytics',
    ]);
    assert.equal(boot.code, 0, boot.err);
    const made = await runCli([
      'cloud',
      'client',
      'create',
      '--state',
      state,
      '--name',
      'executors',
      '--role',
      'executor',
    ]);
    assert.equal(made.code, 0, made.err);
    const sed = spawnSync('sed', ['-n', sedExpr], { input: made.out + '\n', encoding: 'utf8' });
    assert.equal(sed.status, 0, sed.stderr);
    const credentials: Env = {};
    for (const line of sed.stdout.trim().split('\n')) {
      const [k, ...v] = line.split('=');
      credentials[k!] = v.join('=');
    }
    assert.deepEqual(Object.keys(credentials).sort(), ['TCLOUD_CLIENT_ID', 'TCLOUD_CLIENT_SECRET']);
    assert.match(credentials['TCLOUD_CLIENT_ID']!, /^tlc_[0-9a-f]{24}$/);
    assert.ok(made.out.includes(credentials['TCLOUD_CLIENT_SECRET']!));

    for (const name of ['apply-executor', 'run-executor']) {
      const env = { ...interpolatedEnv(service(file, name), example), ...credentials };
      const settings = readExecutorSettings(env);
      assert.equal(
        settings.credentials.url,
        `http://cloud:8000/sqlmesh/${example['ORGANIZATION']}/${example['PROJECT']}`,
      );
      const c = settings.gateways[0]!.connection;
      assert.equal(c.type === 'postgres' ? c.host : '', 'warehouse');
      assert.equal(c.type === 'postgres' ? c.user : '', example['DB_USER']);
      // The warehouse container is made with the same database, user and password.
      const wh = service(file, 'warehouse').environment ?? {};
      assert.equal(interpolate(wh['POSTGRES_USER'] ?? '', example), example['DB_USER']);
      assert.equal(interpolate(wh['POSTGRES_PASSWORD'] ?? '', example), example['DB_PASSWORD']);
      assert.equal(interpolate(wh['POSTGRES_DB'] ?? '', example), example['DB_DATABASE']);
    }
  });
});

describe('deploy/Dockerfile', () => {
  const text = read('Dockerfile');
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => /^[A-Z]+\s/.test(l));

  it('builds on an official Node.js LTS slim image in stages, with production dependencies only at runtime', () => {
    assert.match(text, /^ARG NODE_IMAGE=node:(20|22|24)-slim$/m);
    const froms = instructions.filter((l) => l.startsWith('FROM '));
    assert.ok(froms.length >= 2, 'a multi-stage build');
    // Build stages may run on BUILD_IMAGE (compilers for native add-ons), which
    // defaults to NODE_IMAGE; the final image is always NODE_IMAGE.
    assert.match(text, /^ARG BUILD_IMAGE=\$\{NODE_IMAGE\}$/m);
    assert.ok(froms.every((l) => /^FROM \$\{(NODE|BUILD)_IMAGE\}/.test(l)));
    assert.equal(froms.at(-1), 'FROM ${NODE_IMAGE}');
    assert.ok(instructions.some((l) => /npm ci --omit=dev/.test(l)));
    const last = text.slice(text.lastIndexOf('\nFROM '));
    assert.ok(!/npm ci(?! --omit=dev)/.test(last), 'no dev install in the final stage');
  });

  it('runs as a non-root user with tideline as the entry point and /app/data as a volume', () => {
    const users = instructions.filter((l) => l.startsWith('USER '));
    assert.ok(users.length > 0 && !/root|\b0\b/.test(users.at(-1)!));
    assert.ok(instructions.includes('ENTRYPOINT ["tideline"]'));
    assert.ok(instructions.includes('WORKDIR /app/data'));
    assert.ok(instructions.some((l) => /^VOLUME \["\/app\/data"\]/.test(l)));
    const hc = instructions.find((l) => l.startsWith('HEALTHCHECK'));
    assert.ok(hc && /TCLOUD_URL/.test(hc) && /executor run --check/.test(hc));
  });

  it('keeps the build context small (.dockerignore)', () => {
    const ignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['node_modules', 'dist', '.git']) assert.ok(ignore.includes(entry), entry);
  });
});
