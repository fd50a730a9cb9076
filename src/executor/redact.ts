/**
 * Redaction of secrets from text leaving the executor (log lines, errors):
 * the value of every environment variable whose name contains PASSWORD,
 * SECRET, TOKEN or KEY, and of any variable listed in the redaction setting,
 * is replaced by `***`.
 */
import type { Env } from './config.js';

const SECRET_NAME = /PASSWORD|SECRET|TOKEN|KEY/i;
/** Shorter values would blot out ordinary words; no real secret is this short. */
const MIN_LENGTH = 3;

export type Redactor = (text: string) => string;

export function secretValues(env: Env, extraNames: readonly string[] = []): string[] {
  const extra = new Set(extraNames.map((n) => n.toUpperCase()));
  const values = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || value.length < MIN_LENGTH) continue;
    if (SECRET_NAME.test(name) || extra.has(name.toUpperCase())) values.add(value);
  }
  // Longest first, so a secret containing another is replaced whole.
  return [...values].sort((a, b) => b.length - a.length);
}

export function createRedactor(env: Env, extraNames: readonly string[] = []): Redactor {
  const secrets = secretValues(env, extraNames);
  if (secrets.length === 0) return (text) => text;
  const encoded = new Set<string>(secrets);
  // Secrets also appear URL-encoded (in connection URLs) and JSON-escaped.
  for (const s of secrets) {
    encoded.add(encodeURIComponent(s));
    encoded.add(JSON.stringify(s).slice(1, -1));
  }
  const pattern = new RegExp(
    [...encoded]
      .sort((a, b) => b.length - a.length)
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('|'),
    'g',
  );
  return (text) => text.replace(pattern, '***');
}
