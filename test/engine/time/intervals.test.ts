import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IntervalUnit } from '../../../src/engine/model-types.js';
import {
  batchIntervals,
  expandIntervals,
  formatIntervals,
  intervalsBetween,
  intervalsToRanges,
  mergeIntervals,
  missingIntervals,
  removeInterval,
  subtractIntervals,
  totalUnits,
  type Interval,
  type MissingIntervalsOptions,
} from '../../../src/engine/time/intervals.js';
import { isDateOnly, toEndTimestamp, toTimestamp } from '../../../src/engine/time/time-values.js';

const DAY = 86_400_000;
const utc = (iso: string): number => Date.parse(iso.length === 10 ? `${iso}T00:00:00Z` : `${iso}Z`);
/** The range a date-only pair names, both ends inclusive: ['2020-01-03', '2020-01-05'] -> 3 days. */
const days = (first: string, last: string): Interval => [utc(first), utc(last) + DAY];
const FAR_FUTURE = utc('2030-01-01');

type Overrides = Partial<Omit<MissingIntervalsOptions, 'start' | 'end'>>;

/** Missing intervals for a range written as a user would: dates are inclusive, datetimes exclusive. */
function missing(
  start: string | number,
  end: string | number,
  overrides: Overrides = {},
): Interval[] {
  return missingIntervals({
    start: toTimestamp(start, FAR_FUTURE),
    end: toEndTimestamp(end, FAR_FUTURE),
    endFromDate: isDateOnly(end),
    unit: 'day',
    cron: '@daily',
    recorded: [],
    executionTime: FAR_FUTURE,
    ...overrides,
  });
}

void test('merge sorts, joins touching and overlapping intervals, and drops empty ones', () => {
  assert.deepEqual(mergeIntervals([]), []);
  assert.deepEqual(
    mergeIntervals([
      [5, 7],
      [1, 2],
      [2, 3],
      [6, 9],
      [4, 4],
      [11, 12],
    ]),
    [
      [1, 3],
      [5, 9],
      [11, 12],
    ],
  );
  const merged: Interval[] = [
    [1, 2],
    [3, 4],
  ];
  const copy = mergeIntervals(merged);
  assert.deepEqual(copy, merged);
  assert.notEqual(copy, merged);
});

void test('removing an interval cuts the intervals it overlaps (restatement)', () => {
  let intervals = mergeIntervals([
    days('2020-01-01', '2020-01-05'),
    days('2020-01-07', '2020-01-10'),
  ]);
  intervals = removeInterval(intervals, days('2020-01-03', '2020-01-04'));
  assert.deepEqual(intervals, [
    days('2020-01-01', '2020-01-02'),
    days('2020-01-05', '2020-01-05'),
    days('2020-01-07', '2020-01-10'),
  ]);
  intervals = removeInterval(intervals, days('2020-01-01', '2020-01-01'));
  intervals = removeInterval(intervals, days('2020-01-10', '2020-01-10'));
  intervals = removeInterval(intervals, days('2020-01-07', '2020-01-07'));
  assert.deepEqual(intervals, [
    days('2020-01-02', '2020-01-02'),
    days('2020-01-05', '2020-01-05'),
    days('2020-01-08', '2020-01-09'),
  ]);
  intervals = removeInterval(intervals, days('2020-01-06', '2020-01-21'));
  assert.deepEqual(intervals, [days('2020-01-02', '2020-01-02'), days('2020-01-05', '2020-01-05')]);
  assert.deepEqual(removeInterval(intervals, days('2019-01-01', '2022-01-01')), []);
  assert.deepEqual(
    subtractIntervals(
      [days('2020-01-01', '2020-01-10')],
      [days('2020-01-03', '2020-01-03'), days('2020-01-08', '2020-01-20')],
    ),
    [days('2020-01-01', '2020-01-02'), days('2020-01-04', '2020-01-07')],
  );
});

void test('intervals between two times follow the unit, ending with a partial one', () => {
  assert.deepEqual(intervalsBetween(utc('2020-01-30 10:00:00'), utc('2020-02-02'), 'day'), [
    days('2020-01-30', '2020-01-30'),
    days('2020-01-31', '2020-01-31'),
    days('2020-02-01', '2020-02-01'),
  ]);
  const months = intervalsBetween(utc('2019-12-01'), utc('2020-04-01'), 'month');
  assert.deepEqual(
    months.map(([s, e]) => (e - s) / DAY),
    [31, 31, 29, 31],
  );
  assert.deepEqual(intervalsBetween(utc('2020-01-01'), utc('2020-01-01 01:30:00'), 'hour'), [
    [utc('2020-01-01'), utc('2020-01-01 01:00:00')],
    [utc('2020-01-01 01:00:00'), utc('2020-01-01 01:30:00')],
  ]);
  assert.deepEqual(expandIntervals([days('2020-02-28', '2020-03-01')], 'day'), [
    days('2020-02-28', '2020-02-28'),
    days('2020-02-29', '2020-02-29'),
    days('2020-03-01', '2020-03-01'),
  ]);
  assert.equal(totalUnits([days('2020-01-01', '2020-12-31')], 'day'), 366);
  assert.equal(totalUnits([days('2020-01-01', '2020-12-31')], 'month'), 12);
});

void test('missing intervals with gaps in what is recorded', () => {
  const recorded = mergeIntervals([
    days('2020-01-01', '2020-01-01'),
    days('2020-01-03', '2020-01-05'),
  ]);
  const m = (s: string, e: string): Interval[] => missing(s, e, { recorded });
  assert.deepEqual(m('2020-01-01', '2020-01-01'), []);
  assert.deepEqual(m('2020-01-02', '2020-01-02'), [days('2020-01-02', '2020-01-02')]);
  assert.deepEqual(m('2020-01-01', '2020-01-03'), [days('2020-01-02', '2020-01-02')]);
  assert.deepEqual(m('2020-01-03', '2020-01-05'), []);
  assert.deepEqual(m('2020-01-03', '2020-01-06'), [days('2020-01-06', '2020-01-06')]);
  assert.deepEqual(m('2020-01-03', '2020-01-07'), [days('2020-01-06', '2020-01-07')]);
  // Datetimes are widened to whole days.
  assert.deepEqual(m('2020-01-03 00:00:01', '2020-01-05 00:00:02'), []);
  assert.deepEqual(m('2020-01-03 00:00:01', '2020-01-07 00:00:02'), [
    days('2020-01-06', '2020-01-07'),
  ]);
  // A day only partly recorded is missing as a whole; unsorted input is fine.
  assert.deepEqual(
    missing('2020-01-01', '2020-01-03', {
      recorded: [days('2020-01-03', '2020-01-03'), [utc('2020-01-01'), utc('2020-01-01 12:00:00')]],
    }),
    [days('2020-01-01', '2020-01-02')],
  );
  // Two halves recorded separately make a whole day.
  assert.deepEqual(
    missing('2020-01-01', '2020-01-01', {
      recorded: [
        [utc('2020-01-01 12:00:00'), utc('2020-01-02')],
        [utc('2020-01-01'), utc('2020-01-01 12:00:00')],
      ],
    }),
    [],
  );
});

void test('a range shorter than one unit has nothing missing unless its end is a date', () => {
  assert.deepEqual(missing('2020-01-01 00:00:05', '2020-01-01 23:59:59'), []);
  assert.deepEqual(missing('2020-01-01 00:00:00', '2020-01-02 00:00:00'), [
    days('2020-01-01', '2020-01-01'),
  ]);
  assert.deepEqual(missing('2020-01-01 00:00:00', '2020-01-01'), [
    days('2020-01-01', '2020-01-01'),
  ]);
  const hourly: Overrides = { unit: 'hour', cron: '@hourly' };
  assert.deepEqual(missing('2020-01-01 00:00:00', '2020-01-01 00:59:00', hourly), []);
  assert.deepEqual(missing('2020-01-01 00:00:00', '2020-01-01 01:00:00', hourly), [
    [utc('2020-01-01'), utc('2020-01-01 01:00:00')],
  ]);
});

void test('the end is bounded by the cron floor of the execution time', () => {
  const cron: Overrides = { cron: '0 5 * * *' };
  // At 05:00 and after, yesterday is complete; before 05:00 it is not yet due.
  for (const exec of ['2023-01-30 05:00:00', '2023-01-30 05:01:00']) {
    assert.deepEqual(missing('2023-01-29', '2023-01-29', { ...cron, executionTime: utc(exec) }), [
      days('2023-01-29', '2023-01-29'),
    ]);
  }
  assert.deepEqual(
    missing('2023-01-29', '2023-01-29', { ...cron, executionTime: utc('2023-01-30 04:59:00') }),
    [],
  );
  assert.deepEqual(
    missing('2023-01-29', '2023-01-29', {
      ...cron,
      executionTime: utc('2023-01-30 04:59:00'),
      ignoreCron: true,
    }),
    [days('2023-01-29', '2023-01-29')],
  );
  // The last interval must be complete: at noon, today is not missing yet.
  assert.deepEqual(
    missing('2023-01-28', '2023-01-30', { executionTime: utc('2023-01-30 12:00:00') }),
    [days('2023-01-28', '2023-01-29')],
  );
});

void test('ignore_cron and end_bounded', () => {
  const base: Overrides = {
    cron: '1 0 * * *',
    recorded: [days('2023-01-01', '2023-01-01')],
    executionTime: utc('2023-01-03'),
  };
  assert.deepEqual(missing('2023-01-01', '2023-01-03', base), []);
  assert.deepEqual(missing('2023-01-01', '2023-01-03', { ...base, ignoreCron: true }), [
    days('2023-01-02', '2023-01-02'),
  ]);
  assert.deepEqual(missing('2023-01-01', '2023-01-03 00:00:00', { ...base, endBounded: true }), []);
  assert.deepEqual(
    missing('2023-01-01', '2023-01-03 00:00:00', { ...base, endBounded: true, ignoreCron: true }),
    [days('2023-01-02', '2023-01-02')],
  );
});

void test('allow_partials lets the last interval end at the upper bound', () => {
  const start = '2023-01-01';
  const endTs = utc(start) + 1000;
  const partial: Overrides = { allowPartials: true };
  assert.deepEqual(missing(start, endTs, partial), [[utc(start), endTs]]);
  assert.deepEqual(missing(start, endTs, { ...partial, executionTime: endTs }), []);
  assert.deepEqual(missing(start, endTs, { ...partial, executionTime: endTs, ignoreCron: true }), [
    [utc(start), endTs],
  ]);
  assert.deepEqual(missing(start, endTs, { ...partial, executionTime: utc('2023-01-02') }), [
    [utc(start), endTs],
  ]);
  assert.deepEqual(missing(start, start, partial), [days(start, start)]);
  assert.deepEqual(
    missing(start, start, { ...partial, executionTime: utc(start), ignoreCron: true }),
    [],
  );
  assert.deepEqual(
    missing(start, start, { ...partial, executionTime: endTs, endBounded: true }),
    [],
  );
  const ranges = missing(start, '2023-01-02 12:00:00', partial);
  assert.deepEqual(expandIntervals(ranges, 'day'), [
    days('2023-01-01', '2023-01-01'),
    [utc('2023-01-02'), utc('2023-01-02 12:00:00')],
  ]);
  assert.deepEqual(missing('2020-01-01 00:00:05', '2020-01-01 23:59:59', partial), [
    [utc('2020-01-01'), utc('2020-01-01 23:59:59')],
  ]);
});

void test('lookback re-runs the intervals before anything missing', () => {
  const opts: Overrides = { cron: '0 5 * * *', lookback: 2, modelStart: utc('2023-01-01') };
  assert.deepEqual(missing('2023-01-01', '2023-01-01', opts), [days('2023-01-01', '2023-01-01')]);

  let recorded = [days('2023-01-01', '2023-01-04')];
  assert.deepEqual(missing('2023-01-01', '2023-01-04', { ...opts, recorded }), []);
  assert.deepEqual(missing('2023-01-01', '2023-01-05', { ...opts, recorded }), [
    days('2023-01-03', '2023-01-05'),
  ]);

  recorded = mergeIntervals([...recorded, days('2023-01-06', '2023-01-07')]);
  assert.deepEqual(missing('2023-01-03', '2023-01-03', { ...opts, recorded }), []);
  // Lookback never reaches before the requested start.
  assert.deepEqual(missing('2023-01-05', '2023-01-05', { ...opts, recorded }), [
    days('2023-01-05', '2023-01-05'),
  ]);
  assert.deepEqual(missing('2023-01-06', '2023-01-07', { ...opts, recorded }), []);
  assert.deepEqual(missing('2023-01-05', '2023-01-08', { ...opts, recorded }), [
    days('2023-01-05', '2023-01-08'),
  ]);

  recorded = mergeIntervals([...recorded, days('2023-01-28', '2023-01-29')]);
  const at = (exec: string): Overrides => ({ ...opts, recorded, executionTime: utc(exec) });
  assert.deepEqual(missing('2023-01-27', '2023-01-27', at('2023-01-30 05:00:00')), [
    days('2023-01-27', '2023-01-27'),
  ]);
  assert.deepEqual(missing('2023-01-28', '2023-01-29', at('2023-01-31 05:00:00')), []);
  assert.deepEqual(missing('2023-01-28', '2023-01-30', at('2023-01-31 05:00:00')), [
    days('2023-01-28', '2023-01-30'),
  ]);
  assert.deepEqual(missing('2023-01-28', '2023-01-30', at('2023-01-31 04:00:00')), []);

  // With lookback 1 and yesterday recorded, a new day brings yesterday back.
  assert.deepEqual(
    missing('2023-01-01', '2023-01-02', {
      lookback: 1,
      recorded: [days('2023-01-01', '2023-01-01')],
      executionTime: utc('2023-01-03'),
    }),
    [days('2023-01-01', '2023-01-02')],
  );
});

void test('lookback shrinks as the model end recedes, and nothing past the end is missing', () => {
  const model: Overrides = {
    lookback: 2,
    modelStart: utc('2023-01-01'),
    modelEnd: toEndTimestamp('2023-01-05', FAR_FUTURE),
  };
  const run = (end: string, recorded: Interval[]): Interval[] =>
    missing(utc('2023-01-01'), utc(end), { ...model, recorded, executionTime: utc(end) });
  const full = [days('2023-01-01', '2023-01-05')];
  assert.deepEqual(run('2023-01-06', []), [days('2023-01-01', '2023-01-05')]);
  assert.deepEqual(run('2023-01-06', full), []);
  assert.deepEqual(run('2023-01-06', [days('2023-01-01', '2023-01-04')]), [
    days('2023-01-03', '2023-01-05'),
  ]);
  assert.deepEqual(run('2023-01-07', full), [days('2023-01-04', '2023-01-05')]);
  assert.deepEqual(run('2023-01-08', full), [days('2023-01-05', '2023-01-05')]);
  assert.deepEqual(run('2023-01-09', full), []);
  assert.deepEqual(run('2024-01-01', full), []);
  // A requested range entirely after the model's end, or before its start.
  assert.deepEqual(missing('2023-02-01', '2023-02-10', model), []);
  assert.deepEqual(missing('2022-12-01', '2022-12-10', model), []);
});

void test('an interval_unit smaller than the cron splits the run into that unit', () => {
  const ranges = missing('2023-01-29', '2023-01-29', { cron: '0 5 * * *', unit: 'hour' });
  assert.equal(totalUnits(ranges, 'hour'), 24);
  assert.equal(expandIntervals(ranges, 'hour').length, 24);
});

void test('monthly and yearly units across leap years', () => {
  const monthly: Overrides = { unit: 'month', cron: '@monthly', executionTime: utc('2020-04-15') };
  const ranges = missing('2019-11-15', '2020-12-31', {
    ...monthly,
    recorded: [[utc('2020-01-01'), utc('2020-02-01')]],
  });
  // Floored to November; March is the last complete month before April 15.
  assert.deepEqual(ranges, [
    [utc('2019-11-01'), utc('2020-01-01')],
    [utc('2020-02-01'), utc('2020-04-01')],
  ]);
  assert.deepEqual(
    expandIntervals(ranges, 'month').map(([s, e]) => (e - s) / DAY),
    [30, 31, 29, 31],
  );
  const yearly = missing('2019-06-01', '2024-06-01', {
    unit: 'year',
    cron: '@yearly',
    executionTime: utc('2024-03-01'),
  });
  assert.deepEqual(yearly, [[utc('2019-01-01'), utc('2024-01-01')]]);
  assert.equal(totalUnits(yearly, 'year'), 5);
});

void test('cron_tz moves when a day is due, not the UTC day boundaries', () => {
  const la: Overrides = { cron: '@daily', cronTz: 'America/Los_Angeles' };
  // 23:00 on Mar 8 in Los Angeles (DST began that morning): Mar 8 is not done there yet.
  assert.deepEqual(
    missing('2020-03-06', '2020-03-10', { ...la, executionTime: utc('2020-03-09 06:00:00') }),
    [days('2020-03-06', '2020-03-07')],
  );
  // Local midnight of Mar 9 is 07:00Z (PDT): now Mar 8 is due.
  assert.deepEqual(
    missing('2020-03-06', '2020-03-10', { ...la, executionTime: utc('2020-03-09 07:00:00') }),
    [days('2020-03-06', '2020-03-08')],
  );
  // In UTC the same instant already completes Mar 8.
  assert.deepEqual(
    missing('2020-03-06', '2020-03-10', { executionTime: utc('2020-03-09 06:00:00') }),
    [days('2020-03-06', '2020-03-08')],
  );
});

void test('batches split contiguous runs into at most batch_size units', () => {
  const runs: Interval[] = [days('2020-01-01', '2020-01-10'), days('2020-01-15', '2020-01-16')];
  assert.deepEqual(batchIntervals(runs, 'day'), runs);
  assert.deepEqual(batchIntervals(runs, 'day', 0), runs);
  assert.deepEqual(batchIntervals(runs, 'day', 4), [
    days('2020-01-01', '2020-01-04'),
    days('2020-01-05', '2020-01-08'),
    days('2020-01-09', '2020-01-10'),
    days('2020-01-15', '2020-01-16'),
  ]);
  // Per-day input gives the same batches as ranges; contiguous days join.
  assert.deepEqual(
    batchIntervals(expandIntervals(runs, 'day'), 'day', 4),
    batchIntervals(runs, 'day', 4),
  );
  assert.deepEqual(
    batchIntervals(expandIntervals(runs, 'day'), 'day', 1),
    expandIntervals(runs, 'day'),
  );
  // Months have uneven lengths; a partial last unit counts as one.
  assert.deepEqual(batchIntervals([[utc('2020-01-01'), utc('2020-05-15')]], 'month', 2), [
    [utc('2020-01-01'), utc('2020-03-01')],
    [utc('2020-03-01'), utc('2020-05-01')],
    [utc('2020-05-01'), utc('2020-05-15')],
  ]);
  for (const bad of [-1, 1.5, Number.NaN]) {
    assert.throws(
      () => batchIntervals(runs, 'day', bad),
      /invalid batch_size .*: expected a positive whole number/,
    );
  }
});

void test('ranges for display have inclusive ends', () => {
  const intervals: Interval[] = [
    days('2020-01-01', '2020-01-01'),
    days('2020-01-02', '2020-01-05'),
    days('2020-01-07', '2020-01-07'),
  ];
  assert.deepEqual(intervalsToRanges(intervals, 'day'), [
    { start: '2020-01-01', end: '2020-01-05' },
    { start: '2020-01-07', end: '2020-01-07' },
  ]);
  assert.equal(formatIntervals(intervals), '2020-01-01 - 2020-01-05, 2020-01-07 - 2020-01-07');
  assert.equal(
    formatIntervals([[utc('2020-01-01 10:00:00'), utc('2020-01-01 12:00:00')]], 'hour'),
    '2020-01-01 10:00:00 - 2020-01-01 11:59:59',
  );
});

void test('three years of daily state: gaps, lookback, per-day and empty records', () => {
  const start = utc('2021-01-01');
  const exec = utc('2024-01-01 03:00:00');
  const lastDue = utc('2024-01-01');
  const unit: IntervalUnit = 'day';
  const missingFor = (recorded: Interval[], lookback = 0): Interval[] =>
    missingIntervals({
      start,
      end: exec,
      unit,
      cron: '@daily',
      recorded,
      executionTime: exec,
      lookback,
    });
  // State recorded up to a time inside 2023-12-30: that partial day is still missing.
  const recordedTo = exec - 2 * DAY;
  const tail = days('2023-12-30', '2023-12-31');

  assert.deepEqual(missingFor([[start, recordedTo]]), [tail]);
  assert.deepEqual(missingFor([[start, recordedTo]], 1), [days('2023-12-29', '2023-12-31')]);
  for (const k of [0, 1, 500, 999]) {
    const gap = start + k * DAY;
    const recorded: Interval[] = [
      [start, gap],
      [gap + DAY, recordedTo],
    ];
    const ranges = missingFor(recorded);
    assert.deepEqual(ranges, [[gap, gap + DAY], tail], `gap on day ${k}`);
    assert.equal(totalUnits(ranges, unit), 3);
    assert.deepEqual(batchIntervals(ranges, unit, 7), ranges);
    // Lookback adds the day before the gap (none before the start) and before the tail.
    assert.deepEqual(
      missingFor(recorded, 1),
      [[Math.max(start, gap - DAY), gap + DAY], days('2023-12-29', '2023-12-31')],
      `gap on day ${k} with lookback`,
    );
  }

  // The same state recorded one interval per day, unmerged.
  const perDay = expandIntervals([[start, lastDue]], unit);
  assert.equal(perDay.length, 1095);
  assert.deepEqual(missingFor(perDay), []);
  const holed = perDay.filter((_, i) => i !== 400);
  assert.deepEqual(missingFor(holed), [[start + 400 * DAY, start + 401 * DAY]]);

  // Nothing recorded: the whole range, in 36 batches of 30 days and one of 15.
  const all = missingFor([]);
  assert.deepEqual(all, [[start, lastDue]]);
  const batches = batchIntervals(all, unit, 30);
  assert.equal(batches.length, 37);
  for (const [i, batch] of batches.entries()) {
    const from = start + i * 30 * DAY;
    assert.deepEqual(batch, [from, Math.min(from + 30 * DAY, lastDue)], `batch ${i}`);
  }
});
