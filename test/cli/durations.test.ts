/** Durations on the command line: what is accepted, and a bad-input corpus. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { durationOption, formatDuration } from '../../src/cli/durations.js';

describe('durations on the command line', () => {
  const parse = durationOption(0, 365 * 86_400_000);

  it('reads a number and a unit', () => {
    const cases: Array<[string, number]> = [
      ['500ms', 500],
      ['30s', 30_000],
      ['1.5s', 1_500],
      ['15m', 900_000],
      ['2h', 7_200_000],
      ['1.25h', 4_500_000],
      ['7d', 604_800_000],
      ['0s', 0],
      [' 45s ', 45_000],
      ['365d', 365 * 86_400_000],
    ];
    for (const [text, ms] of cases) assert.equal(parse(text), ms, text);
  });

  it('refuses what is not a duration, saying what to write', () => {
    const corpus = [
      '',
      ' ',
      '30',
      's',
      '30 s',
      '30S',
      '30sec',
      '30 seconds',
      '-5s',
      '+5s',
      '1e3s',
      '0x10s',
      '1,5s',
      '.5s',
      '5.s',
      '1.2345s',
      '30s5',
      '5m30s',
      'NaN s',
      'Infinitys',
      '1234567890s',
      "30s'; DROP TABLE tasks; --",
      '３０s',
      '30ｓ',
    ];
    for (const text of corpus) {
      assert.throws(
        () => parse(text),
        (e: unknown) =>
          e instanceof InvalidArgumentError &&
          /^use a number and a unit \(ms, s, m, h or d\), such as 30s, 15m or 7d, from 0ms to 365d$/.test(
            e.message,
          ),
        JSON.stringify(text),
      );
    }
  });

  it('refuses durations out of range, naming the range', () => {
    const lease = durationOption(3_000, 3_600_000);
    assert.equal(lease('3s'), 3_000);
    assert.equal(lease('1h'), 3_600_000);
    for (const text of ['2999ms', '2s', '61m', '2h', '0s']) {
      assert.throws(
        () => lease(text),
        /^InvalidArgumentError: use a duration from 3s to 1h$/,
        text,
      );
    }
  });

  it('formats with the largest unit that divides the duration', () => {
    assert.equal(formatDuration(30_000), '30s');
    assert.equal(formatDuration(900_000), '15m');
    assert.equal(formatDuration(604_800_000), '7d');
    assert.equal(formatDuration(7_200_000), '2h');
    assert.equal(formatDuration(90_000), '90s');
    assert.equal(formatDuration(1_500), '1500ms');
    assert.equal(formatDuration(0), '0ms');
  });
});
