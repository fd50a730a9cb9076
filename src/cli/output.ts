/** Text output helpers for the CLI: tables, JSON, and values as text. */

/** A cell value as the CLI prints it. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
    return String(value);
  }
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/**
 * A plain-text table with a header row and a rule, columns padded to their
 * widest cell; numbers are right-aligned.
 */
export function formatTable(columns: string[], rows: Array<Record<string, unknown>>): string {
  const cells = rows.map((row) => columns.map((c) => cellText(row[c])));
  const numeric = columns.map((c) =>
    rows.every(
      (row) => row[c] === null || typeof row[c] === 'number' || typeof row[c] === 'bigint',
    ),
  );
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [line(columns), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of cells) out.push(line(r));
  return out.join('\n');
}

/** JSON for scripts: bigints as strings, stable two-space indentation. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2);
}
