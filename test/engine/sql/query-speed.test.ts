import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseQuery, tableReferences } from '../../../src/engine/sql/query.js';

test('parse + tableReferences of 10,000 small queries stays fast', (t) => {
  const loc = { file: 'models/m.sql', line: 1, column: 1 };
  const started = performance.now();
  let found = 0;
  for (let i = 0; i < 10_000; i++) {
    const parsed = parseQuery(
      `WITH recent AS (SELECT * FROM sushi.orders WHERE ds > '2024-01-0${(i % 9) + 1}')
       SELECT r.id, c.name_${i} FROM recent AS r JOIN sushi.customers c ON r.customer_id = c.id`,
      'duckdb',
      loc,
    );
    found += tableReferences(parsed).length;
  }
  const ms = performance.now() - started;
  t.diagnostic(`parse + tableReferences: 10,000 queries in ${Math.round(ms)} ms`);
  assert.equal(found, 20_000);
  // About 2 s on one core; the bound only catches a pathological slowdown.
  assert.ok(ms < 20_000, `${ms} ms`);
});
