/**
 * `SQLMESH__A__B__C=value` environment overrides: each double underscore walks one key
 * down the configuration tree. Existing keys are matched case-insensitively (so
 * `SQLMESH__GATEWAYS__GATEWAY_A__...` reaches a gateway written `Gateway_A`); missing keys
 * are created in lowercase, as SQLMesh names them. Values stay strings here; validation
 * coerces them to the type each setting expects.
 */

import { ConfigError } from '../errors.js';

/** SQLMesh reads this variable itself; it is not a configuration key. */
const NOT_AN_OVERRIDE = 'sqlmesh__airflow__disable_state_migration';

export interface EnvOverrideResult {
  /** A copy of the input tree with the overrides applied. */
  tree: Record<string, unknown>;
  /**
   * Which environment variable set each overridden key: dotted key path (as spelled
   * in `tree`) -> variable name. Mappings an override had to create are listed too.
   */
  origins: Map<string, string>;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The key of `mapping` that `segment` names: exact, else case-insensitive, else undefined. */
function matchKey(mapping: Record<string, unknown>, segment: string): string | undefined {
  if (Object.hasOwn(mapping, segment)) return segment;
  const lower = segment.toLowerCase();
  if (Object.hasOwn(mapping, lower)) return lower;
  return Object.keys(mapping).find((key) => key.toLowerCase() === lower);
}

/**
 * Applies every `<prefix>...` variable of `env` to a copy of `tree`, in name order so the
 * result does not depend on the order of the environment. The prefix is matched
 * case-insensitively. A name with nothing after the prefix (or ending in `__`), or one
 * that walks through a value that is not a mapping, is a ConfigError naming the variable.
 */
export function applyEnvOverrides(
  tree: Record<string, unknown>,
  env: Record<string, string | undefined>,
  prefix = 'SQLMESH__',
): EnvOverrideResult {
  const result = structuredClone(tree);
  const origins = new Map<string, string>();
  const lowerPrefix = prefix.toLowerCase();
  const names = Object.keys(env)
    .filter((name) => name.toLowerCase().startsWith(lowerPrefix) && env[name] !== undefined)
    .filter((name) => name.toLowerCase() !== NOT_AN_OVERRIDE)
    .sort();

  for (const name of names) {
    const value = env[name] as string;
    const segments = name.slice(prefix.length).split('__');
    const last = segments.pop();
    if (last === undefined || last === '') {
      throw new ConfigError(
        name,
        `is not a valid override; name a setting after ${prefix}, as in ${prefix}DEFAULT_GATEWAY`,
      );
    }
    let target = result;
    const path: string[] = [];
    for (const segment of segments) {
      const key = matchKey(target, segment) ?? segment.toLowerCase();
      path.push(key);
      const existing = target[key];
      if (existing === undefined || existing === null) {
        target[key] = {};
        if (!origins.has(path.join('.'))) origins.set(path.join('.'), name);
      } else if (!isMapping(existing)) {
        const setBy = origins.get(path.join('.'));
        throw new ConfigError(
          name,
          `cannot set a key inside ${path.join('.')}, which ${setBy ? `${setBy} sets` : 'is'} not a mapping`,
        );
      }
      target = target[key] as Record<string, unknown>;
    }
    const key = matchKey(target, last) ?? last.toLowerCase();
    path.push(key);
    target[key] = value;
    origins.set(path.join('.'), name);
  }
  return { tree: result, origins };
}
