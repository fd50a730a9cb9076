/**
 * DuckDB values to plain JavaScript values, following the rules in
 * `row-values.ts`.
 */
import {
  DuckDBBitValue,
  DuckDBBlobValue,
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBListValue,
  DuckDBArrayValue,
  DuckDBMapValue,
  DuckDBStructValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBTypeId,
  DuckDBUnionValue,
} from '@duckdb/node-api';
import type { DuckDBType, DuckDBValue, DuckDBValueConverter } from '@duckdb/node-api';
import { decimalValue, floatValue, hexValue, integerValue } from './row-values.js';

/** DuckDB writes BC dates as `0044-03-15 (BC)`; PostgreSQL as `0044-03-15 BC`. We use the latter. */
function bcSuffix(text: string): string {
  return text.replace(/ \(BC\)$/, ' BC');
}

function infinite(isFinite: boolean, positive: boolean): string | undefined {
  if (isFinite) return undefined;
  return positive ? 'infinity' : '-infinity';
}

function timestampText(value: DuckDBValue): string {
  if (value instanceof DuckDBTimestampValue) {
    return infinite(value.isFinite, value.micros > 0n) ?? bcSuffix(value.toString());
  }
  if (
    value instanceof DuckDBTimestampSecondsValue ||
    value instanceof DuckDBTimestampMillisecondsValue ||
    value instanceof DuckDBTimestampNanosecondsValue
  ) {
    const text = value.toString();
    if (text === 'infinity' || text === '-infinity') return text;
    return bcSuffix(text);
  }
  return String(value);
}

function mapKey(key: unknown): string {
  if (key === null) return 'null';
  if (typeof key === 'object') return JSON.stringify(key);
  return String(key);
}

/** Converts one DuckDB value of the given type; nested values are converted recursively. */
export const plainValueConverter: DuckDBValueConverter<unknown> = (value, type, converter) => {
  if (value === null || value === undefined) return null;
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return Boolean(value);
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
      return Number(value);
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
      return integerValue(typeof value === 'bigint' ? value : BigInt(String(value)));
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
      return floatValue(Number(value));
    case DuckDBTypeId.DECIMAL:
      return decimalValue(value instanceof DuckDBDecimalValue ? value.toString() : String(value));
    case DuckDBTypeId.DATE:
      if (value instanceof DuckDBDateValue) {
        return infinite(value.isFinite, value.days > 0) ?? bcSuffix(value.toString());
      }
      return String(value);
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_NS:
      return timestampText(value);
    case DuckDBTypeId.TIMESTAMP_TZ:
      if (value instanceof DuckDBTimestampTZValue) {
        const inf = infinite(value.isFinite, value.micros > 0n);
        if (inf) return inf;
        // Render the instant as a UTC wall clock; independent of the process time zone.
        const utc = bcSuffix(new DuckDBTimestampValue(value.micros).toString());
        return utc.endsWith(' BC') ? `${utc.slice(0, -3)}+00 BC` : `${utc}+00`;
      }
      return String(value);
    case DuckDBTypeId.VARCHAR:
      if (type.alias === 'JSON' && typeof value === 'string') {
        try {
          return JSON.parse(value) as unknown;
        } catch {
          return value;
        }
      }
      return String(value);
    case DuckDBTypeId.BLOB:
      return value instanceof DuckDBBlobValue ? hexValue(value.bytes) : String(value);
    case DuckDBTypeId.BIT:
      return value instanceof DuckDBBitValue ? value.toString() : String(value);
    case DuckDBTypeId.LIST:
      return value instanceof DuckDBListValue
        ? value.items.map((item) => converter(item, type.valueType, converter))
        : String(value);
    case DuckDBTypeId.ARRAY:
      return value instanceof DuckDBArrayValue
        ? value.items.map((item) => converter(item, type.valueType, converter))
        : String(value);
    case DuckDBTypeId.STRUCT: {
      if (!(value instanceof DuckDBStructValue)) return String(value);
      return Object.fromEntries(
        type.entryNames.map((name, i) => {
          const entryType = type.entryTypes[i];
          const entry = value.entries[name] ?? null;
          return [name, entryType ? converter(entry, entryType, converter) : null];
        }),
      );
    }
    case DuckDBTypeId.MAP: {
      if (!(value instanceof DuckDBMapValue)) return String(value);
      return Object.fromEntries(
        value.entries.map((e) => [
          mapKey(converter(e.key, type.keyType, converter)),
          converter(e.value, type.valueType, converter),
        ]),
      );
    }
    case DuckDBTypeId.UNION: {
      if (!(value instanceof DuckDBUnionValue)) return String(value);
      const memberType = type.memberTypes[type.memberIndexForTag(value.tag)];
      return memberType ? converter(value.value, memberType, converter) : null;
    }
    case DuckDBTypeId.SQLNULL:
      return null;
    default:
      // TIME, TIME_TZ, TIME_NS, INTERVAL, UUID, ENUM, BIGNUM, GEOMETRY, VARIANT: the text form.
      if (typeof value === 'bigint') return integerValue(value);
      return typeof value === 'object' ? String(value) : value;
  }
};

/** The name DuckDB gives a type, e.g. `INTEGER`, `DECIMAL(10,2)`, `STRUCT(a INTEGER)`. */
export function duckDbTypeName(type: DuckDBType): string {
  if (type.alias) return type.alias;
  return type.toString();
}
