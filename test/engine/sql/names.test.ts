import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProjectError } from '../../../src/engine/errors.js';
import {
  displayName,
  exceedsIdentifierLength,
  fullyQualifiedName,
  needsQuoting,
  normalizeTableName,
  parseFullyQualifiedName,
  parseTableName,
  qualifyTableName,
  renderIdentifier,
  renderTableName,
} from '../../../src/engine/sql/names.js';

describe('parseTableName', () => {
  test('splits one, two and three parts', () => {
    assert.deepEqual(parseTableName('orders', 'duckdb'), {
      name: { name: 'orders', quoted: false },
    });
    assert.deepEqual(parseTableName('sushi.orders', 'duckdb'), {
      schema: { name: 'sushi', quoted: false },
      name: { name: 'orders', quoted: false },
    });
    assert.deepEqual(parseTableName('db.sch.t', 'postgres'), {
      catalog: { name: 'db', quoted: false },
      schema: { name: 'sch', quoted: false },
      name: { name: 't', quoted: false },
    });
  });

  test('reads quoted parts, with doubled quotes and dots inside', () => {
    const t = parseTableName('"my-db".raw."it""s.x"', 'postgres');
    assert.deepEqual(t.catalog, { name: 'my-db', quoted: true });
    assert.deepEqual(t.schema, { name: 'raw', quoted: false });
    assert.deepEqual(t.name, { name: 'it"s.x', quoted: true });
  });

  test('reads backticks for bigquery and unquoted dashes in project names', () => {
    const t = parseTableName('`my-project`.ds.Events', 'bigquery');
    assert.deepEqual(t.catalog, { name: 'my-project', quoted: true });
    assert.deepEqual(parseTableName('my-project.ds.t', 'bigquery').catalog, {
      name: 'my-project',
      quoted: false,
    });
  });

  test('reads brackets for tsql', () => {
    assert.deepEqual(parseTableName('[My Db].dbo.t', 'tsql').catalog, {
      name: 'My Db',
      quoted: true,
    });
  });

  test('bad names are one-line ProjectErrors at their column', () => {
    const loc = { file: 'models/a.sql', line: 2, column: 8 };
    const cases: [string, RegExp, number][] = [
      ['sushi..orders', /unexpected character '\.'/, 14],
      ['sushi.', /missing identifier/, 14],
      ['"sushi.orders', /unterminated quoted identifier/, 8],
      ['a.b.c.d', /too many parts/, 8],
      ['sushi.my-table', /unexpected character '-'/, 16],
      ['sushi.orders x', /unexpected character ' '/, 20],
    ];
    for (const [text, reason, column] of cases) {
      assert.throws(
        () => parseTableName(text, 'duckdb', loc),
        (err: unknown) => {
          assert.ok(err instanceof ProjectError, text);
          assert.match(err.message, reason);
          assert.equal(err.location?.column, column, text);
          assert.equal(err.location?.line, 2);
          assert.ok(!err.message.includes('\n'));
          return true;
        },
      );
    }
  });
});

describe('normalization', () => {
  const mixed = parseTableName('"Raw".Sales.Orders', 'postgres');

  test('lowercase dialects fold unquoted parts and keep quoted ones', () => {
    const n = normalizeTableName(mixed, 'postgres');
    assert.deepEqual([n.catalog?.name, n.schema?.name, n.name.name], ['Raw', 'sales', 'orders']);
  });

  test('uppercase dialects fold unquoted parts to upper case', () => {
    const n = normalizeTableName(mixed, 'snowflake');
    assert.deepEqual([n.catalog?.name, n.schema?.name, n.name.name], ['Raw', 'SALES', 'ORDERS']);
  });

  test('case-insensitive dialects fold quoted parts too', () => {
    const n = normalizeTableName(mixed, 'duckdb');
    assert.deepEqual([n.catalog?.name, n.schema?.name, n.name.name], ['raw', 'sales', 'orders']);
  });

  test('case-sensitive dialects keep everything', () => {
    const n = normalizeTableName(mixed, 'clickhouse');
    assert.deepEqual([n.catalog?.name, n.schema?.name, n.name.name], ['Raw', 'Sales', 'Orders']);
    const bq = normalizeTableName(parseTableName('Proj.DataSet.T', 'bigquery'), 'bigquery');
    assert.deepEqual([bq.catalog?.name, bq.schema?.name, bq.name.name], ['Proj', 'DataSet', 'T']);
  });
});

describe('qualifying and rendering', () => {
  test('the default catalog is added only to schema-qualified names', () => {
    const q = qualifyTableName(parseTableName('sushi.orders', 'duckdb'), 'memory');
    assert.equal(q.catalog?.name, 'memory');
    const bare = qualifyTableName(parseTableName('orders', 'duckdb'), 'memory');
    assert.equal(bare.catalog, undefined);
    const own = qualifyTableName(parseTableName('other.sushi.orders', 'duckdb'), 'memory');
    assert.equal(own.catalog?.name, 'other');
  });

  test('fullyQualifiedName quotes every part and normalizes per dialect', () => {
    assert.equal(
      fullyQualifiedName('sushi.Orders', 'duckdb', 'memory'),
      '"memory"."sushi"."orders"',
    );
    assert.equal(
      fullyQualifiedName('sushi.orders', 'snowflake', 'PROD'),
      '"PROD"."SUSHI"."ORDERS"',
    );
    assert.equal(
      fullyQualifiedName('"my-db".raw.items', 'postgres', 'main'),
      '"my-db"."raw"."items"',
    );
    assert.equal(fullyQualifiedName('orders', 'postgres', 'main'), '"orders"');
    assert.equal(fullyQualifiedName('s."a""b"', 'postgres'), '"s"."a""b"');
  });

  test('a canonical name parses back into the same parts', () => {
    const fqn = fullyQualifiedName('"my-db".Raw."We""ird"', 'postgres');
    const parts = parseFullyQualifiedName(fqn);
    assert.deepEqual(
      [parts.catalog?.name, parts.schema?.name, parts.name.name],
      ['my-db', 'raw', 'We"ird'],
    );
    assert.equal(fullyQualifiedName(parts, 'postgres'), fqn);
  });

  test('displayName drops the default catalog and quotes only names that need it', () => {
    assert.equal(displayName('memory.sushi.orders', 'duckdb', 'memory'), 'sushi.orders');
    assert.equal(displayName('"my-db".raw.items', 'postgres', 'main'), '"my-db".raw.items');
    assert.equal(displayName('`my-project`.ds.t', 'bigquery', 'other'), '`my-project`.ds.t');
    assert.equal(displayName('Sushi.Orders', 'postgres'), 'sushi.orders');
  });

  test('identifiers are quoted when not plain, reserved, or case would fold', () => {
    assert.equal(needsQuoting('orders', 'postgres'), false);
    assert.equal(needsQuoting('my-db', 'postgres'), true);
    assert.equal(needsQuoting('1st', 'postgres'), true);
    assert.equal(needsQuoting('select', 'duckdb'), true);
    assert.equal(needsQuoting('Orders', 'postgres'), true);
    assert.equal(needsQuoting('Orders', 'duckdb'), false);
    assert.equal(needsQuoting('orders', 'snowflake'), true);
    assert.equal(needsQuoting('ORDERS', 'snowflake'), false);
    assert.equal(renderIdentifier('a"b', 'postgres'), '"a""b"');
    assert.equal(renderIdentifier('a`b', 'bigquery'), '`a``b`');
    assert.equal(renderIdentifier('x', 'postgres', { always: true }), '"x"');
    assert.equal(
      renderTableName(parseTableName('"my-db".raw."Items"', 'postgres'), 'postgres'),
      '"my-db".raw."Items"',
    );
    assert.equal(
      renderTableName(parseTableName('s.t', 'tsql'), 'tsql', { always: true }),
      '[s].[t]',
    );
  });

  test('the identifier length check counts UTF-8 bytes', () => {
    assert.equal(exceedsIdentifierLength('a'.repeat(63)), false);
    assert.equal(exceedsIdentifierLength('a'.repeat(64)), true);
    assert.equal(exceedsIdentifierLength('é'.repeat(32)), true);
    assert.equal(exceedsIdentifierLength('abc', 2), true);
  });
});
