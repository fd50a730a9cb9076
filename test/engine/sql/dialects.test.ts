import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Dialect } from '@polyglot-sql/sdk';
import { ConfigError } from '../../../src/engine/errors.js';
import { dialectNames, findDialect, resolveDialect } from '../../../src/engine/sql/dialects.js';

describe('dialects', () => {
  test('project dialect names map to the parser dialects', () => {
    assert.equal(resolveDialect('duckdb').parser, Dialect.DuckDB);
    assert.equal(resolveDialect('postgres').parser, Dialect.PostgreSQL);
    assert.equal(resolveDialect('snowflake').parser, Dialect.Snowflake);
    assert.equal(resolveDialect('bigquery').parser, Dialect.BigQuery);
    assert.equal(resolveDialect('databricks').parser, Dialect.Databricks);
    assert.equal(resolveDialect('clickhouse').parser, Dialect.ClickHouse);
    assert.equal(resolveDialect('athena').parser, Dialect.Athena);
  });

  test('other spellings resolve to the canonical dialect, case-insensitively', () => {
    assert.equal(resolveDialect('mssql').name, 'tsql');
    assert.equal(resolveDialect('mssql').parser, Dialect.TSQL);
    assert.equal(resolveDialect('PostgreSQL').name, 'postgres');
    assert.equal(resolveDialect(' DuckDB ').name, 'duckdb');
    assert.equal(resolveDialect('').name, 'generic');
  });

  test('every listed name resolves', () => {
    for (const name of dialectNames()) assert.ok(findDialect(name), name);
  });

  test('each dialect has its identifier normalization strategy', () => {
    assert.equal(resolveDialect('postgres').normalization, 'lowercase');
    assert.equal(resolveDialect('duckdb').normalization, 'case_insensitive');
    assert.equal(resolveDialect('snowflake').normalization, 'uppercase');
    assert.equal(resolveDialect('clickhouse').normalization, 'case_sensitive');
    assert.equal(resolveDialect('mysql').normalization, 'case_sensitive');
    assert.equal(resolveDialect('bigquery').tableNormalization, 'case_sensitive');
    assert.equal(resolveDialect('spark').quoteStart, '`');
    assert.equal(resolveDialect('tsql').quoteEnd, ']');
  });

  test('an unknown dialect is a one-line ConfigError listing the valid ones', () => {
    assert.throws(
      () => resolveDialect('duckbd', 'config.yaml:model_defaults.dialect'),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.where, 'config.yaml:model_defaults.dialect');
        assert.match(err.message, /unknown SQL dialect 'duckbd'/);
        assert.match(err.message, /duckdb, postgres/);
        assert.match(err.message, /mssql/);
        assert.ok(!err.message.includes('\n'));
        return true;
      },
    );
  });
});
