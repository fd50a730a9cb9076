/**
 * Component benchmarks: single engine parts at the scale of a large project,
 * each result checked before its time counts.
 *
 * - render: 10,000 small queries with macros through one macro scope
 *   (target: under 1 s).
 * - parse: 10,000 model files (target: under 2 s); 10,000 queries parsed and
 *   their table references read (target: under 5 s).
 * - intervals: missing intervals and batches for 10,000 models with three
 *   years of daily state (target: under 1 s each, merged or empty state).
 * - state: 10,000 snapshots pushed, read back and their intervals read, on
 *   DuckDB in memory (target: under 30 s in all). PostgreSQL is not measured
 *   here: the benchmarks start no server.
 * - cancel: a running DuckDB statement stopped by `cancel()` (target: under 1 s).
 *
 * Timed parts run once to warm up, then the median of three runs is shown.
 */
import { tmpdir } from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import { QueryCancelledError } from '../src/engine/adapters/adapter-errors.js';
import { createAdapter } from '../src/engine/adapters/adapter-factory.js';
import type { EngineAdapter } from '../src/engine/adapters/engine-adapter.js';
import type { ModelDefinition, SqlFragment } from '../src/engine/model-types.js';
import { parseModelFile } from '../src/engine/parse/model-parser.js';
import { MacroScope, type MacroContext } from '../src/engine/render/macro-renderer.js';
import type { Interval, Snapshot } from '../src/engine/snapshot/snapshot-types.js';
import { parseQuery, tableReferences } from '../src/engine/sql/query.js';
import { snapshotKey } from '../src/engine/state/state-sync.js';
import { WarehouseStateSync } from '../src/engine/state/warehouse-state-sync.js';
import {
  batchIntervals,
  expandIntervals,
  missingIntervals,
  totalUnits,
} from '../src/engine/time/intervals.js';
import { DAY_MS, median, utcDay, type Figure } from './common-bench-helpers.js';

const RENDER_TARGET_MS = 1000;
const MODEL_PARSE_TARGET_MS = 2000;
const QUERY_PARSE_TARGET_MS = 5000;
const INTERVALS_TARGET_MS = 1000;
const STATE_TARGET_MS = 30_000;
const CANCEL_TARGET_MS = 1000;

/** Runs `fn` once to warm up, then `repeats` times; the median time in ms. */
function medianMs(repeats: number, fn: () => void): number {
  fn();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`component benchmark gave a wrong result: ${what}`);
}

function targetFigure(name: string, ms: number, targetMs: number): Figure {
  return { name, value: ms, unit: 'ms', target: `< ${targetMs} ms`, missed: ms > targetMs };
}

// -- render and parse ----------------------------------------------------------

function renderFigure(): Figure {
  const start = utcDay('2024-01-01');
  const context: MacroContext = {
    start,
    end: start + DAY_MS,
    executionTime: start + DAY_MS + 6 * 3_600_000,
    variables: { str_var: 'cat' },
    dialect: 'duckdb',
    gateway: 'local',
    thisModel: '"db"."sqlmesh__db"."db__t__1"',
    runtimeStage: 'evaluating',
  };
  const fragment = (sql: string): SqlFragment => ({
    sql,
    location: { file: 'models/m.sql', line: 10, column: 1 },
    jinja: false,
  });
  const queries = Array.from({ length: 10_000 }, (_, i) =>
    fragment(
      `SELECT id, amount_@str_var, @IF(@size > ${i % 20}, a, b) FROM t WHERE ds BETWEEN @start_ds AND @end_ds AND n = ${i}`,
    ),
  );
  const ms = medianMs(3, () => {
    const scope = new MacroScope(context);
    scope.renderStatement(fragment('@DEF(size, 10)'));
    for (const [i, q] of queries.entries()) {
      const sql = scope.renderQuery(q);
      check(sql.endsWith(`'2024-01-01' AND n = ${i}`), `rendered query ${i}: ${sql}`);
    }
  });
  return targetFigure('render 10,000 small queries with macros', ms, RENDER_TARGET_MS);
}

function modelSource(i: number): string {
  return `MODEL (
  name shop.model_${i}, -- model ${i}
  kind INCREMENTAL_BY_TIME_RANGE (time_column (ds, '%Y-%m-%d'), batch_size 7, lookback 2),
  cron '@daily',
  start '2024-01-01',
  grain (id, ds),
  audits (not_null(columns := [id, ds]), unique_values(columns := [id])),
  columns (id INT, ds TEXT, amount DECIMAL(10, 2)),
  tags (finance, daily),
  description 'Model number ${i}, with ''quotes'' inside'
);
@DEF(threshold, ${i});
SELECT
  id, -- the key
  ds,
  SUM(amount) AS amount /* total */
FROM shop.raw_${i % 100}
WHERE ds BETWEEN @start_ds AND @end_ds AND note <> ';'
GROUP BY id, ds;
`;
}

function modelParseFigure(): Figure {
  const sources = Array.from({ length: 10_000 }, (_, i) => modelSource(i));
  const ms = medianMs(3, () => {
    for (const [i, source] of sources.entries()) {
      const m = parseModelFile(source, `models/m${i}.sql`, { dialect: 'duckdb', extra: {} });
      check(m.name === `shop.model_${i}` && m.query !== undefined, `model file ${i}`);
    }
  });
  return targetFigure('parse 10,000 model files', ms, MODEL_PARSE_TARGET_MS);
}

function queryParseFigure(): Figure {
  const loc = { file: 'models/m.sql', line: 1, column: 1 };
  const queries = Array.from(
    { length: 10_000 },
    (_, i) =>
      `WITH recent AS (SELECT * FROM sushi.orders WHERE ds > '2024-01-0${(i % 9) + 1}')
       SELECT r.id, c.name_${i} FROM recent AS r JOIN sushi.customers c ON r.customer_id = c.id`,
  );
  const ms = medianMs(3, () => {
    for (const [i, sql] of queries.entries()) {
      const refs = tableReferences(parseQuery(sql, 'duckdb', loc)).map((r) => r.key);
      check(
        refs.length === 2 && refs[0] === '"sushi"."orders"' && refs[1] === '"sushi"."customers"',
        `table references of query ${i}: ${refs.join(', ')}`,
      );
    }
  });
  return targetFigure(
    'parse 10,000 queries and read their table references',
    ms,
    QUERY_PARSE_TARGET_MS,
  );
}

// -- intervals -----------------------------------------------------------------

function intervalFigures(): Figure[] {
  const models = 10_000;
  const start = utcDay('2021-01-01');
  const lastDue = utcDay('2024-01-01');
  const exec = lastDue + 3 * 3_600_000;
  const recordedTo = exec - 2 * DAY_MS;
  const unit = 'day' as const;
  const missing = (recorded: readonly Interval[], lookback = 0): Interval[] =>
    missingIntervals({
      start,
      end: exec,
      unit,
      cron: '@daily',
      recorded,
      executionTime: exec,
      lookback,
    });

  // State as stored (merged); a third of the models have a restated day.
  const recorded: Interval[][] = [];
  for (let i = 0; i < models; i++) {
    const gap = start + (i % 1000) * DAY_MS;
    recorded.push(
      i % 3 === 0
        ? [
            [start, gap],
            [gap + DAY_MS, recordedTo],
          ]
        : [[start, recordedTo]],
    );
  }
  const merged = medianMs(3, () => {
    for (let i = 0; i < models; i++) {
      const ranges = missing(recorded[i]!, i % 2);
      // Two days at the end, one more with lookback; a gap day, one more with lookback.
      const gapDays = i % 3 === 0 ? 1 + (i % 2) : 0;
      check(totalUnits(ranges, unit) === 2 + (i % 2) + gapDays, `missing days of model ${i}`);
      check(batchIntervals(ranges, unit, 7).length === ranges.length, `batches of model ${i}`);
    }
  });

  const empty = medianMs(3, () => {
    for (let i = 0; i < models; i++) {
      const batches = batchIntervals(missing([]), unit, 30);
      check(batches.length === 37, `batches of model ${i} with nothing recorded`);
    }
  });

  // The worst input: every day recorded as its own interval; 1,000 models, scaled up.
  const perDay = expandIntervals([[start, lastDue]], unit);
  const unmerged =
    medianMs(3, () => {
      for (let i = 0; i < 1000; i++) {
        check(missing(perDay).length === 0, `per-day state of model ${i}`);
      }
    }) *
    (models / 1000);

  return [
    targetFigure(
      'missing intervals, 10,000 models x 3 years (merged)',
      merged,
      INTERVALS_TARGET_MS,
    ),
    targetFigure('missing intervals, 10,000 models x 3 years (empty)', empty, INTERVALS_TARGET_MS),
    { name: 'missing intervals, 10,000 models x 3 years (per day)', value: unmerged, unit: 'ms' },
  ];
}

// -- state and adapter ---------------------------------------------------------

function memoryDuckDb(): EngineAdapter {
  return createAdapter(
    { type: 'duckdb', catalogs: {}, extensions: [], connectorConfig: {}, concurrentTasks: 4 },
    { projectRoot: tmpdir() },
  );
}

function benchSnapshots(count: number): Snapshot[] {
  const template: ModelDefinition = parseModelFile(modelSource(0), 'models/m0.sql', {
    dialect: 'duckdb',
    extra: {},
  });
  const snapshots: Snapshot[] = [];
  for (let i = 0; i < count; i++) {
    const model = `model_${i % 2_500}`;
    const name = `"db"."shop"."${model}"`;
    snapshots.push({
      name,
      identifier: `id${i}`,
      fingerprint: {
        dataHash: `d${i}`,
        metadataHash: `m${i}`,
        parentDataHash: '0',
        parentMetadataHash: '0',
      },
      version: `v${i % 5_000}`,
      parents: [{ name: '"db"."shop"."raw_0"', identifier: 'p0' }],
      node: {
        definition: { ...template, name: `shop.${model}`, path: `models/${model}.sql` },
        querySource: template.query?.sql,
        dependencies: ['"db"."shop"."raw_0"'],
        variables: { n: i },
        defaultCatalog: 'db',
      },
      ttl: 'in 1 week',
      createdTs: 1_000,
      updatedTs: 1_000,
    });
  }
  return snapshots;
}

async function stateFigures(): Promise<Figure[]> {
  const snapshots = benchSnapshots(10_000);
  const adapter = memoryDuckDb();
  try {
    const push: number[] = [];
    const read: number[] = [];
    const intervals: number[] = [];
    for (let run = 0; run < 3; run++) {
      const state = new WarehouseStateSync(adapter, { schema: `bench_state_${run}` });
      await state.migrate();
      let t0 = performance.now();
      await state.pushSnapshots(snapshots);
      push.push(performance.now() - t0);

      t0 = performance.now();
      const exist = await state.snapshotsExist(snapshots);
      const got = await state.getSnapshots(snapshots);
      read.push(performance.now() - t0);
      check(exist.size === snapshots.length, 'snapshots found');
      for (const s of snapshots) {
        check(isDeepStrictEqual(got.get(snapshotKey(s)), s), `snapshot ${s.identifier} read back`);
      }

      await state.addInterval(snapshots[7]!, 'v7', [0, 10]);
      t0 = performance.now();
      const stored = await state.getIntervals(snapshots);
      intervals.push(performance.now() - t0);
      check(stored.length === snapshots.length, 'intervals of every snapshot');
      check(stored.filter((s) => s.intervals.length > 0).length === 2, 'intervals recorded');
      await adapter.dropSchema(`bench_state_${run}`, { cascade: true });
    }
    const total = median(push) + median(read) + median(intervals);
    return [
      { name: 'state: push 10,000 snapshots (DuckDB in memory)', value: median(push), unit: 'ms' },
      { name: 'state: find and read back 10,000 snapshots', value: median(read), unit: 'ms' },
      { name: 'state: intervals of 10,000 snapshots', value: median(intervals), unit: 'ms' },
      targetFigure('state: 10,000 snapshots in all', total, STATE_TARGET_MS),
    ];
  } finally {
    await adapter.close();
  }
}

async function cancelFigure(): Promise<Figure> {
  const adapter = memoryDuckDb();
  try {
    await adapter.ping();
    const times: number[] = [];
    for (let run = 0; run < 3; run++) {
      const outcome = adapter
        .query(
          'SELECT sum(a.range * b.range) AS s FROM range(1000000) a CROSS JOIN range(1000000) b',
        )
        .then(
          () => 'finished',
          (err: unknown) => err,
        );
      await new Promise((r) => setTimeout(r, 300));
      const t0 = performance.now();
      await adapter.cancel();
      const err = await outcome;
      times.push(performance.now() - t0);
      check(err instanceof QueryCancelledError, `cancel gave ${String(err)}`);
    }
    return targetFigure('cancel a running DuckDB statement', median(times), CANCEL_TARGET_MS);
  } finally {
    await adapter.close();
  }
}

// -- entry points --------------------------------------------------------------

/** Every component figure, measured one after another. */
export async function componentBenchmark(): Promise<Figure[]> {
  return [
    renderFigure(),
    modelParseFigure(),
    queryParseFigure(),
    ...intervalFigures(),
    ...(await stateFigures()),
    await cancelFigure(),
  ];
}

/** One line for a figure, laid out as `printFigure` lays it out. */
export function formatFigure(f: Figure): string {
  const value = f.unit === 'x' ? f.value.toFixed(2) : f.value.toFixed(0);
  const target = f.target ? `   target ${f.target}${f.missed ? '  (missed)' : ''}` : '';
  return `${f.name.padEnd(52)} ${value.padStart(8)} ${f.unit}${target}`;
}

/** The component figures as printable lines; a missed target ends its line with `(missed)`. */
export async function runComponentBench(): Promise<string[]> {
  return (await componentBenchmark()).map(formatFigure);
}
