import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TEMPORAL_PREFIXES,
  TEMPORAL_SUFFIXES,
  temporalVariables,
} from '../../../src/engine/render/temporal-variables.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;

test('every prefix and suffix is defined', () => {
  const vars = temporalVariables({ start: 0, end: DAY, executionTime: 0 });
  for (const p of TEMPORAL_PREFIXES) {
    for (const s of TEMPORAL_SUFFIXES) assert.ok(vars[`${p}_${s}`], `${p}_${s}`);
  }
  assert.equal(Object.keys(vars).length, TEMPORAL_PREFIXES.length * TEMPORAL_SUFFIXES.length);
});

test('a daily interval ends on the last microsecond of its day', () => {
  const start = Date.UTC(2024, 0, 1);
  const vars = temporalVariables({
    start,
    end: start + DAY,
    executionTime: Date.UTC(2024, 0, 2, 3, 4, 5),
  });
  assert.equal(vars.start_ds?.sql, "'2024-01-01'");
  assert.equal(vars.end_ds?.sql, "'2024-01-01'");
  assert.equal(vars.start_ts?.sql, "'2024-01-01 00:00:00'");
  assert.equal(vars.end_ts?.sql, "'2024-01-01 23:59:59.999999'");
  assert.equal(vars.end_tstz?.sql, "'2024-01-01 23:59:59.999999+00:00'");
  assert.equal(vars.start_dt?.sql, "CAST('2024-01-01 00:00:00+00:00' AS TIMESTAMPTZ)");
  assert.equal(vars.end_dt?.sql, "CAST('2024-01-01 23:59:59.999999+00:00' AS TIMESTAMPTZ)");
  assert.equal(vars.end_dtntz?.sql, "CAST('2024-01-01 23:59:59.999999' AS TIMESTAMP)");
  assert.equal(vars.start_date?.sql, "CAST('2024-01-01' AS DATE)");
  assert.equal(vars.end_date?.sql, "CAST('2024-01-01' AS DATE)");
  assert.equal(vars.start_epoch?.sql, '1704067200.0');
  assert.equal(vars.end_epoch?.sql, '1704153599.999');
  assert.equal(vars.start_millis?.sql, '1704067200000');
  assert.equal(vars.end_millis?.sql, String(start + DAY - 1));
  assert.equal(vars.start_hour?.sql, '0');
  assert.equal(vars.end_hour?.sql, '23');
  assert.equal(vars.execution_ts?.sql, "'2024-01-02 03:04:05'");
  assert.equal(vars.execution_ds?.sql, "'2024-01-02'");
  assert.equal(vars.execution_hour?.sql, '3');
  assert.equal(vars.latest_ds?.sql, vars.execution_ds?.sql);
});

test('an hourly interval ends on the last microsecond of its hour', () => {
  const start = Date.UTC(2024, 4, 31, 22);
  const vars = temporalVariables({ start, end: start + HOUR, executionTime: start + 2 * HOUR });
  assert.equal(vars.start_ts?.sql, "'2024-05-31 22:00:00'");
  assert.equal(vars.end_ts?.sql, "'2024-05-31 22:59:59.999999'");
  assert.equal(vars.start_hour?.sql, '22');
  assert.equal(vars.end_hour?.sql, '22');
  assert.equal(vars.end_ds?.sql, "'2024-05-31'");
  // The last hour of the day stays on that day.
  const last = temporalVariables({ start: start + HOUR, end: start + 2 * HOUR, executionTime: 0 });
  assert.equal(last.end_ds?.sql, "'2024-05-31'");
  assert.equal(last.end_hour?.sql, '23');
});

test('texts for identifiers and Jinja values', () => {
  const start = Date.UTC(2024, 0, 1);
  const vars = temporalVariables({ start, end: start + DAY, executionTime: start });
  assert.equal(vars.start_ds?.text, '2024-01-01');
  assert.equal(vars.start_ds?.jinja, '2024-01-01');
  assert.equal(vars.end_dt?.jinja, '2024-01-01 23:59:59.999999+00:00');
  assert.equal(vars.start_millis?.jinja, start);
  assert.equal(vars.end_hour?.jinja, 23);
});

test('sub-second times and dialect type names', () => {
  const vars = temporalVariables({
    start: Date.UTC(2024, 0, 1, 0, 0, 0, 250),
    end: Date.UTC(2024, 0, 1, 1),
    executionTime: 0,
    dialect: 'bigquery',
  });
  assert.equal(vars.start_ts?.sql, "'2024-01-01 00:00:00.250000'");
  assert.equal(vars.start_epoch?.sql, '1704067200.25');
  assert.equal(vars.start_dt?.sql, "CAST('2024-01-01 00:00:00.250000+00:00' AS TIMESTAMP)");
  assert.equal(vars.start_dtntz?.sql, "CAST('2024-01-01 00:00:00.250000' AS DATETIME)");
  const tsql = temporalVariables({ start: 0, end: DAY, executionTime: 0, dialect: 'tsql' });
  assert.equal(tsql.end_ts?.sql, "'1970-01-01 23:59:59.999999999'");
});
