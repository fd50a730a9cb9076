import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TableRef } from '../../../src/engine/adapters/engine-adapter.js';
import { EngineError } from '../../../src/engine/errors.js';
import {
  createPhysicalTable,
  writeBatch,
  type MaterializeTarget,
} from '../../../src/engine/evaluate/materialize.js';
import type { ModelKind } from '../../../src/engine/model-types.js';
import { at, engineSuites, kinds } from './materialize-fixtures.js';

const EPOCH = '1970-01-01 00:00:00';

/** A VALUES list of (id, name, updated_at) rows as a SELECT. */
function byTimeRows(rows: Array<[number, string | null, string]>): string {
  const values = rows
    .map(
      ([id, name, ts]) =>
        `(${id}, ${name === null ? 'CAST(NULL AS VARCHAR)' : `'${name}'`}, CAST('${ts}' AS TIMESTAMP))`,
    )
    .join(', ');
  return `SELECT * FROM (VALUES ${values}) AS v(id, name, updated_at)`;
}

/** A VALUES list of (id, name, price) rows as a SELECT. */
function byColumnRows(rows: Array<[number, string | null, number]>): string {
  const values = rows
    .map(
      ([id, name, price]) =>
        `(${id}, ${name === null ? 'CAST(NULL AS VARCHAR)' : `'${name}'`}, ${price})`,
    )
    .join(', ');
  return `SELECT * FROM (VALUES ${values}) AS v(id, name, price)`;
}

engineSuites('SCD Type 2', (ctx) => {
  const target = (table: TableRef, kind: ModelKind, extra: Partial<MaterializeTarget> = {}) => ({
    adapter: ctx().adapter,
    table,
    kind,
    modelName: 'db.scd',
    ...extra,
  });
  const run = (time: string) => ({ start: at(time), end: at(time), executionTime: at(time) });

  /** Loads `select` through a source table and returns the table as [id, name, valid_from, valid_to]. */
  async function load(
    m: MaterializeTarget,
    src: string,
    select: string,
    time: string,
    extraCols: string[] = [],
  ) {
    const { source, rows } = ctx();
    const ref = await source(src, select);
    await writeBatch(m, `SELECT * FROM ${ref}`, run(time));
    return (await rows(m.table, 'id, valid_from')).map((r) => [
      r['id'],
      r['name'],
      ...extraCols.map((c) => r[c]),
      r['valid_from'],
      r['valid_to'],
    ]);
  }

  describe('by time', () => {
    for (const invalidate of [false, true]) {
      it(`versions changed rows and ${invalidate ? 'closes' : 'keeps open'} deleted ones over three loads`, async () => {
        const { table } = ctx();
        const m = target(table(), kinds.scdByTime({ invalidateHardDeletes: invalidate }));
        const src = `scd_time_${invalidate}`;
        const first = byTimeRows([
          [1, 'a', '2020-01-01 00:00:00'],
          [2, 'b', '2020-01-01 00:00:00'],
          [3, 'c', '2020-01-01 00:00:00'],
        ]);
        await createPhysicalTable(m, first);
        assert.deepEqual(await load(m, src, first, '2020-01-01 06:00:00'), [
          [1, 'a', EPOCH, null],
          [2, 'b', EPOCH, null],
          [3, 'c', EPOCH, null],
        ]);

        // 1 changes, 2 stays, 3 is deleted, 4 is new.
        const second = byTimeRows([
          [1, 'a2', '2020-01-02 10:00:00'],
          [2, 'b', '2020-01-01 00:00:00'],
          [4, 'd', '2020-01-02 00:00:00'],
        ]);
        const closed3 = invalidate ? '2020-01-02 12:00:00' : null;
        const afterSecond = [
          [1, 'a', EPOCH, '2020-01-02 10:00:00'],
          [1, 'a2', '2020-01-02 10:00:00', null],
          [2, 'b', EPOCH, null],
          [3, 'c', EPOCH, closed3],
          [4, 'd', EPOCH, null],
        ];
        assert.deepEqual(await load(m, src, second, '2020-01-02 12:00:00'), afterSecond);
        assert.deepEqual(
          await load(m, src, second, '2020-01-02 13:00:00'),
          afterSecond,
          'the same data again changes nothing',
        );

        // 3 comes back with its old updated_at; 4's name changes without a newer updated_at.
        const third = byTimeRows([
          [1, 'a2', '2020-01-02 10:00:00'],
          [2, 'b', '2020-01-01 00:00:00'],
          [3, 'c', '2020-01-01 00:00:00'],
          [4, 'd2', '2020-01-02 00:00:00'],
        ]);
        const back3 = invalidate
          ? [
              [3, 'c', EPOCH, '2020-01-02 12:00:00'],
              // Reopened from the later of its last valid_to and its updated_at.
              [3, 'c', '2020-01-02 12:00:00', null],
            ]
          : [[3, 'c', EPOCH, null]];
        assert.deepEqual(await load(m, src, third, '2020-01-03 12:00:00'), [
          [1, 'a', EPOCH, '2020-01-02 10:00:00'],
          [1, 'a2', '2020-01-02 10:00:00', null],
          [2, 'b', EPOCH, null],
          ...back3,
          [4, 'd', EPOCH, null],
        ]);
      });
    }

    it('reopens a deleted key at its updated_at when that is later, and honours updated_at_as_valid_from', async () => {
      const { table } = ctx();
      const m = target(
        table(),
        kinds.scdByTime({ invalidateHardDeletes: true, updatedAtAsValidFrom: true }),
      );
      const src = 'scd_time_uavf';
      assert.deepEqual(
        await load(m, src, byTimeRows([[1, 'a', '2020-01-01 08:00:00']]), '2020-01-01 12:00:00'),
        [[1, 'a', '2020-01-01 08:00:00', null]],
      );
      await load(m, src, byTimeRows([[2, 'b', '2020-01-02 08:00:00']]), '2020-01-02 12:00:00');
      assert.deepEqual(
        await load(
          m,
          src,
          byTimeRows([
            [1, 'a', '2020-01-03 09:00:00'],
            [2, 'b', '2020-01-02 08:00:00'],
          ]),
          '2020-01-03 12:00:00',
        ),
        [
          [1, 'a', '2020-01-01 08:00:00', '2020-01-02 12:00:00'],
          [1, 'a', '2020-01-03 09:00:00', null],
          [2, 'b', '2020-01-02 08:00:00', null],
        ],
      );
    });

    it('uses custom column names and declared types, and keeps one row per key', async () => {
      const { adapter, table } = ctx();
      const t = table();
      const m = target(
        t,
        kinds.scdByTime({
          updatedAtName: 'changed_at',
          validFromName: 'start_at',
          validToName: 'end_at',
        }),
        {
          columns: [
            { name: 'id', type: 'INTEGER' },
            { name: 'name', type: 'VARCHAR(20)' },
            { name: 'changed_at', type: 'TIMESTAMP' },
          ],
        },
      );
      const select = `SELECT * FROM (VALUES (1, 'a', '2020-01-01'), (1, 'a', '2020-01-01')) AS v(id, name, changed_at)`;
      await writeBatch(m, select, run('2020-01-01 12:00:00'));
      const cols = await adapter.columns(t);
      assert.deepEqual(
        cols.map((c) => c.name),
        ['id', 'name', 'changed_at', 'start_at', 'end_at'],
      );
      assert.match(cols[0]?.type ?? '', /^int/i);
      assert.match(cols[1]?.type ?? '', /^(varchar|character varying)/i);
      assert.match(cols[3]?.type ?? '', /^timestamp/i);
      assert.deepEqual(await ctx().rows(t), [
        { id: 1, name: 'a', changed_at: '2020-01-01 00:00:00', start_at: EPOCH, end_at: null },
      ]);
    });

    it('leaves the table unchanged when the query fails', async () => {
      const { table, rows, source } = ctx();
      const m = target(table(), kinds.scdByTime({ invalidateHardDeletes: true }));
      await load(
        m,
        'scd_time_fail',
        byTimeRows([[1, 'a', '2020-01-01 00:00:00']]),
        '2020-01-01 12:00:00',
      );
      const before = await rows(m.table);
      const ref = await source('scd_time_fail', byTimeRows([[2, 'x', '2020-01-02 00:00:00']]));
      const failing = `SELECT CAST(CASE WHEN id = 2 THEN 'boom' ELSE '1' END AS INTEGER) AS id, name, updated_at FROM ${ref}`;
      await assert.rejects(() => writeBatch(m, failing, run('2020-01-02 12:00:00')), EngineError);
      assert.deepEqual(await rows(m.table), before);
    });

    it('names the model when the query lacks updated_at', async () => {
      const { table } = ctx();
      const m = target(table(), kinds.scdByTime());
      await assert.rejects(
        () => writeBatch(m, 'SELECT 1 AS id', run('2020-01-01')),
        /db\.scd: the query has no updated_at column/,
      );
    });
  });

  describe('by column', () => {
    for (const invalidate of [false, true]) {
      it(`versions rows whose checked columns change, NULLs included (${invalidate ? 'closing' : 'keeping'} deletes)`, async () => {
        const { table } = ctx();
        const m = target(
          table(),
          kinds.scdByColumn(['name'], { invalidateHardDeletes: invalidate }),
        );
        const src = `scd_col_${invalidate}`;
        const e1 = '2020-01-01 12:00:00';
        const e2 = '2020-01-02 12:00:00';
        const e3 = '2020-01-03 12:00:00';
        const first = byColumnRows([
          [1, 'a', 10],
          [2, null, 20],
          [3, 'c', 30],
          [5, 'e', 50],
        ]);
        assert.deepEqual(await load(m, src, first, e1, ['price']), [
          [1, 'a', 10, EPOCH, null],
          [2, null, 20, EPOCH, null],
          [3, 'c', 30, EPOCH, null],
          [5, 'e', 50, EPOCH, null],
        ]);

        // 1 renamed, 2 NULL -> 'b', 3 deleted, 4 new, 5 only an unchecked column changes.
        const second = byColumnRows([
          [1, 'a2', 10],
          [2, 'b', 20],
          [4, 'd', 40],
          [5, 'e', 55],
        ]);
        const after2 = [
          [1, 'a', 10, EPOCH, e2],
          [1, 'a2', 10, e2, null],
          [2, null, 20, EPOCH, e2],
          [2, 'b', 20, e2, null],
          [3, 'c', 30, EPOCH, invalidate ? e2 : null],
          [4, 'd', 40, e2, null],
          [5, 'e', 50, EPOCH, null],
        ];
        assert.deepEqual(await load(m, src, second, e2, ['price']), after2);
        assert.deepEqual(
          await load(m, src, second, e2, ['price']),
          after2,
          'no change, no new version',
        );

        // 2 back to NULL; 3 comes back.
        const third = byColumnRows([
          [1, 'a2', 10],
          [2, null, 20],
          [3, 'c', 30],
          [4, 'd', 40],
          [5, 'e', 55],
        ]);
        const back3 = invalidate
          ? [
              [3, 'c', 30, EPOCH, e2],
              [3, 'c', 30, e3, null],
            ]
          : [[3, 'c', 30, EPOCH, null]];
        assert.deepEqual(await load(m, src, third, e3, ['price']), [
          [1, 'a', 10, EPOCH, e2],
          [1, 'a2', 10, e2, null],
          [2, null, 20, EPOCH, e2],
          [2, 'b', 20, e2, e3],
          [2, null, 20, e3, null],
          ...back3,
          [4, 'd', 40, e2, null],
          [5, 'e', 50, EPOCH, null],
        ]);
      });
    }

    it("checks every column with columns '*', and dates first versions by execution time when asked", async () => {
      const { table } = ctx();
      const m = target(table(), kinds.scdByColumn('*', { executionTimeAsValidFrom: true }));
      const e1 = '2020-01-01 12:00:00';
      const e2 = '2020-01-02 12:00:00';
      const src = 'scd_col_star';
      assert.deepEqual(await load(m, src, byColumnRows([[1, 'a', 10]]), e1, ['price']), [
        [1, 'a', 10, e1, null],
      ]);
      assert.deepEqual(await load(m, src, byColumnRows([[1, 'a', 11]]), e2, ['price']), [
        [1, 'a', 10, e1, e2],
        [1, 'a', 11, e2, null],
      ]);
    });

    it('rebuilds from the query alone on a first insert', async () => {
      const { table, source, rows } = ctx();
      const m = target(table(), kinds.scdByColumn(['name']));
      await load(m, 'scd_col_first', byColumnRows([[1, 'a', 10]]), '2020-01-01 12:00:00');
      const ref = await source('scd_col_first', byColumnRows([[2, 'b', 20]]));
      await writeBatch(m, `SELECT * FROM ${ref}`, {
        ...run('2020-01-02 12:00:00'),
        firstInsert: true,
      });
      assert.deepEqual(
        (await rows(m.table)).map((r) => [r['id'], r['valid_from'], r['valid_to']]),
        [[2, EPOCH, null]],
      );
    });

    it('refuses a checked column the query does not return', async () => {
      const { table } = ctx();
      const m = target(table(), kinds.scdByColumn(['colour']));
      await assert.rejects(
        () => writeBatch(m, byColumnRows([[1, 'a', 1]]), run('2020-01-01')),
        /db\.scd: SCD_TYPE_2_BY_COLUMN checks column colour/,
      );
    });
  });
});
