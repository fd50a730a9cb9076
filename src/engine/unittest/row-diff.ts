/**
 * Comparing the rows a test expects with the rows a query returned, and the
 * readable diff shown when they differ: a small table of the differing rows,
 * `-` for expected rows that are missing and `+` for rows that were not
 * expected, under the column names.
 */
import type { QueryResult } from '../adapters/engine-adapter.js';
import { displayValue, valuesEqual } from './test-values.js';

export interface RowComparison {
  /** What was compared, for the diff heading: `query` or `CTE name`. */
  what: string;
  expected: Array<Record<string, unknown>>;
  actual: QueryResult;
  /** Compare only the columns the expected rows name. */
  partial: boolean;
  /** Compare row by row in order (the query has a top-level ORDER BY); otherwise in any order. */
  ordered: boolean;
}

/** Undefined when the rows match; otherwise the diff text (several lines). */
export function compareRows(input: RowComparison): string | undefined {
  const actualColumns = input.actual.columns;
  const byExact = new Map(actualColumns.map((c) => [c.name, c.name]));
  const byFolded = new Map<string, string>();
  for (const c of actualColumns) {
    const folded = c.name.toLowerCase();
    if (!byFolded.has(folded)) byFolded.set(folded, c.name);
  }
  const resolve = (key: string): string | undefined =>
    byExact.get(key) ?? byFolded.get(key.toLowerCase());

  const unknown: string[] = [];
  const referenced = new Set<string>();
  const expected = input.expected.map((row) => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(row)) {
      const column = resolve(key);
      if (column === undefined) {
        if (!unknown.includes(key)) unknown.push(key);
        continue;
      }
      referenced.add(column);
      out[column] = value;
    }
    return out;
  });
  if (unknown.length > 0) {
    return (
      `Unknown column(s) in the expected rows of the ${input.what}: ${unknown.join(', ')}\n` +
      `The ${input.what} returns: ${actualColumns.map((c) => c.name).join(', ') || '(no columns)'}`
    );
  }

  const columns =
    input.partial && referenced.size > 0
      ? actualColumns.filter((c) => referenced.has(c.name))
      : actualColumns;
  const tuple = (row: Record<string, unknown>) => columns.map((c) => row[c.name] ?? null);
  const exp = expected.map(tuple);
  const act = input.actual.rows.map(tuple);
  const rowEqual = (e: unknown[], a: unknown[]) =>
    columns.every((c, i) => valuesEqual(e[i], a[i], c.type));

  const lines: Array<{ mark: '-' | '+'; index?: number; cells: unknown[] }> = [];
  if (input.ordered) {
    for (let i = 0; i < Math.max(exp.length, act.length); i++) {
      const e = exp[i];
      const a = act[i];
      if (e && a && rowEqual(e, a)) continue;
      if (e) lines.push({ mark: '-', index: i + 1, cells: e });
      if (a) lines.push({ mark: '+', index: i + 1, cells: a });
    }
  } else {
    const used = new Array<boolean>(act.length).fill(false);
    const missing: unknown[][] = [];
    for (const e of exp) {
      const j = act.findIndex((a, k) => !used[k] && rowEqual(e, a));
      if (j === -1) missing.push(e);
      else used[j] = true;
    }
    const extra = act.filter((_, k) => !used[k]);
    for (const cells of missing) lines.push({ mark: '-', cells });
    for (const cells of extra) lines.push({ mark: '+', cells });
    // Rows that share their first value sit together, expected before actual.
    lines.sort((x, y) => {
      const first = compareCells(x.cells[0], y.cells[0]);
      if (first !== 0) return first;
      if (x.mark !== y.mark) return x.mark === '-' ? -1 : 1;
      for (let i = 1; i < columns.length; i++) {
        const c = compareCells(x.cells[i], y.cells[i]);
        if (c !== 0) return c;
      }
      return 0;
    });
  }
  if (lines.length === 0) return undefined;

  const missingCount = lines.filter((l) => l.mark === '-').length;
  const extraCount = lines.length - missingCount;
  const heading =
    `Data mismatch in the ${input.what} (- expected, + actual` +
    (input.ordered ? ', compared in order' : '') +
    `): ${exp.length} expected row(s), ${act.length} actual; ` +
    `${missingCount} expected not found, ${extraCount} not expected`;
  const header = [...(input.ordered ? ['#'] : []), ...columns.map((c) => c.name)];
  const body = lines.map((l) => [
    ...(input.ordered ? [String(l.index)] : []),
    ...l.cells.map(displayValue),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const format = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const table = [`    ${format(header)}`];
  lines.forEach((l, i) => table.push(`  ${l.mark} ${format(body[i] ?? [])}`));
  return [heading, ...table].join('\n');
}

function compareCells(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = displayValue(a);
  const y = displayValue(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
