/**
 * The behaviour every engine adapter must show, as one suite run against
 * each engine. An engine supplies a way to make adapters plus the few SQL
 * snippets and type names that differ between engines.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { QueryCancelledError } from '../../../src/engine/adapters/adapter-errors.js';
import type { EngineAdapter } from '../../../src/engine/adapters/engine-adapter.js';
import { EngineError } from '../../../src/engine/errors.js';

export interface ContractEngine {
  name: string;
  /** A new adapter on the engine's test database. */
  adapter(options?: { concurrentTasks?: number }): Promise<EngineAdapter>;
  /** Whether MERGE INTO should work, judged independently of the adapter. */
  expectMerge(adapter: EngineAdapter): Promise<boolean>;
  /** A statement that runs for many seconds unless cancelled. */
  longQuerySql: string;
  /** SQL expressions for values whose spelling differs between engines. */
  sql: {
    blob: string; // the bytes of 'hi!'
    intList: string; // 1, 2, NULL
    bigintList: string; // 9007199254740993, 7
    record: string; // a = 1, b = 'x'
    setTimeZone: (zone: string) => string; // for the current transaction
  };
  /** Type names the engine reports. */
  types: {
    integer: string;
    text: string;
    date: string;
    timestamp: string;
    decimal10_2: string;
    varchar20: string;
  };
}

function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

async function using<T>(
  engine: ContractEngine,
  fn: (adapter: EngineAdapter) => Promise<T>,
  options?: { concurrentTasks?: number },
): Promise<T> {
  const adapter = await engine.adapter(options);
  try {
    return await fn(adapter);
  } finally {
    await adapter.close();
  }
}

function count(rows: Array<Record<string, unknown>>): number {
  return Number(rows[0]?.['n']);
}

export function adapterContract(engine: ContractEngine): void {
  describe(`${engine.name} adapter contract`, () => {
    test('execute runs several statements and query returns columns and rows in order', () =>
      using(engine, async (a) => {
        const s = uniqueName('exec');
        await a.createSchema(s);
        const t = a.tableName({ schema: s, name: 't' });
        await a.execute(
          `CREATE TABLE ${t} (id INTEGER, label VARCHAR(10)); ` +
            `INSERT INTO ${t} VALUES (2, 'two'), (1, 'one');`,
        );
        const result = await a.query(`SELECT label, id FROM ${t} ORDER BY id`);
        assert.deepEqual(
          result.columns.map((c) => c.name),
          ['label', 'id'],
        );
        assert.deepEqual(result.rows, [
          { label: 'one', id: 1 },
          { label: 'two', id: 2 },
        ]);
        const empty = await a.query(`SELECT id FROM ${t} WHERE id > 100`);
        assert.deepEqual(empty.rows, []);
        assert.equal(empty.columns[0]?.type.toLowerCase(), engine.types.integer.toLowerCase());
        await a.dropSchema(s, { cascade: true });
      }));

    test('rows come back as plain, JSON-friendly values of every common type', () =>
      using(engine, async (a) => {
        const { sql } = engine;
        const result = await a.query(
          `SELECT CAST(42 AS INTEGER) AS int_value,
                  CAST(123 AS BIGINT) AS small_bigint,
                  CAST(9007199254740993 AS BIGINT) AS huge_bigint,
                  CAST(-9007199254740991 AS BIGINT) AS min_safe_bigint,
                  CAST(12.34 AS DECIMAL(10, 2)) AS dec_value,
                  CAST(-0.5 AS DECIMAL(10, 2)) AS negative_dec,
                  CAST('12345678901234567.89' AS DECIMAL(38, 2)) AS wide_dec,
                  CAST(1.5 AS DOUBLE PRECISION) AS double_value,
                  CAST('2024-02-29' AS DATE) AS date_value,
                  CAST('2024-02-29 13:14:15.123456' AS TIMESTAMP) AS ts_micro,
                  CAST('2024-02-29 13:14:15.5' AS TIMESTAMP) AS ts_half,
                  CAST('2024-02-29 13:14:15' AS TIMESTAMP) AS ts_whole,
                  CAST('2024-02-29 13:14:15.25+02:30' AS TIMESTAMPTZ) AS tstz_value,
                  TRUE AS true_value,
                  FALSE AS false_value,
                  CAST('héllo, "world"' AS VARCHAR) AS text_value,
                  CAST(NULL AS INTEGER) AS null_value,
                  ${sql.blob} AS blob_value,
                  ${sql.intList} AS list_value,
                  ${sql.bigintList} AS bigint_list,
                  ${sql.record} AS record_value`,
        );
        assert.equal(result.rows.length, 1);
        assert.deepEqual(result.rows[0], {
          int_value: 42,
          small_bigint: 123,
          huge_bigint: '9007199254740993',
          min_safe_bigint: -9007199254740991,
          dec_value: 12.34,
          negative_dec: -0.5,
          wide_dec: '12345678901234567.89',
          double_value: 1.5,
          date_value: '2024-02-29',
          ts_micro: '2024-02-29 13:14:15.123456',
          ts_half: '2024-02-29 13:14:15.5',
          ts_whole: '2024-02-29 13:14:15',
          tstz_value: '2024-02-29 10:44:15.25+00',
          true_value: true,
          false_value: false,
          text_value: 'héllo, "world"',
          null_value: null,
          blob_value: '686921',
          list_value: [1, 2, null],
          bigint_list: ['9007199254740993', 7],
          record_value: { a: 1, b: 'x' },
        });
        // The rows survive a JSON round trip unchanged.
        assert.deepEqual(JSON.parse(JSON.stringify(result.rows)), result.rows);
        const types = new Map(result.columns.map((c) => [c.name, c.type.toLowerCase()]));
        assert.equal(types.get('int_value'), engine.types.integer.toLowerCase());
        assert.equal(types.get('date_value'), engine.types.date.toLowerCase());
        assert.equal(types.get('ts_whole'), engine.types.timestamp.toLowerCase());
        assert.equal(types.get('dec_value'), engine.types.decimal10_2.toLowerCase());
      }));

    test('TIMESTAMPTZ values are shown in UTC whatever the session time zone', () =>
      using(engine, async (a) => {
        const rows = await a.transaction(async (tx) => {
          await tx.execute(engine.sql.setTimeZone('Asia/Kolkata'));
          return (await tx.query(`SELECT CAST('2024-06-01 00:30:00+05:30' AS TIMESTAMPTZ) AS ts`))
            .rows;
        });
        assert.deepEqual(rows, [{ ts: '2024-05-31 19:00:00+00' }]);
      }));

    test('a transaction commits when its function resolves', () =>
      using(engine, async (a) => {
        const s = uniqueName('txc');
        await a.createSchema(s);
        const t = a.tableName({ schema: s, name: 'committed' });
        const value = await a.transaction(async (tx) => {
          await tx.execute(`CREATE TABLE ${t} (id INTEGER)`);
          await tx.execute(`INSERT INTO ${t} VALUES (1), (2)`);
          return 'done';
        });
        assert.equal(value, 'done');
        assert.equal(count((await a.query(`SELECT count(*) AS n FROM ${t}`)).rows), 2);
        await a.dropSchema(s, { cascade: true });
      }));

    test('a transaction rolls back data and DDL when its function throws', () =>
      using(engine, async (a) => {
        const s = uniqueName('txr');
        await a.createSchema(s);
        const kept = a.tableName({ schema: s, name: 'kept' });
        await a.execute(`CREATE TABLE ${kept} (id INTEGER); INSERT INTO ${kept} VALUES (1)`);
        const boom = new Error('boom');
        await assert.rejects(
          a.transaction(async (tx) => {
            await tx.execute(`INSERT INTO ${kept} VALUES (2)`);
            await tx.execute(
              `CREATE TABLE ${a.tableName({ schema: s, name: 'gone' })} (x INTEGER)`,
            );
            await tx.execute(`DROP TABLE ${kept}`);
            throw boom;
          }),
          (err) => err === boom,
        );
        assert.equal(await a.tableExists({ schema: s, name: 'gone' }), false);
        assert.equal(await a.tableExists({ schema: s, name: 'kept' }), true);
        assert.equal(count((await a.query(`SELECT count(*) AS n FROM ${kept}`)).rows), 1);
        await a.dropSchema(s, { cascade: true });
      }));

    test('a transaction runs on a connection of its own until it commits', () =>
      using(engine, async (a) => {
        const s = uniqueName('txi');
        await a.createSchema(s);
        const t = a.tableName({ schema: s, name: 't' });
        await a.execute(`CREATE TABLE ${t} (id INTEGER)`);
        await a.transaction(async (tx) => {
          await tx.execute(`INSERT INTO ${t} VALUES (1)`);
          assert.equal(count((await tx.query(`SELECT count(*) AS n FROM ${t}`)).rows), 1);
          // Outside the transaction the row is not there yet.
          assert.equal(count((await a.query(`SELECT count(*) AS n FROM ${t}`)).rows), 0);
          // A transaction inside a transaction joins it.
          await tx.transaction(async (inner) => {
            await inner.execute(`INSERT INTO ${t} VALUES (2)`);
          });
        });
        assert.equal(count((await a.query(`SELECT count(*) AS n FROM ${t}`)).rows), 2);
        await a.dropSchema(s, { cascade: true });
      }));

    test('a failing statement inside a transaction rolls it back and surfaces as EngineError', () =>
      using(engine, async (a) => {
        const s = uniqueName('txe');
        await a.createSchema(s);
        const t = a.tableName({ schema: s, name: 't' });
        await a.execute(`CREATE TABLE ${t} (id INTEGER)`);
        await assert.rejects(
          a.transaction(async (tx) => {
            await tx.execute(`INSERT INTO ${t} VALUES (1)`);
            await tx.execute(`INSERT INTO ${t} VALUES ('not a number')`);
          }),
          EngineError,
        );
        assert.equal(count((await a.query(`SELECT count(*) AS n FROM ${t}`)).rows), 0);
        await a.dropSchema(s, { cascade: true });
      }));

    test('schemas are created, found and dropped', () =>
      using(engine, async (a) => {
        const s = uniqueName('schema');
        assert.equal(await a.schemaExists(s), false);
        await a.createSchema(s);
        await a.createSchema(s); // already there: no error
        assert.equal(await a.schemaExists(s), true);
        assert.equal(await a.schemaExists(s, a.defaultCatalog), true);
        await a.execute(`CREATE TABLE ${a.tableName({ schema: s, name: 't' })} (id INTEGER)`);
        await assert.rejects(a.dropSchema(s), EngineError);
        assert.equal(await a.schemaExists(s), true);
        await a.dropSchema(s, { cascade: true });
        assert.equal(await a.schemaExists(s), false);
        await a.dropSchema(s); // already gone: no error
      }));

    test('tables and views are listed, found, described and dropped', () =>
      using(engine, async (a) => {
        const s = uniqueName('objects');
        await a.createSchema(s);
        const table = { schema: s, name: 'orders' };
        const view = { schema: s, name: 'order_ids' };
        await a.execute(
          `CREATE TABLE ${a.tableName(table)} (id INTEGER NOT NULL, name VARCHAR(20), ` +
            `amount DECIMAL(10, 2), created TIMESTAMP)`,
        );
        await a.createView(view, `SELECT id FROM ${a.tableName(table)}`);
        assert.deepEqual(await a.listObjects(s), [
          { name: 'order_ids', kind: 'view' },
          { name: 'orders', kind: 'table' },
        ]);
        assert.equal(await a.tableExists(table), true);
        assert.equal(await a.tableExists(view), true);
        assert.equal(await a.tableExists({ schema: s, name: 'missing' }), false);
        assert.equal(await a.tableExists({ schema: uniqueName('nope'), name: 'orders' }), false);

        const cols = await a.columns(table);
        assert.deepEqual(
          cols.map((c) => [c.name, c.type.toLowerCase(), c.nullable]),
          [
            ['id', engine.types.integer.toLowerCase(), false],
            ['name', engine.types.varchar20.toLowerCase(), true],
            ['amount', engine.types.decimal10_2.toLowerCase(), true],
            ['created', engine.types.timestamp.toLowerCase(), true],
          ],
        );
        assert.deepEqual(
          (await a.columns(view)).map((c) => c.name),
          ['id'],
        );
        assert.deepEqual(await a.columns({ schema: s, name: 'missing' }), []);

        // Replacing a view may change its columns.
        await a.createView(view, `SELECT name, id FROM ${a.tableName(table)}`, { replace: true });
        assert.deepEqual(
          (await a.columns(view)).map((c) => c.name),
          ['name', 'id'],
        );
        await assert.rejects(
          a.createView(view, 'SELECT 1 AS one', { replace: false }),
          EngineError,
        );

        await a.dropView(view);
        await a.dropView(view); // IF EXISTS by default
        await assert.rejects(a.dropView(view, { ifExists: false }), EngineError);
        await a.dropTable(table);
        await a.dropTable(table);
        await assert.rejects(a.dropTable(table, { ifExists: false }), EngineError);
        assert.deepEqual(await a.listObjects(s), []);
        await a.dropSchema(s);
      }));

    test('odd identifiers are quoted: a hyphenated schema, mixed case, spaces and quotes', () =>
      using(engine, async (a) => {
        assert.equal(a.quoteIdentifier('a"b'), '"a""b"');
        const s = uniqueName('odd-schema');
        await a.createSchema(s);
        const table = { schema: s, name: 'MixedCase "Table"' };
        await a.execute(
          `CREATE TABLE ${a.tableName(table)} (${a.quoteIdentifier('Weird Col')} INTEGER)`,
        );
        await a.execute(`INSERT INTO ${a.tableName(table)} VALUES (7)`);
        assert.equal(await a.tableExists(table), true);
        assert.deepEqual(await a.listObjects(s), [{ name: 'MixedCase "Table"', kind: 'table' }]);
        assert.deepEqual(
          (await a.columns(table)).map((c) => c.name),
          ['Weird Col'],
        );
        const rows = (await a.query(`SELECT * FROM ${a.tableName(table)}`)).rows;
        assert.deepEqual(rows, [{ 'Weird Col': 7 }]);
        await a.dropTable(table, { ifExists: false });
        await a.dropSchema(s);
        assert.equal(await a.schemaExists(s), false);
      }));

    test('tableName names the table unambiguously, keeping any other catalog', () =>
      using(engine, async (a) => {
        // DuckDB always writes the catalog (a schema may share a catalog's name);
        // PostgreSQL, whose catalog is the connection's database, never needs to.
        const local = a.dialect === 'duckdb' ? `"${a.defaultCatalog}"."s"."t"` : '"s"."t"';
        assert.equal(a.tableName({ catalog: a.defaultCatalog, schema: 's', name: 't' }), local);
        assert.equal(a.tableName({ schema: 's', name: 't' }), local);
        assert.equal(
          a.tableName({ catalog: 'elsewhere', schema: 's', name: 't' }),
          '"elsewhere"."s"."t"',
        );
      }));

    test('cancel() stops a long statement with a cancellation and the adapter stays usable', () =>
      using(engine, async (a) => {
        await a.ping();
        const started = a.query(engine.longQuerySql);
        const outcome = started.then(
          () => 'finished',
          (err: unknown) => err,
        );
        await new Promise((r) => setTimeout(r, 300));
        await a.cancel();
        const err = await outcome;
        assert.ok(
          err instanceof QueryCancelledError,
          `expected a cancellation, got ${String(err)}`,
        );
        assert.doesNotMatch(err.message, /\n/);
        await a.ping();
      }));

    test('a long statement does not hold up a short one on the same adapter', () =>
      using(
        engine,
        async (a) => {
          await a.ping();
          let longDone = false;
          const long = a.query(engine.longQuerySql).then(
            () => (longDone = true),
            () => (longDone = true),
          );
          await new Promise((r) => setTimeout(r, 100));
          const result = await a.query('SELECT 1 AS one');
          assert.deepEqual(result.rows, [{ one: 1 }]);
          assert.equal(longDone, false);
          await a.cancel();
          await long;
        },
        { concurrentTasks: 2 },
      ));

    test('many queries at once all complete with their own results', () =>
      using(
        engine,
        async (a) => {
          const results = await Promise.all(
            Array.from({ length: 12 }, (_, i) => a.query(`SELECT ${i} AS i, ${i} * ${i} AS sq`)),
          );
          assert.deepEqual(
            results.map((r) => r.rows[0]),
            Array.from({ length: 12 }, (_, i) => ({ i, sq: i * i })),
          );
        },
        { concurrentTasks: 3 },
      ));

    test('MERGE INTO works exactly when the adapter says it is supported', () =>
      using(engine, async (a) => {
        await a.ping();
        assert.equal(a.capabilities.supportsMerge, await engine.expectMerge(a));
        assert.equal(a.capabilities.supportsTransactionalDdl, true);
        const s = uniqueName('merge');
        await a.createSchema(s);
        const t = a.tableName({ schema: s, name: 'target' });
        await a.execute(
          `CREATE TABLE ${t} (id INTEGER, v VARCHAR(10)); INSERT INTO ${t} VALUES (1, 'old'), (2, 'keep')`,
        );
        const merge =
          `MERGE INTO ${t} AS tgt USING (SELECT 1 AS id, 'new' AS v UNION ALL SELECT 3, 'added') AS src ` +
          `ON tgt.id = src.id WHEN MATCHED THEN UPDATE SET v = src.v ` +
          `WHEN NOT MATCHED THEN INSERT (id, v) VALUES (src.id, src.v)`;
        if (a.capabilities.supportsMerge) {
          await a.execute(merge);
          assert.deepEqual((await a.query(`SELECT id, v FROM ${t} ORDER BY id`)).rows, [
            { id: 1, v: 'new' },
            { id: 2, v: 'keep' },
            { id: 3, v: 'added' },
          ]);
        } else {
          await assert.rejects(a.execute(merge), EngineError);
        }
        await a.dropSchema(s, { cascade: true });
      }));

    describe('bad input', () => {
      test('a syntax error is an EngineError with one line naming the reason and the SQL', () =>
        using(engine, async (a) => {
          const sql = 'SELEC 1 AS broken';
          await assert.rejects(a.query(sql), (err: unknown) => {
            assert.ok(err instanceof EngineError);
            assert.doesNotMatch(err.message, /\n/);
            assert.match(err.message, /syntax error/i);
            assert.match(err.message, /SELEC 1 AS broken/);
            assert.equal(err.sql, sql);
            return true;
          });
        }));

      test('a missing table is reported with its name', () =>
        using(engine, async (a) => {
          const name = uniqueName('no_such_table');
          await assert.rejects(a.query(`SELECT * FROM ${name}`), (err: unknown) => {
            assert.ok(err instanceof EngineError);
            assert.doesNotMatch(err.message, /\n/);
            assert.ok(err.message.includes(name), err.message);
            return true;
          });
          await assert.rejects(a.execute(`DROP TABLE ${name}`), EngineError);
        }));

      test('a long statement in an error message is shortened to one line', () =>
        using(engine, async (a) => {
          const sql = `SELECT\n  ${Array.from({ length: 40 }, (_, i) => `${i} AS c${i}`).join(',\n  ')}\nFROM nowhere_${randomBytes(3).toString('hex')}`;
          await assert.rejects(a.query(sql), (err: unknown) => {
            assert.ok(err instanceof EngineError);
            assert.doesNotMatch(err.message, /\n/);
            assert.ok(err.message.length < 400, err.message);
            assert.equal(err.sql, sql);
            return true;
          });
        }));

      test('a closed adapter refuses statements', async () => {
        const a = await engine.adapter();
        await a.ping();
        await a.close();
        await assert.rejects(a.query('SELECT 1'), EngineError);
        await a.close(); // closing twice is harmless
      });
    });
  });
}
