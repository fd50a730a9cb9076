/**
 * Loading a project's configuration the way SQLMesh does:
 *
 * 1. Find the config file in the project folder: config.yaml, config.yml, sqlmesh.yaml or
 *    sqlmesh.yml (exactly one; config.py is not supported).
 * 2. Read `.env` from the project folder (or the file SQLMESH_DOTENV_PATH names). As in
 *    SQLMesh, its values override variables already in the environment.
 * 3. Render the file as a Jinja template: `{{ env_var('NAME', 'default') }}`, `{{ user() }}`
 *    and `{{ var('name', 'default') }}` are available.
 * 4. Parse the YAML, apply `SQLMESH__A__B=value` environment overrides, and validate the
 *    result into ProjectConfig with SQLMesh's defaults.
 */

import { statSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

import nunjucks from 'nunjucks';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';

import { ConfigError } from '../errors.js';
import type { GatewayConfig, ProjectConfig } from './config-types.js';
import { type KeyPath, type ValueLocator } from './config-reader.js';
import { validateProjectConfig } from './config-schema.js';
import { readDotenvFile } from './dotenv.js';
import { applyEnvOverrides } from './env-overrides.js';

export { parseConnectionConfig } from './connection-config.js';
export { applyEnvOverrides } from './env-overrides.js';
export { parseDotenv, readDotenvFile } from './dotenv.js';

/** The YAML file names SQLMesh looks for in a project folder. */
export const YAML_CONFIG_FILES = ['config.yaml', 'config.yml', 'sqlmesh.yaml', 'sqlmesh.yml'];
const PYTHON_CONFIG_FILE = 'config.py';

export interface LoadConfigOptions {
  /** The process environment (or a stand-in); it is not modified. */
  env: Record<string, string | undefined>;
  /**
   * A gateway the caller will use: when given, it must exist (a ConfigError listing the
   * gateways otherwise). It does not change `defaultGateway`.
   */
  gateway?: string;
  /** A `.env` file to read instead of the project's (SQLMesh's `--dotenv`). */
  dotenvPath?: string;
}

/**
 * The environment a project sees: `env` with the project's `.env` (or `dotenvPath`, else
 * the file `SQLMESH_DOTENV_PATH` names, when it exists) laid over it. Later steps that
 * evaluate `env_var()` (model rendering) should use this, as SQLMesh loads `.env` into
 * its process environment.
 */
export function loadProjectEnv(
  root: string,
  options: { env: Record<string, string | undefined>; dotenvPath?: string },
): Record<string, string | undefined> {
  const custom = options.dotenvPath ?? options.env.SQLMESH_DOTENV_PATH;
  const candidates: { path: string; label: string }[] = [];
  if (custom) candidates.push({ path: resolve(custom), label: custom });
  candidates.push({ path: join(root, '.env'), label: '.env' });
  for (const candidate of candidates) {
    const values = readDotenvFile(candidate.path, options.env, candidate.label);
    if (values !== undefined) return { ...options.env, ...values };
  }
  return { ...options.env };
}

function isFile(path: string): boolean | undefined {
  try {
    return statSync(path).isFile();
  } catch {
    return undefined;
  }
}

/** Finds the one config file of the project folder, relative to it. */
export function findConfigFile(root: string): string {
  const present = [PYTHON_CONFIG_FILE, ...YAML_CONFIG_FILES].filter(
    (name) => isFile(join(root, name)) !== undefined,
  );
  for (const name of present) {
    if (!isFile(join(root, name))) throw new ConfigError(name, 'must be a file, not a folder');
  }
  const yamlFiles = present.filter((name) => name !== PYTHON_CONFIG_FILE);
  if (present.length > 1) {
    const [first, ...rest] = present;
    const python = present.includes(PYTHON_CONFIG_FILE)
      ? ' (Tideline reads only YAML configuration)'
      : '';
    throw new ConfigError(
      first ?? '',
      `${rest.join(' and ')} ${rest.length > 1 ? 'are' : 'is'} also present; a project has one config file, so keep only one of ${present.join(', ')}${python}`,
    );
  }
  const file = yamlFiles[0];
  if (file !== undefined) return file;
  if (present.includes(PYTHON_CONFIG_FILE)) {
    throw new ConfigError(
      PYTHON_CONFIG_FILE,
      'Python configuration is not supported by Tideline; write the same settings in config.yaml',
    );
  }
  throw new ConfigError(
    root,
    'no config.yaml found; create one with `model_defaults:` and `dialect: duckdb` (or your SQL dialect)',
  );
}

/** The user name SQLMesh's `user()` returns. */
function currentUser(env: Record<string, string | undefined>): string {
  for (const name of ['LOGNAME', 'USER', 'LNAME', 'USERNAME']) {
    const value = env[name];
    if (value) return value;
  }
  try {
    return userInfo().username;
  } catch {
    return '';
  }
}

function positionOf(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

/** Renders config text as Jinja, as SQLMesh does before parsing the YAML. */
export function renderConfigTemplate(
  text: string,
  file: string,
  env: Record<string, string | undefined>,
): string {
  const jinja = new nunjucks.Environment(null, { autoescape: false });
  // nunjucks replaces errors thrown by globals with its own, so remember the culprit here.
  let missing: string | undefined;
  jinja.addGlobal('env_var', (name: unknown, fallback?: unknown) => {
    const value = env[String(name)];
    if (value !== undefined) return value;
    if (fallback !== undefined) return fallback;
    missing = String(name);
    throw new Error(`environment variable ${missing} is not set`);
  });
  jinja.addGlobal('user', () => currentUser(env));
  // Config files see no project variables, so var() gives its default, as in SQLMesh.
  jinja.addGlobal('var', (_name: unknown, fallback?: unknown) => fallback ?? null);
  try {
    return jinja.renderString(text, {});
  } catch (err) {
    if (missing !== undefined) {
      const escaped = missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const at = new RegExp(`env_var\\s*\\(\\s*['"]${escaped}['"]`).exec(text);
      const where = at ? positionOf(text, at.index) : undefined;
      throw new ConfigError(
        where ? `${file}:${where.line}:${where.column}` : file,
        `environment variable ${missing} is not set; set it (or add it to .env), or give a default: env_var('${missing}', 'value')`,
        { cause: err },
      );
    }
    throw templateError(err, file);
  }
}

/** A nunjucks error as `file:line:column: reason`. */
function templateError(err: unknown, file: string): ConfigError {
  const message = err instanceof Error ? err.message : String(err);
  const lines = message.split('\n').map((l) => l.trim());
  const pos = /\[Line (\d+), Column (\d+)\]/.exec(lines[0] ?? '');
  let reason = lines.slice(1).join(' ').trim() || message;
  let where = file;
  // Errors raised while rendering ("Error: ...") count lines and columns from 0;
  // syntax errors count from 1. A rendering error on the first line has no position.
  const runtime = reason.startsWith('Error: ');
  if (runtime) reason = reason.slice('Error: '.length);
  if (pos) {
    const offset = runtime ? 1 : 0;
    where = `${file}:${Number(pos[1]) + offset}:${Number(pos[2]) + offset}`;
  } else if (runtime) {
    where = `${file}:1`;
  }
  return new ConfigError(where, `Jinja template error: ${reason}`, { cause: err });
}

/** Parses rendered config YAML; the first syntax error becomes `file:line:column: reason`. */
export function parseConfigYaml(
  text: string,
  file: string,
): { tree: Record<string, unknown>; doc: Document; lines: LineCounter } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  const error = doc.errors[0];
  if (error) {
    const pos = error.linePos?.[0];
    const reason = (error.message.split('\n')[0] ?? error.message).replace(
      / at line \d+, column \d+:?$/,
      '',
    );
    throw new ConfigError(pos ? `${file}:${pos.line}:${pos.col}` : file, reason);
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) {
    throw new ConfigError(
      file,
      'the file is empty; it needs at least `model_defaults:` with `dialect: duckdb` (or your SQL dialect)',
    );
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    const what = Array.isArray(value) ? 'a list' : `the ${typeof value} ${JSON.stringify(value)}`;
    throw new ConfigError(
      `${file}:1:1`,
      `the file holds ${what}; it must be a mapping of settings`,
    );
  }
  return { tree: value as Record<string, unknown>, doc, lines };
}

/** Finds where a key path's value is written in the YAML document (or its nearest ancestor). */
function documentLocator(
  file: string,
  doc: Document,
  lines: LineCounter,
  origins: Map<string, string>,
): ValueLocator {
  type Ranged = { range?: [number, number, number] | null } | null | undefined;
  // The offset where the value at `path` is written: the value itself for scalars and
  // flow collections, the key for block collections (whose value starts on a later line).
  const offsetOf = (path: KeyPath): number | undefined => {
    let node: unknown = doc.contents;
    let keyNode: Ranged;
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => {
          const k: unknown = p.key;
          const keyValue = isScalar(k) ? k.value : k;
          return String(keyValue) === key;
        });
        if (!pair) return undefined;
        keyNode = pair.key as Ranged;
        node = pair.value ?? pair.key;
      } else if (isSeq(node)) {
        keyNode = undefined;
        node = node.items[Number(key)];
      } else {
        return undefined;
      }
    }
    const block = (isMap(node) || isSeq(node)) && !node.flow;
    const target = block && keyNode ? keyNode : (node as Ranged);
    return target?.range?.[0];
  };
  return {
    envVar(path) {
      return origins.get(path.join('.'));
    },
    position(path) {
      for (let n = path.length; n >= 0; n--) {
        const offset = offsetOf(path.slice(0, n));
        if (offset !== undefined) {
          const pos = lines.linePos(offset);
          return `${file}:${pos.line}:${pos.col}`;
        }
      }
      return undefined;
    },
  };
}

/**
 * Loads the configuration of the project in `root` (see the file comment for the steps).
 * Every user mistake is a one-line ConfigError naming the file position, key path or
 * environment variable at fault. Settings SQLMesh knows but Tideline ignores are listed
 * in the result's `warnings`.
 */
export function loadProjectConfig(root: string, options: LoadConfigOptions): ProjectConfig {
  const absRoot = isAbsolute(root) ? root : resolve(root);
  const configFile = findConfigFile(absRoot);
  const envOptions: { env: Record<string, string | undefined>; dotenvPath?: string } = {
    env: options.env,
  };
  if (options.dotenvPath !== undefined) envOptions.dotenvPath = options.dotenvPath;
  const env = loadProjectEnv(absRoot, envOptions);

  let text: string;
  try {
    text = readFileSync(join(absRoot, configFile), 'utf8');
  } catch (err) {
    throw new ConfigError(configFile, `cannot read the file: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const rendered = renderConfigTemplate(text, configFile, env);
  const { tree, doc, lines } = parseConfigYaml(rendered, configFile);
  const { tree: overridden, origins } = applyEnvOverrides(tree, env);
  const ctx = { locator: documentLocator(configFile, doc, lines, origins), warnings: [] };
  const config = validateProjectConfig(overridden, ctx, { root: absRoot, configFile });
  if (options.gateway !== undefined) findGateway(config, options.gateway);
  return config;
}

/** The name of the gateway `name` refers to (the default gateway when omitted). */
export function resolveGatewayName(config: ProjectConfig, name?: string): string {
  const wanted = name === undefined ? config.defaultGateway : name.toLowerCase();
  if (Object.hasOwn(config.gateways, wanted)) return wanted;
  const names = Object.keys(config.gateways).map((n) =>
    n === '' ? '"" (the unnamed gateway)' : n,
  );
  throw new ConfigError(
    'gateway',
    `no gateway named ${JSON.stringify(name ?? config.defaultGateway)}; available: ${names.join(', ')}`,
  );
}

/**
 * The gateway `name` refers to, matched case-insensitively as SQLMesh does (it keeps
 * gateway names in lowercase), or the default gateway when `name` is omitted.
 * A ConfigError lists the available gateways when there is no such gateway.
 */
export function findGateway(config: ProjectConfig, name?: string): GatewayConfig {
  return config.gateways[resolveGatewayName(config, name)] as GatewayConfig;
}
