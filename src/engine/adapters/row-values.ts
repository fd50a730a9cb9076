/**
 * The value rules every adapter follows when it hands rows back, so that the
 * same query on DuckDB and PostgreSQL yields the same plain, JSON-friendly
 * JavaScript values:
 *
 * - integers: a `number` when it is a safe integer, else its decimal string;
 * - DECIMAL / NUMERIC: a `number` when the value has at most 15 significant
 *   digits (a double holds any such decimal exactly as written), else the exact
 *   decimal string; `NaN` stays the string `'NaN'`;
 * - FLOAT / DOUBLE: a `number`; NaN and the infinities become the strings
 *   `'NaN'`, `'Infinity'`, `'-Infinity'`;
 * - DATE: `'YYYY-MM-DD'` (`'infinity'`, `'-infinity'`, BC dates end in `' BC'`);
 * - TIMESTAMP: `'YYYY-MM-DD HH:MM:SS[.ffffff]'`, trailing zeros of the fraction
 *   dropped;
 * - TIMESTAMPTZ: the same, shown in UTC with the offset `+00`;
 * - TIME, INTERVAL, UUID, ENUM: the engine's text form;
 * - BLOB / BYTEA: lowercase hexadecimal, two digits a byte, no prefix;
 * - JSON: parsed;
 * - LIST / ARRAY: arrays; STRUCT and MAP: objects (MAP keys as strings);
 * - NULL: `null`.
 */

const MAX_EXACT_DIGITS = 15;

/** An integer given as bigint or decimal text: a number when safe, else the text. */
export function integerValue(value: bigint | string): number | string {
  const big = typeof value === 'bigint' ? value : BigInt(value);
  if (big <= BigInt(Number.MAX_SAFE_INTEGER) && big >= BigInt(Number.MIN_SAFE_INTEGER)) {
    return Number(big);
  }
  return big.toString();
}

/** A decimal in its canonical text form (`-12.340`): a number when exact enough, else the text. */
export function decimalValue(text: string): number | string {
  const trimmed = text.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(trimmed)) return trimmed;
  const mantissa = trimmed.replace(/e.*$/i, '').replace(/[+\-.]/g, '');
  const significant = mantissa.replace(/^0+/, '').replace(/0+$/, '');
  if (significant.length > MAX_EXACT_DIGITS) return trimmed;
  const n = Number(trimmed);
  return Number.isFinite(n) ? n : trimmed;
}

/** A binary float: a number, with non-finite values spelled out as strings. */
export function floatValue(n: number): number | string {
  if (Number.isFinite(n)) return n;
  if (Number.isNaN(n)) return 'NaN';
  return n > 0 ? 'Infinity' : '-Infinity';
}

/** Bytes as lowercase hexadecimal. */
export function hexValue(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * Renders microseconds since the epoch (UTC wall clock) as
 * `YYYY-MM-DD HH:MM:SS[.ffffff]`, trailing zeros of the fraction dropped; undefined
 * beyond the range of a JavaScript date.
 */
export function timestampFromMicros(micros: bigint): string | undefined {
  const perDay = 86_400_000_000n;
  let days = micros / perDay;
  let rest = micros % perDay;
  if (rest < 0n) {
    rest += perDay;
    days -= 1n;
  }
  const date = new Date(Number(days) * 86_400_000);
  const year = date.getUTCFullYear();
  if (Number.isNaN(year)) return undefined;
  const dayPart =
    year > 0
      ? `${pad(year, 4)}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)}`
      : `${pad(1 - year, 4)}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)}`;
  const totalSeconds = Number(rest / 1_000_000n);
  const fraction = Number(rest % 1_000_000n);
  let time = `${pad(Math.floor(totalSeconds / 3600), 2)}:${pad(Math.floor(totalSeconds / 60) % 60, 2)}:${pad(totalSeconds % 60, 2)}`;
  if (fraction > 0) time += `.${pad(fraction, 6).replace(/0+$/, '')}`;
  return year > 0 ? `${dayPart} ${time}` : `${dayPart} ${time} BC`;
}

/**
 * Normalizes PostgreSQL's text form of a `timestamp with time zone`
 * (`2024-01-02 05:04:05.5+02`, `... BC`, `infinity`) to UTC with offset `+00`.
 */
export function timestampTzFromText(text: string): string {
  if (text === 'infinity' || text === '-infinity') return text;
  const m =
    /^(\d{4,})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?( BC)?$/.exec(
      text,
    );
  if (!m) return text;
  const [, y, mo, d, h, mi, s, frac, sign, oh, om, os, bc] = m;
  let year = Number(y);
  if (bc) year = 1 - year;
  const base = new Date(0);
  base.setUTCFullYear(year, Number(mo) - 1, Number(d));
  base.setUTCHours(Number(h), Number(mi), Number(s), 0);
  const offsetSeconds =
    (sign === '-' ? -1 : 1) * (Number(oh) * 3600 + Number(om ?? 0) * 60 + Number(os ?? 0));
  const micros =
    BigInt(base.getTime() - offsetSeconds * 1000) * 1000n + BigInt((frac ?? '').padEnd(6, '0'));
  const utc = timestampFromMicros(micros);
  if (utc === undefined) return text;
  return utc.endsWith(' BC') ? `${utc.slice(0, -3)}+00 BC` : `${utc}+00`;
}
