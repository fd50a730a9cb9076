/**
 * Executors that cannot work: one whose warehouse is down (`--check` says so
 * and exits 1; its tasks fail with the engine's message and are retried as
 * the cloud is configured to), and one speaking a protocol version the cloud
 * does not accept (refused on both sides). `TCLOUD_PROTOCOL_VERSION` makes an
 * executor announce another version; it exists for this test only.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createLogger } from '../../src/cloud/logger.js';
import { ALL_ROUTES } from '../../src/cloud/routes.js';
import { tick } from '../../src/cloud/scheduler/scheduler.js';
import { startCloudServer } from '../../src/cloud/server.js';
import { bootstrap, createClient } from '../../src/cloud/tenancy.js';
import { Executor } from '../../src/executor/runtime.js';
import { startTestCloud } from '../helpers/cloud.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { storeTargets } from '../helpers/stores.js';
import { cloudClient, DAY, freePort, runCli, submitPlan } from './hybrid-fixtures.js';
import { PROTOCOL_VERSION } from '../../src/protocol/version.js';

const targets = await storeTargets();
const sqlite = targets.find((t) => t.kind === 'sqlite')!;
const JAN_4 = Date.UTC(2020, 0, 4);

function writePgProject(dir: string, database: string, user: string): void {
  mkdirSync(join(dir, 'models'), { recursive: true });
  writeFileSync(
    join(dir, 'config.yaml'),
    [
      'gateways:',
      '  gateway_a:',
      '    connection:',
      '      type: postgres',
      '      host: 127.0.0.1',
      `      database: ${database}`,
      `      user: ${user}`,
      'default_gateway: gateway_a',
      'model_defaults:',
      '  dialect: postgres',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'models', 'daily.sql'),
    [
      'MODEL (',
      '  name demo.daily,',
      '  kind INCREMENTAL_BY_TIME_RANGE (time_column day),',
      "  start '2020-01-01',",
      "  cron '@daily'",
      ');',
      'SELECT CAST(@start_ds AS DATE) AS day, 1 AS n',
      '',
    ].join('\n'),
  );
}

describe('executors that cannot work', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideline-refusals-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(
    'a warehouse that is down: --check fails naming the gateway; tasks fail and are retried',
    { timeout: 60_000 },
    async () => {
      let now = JAN_4;
      const cloud = await startTestCloud(sqlite, {
        routes: ALL_ROUTES,
        clock: { now: () => now },
        settings: { maxAttempts: 2, retryBackoffMs: 1_000 },
      });
      const warehouse = await createTestDatabase();
      after(() => warehouse.drop());
      const project = join(dir, 'pg-project');
      writePgProject(project, warehouse.name, warehouse.config.user);
      const up = {
        TCLOUD_URL: cloud.projectUrl,
        TCLOUD_CLIENT_ID: cloud.clients.executor.clientId,
        TCLOUD_CLIENT_SECRET: cloud.clients.executor.clientSecret,
        SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__TYPE: 'postgres',
        SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__HOST: warehouse.config.host,
        SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__PORT: String(warehouse.config.port),
        SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__DATABASE: warehouse.name,
        SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__USER: warehouse.config.user,
        SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__PASSWORD: warehouse.config.password ?? '',
        SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__CONNECT_TIMEOUT: '3',
      };
      const healthy = await runCli(['executor', 'run', '--check'], up);
      assert.equal(healthy.code, 0, healthy.stdout.join('\n'));
      // Nothing listens on this port: the warehouse is down.
      const down = {
        ...up,
        SQLMESH__GATEWAYS__GATEWAY_A__CONNECTION__PORT: String(await freePort()),
      };
      const check = await runCli(['executor', 'run', '--check'], down);
      assert.equal(check.code, 1);
      assert.equal(check.stdout.length, 5, check.stdout.join('\n'));
      for (const line of check.stdout) assert.match(line, /^(ok {2}|FAIL) [a-z]/);
      const failing = check.stdout.filter((l) => l.startsWith('FAIL'));
      assert.equal(failing.length, 1, check.stdout.join('\n'));
      assert.match(failing[0]!, /^FAIL gateway gateway_a \(postgres\): /);

      // Prod applied while the warehouse was up; the next run finds it down.
      const admin = cloudClient(cloud.projectUrl, cloud.clients.admin);
      await submitPlan(admin, project, now);
      const apply = new Executor({
        kind: 'apply',
        env: up,
        once: true,
        claimWaitMs: 2_000,
        log: () => undefined,
      });
      await apply.run();
      assert.equal(apply.stats.completed, 1);
      now += DAY;
      const ticked = await tick(cloud.server.ctx, now);
      const runId = ticked.created[0]!.runId;
      const lines: string[] = [];
      for (let attempt = 1; attempt <= 2; attempt++) {
        if (attempt === 2) now += 2_000; // past the retry backoff
        const run = new Executor({
          kind: 'run',
          env: down,
          once: true,
          claimWaitMs: 3_000,
          log: (l) => lines.push(l),
        });
        await run.run();
        assert.equal(run.stats.failed, 1, lines.join('\n'));
      }
      const task = await cloud.server.ctx.store.db
        .selectFrom('tasks')
        .select(['status', 'attempts', 'max_attempts', 'error'])
        .where('run_id', '=', runId)
        .executeTakeFirstOrThrow();
      assert.equal(task.status, 'failed');
      assert.equal(Number(task.attempts), 2);
      assert.equal(Number(task.max_attempts), 2);
      assert.match(task.error ?? '', /ECONNREFUSED|connect|refused/i);
      // Each attempt reported the engine's message in the task's log.
      const logged = await cloud.server.ctx.store.db
        .selectFrom('logs')
        .select(['level', 'message'])
        .where('run_id', '=', runId)
        .where('level', '=', 'error')
        .execute();
      assert.deepEqual(
        logged.map((l) => l.message),
        [task.error, task.error],
      );
    },
  );

  it('an incompatible protocol version is refused on both sides', { timeout: 30_000 }, async () => {
    const logLines: string[] = [];
    const server = await startCloudServer({
      state: await sqlite.newUrl(),
      log: createLogger({ level: 'debug', write: (l) => logLines.push(l) }),
      settings: { secureCookies: false },
      routes: ALL_ROUTES,
    });
    after(() => server.close());
    const { project } = await bootstrap(server.ctx, 'acme', 'analytics');
    const client = await createClient(server.ctx, project.id, { name: 'x', role: 'executor' });
    const env = {
      TCLOUD_URL: `${server.url}/sqlmesh/acme/analytics`,
      TCLOUD_CLIENT_ID: client.clientId,
      TCLOUD_CLIENT_SECRET: client.clientSecret,
      TCLOUD_PROTOCOL_VERSION: '2.0',
      SQLMESH__GATEWAYS__DUCKDB__CONNECTION__TYPE: 'duckdb',
      SQLMESH__GATEWAYS__DUCKDB__CONNECTION__DATABASE: join(dir, 'proto.db'),
    };
    const result = await runCli(['executor', 'run'], env);
    assert.equal(result.code, 1);
    const errors = result.stderr.filter((l) => l.startsWith('Error:'));
    assert.equal(errors.length, 1, result.stderr.join('\n'));
    const cloudVersion = `${PROTOCOL_VERSION.major}\\.${PROTOCOL_VERSION.minor}`;
    assert.match(
      errors[0]!,
      new RegExp(`protocol 2\\.0 does not work with this cloud's protocol ${cloudVersion}`),
    );
    assert.match(errors[0]!, /upgrade the cloud/);
    // --check says the same, in its protocol line.
    const check = await runCli(['executor', 'run', '--check'], env);
    assert.equal(check.code, 1);
    assert.ok(check.stdout.some((l) => /^FAIL protocol compatible: executor speaks 2\.0/.test(l)));
    // The cloud logged the refusal.
    const refusal = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find(
        (l) =>
          l['path'] === '/sqlmesh/acme/analytics/api/executors/register' && l['status'] === 409,
      );
    assert.ok(refusal, logLines.join('\n'));
    const warned = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l['level'] === 'warn' && /incompatible protocol/.test(String(l['msg'])));
    assert.ok(warned, 'the cloud logs the refusal with its reason');
    assert.match(String(warned['reason']), /2\.0/);
  });
});
