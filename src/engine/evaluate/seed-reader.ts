/**
 * Reads a SEED model's CSV file into typed rows, the way SQLMesh reads seeds:
 * the csv_settings it passes to the CSV reader (delimiter, quotechar,
 * doublequote, escapechar, skipinitialspace, lineterminator, encoding,
 * na_values, keep_default_na), the default NA strings that become NULL, types
 * from the declared columns or else inferred per column (BIGINT, DOUBLE,
 * BOOLEAN or TEXT).
 */
import { TextDecoder } from 'node:util';
import type { SourceLocation } from '../errors.js';
import { ProjectError } from '../errors.js';
import type { ColumnDefinition } from '../model-types.js';

/** The strings that mean NULL unless `keep_default_na` is false. */
export const DEFAULT_NA_VALUES: readonly string[] = [
  '',
  '#N/A',
  '#N/A N/A',
  '#NA',
  '-1.#IND',
  '-1.#QNAN',
  '-NaN',
  '-nan',
  '1.#IND',
  '1.#QNAN',
  '<NA>',
  'N/A',
  'NA',
  'NULL',
  'NaN',
  'None',
  'n/a',
  'nan',
  'null',
];

/** A seed read into memory: columns with their SQL types, and rows in column order. */
export interface SeedData {
  columns: Array<{ name: string; type: string }>;
  /**
   * One array per CSV record. Values are `null`, `boolean`, `number`, `bigint`
   * (integers beyond 2^53) or `string` (text, and dates, timestamps, decimals
   * and other types kept as their text).
   */
  rows: unknown[][];
}

export type CsvSettingValue =
  string | number | boolean | null | Array<string | number> | Record<string, unknown>;

export interface ReadSeedOptions {
  /** The CSV file as the user knows it (relative to the project root), for error locations. */
  path: string;
  /** The model's declared columns; when given, only these are kept, in this order, typed by them. */
  columns?: ColumnDefinition[];
  /** The model's `csv_settings`. */
  csvSettings?: Record<string, CsvSettingValue>;
  /** Where `csv_settings` is written, for errors in it. */
  settingsLocation?: SourceLocation;
  /** Normalizes header names (e.g. lowercases them for the dialect); identity by default. */
  normalizeColumnName?: (name: string) => string;
}

/** The broad kind of a SQL type, which decides how a CSV value is checked and written. */
export type TypeCategory =
  'integer' | 'float' | 'decimal' | 'boolean' | 'date' | 'timestamp' | 'text' | 'other';

const INTEGER_TYPES = new Set([
  'TINYINT',
  'SMALLINT',
  'INT',
  'INTEGER',
  'BIGINT',
  'HUGEINT',
  'INT1',
  'INT2',
  'INT4',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'INT128',
  'UTINYINT',
  'USMALLINT',
  'UINTEGER',
  'UBIGINT',
  'UHUGEINT',
  'SHORT',
  'LONG',
  'SIGNED',
  'SERIAL',
  'BIGSERIAL',
  'SMALLSERIAL',
]);
const FLOAT_TYPES = new Set(['FLOAT', 'FLOAT4', 'FLOAT8', 'REAL', 'DOUBLE', 'DOUBLE PRECISION']);
const TEXT_TYPES = new Set([
  'TEXT',
  'VARCHAR',
  'CHAR',
  'CHARACTER',
  'CHARACTER VARYING',
  'STRING',
  'BPCHAR',
  'NVARCHAR',
  'NCHAR',
  'NAME',
]);

/** Classifies a SQL type as written (`DECIMAL(10, 2)`, `varchar(20)`, `timestamp with time zone`). */
export function typeCategory(type: string): TypeCategory {
  const base = type
    .trim()
    .replace(/\s*\(.*$/s, '')
    .replace(/\s+/g, ' ')
    .toUpperCase();
  if (INTEGER_TYPES.has(base)) return 'integer';
  if (FLOAT_TYPES.has(base)) return 'float';
  if (base === 'DECIMAL' || base === 'NUMERIC' || base === 'DEC') return 'decimal';
  if (base === 'BOOLEAN' || base === 'BOOL' || base === 'LOGICAL') return 'boolean';
  if (base === 'DATE' || base === 'DATE32') return 'date';
  if (base.startsWith('TIMESTAMP') || base === 'DATETIME' || base === 'TIMESTAMPTZ') {
    return 'timestamp';
  }
  if (TEXT_TYPES.has(base)) return 'text';
  return 'other';
}

interface CsvDialect {
  delimiter: string;
  quotechar: string;
  doublequote: boolean;
  escapechar: string | undefined;
  skipinitialspace: boolean;
  /** A single record terminator; undefined means \n, \r\n or \r. */
  lineterminator: string | undefined;
}

interface NaRules {
  all: Set<string>;
  perColumn: Map<string, Set<string>>;
}

interface CsvRecord {
  fields: string[];
  /** 1-based line and column of each field's first character. */
  starts: Array<{ line: number; column: number }>;
  line: number;
}

const SETTING_KEYS = new Set([
  'delimiter',
  'quotechar',
  'doublequote',
  'escapechar',
  'skipinitialspace',
  'lineterminator',
  'encoding',
  'na_values',
  'keep_default_na',
]);

function settingError(options: ReadSeedOptions, key: string, reason: string): ProjectError {
  return new ProjectError(`csv_settings ${key} ${reason}`, options.settingsLocation);
}

function charSetting(
  options: ReadSeedOptions,
  key: string,
  value: CsvSettingValue | undefined,
): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || [...value].length !== 1) {
    throw settingError(options, key, `must be a single character, got ${JSON.stringify(value)}`);
  }
  return value;
}

function boolSetting(
  options: ReadSeedOptions,
  key: string,
  value: CsvSettingValue | undefined,
): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  const text = String(value).trim().toLowerCase();
  if (['true', '1', 't', 'y', 'yes', 'on'].includes(text)) return true;
  if (['false', '0', 'f', 'n', 'no', 'off'].includes(text)) return false;
  throw settingError(options, key, `must be true or false, got ${JSON.stringify(value)}`);
}

function naList(options: ReadSeedOptions, key: string, value: unknown): string[] {
  const items = Array.isArray(value) ? value : [value];
  return items.map((item) => {
    if (typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean') {
      return String(item);
    }
    throw settingError(options, key, 'must list strings or numbers');
  });
}

function compileSettings(options: ReadSeedOptions): {
  dialect: CsvDialect;
  na: NaRules;
  encoding: string | undefined;
} {
  const s = options.csvSettings ?? {};
  for (const key of Object.keys(s)) {
    if (!SETTING_KEYS.has(key)) {
      throw settingError(
        options,
        key,
        `is not a known setting; use one of ${[...SETTING_KEYS].join(', ')}`,
      );
    }
  }
  const dialect: CsvDialect = {
    delimiter: charSetting(options, 'delimiter', s['delimiter']) ?? ',',
    quotechar: charSetting(options, 'quotechar', s['quotechar']) ?? '"',
    doublequote: boolSetting(options, 'doublequote', s['doublequote']) ?? true,
    escapechar: charSetting(options, 'escapechar', s['escapechar']),
    skipinitialspace: boolSetting(options, 'skipinitialspace', s['skipinitialspace']) ?? false,
    lineterminator: charSetting(options, 'lineterminator', s['lineterminator']),
  };
  if (dialect.delimiter === dialect.quotechar) {
    throw settingError(options, 'delimiter', 'must differ from quotechar');
  }
  const keepDefault = boolSetting(options, 'keep_default_na', s['keep_default_na']) ?? true;
  const all = new Set<string>(keepDefault ? DEFAULT_NA_VALUES : []);
  const perColumn = new Map<string, Set<string>>();
  const naValues = s['na_values'];
  if (naValues !== undefined && naValues !== null) {
    if (typeof naValues === 'object' && !Array.isArray(naValues)) {
      for (const [column, values] of Object.entries(naValues)) {
        perColumn.set(column, new Set(naList(options, `na_values.${column}`, values)));
      }
    } else {
      for (const v of naList(options, 'na_values', naValues)) all.add(v);
    }
  }
  const encoding = s['encoding'];
  if (encoding !== undefined && encoding !== null && typeof encoding !== 'string') {
    throw settingError(options, 'encoding', 'must be an encoding name such as utf-8');
  }
  return { dialect, na: { all, perColumn }, encoding: encoding ?? undefined };
}

/**
 * Decodes a seed file's bytes with the `encoding` of its csv_settings (UTF-8
 * by default), for passing to `readSeed`.
 */
export function decodeSeed(
  bytes: Uint8Array,
  options: Pick<ReadSeedOptions, 'csvSettings' | 'settingsLocation' | 'path'>,
): string {
  const encoding = options.csvSettings?.['encoding'];
  const label = typeof encoding === 'string' ? encoding.replace(/_/g, '-') : 'utf-8';
  let decoder: TextDecoder;
  try {
    // Python spells some encodings differently ('latin-1'); try the label without dashes too.
    try {
      decoder = new TextDecoder(label, { fatal: true });
    } catch {
      decoder = new TextDecoder(label.replace(/-/g, ''), { fatal: true });
    }
  } catch {
    throw settingError(
      options,
      'encoding',
      `names an unknown encoding ${JSON.stringify(encoding)}; use e.g. utf-8 or latin-1`,
    );
  }
  try {
    return decoder.decode(bytes);
  } catch {
    throw new ProjectError(
      `the file is not valid ${label}; save it as ${label} or set csv_settings encoding`,
      { file: options.path, line: 1, column: 1 },
    );
  }
}

/** Splits CSV text into records (RFC 4180 plus the csv_settings variations). */
function parseCsv(text: string, d: CsvDialect, path: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  let lineStart = i;
  const n = text.length;
  const loc = (at: number): SourceLocation => ({ file: path, line, column: at - lineStart + 1 });

  // Returns the length of the record terminator at `at`, or 0.
  const terminatorAt = (at: number): number => {
    const c = text[at];
    if (d.lineterminator !== undefined) return c === d.lineterminator ? 1 : 0;
    if (c === '\n') return 1;
    if (c === '\r') return text[at + 1] === '\n' ? 2 : 1;
    return 0;
  };
  // Advances over a newline inside a quoted field, keeping line numbers right.
  const newlineAt = (at: number): number => {
    const c = text[at];
    if (c === '\n') return 1;
    if (c === '\r') return text[at + 1] === '\n' ? 2 : 1;
    return 0;
  };

  while (i < n) {
    const record: CsvRecord = { fields: [], starts: [], line };
    let endOfRecord = false;
    while (!endOfRecord) {
      if (d.skipinitialspace) while (text[i] === ' ') i++;
      const start = { line, column: i - lineStart + 1 };
      let value = '';
      let quoted = false;
      if (text[i] === d.quotechar) {
        quoted = true;
        const open = loc(i);
        i++;
        for (;;) {
          if (i >= n) {
            throw new ProjectError(
              `quoted field never ends; add the closing ${d.quotechar} or escape the quote inside it`,
              open,
            );
          }
          const c = text[i] as string;
          if (d.escapechar !== undefined && c === d.escapechar) {
            if (i + 1 >= n) {
              throw new ProjectError(
                `escape character ${d.escapechar} at the end of the file; remove it or add the character it escapes`,
                loc(i),
              );
            }
            const nl = newlineAt(i + 1);
            value += text.slice(i + 1, i + 1 + Math.max(nl, 1));
            i += 1 + Math.max(nl, 1);
            if (nl > 0) {
              line++;
              lineStart = i;
            }
            continue;
          }
          if (c === d.quotechar) {
            if (d.doublequote && text[i + 1] === d.quotechar) {
              value += c;
              i += 2;
              continue;
            }
            i++;
            break;
          }
          const nl = newlineAt(i);
          if (nl > 0) {
            value += text.slice(i, i + nl);
            i += nl;
            line++;
            lineStart = i;
            continue;
          }
          value += c;
          i++;
        }
      }
      // Unquoted text, or text following a closing quote (kept, as lenient readers do).
      for (;;) {
        if (i >= n) {
          endOfRecord = true;
          break;
        }
        const c = text[i] as string;
        if (c === d.delimiter) {
          i++;
          break;
        }
        const term = terminatorAt(i);
        if (term > 0) {
          i += term;
          line++;
          lineStart = i;
          endOfRecord = true;
          break;
        }
        if (d.escapechar !== undefined && c === d.escapechar) {
          if (i + 1 >= n) {
            throw new ProjectError(
              `escape character ${d.escapechar} at the end of the file; remove it or add the character it escapes`,
              loc(i),
            );
          }
          const nl = newlineAt(i + 1);
          value += text.slice(i + 1, i + 1 + Math.max(nl, 1));
          i += 1 + Math.max(nl, 1);
          if (nl > 0) {
            line++;
            lineStart = i;
          }
          continue;
        }
        value += c;
        i++;
      }
      record.fields.push(value);
      record.starts.push(start);
      // A line holding nothing at all is skipped, as blank lines are.
      if (endOfRecord && record.fields.length === 1 && value === '' && !quoted) {
        record.fields = [];
      }
    }
    if (record.fields.length > 0) records.push(record);
  }
  return records;
}

const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)$/;
const INF_RE = /^([+-]?)(?:inf|infinity)$/i;
const DECIMAL_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const DATE_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$/;
const TIMESTAMP_RE =
  /^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:\s*(?:Z|UTC|[+-]\d{2}(?::?\d{2})?))?$/i;
const TRUE_WORDS = new Set(['true', 't', '1', 'y', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', 'f', '0', 'n', 'no', 'off']);

const INTEGER_RANGES: Record<string, [bigint, bigint]> = {
  TINYINT: [-128n, 127n],
  INT1: [-128n, 127n],
  SMALLINT: [-32768n, 32767n],
  INT2: [-32768n, 32767n],
  SHORT: [-32768n, 32767n],
  INT: [-2147483648n, 2147483647n],
  INTEGER: [-2147483648n, 2147483647n],
  INT4: [-2147483648n, 2147483647n],
  SIGNED: [-2147483648n, 2147483647n],
  BIGINT: [-(2n ** 63n), 2n ** 63n - 1n],
  INT8: [-(2n ** 63n), 2n ** 63n - 1n],
  LONG: [-(2n ** 63n), 2n ** 63n - 1n],
  UTINYINT: [0n, 255n],
  USMALLINT: [0n, 65535n],
  UINTEGER: [0n, 4294967295n],
  UBIGINT: [0n, 2n ** 64n - 1n],
};

function integerValue(text: string): number | bigint {
  const big = BigInt(text);
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(big)
    : big;
}

function floatValue(text: string): number | undefined {
  if (FLOAT_RE.test(text)) return Number(text);
  const inf = INF_RE.exec(text);
  if (inf) return inf[1] === '-' ? -Infinity : Infinity;
  return undefined;
}

function validDate(y: string, m: string, d: string): boolean {
  const date = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
  return (
    date.getUTCFullYear() === Number(y) &&
    date.getUTCMonth() === Number(m) - 1 &&
    date.getUTCDate() === Number(d)
  );
}

/** Converts one non-NA CSV value to a value of the declared type, or says why it cannot. */
function convertDeclared(raw: string, type: string): { value: unknown } | { error: string } {
  const category = typeCategory(type);
  const text = raw.trim();
  switch (category) {
    case 'integer': {
      if (!INT_RE.test(text)) return { error: 'is not a whole number' };
      const base = type
        .trim()
        .replace(/\s*\(.*$/s, '')
        .toUpperCase();
      const range = INTEGER_RANGES[base];
      if (range && (BigInt(text) < range[0] || BigInt(text) > range[1])) {
        return { error: `is out of range for ${base}` };
      }
      return { value: integerValue(text) };
    }
    case 'float': {
      const value = floatValue(text);
      return value === undefined ? { error: 'is not a number' } : { value };
    }
    case 'decimal':
      return DECIMAL_RE.test(text) ? { value: text } : { error: 'is not a decimal number' };
    case 'boolean': {
      const word = text.toLowerCase();
      if (TRUE_WORDS.has(word)) return { value: true };
      if (FALSE_WORDS.has(word)) return { value: false };
      return { error: 'is not a boolean (use true or false)' };
    }
    case 'date': {
      const m = DATE_RE.exec(text);
      if (!m || !validDate(m[1] as string, m[2] as string, m[3] as string)) {
        return { error: 'is not a date (use YYYY-MM-DD)' };
      }
      return { value: `${m[1]}-${m[2]}-${m[3]}` };
    }
    case 'timestamp': {
      const m = TIMESTAMP_RE.exec(text);
      const ymd = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
      if (!m || !ymd || !validDate(ymd[1] as string, ymd[2] as string, ymd[3] as string)) {
        return { error: 'is not a timestamp (use YYYY-MM-DD HH:MM:SS)' };
      }
      return { value: text };
    }
    case 'text':
    case 'other':
      return { value: raw };
  }
}

/** Infers a column's type from its non-NA values as the CSV reader SQLMesh uses does. */
function inferColumn(values: Array<string | null>): { type: string; values: unknown[] } {
  const present = values.filter((v): v is string => v !== null);
  const trimmed = present.map((v) => v.trim());
  const hasNull = present.length < values.length;
  if (present.length === 0) {
    return { type: 'DOUBLE', values: values.map(() => null) };
  }
  const int64 = (t: string): boolean => {
    if (!INT_RE.test(t)) return false;
    const big = BigInt(t);
    return big >= -(2n ** 63n) && big < 2n ** 63n;
  };
  if (trimmed.every(int64)) {
    // A whole-number column with NULLs in it is read as floating point.
    if (hasNull)
      return { type: 'DOUBLE', values: values.map((v) => (v === null ? null : Number(v))) };
    return { type: 'BIGINT', values: trimmed.map(integerValue) };
  }
  if (trimmed.every((t) => floatValue(t) !== undefined)) {
    return {
      type: 'DOUBLE',
      values: values.map((v) => (v === null ? null : (floatValue(v.trim()) as number))),
    };
  }
  const boolWord = (t: string): boolean =>
    /^(true|false)$/.test(t) || /^(True|TRUE|False|FALSE)$/.test(t);
  if (!hasNull && trimmed.every(boolWord)) {
    return { type: 'BOOLEAN', values: trimmed.map((t) => t.toLowerCase() === 'true') };
  }
  return { type: 'TEXT', values };
}

/**
 * Reads a seed CSV. Malformed CSV and values that do not fit a declared type
 * raise a ProjectError located at `path:line:column`.
 */
export function readSeed(csvText: string, options: ReadSeedOptions): SeedData {
  const { dialect, na } = compileSettings(options);
  const records = parseCsv(csvText, dialect, options.path);
  const header = records[0];
  if (!header) {
    throw new ProjectError('the seed file is empty; add a header row naming the columns', {
      file: options.path,
      line: 1,
      column: 1,
    });
  }
  const normalize = options.normalizeColumnName ?? ((name: string) => name);
  const names: string[] = [];
  header.fields.forEach((raw, index) => {
    const start = header.starts[index] as { line: number; column: number };
    const where = { file: options.path, ...start };
    const name = normalize(raw.trim());
    if (name === '') {
      throw new ProjectError(`header column ${index + 1} has no name; name it`, where);
    }
    if (names.includes(name)) {
      throw new ProjectError(`header names column "${name}" twice; rename one of them`, where);
    }
    names.push(name);
  });

  // Raw values per header column; null where the value is an NA string.
  const body = records.slice(1);
  const cells: Array<Array<string | null>> = names.map(() => []);
  for (const record of body) {
    if (record.fields.length > names.length) {
      const extra = record.starts[names.length] as { line: number; column: number };
      throw new ProjectError(
        `row has ${record.fields.length} fields but the header has ${names.length}; quote values containing "${dialect.delimiter}" or remove the extra fields`,
        { file: options.path, ...extra },
      );
    }
    names.forEach((name, c) => {
      const raw = record.fields[c];
      const isNa =
        raw === undefined || na.all.has(raw) || (na.perColumn.get(name)?.has(raw) ?? false);
      (cells[c] as Array<string | null>).push(isNa ? null : (raw as string));
    });
  }

  if (!options.columns) {
    const inferred = names.map((_, c) => inferColumn(cells[c] as Array<string | null>));
    return {
      columns: names.map((name, c) => ({ name, type: (inferred[c] as { type: string }).type })),
      rows: body.map((_, r) => inferred.map((col) => col.values[r])),
    };
  }

  const indexes = options.columns.map((column) => {
    let index = names.indexOf(column.name);
    if (index < 0) {
      const lower = column.name.toLowerCase();
      index = names.findIndex((n) => n.toLowerCase() === lower);
    }
    if (index < 0) {
      throw new ProjectError(
        `declared column "${column.name}" is not in the CSV header (${names.join(', ')}); add it to the file or fix the columns property`,
        { file: options.path, line: header.line, column: 1 },
      );
    }
    return index;
  });
  const rows = body.map((record, r) =>
    options.columns!.map((column, k) => {
      const c = indexes[k] as number;
      const raw = (cells[c] as Array<string | null>)[r];
      if (raw === null || raw === undefined) return null;
      const converted = convertDeclared(raw, column.type);
      if ('error' in converted) {
        const start = record.starts[c] as { line: number; column: number };
        throw new ProjectError(
          `value ${JSON.stringify(raw)} in column "${column.name}" ${converted.error}; fix the value or declare the column as ${column.type === 'TEXT' ? 'another type' : 'TEXT'}`,
          { file: options.path, ...start },
        );
      }
      return converted.value;
    }),
  );
  return { columns: options.columns.map((c) => ({ name: c.name, type: c.type })), rows };
}
