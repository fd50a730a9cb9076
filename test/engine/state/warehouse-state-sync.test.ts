import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EngineAdapter } from '../../../src/engine/adapters/engine-adapter.js';
import { TidelineError } from '../../../src/engine/errors.js';
import type {
  PlanRecord,
  Snapshot,
  SnapshotId,
} from '../../../src/engine/snapshot/snapshot-types.js';
import { STATE_SCHEMA_VERSION } from '../../../src/engine/state/state-migrations.js';
import { StaleStateError, snapshotKey } from '../../../src/engine/state/state-sync.js';
import { WarehouseStateSync } from '../../../src/engine/state/warehouse-state-sync.js';
import { testClock } from '../../../src/engine/time/clock.js';
import { ENGINES, adapterKind, uniqueSchema, type TestEngine } from './state-test-engines.js';
import { makeEnvironment, makePlan, makeSnapshot } from './state-fixtures.js';

const DAY = 86_400_000;

for (const { name: engineName, start } of ENGINES) {
  describe(`WarehouseStateSync on ${engineName}`, () => {
    let engine: TestEngine;
    let adapter: EngineAdapter;
    const clock = testClock(1_700_000_000_000);

    before(async () => {
      engine = await start();
      adapter = await engine.adapter();
    });
    after(async () => {
      await engine.stop();
    });

    async function freshState(schema = uniqueSchema()): Promise<WarehouseStateSync> {
      const state = new WarehouseStateSync(adapter, {
        schema,
        clock: () => clock.now(),
        tidelineVersion: '9.9.9-test',
      });
      await state.migrate();
      return state;
    }

    test('migrate creates the tables, records the version and is a no-op the second time', async (t) => {
      t.diagnostic(`${engineName} through ${adapterKind(adapter)}`);
      const schema = uniqueSchema();
      const state = new WarehouseStateSync(adapter, { schema, tidelineVersion: '1.2.3' });
      assert.deepEqual(await state.getVersions(), { schemaVersion: 0, tidelineVersion: '' });
      await state.migrate();
      assert.deepEqual(await state.getVersions(), {
        schemaVersion: STATE_SCHEMA_VERSION,
        tidelineVersion: '1.2.3',
      });
      const tables = (await adapter.listObjects(schema)).map((o) => o.name).sort();
      assert.deepEqual(tables, [
        '_environments',
        '_intervals',
        '_plans',
        '_snapshots',
        '_versions',
      ]);

      const snap = makeSnapshot('"db"."s"."a"', 'id1', 'v1');
      await state.pushSnapshots([snap]);
      await state.migrate();
      await new WarehouseStateSync(adapter, { schema, tidelineVersion: '1.2.4' }).migrate();
      const { rows } = await adapter.query(
        `SELECT schema_version, tideline_version FROM ${adapter.tableName({ schema, name: '_versions' })}`,
      );
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.tideline_version, '1.2.3', 'a second migrate rewrites nothing');
      assert.deepEqual(await state.getSnapshots([snap]), new Map([[snapshotKey(snap), snap]]));
    });

    test('a state schema written by a newer Tideline is refused with one line', async () => {
      const schema = uniqueSchema();
      await freshState(schema);
      const versions = adapter.tableName({ schema, name: '_versions' });
      await adapter.execute(`UPDATE ${versions} SET schema_version = ${STATE_SCHEMA_VERSION + 1}`);
      const older = new WarehouseStateSync(adapter, { schema, tidelineVersion: '0.0.1' });
      await assert.rejects(older.migrate(), (err: unknown) => {
        assert.ok(err instanceof TidelineError);
        assert.match(err.message, /upgrade Tideline/);
        assert.match(err.message, new RegExp(`version ${STATE_SCHEMA_VERSION + 1}`));
        assert.ok(!err.message.includes('\n'));
        return true;
      });
      assert.equal((await older.getVersions()).schemaVersion, STATE_SCHEMA_VERSION + 1);
    });

    test('snapshots are pushed, read, checked and deleted', async () => {
      const state = await freshState();
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

    test('pushing a snapshot that is already stored is refused and stores nothing', async () => {
      const state = await freshState();
      const a = makeSnapshot('"db"."s"."a"', 'a1', 'v1');
      const b = makeSnapshot('"db"."s"."b"', 'b1', 'v2');
      await state.pushSnapshots([a]);
      await assert.rejects(
        state.pushSnapshots([b, { ...a, ttl: 'in 2 weeks' }]),
        (err: unknown) => err instanceof TidelineError && /already in state/.test(err.message),
      );
      assert.deepEqual(await state.snapshotsExist([a, b]), new Set([snapshotKey(a)]));
      assert.equal((await state.getSnapshots([a])).get(snapshotKey(a))?.ttl, a.ttl);
      await assert.rejects(state.pushSnapshots([b, b]), /listed twice/);
      assert.equal((await state.snapshotsExist([b])).size, 0);
    });

    test('of two concurrent pushes of the same snapshot, exactly one stores it', async () => {
      const schema = uniqueSchema();
      const state = await freshState(schema);
      const other = new WarehouseStateSync(await engine.adapter(), { schema });
      for (let round = 0; round < 3; round++) {
        const s = makeSnapshot('"db"."s"."raced"', `r${round}`, 'v1');
        const results = await Promise.allSettled([
          state.pushSnapshots([s]),
          other.pushSnapshots([{ ...s, ttl: 'in 3 days' }]),
        ]);
        const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
        const lost = results.find((r) => r.status === 'rejected');
        assert.ok(lost?.status === 'rejected', 'one push must fail');
        assert.match(String(lost.reason), /already in state/);
        const stored = (await state.getSnapshots([s])).get(snapshotKey(s));
        assert.equal(stored?.ttl, won[0] === 0 ? s.ttl : 'in 3 days');
      }
    });

    test('updateSnapshots changes only the mutable fields', async () => {
      const state = await freshState();
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
      const state = await freshState();
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
    });

    test('upsertEnvironment checks the expected plan id', async () => {
      const state = await freshState();
      const v1 = makeEnvironment('dev', 'p1');
      await state.upsertEnvironment(v1, { expectedPlanId: null });
      assert.deepEqual(await state.getEnvironment('dev'), v1);

      // A new environment expected, but one exists.
      await assert.rejects(
        state.upsertEnvironment(makeEnvironment('dev', 'px'), { expectedPlanId: null }),
        (err: unknown) =>
          err instanceof StaleStateError &&
          /plan again/.test(err.message) &&
          !err.message.includes('\n'),
      );
      // Matching plan id: written.
      const v2 = makeEnvironment('dev', 'p2', { previousPlanId: 'p1' });
      await state.upsertEnvironment(v2, { expectedPlanId: 'p1' });
      assert.deepEqual(await state.getEnvironment('dev'), v2);
      // Mismatching plan id: refused, nothing written.
      await assert.rejects(
        state.upsertEnvironment(makeEnvironment('dev', 'p3'), { expectedPlanId: 'p1' }),
        (err: unknown) => err instanceof StaleStateError && /"p2"/.test(err.message),
      );
      assert.deepEqual(await state.getEnvironment('dev'), v2);
      // An expected plan for an environment that does not exist.
      await assert.rejects(
        state.upsertEnvironment(makeEnvironment('qa', 'p1'), { expectedPlanId: 'p0' }),
        StaleStateError,
      );
      assert.equal(await state.getEnvironment('qa'), undefined);
    });

    test('of two concurrent upserts expecting the same plan, exactly one wins', async () => {
      const schema = uniqueSchema();
      const state = await freshState(schema);
      // A second adapter: the racers share no connection.
      const other = new WarehouseStateSync(await engine.adapter(), { schema });
      for (let round = 0; round < 4; round++) {
        const base = `r${round}`;
        await state.upsertEnvironment(makeEnvironment('dev', base));
        const racers = [
          state.upsertEnvironment(makeEnvironment('dev', `${base}-a`), { expectedPlanId: base }),
          other.upsertEnvironment(makeEnvironment('dev', `${base}-b`), { expectedPlanId: base }),
        ];
        const results = await Promise.allSettled(racers);
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

        // Two creators of the same new environment.
        const name = `new${round}`;
        const creators = await Promise.allSettled([
          state.upsertEnvironment(makeEnvironment(name, 'x'), { expectedPlanId: null }),
          other.upsertEnvironment(makeEnvironment(name, 'y'), { expectedPlanId: null }),
        ]);
        const created = creators.filter((r) => r.status === 'fulfilled');
        assert.equal(created.length, 1, JSON.stringify(creators.map((r) => r.status)));
        const refused = creators.find((r) => r.status === 'rejected');
        assert.ok(refused?.status === 'rejected' && refused.reason instanceof StaleStateError);
      }
    });

    test('an upsert that overlaps another writer of the environment is refused as stale', async () => {
      const schema = uniqueSchema();
      const state = await freshState(schema);
      const other = new WarehouseStateSync(await engine.adapter(), { schema });
      await state.upsertEnvironment(makeEnvironment('dev', 'base'));
      const table = adapter.tableName({ schema, name: '_environments' });
      let pending: Promise<PromiseSettledResult<void>[]> | undefined;
      await adapter.transaction(async (tx) => {
        // Another writer moves the environment on and has not committed yet.
        const writer = new WarehouseStateSync(tx, { schema });
        await writer.upsertEnvironment(makeEnvironment('dev', 'held'), { expectedPlanId: 'base' });
        pending = Promise.allSettled([
          other.upsertEnvironment(makeEnvironment('dev', 'late'), { expectedPlanId: 'base' }),
        ]);
        await new Promise((resolve) => setTimeout(resolve, 150));
      });
      const [result] = await pending!;
      assert.ok(result?.status === 'rejected', 'the overlapping upsert must not win');
      assert.ok(result.reason instanceof StaleStateError, String(result.reason));
      assert.match(result.reason.message, /plan again/);
      const { rows } = await adapter.query(`SELECT plan_id FROM ${table} WHERE name = 'dev'`);
      assert.equal(rows[0]?.plan_id, 'held');
    });

    test('intervals merge, are removed and can be added again', async () => {
      const state = await freshState();
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
      // The same instant for every row: order comes from the log, not the clock.
      await state.addInterval(a, 'v1', [DAY, 2 * DAY]);
      assert.deepEqual(await intervalsOf(), [[0, 4 * DAY]], 'a later add wins over a removal');
      await state.removeIntervals(a, 'v1', [0, 4 * DAY]);
      assert.deepEqual(await intervalsOf(), []);
      await state.addInterval(a, 'v1', [3 * DAY, 4 * DAY]);
      assert.deepEqual(await intervalsOf(), [[3 * DAY, 4 * DAY]]);

      await assert.rejects(state.addInterval(a, 'v1', [5, 5]), /start < end/);
      await assert.rejects(state.removeIntervals(a, 'v1', [9, 1]), /start < end/);
    });

    test('dev intervals are kept apart from the version intervals', async () => {
      const state = await freshState();
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
    });

    test('snapshots sharing a version share intervals across identifiers', async () => {
      const state = await freshState();
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

      // Removing through one snapshot removes for every snapshot of the version.
      await state.removeIntervals(b, 'v1', [0, DAY]);
      assert.deepEqual((await state.getIntervals([a]))[0]?.intervals, [[DAY, 2 * DAY]]);

      // A snapshot pushed later with the same version sees what was recorded.
      const d = makeSnapshot('"db"."s"."m"', 'id-d', 'v1');
      await state.pushSnapshots([d]);
      assert.deepEqual((await state.getIntervals([d]))[0]?.intervals, [[DAY, 2 * DAY]]);

      // Deleting snapshots keeps intervals while the version is still used, then drops them.
      await state.deleteSnapshots([a, b]);
      assert.deepEqual((await state.getIntervals([d]))[0]?.intervals, [[DAY, 2 * DAY]]);
      await state.deleteSnapshots([d]);
      await state.pushSnapshots([a]);
      assert.deepEqual((await state.getIntervals([a]))[0]?.intervals, []);
    });

    test('intervals of a snapshot that is not stored are found by its id', async () => {
      const state = await freshState();
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

    test('plans are recorded and listed newest first', async () => {
      const state = await freshState();
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

      const done: PlanRecord = { ...p1, status: 'failed', updatedTs: 4_000, error: 'boom' };
      await state.recordPlan(done);
      assert.deepEqual(await state.getPlan('p1'), done);
      assert.equal((await state.listPlans()).length, 3);
      await assert.rejects(state.listPlans({ limit: -1 }), /limit/);
    });

    test('expired environments: non-prod ones whose expiration is at or before now', async () => {
      const state = await freshState();
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

    test('10,000 snapshots are stored and read back exactly', async () => {
      const state = await freshState();
      const snapshots: Snapshot[] = [];
      for (let i = 0; i < 10_000; i++) {
        snapshots.push(makeSnapshot(`"db"."bulk"."model_${i % 2_500}"`, `id${i}`, `v${i % 5_000}`));
      }
      await state.pushSnapshots(snapshots);
      const exist = await state.snapshotsExist(snapshots);
      const got = await state.getSnapshots(snapshots);
      assert.equal(exist.size, 10_000);
      assert.equal(got.size, 10_000);
      for (const [i, snapshot] of snapshots.entries()) {
        const key = snapshotKey(snapshot);
        assert.ok(exist.has(key), `snapshot ${i} exists`);
        assert.deepEqual(got.get(key), snapshot, `snapshot ${i}`);
      }
      await state.addInterval(snapshots[7]!, 'v7', [0, 10]);
      const intervals = await state.getIntervals(snapshots);
      assert.deepEqual(
        intervals.map((s) => snapshotKey(s)).sort(),
        snapshots.map((s) => snapshotKey(s)).sort(),
      );
      // model_7 has ids 7, 2507, 5007, 7507; versions v7, v2507, v7, v2507.
      for (const s of intervals) {
        const expected = s.identifier === 'id7' || s.identifier === 'id5007' ? [[0, 10]] : [];
        assert.deepEqual(s.intervals, expected, s.identifier);
        assert.deepEqual(s.devIntervals, [], s.identifier);
      }
      await state.deleteSnapshots(snapshots);
      assert.equal((await state.snapshotsExist(snapshots)).size, 0);
    });
  });
}
