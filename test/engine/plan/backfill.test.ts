/**
 * Which intervals a plan or run evaluates: model starts (own, inherited,
 * default), cron and execution-time bounds, recorded intervals, lookback,
 * batch sizes, kinds evaluated in one batch or never, `end` and
 * `allow_partials`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelDefinition } from '../../../src/engine/model-types.js';
import { parseModelFile } from '../../../src/engine/parse/model-parser.js';
import {
  computeBackfill,
  isEvaluatable,
  snapshotIntervalUnit,
  snapshotStart,
  type BackfillOptions,
} from '../../../src/engine/plan/backfill.js';
import type { BackfillItem } from '../../../src/engine/plan/plan-types.js';
import type { Interval, Snapshot } from '../../../src/engine/snapshot/snapshot-types.js';

const HOUR = 3_600_000;
const DAY = 86_400_000;
const d = (date: string): number => Date.parse(`${date}T00:00:00Z`);
const t = (datetime: string): number => Date.parse(`${datetime}Z`);

/** Parses `MODEL (name s.<name>, <props>); SELECT ...` into a definition. */
function definition(name: string, props: string, query = 'SELECT 1 AS x'): ModelDefinition {
  const text = props.includes('SEED')
    ? `MODEL (\n  name s.${name},\n  ${props}\n);\n`
    : `MODEL (\n  name s.${name},\n  ${props}\n);\n${query}\n`;
  return parseModelFile(text, `models/${name}.sql`, { dialect: 'duckdb', extra: {} });
}

function snap(
  name: string,
  props: string,
  parents: string[] = [],
  version = `v-${name}`,
): Snapshot {
  return {
    name,
    identifier: `id-${name}`,
    fingerprint: { dataHash: 'd', metadataHash: 'm', parentDataHash: 'p', parentMetadataHash: 'q' },
    version,
    parents: parents.map((p) => ({ name: p, identifier: `id-${p}` })),
    node: {
      definition: definition(name, props),
      dependencies: parents,
      variables: {},
      defaultCatalog: 'db',
    },
    ttl: 'in 1 week',
    createdTs: 0,
    updatedTs: 0,
  };
}

const INC = "kind INCREMENTAL_BY_TIME_RANGE (time_column ds), cron '@daily'";

function opts(executionTime: number, extra: Partial<BackfillOptions> = {}): BackfillOptions {
  return { executionTime, recorded: new Map(), ...extra };
}

function recorded(entries: Array<[Snapshot, Interval[]]>): Map<string, Interval[]> {
  return new Map(entries.map(([s, list]) => [`${s.name}|${s.version}`, list]));
}

function item(items: BackfillItem[], name: string): BackfillItem | undefined {
  return items.find((i) => i.name === name);
}

function batchesOf(items: BackfillItem[], name: string): Interval[] {
  return item(items, name)?.batches ?? [];
}

/** Daily intervals from `from` (inclusive) to `to` (exclusive) as one range per day. */
function days(from: string, to: string): Interval[] {
  const out: Interval[] = [];
  for (let a = d(from); a < d(to); a += DAY) out.push([a, a + DAY]);
  return out;
}

describe('isEvaluatable and snapshotIntervalUnit', () => {
  it('never evaluates EMBEDDED or EXTERNAL models, evaluates every other kind', () => {
    assert.equal(isEvaluatable(definition('e', 'kind EMBEDDED')), false);
    for (const kind of ['FULL', 'VIEW', 'INCREMENTAL_BY_TIME_RANGE (time_column ds)']) {
      assert.equal(isEvaluatable(definition('m', `kind ${kind}`)), true, kind);
    }
    const external = { ...definition('x', 'kind FULL'), kind: { name: 'EXTERNAL' as const } };
    assert.equal(isEvaluatable(external), false);
  });

  it('takes the unit from the cron unless interval_unit is set', () => {
    assert.equal(snapshotIntervalUnit(definition('a', "kind FULL, cron '@daily'")), 'day');
    assert.equal(snapshotIntervalUnit(definition('b', "kind FULL, cron '@hourly'")), 'hour');
    assert.equal(snapshotIntervalUnit(definition('c', "kind FULL, cron '0 */2 * * *'")), 'hour');
    assert.equal(
      snapshotIntervalUnit(definition('d', "kind FULL, cron '@daily', interval_unit 'hour'")),
      'hour',
    );
  });
});

describe('snapshotStart', () => {
  const exec = t('2020-01-10T12:34:00');

  it("uses the model's own start", () => {
    const a = snap('a', `${INC}, start '2020-01-03'`);
    assert.equal(snapshotStart(a, new Map([['a', a]]), exec), d('2020-01-03'));
  });

  it('inherits the earliest start among its parents, through models without one', () => {
    const p1 = snap('p1', `${INC}, start '2020-01-05'`);
    const p2 = snap('p2', `${INC}, start '2020-01-02'`);
    const mid = snap('mid', INC, ['p2']);
    const child = snap('child', INC, ['p1', 'mid']);
    const byName = new Map([p1, p2, mid, child].map((s) => [s.name, s]));
    assert.equal(snapshotStart(child, byName, exec), d('2020-01-02'));
    assert.equal(snapshotStart(mid, byName, exec), d('2020-01-02'));
  });

  it('defaults to one cron period before the latest run', () => {
    const daily = snap('daily', INC);
    assert.equal(snapshotStart(daily, new Map([['daily', daily]]), exec), d('2020-01-09'));
    const hourly = snap('hourly', "kind FULL, cron '@hourly'");
    assert.equal(
      snapshotStart(hourly, new Map([['hourly', hourly]]), exec),
      t('2020-01-10T11:00:00'),
    );
  });

  it("without any explicit start upstream, a child takes its parents' default start", () => {
    // A daily parent covers yesterday; an hourly child reading it covers the same span.
    const parent = snap('parent', INC);
    const child = snap('child', "kind FULL, cron '@hourly'", ['parent']);
    const byName = new Map([parent, child].map((s) => [s.name, s]));
    assert.equal(snapshotStart(child, byName, exec), d('2020-01-09'));
  });

  it('reads relative starts against the given time', () => {
    const a = snap('a', `${INC}, start '3 days ago'`);
    assert.equal(snapshotStart(a, new Map([['a', a]]), exec), d('2020-01-07'));
  });
});

describe('computeBackfill', () => {
  it('covers a daily model from its start to the cron floor of the execution time', () => {
    const a = snap('a', `${INC}, start '2020-01-01'`);
    const items = computeBackfill([a], opts(t('2020-01-05T13:00:00')));
    assert.deepEqual(items, [
      {
        name: 'a',
        identifier: 'id-a',
        version: 'v-a',
        batches: [[d('2020-01-01'), d('2020-01-05')]],
      },
    ]);
  });

  it('waits for the cron: a cron at 05:00 has not run yet at 04:59', () => {
    const a = snap(
      'a',
      "kind INCREMENTAL_BY_TIME_RANGE (time_column ds), cron '0 5 * * *', start '2020-01-01'",
    );
    assert.deepEqual(batchesOf(computeBackfill([a], opts(t('2020-01-05T04:59:00'))), 'a'), [
      [d('2020-01-01'), d('2020-01-04')],
    ]);
    assert.deepEqual(batchesOf(computeBackfill([a], opts(t('2020-01-05T05:00:00'))), 'a'), [
      [d('2020-01-01'), d('2020-01-05')],
    ]);
  });

  it('ignoreCron bounds by the execution time itself (floored to the unit)', () => {
    const a = snap(
      'a',
      "kind INCREMENTAL_BY_TIME_RANGE (time_column ds), cron '1 0 * * *', start '2020-01-01'",
    );
    const exec = d('2020-01-03');
    assert.deepEqual(batchesOf(computeBackfill([a], opts(exec)), 'a'), [
      [d('2020-01-01'), d('2020-01-02')],
    ]);
    assert.deepEqual(batchesOf(computeBackfill([a], opts(exec, { ignoreCron: true })), 'a'), [
      [d('2020-01-01'), d('2020-01-03')],
    ]);
  });

  it('starts a model without start or parents one cron period back', () => {
    const a = snap('a', INC);
    assert.deepEqual(batchesOf(computeBackfill([a], opts(t('2020-01-10T08:00:00'))), 'a'), [
      [d('2020-01-09'), d('2020-01-10')],
    ]);
  });

  it("starts a model without start at its parent's start", () => {
    const p = snap('p', `${INC}, start '2020-01-06'`);
    const c = snap('c', INC, ['p']);
    const items = computeBackfill([p, c], opts(d('2020-01-10')));
    assert.deepEqual(batchesOf(items, 'c'), [[d('2020-01-06'), d('2020-01-10')]]);
    assert.deepEqual(
      items.map((i) => i.name),
      ['p', 'c'],
    );
  });

  it("never goes before a model's own start, even for an earlier requested start", () => {
    const a = snap('a', `${INC}, start '2020-01-05'`);
    const items = computeBackfill([a], opts(d('2020-01-10'), { start: d('2020-01-01') }));
    assert.deepEqual(batchesOf(items, 'a'), [[d('2020-01-05'), d('2020-01-10')]]);
  });

  it('never goes before a start inherited from a parent, even for an earlier requested start', () => {
    const p = snap('p', `${INC}, start '2020-01-05'`);
    const c = snap('c', INC, ['p']);
    const items = computeBackfill([p, c], opts(d('2020-01-10'), { start: d('2020-01-01') }));
    assert.deepEqual(batchesOf(items, 'c'), [[d('2020-01-05'), d('2020-01-10')]]);
  });

  it('honours a requested range: start floored, date end inclusive, execution time bound', () => {
    const a = snap('a', `${INC}, start '2020-01-01'`);
    const exec = d('2020-01-20');
    const items = computeBackfill(
      [a],
      opts(exec, { start: t('2020-01-03T10:00:00'), end: d('2020-01-06'), endFromDate: true }),
    );
    assert.deepEqual(batchesOf(items, 'a'), [[d('2020-01-03'), d('2020-01-06')]]);
    // An end past the execution time is cut at the cron floor.
    const late = computeBackfill([a], opts(exec, { start: d('2020-01-18'), end: d('2020-02-01') }));
    assert.deepEqual(batchesOf(late, 'a'), [[d('2020-01-18'), d('2020-01-20')]]);
  });

  it('a timestamp range shorter than one interval has nothing missing', () => {
    const a = snap('a', `${INC}, start '2020-01-01'`);
    const items = computeBackfill(
      [a],
      opts(d('2020-01-20'), { start: d('2020-01-03'), end: t('2020-01-03T12:00:00') }),
    );
    assert.deepEqual(items, []);
  });

  it('removes recorded intervals and leaves the gaps as separate batches', () => {
    const a = snap('a', `${INC}, start '2020-01-01'`);
    const rec = recorded([
      [
        a,
        [
          [d('2020-01-01'), d('2020-01-02')],
          [d('2020-01-03'), d('2020-01-06')],
        ],
      ],
    ]);
    const items = computeBackfill([a], opts(d('2020-01-08'), { recorded: rec }));
    assert.deepEqual(batchesOf(items, 'a'), [
      [d('2020-01-02'), d('2020-01-03')],
      [d('2020-01-06'), d('2020-01-08')],
    ]);
  });

  it('reads recorded intervals of its own version only', () => {
    const a = snap('a', `${INC}, start '2020-01-01'`);
    const other = { ...a, version: 'v-other' };
    const rec = recorded([[other, [[d('2020-01-01'), d('2020-01-05')]]]]);
    const items = computeBackfill([a], opts(d('2020-01-05'), { recorded: rec }));
    assert.deepEqual(batchesOf(items, 'a'), [[d('2020-01-01'), d('2020-01-05')]]);
  });

  it('leaves out a model with everything recorded', () => {
    const a = snap('a', `${INC}, start '2020-01-01'`);
    const rec = recorded([[a, [[d('2020-01-01'), d('2020-01-05')]]]]);
    assert.deepEqual(computeBackfill([a], opts(d('2020-01-05'), { recorded: rec })), []);
  });

  it('lookback re-adds the intervals before each missing one, never before the start', () => {
    const a = snap(
      'a',
      "kind INCREMENTAL_BY_TIME_RANGE (time_column ds, lookback 2), cron '0 5 * * *', start '2023-01-01'",
    );
    const rec = recorded([[a, [[d('2023-01-01'), d('2023-01-05')]]]]);
    const items = computeBackfill([a], opts(t('2023-01-06T06:00:00'), { recorded: rec }));
    // 01-05 is new; two days of lookback bring back 01-03 and 01-04.
    assert.deepEqual(batchesOf(items, 'a'), [[d('2023-01-03'), d('2023-01-06')]]);
    // Nothing missing: lookback adds nothing.
    const full = recorded([[a, [[d('2023-01-01'), d('2023-01-06')]]]]);
    assert.deepEqual(computeBackfill([a], opts(t('2023-01-06T06:00:00'), { recorded: full })), []);
    // Early in the history, lookback stops at the model's start.
    const first = recorded([[a, []]]);
    assert.deepEqual(
      batchesOf(computeBackfill([a], opts(t('2023-01-02T06:00:00'), { recorded: first })), 'a'),
      [[d('2023-01-01'), d('2023-01-02')]],
    );
  });

  it('batch_size splits missing days into batches of that many intervals', () => {
    const a = snap(
      'a',
      "kind INCREMENTAL_BY_TIME_RANGE (time_column ds, batch_size 2), cron '@daily', start '2020-01-01'",
    );
    const items = computeBackfill([a], opts(d('2020-01-06')));
    assert.deepEqual(batchesOf(items, 'a'), [
      [d('2020-01-01'), d('2020-01-03')],
      [d('2020-01-03'), d('2020-01-05')],
      [d('2020-01-05'), d('2020-01-06')],
    ]);
    const one = snap(
      'one',
      "kind INCREMENTAL_BY_TIME_RANGE (time_column ds, batch_size 1), cron '@daily', start '2020-01-01'",
    );
    assert.deepEqual(
      batchesOf(computeBackfill([one], opts(d('2020-01-04'))), 'one'),
      days('2020-01-01', '2020-01-04'),
    );
  });

  it('batch_size does not merge batches across a recorded gap', () => {
    const a = snap(
      'a',
      "kind INCREMENTAL_BY_TIME_RANGE (time_column ds, batch_size 3), cron '@daily', start '2020-01-01'",
    );
    const rec = recorded([[a, [[d('2020-01-02'), d('2020-01-03')]]]]);
    const items = computeBackfill([a], opts(d('2020-01-05'), { recorded: rec }));
    assert.deepEqual(batchesOf(items, 'a'), [
      [d('2020-01-01'), d('2020-01-02')],
      [d('2020-01-03'), d('2020-01-05')],
    ]);
  });

  it('evaluates FULL and VIEW models in one batch, whatever the gaps', () => {
    const full = snap('full', "kind FULL, cron '@daily', start '2020-01-01'");
    const view = snap('view', "kind VIEW, cron '@daily', start '2020-01-01'");
    const rec = recorded([
      [full, [[d('2020-01-02'), d('2020-01-03')]]],
      [view, []],
    ]);
    const items = computeBackfill([full, view], opts(d('2020-01-06'), { recorded: rec }));
    assert.deepEqual(batchesOf(items, 'full'), [[d('2020-01-01'), d('2020-01-06')]]);
    assert.deepEqual(batchesOf(items, 'view'), [[d('2020-01-01'), d('2020-01-06')]]);
  });

  it('evaluates a SEED once and never again once any interval is recorded', () => {
    const seed = snap('seed', "kind SEED (path 'x.csv'), start '2020-01-01'");
    const items = computeBackfill([seed], opts(d('2020-01-06')));
    assert.deepEqual(batchesOf(items, 'seed'), [[d('2020-01-01'), d('2020-01-06')]]);
    const rec = recorded([[seed, [[d('2020-01-01'), d('2020-01-02')]]]]);
    assert.deepEqual(computeBackfill([seed], opts(d('2020-02-01'), { recorded: rec })), []);
  });

  it('never evaluates EMBEDDED models, but their children still inherit starts through them', () => {
    const p = snap('p', `${INC}, start '2020-01-04'`);
    const e = snap('e', "kind EMBEDDED, start '2020-01-02'", ['p']);
    const c = snap('c', INC, ['e']);
    const items = computeBackfill([p, e, c], opts(d('2020-01-06')));
    assert.equal(item(items, 'e'), undefined);
    assert.deepEqual(batchesOf(items, 'c'), [[d('2020-01-02'), d('2020-01-06')]]);
  });

  it('hourly crons give hourly intervals bounded by the last full hour', () => {
    const a = snap(
      'a',
      "kind INCREMENTAL_BY_TIME_RANGE (time_column ds, batch_size 2), cron '@hourly', start '2020-01-01'",
    );
    const items = computeBackfill([a], opts(t('2020-01-01T05:30:00')));
    assert.deepEqual(batchesOf(items, 'a'), [
      [d('2020-01-01'), d('2020-01-01') + 2 * HOUR],
      [d('2020-01-01') + 2 * HOUR, d('2020-01-01') + 4 * HOUR],
      [d('2020-01-01') + 4 * HOUR, d('2020-01-01') + 5 * HOUR],
    ]);
  });

  it("stops at the model's end (a date end includes its day)", () => {
    const a = snap('a', `${INC}, start '2020-01-01', end '2020-01-03'`);
    const items = computeBackfill([a], opts(d('2020-01-10')));
    assert.deepEqual(batchesOf(items, 'a'), [[d('2020-01-01'), d('2020-01-04')]]);
    // A requested start after the model's end: nothing.
    assert.deepEqual(computeBackfill([a], opts(d('2020-01-10'), { start: d('2020-01-05') })), []);
  });

  it("lookback past the model's end only re-adds intervals inside it", () => {
    const a = snap(
      'a',
      "kind INCREMENTAL_BY_TIME_RANGE (time_column ds, lookback 2), cron '@daily', start '2023-01-01', end '2023-01-05'",
    );
    const rec = recorded([[a, [[d('2023-01-01'), d('2023-01-06')]]]]);
    assert.deepEqual(
      batchesOf(computeBackfill([a], opts(d('2023-01-07'), { recorded: rec })), 'a'),
      [[d('2023-01-04'), d('2023-01-06')]],
    );
    assert.deepEqual(computeBackfill([a], opts(d('2023-01-09'), { recorded: rec })), []);
  });

  it('allow_partials lets the last interval end at the execution time', () => {
    const a = snap('a', `${INC}, start '2023-01-01', allow_partials true`);
    const exec = t('2023-01-02T12:00:00');
    assert.deepEqual(batchesOf(computeBackfill([a], opts(exec, { ignoreCron: true })), 'a'), [
      [d('2023-01-01'), exec],
    ]);
    // Without it, the partial day is left for later.
    const b = snap('b', `${INC}, start '2023-01-01'`);
    assert.deepEqual(batchesOf(computeBackfill([b], opts(exec, { ignoreCron: true })), 'b'), [
      [d('2023-01-01'), d('2023-01-02')],
    ]);
  });

  it('only computes the named snapshots', () => {
    const a = snap('a', `${INC}, start '2020-01-01'`);
    const b = snap('b', `${INC}, start '2020-01-01'`, ['a']);
    const items = computeBackfill([a, b], opts(d('2020-01-03'), { only: new Set(['b']) }));
    assert.deepEqual(
      items.map((i) => i.name),
      ['b'],
    );
  });

  it('is not confused by a model that reads itself', () => {
    const a = snap('a', `${INC}, start '2020-01-02'`, ['a']);
    const b = snap('b', INC, ['b', 'a']);
    const items = computeBackfill([a, b], opts(d('2020-01-04')));
    assert.deepEqual(batchesOf(items, 'b'), [[d('2020-01-02'), d('2020-01-04')]]);
  });
});
