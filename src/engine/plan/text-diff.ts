/**
 * Text differences as a plan shows them: a unified diff (the `diff -u`
 * format) of two texts, and the text of a model that such a diff compares.
 *
 * The line matching is Myers' O(ND) algorithm in its linear-space form
 * (divide at the middle snake, recurse on both halves), so two files of
 * thousands of lines diff in milliseconds when they are similar and in well
 * under a second when they share nothing.
 */

export { modelDiffText } from './text-diff-model.js';

export interface UnifiedDiffOptions {
  /** The name after `--- ` (default `a`). */
  oldLabel?: string;
  /** The name after `+++ ` (default `b`). */
  newLabel?: string;
  /** Unchanged lines shown around each change (default 3). */
  contextLines?: number;
}

const NO_NEWLINE = '\\ No newline at end of file';

/** A text cut into lines, with whether its last line lacks a line break. */
interface Lines {
  lines: string[];
  /** True when the text is non-empty and does not end with `\n`. */
  missingFinalNewline: boolean;
}

function splitLines(text: string): Lines {
  if (text === '') return { lines: [], missingFinalNewline: false };
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') {
    lines.pop();
    return { lines, missingFinalNewline: false };
  }
  return { lines, missingFinalNewline: true };
}

/**
 * Each line as a small integer, equal lines sharing one. A last line without
 * its line break is a different line from the same text with one, as in `diff`.
 */
function internLines(a: Lines, b: Lines): [Int32Array, Int32Array] {
  const ids = new Map<string, number>();
  const encode = (text: Lines): Int32Array => {
    const out = new Int32Array(text.lines.length);
    text.lines.forEach((line, i) => {
      const key =
        text.missingFinalNewline && i === text.lines.length - 1 ? `${line}\u0000eof` : line;
      let id = ids.get(key);
      if (id === undefined) {
        id = ids.size;
        ids.set(key, id);
      }
      out[i] = id;
    });
    return out;
  };
  return [encode(a), encode(b)];
}

/**
 * Marks the lines of `a` that are deleted and the lines of `b` that are
 * inserted by a shortest edit script turning `a` into `b`.
 */
class LineMatcher {
  readonly deleted: Uint8Array;
  readonly inserted: Uint8Array;

  constructor(
    private readonly a: Int32Array,
    private readonly b: Int32Array,
  ) {
    this.deleted = new Uint8Array(a.length);
    this.inserted = new Uint8Array(b.length);
    this.compare(0, a.length, 0, b.length);
  }

  /** Matches a[aLo, aHi) against b[bLo, bHi). */
  private compare(aLo: number, aHi: number, bLo: number, bHi: number): void {
    const { a, b } = this;
    // Equal lines at either end are matched without search.
    while (aLo < aHi && bLo < bHi && a[aLo] === b[bLo]) {
      aLo++;
      bLo++;
    }
    while (aLo < aHi && bLo < bHi && a[aHi - 1] === b[bHi - 1]) {
      aHi--;
      bHi--;
    }
    if (aLo === aHi) {
      this.inserted.fill(1, bLo, bHi);
      return;
    }
    if (bLo === bHi) {
      this.deleted.fill(1, aLo, aHi);
      return;
    }
    const split = this.middleSnake(aLo, aHi, bLo, bHi);
    if (split === undefined) {
      this.deleted.fill(1, aLo, aHi);
      this.inserted.fill(1, bLo, bHi);
      return;
    }
    const [x, y] = split;
    this.compare(aLo, x, bLo, y);
    this.compare(x, aHi, y, bHi);
  }

  /**
   * A point (x, y) on an optimal edit path through the box a[aLo, aHi) x
   * b[bLo, bHi), found by searching forward from the top-left corner and
   * backward from the bottom-right corner until the two searches overlap.
   * Both ends of the box differ (the caller trimmed equal lines), so the
   * point is strictly inside the box and both halves are smaller.
   */
  private middleSnake(
    aLo: number,
    aHi: number,
    bLo: number,
    bHi: number,
  ): [number, number] | undefined {
    const { a, b } = this;
    const n = aHi - aLo;
    const m = bHi - bLo;
    const maxD = Math.ceil((n + m) / 2);
    const offset = maxD + 1;
    const size = 2 * maxD + 3;
    // forward[k]: furthest x reached on diagonal k (k = x - y) from the start.
    // backward[k]: furthest distance reached on diagonal k from the end, where
    // the backward search's coordinates count from the bottom-right corner.
    const forward = new Int32Array(size).fill(-1);
    const backward = new Int32Array(size).fill(-1);
    forward[offset + 1] = 0;
    backward[offset + 1] = 0;
    const delta = n - m;
    const checkInForward = (delta & 1) !== 0;
    // Diagonals that ran off an edge of the box are not extended again.
    let fStart = 0;
    let fEnd = 0;
    let bStart = 0;
    let bEnd = 0;

    for (let d = 0; d < maxD; d++) {
      for (let k = -d + fStart; k <= d - fEnd; k += 2) {
        const i = offset + k;
        const down = forward[i + 1] as number;
        const right = forward[i - 1] as number;
        let x = k === -d || (k !== d && right < down) ? down : right + 1;
        let y = x - k;
        while (x < n && y < m && a[aLo + x] === b[bLo + y]) {
          x++;
          y++;
        }
        forward[i] = x;
        if (x > n) fEnd += 2;
        else if (y > m) fStart += 2;
        else if (checkInForward) {
          const j = offset + delta - k;
          if (j >= 0 && j < size && backward[j] !== -1) {
            if (x >= n - (backward[j] as number)) return [aLo + x, bLo + y];
          }
        }
      }
      for (let k = -d + bStart; k <= d - bEnd; k += 2) {
        const i = offset + k;
        const down = backward[i + 1] as number;
        const right = backward[i - 1] as number;
        let x = k === -d || (k !== d && right < down) ? down : right + 1;
        let y = x - k;
        while (x < n && y < m && a[aHi - 1 - x] === b[bHi - 1 - y]) {
          x++;
          y++;
        }
        backward[i] = x;
        if (x > n) bEnd += 2;
        else if (y > m) bStart += 2;
        else if (!checkInForward) {
          const j = offset + delta - k;
          if (j >= 0 && j < size && forward[j] !== -1) {
            const fx = forward[j] as number;
            const fy = fx - (j - offset);
            if (fx >= n - x) return [aLo + fx, bLo + fy];
          }
        }
      }
    }
    return undefined;
  }
}

type OpKind = ' ' | '-' | '+';
interface Op {
  kind: OpKind;
  /** Index of the line in the old text (deletions, context) or the new one (insertions). */
  line: number;
}

/** The edit script in order: runs of deletions before the insertions that replace them. */
function editScript(deleted: Uint8Array, inserted: Uint8Array): Op[] {
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < deleted.length || j < inserted.length) {
    if (i < deleted.length && deleted[i]) {
      ops.push({ kind: '-', line: i++ });
    } else if (j < inserted.length && inserted[j]) {
      ops.push({ kind: '+', line: j++ });
    } else {
      ops.push({ kind: ' ', line: i });
      i++;
      j++;
    }
  }
  return ops;
}

/** `start,count` as a hunk header writes it: the count is left out when it is 1. */
function range(start: number, count: number): string {
  if (count === 0) return `${start},0`;
  return count === 1 ? `${start + 1}` : `${start + 1},${count}`;
}

/**
 * A unified diff of two texts, like `diff -u`: `--- old` and `+++ new`
 * headers, then hunks headed `@@ -start,count +start,count @@` with
 * `contextLines` unchanged lines around each change; changes closer than
 * twice that share a hunk. A last line without a line break is followed by
 * `\ No newline at end of file`. Lines are joined by `\n` and the result does
 * not end with one. Empty when the texts are equal.
 */
export function unifiedDiff(
  oldText: string,
  newText: string,
  options: UnifiedDiffOptions = {},
): string {
  if (oldText === newText) return '';
  const context = Math.max(0, Math.floor(options.contextLines ?? 3));
  const oldLines = splitLines(oldText);
  const newLines = splitLines(newText);
  const [a, b] = internLines(oldLines, newLines);
  const matcher = new LineMatcher(a, b);
  const ops = editScript(matcher.deleted, matcher.inserted);

  // Line numbers in both texts where each op starts.
  const oldAt = new Int32Array(ops.length + 1);
  const newAt = new Int32Array(ops.length + 1);
  ops.forEach((op, k) => {
    oldAt[k + 1] = (oldAt[k] as number) + (op.kind === '+' ? 0 : 1);
    newAt[k + 1] = (newAt[k] as number) + (op.kind === '-' ? 0 : 1);
  });

  const out = [`--- ${options.oldLabel ?? 'a'}`, `+++ ${options.newLabel ?? 'b'}`];
  const lastOld = oldLines.lines.length - 1;
  const lastNew = newLines.lines.length - 1;
  let k = 0;
  while (k < ops.length) {
    while (k < ops.length && (ops[k] as Op).kind === ' ') k++;
    if (k === ops.length) break;
    const start = Math.max(0, k - context);
    // Extend the hunk while the next change is within 2 * context unchanged lines.
    let end = k;
    for (;;) {
      while (end < ops.length && (ops[end] as Op).kind !== ' ') end++;
      let next = end;
      while (next < ops.length && (ops[next] as Op).kind === ' ') next++;
      if (next < ops.length && next - end <= 2 * context) {
        end = next;
        continue;
      }
      end = Math.min(ops.length, end + context);
      break;
    }
    const oldCount = (oldAt[end] as number) - (oldAt[start] as number);
    const newCount = (newAt[end] as number) - (newAt[start] as number);
    out.push(
      `@@ -${range(oldAt[start] as number, oldCount)} +${range(newAt[start] as number, newCount)} @@`,
    );
    for (let h = start; h < end; h++) {
      const op = ops[h] as Op;
      if (op.kind === '+') {
        out.push(`+${newLines.lines[op.line] as string}`);
        if (newLines.missingFinalNewline && op.line === lastNew) out.push(NO_NEWLINE);
      } else {
        out.push(`${op.kind}${oldLines.lines[op.line] as string}`);
        const noNewline = oldLines.missingFinalNewline && op.line === lastOld;
        if (noNewline) out.push(NO_NEWLINE);
      }
    }
    k = end;
  }
  return out.join('\n');
}
