/**
 * Turns property value trees into the plain values the model and audit types
 * hold, raising a one-line ProjectError at the value when it has the wrong shape.
 */

import type { PropertyParser, ValueNode } from './property-parser.js';

const TRUE_WORDS = new Set(['true', '1', 't', 'y', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'f', 'n', 'no', 'off']);

/** A literal as text; anything else (macros, expressions) as its SQL text. */
export function asText(p: PropertyParser, node: ValueNode): string {
  switch (node.type) {
    case 'string':
      return node.value;
    case 'ident':
      return node.parts.length === 1 ? (node.parts[0] as string) : p.text(node);
    default:
      return p.text(node);
  }
}

/** A string, number or name; lists, calls and the like are refused. */
export function asScalarText(
  p: PropertyParser,
  node: ValueNode,
  key: string,
  example: string,
): string {
  if (node.type === 'list' || node.type === 'assign' || node.type === 'props') {
    throw p.fail(node.from, `\`${key}\` takes a single value, e.g. \`${key} ${example}\``);
  }
  return asText(p, node);
}

export function asBool(p: PropertyParser, node: ValueNode, key: string): boolean {
  if (node.type === 'boolean') return node.value;
  if (node.type === 'number' && (node.value === 0 || node.value === 1)) return node.value === 1;
  if (node.type === 'string' || (node.type === 'ident' && node.parts.length === 1)) {
    const word = asText(p, node).toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
  }
  if (p.token(node.from).kind === 'macro') {
    throw p.fail(node.from, `\`${key}\` cannot be set by a macro yet; write true or false`);
  }
  throw p.fail(node.from, `\`${key}\` must be true or false, got \`${p.text(node)}\``);
}

/** An integer of at least `min` (1 for sizes, 0 for lookback). */
export function asInt(p: PropertyParser, node: ValueNode, key: string, min: number): number {
  let value: number | undefined;
  if (node.type === 'number') value = node.value;
  else if (node.type === 'string' && /^-?\d+$/.test(node.value.trim())) value = Number(node.value);
  if (value === undefined || !Number.isInteger(value)) {
    throw p.fail(node.from, `\`${key}\` must be a whole number, got \`${p.text(node)}\``);
  }
  if (value < min) {
    const what = min === 0 ? 'zero or more' : `at least ${min}`;
    throw p.fail(node.from, `\`${key}\` must be ${what}, got ${value}`);
  }
  return value;
}

/** The entries of a list, or the value itself as a one-entry list. */
export function entries(node: ValueNode): ValueNode[] {
  return node.type === 'list' ? node.items : [node];
}

/** Names or expressions: `(a, b)`, `[a, b]`, `a`, `'a'`. Each as text (strings unquoted). */
export function asTextList(p: PropertyParser, node: ValueNode, key: string): string[] {
  return entries(node).map((item) => {
    if (item.type === 'assign') {
      throw p.fail(item.from, `\`${key}\` takes a list of values, not \`name = value\` pairs`);
    }
    return item.type === 'string' ? item.value : p.text(item);
  });
}

/** `(key = value, ...)` as key -> SQL text of the value. */
export function asSqlMap(p: PropertyParser, node: ValueNode, key: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of entries(node)) {
    if (item.type !== 'assign') {
      throw p.fail(
        item.from,
        `\`${key}\` takes \`name = value\` pairs, e.g. \`${key} (name = 'value')\``,
      );
    }
    out[item.key] = p.text(item.value);
  }
  return out;
}

/** A literal as a JSON-friendly value: string, number, boolean or a list of strings. */
export function asLiteral(
  p: PropertyParser,
  node: ValueNode,
): string | number | boolean | string[] {
  switch (node.type) {
    case 'string':
      return node.value;
    case 'number':
      return node.value;
    case 'boolean':
      return node.value;
    case 'list':
      return node.items.map((item) => asText(p, item));
    default:
      return asText(p, node);
  }
}

/** `; did you mean \`x\`?` for the candidate closest to a misspelt key, or `''` when none is close. */
export function suggest(word: string, candidates: Iterable<string>): string {
  let best = '';
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const d = editDistance(word, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best ? `; did you mean \`${best}\`?` : '';
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(
        Math.min(
          (prev[j] as number) + 1,
          (row[j - 1] as number) + 1,
          (prev[j - 1] as number) + cost,
        ),
      );
    }
    prev = row;
  }
  return prev[b.length] as number;
}
