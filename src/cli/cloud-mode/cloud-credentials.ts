/**
 * Where cloud mode finds the cloud and its credentials.
 *
 * Each of the project URL, client id and client secret comes from the
 * environment (`TCLOUD_URL`, `TCLOUD_CLIENT_ID`, `TCLOUD_CLIENT_SECRET`) when
 * set there, else from a `tcloud.yaml` shaped like Tobiko Cloud's, looked for
 * in the project folder first, then in `~/.tcloud/`:
 *
 * ```yaml
 * projects:
 *   analytics:
 *     url: https://cloud.example.com/sqlmesh/acme/analytics
 *     client_id: 5ad2938d-...
 *     client_secret: ...   # or leave it out and set TCLOUD_CLIENT_SECRET
 * default_project: analytics
 * ```
 *
 * Other keys Tobiko Cloud's file has (gateway, extras, pip_executable) are
 * accepted and not used.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { LineCounter, isMap, isScalar, parseDocument } from 'yaml';
import { ConfigError } from '../../engine/errors.js';

export interface CloudCredentials {
  /** The project URL, `<server>/sqlmesh/<org>/<project>`. */
  url: string;
  clientId: string;
  clientSecret: string;
  /** The tcloud.yaml file the values (or some of them) came from, if any. */
  file?: string;
}

const FILE_NAMES = ['tcloud.yaml', 'tcloud.yml'];

const VARIABLES = {
  url: 'TCLOUD_URL',
  clientId: 'TCLOUD_CLIENT_ID',
  clientSecret: 'TCLOUD_CLIENT_SECRET',
} as const;
const FILE_KEYS = { url: 'url', clientId: 'client_id', clientSecret: 'client_secret' } as const;
type Field = keyof typeof VARIABLES;

/** The tcloud.yaml files cloud mode reads, in order: the project folder's, then the user's. */
export function credentialFiles(root: string, env: Record<string, string | undefined>): string[] {
  const home = env['HOME'] || homedir();
  return [
    ...FILE_NAMES.map((name) => join(root, name)),
    ...FILE_NAMES.map((name) => join(home, '.tcloud', name)),
  ];
}

function fromEnv(env: Record<string, string | undefined>, field: Field): string | undefined {
  const value = env[VARIABLES[field]];
  return value !== undefined && value.trim() !== '' ? value.trim() : undefined;
}

/**
 * The cloud and credentials for a project in `root`. A one-line ConfigError
 * names the variables and files to set when something is missing, and the
 * file position when tcloud.yaml is wrong.
 */
export function readCloudCredentials(
  root: string,
  env: Record<string, string | undefined>,
  gateway: string,
): CloudCredentials {
  const values: Partial<Record<Field, string>> = {};
  for (const field of Object.keys(VARIABLES) as Field[]) {
    const value = fromEnv(env, field);
    if (value !== undefined) values[field] = value;
  }
  const complete = (v: Partial<Record<Field, string>>): v is Record<Field, string> =>
    v.url !== undefined && v.clientId !== undefined && v.clientSecret !== undefined;
  if (complete(values)) return values;

  const file = credentialFiles(root, env).find((path) => existsSync(path));
  if (file === undefined) {
    const missing = (Object.keys(VARIABLES) as Field[])
      .filter((f) => values[f] === undefined)
      .map((f) => VARIABLES[f]);
    throw new ConfigError(
      missing.join(', '),
      `not set; gateway ${JSON.stringify(gateway)} uses the cloud scheduler, so set ${missing.length > 1 ? 'them' : 'it'} or write tcloud.yaml (in the project folder or ~/.tcloud/) with the project's url, client_id and client_secret`,
    );
  }
  const project = readProjectEntry(file);
  for (const field of Object.keys(VARIABLES) as Field[]) {
    if (values[field] !== undefined) continue;
    const value = project.values[field];
    if (value === undefined) {
      throw new ConfigError(
        project.where,
        `has no ${FILE_KEYS[field]}; add it, or set ${VARIABLES[field]}`,
      );
    }
    values[field] = value;
  }
  if (!complete(values)) throw new ConfigError(file, 'is incomplete');
  return { ...values, file };
}

interface ProjectEntry {
  /** `file:line:column: projects.<name>` for messages. */
  where: string;
  values: Partial<Record<Field, string>>;
}

/** The selected project of a tcloud.yaml: `default_project`, or the only one. */
function readProjectEntry(file: string): ProjectEntry {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, `cannot read the file: ${(err as Error).message}`, { cause: err });
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const error = doc.errors[0];
  if (error) {
    const pos = error.linePos?.[0];
    const reason = (error.message.split('\n')[0] ?? error.message).replace(
      / at line \d+, column \d+:?$/,
      '',
    );
    throw new ConfigError(pos ? `${file}:${pos.line}:${pos.col}` : file, reason);
  }
  // Where the key at `path` is written, as file:line:column (the file alone when absent).
  const at = (path: string[]): string => {
    let node: unknown = doc.contents;
    let offset: number | undefined;
    for (const key of path) {
      if (!isMap(node)) return file;
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
      if (!pair) return file;
      offset = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
      node = pair.value;
    }
    if (offset === undefined) return file;
    const pos = lines.linePos(offset);
    return `${file}:${pos.line}:${pos.col}`;
  };
  const tree: unknown = doc.toJS();
  const projects = isMapping(tree) ? tree['projects'] : undefined;
  if (!isMapping(projects) || Object.keys(projects).length === 0) {
    throw new ConfigError(
      isMapping(tree) && 'projects' in tree ? `${at(['projects'])}: projects` : file,
      'lists no project; add `projects: {<name>: {url: ..., client_id: ..., client_secret: ...}}`',
    );
  }
  const names = Object.keys(projects);
  const chosen = isMapping(tree) ? tree['default_project'] : undefined;
  let name: string;
  if (chosen === undefined || chosen === null) {
    if (names.length !== 1) {
      throw new ConfigError(
        `${file}: default_project`,
        `is not set and there are ${names.length} projects; set it to one of ${names.join(', ')}`,
      );
    }
    name = names[0]!;
  } else if (typeof chosen !== 'string' || !Object.hasOwn(projects, chosen)) {
    throw new ConfigError(
      `${at(['default_project'])}: default_project`,
      `names no project of the file; use one of ${names.join(', ')}`,
    );
  } else {
    name = chosen;
  }
  const entry = projects[name];
  const where = `${at(['projects', name])}: projects.${name}`;
  if (!isMapping(entry)) {
    throw new ConfigError(where, 'must be a mapping with url, client_id and client_secret');
  }
  const values: Partial<Record<Field, string>> = {};
  for (const field of Object.keys(FILE_KEYS) as Field[]) {
    const key = FILE_KEYS[field];
    const value = entry[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw new ConfigError(
        `${at(['projects', name, key])}: projects.${name}.${key}`,
        'must be a string',
      );
    }
    const text = String(value).trim();
    if (text !== '') values[field] = text;
  }
  return { where, values };
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
