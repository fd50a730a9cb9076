import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TableRef } from '../../../src/engine/adapters/engine-adapter.js';
import { EngineError } from '../../../src/engine/errors.js';
import {
  createPhysicalTable,
  dropPhysicalTable,
  writeBatch,
  type MaterializeTarget,
} from '../../../src/engine/evaluate/materialize.js';
import {
  rewriteColumns,
  tokenize,
  unqualifySetTargets,
} from '../../../src/engine/evaluate/materialize-sql.js';
import {
  inclusiveEnd,
  strftime,
  timeLiteral,
  timeTypeCategory,
} from '../../../src/engine/evaluate/materialize-time.js';
import type { ModelKind } from '../../../src/engine/model-types.js';
import { at, engineSuites, kinds, withoutMerge } from './materialize-fixtures.js';

describe('time bounds', () => {
  it('formats instants with strftime directives, in UTC', () => {
    const ts = { ms: at('2024-03-05 14:07:09') + 120, micros: 5 };
    assert.equal(strftime(ts, '%Y-%m-%d %H:%M:%S.%f'), '2024-03-05 14:07:09.120005');
    assert.equal(
      strftime(ts, '%y%m%d|%j|%b %B|%a %A|%I%p|%%|%w%u'),
      '240305|065|Mar March|Tue Tuesday|02PM|%|22',
    );
    assert.throws(() => strftime(ts, '%Q'), EngineError);
  });

  it('ends an interval one microsecond before its exclusive end', () => {
    assert.equal(
      strftime(inclusiveEnd(at('2024-01-02')), '%Y-%m-%d %H:%M:%S.%f'),
      '2024-01-01 23:59:59.999999',
    );
  });

  it('compares each column type with bounds of its own type', () => {
    const start = { ms: at('2024-01-01'), micros: 0 };
    const end = inclusiveEnd(at('2024-01-02'));
    assert.equal(timeLiteral(start, 'DATE', '%Y-%m-%d', 'ds'), "CAST('2024-01-01' AS DATE)");
    assert.equal(timeLiteral(end, 'date', '%Y-%m-%d', 'ds'), "CAST('2024-01-01' AS DATE)");
    assert.equal(
      timeLiteral(end, 'timestamp without time zone', '%Y-%m-%d', 'ts'),
      "CAST('2024-01-01 23:59:59.999999' AS TIMESTAMP)",
    );
    assert.equal(
      timeLiteral(start, 'TIMESTAMP WITH TIME ZONE', '%Y-%m-%d', 'ts'),
      "CAST('2024-01-01 00:00:00+00:00' AS TIMESTAMPTZ)",
    );
    assert.equal(timeLiteral(end, 'VARCHAR', '%Y%m%d', 'ds'), "'20240101'");
    assert.equal(timeLiteral(end, 'integer', '%Y%m%d', 'ds'), '20240101');
    assert.throws(() => timeLiteral(end, 'BIGINT', '%Y-%m-%d', 'ds'), /numeric format/);
    assert.equal(timeTypeCategory('character varying(10)'), 'text');
    assert.equal(timeTypeCategory('timestamp(3) with time zone'), 'timestamptz');
  });
});

describe('expression rewriting', () => {
  it('tokenizes losslessly', () => {
    const sql = `COALESCE("na""me", 'it''s') -- c\n/* x */ ::int <> 1.5e3`;
    assert.equal(
      tokenize(sql)
        .map((t) => t.text)
        .join(''),
      sql,
    );
  });

  it('qualifies column references but not functions, qualified names, strings or types', () => {
    const cols = ['id', 'name', 'date'];
    const out = rewriteColumns(
      `COALESCE(Name, 'name') || x.id || "id" || CAST(id AS date) || id::date || date(id)`,
      cols,
      (c) => `t."${c}"`,
    );
    assert.equal(
      out,
      `COALESCE(t."name", 'name') || x.id || t."id" || CAST(t."id" AS date) || t."id"::date || date(t."id")`,
    );
  });

  it('drops the target qualifier from the columns a WHEN MATCHED clause sets', () => {
    const whens =
      'WHEN MATCHED AND source.x IS NULL THEN UPDATE SET target.a = COALESCE(source.a, target.a), "target".b = f(source.b, target.b) ' +
      'WHEN MATCHED THEN UPDATE SET target.c = target.c + 1';
    assert.equal(
      unqualifySetTargets(whens),
      'WHEN MATCHED AND source.x IS NULL THEN UPDATE SET a = COALESCE(source.a, target.a), b = f(source.b, target.b) ' +
        'WHEN MATCHED THEN UPDATE SET c = target.c + 1',
    );
  });
});

engineSuites('materialize', (ctx) => {
  const target = (
    table: TableRef,
    kind: ModelKind,
    extra: Partial<MaterializeTarget> = {},
  ): MaterializeTarget => ({ adapter: ctx().adapter, table, kind, modelName: 'db.m', ...extra });
  const batch = (start = '2024-01-01', end = '2024-01-02', exec = '2024-01-02') => ({
    start: at(start),
    end: at(end),
    executionTime: at(exec),
  });
  /** A query that fails at run time, on its second row, after the table's old rows were deleted. */
  const failing = (src: string, cols = 'name') =>
    `SELECT CAST(CASE WHEN id = 2 THEN 'boom' ELSE CAST(id AS VARCHAR) END AS INTEGER) AS id, ${cols} FROM ${src}`;

  describe('FULL', () => {
    it('creates the table once, replaces its rows on every write, and rolls back a failed write', async () => {
      const { adapter, table, source, rows } = ctx();
      const t = table();
      const src = await source(
        'full_src',
        `SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(id, name)`,
      );
      const m = target(t, kinds.full());
      const query = `SELECT id, name FROM ${src}`;
      await createPhysicalTable(m, query);
      await createPhysicalTable(m, query);
      assert.deepEqual(await rows(t), []);
      assert.deepEqual(await writeBatch(m, query, batch()), { rows: 2 });
      assert.deepEqual(await writeBatch(m, query, batch()), { rows: 2 });
      assert.deepEqual(await rows(t), [
        { id: 1, name: 'a' },
        { id: 2, name: 'b' },
      ]);
      await source('full_src', `SELECT * FROM (VALUES (3, 'c')) AS v(id, name)`);
      assert.deepEqual(await writeBatch(m, query, batch()), { rows: 1 });
      assert.deepEqual(await rows(t), [{ id: 3, name: 'c' }]);
      await source('full_src', `SELECT * FROM (VALUES (1, 'x'), (2, 'y')) AS v(id, name)`);
      await assert.rejects(() => writeBatch(m, failing(src), batch()), EngineError);
      assert.deepEqual(await rows(t), [{ id: 3, name: 'c' }]);
      await createPhysicalTable(m, query);
      assert.deepEqual(await rows(t), [{ id: 3, name: 'c' }], 'creating again keeps the data');
      assert.equal(await adapter.tableExists(t), true);
    });

    it('creates the table with the declared column types', async () => {
      const { adapter, table } = ctx();
      const t = table();
      const m = target(t, kinds.full(), {
        columns: [
          { name: 'id', type: 'BIGINT' },
          { name: 'price', type: 'DECIMAL(10, 2)' },
          { name: 'ds', type: 'DATE' },
          { name: 'score', type: 'DOUBLE' },
        ],
      });
      const query = `SELECT 1 AS id, 2.5 AS price, '2024-01-01' AS ds, 1 AS score`;
      await writeBatch(m, query, batch());
      const cols = await adapter.columns(t);
      assert.deepEqual(
        cols.map((c) => c.name),
        ['id', 'price', 'ds', 'score'],
      );
      assert.match(cols[0]?.type ?? '', /^(bigint|int8)$/i);
      assert.match(cols[1]?.type ?? '', /^(decimal|numeric)\(10, ?2\)$/i);
      assert.match(cols[2]?.type ?? '', /^date$/i);
      assert.match(cols[3]?.type ?? '', /^double/i);
      assert.deepEqual(await ctx().rows(t), [{ id: 1, price: 2.5, ds: '2024-01-01', score: 1 }]);
    });

    it('creates the schema when it is missing and drops the table', async () => {
      const { adapter } = ctx();
      const t = { schema: 'fresh_schema', name: 'x' };
      const m = target(t, kinds.full());
      await createPhysicalTable(m, 'SELECT 1 AS a');
      assert.equal(await adapter.tableExists(t), true);
      await dropPhysicalTable(m);
      assert.equal(await adapter.tableExists(t), false);
      await dropPhysicalTable(m);
    });
  });

  describe('VIEW', () => {
    it('creates a view of the query, replaces it on write, and drops it', async () => {
      const { adapter, table, source, rows } = ctx();
      const t = table();
      const src = await source('view_src', `SELECT * FROM (VALUES (1), (2)) AS v(id)`);
      const m = target(t, kinds.view());
      await createPhysicalTable(m, `SELECT id FROM ${src}`);
      assert.deepEqual(
        await adapter.listObjects('mat').then((o) => o.find((x) => x.name === t.name)),
        {
          name: t.name,
          kind: 'view',
        },
      );
      await adapter.execute(`INSERT INTO ${src} VALUES (3)`);
      assert.equal((await rows(t)).length, 3, 'a view shows the source as it is now');
      await writeBatch(m, `SELECT id, id * 10 AS ten FROM ${src} WHERE id > 1`, batch());
      assert.deepEqual(await rows(t), [
        { id: 2, ten: 20 },
        { id: 3, ten: 30 },
      ]);
      await dropPhysicalTable(m);
      assert.equal(await adapter.tableExists(t), false);
    });

    it('materializes a materialized VIEW as a table replaced on each write', async () => {
      const { adapter, table, source, rows } = ctx();
      const t = table();
      const src = await source('mview_src', `SELECT * FROM (VALUES (1), (2)) AS v(id)`);
      await createPhysicalTable(target(t, kinds.view()), `SELECT id FROM ${src}`);
      const m = target(t, kinds.view(true));
      // The view left by the kind's previous definition gives way to a table.
      await writeBatch(m, `SELECT id FROM ${src}`, batch());
      const objects = await adapter.listObjects('mat');
      assert.equal(objects.find((o) => o.name === t.name)?.kind, 'table');
      await source('mview_src', `SELECT * FROM (VALUES (1), (2), (3)) AS v(id)`);
      assert.equal((await rows(t)).length, 2, 'a table keeps the rows of its last write');
      await writeBatch(m, `SELECT id FROM ${src}`, batch());
      assert.equal((await rows(t)).length, 3);
    });
  });

  describe('INCREMENTAL_BY_TIME_RANGE', () => {
    const events = `SELECT * FROM (VALUES
      (1, CAST('2023-12-31' AS DATE), 'before'),
      (2, CAST('2024-01-01' AS DATE), 'a'),
      (3, CAST('2024-01-01' AS DATE), 'b'),
      (4, CAST('2024-01-02' AS DATE), 'c'),
      (5, CAST('2024-01-03' AS DATE), 'after')) AS v(id, ds, name)`;

    it('replaces exactly the rows of the interval, whatever the query returns', async () => {
      const { table, source, rows } = ctx();
      const t = table();
      const src = await source('time_src', events);
      const m = target(t, kinds.byTime());
      const query = `SELECT id, ds, name FROM ${src}`;
      await createPhysicalTable(m, query);
      assert.deepEqual(await writeBatch(m, query, batch('2024-01-01', '2024-01-02')), { rows: 2 });
      assert.deepEqual(
        (await rows(t, 'id')).map((r) => r['id']),
        [2, 3],
        'rows outside the interval are not written',
      );
      assert.deepEqual(await writeBatch(m, query, batch('2024-01-02', '2024-01-03')), { rows: 1 });
      // The same interval again, after the source changed: replaced, not duplicated.
      await source(
        'time_src',
        `SELECT * FROM (VALUES (2, CAST('2024-01-01' AS DATE), 'a2'), (9, CAST('2024-01-02' AS DATE), 'late')) AS v(id, ds, name)`,
      );
      assert.deepEqual(await writeBatch(m, query, batch('2024-01-01', '2024-01-02')), { rows: 1 });
      assert.deepEqual(await rows(t, 'id'), [
        { id: 2, ds: '2024-01-01', name: 'a2' },
        { id: 4, ds: '2024-01-02', name: 'c' },
      ]);
      // A failing query leaves the interval as it was.
      await assert.rejects(() =>
        writeBatch(m, failing(src, 'ds, name'), batch('2024-01-01', '2024-01-03')),
      );
      assert.equal((await rows(t)).length, 2);
    });

    it('writes a batch of several days and maps the query columns by name', async () => {
      const { table, source, rows } = ctx();
      const t = table();
      const src = await source('time_src2', events);
      const m = target(t, kinds.byTime());
      await createPhysicalTable(m, `SELECT id, ds, name FROM ${src}`);
      const reordered = `SELECT name, id, ds FROM ${src}`;
      assert.deepEqual(await writeBatch(m, reordered, batch('2024-01-01', '2024-01-04')), {
        rows: 4,
      });
      assert.deepEqual(
        (await rows(t, 'id')).map((r) => [r['id'], r['name']]),
        [
          [2, 'a'],
          [3, 'b'],
          [4, 'c'],
          [5, 'after'],
        ],
      );
    });

    it('includes the last microsecond of an interval on a TIMESTAMP column, and not the next', async () => {
      const { table, source, rows } = ctx();
      const t = table();
      const src = await source(
        'ts_src',
        `SELECT * FROM (VALUES
          (1, CAST('2024-01-01 00:00:00' AS TIMESTAMP)),
          (2, CAST('2024-01-01 23:59:59.999999' AS TIMESTAMP)),
          (3, CAST('2024-01-02 00:00:00' AS TIMESTAMP)),
          (4, CAST('2023-12-31 23:59:59.999999' AS TIMESTAMP))) AS v(id, ts)`,
      );
      const m = target(t, kinds.byTime('ts'));
      const query = `SELECT id, ts FROM ${src}`;
      await writeBatch(m, query, batch('2024-01-01', '2024-01-02'));
      assert.deepEqual(
        (await rows(t, 'id')).map((r) => r['id']),
        [1, 2],
      );
      await writeBatch(m, query, batch('2024-01-01 12:00', '2024-01-02 00:00:01'));
      assert.deepEqual(
        (await rows(t, 'id')).map((r) => r['id']),
        [1, 2, 3],
      );
    });

    it('compares a text time column as strings formatted with its format', async () => {
      const { table, source, rows } = ctx();
      const t = table();
      const src = await source(
        'text_src',
        `SELECT * FROM (VALUES (1, '20231231'), (2, '20240101'), (3, '20240102'), (4, '20240103')) AS v(id, ds)`,
      );
      const m = target(t, kinds.byTime('ds', '%Y%m%d'));
      const query = `SELECT id, ds FROM ${src}`;
      assert.deepEqual(await writeBatch(m, query, batch('2024-01-01', '2024-01-03')), { rows: 2 });
      assert.deepEqual(
        (await rows(t, 'id')).map((r) => r['ds']),
        ['20240101', '20240102'],
      );
      await writeBatch(m, query, batch('2024-01-02', '2024-01-03'));
      assert.equal((await rows(t)).length, 2, 're-running a day replaces it');
    });

    it('compares a numeric time column with numbers in its format', async () => {
      const { table, rows } = ctx();
      const t = table();
      const query = `SELECT * FROM (VALUES (1, 20231231), (2, 20240101), (3, 20240102)) AS v(id, ds)`;
      const m = target(t, kinds.byTime('ds', '%Y%m%d'));
      await writeBatch(m, query, batch('2024-01-01', '2024-01-02'));
      assert.deepEqual(
        (await rows(t)).map((r) => r['id']),
        [2],
      );
    });

    it('names the model when its time column is missing', async () => {
      const { table } = ctx();
      const m = target(table(), kinds.byTime('event_date'));
      await assert.rejects(
        () => writeBatch(m, 'SELECT 1 AS id', batch()),
        (err: unknown) => err instanceof EngineError && /db\.m.*event_date/.test(err.message),
      );
    });
  });

  describe('INCREMENTAL_BY_UNIQUE_KEY', () => {
    for (const merge of [true, false]) {
      const label = merge ? 'with MERGE' : 'with delete and insert';
      const adapterFor = () => (merge ? ctx().adapter : withoutMerge(ctx().adapter));

      it(`updates matching keys, inserts new ones and keeps the rest (${label})`, async () => {
        const { table, source, rows } = ctx();
        const t = table();
        const src = await source(
          `key_src_${merge}`,
          `SELECT * FROM (VALUES (1, 'a', 10), (2, 'b', 20), (2, 'b', 20), (3, 'c', 30)) AS v(id, name, n)`,
        );
        const m = { ...target(t, kinds.byKey(['id'])), adapter: adapterFor() };
        const query = `SELECT id, name, n FROM ${src}`;
        assert.deepEqual(await writeBatch(m, query, batch()), { rows: 3 });
        assert.deepEqual(
          (await rows(t, 'id')).map((r) => r['id']),
          [1, 2, 3],
          'one row per key',
        );
        await source(
          `key_src_${merge}`,
          `SELECT * FROM (VALUES (2, 'b2', 21), (4, 'd', 40)) AS v(id, name, n)`,
        );
        assert.deepEqual(await writeBatch(m, query, batch()), { rows: 2 });
        assert.deepEqual(await writeBatch(m, query, batch()), { rows: 2 });
        assert.deepEqual(await rows(t, 'id'), [
          { id: 1, name: 'a', n: 10 },
          { id: 2, name: 'b2', n: 21 },
          { id: 3, name: 'c', n: 30 },
          { id: 4, name: 'd', n: 40 },
        ]);
        await assert.rejects(() => writeBatch(m, failing(src, 'name, n'), batch()));
        assert.equal((await rows(t)).length, 4);
      });

      it(`upserts on a composite key and on key expressions (${label})`, async () => {
        const { table, rows } = ctx();
        const t = table();
        const m = { ...target(t, kinds.byKey(['a', 'COALESCE(b, 0)'])), adapter: adapterFor() };
        await writeBatch(
          m,
          `SELECT * FROM (VALUES (1, 1, 'x'), (1, NULL, 'y'), (2, 1, 'z')) AS v(a, b, v)`,
          batch(),
        );
        await writeBatch(
          m,
          `SELECT * FROM (VALUES (1, 0, 'y2'), (2, 2, 'w')) AS v(a, b, v)`,
          batch(),
        );
        assert.deepEqual(
          (await rows(t, 'a, v')).map((r) => [r['a'], r['b'], r['v']]),
          [
            [1, 1, 'x'],
            [1, 0, 'y2'],
            [2, 2, 'w'],
            [2, 1, 'z'],
          ],
        );
      });
    }

    it('applies when_matched and merge_filter with MERGE', async () => {
      const { table, rows, adapter } = ctx();
      const t = table();
      const kind = kinds.byKey(['id'], {
        whenMatched:
          'WHEN MATCHED THEN UPDATE SET target.name = COALESCE(source.name, target.name), target.n = target.n + source.n',
        mergeFilter: 'source.n >= 0',
      });
      const m = target(t, kind);
      await writeBatch(
        m,
        `SELECT * FROM (VALUES (1, 'a', 1), (2, 'b', 2)) AS v(id, name, n)`,
        batch(),
      );
      await writeBatch(
        m,
        `SELECT * FROM (VALUES (1, CAST(NULL AS VARCHAR), 10), (2, 'b2', -5)) AS v(id, name, n)`,
        batch(),
      );
      // Key 2 fails the merge filter, so its row is inserted rather than merged.
      assert.deepEqual(await rows(t, 'id, n'), [
        { id: 1, name: 'a', n: 11 },
        { id: 2, name: 'b2', n: -5 },
        { id: 2, name: 'b', n: 2 },
      ]);
      const noMerge = { ...m, adapter: withoutMerge(adapter) };
      await assert.rejects(
        () => writeBatch(noMerge, 'SELECT 1 AS id, 1 AS n', batch()),
        /db\.m: when_matched needs MERGE/,
      );
    });
  });

  describe('INCREMENTAL_UNMANAGED', () => {
    it('appends, or replaces everything with insert_overwrite', async () => {
      const { table, rows } = ctx();
      const append = table();
      const overwrite = table();
      const query = `SELECT * FROM (VALUES (1), (2)) AS v(id)`;
      for (let i = 0; i < 2; i++) {
        await writeBatch(target(append, kinds.unmanaged()), query, batch());
        await writeBatch(target(overwrite, kinds.unmanaged(true)), query, batch());
      }
      assert.equal((await rows(append)).length, 4);
      assert.equal((await rows(overwrite)).length, 2);
      await assert.rejects(() =>
        writeBatch(target(append, kinds.unmanaged()), `SELECT CAST('x' AS INTEGER) AS id`, batch()),
      );
      assert.equal((await rows(append)).length, 4);
    });
  });

  describe('INCREMENTAL_BY_PARTITION', () => {
    it('replaces the partitions the query returns, NULL partitions included', async () => {
      const { table, rows } = ctx();
      const t = table();
      const m = target(t, kinds.byPartition(), { partitionedBy: ['region'] });
      await writeBatch(
        m,
        `SELECT * FROM (VALUES ('eu', 1), ('eu', 2), ('us', 3), (NULL, 4)) AS v(region, id)`,
        batch(),
      );
      assert.deepEqual(
        await writeBatch(
          m,
          `SELECT * FROM (VALUES ('eu', 5), (CAST(NULL AS VARCHAR), 6)) AS v(region, id)`,
          batch(),
        ),
        { rows: 2 },
      );
      assert.deepEqual(
        (await rows(t, 'id')).map((r) => [r['region'], r['id']]),
        [
          ['us', 3],
          ['eu', 5],
          [null, 6],
        ],
      );
    });

    it('refuses a model without partitioned_by', async () => {
      const { table } = ctx();
      await assert.rejects(
        () => writeBatch(target(table(), kinds.byPartition()), 'SELECT 1 AS id', batch()),
        /db\.m: INCREMENTAL_BY_PARTITION needs partitioned_by/,
      );
    });
  });

  describe('kinds that are not materialized here', () => {
    it('refuses SEED, EMBEDDED and EXTERNAL', async () => {
      const { table, adapter } = ctx();
      const seed: ModelKind = { name: 'SEED', path: 's.csv', batchSize: 1000, csvSettings: {} };
      for (const kind of [
        seed,
        { name: 'EMBEDDED' } as ModelKind,
        { name: 'EXTERNAL' } as ModelKind,
      ]) {
        const t = table();
        await assert.rejects(
          () => writeBatch(target(t, kind), 'SELECT 1 AS a', batch()),
          /internal error/,
        );
        await assert.rejects(
          () => createPhysicalTable(target(t, kind), 'SELECT 1 AS a'),
          EngineError,
        );
        assert.equal(await adapter.tableExists(t), false);
      }
    });
  });
});
