/**
 * The built-in audits on PostgreSQL: the same cases as on DuckDB (regular
 * expressions through `~`, ranges, z-scores, uniqueness, NULL checks, the
 * statistical audits), so that what one engine accepts the other does too.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { testServerUrl } from '../../helpers/postgres.js';
import { audit, BUILTIN_CASES, postgres, tableFrom } from './audit-fixtures.js';

await testServerUrl();
const pg = await postgres();
after(() => pg.close());

describe('built-in audits on PostgreSQL', () => {
  for (const c of BUILTIN_CASES) {
    test(c.call, async () => {
      const good = await audit(pg.adapter, await tableFrom(pg.adapter, c.passing), c.call);
      assert.equal(good[0]?.error, undefined, `${good[0]?.error}\n${good[0]?.sql}`);
      assert.equal(good[0]?.passed, true, `expected a pass\n${good[0]?.sql}`);
      const bad = await audit(pg.adapter, await tableFrom(pg.adapter, c.failing), c.call);
      assert.equal(bad[0]?.error, undefined, `${bad[0]?.error}\n${bad[0]?.sql}`);
      assert.equal(bad[0]?.failingRows, c.failingRows, bad[0]?.sql);
    });
  }

  test('regular expressions use the ~ operator', async () => {
    const table = await tableFrom(pg.adapter, "SELECT 'x@y.z' AS email");
    const [r] = await audit(pg.adapter, table, 'valid_email(column := email)');
    assert.equal(r?.passed, true);
    assert.match(r?.sql ?? '', /NOT \(email ~ '/);
  });
});
