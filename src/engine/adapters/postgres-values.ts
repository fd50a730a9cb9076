/**
 * PostgreSQL text values to plain JavaScript values, following the rules in
 * `row-values.ts`. The parsers are handed to each pool (`types`), so the
 * global `pg.types` registry is left as it is for other users of `pg`.
 */
import pg from 'pg';
import type { CustomTypesConfig } from 'pg';
import { decimalValue, floatValue, integerValue, timestampTzFromText } from './row-values.js';

type TextParser = (text: string) => unknown;

function byteaValue(text: string): string {
  if (text.startsWith('\\x')) return text.slice(2).toLowerCase();
  // The old `escape` output format: let pg decode it, then re-encode.
  const decode = pg.types.getTypeParser(17, 'text') as (t: string) => Buffer;
  return decode(text).toString('hex');
}

const identity: TextParser = (text) => text;

const scalarParsers: Record<number, TextParser> = {
  17: byteaValue, // bytea
  20: (t) => integerValue(t), // int8
  700: (t) => floatValue(Number.parseFloat(t)), // float4
  701: (t) => floatValue(Number.parseFloat(t)), // float8
  1082: identity, // date
  1114: identity, // timestamp
  1184: timestampTzFromText, // timestamptz
  1186: identity, // interval
  1700: decimalValue, // numeric
};

/** Array type oid -> element type oid, for the element types parsed above. */
const arrayElements: Record<number, number> = {
  1001: 17,
  1016: 20,
  1021: 700,
  1022: 701,
  1182: 1082,
  1115: 1114,
  1185: 1184,
  1187: 1186,
  1231: 1700,
};

/**
 * Parses PostgreSQL's array text form (`{1,2,NULL}`, `{{"a b",c}}`,
 * `[0:1]={1,2}`) with `element` applied to every non-NULL element.
 */
export function parsePgArray(text: string, element: TextParser): unknown[] {
  let i = 0;
  if (text.startsWith('[')) {
    const eq = text.indexOf('=');
    i = eq >= 0 ? eq + 1 : 0;
  }
  const parseLevel = (): unknown[] => {
    const out: unknown[] = [];
    i += 1; // '{'
    if (text[i] === '}') {
      i += 1;
      return out;
    }
    for (;;) {
      const ch = text[i];
      if (ch === '{') {
        out.push(parseLevel());
      } else if (ch === '"') {
        let value = '';
        i += 1;
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\') i += 1;
          value += text[i] ?? '';
          i += 1;
        }
        i += 1; // closing quote
        out.push(element(value));
      } else {
        let end = i;
        while (end < text.length && text[end] !== ',' && text[end] !== '}') end += 1;
        const raw = text.slice(i, end).trim();
        i = end;
        out.push(raw.toUpperCase() === 'NULL' ? null : element(raw));
      }
      const sep = text[i];
      i += 1;
      if (sep !== ',') break;
    }
    return out;
  };
  return text[i] === '{' ? parseLevel() : [];
}

function parserFor(oid: number): TextParser | undefined {
  const scalar = scalarParsers[oid];
  if (scalar) return scalar;
  const elementOid = arrayElements[oid];
  if (elementOid !== undefined) {
    const element = scalarParsers[elementOid] ?? identity;
    return (text) => parsePgArray(text, element);
  }
  return undefined;
}

/** The type parsers a pool is created with. */
export const plainPgTypes: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (format === undefined || format === 'text') {
      const parser = parserFor(oid);
      if (parser) return parser;
    }
    return pg.types.getTypeParser(oid, format ?? 'text');
  }) as CustomTypesConfig['getTypeParser'],
};

/** Names of common types without a modifier, so most results need no lookup. */
export const wellKnownTypeNames: Record<number, string> = {
  16: 'boolean',
  17: 'bytea',
  20: 'bigint',
  21: 'smallint',
  23: 'integer',
  25: 'text',
  114: 'json',
  700: 'real',
  701: 'double precision',
  1043: 'character varying',
  1082: 'date',
  1083: 'time without time zone',
  1114: 'timestamp without time zone',
  1184: 'timestamp with time zone',
  1186: 'interval',
  1700: 'numeric',
  2950: 'uuid',
  3802: 'jsonb',
};
