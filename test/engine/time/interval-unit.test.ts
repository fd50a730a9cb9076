import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  INTERVAL_UNITS,
  addUnits,
  ceilToUnit,
  countUnits,
  fixedUnitMs,
  floorToUnit,
  isAligned,
  isDateGranularity,
  parseIntervalUnit,
  unitMs,
} from '../../../src/engine/time/interval-unit.js';

const utc = (iso: string): number => Date.parse(iso);

void test('fixed units floor and ceil on their grid', () => {
  const ts = utc('2020-01-01T10:47:13.500Z');
  assert.equal(floorToUnit(ts, 'day'), utc('2020-01-01T00:00:00Z'));
  assert.equal(floorToUnit(ts, 'hour'), utc('2020-01-01T10:00:00Z'));
  assert.equal(floorToUnit(ts, 'half_hour'), utc('2020-01-01T10:30:00Z'));
  assert.equal(floorToUnit(ts, 'quarter_hour'), utc('2020-01-01T10:45:00Z'));
  assert.equal(floorToUnit(ts, 'five_minute'), utc('2020-01-01T10:45:00Z'));
  assert.equal(ceilToUnit(ts, 'hour'), utc('2020-01-01T11:00:00Z'));
  assert.equal(ceilToUnit(utc('2020-01-01T11:00:00Z'), 'hour'), utc('2020-01-01T11:00:00Z'));
  // Before 1970 the remainder is negative; the floor must still go down.
  assert.equal(floorToUnit(utc('1969-12-31T13:00:00Z'), 'day'), utc('1969-12-31T00:00:00Z'));
});

void test('months and years floor across month ends and leap years', () => {
  assert.equal(floorToUnit(utc('2020-02-29T23:59:59Z'), 'month'), utc('2020-02-01T00:00:00Z'));
  assert.equal(floorToUnit(utc('2020-03-01T00:00:00Z'), 'month'), utc('2020-03-01T00:00:00Z'));
  assert.equal(floorToUnit(utc('2021-12-31T23:59:59Z'), 'year'), utc('2021-01-01T00:00:00Z'));
  assert.equal(ceilToUnit(utc('2020-02-15T00:00:00Z'), 'month'), utc('2020-03-01T00:00:00Z'));
  assert.equal(ceilToUnit(utc('2020-12-15T00:00:00Z'), 'month'), utc('2021-01-01T00:00:00Z'));
  assert.equal(ceilToUnit(utc('2020-06-15T00:00:00Z'), 'year'), utc('2021-01-01T00:00:00Z'));
  assert.equal(floorToUnit(utc('2020-02-29T12:00:00Z'), 'day'), utc('2020-02-29T00:00:00Z'));
  assert.equal(isAligned(utc('2020-02-01T00:00:00Z'), 'month'), true);
  assert.equal(isAligned(utc('2020-02-02T00:00:00Z'), 'month'), false);
});

void test('adding units clamps days for months and keeps fixed steps exact', () => {
  assert.equal(addUnits(utc('2020-01-31T00:00:00Z'), 'month', 1), utc('2020-02-29T00:00:00Z'));
  assert.equal(addUnits(utc('2021-01-31T06:00:00Z'), 'month', 1), utc('2021-02-28T06:00:00Z'));
  assert.equal(addUnits(utc('2020-03-01T00:00:00Z'), 'month', -3), utc('2019-12-01T00:00:00Z'));
  assert.equal(addUnits(utc('2020-02-29T00:00:00Z'), 'year', 1), utc('2021-02-28T00:00:00Z'));
  assert.equal(addUnits(utc('2020-01-01T00:00:00Z'), 'day', 366), utc('2021-01-01T00:00:00Z'));
  assert.equal(
    addUnits(utc('2020-01-01T00:00:00Z'), 'five_minute', -1),
    utc('2019-12-31T23:55:00Z'),
  );
});

void test('unit sizes: exact where fixed, nominal for months and years', () => {
  assert.equal(fixedUnitMs('hour'), 3_600_000);
  assert.equal(fixedUnitMs('month'), undefined);
  assert.equal(fixedUnitMs('year'), undefined);
  assert.equal(unitMs('month'), 28 * 86_400_000);
  assert.equal(unitMs('year'), 365 * 86_400_000);
  // Units are listed largest first, so the first that fits a gap is the largest.
  for (let i = 1; i < INTERVAL_UNITS.length; i++) {
    assert.ok(unitMs(INTERVAL_UNITS[i - 1]!) > unitMs(INTERVAL_UNITS[i]!));
  }
  assert.deepEqual(
    INTERVAL_UNITS.filter((u) => isDateGranularity(u)),
    ['year', 'month', 'day'],
  );
});

void test('counting units counts partial units at either end as one', () => {
  const jan1 = utc('2020-01-01T00:00:00Z');
  assert.equal(countUnits(jan1, utc('2020-01-04T00:00:00Z'), 'day'), 3);
  assert.equal(countUnits(jan1, utc('2020-01-04T06:00:00Z'), 'day'), 4);
  assert.equal(countUnits(utc('2020-01-01T06:00:00Z'), utc('2020-01-04T00:00:00Z'), 'day'), 3);
  assert.equal(countUnits(jan1, utc('2021-01-01T00:00:00Z'), 'month'), 12);
  assert.equal(countUnits(jan1, utc('2023-01-01T00:00:00Z'), 'year'), 3);
  assert.equal(countUnits(jan1, jan1, 'day'), 0);
  assert.equal(countUnits(utc('2020-01-01T01:00:00Z'), utc('2020-01-01T02:00:00Z'), 'day'), 1);
});

void test('interval units parse case-insensitively and reject unknown names', () => {
  assert.equal(parseIntervalUnit('FIVE_MINUTE'), 'five_minute');
  assert.equal(parseIntervalUnit(' Hour '), 'hour');
  assert.throws(
    () => parseIntervalUnit('week'),
    /invalid interval unit 'week': expected one of year, month, day/,
  );
});
