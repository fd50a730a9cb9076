import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cellText, formatTable, toJson } from '../../src/cli/output.js';

test('tables pad columns and right-align numbers', () => {
  const text = formatTable(
    ['item_id', 'name'],
    [
      { item_id: 1, name: 'apple' },
      { item_id: 12, name: null },
    ],
  );
  assert.equal(
    text,
    ['item_id  name', '-------  -----', '      1  apple', '     12  NULL'].join('\n'),
  );
});

test('cells print nested values as JSON and bigints whole', () => {
  assert.equal(cellText([1, 'a']), '[1,"a"]');
  assert.equal(cellText(12345678901234567890n), '12345678901234567890');
  assert.equal(toJson({ n: 2n ** 70n }), '{\n  "n": "1180591620717411303424"\n}');
});
