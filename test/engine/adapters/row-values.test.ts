import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ConnectionError,
  describeConnectionError,
  firstLine,
  sqlExcerpt,
} from '../../../src/engine/adapters/adapter-errors.js';
import { parsePgArray } from '../../../src/engine/adapters/postgres-values.js';
import {
  decimalValue,
  floatValue,
  hexValue,
  integerValue,
  timestampFromMicros,
  timestampTzFromText,
} from '../../../src/engine/adapters/row-values.js';
import { EngineError } from '../../../src/engine/errors.js';

describe('row values', () => {
  test('integers are numbers while safe and decimal strings beyond', () => {
    assert.equal(integerValue(42n), 42);
    assert.equal(integerValue('-17'), -17);
    assert.equal(integerValue(BigInt(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
    assert.equal(integerValue(BigInt(Number.MAX_SAFE_INTEGER) + 1n), '9007199254740992');
    assert.equal(integerValue(BigInt(Number.MIN_SAFE_INTEGER) - 1n), '-9007199254740992');
    assert.equal(
      integerValue('170141183460469231731687303715884105727'),
      '170141183460469231731687303715884105727',
    );
  });

  test('decimals are numbers up to 15 significant digits and exact strings beyond', () => {
    assert.equal(decimalValue('12.30'), 12.3);
    assert.equal(decimalValue('-0.005'), -0.005);
    assert.equal(decimalValue('0.000'), 0);
    assert.equal(decimalValue('123456789012345'), 123456789012345);
    assert.equal(decimalValue('1234567890.12345'), 1234567890.12345);
    assert.equal(decimalValue('1234567890123456'), '1234567890123456');
    assert.equal(decimalValue('0.1234567890123456'), '0.1234567890123456');
    // Leading and trailing zeros do not count as significant.
    assert.equal(decimalValue('000123.4500000000000000'), 123.45);
    assert.equal(decimalValue('NaN'), 'NaN');
  });

  test('non-finite floats become strings', () => {
    assert.equal(floatValue(1.25), 1.25);
    assert.equal(floatValue(Number.NaN), 'NaN');
    assert.equal(floatValue(Number.POSITIVE_INFINITY), 'Infinity');
    assert.equal(floatValue(Number.NEGATIVE_INFINITY), '-Infinity');
  });

  test('bytes are lowercase hex', () => {
    assert.equal(hexValue(new Uint8Array([0, 171, 255])), '00abff');
    assert.equal(hexValue(new Uint8Array([])), '');
  });

  test('microseconds render as a UTC wall clock, trailing fraction zeros dropped', () => {
    assert.equal(timestampFromMicros(0n), '1970-01-01 00:00:00');
    assert.equal(timestampFromMicros(1_500_000n), '1970-01-01 00:00:01.5');
    assert.equal(timestampFromMicros(-1n), '1969-12-31 23:59:59.999999');
    assert.equal(timestampFromMicros(1_709_212_455_123_456n), '2024-02-29 13:14:15.123456');
  });

  test('PostgreSQL timestamptz text is normalized to UTC', () => {
    assert.equal(timestampTzFromText('2024-02-29 13:14:15.25+02:30'), '2024-02-29 10:44:15.25+00');
    assert.equal(timestampTzFromText('2024-01-01 00:30:00-05'), '2024-01-01 05:30:00+00');
    assert.equal(timestampTzFromText('2024-01-01 00:00:00+00'), '2024-01-01 00:00:00+00');
    assert.equal(timestampTzFromText('2024-03-01 00:00:00+05:53:28'), '2024-02-29 18:06:32+00');
    assert.equal(timestampTzFromText('infinity'), 'infinity');
    assert.equal(timestampTzFromText('0044-03-15 12:00:00+00 BC'), '0044-03-15 12:00:00+00 BC');
  });
});

describe('PostgreSQL array text', () => {
  test('flat, nested, quoted and NULL elements', () => {
    assert.deepEqual(parsePgArray('{1,2,NULL}', Number), [1, 2, null]);
    assert.deepEqual(parsePgArray('{}', Number), []);
    assert.deepEqual(parsePgArray('{{1,2},{3,4}}', Number), [
      [1, 2],
      [3, 4],
    ]);
    assert.deepEqual(
      parsePgArray('{"a,b","c\\"d","NULL",NULL, e }', (s) => s),
      ['a,b', 'c"d', 'NULL', null, 'e'],
    );
    assert.deepEqual(parsePgArray('[0:1]={5,6}', Number), [5, 6]);
  });
});

describe('connection error reasons', () => {
  test('socket errors name the address', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5499'), {
      code: 'ECONNREFUSED',
      address: '127.0.0.1',
      port: 5499,
    });
    assert.equal(describeConnectionError(refused), 'connection refused at 127.0.0.1:5499');
    const both = new AggregateError([
      Object.assign(new Error('x'), { code: 'ECONNREFUSED', address: '::1', port: 5 }),
      Object.assign(new Error('y'), { code: 'ECONNREFUSED', address: '127.0.0.1', port: 5 }),
    ]);
    assert.equal(
      describeConnectionError(both),
      'connection refused at ::1:5; connection refused at 127.0.0.1:5',
    );
    const unknownHost = Object.assign(new Error('getaddrinfo ENOTFOUND nohost'), {
      code: 'ENOTFOUND',
      hostname: 'nohost',
    });
    assert.equal(describeConnectionError(unknownHost), 'host not found: nohost');
  });

  test('wrapped errors are unwrapped and adapter reasons kept as they are', () => {
    const inner = new Error('password authentication failed for user "x"\nmore detail');
    assert.equal(
      describeConnectionError(new EngineError('outer', { cause: inner })),
      'password authentication failed for user "x"',
    );
    assert.equal(
      describeConnectionError(new ConnectionError('PostgreSQL', 'connection refused at h:1')),
      'connection refused at h:1',
    );
  });

  test('a DuckDB lock conflict says the file is locked and by whom', () => {
    const err = new Error(
      'IO Error: Could not set lock on file "/data/db.duckdb": Conflicting lock is held in /usr/bin/node (PID 4242) by user me.',
    );
    assert.equal(
      describeConnectionError(err),
      'database file is locked: /data/db.duckdb (held by process 4242)',
    );
  });

  test('messages are cut to one line and SQL to a short excerpt', () => {
    assert.equal(firstLine('\n  Parser Error: x\nLINE 1: ...'), 'Parser Error: x');
    assert.equal(sqlExcerpt('SELECT\n  1'), 'SELECT 1');
    const long = sqlExcerpt(`SELECT ${'x, '.repeat(100)}1`);
    assert.equal(long.length, 80);
    assert.ok(long.endsWith('...'));
  });
});
