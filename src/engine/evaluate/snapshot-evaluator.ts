/**
 * Evaluates snapshots against one warehouse: creates their physical tables,
 * writes batches of intervals with the strategy of each model kind, and
 * points an environment's views at the tables (the virtual layer).
 *
 * It works from snapshots alone, never from project files, so an executor
 * holding only a plan can do everything a local plan does.
 */
import type { EngineAdapter, TableRef } from '../adapters/engine-adapter.js';
import { EngineError } from '../errors.js';
import type { ModelDefinition } from '../model-types.js';
import { JinjaRenderer } from '../render/jinja-renderer.js';
import type { TableName } from '../sql/names.js';
import {
  PROD,
  normalizeEnvironmentName,
  physicalTableName,
  viewName,
} from '../snapshot/table-naming.js';
import type { Interval, Snapshot } from '../snapshot/snapshot-types.js';
import { createPhysicalTable, dropPhysicalTable, writeBatch } from './materialize.js';
import { renderModelQuery, type RenderedModel } from './query-renderer.js';
import { readSeed, type SeedData } from './seed-reader.js';
import { loadSeed } from './seed-loader.js';

export interface EvaluatorOptions {
  gateway?: string;
}

export interface EvaluationResult {
  rows?: number;
}

/** A table name's parts as an adapter's table reference. */
export function tableRefOf(name: TableName): TableRef {
  return {
    ...(name.catalog ? { catalog: name.catalog.name } : {}),
    schema: name.schema?.name ?? 'main',
    name: name.name.name,
  };
}

/** Whether a model has a physical table (or view) of its own. */
export function hasPhysicalTable(def: ModelDefinition): boolean {
  return def.kind.name !== 'EMBEDDED' && def.kind.name !== 'EXTERNAL';
}

export class SnapshotEvaluator {
  private readonly jinjaCache = new Map<string, JinjaRenderer>();
  private readonly schemasMade = new Set<string>();

  constructor(
    readonly adapter: EngineAdapter,
    private readonly options: EvaluatorOptions = {},
  ) {}

  /** Where a snapshot's data lives. */
  physicalTable(snapshot: Pick<Snapshot, 'name' | 'version'>): TableRef {
    return tableRefOf(
      physicalTableName(snapshot.name, snapshot.version, {
        maxIdentifierLength: this.adapter.capabilities.maxIdentifierLength,
      }),
    );
  }

  /** The view through which `environment` shows a model. */
  viewTable(name: string, environment: string): TableRef {
    return tableRefOf(
      viewName(name, environment, {
        maxIdentifierLength: this.adapter.capabilities.maxIdentifierLength,
      }),
    );
  }

  private jinjaFor(snapshot: Snapshot): JinjaRenderer | undefined {
    const macros = snapshot.node.jinjaMacros;
    if (!macros || macros.length === 0) return undefined;
    const key = macros.map((m) => `${m.path}\0${m.source}`).join('\0\0');
    let renderer = this.jinjaCache.get(key);
    if (!renderer) {
      renderer = new JinjaRenderer(macros);
      this.jinjaCache.set(key, renderer);
    }
    return renderer;
  }

  /** Renders a snapshot's statements for an interval, reading its parents' tables in `snapshots`. */
  render(
    snapshot: Snapshot,
    interval: Interval,
    executionTime: number,
    snapshots: Map<string, Snapshot>,
    environment = PROD,
  ): RenderedModel {
    const dialect = this.adapter.dialect;
    const tableFor = (fqn: string): string | undefined => {
      const parent = snapshots.get(fqn);
      if (!parent || !hasPhysicalTable(parent.node.definition)) return undefined;
      return this.adapter.tableName(this.physicalTable(parent));
    };
    const renderOne = (s: Snapshot, seen: Set<string>): RenderedModel =>
      renderModelQuery({
        definition: s.node.definition,
        variables: s.node.variables,
        ...(s.node.jinjaMacros ? { jinja: this.jinjaFor(s) } : {}),
        defaultCatalog: s.node.defaultCatalog,
        ...(this.options.gateway !== undefined ? { gateway: this.options.gateway } : {}),
        start: interval[0],
        end: interval[1],
        executionTime,
        dialect,
        tableFor,
        embeddedQuery: (fqn) => {
          const parent = snapshots.get(fqn);
          if (!parent || parent.node.definition.kind.name !== 'EMBEDDED' || seen.has(fqn)) {
            return undefined;
          }
          return renderOne(parent, new Set([...seen, fqn])).query;
        },
        thisModel: this.adapter.tableName(this.physicalTable(s)),
        extraVariables: { this_env: normalizeEnvironmentName(environment) },
      });
    return renderOne(snapshot, new Set([snapshot.name]));
  }

  private async ensureSchema(table: TableRef): Promise<void> {
    const key = `${table.catalog ?? ''}.${table.schema}`;
    if (this.schemasMade.has(key)) return;
    await this.adapter.createSchema(table.schema, table.catalog);
    this.schemasMade.add(key);
  }

  private target(snapshot: Snapshot) {
    const def = snapshot.node.definition;
    return {
      adapter: this.adapter,
      table: this.physicalTable(snapshot),
      kind: def.kind,
      ...(def.columns ? { columns: def.columns } : {}),
      modelName: def.name,
    };
  }

  /**
   * Creates a snapshot's physical table when missing (empty, with the query's
   * columns). Seeds and views are created when evaluated.
   */
  async createTable(
    snapshot: Snapshot,
    snapshots: Map<string, Snapshot>,
    executionTime: number,
  ): Promise<void> {
    const def = snapshot.node.definition;
    if (!hasPhysicalTable(def)) return;
    const target = this.target(snapshot);
    await this.ensureSchema(target.table);
    if (await this.adapter.tableExists(target.table)) return;
    if (def.kind.name === 'SEED') {
      // Empty for now, so that models reading it can be created; loaded when evaluated.
      const seed = this.readSeedData(snapshot);
      await loadSeed(
        this.adapter,
        target.table,
        { columns: seed.columns, rows: [] },
        {
          batchSize: 1,
        },
      );
      return;
    }
    const rendered = this.render(
      snapshot,
      [executionTime - 1, executionTime],
      executionTime,
      snapshots,
    );
    await createPhysicalTable(target, rendered.query);
  }

  /**
   * Evaluates one batch of a snapshot: pre-statements, the kind's write of
   * the query's rows for the interval (atomic), post-statements.
   */
  async evaluate(
    snapshot: Snapshot,
    interval: Interval,
    executionTime: number,
    snapshots: Map<string, Snapshot>,
    environment = PROD,
  ): Promise<EvaluationResult> {
    const def = snapshot.node.definition;
    if (!hasPhysicalTable(def)) {
      throw new EngineError(`${def.name} is ${def.kind.name}: it is never evaluated`);
    }
    const target = this.target(snapshot);
    await this.ensureSchema(target.table);
    if (def.kind.name === 'SEED') return this.loadSeedTable(snapshot, target.table);
    const rendered = this.render(snapshot, interval, executionTime, snapshots, environment);
    for (const sql of rendered.pre) await this.adapter.execute(sql);
    if (!(await this.adapter.tableExists(target.table))) {
      await createPhysicalTable(target, rendered.query);
    }
    const result = await writeBatch(target, rendered.query, {
      start: interval[0],
      end: interval[1],
      executionTime,
    });
    for (const sql of rendered.post) await this.adapter.execute(sql);
    return result;
  }

  private async loadSeedTable(snapshot: Snapshot, table: TableRef): Promise<EvaluationResult> {
    const def = snapshot.node.definition;
    if (def.kind.name !== 'SEED') throw new EngineError(`${def.name} is not a SEED model`);
    const seed = this.readSeedData(snapshot);
    // A seed is loaded whole: a table left by a load whose interval was never
    // recorded is replaced.
    await this.adapter.dropTable(table, { ifExists: true });
    const loaded = await loadSeed(this.adapter, table, seed, { batchSize: def.kind.batchSize });
    return { rows: loaded.rows };
  }

  private readSeedData(snapshot: Snapshot): SeedData {
    const def = snapshot.node.definition;
    if (def.kind.name !== 'SEED') throw new EngineError(`${def.name} is not a SEED model`);
    const csv = snapshot.node.seedCsv;
    if (csv === undefined) {
      throw new EngineError(`the snapshot of ${def.name} carries no seed data; plan again`);
    }
    return readSeed(csv, {
      path: def.kind.path,
      ...(def.columns ? { columns: def.columns } : {}),
      csvSettings: def.kind.csvSettings,
      // Header names are identifiers: folded to lower case, as both engines do.
      normalizeColumnName: (name) => name.toLowerCase(),
    });
  }

  /** Points an environment's view of each snapshot at its physical table. */
  async promote(environment: string, snapshots: readonly Snapshot[]): Promise<void> {
    for (const snapshot of snapshots) {
      if (!hasPhysicalTable(snapshot.node.definition)) continue;
      const view = this.viewTable(snapshot.name, environment);
      await this.ensureSchema(view);
      const source = this.adapter.tableName(this.physicalTable(snapshot));
      await this.adapter.createView(view, `SELECT * FROM ${source}`, { replace: true });
    }
  }

  /** Drops an environment's views of these models. */
  async demote(environment: string, names: readonly string[]): Promise<void> {
    for (const name of names) {
      await this.adapter.dropView(this.viewTable(name, environment), { ifExists: true });
    }
  }

  /** Drops a snapshot version's physical table (or view). */
  async dropTable(snapshot: Pick<Snapshot, 'name' | 'version' | 'node'>): Promise<void> {
    const def = snapshot.node.definition;
    if (!hasPhysicalTable(def)) return;
    await dropPhysicalTable({
      adapter: this.adapter,
      table: this.physicalTable(snapshot),
      kind: def.kind,
    });
  }
}
