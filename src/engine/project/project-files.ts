import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/** The files of a project, by role, as paths relative to the project root (with `/`). */
export interface ProjectFiles {
  models: string[];
  audits: string[];
  tests: string[];
  /** Jinja macro files (macros/*.sql). */
  jinjaMacros: string[];
  /** Python macro files, which Tideline cannot run; reported as a warning. */
  pythonMacros: string[];
  /** Python model files, likewise. */
  pythonModels: string[];
  seeds: string[];
  /** external_models.yaml / schema.yaml and external_models/*.yaml. */
  externalModels: string[];
}

function walk(root: string, dir: string, out: string[]): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir).sort()) {
    if (entry.startsWith('.') || entry === '__pycache__') continue;
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) walk(root, full, out);
    else out.push(relative(root, full).split(sep).join('/'));
  }
}

function under(root: string, folder: string): string[] {
  const out: string[] = [];
  walk(root, join(root, folder), out);
  return out;
}

/** Finds a project's files the way SQLMesh's loader does. */
export function discoverProjectFiles(root: string): ProjectFiles {
  const models = under(root, 'models');
  const macros = under(root, 'macros');
  const externalModels: string[] = [];
  for (const f of ['external_models.yaml', 'schema.yaml']) {
    if (existsSync(join(root, f))) externalModels.push(f);
  }
  externalModels.push(...under(root, 'external_models').filter((f) => /\.ya?ml$/.test(f)));
  return {
    models: models.filter((f) => f.endsWith('.sql')),
    pythonModels: models.filter((f) => f.endsWith('.py') && !f.endsWith('__init__.py')),
    audits: under(root, 'audits').filter((f) => f.endsWith('.sql')),
    tests: under(root, 'tests').filter((f) => /(^|\/)test[^/]*\.ya?ml$/.test(f)),
    jinjaMacros: macros.filter((f) => f.endsWith('.sql')),
    pythonMacros: macros.filter((f) => f.endsWith('.py') && !f.endsWith('__init__.py')),
    seeds: under(root, 'seeds').filter((f) => f.endsWith('.csv')),
    externalModels,
  };
}
