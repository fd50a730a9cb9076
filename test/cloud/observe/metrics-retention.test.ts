import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogRetention, pruneLogs } from '../../../src/cloud/observe/log-retention.js';
import { createObserveRoutes } from '../../../src/cloud/observe/observe-routes.js';
import { enqueueTasks } from '../../../src/cloud/queue/task-queue.js';
import { QUEUE_ROUTES, runTask, TestClock } from '../queue/queue-helpers.js';
import { startTestCloud } from '../../helpers/cloud.js';
import { storeTargets } from '../../helpers/stores.js';

const targets = await storeTargets();
const DAY = 86_400_000;

/** `name{labels} value` lines of an exposition, keyed by `name{labels}`. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-z_]+(?:\{[^}]*\})?) (-?[0-9.e+-]+|NaN|\+Inf)$/.exec(line);
    assert.ok(match, `not a sample line: ${JSON.stringify(line)}`);
    out.set(match[1]!, Number(match[2]));
  }
  return out;
}

for (const target of targets) {
  describe(`metrics and log retention on ${target.kind}`, () => {
    it('serves Prometheus text at the root without auth: requests, durations, tasks, executors, runs, plans', async () => {
      const observed = await startTestCloud(target, {
        routes: [...QUEUE_ROUTES, createObserveRoutes()],
        org: 'metrics-org',
        project: 'secret-project-name',
      });
      const ctx = observed.server.ctx;
      await enqueueTasks(ctx, observed.projectId, [
        runTask('"db"."s"."a"'),
        runTask('"db"."s"."b"'),
      ]);
      await observed.api('/executors', { token: null }); // 401
      await observed.api('/nope'); // 404
      const res = await fetch(`${observed.server.url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      assert.ok(!text.includes('secret-project-name') && !text.includes('metrics-org'));
      assert.ok(!text.includes(observed.clients.admin.clientId));
      const s = samples(text);
      assert.ok((s.get('tideline_http_requests_total{method="GET",status="4xx"}') ?? 0) >= 2);
      assert.ok((s.get('tideline_http_requests_total{method="POST",status="2xx"}') ?? 0) >= 1);
      assert.equal(s.get('tideline_tasks{queue="run",status="pending"}'), 2);
      assert.equal(s.get('tideline_tasks{queue="apply",status="pending"}'), 0);
      assert.equal(s.get('tideline_executors_online{kind="run"}'), 0);
      assert.equal(s.get('tideline_runs{status="running"}'), 0);
      assert.equal(s.get('tideline_plans{status="pending"}'), 0);
      const count = s.get('tideline_http_request_duration_seconds_count')!;
      assert.equal(s.get('tideline_http_request_duration_seconds_bucket{le="+Inf"}'), count);
      assert.ok(count >= 3);
      // Buckets never decrease.
      const buckets = [...s].filter(([k]) =>
        k.startsWith('tideline_http_request_duration_seconds_bucket'),
      );
      for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]![1] >= buckets[i - 1]![1]);

      const executorId = await (async () => {
        const token = await observed.token(observed.clients.executor);
        const r = await observed.api('/executors/register', {
          token,
          body: { name: 'r', kind: 'run', version: '0.1.0', protocolVersion: '1.0', gateways: [] },
        });
        return r.body.executorId as string;
      })();
      assert.ok(executorId);
      const after = samples(await (await fetch(`${observed.server.url}/metrics`)).text());
      assert.equal(after.get('tideline_executors_online{kind="run"}'), 1);
      assert.ok(
        after.get('tideline_http_requests_total{method="GET",status="2xx"}')! >
          (s.get('tideline_http_requests_total{method="GET",status="2xx"}') ?? 0),
      );
    });

    it('removes log lines older than the retention period and says so in log lists', async () => {
      const clock = new TestClock(Date.UTC(2024, 0, 1));
      const observed = await startTestCloud(target, {
        clock,
        routes: [...QUEUE_ROUTES, createObserveRoutes()],
        settings: { logRetentionMs: 7 * DAY, accessTokenTtlMs: 30 * DAY, leaseTtlMs: 30 * DAY },
      });
      const ctx = observed.server.ctx;
      const [taskId] = await enqueueTasks(ctx, observed.projectId, [runTask('"db"."s"."a"')]);
      const token = await observed.token(observed.clients.executor);
      const reg = await observed.api('/executors/register', {
        token,
        body: { name: 'r', kind: 'run', version: '0.1.0', protocolVersion: '1.0', gateways: [] },
      });
      const claim = await observed.api('/tasks/claim', {
        token,
        body: { executorId: reg.body.executorId, waitMs: 0 },
      });
      assert.equal(claim.status, 200);
      const lease = {
        leaseId: claim.body.lease.leaseId,
        fencingToken: claim.body.lease.fencingToken,
      };
      const report = async (message: string) => {
        const r = await observed.api(`/tasks/${taskId}/progress`, {
          token,
          body: { ...lease, logs: [{ level: 'info', message, ts: clock.now() }] },
        });
        assert.equal(r.status, 200);
        const hb = await observed.api(`/tasks/${taskId}/heartbeat`, { token, body: lease });
        assert.equal(hb.status, 200, JSON.stringify(hb.body));
      };
      await report('old line');
      clock.advance(6 * DAY);
      await report('recent line');
      clock.advance(2 * DAY);

      const before = await observed.api(`/logs?task=${taskId}`);
      assert.deepEqual(
        before.body.logs.map((l: { message: string }) => l.message),
        ['old line', 'recent line'],
      );
      assert.equal(before.body.retention.olderRemoved, false);

      // The service's first pass runs at start, with the injected clock.
      const service = createLogRetention({ intervalMs: 3_600_000 });
      service.start(ctx);
      await service.stop();
      const afterPass = await observed.api(`/logs?task=${taskId}`);
      assert.deepEqual(
        afterPass.body.logs.map((l: { message: string }) => l.message),
        ['recent line'],
      );
      assert.equal(afterPass.body.retention.olderRemoved, true);
      assert.equal(afterPass.body.retention.removedBeforeTs, clock.now() - 7 * DAY);
      assert.equal(afterPass.body.retention.keptSinceTs, clock.now() - 7 * DAY);

      // Nothing more is old: a second pass removes nothing.
      const again = await pruneLogs(ctx);
      assert.equal(again.deleted, 0);
      clock.advance(7 * DAY);
      assert.equal((await pruneLogs(ctx)).deleted, 1);
    });
  });
}
