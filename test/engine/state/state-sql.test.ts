import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  batchBySize,
  chunks,
  readBoolean,
  readNumber,
  sqlLiteral,
  sqlString,
  sqlTuples,
} from '../../../src/engine/state/state-sql.js';

test('strings are quoted with doubled quotes, and backslashes make an escape string', () => {
  assert.equal(sqlString("it's"), "'it''s'");
  assert.equal(sqlString('a\\b'), "E'a\\\\b'");
  assert.equal(sqlString("\\'; --"), "E'\\\\''; --'");
  assert.throws(() => sqlString('a\0b'), /NUL/);
});

test('other values render as literals, and values that cannot be stored exactly are refused', () => {
  assert.equal(sqlLiteral(null), 'NULL');
  assert.equal(sqlLiteral(undefined), 'NULL');
  assert.equal(sqlLiteral(true), 'TRUE');
  assert.equal(sqlLiteral(false), 'FALSE');
  assert.equal(sqlLiteral(1_700_000_000_000), '1700000000000');
  assert.equal(sqlLiteral(-2.5), '-2.5');
  assert.throws(() => sqlLiteral(Number.NaN), /finite/);
  assert.throws(() => sqlLiteral(Infinity), /finite/);
  assert.throws(() => sqlLiteral(2 ** 60), /exact integers/);
  assert.equal(
    sqlTuples([
      ['a', 1],
      ["b'", null],
    ]),
    "('a', 1), ('b''', NULL)",
  );
});

test('lists are cut into chunks and batches', () => {
  assert.deepEqual(chunks([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  assert.deepEqual(chunks([], 3), []);
  assert.deepEqual(batchBySize(['aa', 'bb', 'cc', 'dd'], 3, 100), [['aa', 'bb', 'cc'], ['dd']]);
  assert.deepEqual(batchBySize(['aaaa', 'b', 'cccccc', 'd'], 10, 5), [
    ['aaaa', 'b'],
    ['cccccc'],
    ['d'],
  ]);
});

test('column readers accept what either driver returns', () => {
  assert.equal(readNumber(12n, 'c'), 12);
  assert.equal(readNumber('1700000000000', 'c'), 1_700_000_000_000);
  assert.equal(readNumber(3, 'c'), 3);
  assert.throws(() => readNumber('x', 'tbl.col'), /tbl\.col/);
  assert.equal(readBoolean(true), true);
  assert.equal(readBoolean('t'), true);
  assert.equal(readBoolean(0), false);
  assert.equal(readBoolean(false), false);
});
