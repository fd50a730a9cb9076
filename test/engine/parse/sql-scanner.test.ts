import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProjectError } from '../../../src/engine/errors.js';
import {
  LineIndex,
  scanOptionsForDialect,
  splitStatements,
  tokenize,
  type ScanOptions,
} from '../../../src/engine/parse/sql-scanner.js';

function tokens(source: string, options: ScanOptions = {}): string[] {
  return tokenize(source, new LineIndex(source, 'f.sql'), options).map(
    (t) => `${t.kind}:${t.text}`,
  );
}

function split(source: string, options: ScanOptions = {}): string[] {
  return splitStatements(source, new LineIndex(source, 'f.sql'), options).map((s) =>
    s.kind === 'sql' ? source.slice(s.start, s.end) : `${s.kind}:${source.slice(s.start, s.end)}`,
  );
}

function errorOf(fn: () => unknown): ProjectError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ProjectError, `expected a ProjectError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected an error');
}

void test('single-quoted strings keep doubled quotes inside', () => {
  assert.deepEqual(tokens("'it''s' x"), ["string:'it''s'", 'word:x']);
});

void test('double-quoted and backtick identifiers', () => {
  assert.deepEqual(tokens('"a ""b""" `c d`'), ['qident:"a ""b"""', 'qident:`c d`']);
});

void test('line and block comments are skipped, block comments nest', () => {
  assert.deepEqual(tokens('a -- b ; c\n/* d /* e */ ; */ f'), ['word:a', 'word:f']);
});

void test('dollar-quoted strings, with and without a tag', () => {
  assert.deepEqual(tokens("$$ a ; ' $$ $fn$ b $$ $fn$ $1"), [
    "dollar:$$ a ; ' $$",
    'dollar:$fn$ b $$ $fn$',
    'word:$1',
  ]);
});

void test('macros, numbers and two-character operators', () => {
  assert.deepEqual(tokens('@DEF(x, 1.5e3) @{v} a := b::INT'), [
    'macro:@DEF',
    'punct:(',
    'word:x',
    'punct:,',
    'number:1.5e3',
    'punct:)',
    'macro:@{v}',
    'word:a',
    'punct::=',
    'word:b',
    'punct:::',
    'word:INT',
  ]);
});

void test('Jinja comments are skipped', () => {
  assert.deepEqual(tokens("{# it's ; #} x"), ['word:x']);
});

void test('backslash escapes apply only in dialects that have them', () => {
  assert.deepEqual(tokens("'a\\'b' c", scanOptionsForDialect('bigquery')), [
    "string:'a\\'b'",
    'word:c',
  ]);
  assert.ok(scanOptionsForDialect('bigquery').backslashEscapes);
  assert.ok(!scanOptionsForDialect('duckdb').backslashEscapes);
  assert.deepEqual(tokens("'a\\' c"), ["string:'a\\'", 'word:c']);
});

void test('line index gives 1-based lines and columns', () => {
  const lines = new LineIndex('ab\ncd\n\nef', 'f.sql');
  assert.deepEqual(lines.locate(0), { file: 'f.sql', line: 1, column: 1 });
  assert.deepEqual(lines.locate(4), { file: 'f.sql', line: 2, column: 2 });
  assert.deepEqual(lines.locate(7), { file: 'f.sql', line: 4, column: 1 });
});

void test('statements split on semicolons outside strings, comments and brackets', () => {
  assert.deepEqual(
    split("SELECT ';' ; -- x;\nSELECT \"a;b\" /* ; */; CALL f(';'); @IF(x, (a; b))"),
    ["SELECT ';'", 'SELECT "a;b"', "CALL f(';')", '@IF(x, (a; b))'],
  );
});

void test('empty statements and a missing final semicolon are fine', () => {
  assert.deepEqual(split(';; SELECT 1 ;;\n SELECT 2 -- end'), ['SELECT 1', 'SELECT 2']);
});

void test('Jinja blocks run to JINJA_END and ignore brackets inside', () => {
  const src = 'JINJA_QUERY_BEGIN;\n{% if x %}(SELECT 1;{% endif %}\nJINJA_END;\nSELECT 2;';
  assert.deepEqual(split(src), ['jinja-query:{% if x %}(SELECT 1;{% endif %}', 'SELECT 2']);
});

void test('virtual update markers are statements of their own', () => {
  assert.deepEqual(split('ON_VIRTUAL_UPDATE_BEGIN; GRANT x; ON_VIRTUAL_UPDATE_END;'), [
    'virtual-begin:ON_VIRTUAL_UPDATE_BEGIN',
    'GRANT x',
    'virtual-end:ON_VIRTUAL_UPDATE_END',
  ]);
});

void test('an unclosed bracket is reported where it opens', () => {
  const e = errorOf(() => split('SELECT 1;\nSELECT f(a, [b);'));
  assert.equal(
    e.message,
    'f.sql:2:15: `)` does not match the `[` opened at line 2, column 13; close it with `]`',
  );
  const open = errorOf(() => split('SELECT (1'));
  assert.equal(open.location?.column, 8);
  assert.match(open.reason, /never closed/);
});

void test('a stray closing bracket is reported', () => {
  const e = errorOf(() => split('SELECT 1)'));
  assert.deepEqual([e.location?.line, e.location?.column], [1, 9]);
  assert.match(e.reason, /nothing open/);
});

void test('unterminated strings, identifiers, comments and dollar quotes point at their start', () => {
  const cases: [string, number, RegExp][] = [
    ["SELECT\n  'abc", 3, /unterminated string/],
    ['SELECT "abc', 8, /unterminated quoted identifier/],
    ['SELECT `abc', 8, /unterminated quoted identifier/],
    ['SELECT /* abc', 8, /unterminated block comment/],
    ['SELECT $$abc', 8, /unterminated dollar-quoted/],
    ['SELECT {# abc', 8, /unterminated Jinja comment/],
  ];
  for (const [src, column, reason] of cases) {
    const e = errorOf(() => split(src));
    assert.equal(e.location?.column, column, src);
    assert.match(e.reason, reason);
  }
});

void test('a JINJA_END without a beginning is an error', () => {
  assert.match(errorOf(() => split('SELECT 1; JINJA_END;')).reason, /without an opening/);
});
