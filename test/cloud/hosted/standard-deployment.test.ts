/**
 * The standard deployment end to end, on both stores: a cloud running its
 * own executors (the supervisor in process, the executors as real child
 * processes of the CLI) with a stored DuckDB connection applies a plan
 * submitted through POST /plans. The executors register with hosting
 * `cloud`; a killed one is restarted; changed connections restart them all;
 * stopping the cloud stops them and revokes the cloud's own client.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createConnectionRoutes } from '../../../src/cloud/connections/connection-routes.js';
import { MASTER_KEY_ENV, decodeMasterKey } from '../../../src/cloud/connections/master-key.js';
import { HOSTED_CLIENT_NAME, HostedExecutors } from '../../../src/cloud/hosted/hosted-executors.js';
import { ALL_ROUTES } from '../../../src/cloud/routes.js';
import { createAdapter } from '../../../src/engine/adapters/adapter-factory.js';
import { buildPlan } from '../../../src/engine/plan/plan-builder.js';
import { loadProject } from '../../../src/engine/project/project-loader.js';
import { buildSnapshots } from '../../../src/engine/snapshot/snapshot-builder.js';
import { writeStarterProject } from '../../../src/engine/starter/starter-project.js';
import { CloudClient } from '../../../src/executor/client/cloud-client.js';
import { HttpStateSync } from '../../../src/executor/client/http-state-sync.js';
import type { ExecutorInfo } from '../../../src/protocol/messages.js';
import { startTestCloud } from '../../helpers/cloud.js';
import { storeTargets } from '../../helpers/stores.js';

const targets = await storeTargets();
const JAN_10 = Date.UTC(2020, 0, 10);

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  ms = 30_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
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

for (const target of targets) {
  describe(`the standard deployment on ${target.kind}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tideline-hosted-'));
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('applies a submitted plan with cloud-hosted executors, restarting them as needed', async () => {
      const now = JAN_10;
      const key = decodeMasterKey(MASTER_KEY_ENV, randomBytes(32).toString('base64'));
      const hosted = new HostedExecutors({
        masterKey: key,
        runExecutors: 1,
        applyExecutors: 1,
        graceMs: 10_000,
        restartDelayMs: 100,
        pollMs: 500,
        dataDir: dir,
      });
      const routes = ALL_ROUTES.map((m) =>
        m.name === 'connections' ? createConnectionRoutes({ masterKey: key, dataDir: dir }) : m,
      );
      const cloud = await startTestCloud(target, {
        clock: { now: () => now },
        routes,
        services: [hosted],
      });
      hosted.listening(cloud.server.url);
      const project = join(dir, 'project');
      writeStarterProject(project, 'duckdb');
      // The gateway and file named as in the starter project, so the catalog (`db`) matches.
      const warehouse = join(dir, 'db.db');
      const saved = await cloud.api('/connections/duckdb', {
        method: 'PUT',
        body: `type: duckdb\ndatabase: ${JSON.stringify(warehouse)}\n`,
        headers: { 'content-type': 'application/yaml' },
      });
      assert.equal(saved.status, 201, JSON.stringify(saved.body));

      const listExecutors = async () =>
        ((await cloud.api('/executors')).body as { executors: ExecutorInfo[] }).executors;
      const registered = await until('both executors to register', async () => {
        const online = (await listExecutors()).filter((e) => e.status === 'online');
        return online.length >= 2 ? online : undefined;
      });
      assert.deepEqual(registered.map((e) => [e.name, e.kind, e.hosting]).sort(), [
        ['cloud-apply-1', 'apply', 'cloud'],
        ['cloud-run-1', 'run', 'cloud'],
      ]);
      assert.deepEqual(registered[0]!.gateways, [{ name: 'duckdb', type: 'duckdb' }]);
      const clients = await cloud.server.ctx.store.db
        .selectFrom('oauth_clients')
        .selectAll()
        .where('name', '=', HOSTED_CLIENT_NAME)
        .execute();
      assert.equal(clients.length, 1);
      assert.equal(clients[0]!.role, 'executor');
      assert.equal(clients[0]!.revoked_ts, null);

      // The CLI's part: plan against the cloud's state, then submit.
      const loaded = await loadProject(project, { env: {}, now });
      const admin = new CloudClient({
        url: cloud.projectUrl,
        clientId: cloud.clients.admin.clientId,
        clientSecret: cloud.clients.admin.clientSecret,
        clock: () => now,
      });
      const plan = await buildPlan({
        environment: 'prod',
        snapshots: buildSnapshots(loaded, { now }),
        state: new HttpStateSync(admin),
        now,
      });
      const submitted = await admin.request<{ planId: string }>('POST', '/plans', {
        body: { plan },
      });
      assert.equal(submitted.planId, plan.id);
      const finished = await until('the plan to finish', async () => {
        const info = await admin.request<{ status: string; error?: string }>(
          'GET',
          `/plans/${plan.id}`,
        );
        return ['succeeded', 'failed', 'cancelled'].includes(info.status) ? info : undefined;
      });
      assert.equal(finished.status, 'succeeded', JSON.stringify(finished));
      // The registry counts the completion as the task's bookkeeping ends.
      const applier = await until('the apply executor to count its task', async () => {
        const e = (await listExecutors()).find((x) => x.name === 'cloud-apply-1');
        return e && e.completed > 0 ? e : undefined;
      });
      assert.equal(applier.hosting, 'cloud');
      assert.equal(applier.completed, 1);

      // A child that dies is started again.
      const first = hosted.children();
      const runChild = first.find((c) => c.kind === 'run')!;
      process.kill(runChild.pid!, 'SIGKILL');
      const restarted = await until('the killed executor to restart', async () => {
        const c = hosted.children().find((x) => x.name === runChild.name);
        return c && c.pid !== undefined && c.pid !== runChild.pid ? c : undefined;
      });
      assert.equal(restarted.restarts, 1);
      const applyPid = first.find((c) => c.kind === 'apply')!.pid!;
      assert.equal(hosted.children().find((c) => c.kind === 'apply')!.pid, applyPid);

      // Changed connections restart every child of the project, gracefully. (The
      // apply executor holds the first file open, and DuckDB admits one process
      // per file, so the new connection, which is tested first, names another.)
      mkdirSync(join(dir, 'next'));
      const resaved = await cloud.api('/connections/duckdb', {
        method: 'PUT',
        body: `type: duckdb\ndatabase: ${JSON.stringify(join(dir, 'next', 'db.db'))}\n`,
        headers: { 'content-type': 'application/yaml' },
      });
      assert.equal(resaved.status, 200, JSON.stringify(resaved.body));
      const renewed = await until('the executors to restart with the new connection', async () => {
        const now2 = hosted.children();
        return now2.length === 2 &&
          now2.every((c) => c.pid !== undefined && c.pid !== applyPid && c.pid !== restarted.pid)
          ? now2
          : undefined;
      });
      assert.ok(!alive(applyPid), 'the old apply executor has exited');

      // Stopping the cloud stops the children and revokes its client.
      await cloud.server.close();
      for (const c of renewed) assert.ok(!alive(c.pid!), `${c.name} stopped`);
      assert.deepEqual(hosted.children(), []);

      const db = createAdapter(
        {
          type: 'duckdb',
          database: warehouse,
          catalogs: {},
          extensions: [],
          connectorConfig: {},
          concurrentTasks: 1,
        },
        { projectRoot: dir },
      );
      try {
        const rows = await db.query('SELECT COUNT(*) AS n FROM sqlmesh_example.full_model');
        assert.equal(Number(rows.rows[0]!.n), 3);
      } finally {
        await db.close();
      }
    });
  });
}
