import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EngineAdapter } from '../../../src/engine/adapters/engine-adapter.js';
import { ConfigError, TidelineError } from '../../../src/engine/errors.js';
import type { PlanRecord } from '../../../src/engine/snapshot/snapshot-types.js';
import { sqlLiteral } from '../../../src/engine/state/state-sql.js';
import { snapshotKey } from '../../../src/engine/state/state-sync.js';
import { WarehouseStateSync } from '../../../src/engine/state/warehouse-state-sync.js';
import { ENGINES, uniqueSchema, type TestEngine } from './state-test-engines.js';
import { makeEnvironment, makeSnapshot } from './state-fixtures.js';

/** Text that breaks naive SQL building: quotes, backslashes, comments, unicode, control characters. */
const CORPUS: readonly string[] = [
  "it's",
  "''",
  "'",
  '\\',
  "\\'",
  "\\''; SELECT 1; --",
  'trailing backslash \\',
  "'; DROP TABLE x; --",
  "x'); DELETE FROM x; --",
  '"; DROP TABLE x; --',
  '"db"."schema"."table"',
  "E'\\x41'",
  '$$ dollar $$',
  '$tag$ body $tag$',
  '/* open comment',
  '-- line comment',
  '%_ like wildcards _%',
  '数据.表 — ünïcödé',
  'emoji 🌊🚀 and astral 𝔘',
  'right-to-left \u202e override',
  'tab\tnewline\ncarriage\rbell\u0007escape\u001bdelete\u007f',
  '\u0001\u0002\u001f',
  'zero\u200bwidth',
  '   leading and trailing spaces   ',
  '',
];

for (const { name: engineName, start } of ENGINES) {
  describe(`state bad input on ${engineName}`, () => {
    let engine: TestEngine;
    let adapter: EngineAdapter;

    before(async () => {
      engine = await start();
      adapter = await engine.adapter();
    });
    after(async () => {
      await engine.stop();
    });

    test('every corpus string comes back verbatim from a literal', async () => {
      for (const text of CORPUS) {
        const { rows } = await adapter.query(`SELECT ${sqlLiteral(text)} AS v`);
        assert.equal(rows[0]?.v, text, JSON.stringify(text));
      }
    });

    test('names and payloads are stored and read back verbatim, and nothing else is harmed', async () => {
      const schema = uniqueSchema();
      const canarySchema = uniqueSchema('canary');
      await adapter.execute(`CREATE SCHEMA ${adapter.quoteIdentifier(canarySchema)}`);
      const canary = adapter.tableName({ schema: canarySchema, name: 'x' });
      await adapter.execute(`CREATE TABLE ${canary} (id INTEGER)`);
      await adapter.execute(`INSERT INTO ${canary} VALUES (1), (2), (3)`);

      const state = new WarehouseStateSync(adapter, { schema });
      await state.migrate();
      const snapshots = CORPUS.map((text, i) =>
        makeSnapshot(`${text}#${i}`, `${text}@${i}`, `${text}!v${i}`, { ttl: text }, text),
      );
      await state.pushSnapshots(snapshots);
      const got = await state.getSnapshots(snapshots);
      assert.equal(got.size, CORPUS.length);
      for (const s of snapshots)
        assert.deepEqual(got.get(snapshotKey(s)), s, JSON.stringify(s.name));
      assert.equal((await state.snapshotsExist(snapshots)).size, CORPUS.length);

      for (const [i, text] of CORPUS.entries()) {
        const s = snapshots[i]!;
        const envName = `${text}~env${i}`;
        const env = makeEnvironment(envName, text, { expirationTs: 5 });
        await state.upsertEnvironment(env, { expectedPlanId: null });
        const env2 = { ...env, planId: `${text}+`, previousPlanId: text };
        await state.upsertEnvironment(env2, { expectedPlanId: text });
        assert.deepEqual(await state.getEnvironment(envName), env2);

        const plan: PlanRecord = {
          id: `${text}%plan${i}`,
          environment: envName,
          status: 'pending',
          createdTs: i,
          updatedTs: i,
          createdBy: text,
          summary: { note: text, nested: [{ text }] },
          error: text,
        };
        await state.recordPlan(plan);
        assert.deepEqual(await state.getPlan(plan.id), plan);
        assert.deepEqual(await state.listPlans({ environment: envName }), [plan]);

        await state.addInterval(s, s.version, [0, 10]);
        await state.removeIntervals(s, s.version, [2, 4]);
        await state.addInterval(s, text, [0, 5], { dev: true });
        const [intervals] = await state.getIntervals([s]);
        assert.deepEqual(intervals?.intervals, [
          [0, 2],
          [4, 10],
        ]);
      }
      const envs = await state.getEnvironments();
      assert.equal(envs.length, CORPUS.length);
      assert.deepEqual(
        (await state.getExpiredEnvironments(5)).map((e) => e.name).sort(),
        CORPUS.map((text, i) => `${text}~env${i}`).sort(),
      );

      for (const [i, text] of CORPUS.entries()) await state.deleteEnvironment(`${text}~env${i}`);
      await state.deleteSnapshots(snapshots);
      assert.equal((await state.getEnvironments()).length, 0);
      assert.equal((await state.snapshotsExist(snapshots)).size, 0);

      const { rows } = await adapter.query(`SELECT id FROM ${canary} ORDER BY id`);
      assert.deepEqual(
        rows.map((r) => Number(r.id)),
        [1, 2, 3],
      );
      const tables = (await adapter.listObjects(schema)).map((o) => o.name).sort();
      assert.deepEqual(tables, [
        '_environments',
        '_intervals',
        '_plans',
        '_snapshots',
        '_versions',
      ]);
    });

    test('a state schema whose name needs quoting works; quotes in it are refused', async () => {
      for (const bad of ['with "quote"', "with 'quote'", 'nul\0', ' ']) {
        assert.throws(
          () => new WarehouseStateSync(adapter, { schema: bad }),
          (err: unknown) =>
            err instanceof ConfigError &&
            /state_schema/.test(err.message) &&
            !err.message.includes('\n'),
        );
      }
      const schema = `Odd schema.with-dots ü ${uniqueSchema()}`;
      const state = new WarehouseStateSync(adapter, { schema });
      await state.migrate();
      const s = makeSnapshot('"db"."s"."a"', 'a1', 'v1');
      await state.pushSnapshots([s]);
      await state.addInterval(s, 'v1', [0, 10]);
      assert.deepEqual((await state.getIntervals([s]))[0]?.intervals, [[0, 10]]);
      assert.deepEqual((await state.getSnapshots([s])).get(snapshotKey(s)), s);
    });

    test('a NUL in a name is refused with one line; a NUL inside a payload round-trips', async () => {
      const schema = uniqueSchema();
      const state = new WarehouseStateSync(adapter, { schema });
      await state.migrate();
      await assert.rejects(
        state.pushSnapshots([makeSnapshot('bad\0name', 'i', 'v')]),
        (err: unknown) =>
          err instanceof TidelineError && /NUL/.test(err.message) && !err.message.includes('\n'),
      );
      const { rows } = await adapter.query(
        `SELECT COUNT(*) AS n FROM ${adapter.tableName({ schema, name: '_snapshots' })}`,
      );
      assert.equal(Number(rows[0]?.n), 0);
      const s = makeSnapshot('"db"."s"."nul"', 'i', 'v', { ttl: 'in\0side' }, 'nul\0text');
      await state.pushSnapshots([s]);
      assert.deepEqual((await state.getSnapshots([s])).get(snapshotKey(s)), s);
    });
  });
}
