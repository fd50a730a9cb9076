/**
 * Mistakes in audit calls: each is a one-line ProjectError at the call
 * (models/m.sql:line:column) naming the audit and what to write instead.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { checkAuditCalls } from '../../../src/engine/audit/audit-runner.js';
import { ProjectError } from '../../../src/engine/errors.js';
import { audit, duckdb, model, projectAudits, tableFrom } from './audit-fixtures.js';

const adapter = duckdb();
after(() => adapter.close());

const AUDITS = projectAudits(`
AUDIT (name does_not_exceed, defaults (column = id));
SELECT * FROM @this_model WHERE @column >= @threshold;
`);

/** A bad call, and what its error must say. */
const CORPUS: Array<[call: string, message: RegExp]> = [
  ['not_nul(columns := [id])', /unknown audit `not_nul`; did you mean `not_null`\?/],
  ['assert_everything_fine', /unknown audit `assert_everything_fine`; define it in audits\//],
  ['does_not_exced(threshold := 1)', /did you mean `does_not_exceed`\?/],
  [
    'not_null',
    /audit `not_null` needs the argument `columns`: write `not_null\(columns := \.\.\.\)`/,
  ],
  ['accepted_values(column := id)', /audit `accepted_values` needs the argument `is_in`/],
  ['z_score_non_blocking(column := id)', /`z_score_non_blocking` needs the argument `threshold`/],
  ['not_null(colums := [id])', /takes no argument `colums`; did you mean `columns`\?/],
  [
    'number_of_rows(threshold := 1, limit := 3)',
    /takes no argument `limit`; it takes threshold, condition/,
  ],
  [
    'kl_divergence(column := a, source_column := b, target_column := c, threshold := 1)',
    /is given `source_column` twice/,
  ],
  [
    'not_null(columns := [id], blocking := perhaps)',
    /`blocking` must be true or false, got `perhaps`/,
  ],
];

/** Calls that are only found wrong when rendered. */
const RUNTIME: Array<[call: string, message: RegExp]> = [
  ['accepted_range(column := id)', /audit `accepted_range` needs `min_v`, `max_v` or both/],
  [
    'string_length_between(column := id, max_v := 3, inclusive := sometimes)',
    /`inclusive` must be true or false/,
  ],
  ['not_null(columns := [])', /needs at least one value in `columns`/],
  [
    'does_not_exceed',
    /audit `does_not_exceed` needs the argument `threshold` \(its query uses @threshold\)/,
  ],
];

function errorOf(fn: () => unknown): ProjectError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ProjectError, `expected a ProjectError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected an error');
}

async function asyncErrorOf(fn: () => Promise<unknown>): Promise<ProjectError> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof ProjectError, `expected a ProjectError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected an error');
}

function assertAtCall(err: ProjectError): void {
  assert.match(err.message, /^models\/m\.sql:2:3: /);
  assert.deepEqual(err.location, { file: 'models/m.sql', line: 2, column: 3 });
  assert.doesNotMatch(err.message, /\n/);
}

describe('bad audit calls', () => {
  for (const [call, message] of CORPUS) {
    test(`checked before running: ${call}`, async () => {
      const def = model(
        `MODEL (\n  name s.m,\n  kind FULL,\n  audits (\n  ${call}));\nSELECT 1 AS id`,
      );
      // The call is on line 5 of this model; the runner reports the same error.
      const checked = errorOf(() => checkAuditCalls(def, AUDITS));
      assert.match(checked.message, message);
      assert.match(checked.message, /^models\/m\.sql:5:3: /);
      const table = await tableFrom(adapter, 'SELECT 1 AS id');
      const ran = await asyncErrorOf(() =>
        audit(adapter, table, `\n  ${call}`, { projectAudits: AUDITS }),
      );
      assert.match(ran.message, message);
      assertAtCall(ran);
    });
  }

  for (const [call, message] of RUNTIME) {
    test(`found when rendered: ${call}`, async () => {
      const table = await tableFrom(adapter, 'SELECT 1 AS id');
      const err = await asyncErrorOf(() =>
        audit(adapter, table, `\n  ${call}`, { projectAudits: AUDITS }),
      );
      assert.match(err.message, message);
      assertAtCall(err);
    });
  }

  test('a well-formed model passes the check', () => {
    const def = model(
      'MODEL (name s.m, audits (not_null(columns := [id]), does_not_exceed(threshold := 3), unique_values_non_blocking(columns := id)));\nSELECT 1 AS id',
    );
    assert.doesNotThrow(() => checkAuditCalls(def, AUDITS));
  });
});
