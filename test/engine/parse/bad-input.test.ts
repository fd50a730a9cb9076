import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ProjectError } from '../../../src/engine/errors.js';
import { parseAuditFile } from '../../../src/engine/parse/audit-parser.js';
import { parseModelFile } from '../../../src/engine/parse/model-parser.js';
import { fixturesDir } from '../../helpers/paths.js';

const BAD_INPUT = join(fixturesDir, 'bad-input');

/** File -> [line, column, a piece of the reason]. */
const EXPECTED: Record<string, [number, number, string]> = {
  'models/audit-positional-args.sql': [3, 20, 'audit `not_null` takes named arguments'],
  'models/bad-boolean.sql': [3, 18, '`allow_partials` must be true or false, got `maybe`'],
  'models/bad-interval-unit.sql': [3, 17, '`interval_unit` must be one of year, month, day'],
  'models/batch-size-not-a-number.sql': [5, 16, '`batch_size` must be a whole number'],
  'models/column-without-type.sql': [3, 20, 'column `name` has no type'],
  'models/comments-only.sql': [1, 1, 'the model file is empty'],
  'models/duplicate-property.sql': [5, 3, 'property `cron` is given twice'],
  'models/empty.sql': [1, 1, 'the model file is empty'],
  'models/full-kind-with-properties.sql': [3, 13, 'kind FULL takes no properties'],
  'models/full-without-query.sql': [1, 1, 'of kind FULL has no query'],
  'models/garbage-after-value.sql': [3, 17, 'unexpected `foo` after the value of `cron`'],
  'models/inline-audit-without-query.sql': [3, 1, 'audit `no_nulls` has no query'],
  'models/jinja-query-without-end.sql': [3, 1, 'has no matching `JINJA_END;`'],
  'models/missing-comma.sql': [3, 3, 'unexpected `kind` after the value of `name`'],
  'models/missing-name.sql': [1, 1, 'the MODEL block has no `name`'],
  'models/model-not-first.sql': [1, 1, 'a model file must start with `MODEL (...)`'],
  'models/negative-lookback.sql': [3, 60, '`lookback` must be zero or more, got -1'],
  'models/scd-without-unique-key.sql': [3, 8, 'kind SCD_TYPE_2 needs `unique_key`'],
  'models/seed-without-path.sql': [3, 8, 'kind SEED needs `path`'],
  'models/string-name.sql': [2, 8, 'the model name must be an identifier, not a string'],
  'models/time-range-without-time-column.sql': [
    3,
    8,
    'kind INCREMENTAL_BY_TIME_RANGE needs `time_column`',
  ],
  'models/two-queries.sql': [5, 1, 'a second one starts here (the first is at line 3)'],
  'models/unbalanced-audit-args.sql': [
    3,
    34,
    '`)` does not match the `[` opened at line 3, column 31',
  ],
  'models/unique-key-kind-without-key.sql': [
    3,
    8,
    'kind INCREMENTAL_BY_UNIQUE_KEY needs `unique_key`',
  ],
  'models/unknown-kind-property.sql': [
    3,
    51,
    'has no property `batch_sise`; did you mean `batch_size`?',
  ],
  'models/unknown-kind.sql': [3, 8, 'unknown model kind `INCREMENTAL_BY_MAGIC`'],
  'models/unknown-property.sql': [4, 3, 'unknown MODEL property `colour`'],
  'models/unsupported-kind.sql': [3, 8, 'model kind CUSTOM is not supported'],
  'models/unterminated-block-comment.sql': [2, 1, 'unterminated block comment'],
  'models/unterminated-model-paren.sql': [1, 7, '`(` is never closed'],
  'models/unterminated-string.sql': [3, 8, 'unterminated string'],
  'models/virtual-update-without-end.sql': [3, 1, 'has no matching `ON_VIRTUAL_UPDATE_END;`'],
  'audits/audit-bad-defaults.sql': [1, 33, 'audit `defaults` takes `name = value` pairs'],
  'audits/audit-ends-without-query.sql': [2, 1, 'must end with a SELECT query'],
  'audits/audit-not-first.sql': [1, 1, 'expected an `AUDIT (...)` block'],
  'audits/audit-unknown-property.sql': [1, 23, 'unknown AUDIT property `severity`'],
  'audits/audit-without-name.sql': [1, 1, 'the AUDIT block has no `name`'],
  'audits/audit-without-query.sql': [1, 1, 'audit `assert_positive` has no query'],
  'audits/duplicate-audit.sql': [4, 1, 'audit `positive` is defined twice'],
  'audits/standalone-blocking.sql': [1, 54, 'cannot be blocking'],
  'audits/unbalanced-brackets.sql': [1, 7, '`(` is never closed'],
  'audits/unterminated-quoted-identifier.sql': [2, 33, 'unterminated quoted identifier'],
};

function listFiles(): string[] {
  return ['models', 'audits'].flatMap((dir) =>
    readdirSync(join(BAD_INPUT, dir))
      .filter((f) => f.endsWith('.sql'))
      .map((f) => `${dir}/${f}`),
  );
}

void test('every bad-input file has an expectation and vice versa', () => {
  assert.deepEqual(listFiles().sort(), Object.keys(EXPECTED).sort());
  assert.ok(listFiles().length >= 24);
});

for (const file of listFiles()) {
  void test(`bad input ${file}`, () => {
    const source = readFileSync(join(BAD_INPUT, file), 'utf8');
    const expected = EXPECTED[file];
    assert.ok(expected, `no expectation for ${file}`);
    const [line, column, reason] = expected;
    let error: unknown;
    try {
      if (file.startsWith('models/'))
        parseModelFile(source, file, { dialect: 'duckdb', extra: {} });
      else parseAuditFile(source, file, 'duckdb');
    } catch (e) {
      error = e;
    }
    assert.ok(
      error instanceof ProjectError,
      `${file} should fail with a ProjectError, got ${String(error)}`,
    );
    assert.ok(error.message.startsWith(`${file}:${line}:${column}: `), error.message);
    assert.ok(error.reason.includes(reason), `${error.reason} should include ${reason}`);
    assert.deepEqual(error.location, { file, line, column });
    assert.ok(!error.message.includes('\n'), 'the message is one line');
    assert.ok(!/\bat .*\.[jt]s:\d+/.test(error.message), 'the message holds no stack trace');
  });
}
