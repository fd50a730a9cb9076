import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cron } from 'croner';
import { TidelineError } from '../../../src/engine/errors.js';
import {
  CronError,
  compileCron,
  cronFloor,
  cronNext,
  cronPrev,
  defaultStart,
  fixedClock,
  intervalUnitOf,
  normalizeCron,
  resolveIntervalUnit,
  systemClock,
  testClock,
  validateCron,
} from '../../../src/engine/time/cron.js';

const utc = (iso: string): number => Date.parse(iso);

void test('interval units inferred from crons', () => {
  const cases: [string, string][] = [
    ['@daily', 'day'],
    ['@midnight', 'day'],
    ['@hourly', 'hour'],
    ['@weekly', 'day'], // no week unit: the largest unit that fits a week is a day
    ['@monthly', 'month'],
    ['@yearly', 'year'],
    ['@annually', 'year'],
    ['0 * * * *', 'hour'],
    ['1 * * * *', 'hour'],
    ['*/30 * * * *', 'half_hour'],
    ['*/15 * * * *', 'quarter_hour'],
    ['*/20 * * * *', 'quarter_hour'],
    ['*/5 * * * *', 'five_minute'],
    ['*/10 * * * *', 'five_minute'],
    ['0 0 1 * *', 'month'],
    ['0 0 2 * *', 'month'],
    ['0 0 31 * *', 'month'],
    ['0 0 1 1 *', 'year'],
    ['0 0 1 2 *', 'year'],
    ['0 12 * * *', 'day'],
    ['0 5 * * *', 'day'],
    ['0 0 * * 1-5', 'day'],
    ['0 0 1,15 * *', 'day'],
    ['0 */2 * * *', 'hour'],
    ['0 0,12 * * *', 'hour'],
    ['0 0 1 */3 *', 'month'],
  ];
  for (const [cron, unit] of cases) assert.equal(intervalUnitOf(cron), unit, cron);
});

void test('a cron more frequent than five minutes has no interval unit', () => {
  for (const cron of ['* * * * *', '*/2 * * * *', '0-3 * * * *']) {
    assert.throws(
      () => intervalUnitOf(cron),
      (err: unknown) =>
        err instanceof CronError &&
        err.cron === cron &&
        err.message.includes(`'${cron}'`) &&
        /more often than every 5 minutes/.test(err.message),
    );
  }
});

void test('inference ignores the cron time zone, so DST does not shrink a day', () => {
  assert.equal(intervalUnitOf('0 0 * * *', 'America/Los_Angeles'), 'day');
  assert.throws(() => intervalUnitOf('@daily', 'Nowhere/Atlantis'), CronError);
});

void test('floor, next and prev for daily and offset crons', () => {
  const jan1 = utc('2020-01-01T00:00:00Z');
  assert.equal(cronPrev('@daily', jan1), utc('2019-12-31T00:00:00Z'));
  assert.equal(cronFloor('@daily', jan1), jan1);
  assert.equal(cronFloor('@daily', utc('2020-01-01T10:00:00Z')), jan1);
  assert.equal(cronNext('@daily', utc('2020-01-01T10:00:00Z')), utc('2020-01-02T00:00:00Z'));
  assert.equal(cronNext('@daily', jan1), utc('2020-01-02T00:00:00Z'));

  assert.equal(cronPrev('1 0 * * *', jan1), utc('2019-12-31T00:01:00Z'));
  assert.equal(cronFloor('1 0 * * *', jan1), utc('2019-12-31T00:01:00Z'));
  assert.equal(cronFloor('1 0 * * *', utc('2020-01-01T10:00:00Z')), utc('2020-01-01T00:01:00Z'));
  assert.equal(cronNext('1 0 * * *', utc('2020-01-01T10:00:00Z')), utc('2020-01-02T00:01:00Z'));

  assert.equal(cronPrev('1 * * * *', utc('2020-01-01T10:00:00Z')), utc('2020-01-01T09:01:00Z'));
  assert.equal(cronPrev('1 * * * *', utc('2020-01-01T10:02:00Z')), utc('2020-01-01T10:01:00Z'));
  assert.equal(cronFloor('1 * * * *', utc('2020-01-01T10:01:00Z')), utc('2020-01-01T10:01:00Z'));
  // A fraction of a second past a run floors to that run.
  assert.equal(
    cronFloor('1 * * * *', utc('2020-01-01T10:01:00.500Z')),
    utc('2020-01-01T10:01:00Z'),
  );
});

void test('monthly and yearly crons across month ends and leap years', () => {
  assert.equal(cronPrev('0 0 2 * *', utc('2020-01-01T00:00:00Z')), utc('2019-12-02T00:00:00Z'));
  assert.equal(cronNext('0 0 2 * *', utc('2020-01-02T00:00:00Z')), utc('2020-02-02T00:00:00Z'));
  assert.equal(cronFloor('0 0 2 * *', utc('2020-01-17T00:00:00Z')), utc('2020-01-02T00:00:00Z'));
  assert.equal(cronFloor('0 0 1 2 *', utc('2020-12-10T00:00:00Z')), utc('2020-02-01T00:00:00Z'));
  assert.equal(cronNext('0 0 1 2 *', utc('2020-01-01T00:00:00Z')), utc('2020-02-01T00:00:00Z'));
  assert.equal(cronNext('0 0 31 * *', utc('2020-01-31T00:00:00Z')), utc('2020-03-31T00:00:00Z'));
  assert.equal(cronPrev('0 0 31 * *', utc('2020-03-31T00:00:00Z')), utc('2020-01-31T00:00:00Z'));
  assert.equal(cronNext('0 0 29 2 *', utc('2020-03-01T00:00:00Z')), utc('2024-02-29T00:00:00Z'));
  assert.equal(cronPrev('0 0 29 2 *', utc('2020-02-29T00:00:00Z')), utc('2016-02-29T00:00:00Z'));
  assert.equal(cronFloor('@monthly', utc('2020-02-29T23:59:59Z')), utc('2020-02-01T00:00:00Z'));
  assert.equal(cronNext('@monthly', utc('2020-12-15T00:00:00Z')), utc('2021-01-01T00:00:00Z'));
  assert.equal(cronFloor('@yearly', utc('2021-12-31T23:59:59Z')), utc('2021-01-01T00:00:00Z'));
  // Weekly runs on Sunday.
  assert.equal(cronFloor('@weekly', utc('2020-01-08T12:00:00Z')), utc('2020-01-05T00:00:00Z'));
});

void test('both day fields restricted: a day matching either runs, as in classic cron', () => {
  // The 13th of each month or any Friday.
  const cron = '0 0 13 * 5';
  assert.equal(cronNext(cron, utc('2020-01-01T00:00:00Z')), utc('2020-01-03T00:00:00Z'));
  assert.equal(cronNext(cron, utc('2020-01-10T00:00:00Z')), utc('2020-01-13T00:00:00Z'));
});

void test('aliases equal their five-field forms', () => {
  assert.equal(normalizeCron(' @DAILY '), '0 0 * * *');
  assert.equal(normalizeCron('0   5 * *  *'), '0 5 * * *');
  const ts = utc('2021-07-14T13:37:00Z');
  for (const [alias, fields] of [
    ['@hourly', '0 * * * *'],
    ['@daily', '0 0 * * *'],
    ['@weekly', '0 0 * * 0'],
    ['@monthly', '0 0 1 * *'],
    ['@yearly', '0 0 1 1 *'],
  ] as const) {
    assert.equal(cronFloor(alias, ts), cronFloor(fields, ts), alias);
    assert.equal(cronNext(alias, ts), cronNext(fields, ts), alias);
  }
});

void test('the arithmetic UTC evaluation agrees with croner', () => {
  const crons = [
    '0 0 * * *',
    '15 3 * * *',
    '*/7 * * * *',
    '5/10 * * * *',
    '0 */3 * * *',
    '30 9-17 * * 1-5',
    '0 0 1,15 * *',
    '0 12 13 * 5',
    '0 0 */2 * *',
    '0 0 * * 0,6',
    '0 0 * * 7',
    '0 6 1 1-3 *',
    '45 23 31 * *',
    '0 0 29 2 *',
    '0 0 1 JAN,JUL *',
    '10 10 * * MON-FRI',
  ];
  let seed = 42;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const from = utc('2019-06-01T00:00:00Z');
  const span = 6 * 365 * 86_400_000;
  for (const cron of crons) {
    const job = new Cron(cron, {
      paused: true,
      mode: '5-part',
      sloppyRanges: true,
      timezone: 'UTC',
    });
    for (let i = 0; i < 60; i++) {
      // Half on whole minutes, half anywhere.
      let ts = from + Math.floor(random() * span);
      if (i % 2 === 0) ts -= ts % 60_000;
      const d = new Date(ts);
      assert.equal(
        cronNext(cron, ts),
        job.nextRun(d)?.getTime(),
        `${cron} next ${d.toISOString()}`,
      );
      assert.equal(
        cronPrev(cron, ts),
        job.previousRuns(1, d)[0]?.getTime(),
        `${cron} prev ${d.toISOString()}`,
      );
      const floor = cronFloor(cron, ts);
      assert.ok(
        floor <= ts && compileCron(cron).matches(floor),
        `${cron} floor ${d.toISOString()}`,
      );
      assert.ok(cronNext(cron, floor) > ts, `${cron} floor is the latest ${d.toISOString()}`);
    }
  }
});

void test('cron_tz: runs follow local midnight across DST changes', () => {
  const tz = 'America/Los_Angeles';
  // Spring forward on 2020-03-08: midnight PST is 08:00Z, midnight PDT is 07:00Z.
  assert.equal(cronFloor('@daily', utc('2020-03-08T12:00:00Z'), tz), utc('2020-03-08T08:00:00Z'));
  assert.equal(cronNext('@daily', utc('2020-03-08T12:00:00Z'), tz), utc('2020-03-09T07:00:00Z'));
  assert.equal(cronPrev('@daily', utc('2020-03-09T07:00:00Z'), tz), utc('2020-03-08T08:00:00Z'));
  // Fall back on 2020-11-01: the local day lasts 25 hours.
  const start = cronFloor('@daily', utc('2020-11-01T12:00:00Z'), tz);
  assert.equal(cronNext('@daily', start, tz) - start, 25 * 3_600_000);
  // UTC, '' and undefined all mean UTC.
  const ts = utc('2020-06-01T12:34:00Z');
  assert.equal(cronFloor('@daily', ts, 'UTC'), cronFloor('@daily', ts));
  assert.equal(cronFloor('@daily', ts, ''), utc('2020-06-01T00:00:00Z'));
  // A positive offset zone: 09:00 in Tokyo is 00:00Z.
  assert.equal(cronFloor('0 9 * * *', ts, 'Asia/Tokyo'), utc('2020-06-01T00:00:00Z'));
});

void test('cron_tz: a time skipped by DST runs once, just after the gap', () => {
  const tz = 'America/New_York';
  // 02:30 does not exist on 2020-03-08; the run moves to 03:00 EDT (07:00Z).
  const runs: number[] = [];
  let t = utc('2020-03-07T00:00:00Z');
  for (let i = 0; i < 3; i++) runs.push((t = cronNext('30 2 * * *', t, tz)));
  assert.deepEqual(runs, [
    utc('2020-03-07T07:30:00Z'),
    utc('2020-03-08T07:00:00Z'),
    utc('2020-03-09T06:30:00Z'),
  ]);
  // A repeated hour on 2020-11-01: an hourly cron runs at both 01:00s, one hour apart.
  const first = cronNext('0 * * * *', utc('2020-11-01T04:30:00Z'), tz);
  const second = cronNext('0 * * * *', first, tz);
  const third = cronNext('0 * * * *', second, tz);
  assert.equal(second - first, 3_600_000);
  assert.equal(third - second, 3_600_000);
});

void test('bad crons fail with one line naming the cron', () => {
  const corpus = [
    '',
    'bad',
    '* * *',
    '0 0 1 2 3 4',
    '61 * * * *',
    '0 25 * * *',
    '0 0 32 * *',
    '0 0 * 13 *',
    '0 0 * * 8',
    '@every 5m',
    '@fortnightly',
    '0 0 31 2 *',
    '*/0 * * * *',
    '5-1 * * * *',
    'a b c d e',
  ];
  for (const cron of corpus) {
    assert.throws(
      () => validateCron(cron),
      (err: unknown) => {
        assert.ok(err instanceof CronError, `${cron}: ${String(err)}`);
        assert.ok(err instanceof TidelineError);
        assert.equal(err.cron, cron);
        assert.ok(err.message.startsWith(`invalid cron '${cron}'`), err.message);
        assert.ok(!err.message.includes('\n'));
        return true;
      },
    );
  }
  assert.throws(() => validateCron('0 0 32 * *'), /day-of-month value 32 is outside 1-31/);
  assert.throws(() => validateCron('0 0 31 2 *'), /never runs/);
  assert.throws(
    () => cronFloor('@daily', 0, 'Mars/Olympus_Mons'),
    /invalid cron_tz 'Mars\/Olympus_Mons': expected an IANA time zone/,
  );
});

void test('an interval_unit larger than the cron needs allow_partials', () => {
  assert.equal(resolveIntervalUnit({ cron: '@daily' }), 'day');
  assert.equal(resolveIntervalUnit({ cron: '@daily', intervalUnit: 'hour' }), 'hour');
  assert.equal(
    resolveIntervalUnit({ cron: '0 5 * * *', intervalUnit: 'quarter_hour' }),
    'quarter_hour',
  );
  assert.throws(
    () => resolveIntervalUnit({ cron: '@hourly', intervalUnit: 'day' }),
    /cron '@hourly' runs more often than interval unit 'day': set allow_partials to true/,
  );
  assert.equal(
    resolveIntervalUnit({ cron: '@hourly', intervalUnit: 'day', allowPartials: true }),
    'day',
  );
});

void test('the default start is one cron period before the latest run', () => {
  const now = utc('2024-05-10T13:20:00Z');
  assert.equal(defaultStart('@daily', now), utc('2024-05-09T00:00:00Z'));
  assert.equal(defaultStart('@hourly', now), utc('2024-05-10T12:00:00Z'));
  assert.equal(defaultStart('@monthly', now), utc('2024-04-01T00:00:00Z'));
});

void test('clocks: fixed, settable and system', () => {
  assert.equal(fixedClock(1234).now(), 1234);
  const clock = testClock(utc('2020-01-01T00:00:00Z'));
  clock.advance(90_000);
  assert.equal(clock.now(), utc('2020-01-01T00:01:30Z'));
  clock.set(5);
  assert.equal(clock.now(), 5);
  const before = Date.now();
  const now = systemClock.now();
  assert.ok(now >= before && now <= Date.now());
});
