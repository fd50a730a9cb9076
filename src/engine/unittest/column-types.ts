/**
 * The column types of a project's models, for typing a unit test's input
 * rows: declared `columns` first; for SEED models the types read from the
 * CSV; for models with a query, the types the test engine gives the query's
 * result when it runs over empty tables typed the same way (upstream first).
 * Unknown when none of that works; the test then infers types from values.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineAdapter } from '../adapters/engine-adapter.js';
import { readSeed, type CsvSettingValue } from '../evaluate/seed-reader.js';
import { renderModel } from '../project/model-renderer.js';
import type { Project } from '../project/project-loader.js';
import { resolveDialect } from '../sql/dialects.js';
import { quoteIdentifier } from '../sql/names.js';
import { transpile } from '../sql/query.js';

export interface ColumnType {
  name: string;
  type: string;
}

/** A SQL type written in `from` as the engine dialect `to` writes it (as written when that fails). */
export function convertType(type: string, from: string, to: string): string {
  if (resolveDialect(from).parser === resolveDialect(to).parser) return type;
  try {
    const sql = transpile(`SELECT CAST(NULL AS ${type})`, from, to);
    const m = /CAST\(NULL AS (.+)\)\s*$/is.exec(sql);
    return m?.[1]?.trim() ?? type;
  } catch {
    return type;
  }
}

/** Finds and remembers model column types on one test connection. */
export class ColumnTypeResolver {
  private readonly known = new Map<string, Promise<ColumnType[] | undefined>>();
  /** Empty tables standing in for models while their readers' types are worked out. */
  private readonly stubs = new Map<string, string>();
  private scratch: string | undefined;

  constructor(
    private readonly project: Project,
    private readonly adapter: EngineAdapter,
  ) {}

  /** The model's columns with types in the engine's dialect, or undefined when not known. */
  typesOf(fqn: string): Promise<ColumnType[] | undefined> {
    let found = this.known.get(fqn);
    if (!found) {
      found = this.resolve(fqn).catch(() => undefined);
      this.known.set(fqn, found);
    }
    return found;
  }

  /** Drops the scratch schema, when one was made. */
  async close(): Promise<void> {
    if (this.scratch) {
      await this.adapter.dropSchema(this.scratch, { cascade: true }).catch(() => undefined);
      this.scratch = undefined;
    }
  }

  private async resolve(fqn: string): Promise<ColumnType[] | undefined> {
    const model = this.project.models.get(fqn);
    if (!model) return undefined;
    const def = model.definition;
    const engine = this.adapter.dialect;
    if (def.columns && def.columns.length > 0) {
      return def.columns.map((c) => ({
        name: c.name,
        type: convertType(c.type, def.dialect, engine),
      }));
    }
    if (def.kind.name === 'SEED' && model.seedPath) {
      const seed = readSeed(readFileSync(join(this.project.root, model.seedPath), 'utf8'), {
        path: model.seedPath,
        csvSettings: def.kind.csvSettings as Record<string, CsvSettingValue>,
      });
      return seed.columns.map((c) => ({
        name: c.name,
        type: convertType(c.type, 'duckdb', engine),
      }));
    }
    if (!def.query) return undefined;

    // Stand-ins for what the query reads; EMBEDDED models are inlined, so their inputs count.
    const reads = new Set<string>();
    const collect = (name: string, seen: Set<string>) => {
      for (const dep of this.project.models.get(name)?.dependencies ?? []) {
        const m = this.project.models.get(dep);
        if (m?.definition.kind.name === 'EMBEDDED' && !seen.has(dep)) {
          collect(dep, new Set([...seen, dep]));
        } else reads.add(dep);
      }
    };
    collect(fqn, new Set([fqn]));
    for (const dep of reads) {
      if (this.stubs.has(dep)) continue;
      const columns = await this.typesOf(dep);
      if (!columns || columns.length === 0) return undefined;
      await this.createStub(dep, columns);
    }
    const sql = renderModel(this.project, fqn, {
      start: '1970-01-01',
      end: '1970-01-01',
      executionTime: 0,
      dialect: engine,
      tableFor: (name) => this.stubs.get(name),
      runtimeStage: 'testing',
    });
    const result = await this.adapter.query(`SELECT * FROM (${sql}) AS tideline_types LIMIT 0`);
    if (result.columns.some((c) => !c.type || /^(unknown|null)$/i.test(c.type))) {
      return result.columns.filter((c) => c.type && !/^(unknown|null)$/i.test(c.type));
    }
    return result.columns.map((c) => ({ name: c.name, type: c.type }));
  }

  private async createStub(fqn: string, columns: ColumnType[]): Promise<void> {
    const q = (name: string) => quoteIdentifier(name, this.adapter.dialect);
    if (!this.scratch) {
      this.scratch = `tideline_types_${randomBytes(4).toString('hex')}`;
      await this.adapter.createSchema(this.scratch);
    }
    const table = `${q(this.scratch)}.${q(`stub_${this.stubs.size}`)}`;
    await this.adapter.execute(
      `CREATE TABLE ${table} (${columns.map((c) => `${q(c.name)} ${c.type}`).join(', ')})`,
    );
    this.stubs.set(fqn, table);
  }
}
