import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TidelineError } from '../../../src/engine/errors.js';
import {
  TimeValueError,
  formatDs,
  formatTs,
  formatTstz,
  isDateOnly,
  toEndTimestamp,
  toTimestamp,
} from '../../../src/engine/time/time-values.js';

const utc = (iso: string): number => Date.parse(iso);
// A Sunday afternoon at the end of a month in a leap year: month arithmetic must clamp.
const NOW = utc('2024-03-31T15:45:30.250Z');

void test('dates and datetimes are read in UTC', () => {
  assert.equal(toTimestamp('2020-01-01', NOW), utc('2020-01-01T00:00:00Z'));
  assert.equal(toTimestamp('20200229', NOW), utc('2020-02-29T00:00:00Z'));
  assert.equal(toTimestamp('2020-01-01 12:30', NOW), utc('2020-01-01T12:30:00Z'));
  assert.equal(toTimestamp('2020-01-01 12:30:15', NOW), utc('2020-01-01T12:30:15Z'));
  assert.equal(toTimestamp('2020-01-01T12:30:15.5Z', NOW), utc('2020-01-01T12:30:15.500Z'));
  assert.equal(toTimestamp('2020-01-01 12:30:15.123456', NOW), utc('2020-01-01T12:30:15.123Z'));
  assert.equal(toTimestamp('2020-01-01T12:00:00+02:00', NOW), utc('2020-01-01T10:00:00Z'));
  assert.equal(toTimestamp('2020-01-01T12:00:00-0530', NOW), utc('2020-01-01T17:30:00Z'));
  assert.equal(toTimestamp('  2020-06-01  ', NOW), utc('2020-06-01T00:00:00Z'));
});

void test('numbers, numeric strings and Dates are epoch milliseconds', () => {
  assert.equal(toTimestamp(1577836800000, NOW), utc('2020-01-01T00:00:00Z'));
  assert.equal(toTimestamp('1577836800000', NOW), utc('2020-01-01T00:00:00Z'));
  assert.equal(toTimestamp('1577836800000.9', NOW), utc('2020-01-01T00:00:00Z'));
  assert.equal(toTimestamp(new Date('2021-05-05T05:05:05Z'), NOW), utc('2021-05-05T05:05:05Z'));
  // Eight digits that form a real date are a date, as in SQLMesh; others are epoch ms.
  assert.equal(toTimestamp('20210101', NOW), utc('2021-01-01T00:00:00Z'));
  assert.equal(toTimestamp('86400000', NOW), 86_400_000);
});

void test('now, today, yesterday and tomorrow are relative to the given time', () => {
  assert.equal(toTimestamp('now', NOW), NOW);
  assert.equal(toTimestamp('today', NOW), utc('2024-03-31T00:00:00Z'));
  assert.equal(toTimestamp('Yesterday', NOW), utc('2024-03-30T00:00:00Z'));
  assert.equal(toTimestamp('tomorrow', NOW), utc('2024-04-01T00:00:00Z'));
});

void test('relative expressions in days or more start at midnight, smaller ones do not', () => {
  assert.equal(toTimestamp('2 days ago', NOW), utc('2024-03-29T00:00:00Z'));
  assert.equal(toTimestamp('1 day ago', NOW), utc('2024-03-30T00:00:00Z'));
  assert.equal(toTimestamp('1 week ago', NOW), utc('2024-03-24T00:00:00Z'));
  assert.equal(toTimestamp('in 1 week', NOW), utc('2024-04-07T00:00:00Z'));
  assert.equal(toTimestamp('1 year ago', NOW), utc('2023-03-31T00:00:00Z'));
  assert.equal(toTimestamp('2 hours ago', NOW), NOW - 2 * 3_600_000);
  assert.equal(toTimestamp('an hour ago', NOW), NOW - 3_600_000);
  assert.equal(toTimestamp('30 minutes ago', NOW), NOW - 30 * 60_000);
  assert.equal(toTimestamp('10 secs ago', NOW), NOW - 10_000);
  assert.equal(toTimestamp('in 3 hours', NOW), NOW + 3 * 3_600_000);
  // Mixed with hours: exact time, not midnight.
  assert.equal(toTimestamp('1 day 2 hours ago', NOW), NOW - 26 * 3_600_000);
});

void test('months and years clamp to the end of shorter months', () => {
  assert.equal(toTimestamp('1 month ago', NOW), utc('2024-02-29T00:00:00Z'));
  assert.equal(toTimestamp('13 months ago', NOW), utc('2023-02-28T00:00:00Z'));
  assert.equal(toTimestamp('in 1 month', NOW), utc('2024-04-30T00:00:00Z'));
  assert.equal(toTimestamp('1 year, 2 months and 3 days ago', NOW), utc('2023-01-28T00:00:00Z'));
  const leapDay = utc('2024-02-29T08:00:00Z');
  assert.equal(toTimestamp('1 year ago', leapDay), utc('2023-02-28T00:00:00Z'));
});

void test('a date-only end includes its whole day; other ends are exclusive as given', () => {
  assert.equal(toEndTimestamp('2020-01-05', NOW), utc('2020-01-06T00:00:00Z'));
  assert.equal(toEndTimestamp('20200105', NOW), utc('2020-01-06T00:00:00Z'));
  assert.equal(toEndTimestamp('2020-01-05 00:00:00', NOW), utc('2020-01-05T00:00:00Z'));
  assert.equal(toEndTimestamp(utc('2020-01-05T00:00:00Z'), NOW), utc('2020-01-05T00:00:00Z'));
  assert.equal(toEndTimestamp('yesterday', NOW), utc('2024-03-30T00:00:00Z'));
  assert.equal(isDateOnly('2020-01-05'), true);
  assert.equal(isDateOnly('2020-01-05 10:00'), false);
  assert.equal(isDateOnly(20200105), false);
});

void test('bad time values fail with one line listing the accepted formats', () => {
  const corpus = [
    '',
    'garbage',
    '2020-13-01',
    '2021-02-29',
    '2020-01-32',
    '2020-01-01 25:00',
    '2020-01-01 12:61',
    '2020/01/01',
    '1 fortnight ago',
    'in 2 days ago',
    '2 days',
    'ago',
    'last week',
  ];
  for (const value of corpus) {
    assert.throws(
      () => toTimestamp(value, NOW),
      (err: unknown) => {
        assert.ok(err instanceof TimeValueError, `${value}: ${String(err)}`);
        assert.ok(err instanceof TidelineError);
        assert.equal(err.value, value);
        assert.ok(!err.message.includes('\n'));
        assert.match(err.message, new RegExp(`'${value.replace(/[/]/g, '\\/')}'`));
        assert.match(err.message, /2 days ago/);
        return true;
      },
    );
  }
  assert.throws(() => toTimestamp(Number.NaN, NOW), TimeValueError);
  assert.throws(() => toTimestamp(new Date('nope'), NOW), TimeValueError);
});

void test('formatting matches SQLMesh renderings, including inclusive ends', () => {
  const ts = utc('2020-01-02T03:04:05Z');
  assert.equal(formatDs(ts), '2020-01-02');
  assert.equal(formatTs(ts), '2020-01-02 03:04:05');
  assert.equal(formatTstz(ts), '2020-01-02 03:04:05+00:00');
  assert.equal(formatTs(ts + 123), '2020-01-02 03:04:05.123000');
  const end = utc('2020-01-02T00:00:00Z');
  assert.equal(formatDs(end, { inclusiveEnd: true }), '2020-01-01');
  assert.equal(formatTs(end, { inclusiveEnd: true }), '2020-01-01 23:59:59.999999');
  assert.equal(formatTstz(end, { inclusiveEnd: true }), '2020-01-01 23:59:59.999999+00:00');
});
