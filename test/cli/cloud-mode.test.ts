/**
 * Cloud mode of `tideline plan` and `tideline run` against a real cloud over
 * loopback, on both stores: the CLI computes and submits, a real apply
 * executor in this process applies; credentials from the environment or
 * tcloud.yaml; stale plans, missing rights, waiting and Ctrl-C.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ALL_ROUTES } from '../../src/cloud/routes.js';
import type { CliIo } from '../../src/cli/cli-context.js';
import { readCloudCredentials } from '../../src/cli/cloud-mode/cloud-credentials.js';
import { cloudGateway } from '../../src/cli/cloud-mode/cloud-detect.js';
import {
  applyInCloud,
  computeCloudPlan,
  openCloudProject,
} from '../../src/cli/cloud-mode/cloud-plan.js';
import { ConfigError, TidelineError } from '../../src/engine/errors.js';
import { writeStarterProject } from '../../src/engine/starter/starter-project.js';
import { CloudClient } from '../../src/executor/client/cloud-client.js';
import { HttpStateSync } from '../../src/executor/client/http-state-sync.js';
import { Executor } from '../../src/executor/runtime.js';
import { startTestCloud, type TestCloud } from '../helpers/cloud.js';
import { storeTargets } from '../helpers/stores.js';
import { runCli, tempDir } from './run-cli.js';

const targets = await storeTargets();
const JAN_10 = Date.UTC(2020, 0, 10);
const DAY = 86_400_000;

// Started before any test is declared (a test declared after an await may never run), and
// outside hooks, so that they stay up until the file's tests end.
const clocks = targets.map(() => ({ ms: JAN_10 }));
const clouds = await Promise.all(
  targets.map((target, i) =>
    startTestCloud(target, {
      clock: { now: () => clocks[i]!.ms },
      routes: ALL_ROUTES,
      // A failed apply is final at once, not retried later.
      settings: { maxAttempts: 1 },
    }),
  ),
);

/** The starter project with its gateway on the cloud scheduler. */
function cloudProject(): string {
  const dir = join(tempDir(), 'project');
  writeStarterProject(dir, 'duckdb');
  const config = join(dir, 'config.yaml');
  const text = readFileSync(config, 'utf8');
  const from = '  duckdb:\n    connection:';
  assert.ok(text.includes(from), 'the starter config names its gateway duckdb');
  writeFileSync(
    config,
    text.replace(from, '  duckdb:\n    scheduler:\n      type: cloud\n    connection:'),
  );
  return dir;
}

function edit(dir: string, file: string, from: string, to: string): void {
  const path = join(dir, file);
  const text = readFileSync(path, 'utf8');
  assert.ok(text.includes(from), `${file} should contain ${from}`);
  writeFileSync(path, text.replace(from, to));
}

function assertOneLine(text: string): void {
  const lines = text.split('\n').filter((l) => l !== '' && !l.startsWith('Warning:'));
  assert.equal(lines.length, 1, `expected one line, got:\n${text}`);
  assert.doesNotMatch(text, /^\s+at /m);
}

interface CapturedIo extends CliIo {
  outLines: string[];
  errLines: string[];
}

function captureIo(env: Record<string, string | undefined>): CapturedIo {
  const outLines: string[] = [];
  const errLines: string[] = [];
  return {
    outLines,
    errLines,
    out: (t) => outLines.push(t),
    err: (t) => errLines.push(t),
    env,
    interactive: false,
  };
}

type Role = 'viewer' | 'developer' | 'admin' | 'executor';

function credentials(cloud: TestCloud, role: Role): Record<string, string> {
  return {
    TCLOUD_URL: cloud.projectUrl,
    TCLOUD_CLIENT_ID: cloud.clients[role].clientId,
    TCLOUD_CLIENT_SECRET: cloud.clients[role].clientSecret,
  };
}

describe('cloud mode without a cloud', () => {
  test('a gateway with scheduler type cloud is cloud mode; the default builtin one is not', () => {
    const dir = cloudProject();
    assert.equal(cloudGateway(dir, {}), 'duckdb');
    const local = join(tempDir(), 'local');
    writeStarterProject(local, 'duckdb');
    assert.equal(cloudGateway(local, {}), undefined);
  });

  test('missing credentials: one line naming the variables and tcloud.yaml', async () => {
    const dir = cloudProject();
    const home = tempDir();
    for (const command of ['plan', 'run']) {
      const res = await runCli(['-p', dir, command], { HOME: home });
      assert.equal(res.code, 1, res.out);
      assertOneLine(res.err);
      assert.match(res.err, /TCLOUD_URL, TCLOUD_CLIENT_ID, TCLOUD_CLIENT_SECRET: not set/);
      assert.match(res.err, /tcloud\.yaml/);
      assert.match(res.err, /gateway "duckdb"/);
    }
    // Only the secret missing: only it is named.
    const res = await runCli(['-p', dir, 'plan'], {
      HOME: home,
      TCLOUD_URL: 'http://127.0.0.1:1/sqlmesh/acme/analytics',
      TCLOUD_CLIENT_ID: 'someone',
    });
    assert.equal(res.code, 1);
    assert.match(res.err, /Error: TCLOUD_CLIENT_SECRET: not set/);
    // The CLI never touched a warehouse.
    assert.equal(existsSync(join(dir, 'db.db')), false);
  });

  test('tcloud.yaml: default_project chosen, env wins per field, mistakes point at the file', () => {
    const dir = cloudProject();
    const home = tempDir();
    mkdirSync(join(home, '.tcloud'));
    const userFile = join(home, '.tcloud', 'tcloud.yaml');
    writeFileSync(
      userFile,
      [
        'projects:',
        '  one:',
        '    url: http://127.0.0.1:9/sqlmesh/acme/one',
        '    client_id: id-one',
        '    client_secret: secret-one',
        '  two:',
        '    url: http://127.0.0.1:9/sqlmesh/acme/two',
        '    client_id: id-two',
        'default_project: two',
        '',
      ].join('\n'),
    );
    assert.throws(
      () => readCloudCredentials(dir, { HOME: home }, 'duckdb'),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message.includes(`${userFile}:6:3: projects.two`) &&
        /has no client_secret; add it, or set TCLOUD_CLIENT_SECRET/.test(err.message),
    );
    const creds = readCloudCredentials(dir, { HOME: home, TCLOUD_CLIENT_SECRET: 's2' }, 'duckdb');
    assert.deepEqual(
      { url: creds.url, id: creds.clientId, secret: creds.clientSecret, file: creds.file },
      { url: 'http://127.0.0.1:9/sqlmesh/acme/two', id: 'id-two', secret: 's2', file: userFile },
    );
    // The project folder's file comes first.
    const projectFile = join(dir, 'tcloud.yaml');
    writeFileSync(
      projectFile,
      'projects:\n  mine:\n    url: http://127.0.0.1:9/sqlmesh/acme/mine\n    client_id: m\n    client_secret: ms\n',
    );
    assert.equal(readCloudCredentials(dir, { HOME: home }, 'duckdb').clientId, 'm');
    writeFileSync(projectFile, 'projects:\n  a: {url: x}\n  b: {url: y}\ndefault_project: c\n');
    assert.throws(
      () => readCloudCredentials(dir, { HOME: home }, 'duckdb'),
      /tcloud\.yaml:4:1: default_project: names no project of the file; use one of a, b/,
    );
    writeFileSync(projectFile, 'projects: [\n');
    assert.throws(
      () => readCloudCredentials(dir, { HOME: home }, 'duckdb'),
      /tcloud\.yaml:\d+:\d+: /,
    );
    rmSync(projectFile);
  });
});

targets.forEach((target, i) => {
  describe(`cloud mode against a cloud on ${target.kind}`, () => {
    const cloud = clouds[i]!;
    const clock = clocks[i]!;
    let state: HttpStateSync;
    let executorEnv: Record<string, string>;
    let admin: Record<string, string>;
    const dir = cloudProject();
    const home = tempDir();
    const warehouse = join(tempDir(), 'db.db');
    const cli = (env: Record<string, string>, ...args: string[]) =>
      runCli(['-p', dir, ...args], env);
    const executorLog: string[] = [];

    before(async () => {
      executorEnv = {
        ...credentials(cloud, 'executor'),
        SQLMESH__GATEWAYS__DUCKDB__CONNECTION__TYPE: 'duckdb',
        // The same file name as the project's gateway database, so the catalog matches.
        SQLMESH__GATEWAYS__DUCKDB__CONNECTION__DATABASE: warehouse,
      };
      admin = { HOME: home, ...credentials(cloud, 'admin') };
      state = new HttpStateSync(
        new CloudClient({
          url: cloud.projectUrl,
          clientId: cloud.clients.admin.clientId,
          clientSecret: cloud.clients.admin.clientSecret,
        }),
      );
    });

    /** Runs `work` while an apply executor takes one task. */
    async function withApplyExecutor<T>(work: () => Promise<T>): Promise<T> {
      const executor = new Executor({
        kind: 'apply',
        env: executorEnv,
        once: true,
        claimWaitMs: 2_000,
        log: (l) => executorLog.push(l),
      });
      const running = executor.run();
      try {
        return await work();
      } finally {
        executor.drain();
        await running;
      }
    }

    const planIdOf = (out: string): string => {
      const m = /Submitted plan (\S+) to /.exec(out);
      assert.ok(m, `no submitted plan in:\n${out}`);
      return m[1]!;
    };

    test('plan --auto-apply: submitted, applied by an apply executor, progress shown', async () => {
      const res = await withApplyExecutor(() =>
        cli(admin, 'plan', '--auto-apply', '--execution-time', '2020-01-10'),
      );
      assert.equal(res.code, 0, `${res.err}\n${executorLog.join('\n')}`);
      assert.match(res.out, /Unit tests: 1 passed, 0 failed/);
      assert.match(res.out, /`prod` environment will be initialized/);
      assert.match(res.out, /sqlmesh_example\.incremental_model: 2020-01-01 - 2020-01-09/);
      // A progress line per evaluation, with model, interval, duration and rows.
      assert.match(
        res.out,
        /^\[\d\] sqlmesh_example\.incremental_model 2020-01-01 - 2020-01-09 \(\d+\.\d\ds, \d+ rows\)$/m,
      );
      assert.match(res.out, /^\[\d\] sqlmesh_example\.full_model .*\(\d+\.\d\ds, \d+ rows\)$/m);
      const progressLines = res.out.split('\n').filter((l) => /^\[\d+\] /.test(l));
      // The executor's log lines arrive too.
      const planId = planIdOf(res.out);
      assert.match(res.out, new RegExp(`applying plan ${planId} to prod`));
      const applied = /Applied plan to `prod`: (\d+) evaluation\(s\) in \d+\.\d\ds/.exec(res.out);
      assert.ok(applied, res.out);
      assert.equal(Number(applied[1]), progressLines.length);
      assert.ok(progressLines.length >= 2);
      const env = await state.getEnvironment('prod');
      assert.equal(env?.planId, planId);
      const info = await cloud.api(`/plans/${planId}`);
      assert.equal(info.body.status, 'succeeded');
      // The warehouse is the executor's; the CLI opened none.
      assert.equal(existsSync(join(dir, 'db.db')), false);
      assert.equal(existsSync(warehouse), true);
    });

    test('a second plan shows no changes and submits nothing', async () => {
      const before = await cloud.api('/state/plans');
      const res = await cli(admin, 'plan', '--auto-apply', '--execution-time', '2020-01-10');
      assert.equal(res.code, 0, res.err);
      assert.match(res.out, /No changes to plan: project files match the environment\./);
      assert.match(res.out, /Nothing to apply: `prod` is up to date\./);
      assert.doesNotMatch(res.out, /Submitted plan/);
      const after = await cloud.api('/state/plans');
      assert.equal(after.body.plans.length, before.body.plans.length);
    });

    test('credentials from tcloud.yaml: the project folder or ~/.tcloud', async () => {
      mkdirSync(join(home, '.tcloud'), { recursive: true });
      const userFile = join(home, '.tcloud', 'tcloud.yaml');
      writeFileSync(
        userFile,
        [
          'projects:',
          '  analytics:',
          `    url: ${cloud.projectUrl}`,
          `    client_id: ${cloud.clients.developer.clientId}`,
          `    client_secret: ${cloud.clients.developer.clientSecret}`,
          '    gateway: duckdb',
          'default_project: analytics',
          '',
        ].join('\n'),
      );
      try {
        const res = await cli({ HOME: home }, 'plan', 'dev', '--execution-time', '2020-01-10');
        assert.equal(res.code, 0, res.err);
        // Prod exists only in the cloud's state: the plan was computed against it.
        assert.match(res.out, /Differences from the `prod` environment:/);
        assert.match(res.out, /Not applied: run with --auto-apply/);
      } finally {
        rmSync(userFile);
      }
      // In the project folder, the secret from the environment.
      const projectFile = join(dir, 'tcloud.yaml');
      writeFileSync(
        projectFile,
        `projects:\n  analytics:\n    url: ${cloud.projectUrl}\n    client_id: ${cloud.clients.viewer.clientId}\n`,
      );
      try {
        const res = await cli(
          { HOME: home, TCLOUD_CLIENT_SECRET: cloud.clients.viewer.clientSecret },
          'plan',
          '--execution-time',
          '2020-01-10',
        );
        assert.equal(res.code, 0, res.err);
        assert.match(res.out, /Nothing to apply: `prod` is up to date\./);
        const wrong = await cli(
          { HOME: home, TCLOUD_CLIENT_SECRET: 'not-the-secret' },
          'plan',
          '--execution-time',
          '2020-01-10',
        );
        assert.equal(wrong.code, 1);
        assertOneLine(wrong.err);
        assert.match(wrong.err, /check TCLOUD_CLIENT_ID and TCLOUD_CLIENT_SECRET/);
      } finally {
        rmSync(projectFile);
      }
    });

    test('viewer credentials: plan and run refused in one line (403)', async () => {
      edit(
        dir,
        'models/full_model.sql',
        'COUNT(DISTINCT id) AS num_orders',
        'COUNT(id) AS num_orders',
      );
      try {
        const viewer = { HOME: home, ...credentials(cloud, 'viewer') };
        const plan = await cli(
          viewer,
          'plan',
          '--auto-apply',
          '--skip-tests',
          '--execution-time',
          '2020-01-10',
        );
        assert.equal(plan.code, 1);
        assert.match(plan.out, /Directly Modified: sqlmesh_example\.full_model/);
        assertOneLine(plan.err);
        assert.match(plan.err, /^Error: .*403 forbidden: role viewer may not/);
        const run = await cli(viewer, 'run');
        assert.equal(run.code, 1);
        assertOneLine(run.err);
        assert.match(run.err, /403 forbidden: role viewer may not/);
      } finally {
        edit(
          dir,
          'models/full_model.sql',
          'COUNT(id) AS num_orders',
          'COUNT(DISTINCT id) AS num_orders',
        );
      }
    });

    test('a plan computed before another one was applied is refused as stale', async () => {
      const io = captureIo(admin);
      const computed = await openCloudProject({ root: dir }, io);
      const stale = await computeCloudPlan(computed, 'prod', { executionTime: '2020-01-10' });
      const before = (await state.getEnvironment('prod'))?.planId;
      assert.equal(stale.expectedPlanId, before);

      edit(
        dir,
        'models/full_model.sql',
        'COUNT(DISTINCT id) AS num_orders',
        'COUNT(id) AS num_orders',
      );
      const other = await withApplyExecutor(() =>
        cli(admin, 'plan', '--auto-apply', '--skip-tests', '--execution-time', '2020-01-10'),
      );
      assert.equal(other.code, 0, `${other.err}\n${executorLog.join('\n')}`);
      assert.notEqual((await state.getEnvironment('prod'))?.planId, before);

      await assert.rejects(
        applyInCloud(computed, stale, io),
        (err: unknown) =>
          err instanceof TidelineError &&
          err.message === 'environment `prod` changed since this plan was computed; run plan again',
      );
      const stored = await cloud.api(`/plans/${stale.id}`);
      assert.equal(stored.status, 404);
    });

    test('a plan that fails in the executor: exit 1 with the failure', async () => {
      const broken = join(dir, 'models', 'broken_model.sql');
      writeFileSync(
        broken,
        'MODEL (name sqlmesh_example.broken_model, kind FULL);\n\nSELECT id FROM nowhere.missing_table\n',
      );
      try {
        const developer = { HOME: home, ...credentials(cloud, 'developer') };
        const res = await withApplyExecutor(() =>
          cli(
            developer,
            'plan',
            'broken',
            '--auto-apply',
            '--skip-tests',
            '--execution-time',
            '2020-01-10',
          ),
        );
        assert.equal(res.code, 1, `${res.out}\n${res.err}`);
        assert.match(res.out, /Submitted plan \S+ to /);
        assert.match(res.err, /^Error: plan for `broken` failed: .*missing_table/);
        // The executor's error line is not repeated before it.
        assertOneLine(res.err);
        assert.doesNotMatch(res.out, /Applied plan/);
        const planId = planIdOf(res.out);
        const info = await state.client.get<{ status: string }>(`/plans/${planId}`);
        assert.equal(info.status, 'failed');
        assert.equal(await state.getEnvironment('broken'), undefined);
      } finally {
        rmSync(broken);
      }
    });

    test('a plan no executor claims: the CLI says it waits, once; Ctrl-C stops waiting', async () => {
      const io = captureIo({ HOME: home, ...credentials(cloud, 'developer') });
      const opened = await openCloudProject({ root: dir }, io);
      const plan = await computeCloudPlan(opened, 'waiting', { executionTime: '2020-01-10' });
      const abort = new AbortController();
      const watching = applyInCloud(opened, plan, io, {
        pollMs: 20,
        maxPollMs: 40,
        waitNoticeMs: 150,
        signal: abort.signal,
      });
      const deadline = Date.now() + 5_000;
      while (!io.outLines.some((l) => l.startsWith('Waiting for an apply executor'))) {
        assert.ok(Date.now() < deadline, io.outLines.join('\n'));
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 200));
      abort.abort();
      await watching;
      const notices = io.outLines.filter((l) => l.startsWith('Waiting for an apply executor'));
      assert.equal(notices.length, 1);
      assert.match(notices[0]!, new RegExp(`plan ${plan.id} is queued at ${cloud.projectUrl}`));
      assert.equal(io.exitCode, 130);
      assert.match(io.errLines.join('\n'), /Stopped waiting: plan \S+ keeps applying in the cloud/);
      // The plan is still queued in the cloud; cancel it so no executor takes it later.
      assert.equal((await cloud.api(`/plans/${plan.id}`)).body.status, 'pending');
      const cancelled = await cloud.api(`/plans/${plan.id}/cancel`, { method: 'POST' });
      assert.equal(cancelled.body.status, 'cancelled');
    });

    test('run: queues a run, then nothing is due; --wait follows a run to the end', async () => {
      clock.ms = JAN_10 + DAY;
      const first = await cli(admin, 'run');
      assert.equal(first.code, 0, first.err);
      const m = /^Run (\S+) queued in `prod`: 2 task\(s\)\.$/m.exec(first.out);
      assert.ok(m, first.out);
      assert.match(first.out, /^├── sqlmesh_example\.incremental_model: 2020-01-10 - 2020-01-10$/m);
      // The test cloud's cached tokens expired with the clock's day: a client renews its own.
      const stored = await state.client.get<{ run: { tasks: unknown[]; trigger: string } }>(
        `/runs/${m[1]!}`,
      );
      assert.equal(stored.run.tasks.length, 2);
      assert.equal(stored.run.trigger, 'manual');

      const again = await cli(admin, 'run');
      assert.equal(again.code, 0, again.err);
      assert.equal(again.out, 'Nothing to run in `prod`: no model is due.');

      clock.ms = JAN_10 + 2 * DAY;
      const executor = new Executor({
        kind: 'run',
        env: executorEnv,
        claimWaitMs: 2_000,
        log: (l) => executorLog.push(l),
      });
      const running = executor.run();
      try {
        const waited = await cli(admin, 'run', '--wait');
        assert.equal(waited.code, 0, `${waited.err}\n${executorLog.join('\n')}`);
        assert.match(waited.out, /^Run \S+ queued in `prod`: 2 task\(s\)\.$/m);
        assert.match(
          waited.out,
          /^\[\d\/2\] sqlmesh_example\.incremental_model 2020-01-11 - 2020-01-11: succeeded \(\d+\.\d\ds\)$/m,
        );
        assert.match(waited.out, /^Run finished: 2 task\(s\) succeeded\.$/m);
      } finally {
        executor.drain();
        await running;
      }
      const intervals = await state.getIntervals(
        (await state.getEnvironment('prod'))!.snapshots.filter((s) =>
          s.name.includes('incremental_model'),
        ),
      );
      assert.deepEqual(intervals[0]!.intervals, [[Date.UTC(2020, 0, 1), JAN_10 + 2 * DAY]]);
    });
  });
});
