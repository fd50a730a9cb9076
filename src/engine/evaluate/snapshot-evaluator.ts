/**
 * Evaluates snapshots against one warehouse: creates their physical tables,
 * writes batches of intervals with the strategy of each model kind, and
 * points an environment's views at the tables (the virtual layer).
 *
 * It works from snapshots alone, never from project files, so an executor
 * holding only a plan can do everything a local plan does.
 */
import type { ColumnInfo, EngineAdapter, TableRef } from '../adapters/engine-adapter.js';
import { runModelAudits } from '../audit/audit-runner.js';
import { auditFailureOf, type AuditResult } from '../audit/audit-types.js';
import { EngineError } from '../errors.js';
import type { ModelDefinition } from '../model-types.js';
import { JinjaRenderer } from '../render/jinja-renderer.js';
import type { TableName } from '../sql/names.js';
import { outputColumns, parseQuery } from '../sql/query.js';
import {
  PROD,
  normalizeEnvironmentName,
  physicalTableName,
  viewName,
} from '../snapshot/table-naming.js';
import type { Interval, Snapshot } from '../snapshot/snapshot-types.js';
import { createPhysicalTable, dropPhysicalTable, writeBatch } from './materialize.js';
import { tempTableName } from './materialize-sql.js';
import { renderModelQuery, type RenderedModel } from './query-renderer.js';
import { readSeed, type SeedData } from './seed-reader.js';
import { loadSeed, seedInsertStatements } from './seed-loader.js';

export interface EvaluatorOptions {
  gateway?: string;
}

export interface EvaluationResult {
  rows?: number;
  /** Audits run after the write (blocking failures throw instead). */
  audits?: AuditResult[];
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

  private jinjaFor(snapshot: Snapshot): JinjaRenderer {
    const macros = snapshot.node.jinjaMacros ?? [];
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
    /** Columns of an empty stand-in for the model's own table, for a first self-referencing build. */
    selfColumns?: Array<{ name: string; type?: string }>,
  ): RenderedModel {
    const dialect = this.adapter.dialect;
    const selfStandIn = selfColumns
      ? `SELECT ${selfColumns
          .map((c) => {
            const value = c.type ? `CAST(NULL AS ${c.type})` : 'NULL';
            return `${value} AS ${this.adapter.quoteIdentifier(c.name)}`;
          })
          .join(', ')} WHERE 1 = 0`
      : undefined;
    const tableFor = (fqn: string): string | undefined => {
      const parent = snapshots.get(fqn);
      if (!parent || !hasPhysicalTable(parent.node.definition)) return undefined;
      return this.adapter.tableName(this.physicalTable(parent));
    };
    const renderOne = (s: Snapshot, seen: Set<string>): RenderedModel =>
      renderModelQuery({
        definition: s.node.definition,
        variables: s.node.variables,
        jinja: this.jinjaFor(s),
        defaultCatalog: s.node.defaultCatalog,
        ...(this.options.gateway !== undefined ? { gateway: this.options.gateway } : {}),
        start: interval[0],
        end: interval[1],
        executionTime,
        dialect,
        tableFor,
        embeddedQuery: (fqn) => {
          if (fqn === snapshot.name && selfStandIn !== undefined) return selfStandIn;
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
      ...(def.partitionedBy.length > 0 ? { partitionedBy: def.partitionedBy } : {}),
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
    await this.createMissingTable(
      snapshot,
      [executionTime - 1, executionTime],
      executionTime,
      snapshots,
    );
  }

  /**
   * Creates the table from the query's columns. A model that reads its own
   * table reads an empty stand-in with the same column names the first time.
   */
  private async createMissingTable(
    snapshot: Snapshot,
    interval: Interval,
    executionTime: number,
    snapshots: Map<string, Snapshot>,
    environment = PROD,
  ): Promise<void> {
    const target = this.target(snapshot);
    const rendered = this.render(snapshot, interval, executionTime, snapshots, environment);
    // As SQLMesh: pre-statements run before the table is created too (they
    // may make what the query reads).
    for (const sql of rendered.pre) await this.adapter.execute(sql);
    const own = this.adapter.tableName(target.table);
    const readsItself = !target.columns && rendered.query.includes(own);
    if (!readsItself) {
      await createPhysicalTable(target, rendered.query);
      return;
    }
    const def = snapshot.node.definition;
    const columns = outputColumns(
      parseQuery(rendered.query, this.adapter.dialect, def.query?.location ?? def.location),
    );
    if (columns.some((c) => c.star || c.name === undefined)) {
      throw new EngineError(
        `${def.name} reads its own table, so its first build needs every output column named; name them, or declare them with columns (...) in ${def.path}`,
      );
    }
    const standIn = this.render(
      snapshot,
      interval,
      executionTime,
      snapshots,
      environment,
      columns.map((c) => ({ name: c.name!, ...(c.castType ? { type: c.castType } : {}) })),
    );
    await createPhysicalTable(target, standIn.query);
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
    options: { firstInsert?: boolean } = {},
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
      await this.createMissingTable(snapshot, interval, executionTime, snapshots, environment);
    }
    const result = await writeBatch(target, rendered.query, {
      start: interval[0],
      end: interval[1],
      executionTime,
      ...(options.firstInsert !== undefined ? { firstInsert: options.firstInsert } : {}),
    });
    for (const sql of rendered.post) await this.adapter.execute(sql);
    const audits = await this.audit(snapshot, interval, executionTime, snapshots, environment);
    return { ...result, ...(audits.length > 0 ? { audits } : {}) };
  }

  /**
   * Runs the model's audits on the interval just written. A blocking failure
   * throws (so the interval is not recorded); the rest are returned.
   */
  async audit(
    snapshot: Snapshot,
    interval: Interval,
    executionTime: number,
    snapshots: Map<string, Snapshot>,
    environment = PROD,
  ): Promise<AuditResult[]> {
    const def = snapshot.node.definition;
    if (def.audits.length === 0) return [];
    const table = this.physicalTable(snapshot);
    const results = await runModelAudits({
      adapter: this.adapter,
      snapshot,
      table: this.adapter.tableName(table),
      tableRef: table,
      interval,
      executionTime,
      tableFor: (fqn) => {
        const other = snapshots.get(fqn);
        return other && hasPhysicalTable(other.node.definition)
          ? this.adapter.tableName(this.physicalTable(other))
          : undefined;
      },
      ...(this.options.gateway !== undefined ? { gateway: this.options.gateway } : {}),
      environment: normalizeEnvironmentName(environment),
    });
    const failure = auditFailureOf(def.name, results);
    if (failure) throw failure;
    return results;
  }

  /**
   * Brings an existing table's columns in line with the model's query, for a
   * forward-only change that keeps the table: new columns are added; columns
   * dropped or retyped are a destructive change, handled by the kind's
   * `on_destructive_change` (error by default, warn, allow, ignore).
   * Returns a note for each change made or skipped.
   */
  async migrateSchema(
    snapshot: Snapshot,
    snapshots: Map<string, Snapshot>,
    executionTime: number,
  ): Promise<string[]> {
    const def = snapshot.node.definition;
    const kind = def.kind;
    if (!hasPhysicalTable(def) || kind.name === 'SEED' || kind.name === 'VIEW') return [];
    const target = this.target(snapshot);
    if (!(await this.adapter.tableExists(target.table))) return [];
    const probe: TableRef = { ...target.table, name: tempTableName('probe') };
    await createPhysicalTable(
      { ...target, table: probe },
      this.render(snapshot, [executionTime - 1, executionTime], executionTime, snapshots).query,
    );
    let wanted: ColumnInfo[];
    try {
      wanted = await this.adapter.columns(probe);
    } finally {
      await this.adapter.dropTable(probe, { ifExists: true });
    }
    const current = await this.adapter.columns(target.table);
    const have = new Map(current.map((c) => [c.name, c]));
    const want = new Map(wanted.map((c) => [c.name, c]));
    const tableSql = this.adapter.tableName(target.table);
    const policy = 'onDestructiveChange' in kind ? kind.onDestructiveChange : 'error';
    const destructive: string[] = [];
    for (const c of current) {
      const next = want.get(c.name);
      if (!next) destructive.push(`drops column ${c.name}`);
      else if (next.type !== c.type)
        destructive.push(`changes column ${c.name} from ${c.type} to ${next.type}`);
    }
    if (destructive.length > 0 && policy === 'error') {
      throw new EngineError(
        `forward-only change to ${def.name} ${destructive.join(', ')}; set on_destructive_change to warn, allow or ignore in its kind, or make the change breaking`,
      );
    }
    const notes: string[] = [];
    const statements: string[] = [];
    for (const c of wanted) {
      if (!have.has(c.name)) {
        statements.push(
          `ALTER TABLE ${tableSql} ADD COLUMN ${this.adapter.quoteIdentifier(c.name)} ${c.type}`,
        );
        notes.push(`${def.name}: added column ${c.name} ${c.type}`);
      }
    }
    if (policy === 'allow') {
      for (const c of current) {
        const next = want.get(c.name);
        const col = this.adapter.quoteIdentifier(c.name);
        if (!next) statements.push(`ALTER TABLE ${tableSql} DROP COLUMN ${col}`);
        else if (next.type !== c.type) {
          statements.push(`ALTER TABLE ${tableSql} ALTER COLUMN ${col} TYPE ${next.type}`);
        }
      }
      notes.push(...destructive.map((d) => `${def.name}: ${d}`));
    } else if (policy === 'warn') {
      notes.push(
        ...destructive.map(
          (d) => `warning: forward-only change to ${def.name} ${d}; the table keeps it`,
        ),
      );
    }
    for (const sql of statements) await this.adapter.execute(sql);
    return notes;
  }

  private async loadSeedTable(snapshot: Snapshot, table: TableRef): Promise<EvaluationResult> {
    const def = snapshot.node.definition;
    if (def.kind.name !== 'SEED') throw new EngineError(`${def.name} is not a SEED model`);
    const seed = this.readSeedData(snapshot);
    if (!(await this.adapter.tableExists(table))) {
      const loaded = await loadSeed(this.adapter, table, seed, { batchSize: def.kind.batchSize });
      return { rows: loaded.rows };
    }
    // The table exists (created empty for its readers, or loaded by a plan
    // cut short before recording it): its rows are replaced in one transaction.
    const tableSql = this.adapter.tableName(table);
    const inserts = seedInsertStatements(this.adapter, tableSql, seed, def.kind.batchSize);
    await this.adapter.transaction(async (tx) => {
      await tx.execute(`DELETE FROM ${tableSql}`);
      for (const sql of inserts) await tx.execute(sql);
    });
    return { rows: seed.rows.length };
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
