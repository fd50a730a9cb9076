import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { parseDocument } from 'yaml';
import { duckDbDefaultCatalog } from '../adapters/duckdb-adapter.js';
import type { ConnectionConfig, GatewayConfig, ProjectConfig } from '../config/config-types.js';
import {
  findGateway,
  loadProjectConfig,
  loadProjectEnv,
  resolveGatewayName,
} from '../config/config-loader.js';
import { NotFoundError, ProjectError } from '../errors.js';
import type { AuditDefinition, JinjaMacroFile, ModelDefinition } from '../model-types.js';
import { parseAuditFile } from '../parse/audit-parser.js';
import { parseModelFile } from '../parse/model-parser.js';
import { JinjaRenderer } from '../render/jinja-renderer.js';
import { MacroScope } from '../render/macro-renderer.js';
import { displayName, fullyQualifiedName, parseTableName } from '../sql/names.js';
import { parseQuery, tableReferences } from '../sql/query.js';
import { Dag } from './dag.js';
import { parseExternalModels } from './external-models.js';
import { discoverProjectFiles, type ProjectFiles } from './project-files.js';

/** A model of a loaded project, with its canonical name and dependencies. */
export interface LoadedModel {
  /** Canonical name: `"catalog"."schema"."table"`. */
  fqn: string;
  /** The name to show (`sqlmesh_example.full_model`; catalog only when not the default). */
  name: string;
  definition: ModelDefinition;
  /** Canonical names of the project's models this one reads, sorted. */
  dependencies: string[];
  /** For SEED models: the CSV file relative to the project root. */
  seedPath?: string;
}

export interface ProjectCounts {
  models: number;
  macros: number;
  seeds: number;
  tests: number;
}

/** A project as loaded from its folder, ready to render, plan and run. */
export class Project {
  constructor(
    readonly root: string,
    readonly config: ProjectConfig,
    readonly gatewayName: string,
    readonly gateway: GatewayConfig,
    /** The catalog unqualified model names belong to. */
    readonly defaultCatalog: string,
    /** Environment for `env_var()` and variables: process env merged with `.env`. */
    readonly env: Record<string, string | undefined>,
    readonly models: Map<string, LoadedModel>,
    readonly dag: Dag,
    readonly audits: Map<string, AuditDefinition>,
    readonly jinjaMacros: JinjaMacroFile[],
    readonly jinja: JinjaRenderer,
    readonly files: ProjectFiles,
    readonly warnings: string[],
    private readonly macroCount: number,
    private readonly testCount: number,
  ) {}

  /** The SQL dialect the gateway's engine speaks. */
  get engineDialect(): string {
    return this.gateway.connection?.type ?? 'duckdb';
  }

  /** Project variables overlaid with the gateway's. */
  get variables(): Record<string, unknown> {
    return { ...this.config.variables, ...this.gateway.variables };
  }

  counts(): ProjectCounts {
    let seeds = 0;
    for (const m of this.models.values()) if (m.definition.kind.name === 'SEED') seeds++;
    return { models: this.models.size, macros: this.macroCount, seeds, tests: this.testCount };
  }

  /**
   * A model by the name a user typed (`sushi.orders`, `"my-db".sushi.orders`,
   * or its canonical name). Unknown names are a NotFoundError suggesting close ones.
   */
  findModel(name: string): LoadedModel {
    const direct = this.models.get(name);
    if (direct) return direct;
    let fqn: string | undefined;
    try {
      fqn = fullyQualifiedName(name, this.config.modelDefaults.dialect, this.defaultCatalog);
    } catch {
      fqn = undefined;
    }
    const found = fqn ? this.models.get(fqn) : undefined;
    if (found) return found;
    const wanted = name.toLowerCase().split('.').pop() ?? name;
    const close = [...this.models.values()]
      .filter((m) => m.name.toLowerCase().split('.').pop()?.includes(wanted))
      .map((m) => m.name)
      .slice(0, 3);
    throw new NotFoundError(
      `no model named ${name}${close.length ? `; did you mean ${close.join(', ')}?` : '; run `tideline dag` to list models'}`,
    );
  }
}

export interface LoadProjectOptions {
  env: Record<string, string | undefined>;
  gateway?: string;
  /** Time used for relative dates while loading; defaults to now. */
  now?: number;
}

/** The catalog unqualified names resolve to, from the connection's settings. */
export function defaultCatalogOf(connection: ConnectionConfig | undefined): string {
  if (!connection) return 'memory';
  if (connection.type === 'duckdb') return duckDbDefaultCatalog(connection);
  return connection.database;
}

function countJinjaMacros(source: string): number {
  return source.match(/\{%-?\s*macro\s/g)?.length ?? 0;
}

function countTests(root: string, files: string[]): number {
  let n = 0;
  for (const f of files) {
    const doc = parseDocument(readFileSync(join(root, f), 'utf8'));
    const first = doc.errors[0];
    if (first) {
      const [line, col] = first.linePos?.[0]
        ? [first.linePos[0].line, first.linePos[0].col]
        : [1, 1];
      throw new ProjectError(`${first.message.split('\n')[0]}; fix the YAML syntax`, {
        file: f,
        line,
        column: col,
      });
    }
    const value: unknown = doc.toJSON();
    if (value && typeof value === 'object' && !Array.isArray(value)) n += Object.keys(value).length;
  }
  return n;
}

/** Where a SEED model's CSV lives, relative to the project root. */
function seedPathOf(root: string, def: ModelDefinition): string | undefined {
  if (def.kind.name !== 'SEED') return undefined;
  const written = def.kind.path;
  const rel = written.startsWith('$root/')
    ? posix.normalize(written.slice('$root/'.length))
    : posix.normalize(posix.join(posix.dirname(def.path), written));
  if (rel.startsWith('..') || !existsSync(join(root, rel))) {
    throw new ProjectError(
      `seed file ${written} not found (looked for ${rel}); fix the path in kind SEED (path ...)`,
      def.location,
    );
  }
  return rel;
}

/**
 * Loads a project: its config (with `.env` and `SQLMESH__` overrides), models,
 * audits, Jinja macros, external models and tests; finds each model's
 * dependencies by rendering and parsing its query.
 */
export async function loadProject(root: string, options: LoadProjectOptions): Promise<Project> {
  const now = options.now ?? Date.now();
  const config = loadProjectConfig(root, {
    env: options.env,
    ...(options.gateway !== undefined ? { gateway: options.gateway } : {}),
  });
  const env = loadProjectEnv(root, { env: options.env });
  const gatewayName = resolveGatewayName(config, options.gateway);
  const gateway = findGateway(config, gatewayName);
  const defaultCatalog = defaultCatalogOf(gateway.connection);
  const warnings = [...config.warnings];
  const files = discoverProjectFiles(root);
  const read = (rel: string) => readFileSync(join(root, rel), 'utf8');

  if (files.pythonModels.length > 0) {
    warnings.push(
      `Python models are not supported and were skipped: ${files.pythonModels.join(', ')}`,
    );
  }
  if (files.pythonMacros.length > 0) {
    warnings.push(
      `Python macros are not supported; models calling them will fail to render: ${files.pythonMacros.join(', ')}`,
    );
  }

  const jinjaMacros: JinjaMacroFile[] = files.jinjaMacros.map((path) => ({
    path,
    source: read(path),
  }));
  const jinja = new JinjaRenderer(jinjaMacros);
  const macroCount =
    jinjaMacros.reduce((n, f) => n + countJinjaMacros(f.source), 0) + files.pythonMacros.length;

  const audits = new Map<string, AuditDefinition>();
  const addAudit = (audit: AuditDefinition) => {
    const key = audit.name.toLowerCase();
    const prior = audits.get(key);
    if (prior) {
      throw new ProjectError(
        `audit ${audit.name} is defined twice (first at ${prior.location.file}:${prior.location.line}); rename one`,
        audit.location,
      );
    }
    audits.set(key, audit);
  };
  for (const path of files.audits) {
    for (const audit of parseAuditFile(read(path), path, config.modelDefaults.dialect))
      addAudit(audit);
  }

  const definitions: ModelDefinition[] = [];
  for (const path of files.models) {
    const def = parseModelFile(read(path), path, config.modelDefaults);
    if (!def.enabled) continue;
    definitions.push(def);
  }
  for (const path of files.externalModels) {
    definitions.push(
      ...parseExternalModels(read(path), path, {
        dialect: config.modelDefaults.dialect,
        gateway: gatewayName,
      }),
    );
  }

  const models = new Map<string, LoadedModel>();
  for (const def of definitions) {
    const fqn = fullyQualifiedName(def.name, def.dialect, defaultCatalog, def.location);
    const prior = models.get(fqn);
    if (prior) {
      throw new ProjectError(
        `model ${def.name} is defined twice (also in ${prior.definition.path}); rename one`,
        def.location,
      );
    }
    const seedPath = seedPathOf(root, def);
    models.set(fqn, {
      fqn,
      name: displayName(parseTableName(def.name, def.dialect), def.dialect, defaultCatalog),
      definition: def,
      dependencies: [],
      ...(seedPath !== undefined ? { seedPath } : {}),
    });
  }

  const variables = { ...config.variables, ...gateway.variables };
  const dag = new Dag();
  for (const model of models.values()) {
    model.dependencies = findDependencies(model, {
      models,
      defaultCatalog,
      variables,
      jinja,
      gateway: gatewayName,
      now,
    });
    dag.add(model.fqn, model.dependencies);
  }
  dag.topologicalOrder(); // a cycle is an error at load time

  return new Project(
    root,
    config,
    gatewayName,
    gateway,
    defaultCatalog,
    env,
    models,
    dag,
    audits,
    jinjaMacros,
    jinja,
    files,
    warnings,
    macroCount,
    countTests(root, files.tests),
  );
}

interface DependencyContext {
  models: Map<string, LoadedModel>;
  defaultCatalog: string;
  variables: Record<string, unknown>;
  jinja: JinjaRenderer;
  gateway: string;
  now: number;
}

/** `depends_on` plus every project model the rendered query reads (SQLMesh takes the union). */
function findDependencies(model: LoadedModel, ctx: DependencyContext): string[] {
  const def = model.definition;
  const deps = new Set<string>();
  for (const name of def.dependsOn ?? []) {
    const fqn = fullyQualifiedName(name, def.dialect, ctx.defaultCatalog, def.location);
    if (!ctx.models.has(fqn)) {
      throw new ProjectError(
        `depends_on names ${name}, which is not a model of this project; declare it in external_models.yaml or fix the name`,
        def.location,
      );
    }
    deps.add(fqn);
  }
  if (def.query) {
    const scope = new MacroScope(
      {
        start: 0,
        end: 86_400_000,
        executionTime: ctx.now,
        variables: ctx.variables,
        thisModel: model.fqn,
        gateway: ctx.gateway,
        runtimeStage: 'loading',
        modelKindName: def.kind.name,
        dialect: def.dialect,
      },
      { definitions: [...def.preStatements, ...def.postStatements], jinja: ctx.jinja },
    );
    for (const pre of def.preStatements) scope.renderStatement(pre);
    const sql = scope.renderQuery(def.query);
    const parsed = parseQuery(sql, def.dialect, def.query.location);
    for (const ref of tableReferences(parsed)) {
      const fqn = fullyQualifiedName(ref, def.dialect, ctx.defaultCatalog);
      if (fqn !== model.fqn && ctx.models.has(fqn)) deps.add(fqn);
    }
  }
  return [...deps].sort();
}
