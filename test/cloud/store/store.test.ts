import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { openStore, redactStoreUrl } from '../../../src/cloud/store/database.js';
import { MIGRATIONS, STORE_SCHEMA_VERSION, migrate } from '../../../src/cloud/store/migrations.js';
import { newStore, storeTargets } from '../../helpers/stores.js';

const targets = await storeTargets();

for (const target of targets) {
  describe(`store on ${target.kind}`, () => {
    it('migrates to the current version once, and again without effect', async () => {
      const store = await newStore(target);
      const rows = await store.db.selectFrom('schema_migrations').selectAll().execute();
      assert.deepEqual(
        rows.map((r) => Number(r.version)).sort((a, b) => a - b),
        MIGRATIONS.map((m) => m.version),
      );
      assert.equal(Math.max(...rows.map((r) => Number(r.version))), STORE_SCHEMA_VERSION);
      await migrate(store);
      const again = await store.db.selectFrom('schema_migrations').selectAll().execute();
      assert.equal(again.length, MIGRATIONS.length);
    });

    it('stores and reads back BIGINT times as numbers', async () => {
      const store = await newStore(target);
      const ts = Date.UTC(2030, 0, 1, 12, 0, 0, 123);
      await store.db
        .insertInto('organizations')
        .values({ id: 'o1', name: 'acme', created_ts: ts })
        .execute();
      const row = await store.db.selectFrom('organizations').selectAll().executeTakeFirstOrThrow();
      assert.equal(row.created_ts, ts);
      assert.equal(typeof row.created_ts, 'number');
    });

    it("finds a run's and a plan's tasks through indexes that hold only tasks with one", async () => {
      const store = await newStore(target);
      for (const [column, index] of [
        ['run_id', 'tasks_run_idx'],
        ['plan_id', 'tasks_plan_idx'],
      ] as const) {
        const definition =
          target.kind === 'postgres'
            ? (
                await sql<{ def: string }>`SELECT indexdef AS def FROM pg_indexes
                  WHERE tablename = 'tasks' AND indexname = ${index}`.execute(store.db)
              ).rows[0]?.def
            : (
                await sql<{ def: string }>`SELECT sql AS def FROM sqlite_master
                  WHERE type = 'index' AND name = ${index}`.execute(store.db)
              ).rows[0]?.def;
        assert.match(definition ?? '', new RegExp(`WHERE \\(?${column} IS NOT NULL`, 'i'));
        // The lookups the cloud makes (by equality) can use it.
        const plan =
          target.kind === 'postgres'
            ? await store.db.transaction().execute(async (tx) => {
                await sql`SET LOCAL enable_seqscan = off`.execute(tx);
                const rows = await sql<Record<string, string>>`EXPLAIN SELECT id FROM tasks
                  WHERE ${sql.ref(column)} = ${'x'}`.execute(tx);
                return rows.rows.map((r) => Object.values(r).join(' ')).join('\n');
              })
            : (
                await sql<{ detail: string }>`EXPLAIN QUERY PLAN SELECT id FROM tasks
                  WHERE ${sql.ref(column)} = ${'x'}`.execute(store.db)
              ).rows
                .map((r) => r.detail)
                .join('\n');
        assert.match(plan, new RegExp(index), `${column} lookup plan: ${plan}`);
      }
    });

    it('refuses a store written by a newer version', async () => {
      const url = await target.newUrl();
      const store = await openStore(url);
      await store.db
        .insertInto('schema_migrations')
        .values({ version: STORE_SCHEMA_VERSION + 1, description: 'future', applied_ts: 0 })
        .execute();
      await store.close();
      await assert.rejects(openStore(url), /newer than this Tideline understands/);
    });
  });
}

describe('store URLs', () => {
  it('explains unsupported and empty URLs in one line, hiding passwords', async () => {
    await assert.rejects(openStore('mysql://u:secret@h/db'), (err: Error) => {
      assert.match(err.message, /unsupported store URL "mysql:\/\/u:\*\*\*@h\/db"/);
      return true;
    });
    await assert.rejects(openStore('sqlite:'), /names no file/);
    assert.equal(redactStoreUrl('postgres://me:pa55@host/db'), 'postgres://me:***@host/db');
    await assert.rejects(openStore('postgres://me:pa55@127.0.0.1:1/db'), (err: Error) => {
      assert.doesNotMatch(err.message, /pa55/);
      assert.match(err.message, /cannot open the store at postgres:\/\/me:\*\*\*@/);
      return true;
    });
  });
});
