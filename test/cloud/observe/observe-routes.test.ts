import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { physicalTableName } from '../../../src/engine/snapshot/table-naming.js';
import { storeTargets } from '../../helpers/stores.js';
import {
  DAY,
  EXTRA,
  FULL,
  INCREMENTAL,
  JAN_10,
  OTHER,
  SEED,
  observedCloud,
  type ObservedCloud,
} from './observe-fixture.js';

const targets = await storeTargets();
// Built at the top level: servers started inside a hook would stop when the hook ends.
const fixtures = new Map<(typeof targets)[number], ObservedCloud>();
for (const target of targets) fixtures.set(target, await observedCloud(target));

/** Every item of a paged list, following `nextBefore` (or `nextAfter`). */
async function allPages(
  o: ObservedCloud,
  path: string,
  key: string,
  cursorParam = 'before',
  cursorKey = 'nextBefore',
): Promise<unknown[]> {
  const out: unknown[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 100; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const url: string =
      cursor === null ? path : `${path}${sep}${cursorParam}=${encodeURIComponent(cursor)}`;
    const res = await o.cloud.api(url, { token: o.viewer });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    out.push(...(res.body[key] as unknown[]));
    cursor = res.body[cursorKey] as string | null;
    if (cursor === null) {
      assert.equal(res.body.truncated, false);
      return out;
    }
    assert.equal(res.body.truncated, true);
  }
  throw new Error('too many pages');
}

for (const target of targets) {
  describe(`observability API on ${target.kind}`, () => {
    const o = fixtures.get(target)!;
    const get = (path: string) => o.cloud.api(path, { token: o.viewer });

    it('lists environments with their plan, model count, finalization and pauses, paged by name', async () => {
      const res = await get('/environments');
      assert.equal(res.status, 200);
      const byName = new Map(res.body.environments.map((e: { name: string }) => [e.name, e]));
      assert.deepEqual([...byName.keys()], ['dev', 'prod']);
      const prod = byName.get('prod') as Record<string, unknown>;
      const dev = byName.get('dev') as Record<string, unknown>;
      assert.equal(prod['planId'], o.prodPlan.id);
      assert.equal(dev['planId'], o.devPlan.id);
      assert.equal(prod['modelCount'], 4);
      assert.equal(dev['modelCount'], 4);
      assert.equal(prod['expirationTs'], null);
      assert.equal(typeof dev['expirationTs'], 'number');
      assert.equal(typeof prod['finalizedTs'], 'number');
      assert.equal(prod['paused'], false);

      const first = await get('/environments?limit=1');
      assert.equal(first.body.truncated, true);
      assert.equal(first.body.environments[0].name, 'dev');
      const second = await get(`/environments?limit=1&after=${first.body.nextAfter}`);
      assert.deepEqual(
        second.body.environments.map((e: { name: string }) => e.name),
        ['prod'],
      );
      assert.equal(second.body.truncated, false);
    });

    it("shows an environment's snapshots and how each differs from prod", async () => {
      const dev = await get('/environments/dev');
      assert.equal(dev.status, 200);
      const env = dev.body.environment;
      const diff = Object.fromEntries(
        env.snapshots.map((s: { name: string; difference: string | null }) => [
          s.name,
          s.difference,
        ]),
      );
      assert.deepEqual(diff, {
        [SEED]: null,
        [INCREMENTAL]: 'metadata',
        [FULL]: 'directly_modified',
        [EXTRA]: 'added',
      });
      assert.deepEqual(
        env.removed.map((r: { name: string }) => r.name),
        [OTHER],
      );
      assert.deepEqual(env.differences, {
        directly_modified: 1,
        indirectly_modified: 0,
        metadata: 1,
        added: 1,
        removed: 1,
      });
      assert.equal(env.lastPlan.planId, o.devPlan.id);
      assert.equal(env.lastPlan.status, 'succeeded');
      assert.equal(env.startTs, o.devPlan.snapshots.length ? env.startTs : 0);
      const full = env.snapshots.find((s: { name: string }) => s.name === FULL);
      assert.equal(full.kind, 'FULL');
      assert.equal(full.displayName, 'sqlmesh_example.full_model');

      const prod = await get('/environments/prod');
      assert.ok(
        prod.body.environment.snapshots.every(
          (s: { difference: unknown }) => s.difference === null,
        ),
      );
      assert.equal((await get('/environments/nope')).status, 404);
    });

    it('shows a model: definition, query as written and rendered, lineage, versions, intervals, evaluations, audits', async () => {
      const res = await get(`/environments/prod/models/${encodeURIComponent(FULL)}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const m = res.body.model;
      assert.equal(m.definition.kind, 'FULL');
      assert.equal(m.definition.cron, '@daily');
      assert.deepEqual(m.definition.audits, ['assert_positive_order_ids']);
      assert.match(m.querySource, /COUNT\(DISTINCT id\)/);
      const inc = o.prodPlan.snapshots.find((s) => s.name === INCREMENTAL)!;
      const table = physicalTableName(INCREMENTAL, inc.version);
      assert.ok(
        m.renderedSql.includes(table.name.name),
        `rendered SQL reads the physical table: ${m.renderedSql}`,
      );
      assert.equal(m.renderError, null);
      assert.deepEqual(
        m.lineage.parents.map((p: { name: string }) => p.name),
        [INCREMENTAL],
      );
      assert.deepEqual(m.lineage.children, []);
      // Lineage up and down, through every step, nearest first.
      assert.deepEqual(
        m.lineage.ancestors.map((a: { name: string; depth: number }) => [a.name, a.depth]),
        [
          [INCREMENTAL, 1],
          [SEED, 2],
        ],
      );
      assert.equal(m.lineage.ancestors[1].displayName, 'sqlmesh_example.seed_model');
      assert.deepEqual(m.lineage.descendants, []);
      // Both stored versions, each with the plan that introduced it.
      const plans = new Map(
        m.versions.map((v: { planId: string; current: boolean }) => [v.planId, v.current]),
      );
      assert.equal(plans.get(o.prodPlan.id), true);
      assert.equal(plans.get(o.devPlan.id), false);
      assert.equal(m.versions.length, 2);
      assert.ok(m.evaluations.some((e: { status: string }) => e.status === 'failed'));
      assert.ok(m.evaluations.every((e: { model: string }) => e.model === FULL));
      assert.ok(
        m.audits.some(
          (a: { audit: string; passed: boolean }) =>
            a.audit === 'assert_positive_order_ids' && a.passed,
        ),
      );

      const dev = await get('/environments/dev/models/sqlmesh_example.full_model');
      assert.equal(dev.status, 200);
      assert.deepEqual(
        dev.body.model.lineage.children.map((c: { name: string }) => c.name),
        [EXTRA],
      );
      const seed = await get('/environments/dev/models/sqlmesh_example.seed_model');
      assert.deepEqual(seed.body.model.lineage.ancestors, []);
      assert.deepEqual(
        seed.body.model.lineage.descendants.map((d: { name: string; depth: number }) => [
          d.name,
          d.depth,
        ]),
        [
          [INCREMENTAL, 1],
          [FULL, 2],
          [EXTRA, 3],
        ],
      );
      assert.equal(
        dev.body.model.versions.find((v: { current: boolean }) => v.current).planId,
        o.devPlan.id,
      );

      const incremental = await get('/environments/prod/models/sqlmesh_example.incremental_model');
      assert.deepEqual(incremental.body.model.intervals, [[Date.UTC(2020, 0, 1), JAN_10 + DAY]]);
      assert.equal((await get('/environments/prod/models/sqlmesh_example.nope')).status, 404);
    });

    it('lists plans newest first with status, author and backfill range, filtered and paged', async () => {
      const res = await get('/plans');
      assert.equal(res.status, 200);
      assert.deepEqual(
        res.body.plans.map((p: { planId: string }) => p.planId),
        [o.devPlan.id, o.prodPlan.id],
      );
      const prod = res.body.plans[1];
      assert.equal(prod.status, 'succeeded');
      assert.equal(prod.environment, 'prod');
      assert.ok(prod.backfill && prod.backfill.start < prod.backfill.end);
      assert.equal(typeof prod.durationMs, 'number');
      const onlyProd = await get('/plans?environment=prod');
      assert.deepEqual(
        onlyProd.body.plans.map((p: { planId: string }) => p.planId),
        [o.prodPlan.id],
      );
      assert.deepEqual((await get('/plans?status=failed')).body.plans, []);
      const paged = await allPages(o, '/plans?limit=1', 'plans');
      assert.deepEqual(
        paged.map((p) => (p as { planId: string }).planId),
        [o.devPlan.id, o.prodPlan.id],
      );
    });

    it("serves a plan's changes, evaluations, logs and audits", async () => {
      const changes = await get(`/plans/${o.devPlan.id}/changes`);
      assert.equal(changes.status, 200);
      const types = Object.fromEntries(
        changes.body.changes.map((c: { name: string; type: string }) => [c.name, c.type]),
      );
      assert.equal(types[FULL], 'directly_modified');
      assert.equal(types[OTHER], 'removed');
      assert.deepEqual(changes.body.removed, [OTHER]);

      const evaluations = await allPages(
        o,
        `/plans/${o.prodPlan.id}/evaluations?limit=3`,
        'evaluations',
      );
      const batches = o.prodPlan.backfill.reduce((n, b) => n + b.batches.length, 0);
      assert.equal(evaluations.length, batches);
      assert.ok(evaluations.every((e) => (e as { planId: string }).planId === o.prodPlan.id));

      const all = await get(`/plans/${o.prodPlan.id}/logs?limit=500`);
      assert.ok(all.body.logs.some((l: { level: string }) => l.level === 'debug'));
      const info = await get(`/plans/${o.prodPlan.id}/logs?level=info`);
      assert.ok(info.body.logs.length > 0);
      assert.ok(info.body.logs.every((l: { level: string }) => l.level !== 'debug'));
      const firstPage = await get(`/plans/${o.prodPlan.id}/logs?limit=1`);
      assert.equal(firstPage.body.truncated, true);
      assert.equal(firstPage.body.logs[0].id, all.body.logs[all.body.logs.length - 1].id);
      const paged = await allPages(o, `/plans/${o.prodPlan.id}/logs?limit=2`, 'logs');
      assert.deepEqual(
        new Set(paged.map((l) => (l as { id: number }).id)),
        new Set(all.body.logs.map((l: { id: number }) => l.id)),
      );
      assert.equal(all.body.retention.olderRemoved, false);

      const audits = await get(`/plans/${o.prodPlan.id}/audits`);
      assert.ok(audits.body.audits.length > 0);
      assert.equal((await get('/plans/no-such-plan/evaluations')).status, 404);
    });

    it("serves a run's evaluations and logs, and its previous and next run", async () => {
      const evaluations = await get(`/runs/${o.runId}/evaluations`);
      assert.equal(evaluations.status, 200);
      const status = Object.fromEntries(
        evaluations.body.evaluations.map((e: { model: string; status: string }) => [
          e.model,
          e.status,
        ]),
      );
      // The dev run may take the shared incremental table's work; the rest is this run's.
      const run = await get(`/runs/${o.runId}`);
      const ran = run.body.run.tasks
        .filter((t: { status: string }) => t.status !== 'cancelled')
        .map((t: { model: string }) => t.model)
        .sort();
      assert.deepEqual(Object.keys(status).sort(), ran);
      assert.equal(status[FULL], 'failed');
      assert.equal(status[OTHER], 'succeeded');
      const failed = await get(`/runs/${o.runId}/evaluations?status=failed`);
      assert.deepEqual(
        failed.body.evaluations.map((e: { model: string }) => e.model),
        [FULL],
      );
      const logs = await get(`/runs/${o.runId}/logs?level=error`);
      assert.deepEqual(
        logs.body.logs.map((l: { message: string }) => l.message),
        ['Binder Error: column "nope" not found'],
      );
      const v1 = await get(`/v1/runs/${o.runId}/evaluations`);
      assert.deepEqual(v1.body.evaluations, evaluations.body.evaluations);

      const alone = await get(`/runs/${o.runId}/adjacent`);
      assert.deepEqual([alone.body.previous, alone.body.next], [null, null]);
      o.clock.t += 3_600_000;
      const manual = await o.cloud.api('/runs', {
        body: { environment: 'prod', ignoreCron: true },
      });
      assert.equal(manual.status, 201, JSON.stringify(manual.body));
      const first = await get(`/runs/${o.runId}/adjacent`);
      assert.equal(first.body.next.id, manual.body.run.id);
      assert.equal(first.body.previous, null);
      const second = await get(`/runs/${manual.body.run.id}/adjacent`);
      assert.equal(second.body.previous.id, o.runId);
      assert.equal(second.body.next, null);
      assert.equal((await get('/runs/nope/logs')).status, 404);
    });

    it('filters evaluations by model (any spelling), environment, status and run; pages without gaps', async () => {
      const all = await allPages(o, '/evaluations?limit=500', 'evaluations');
      const paged = await allPages(o, '/evaluations?limit=4', 'evaluations');
      assert.deepEqual(paged, all);
      const full = (await get('/evaluations?model=sqlmesh_example.full_model&limit=500')).body
        .evaluations;
      assert.equal(full.length, all.filter((e) => (e as { model: string }).model === FULL).length);
      assert.ok(full.length >= 3);
      const dev = (await get('/evaluations?environment=dev&limit=500')).body.evaluations;
      assert.ok(
        dev.length > 0 && dev.every((e: { environment: string }) => e.environment === 'dev'),
      );
      const failed = (await get('/evaluations?status=failed')).body.evaluations;
      assert.ok(failed.length >= 1);
      assert.ok(failed.every((e: { model: string; status: string }) => e.model === FULL));
      const byRun = (await get(`/v1/evaluations?run=${o.runId}`)).body.evaluations;
      assert.deepEqual(
        byRun,
        all.filter((e) => (e as { runId: string }).runId === o.runId),
      );
      assert.ok(byRun.length >= 2);
    });

    it('lists log lines by task, run and plan, saying when the list is incomplete', async () => {
      const all = await get('/logs?limit=500');
      assert.equal(all.body.truncated, false);
      const runLogs = await get(`/logs?run=${o.runId}`);
      assert.ok(runLogs.body.logs.length >= 3);
      assert.ok(runLogs.body.logs.every((l: { runId: string }) => l.runId === o.runId));
      const task = runLogs.body.logs[0].taskId as string;
      const byTask = await get(`/logs?task=${task}`);
      assert.ok(byTask.body.logs.every((l: { taskId: string }) => l.taskId === task));
      const one = await get(`/logs?limit=1`);
      assert.equal(one.body.truncated, true);
      assert.equal(one.body.nextBefore, one.body.logs[0].id);
      assert.equal(one.body.retention.removedBeforeTs, null);
      const ids = all.body.logs.map((l: { id: number }) => l.id);
      assert.deepEqual(
        ids,
        [...ids].sort((a: number, b: number) => a - b),
      );
    });

    it('assembles recent activity from plans, runs, pauses and client changes', async () => {
      const pause = await o.cloud.api('/environments/dev/pause', { body: { reason: 'testing' } });
      assert.equal(pause.status, 201, JSON.stringify(pause.body));
      // Read at once: the activity waits for the events log to store the pause.
      const res = await get('/activity?limit=500');
      const types = res.body.activity.map((a: { type: string }) => a.type);
      for (const t of ['plan', 'run', 'pause', 'client.created'])
        assert.ok(types.includes(t), `${t} in ${types}`);
      const ts = res.body.activity.map((a: { ts: number }) => a.ts);
      assert.deepEqual(
        ts,
        [...ts].sort((a: number, b: number) => b - a),
      );
      const paged = await allPages(o, '/activity?limit=2', 'activity');
      assert.deepEqual(paged, res.body.activity);
      const plans = (await get('/activity?type=plan')).body.activity;
      assert.deepEqual(
        plans.map((a: { id: string }) => a.id),
        [o.devPlan.id, o.prodPlan.id],
      );
      const dev = (await get('/activity?environment=dev')).body.activity;
      assert.ok(
        dev.length > 0 && dev.every((a: { environment: string }) => a.environment === 'dev'),
      );
      const envs = await get('/environments');
      assert.equal(
        envs.body.environments.find((e: { name: string }) => e.name === 'dev').paused,
        true,
      );
    });

    it('summarizes prod on the home page: freshness counts, last run and plan, 14 days of bars', async () => {
      const home = await get('/home');
      assert.equal(home.status, 200);
      const fresh = await get('/environments/prod/freshness');
      const counts: Record<string, number> = { complete: 0, pending: 0, behind: 0, late: 0 };
      for (const m of fresh.body.models) counts[m.state] = (counts[m.state] ?? 0) + 1;
      for (const state of Object.keys(counts))
        assert.equal(home.body.freshness[state], counts[state]);
      assert.equal(home.body.freshness.total, fresh.body.models.length);
      assert.ok(home.body.freshness.total >= 3);
      assert.equal(home.body.lastPlan.planId, o.prodPlan.id);
      const runs = await get('/v1/runs?environment=prod');
      assert.equal(home.body.lastRun.id, runs.body.runs[0].id);
      const ids = home.body.chart.items.map((i: { id: string }) => i.id);
      assert.ok(ids.includes(o.prodPlan.id) && ids.includes(o.runId));
      assert.ok(!ids.includes(o.devPlan.id));
      assert.equal(home.body.chart.since, o.clock.now() - 14 * DAY);
    });

    it('serves the DAG of an environment for orchestrators', async () => {
      const dag = await get('/v1/dags/prod');
      assert.equal(dag.status, 200);
      assert.deepEqual(
        new Set(dag.body.models.map((m: { name: string }) => m.name)),
        new Set([SEED, INCREMENTAL, FULL, OTHER]),
      );
      assert.deepEqual(
        dag.body.edges.map((e: { from: string; to: string }) => `${e.from}>${e.to}`).sort(),
        [`${INCREMENTAL}>${FULL}`, `${SEED}>${INCREMENTAL}`].sort(),
      );
      const runs = await get('/v1/runs?status=failed');
      assert.ok(runs.body.runs.some((r: { id: string }) => r.id === o.runId));
      assert.equal((await get('/v1/dags/nope')).status, 404);
    });
  });
}
