/**
 * What every StateSync kept by the cloud must do, whichever way it is reached
 * (directly on the store, or over HTTP): the warehouse implementation's
 * behaviour, checked with the same fixtures.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type {
  PlanRecord,
  Snapshot,
  SnapshotId,
} from '../../../src/engine/snapshot/snapshot-types.js';
import {
  StaleStateError,
  snapshotKey,
  versionKey,
  type StateSync,
} from '../../../src/engine/state/state-sync.js';
import { makeEnvironment, makePlan, makeSnapshot } from '../../engine/state/state-fixtures.js';

const DAY = 86_400_000;

export interface ContractTarget {
  /** A StateSync over empty state (a project of its own). */
  fresh(): Promise<StateSync>;
  /** Another StateSync over the same state with its own connection, for races. */
  other(state: StateSync): Promise<StateSync>;
  /**
   * How many snapshots the bulk test pushes and reads back.
   */
  bulk: number;
  /**
   * Intervals may be recorded for a snapshot that is not stored (the store's
   * own StateSync, as the warehouse's); the HTTP API refuses them.
   */
  looseIntervals: boolean;
}

export function stateSyncContract(target: ContractTarget): void {
  test('snapshots are pushed, read, checked and deleted', async () => {
    const state = await target.fresh();
    const a = makeSnapshot('"db"."sushi"."orders"', 'aaa', 'va');
    const b = makeSnapshot('"db"."sushi"."items"', 'bbb', 'vb', { devVersion: 'dvb' });
    const c = makeSnapshot('"db"."sushi"."orders"', 'ccc', 'va');
    await state.pushSnapshots([a, b, c]);
    const missing: SnapshotId = { name: '"db"."sushi"."orders"', identifier: 'zzz' };

    const got = await state.getSnapshots([a, b, c, missing]);
    assert.equal(got.size, 3);
    assert.deepEqual(got.get(snapshotKey(a)), a);
    assert.deepEqual(got.get(snapshotKey(b)), b);
    assert.deepEqual(got.get(snapshotKey(c)), c);
    assert.deepEqual(
      await state.snapshotsExist([a, missing, c]),
      new Set([snapshotKey(a), snapshotKey(c)]),
    );

    await state.deleteSnapshots([a]);
    assert.deepEqual(
      await state.snapshotsExist([a, b, c]),
      new Set([snapshotKey(b), snapshotKey(c)]),
    );
    assert.equal((await state.getSnapshots([a])).size, 0);
    assert.deepEqual(await state.getSnapshots([]), new Map());
  });

  test('snapshot summaries list every stored snapshot with its kind and ttl', async () => {
    const state = await target.fresh();
    assert.deepEqual(await state.listSnapshotSummaries(), []);
    const a = makeSnapshot('"db"."s"."b"', 'b1', 'v1', { ttl: 'in 3 days' });
    const b = makeSnapshot('"db"."s"."a"', 'a1', 'v2');
    await state.pushSnapshots([a, b]);
    const summaries = await state.listSnapshotSummaries();
    assert.deepEqual(
      summaries.map((s) => [s.name, s.identifier, s.version, s.kind, s.ttl]),
      [
        [b.name, 'a1', 'v2', 'INCREMENTAL_BY_TIME_RANGE', 'in 1 week'],
        [a.name, 'b1', 'v1', 'INCREMENTAL_BY_TIME_RANGE', 'in 3 days'],
      ],
    );
    for (const s of summaries) assert.ok(Number.isSafeInteger(s.updatedTs) && s.updatedTs > 0);
    await state.deleteSnapshots([a]);
    assert.deepEqual(
      (await state.listSnapshotSummaries()).map((s) => s.identifier),
      ['a1'],
    );
  });

  test('pushing a snapshot that is already stored is refused and stores nothing', async () => {
    const state = await target.fresh();
    const a = makeSnapshot('"db"."s"."a"', 'a1', 'v1');
    const b = makeSnapshot('"db"."s"."b"', 'b1', 'v2');
    await state.pushSnapshots([a]);
    await assert.rejects(state.pushSnapshots([b, { ...a, ttl: 'in 2 weeks' }]), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(err.message, /already in state/);
      assert.ok(!err.message.includes('\n'));
      return true;
    });
    assert.deepEqual(await state.snapshotsExist([a, b]), new Set([snapshotKey(a)]));
    assert.equal((await state.getSnapshots([a])).get(snapshotKey(a))?.ttl, a.ttl);
    await assert.rejects(state.pushSnapshots([b, b]), /listed twice/);
    assert.equal((await state.snapshotsExist([b])).size, 0);
  });

  test('of two concurrent pushes of the same snapshot, exactly one stores it', async () => {
    const state = await target.fresh();
    const other = await target.other(state);
    for (let round = 0; round < 3; round++) {
      const s = makeSnapshot('"db"."s"."raced"', `r${round}`, 'v1');
      const results = await Promise.allSettled([
        state.pushSnapshots([s]),
        other.pushSnapshots([{ ...s, ttl: 'in 3 days' }]),
      ]);
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
      const lost = results.find((r) => r.status === 'rejected');
      assert.ok(lost?.status === 'rejected');
      assert.match(String(lost.reason), /already in state/);
      const stored = (await state.getSnapshots([s])).get(snapshotKey(s));
      assert.equal(stored?.ttl, won[0] === 0 ? s.ttl : 'in 3 days');
    }
  });

  test('updateSnapshots changes only the mutable fields', async () => {
    const state = await target.fresh();
    const a = makeSnapshot('"db"."s"."a"', 'a1', 'v1', { changeCategory: 'breaking' });
    await state.pushSnapshots([a]);
    await state.updateSnapshots([
      {
        ...a,
        ttl: 'in 9 weeks',
        changeCategory: 'forward_only',
        unpausedTs: 5_000,
        updatedTs: 6_000,
        devVersion: 'dv1',
      },
    ]);
    const stored = (await state.getSnapshots([a])).get(snapshotKey(a));
    assert.deepEqual(stored, {
      ...a,
      changeCategory: 'forward_only',
      unpausedTs: 5_000,
      updatedTs: 6_000,
      devVersion: 'dv1',
    });
    const { unpausedTs: _dropped, ...paused } = stored!;
    await state.updateSnapshots([paused]);
    assert.equal((await state.getSnapshots([a])).get(snapshotKey(a))?.unpausedTs, undefined);
    await assert.rejects(
      state.updateSnapshots([makeSnapshot('"db"."s"."nope"', 'n', 'v')]),
      /not in state/,
    );
  });

  test('environments are upserted, read, listed and deleted', async () => {
    const state = await target.fresh();
    const dev = makeEnvironment('dev', 'plan-1', { expirationTs: 10 * DAY });
    const prod = makeEnvironment('prod', 'plan-2');
    await state.upsertEnvironment(dev);
    await state.upsertEnvironment(prod);
    assert.deepEqual(await state.getEnvironment('dev'), dev);
    assert.equal(await state.getEnvironment('nope'), undefined);
    assert.deepEqual(await state.getEnvironments(), [dev, prod]);

    const dev2 = { ...dev, planId: 'plan-3', previousPlanId: 'plan-1', snapshots: [] };
    await state.upsertEnvironment(dev2);
    assert.deepEqual(await state.getEnvironment('dev'), dev2);
    assert.equal((await state.getEnvironments()).length, 2);

    await state.deleteEnvironment('dev');
    assert.deepEqual(await state.getEnvironments(), [prod]);
    await state.deleteEnvironment('dev');
    assert.deepEqual(await state.getEnvironments(), [prod], 'deleting a missing one is a no-op');
  });

  test('upsertEnvironment checks the expected plan id', async () => {
    const state = await target.fresh();
    const v1 = makeEnvironment('dev', 'p1');
    await state.upsertEnvironment(v1, { expectedPlanId: null });
    assert.deepEqual(await state.getEnvironment('dev'), v1);

    await assert.rejects(
      state.upsertEnvironment(makeEnvironment('dev', 'px'), { expectedPlanId: null }),
      (err: unknown) =>
        err instanceof StaleStateError &&
        /plan again/.test(err.message) &&
        !err.message.includes('\n'),
    );
    const v2 = makeEnvironment('dev', 'p2', { previousPlanId: 'p1' });
    await state.upsertEnvironment(v2, { expectedPlanId: 'p1' });
    assert.deepEqual(await state.getEnvironment('dev'), v2);
    await assert.rejects(
      state.upsertEnvironment(makeEnvironment('dev', 'p3'), { expectedPlanId: 'p1' }),
      (err: unknown) => err instanceof StaleStateError && /"p2"/.test(err.message),
    );
    assert.deepEqual(await state.getEnvironment('dev'), v2);
    await assert.rejects(
      state.upsertEnvironment(makeEnvironment('qa', 'p1'), { expectedPlanId: 'p0' }),
      StaleStateError,
    );
    assert.equal(await state.getEnvironment('qa'), undefined);
  });

  test('of two concurrent upserts expecting the same plan, exactly one wins', async () => {
    const state = await target.fresh();
    const other = await target.other(state);
    for (let round = 0; round < 4; round++) {
      const base = `r${round}`;
      await state.upsertEnvironment(makeEnvironment('dev', base));
      const results = await Promise.allSettled([
        state.upsertEnvironment(makeEnvironment('dev', `${base}-a`), { expectedPlanId: base }),
        other.upsertEnvironment(makeEnvironment('dev', `${base}-b`), { expectedPlanId: base }),
      ]);
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      assert.equal(
        won.length,
        1,
        `round ${round}: ${JSON.stringify(results.map((r) => r.status))}`,
      );
      const lost = results.find((r) => r.status === 'rejected');
      assert.ok(
        lost?.status === 'rejected' && lost.reason instanceof StaleStateError,
        String(lost),
      );
      const winner = won[0] === 0 ? 'a' : 'b';
      assert.equal((await state.getEnvironment('dev'))?.planId, `${base}-${winner}`);

      const name = `new${round}`;
      const creators = await Promise.allSettled([
        state.upsertEnvironment(makeEnvironment(name, 'x'), { expectedPlanId: null }),
        other.upsertEnvironment(makeEnvironment(name, 'y'), { expectedPlanId: null }),
      ]);
      assert.equal(creators.filter((r) => r.status === 'fulfilled').length, 1);
      const refused = creators.find((r) => r.status === 'rejected');
      assert.ok(refused?.status === 'rejected' && refused.reason instanceof StaleStateError);
    }
  });

  test('intervals merge, are removed and can be added again', async () => {
    const state = await target.fresh();
    const a = makeSnapshot('"db"."s"."a"', 'a1', 'v1');
    await state.pushSnapshots([a]);
    const intervalsOf = async () => (await state.getIntervals([a]))[0]?.intervals;

    assert.deepEqual(await state.getIntervals([a]), [
      { name: a.name, identifier: a.identifier, version: 'v1', intervals: [], devIntervals: [] },
    ]);
    await state.addInterval(a, 'v1', [0, DAY]);
    await state.addInterval(a, 'v1', [DAY, 2 * DAY]);
    assert.deepEqual(await intervalsOf(), [[0, 2 * DAY]], 'adjacent intervals merge');
    await state.addInterval(a, 'v1', [4 * DAY, 5 * DAY]);
    assert.deepEqual(await intervalsOf(), [
      [0, 2 * DAY],
      [4 * DAY, 5 * DAY],
    ]);
    await state.addInterval(a, 'v1', [DAY, 4.5 * DAY]);
    assert.deepEqual(await intervalsOf(), [[0, 5 * DAY]], 'overlapping intervals merge');

    await state.removeIntervals(a, 'v1', [DAY, 2 * DAY]);
    assert.deepEqual(await intervalsOf(), [
      [0, DAY],
      [2 * DAY, 5 * DAY],
    ]);
    await state.removeIntervals(a, 'v1', [4 * DAY, 9 * DAY]);
    assert.deepEqual(await intervalsOf(), [
      [0, DAY],
      [2 * DAY, 4 * DAY],
    ]);
    await state.addInterval(a, 'v1', [DAY, 2 * DAY]);
    assert.deepEqual(await intervalsOf(), [[0, 4 * DAY]], 'a later add wins over a removal');
    await state.removeIntervals(a, 'v1', [0, 4 * DAY]);
    assert.deepEqual(await intervalsOf(), []);
    await state.addInterval(a, 'v1', [3 * DAY, 4 * DAY]);
    assert.deepEqual(await intervalsOf(), [[3 * DAY, 4 * DAY]]);

    await assert.rejects(state.addInterval(a, 'v1', [5, 5]), /start < end/);
    await assert.rejects(state.removeIntervals(a, 'v1', [9, 1]), /start < end/);
    assert.deepEqual(await intervalsOf(), [[3 * DAY, 4 * DAY]]);
  });

  test('dev intervals are kept apart from the version intervals', async () => {
    const state = await target.fresh();
    const a = makeSnapshot('"db"."s"."a"', 'a1', 'v1', { devVersion: 'dv1' });
    await state.pushSnapshots([a]);
    await state.addInterval(a, 'v1', [0, DAY]);
    await state.addInterval(a, 'dv1', [DAY, 3 * DAY], { dev: true });
    assert.deepEqual(await state.getIntervals([a]), [
      {
        name: a.name,
        identifier: 'a1',
        version: 'v1',
        devVersion: 'dv1',
        intervals: [[0, DAY]],
        devIntervals: [[DAY, 3 * DAY]],
      },
    ]);
    await state.removeIntervals(a, 'v1', [0, 3 * DAY]);
    let got = (await state.getIntervals([a]))[0];
    assert.deepEqual([got?.intervals, got?.devIntervals], [[], [[DAY, 3 * DAY]]]);
    await state.removeIntervals(a, 'dv1', [DAY, 2 * DAY], { dev: true });
    got = (await state.getIntervals([a]))[0];
    assert.deepEqual(got?.devIntervals, [[2 * DAY, 3 * DAY]]);
    // Deleting the snapshot drops the dev rows of a dev version nobody uses.
    await state.deleteSnapshots([a]);
    await state.pushSnapshots([a]);
    got = (await state.getIntervals([a]))[0];
    assert.deepEqual([got?.intervals, got?.devIntervals], [[], []]);
  });

  test('snapshots sharing a version share intervals across identifiers', async () => {
    const state = await target.fresh();
    const a = makeSnapshot('"db"."s"."m"', 'id-a', 'v1');
    const b = makeSnapshot('"db"."s"."m"', 'id-b', 'v1');
    const c = makeSnapshot('"db"."s"."m"', 'id-c', 'v2');
    const other = makeSnapshot('"db"."s"."other"', 'id-o', 'v1');
    await state.pushSnapshots([a, b, c, other]);
    await state.addInterval(a, 'v1', [0, DAY]);
    await state.addInterval(b, 'v1', [DAY, 2 * DAY]);
    const byId = new Map(
      (await state.getIntervals([a, b, c, other])).map((s) => [s.identifier, s.intervals]),
    );
    assert.deepEqual(byId.get('id-a'), [[0, 2 * DAY]]);
    assert.deepEqual(byId.get('id-b'), [[0, 2 * DAY]]);
    assert.deepEqual(byId.get('id-c'), [], 'another version has its own intervals');
    assert.deepEqual(byId.get('id-o'), [], 'another model with an equal version is separate');

    await state.removeIntervals(b, 'v1', [0, DAY]);
    assert.deepEqual((await state.getIntervals([a]))[0]?.intervals, [[DAY, 2 * DAY]]);

    const d = makeSnapshot('"db"."s"."m"', 'id-d', 'v1');
    await state.pushSnapshots([d]);
    assert.deepEqual((await state.getIntervals([d]))[0]?.intervals, [[DAY, 2 * DAY]]);

    await state.deleteSnapshots([a, b]);
    assert.deepEqual((await state.getIntervals([d]))[0]?.intervals, [[DAY, 2 * DAY]]);
    await state.deleteSnapshots([d]);
    await state.pushSnapshots([a]);
    assert.deepEqual((await state.getIntervals([a]))[0]?.intervals, []);
  });

  test('version intervals: what a snapshot not stored yet finds for its version', async () => {
    const state = await target.fresh();
    const a = makeSnapshot('"db"."s"."m"', 'id-a', 'v1');
    const b = makeSnapshot('"db"."s"."m"', 'id-b', 'v1', { devVersion: 'dv' });
    await state.pushSnapshots([a, b]);
    await state.addInterval(a, 'v1', [0, 3 * DAY]);
    await state.removeIntervals(a, 'v1', [DAY, 2 * DAY]);
    await state.addInterval(b, 'dv', [10 * DAY, 11 * DAY], { dev: true });
    const refs = [
      { name: a.name, version: 'v1' },
      { name: a.name, version: 'v9' },
      { name: '"db"."s"."other"', version: 'v1' },
      { name: a.name, version: 'v1' },
    ];
    const got = await state.getVersionIntervals(refs);
    assert.deepEqual(
      got,
      new Map([
        [
          versionKey(refs[0]!),
          [
            [0, DAY],
            [2 * DAY, 3 * DAY],
          ],
        ],
        [versionKey(refs[1]!), []],
        [versionKey(refs[2]!), []],
      ]),
    );
    assert.deepEqual(await state.getVersionIntervals([]), new Map());
  });

  if (target.looseIntervals) {
    test('intervals of a snapshot that is not stored are found by its id', async () => {
      const state = await target.fresh();
      const loose: SnapshotId = { name: '"db"."s"."loose"', identifier: 'l1' };
      await state.addInterval(loose, 'lv', [0, 10]);
      assert.deepEqual(await state.getIntervals([loose, { name: 'nowhere', identifier: 'x' }]), [
        {
          name: loose.name,
          identifier: 'l1',
          version: 'lv',
          intervals: [[0, 10]],
          devIntervals: [],
        },
      ]);
    });
  } else {
    test('intervals of a snapshot that is not stored are refused', async () => {
      const state = await target.fresh();
      const loose: SnapshotId = { name: '"db"."s"."loose"', identifier: 'l1' };
      for (const write of [
        () => state.addInterval(loose, 'lv', [0, 10]),
        () => state.removeIntervals(loose, 'lv', [0, 10]),
      ]) {
        await assert.rejects(write(), (err: unknown) => {
          assert.ok(err instanceof Error);
          assert.match(err.message, /not in state; push it before recording its intervals/);
          assert.match(err.message, /400/);
          return true;
        });
      }
      assert.deepEqual(await state.getIntervals([loose]), []);
    });
  }

  test('plans are recorded and listed newest first', async () => {
    const state = await target.fresh();
    const p1 = makePlan('p1', 'dev', 1_000);
    const p2 = makePlan('p2', 'prod', 2_000);
    const p3 = makePlan('p3', 'dev', 3_000);
    for (const p of [p2, p1, p3]) await state.recordPlan(p);
    assert.deepEqual(await state.getPlan('p2'), p2);
    assert.equal(await state.getPlan('p9'), undefined);
    assert.deepEqual(
      (await state.listPlans({ environment: 'dev' })).map((p) => p.id),
      ['p3', 'p1'],
    );
    assert.deepEqual(
      (await state.listPlans()).map((p) => p.id),
      ['p3', 'p2', 'p1'],
    );
    assert.deepEqual(
      (await state.listPlans({ limit: 2 })).map((p) => p.id),
      ['p3', 'p2'],
    );
    assert.deepEqual(await state.listPlans({ limit: 0 }), []);

    const done: PlanRecord = { ...p1, status: 'failed', updatedTs: 4_000, error: 'boom' };
    await state.recordPlan(done);
    assert.deepEqual(await state.getPlan('p1'), done);
    assert.equal((await state.listPlans()).length, 3);
    const { createdBy: _by, ...anonymous } = makePlan('p4', 'dev', 5_000);
    await state.recordPlan(anonymous);
    assert.deepEqual(await state.getPlan('p4'), anonymous);
    await assert.rejects(state.listPlans({ limit: -1 }), /limit/);
  });

  test('expired environments: non-prod ones whose expiration is at or before now', async () => {
    const state = await target.fresh();
    await state.upsertEnvironment(makeEnvironment('prod', 'p', { expirationTs: 1_000 }));
    await state.upsertEnvironment(makeEnvironment('dev1', 'p', { expirationTs: 1_000 }));
    await state.upsertEnvironment(makeEnvironment('dev2', 'p', { expirationTs: 2_000 }));
    await state.upsertEnvironment(makeEnvironment('dev3', 'p'));
    const names = async (now: number) =>
      (await state.getExpiredEnvironments(now)).map((e) => e.name);
    assert.deepEqual(await names(999), []);
    assert.deepEqual(await names(1_000), ['dev1']);
    assert.deepEqual(await names(1_999), ['dev1']);
    assert.deepEqual(await names(2_000), ['dev1', 'dev2']);
    assert.deepEqual(await names(Number.MAX_SAFE_INTEGER), ['dev1', 'dev2']);
  });

  test('two projects keep their state apart', async () => {
    const one = await target.fresh();
    const two = await target.fresh();
    const s = makeSnapshot('"db"."s"."a"', 'a1', 'v1');
    await one.pushSnapshots([s]);
    await one.addInterval(s, 'v1', [0, DAY]);
    await one.upsertEnvironment(makeEnvironment('dev', 'p1'));
    await one.recordPlan(makePlan('shared-plan', 'dev', 1));
    assert.equal((await two.snapshotsExist([s])).size, 0);
    assert.deepEqual(await two.getEnvironments(), []);
    assert.deepEqual(await two.listPlans(), []);
    assert.deepEqual(await two.listSnapshotSummaries(), []);
    await two.pushSnapshots([s]);
    assert.deepEqual((await two.getIntervals([s]))[0]?.intervals, []);
    // A plan id is global: another project cannot overwrite it.
    await assert.rejects(two.recordPlan(makePlan('shared-plan', 'dev', 2)), /another project/);
    assert.equal((await one.getPlan('shared-plan'))?.createdTs, 1);
    assert.equal(await two.getPlan('shared-plan'), undefined);
  });

  test(`${target.bulk} snapshots are pushed and read back`, async (t) => {
    const state = await target.fresh();
    const n = target.bulk;
    const snapshots: Snapshot[] = [];
    for (let i = 0; i < n; i++) {
      snapshots.push(
        makeSnapshot(`"db"."bulk"."model_${i % (n / 4)}"`, `id${i}`, `v${i % (n / 2)}`),
      );
    }
    const t0 = performance.now();
    await state.pushSnapshots(snapshots);
    const t1 = performance.now();
    const exist = await state.snapshotsExist(snapshots);
    const got = await state.getSnapshots(snapshots);
    await state.addInterval(snapshots[7]!, 'v7', [0, 10]);
    const intervals = await state.getIntervals(snapshots);
    const t2 = performance.now();
    assert.equal(exist.size, n);
    assert.equal(got.size, n);
    for (const i of [0, n / 2 - 1, n - 1]) {
      assert.deepEqual(got.get(snapshotKey(snapshots[i]!)), snapshots[i]);
    }
    assert.equal(intervals.length, n);
    // model_7 has ids 7, 7 + n/4, 7 + n/2, 7 + 3n/4; versions v7, v(7+n/4), v7, v(7+n/4).
    const withData = intervals.filter((s) => s.intervals.length > 0).map((s) => s.identifier);
    assert.deepEqual(withData.sort(), [`id${7 + n / 2}`, 'id7'].sort());
    t.diagnostic(`push ${Math.round(t1 - t0)} ms, reads ${Math.round(t2 - t1)} ms`);
    await state.deleteSnapshots(snapshots);
    assert.equal((await state.snapshotsExist(snapshots)).size, 0);
  });
}
