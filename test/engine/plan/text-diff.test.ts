import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelDefaultsConfig } from '../../../src/engine/config/config-types.js';
import { parseModelFile } from '../../../src/engine/parse/model-parser.js';
import { modelDiffText, unifiedDiff } from '../../../src/engine/plan/text-diff.js';

const lines = (...ls: string[]): string => ls.map((l) => `${l}\n`).join('');
const numbered = (n: number, change: (i: number) => string | undefined = () => undefined): string =>
  Array.from({ length: n }, (_, i) => change(i + 1) ?? `line ${i + 1}`)
    .map((l) => `${l}\n`)
    .join('');

/**
 * Applies a unified diff to `text` the way `patch` would, checking every
 * context and deleted line (line break included) against the text, so a
 * wrong diff fails loudly.
 */
function applyPatch(text: string, diff: string): string {
  if (diff === '') return text;
  const src = text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  const rows = diff.split('\n');
  assert.match(rows[0] ?? '', /^--- /);
  assert.match(rows[1] ?? '', /^\+\+\+ /);
  const out: string[] = [];
  let pos = 0;
  for (let r = 2; r < rows.length; r++) {
    const row = rows[r] as string;
    const header = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@$/.exec(row);
    if (header) {
      const oldStart = Number(header[1]);
      const start = header[2] === '0' ? oldStart : oldStart - 1;
      assert.ok(start >= pos, 'hunks are in order and do not overlap');
      while (pos < start) out.push(src[pos++] as string);
      continue;
    }
    assert.notEqual(row, '\\ No newline at end of file', 'a marker follows a line');
    const line = row.slice(1) + (rows[r + 1] === '\\ No newline at end of file' ? '' : '\n');
    if (row[0] === '+') {
      out.push(line);
    } else {
      assert.equal(src[pos], line, `line ${pos + 1} of the old text`);
      pos++;
      if (row[0] === ' ') out.push(line);
      else assert.equal(row[0], '-');
    }
    if (rows[r + 1] === '\\ No newline at end of file') r++;
  }
  while (pos < src.length) out.push(src[pos++] as string);
  return out.join('');
}

/** The number of lines a shortest edit script deletes plus inserts (by dynamic programming). */
function minimalEdits(a: string[], b: string[]): number {
  const dp = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      const row = dp[i] as number[];
      row[j] =
        a[i] === b[j]
          ? ((dp[i + 1] as number[])[j + 1] as number) + 1
          : Math.max((dp[i + 1] as number[])[j] as number, row[j + 1] as number);
    }
  }
  return a.length + b.length - 2 * ((dp[0] as number[])[0] as number);
}

function changedLines(diff: string): number {
  return diff
    .split('\n')
    .slice(2)
    .filter((l) => /^[-+]/.test(l)).length;
}

/** A small deterministic pseudo-random generator, so failures reproduce. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('unifiedDiff', () => {
  it('is empty for identical texts', () => {
    assert.equal(unifiedDiff('', ''), '');
    assert.equal(unifiedDiff(numbered(50), numbered(50)), '');
  });

  it('shows an insertion with three lines of context and default labels', () => {
    const diff = unifiedDiff(lines('a', 'b', 'c', 'd', 'e'), lines('a', 'b', 'c', 'X', 'd', 'e'));
    assert.equal(
      diff,
      ['--- a', '+++ b', '@@ -1,5 +1,6 @@', ' a', ' b', ' c', '+X', ' d', ' e'].join('\n'),
    );
  });

  it('shows a deletion under the given labels', () => {
    const diff = unifiedDiff(lines('a', 'b', 'c'), lines('a', 'c'), {
      oldLabel: 'sushi.orders (prod)',
      newLabel: 'sushi.orders (local)',
    });
    assert.equal(
      diff,
      [
        '--- sushi.orders (prod)',
        '+++ sushi.orders (local)',
        '@@ -1,3 +1,2 @@',
        ' a',
        '-b',
        ' c',
      ].join('\n'),
    );
  });

  it('shows a replacement as deletions before insertions', () => {
    const diff = unifiedDiff(lines('a', 'b', 'c', 'd'), lines('a', 'X', 'Y', 'd'));
    assert.deepEqual(diff.split('\n').slice(3), [' a', '-b', '-c', '+X', '+Y', ' d']);
  });

  it('limits context to contextLines around a change', () => {
    const diff = unifiedDiff(
      numbered(20),
      numbered(20, (i) => (i === 10 ? 'changed' : undefined)),
    );
    assert.deepEqual(diff.split('\n').slice(2), [
      '@@ -7,7 +7,7 @@',
      ' line 7',
      ' line 8',
      ' line 9',
      '-line 10',
      '+changed',
      ' line 11',
      ' line 12',
      ' line 13',
    ]);
    const tight = unifiedDiff(
      numbered(20),
      numbered(20, (i) => (i === 10 ? 'changed' : undefined)),
      { contextLines: 0 },
    );
    assert.deepEqual(tight.split('\n').slice(2), ['@@ -10 +10 @@', '-line 10', '+changed']);
  });

  it('splits distant changes into several hunks and merges close ones', () => {
    const far = unifiedDiff(
      numbered(40),
      numbered(40, (i) => (i === 5 || i === 30 ? `edited ${i}` : undefined)),
    );
    const headers = far.split('\n').filter((l) => l.startsWith('@@'));
    assert.deepEqual(headers, ['@@ -2,7 +2,7 @@', '@@ -27,7 +27,7 @@']);
    // Six unchanged lines between two changes (= 2 x context) keep one hunk.
    const near = unifiedDiff(
      numbered(40),
      numbered(40, (i) => (i === 10 || i === 17 ? `edited ${i}` : undefined)),
    );
    assert.deepEqual(
      near.split('\n').filter((l) => l.startsWith('@@')),
      ['@@ -7,14 +7,14 @@'],
    );
    // Seven unchanged lines split them.
    const apart = unifiedDiff(
      numbered(40),
      numbered(40, (i) => (i === 10 || i === 18 ? `edited ${i}` : undefined)),
    );
    assert.equal(apart.split('\n').filter((l) => l.startsWith('@@')).length, 2);
  });

  it('writes hunks against empty texts with a zero count', () => {
    assert.deepEqual(unifiedDiff('', lines('a', 'b')).split('\n').slice(2), [
      '@@ -0,0 +1,2 @@',
      '+a',
      '+b',
    ]);
    assert.deepEqual(unifiedDiff(lines('a'), '').split('\n').slice(2), ['@@ -1 +0,0 @@', '-a']);
  });

  it('marks a last line without a line break', () => {
    assert.deepEqual(unifiedDiff('a\nb', 'a\nc').split('\n').slice(2), [
      '@@ -1,2 +1,2 @@',
      ' a',
      '-b',
      '\\ No newline at end of file',
      '+c',
      '\\ No newline at end of file',
    ]);
    // Adding the final line break alone is a change of that line.
    assert.deepEqual(unifiedDiff('a\nb', 'a\nb\n').split('\n').slice(2), [
      '@@ -1,2 +1,2 @@',
      ' a',
      '-b',
      '\\ No newline at end of file',
      '+b',
    ]);
    // A shared last line without a break shows as context with the marker.
    assert.deepEqual(unifiedDiff('x\nz', 'y\nz').split('\n').slice(2), [
      '@@ -1,2 +1,2 @@',
      '-x',
      '+y',
      ' z',
      '\\ No newline at end of file',
    ]);
  });

  it('produces minimal diffs that patch the old text into the new one (random texts)', () => {
    const next = random(42);
    for (let round = 0; round < 300; round++) {
      const make = (): string[] =>
        Array.from(
          { length: Math.floor(next() * 25) },
          () => 'abcde'[Math.floor(next() * 5)] as string,
        );
      const a = make();
      const b = next() < 0.5 ? make() : a.filter(() => next() > 0.2).concat(make().slice(0, 3));
      const ending = (): string => (next() < 0.2 ? '' : '\n');
      const oldText = a.length ? a.join('\n') + ending() : '';
      const newText = b.length ? b.join('\n') + ending() : '';
      const context = Math.floor(next() * 4);
      const diff = unifiedDiff(oldText, newText, { contextLines: context });
      assert.equal(applyPatch(oldText, diff), newText, `round ${round}`);
      if (oldText.endsWith('\n') && newText.endsWith('\n')) {
        assert.equal(changedLines(diff), minimalEdits(a, b), `round ${round}: not minimal`);
      }
    }
  });

  it('diffs 5,000-line texts, similar and disjoint, exactly', () => {
    const big = numbered(5000);
    const edited = numbered(5000, (i) => (i % 97 === 0 ? `edited ${i}` : undefined));
    const diff = unifiedDiff(big, edited);
    assert.equal(changedLines(diff), 2 * Math.floor(5000 / 97));
    assert.equal(applyPatch(big, diff), edited);

    // Nothing in common: the worst case for the search (timed in `npm run bench`).
    const other = Array.from({ length: 5000 }, (_, i) => `other ${i}\n`).join('');
    const full = unifiedDiff(big, other);
    assert.equal(changedLines(full), 10000);
    assert.equal(applyPatch(big, full), other);
  });
});

describe('modelDiffText', () => {
  const defaults: ModelDefaultsConfig = { dialect: 'duckdb', extra: {} };
  const parse = (source: string) => parseModelFile(source, 'models/orders.sql', defaults);

  it('writes the MODEL properties one per line, then statements and the query', () => {
    const text = modelDiffText(
      parse(`MODEL (
  name sushi.orders,
  kind INCREMENTAL_BY_TIME_RANGE (time_column event_date, lookback 2),
  cron '@hourly',
  start '2024-01-01',
  owner jen,
  grain (id),
  columns (id INT, event_date DATE),
  audits (not_null(columns := [id])),
  tags (finance, daily),
  description 'All orders'
);
SET threads = 2;
SELECT id, event_date FROM raw.orders WHERE event_date BETWEEN @start_ds AND @end_ds;
ANALYZE sushi.orders;
`),
    );
    const rows = text.split('\n');
    for (const expected of [
      'MODEL (',
      '  name sushi.orders,',
      '  kind INCREMENTAL_BY_TIME_RANGE (',
      '    time_column event_date,',
      '    lookback 2,',
      "  cron '@hourly',",
      "  start '2024-01-01',",
      '  owner jen,',
      "  description 'All orders',",
      '  tags (finance, daily),',
      '  grains (id),',
      '    id INT,',
      '    event_date DATE,',
      '    not_null(columns := [id]),',
      ');',
      'SET threads = 2;',
      'SELECT id, event_date FROM raw.orders WHERE event_date BETWEEN @start_ds AND @end_ds;',
      'ANALYZE sushi.orders;',
    ]) {
      assert.ok(rows.includes(expected), `missing line ${JSON.stringify(expected)} in\n${text}`);
    }
    const at = (line: string): number => rows.indexOf(line);
    assert.ok(at('SET threads = 2;') < at('ANALYZE sushi.orders;'));
    assert.ok(at(');') < at('SET threads = 2;'));
    assert.ok(text.endsWith(';\n'));
  });

  it('does not depend on property order or layout in the file', () => {
    const a = parse("MODEL (name s.m, kind FULL, cron '@daily', owner ann);\nSELECT 1 AS x");
    const b = parse(
      "MODEL (\n  owner ann,\n  cron '@daily',\n  kind FULL,\n  name s.m\n);\nSELECT 1 AS x",
    );
    assert.equal(modelDiffText(a), modelDiffText(b));
  });

  it('puts a property change on its own diff lines', () => {
    const before = parse("MODEL (name s.m, kind FULL, cron '@daily');\nSELECT 1 AS x");
    const after = parse("MODEL (name s.m, kind FULL, cron '@hourly');\nSELECT 1 AS x, 2 AS y");
    const diff = unifiedDiff(modelDiffText(before), modelDiffText(after));
    const changed = diff.split('\n').filter((l) => /^[-+][^-+]/.test(l));
    assert.deepEqual(changed, [
      "-  cron '@daily',",
      "+  cron '@hourly',",
      '-SELECT 1 AS x;',
      '+SELECT 1 AS x, 2 AS y;',
    ]);
  });

  it('adding a property or a column shows only the added line', () => {
    const before = parse('MODEL (name s.m, kind FULL, columns (a INT));\nSELECT 1 AS a');
    const after = parse(
      'MODEL (name s.m, kind FULL, columns (a INT, b TEXT), owner ann);\nSELECT 1 AS a',
    );
    const diff = unifiedDiff(modelDiffText(before), modelDiffText(after));
    const changed = diff.split('\n').filter((l) => /^[-+][^-+]/.test(l));
    assert.deepEqual(changed, ['+  owner ann,', '+    b TEXT,']);
  });

  it('shows seed settings and leaves out the query a seed lacks', () => {
    const text = modelDiffText(
      parse("MODEL (name s.items, kind SEED (path '../seeds/items.csv', batch_size 50))"),
    );
    assert.match(text, /^ {4}path '\.\.\/seeds\/items\.csv',$/m);
    assert.match(text, /^ {4}batch_size 50/m);
    assert.ok(text.trimEnd().endsWith(');'));
  });
});
