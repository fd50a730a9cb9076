/**
 * StateSync kept in the warehouse itself, in one schema (`sqlmesh` unless the
 * gateway names another), as open-source SQLMesh does. Used in local mode.
 *
 * Tables: `_versions` (one row: schema and Tideline version), `_snapshots`,
 * `_environments`, `_intervals` and `_plans`, created and upgraded by
 * {@link WarehouseStateSync.migrate}. Snapshots, environments and plans are
 * stored as JSON text next to the columns that queries filter on.
 *
 * Intervals are an append-only log: each row adds or removes `[start, end)`
 * for one snapshot version, and rows are folded in insertion order, so an
 * interval added after a removal is recorded again. Non-dev rows are shared by
 * every snapshot with the same name and version; dev rows by the same name and
 * dev version.
 */

import {
  dedupeIds,
  setOptional,
  staleMessage,
  uniquePairs,
  validateInterval,
} from './state-helpers.js';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EngineAdapter, Row } from '../adapters/engine-adapter.js';
import { ConfigError, TidelineError } from '../errors.js';
import type {
  Environment,
  Interval,
  PlanRecord,
  Snapshot,
  SnapshotId,
  SnapshotIntervals,
} from '../snapshot/snapshot-types.js';
import { mergeIntervals, removeInterval } from '../time/intervals.js';
import { MIGRATIONS, STATE_SCHEMA_VERSION, type MigrationContext } from './state-migrations.js';
import {
  batchBySize,
  chunks,
  readBoolean,
  readNumber,
  readOptionalString,
  readString,
  sqlLiteral,
  sqlString,
  sqlTuples,
} from './state-sql.js';
import {
  StaleStateError,
  snapshotKey,
  type SnapshotSummary,
  type StateSync,
  type StateVersions,
  type VersionRef,
  versionKey,
} from './state-sync.js';

export interface WarehouseStateSyncOptions {
  /** The schema holding the state tables; default `sqlmesh`. */
  schema?: string;
  /** Current time in epoch ms, for created/updated timestamps; default `Date.now`. */
  clock?: () => number;
  /** The version recorded in `_versions`; default the installed package's version. */
  tidelineVersion?: string;
  /** Close the adapter when the state sync is closed; default false (the caller owns it). */
  ownsAdapter?: boolean;
}

/** The environment that never expires. */
const PROD = 'prod';
/** Ids per IN list. */
const IN_BATCH = 500;
/** Rows and characters per INSERT statement. */
const INSERT_ROWS = 500;
const INSERT_CHARS = 4_000_000;

function findPackageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'tideline' && typeof pkg.version === 'string') return pkg.version;
      } catch {
        // An unreadable package.json further down is not ours; keep looking up.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return '0.0.0';
    dir = parent;
  }
}

const PACKAGE_VERSION = findPackageVersion();

/** True when an error (or one of its causes) is a write-write conflict or a duplicate key. */
function isWriteConflict(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    // PostgreSQL: unique violation, serialization failure, deadlock.
    if (code === '23505' || code === '40001' || code === '40P01') return true;
    const message = e instanceof Error ? e.message : '';
    if (/conflict on tuple|duplicate key|unique constraint|could not serialize/i.test(message)) {
      return true;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Quote characters are refused in the state schema's name: DuckDB cannot name
 * a sequence in such a schema, and no real schema needs them.
 */
function checkSchemaName(schema: string): void {
  if (schema.trim() === '') {
    throw new ConfigError('state_schema', 'the name is empty; name a schema or leave it unset');
  }
  if (/["'\0]/.test(schema)) {
    throw new ConfigError(
      'state_schema',
      `${JSON.stringify(schema)} contains a quote or NUL character; choose a name without them`,
    );
  }
}

interface VersionKeys {
  id: SnapshotId;
  version: string;
  devVersion: string | undefined;
}

export class WarehouseStateSync implements StateSync {
  readonly schema: string;
  private readonly adapter: EngineAdapter;
  private readonly clock: () => number;
  private readonly tidelineVersion: string;
  private readonly ownsAdapter: boolean;

  constructor(adapter: EngineAdapter, options: WarehouseStateSyncOptions = {}) {
    if (options.schema !== undefined) checkSchemaName(options.schema);
    this.adapter = adapter;
    this.schema = options.schema ?? 'sqlmesh';
    this.clock = options.clock ?? Date.now;
    this.tidelineVersion = options.tidelineVersion ?? PACKAGE_VERSION;
    this.ownsAdapter = options.ownsAdapter ?? false;
  }

  private table(name: string): string {
    return this.adapter.tableName({ schema: this.schema, name });
  }

  // ---- versions and migrations -------------------------------------------------------------

  async getVersions(): Promise<StateVersions> {
    return await this.readVersions(this.adapter);
  }

  private async readVersions(db: EngineAdapter): Promise<StateVersions> {
    if (!(await db.tableExists({ schema: this.schema, name: '_versions' }))) {
      return { schemaVersion: 0, tidelineVersion: '' };
    }
    const { rows } = await db.query(
      `SELECT schema_version, tideline_version FROM ${this.table('_versions')}`,
    );
    const row = rows[0];
    if (!row) return { schemaVersion: 0, tidelineVersion: '' };
    return {
      schemaVersion: readNumber(row.schema_version, '_versions.schema_version'),
      tidelineVersion: readString(row.tideline_version, '_versions.tideline_version'),
    };
  }

  private checkNotNewer(versions: StateVersions): void {
    if (versions.schemaVersion > STATE_SCHEMA_VERSION) {
      const by = versions.tidelineVersion ? ` by Tideline ${versions.tidelineVersion}` : '';
      throw new TidelineError(
        `state schema ${JSON.stringify(this.schema)} is at version ${versions.schemaVersion}, written${by}, but this Tideline (${this.tidelineVersion}) knows versions up to ${STATE_SCHEMA_VERSION}; upgrade Tideline`,
      );
    }
  }

  async migrate(): Promise<void> {
    if (await this.adapter.schemaExists(this.schema)) {
      const current = await this.readVersions(this.adapter);
      this.checkNotNewer(current);
      if (current.schemaVersion === STATE_SCHEMA_VERSION) return;
    }
    const ctx: MigrationContext = {
      table: (name) => this.table(name),
      quote: (name) => this.adapter.quoteIdentifier(name),
      sequenceLiteral: (name) => sqlString(this.table(name)),
    };
    await this.adapter.transaction(async (tx) => {
      await tx.execute(`CREATE SCHEMA IF NOT EXISTS ${tx.quoteIdentifier(this.schema)}`);
      await tx.execute(
        `CREATE TABLE IF NOT EXISTS ${this.table('_versions')} (schema_version INTEGER NOT NULL, tideline_version TEXT NOT NULL)`,
      );
      // Read again inside the transaction: another process may have migrated meanwhile.
      const current = await this.readVersions(tx);
      this.checkNotNewer(current);
      if (current.schemaVersion === STATE_SCHEMA_VERSION) return;
      for (const step of MIGRATIONS) {
        if (step.version <= current.schemaVersion) continue;
        for (const sql of step.statements(ctx)) await tx.execute(sql);
      }
      await tx.execute(`DELETE FROM ${this.table('_versions')}`);
      await tx.execute(
        `INSERT INTO ${this.table('_versions')} (schema_version, tideline_version) VALUES (${sqlLiteral(STATE_SCHEMA_VERSION)}, ${sqlLiteral(this.tidelineVersion)})`,
      );
    });
  }

  // ---- snapshots -----------------------------------------------------------------------------

  private idTuples(ids: readonly SnapshotId[]): string {
    return sqlTuples(ids.map((id) => [id.name, id.identifier]));
  }

  async getSnapshots(ids: SnapshotId[]): Promise<Map<string, Snapshot>> {
    const out = new Map<string, Snapshot>();
    for (const batch of chunks(dedupeIds(ids), IN_BATCH)) {
      const { rows } = await this.adapter.query(
        `SELECT name, identifier, payload FROM ${this.table('_snapshots')} WHERE (name, identifier) IN (${this.idTuples(batch)})`,
      );
      for (const row of rows) {
        const snapshot = JSON.parse(readString(row.payload, '_snapshots.payload')) as Snapshot;
        out.set(
          snapshotKey({
            name: readString(row.name, '_snapshots.name'),
            identifier: readString(row.identifier, '_snapshots.identifier'),
          }),
          snapshot,
        );
      }
    }
    return out;
  }

  async listSnapshotSummaries(): Promise<SnapshotSummary[]> {
    const { rows } = await this.adapter.query(
      `SELECT name, identifier, version, updated_ts, payload FROM ${this.table('_snapshots')} ORDER BY name, identifier`,
    );
    return rows.map((row) => {
      const s = JSON.parse(readString(row.payload, '_snapshots.payload')) as Snapshot;
      return {
        name: readString(row.name, '_snapshots.name'),
        identifier: readString(row.identifier, '_snapshots.identifier'),
        version: readString(row.version, '_snapshots.version'),
        kind: s.node.definition.kind.name,
        ttl: s.ttl,
        updatedTs: Number(row.updated_ts),
      };
    });
  }

  async snapshotsExist(ids: SnapshotId[]): Promise<Set<string>> {
    return await this.existingSnapshots(this.adapter, ids);
  }

  private async existingSnapshots(
    db: EngineAdapter,
    ids: readonly SnapshotId[],
  ): Promise<Set<string>> {
    const out = new Set<string>();
    for (const batch of chunks(dedupeIds(ids), IN_BATCH)) {
      const { rows } = await db.query(
        `SELECT name, identifier FROM ${this.table('_snapshots')} WHERE (name, identifier) IN (${this.idTuples(batch)})`,
      );
      for (const row of rows) {
        out.add(
          snapshotKey({
            name: readString(row.name, '_snapshots.name'),
            identifier: readString(row.identifier, '_snapshots.identifier'),
          }),
        );
      }
    }
    return out;
  }

  async pushSnapshots(snapshots: Snapshot[]): Promise<void> {
    if (snapshots.length === 0) return;
    const seen = new Set<string>();
    for (const s of snapshots) {
      const key = snapshotKey(s);
      if (seen.has(key)) {
        throw new TidelineError(`snapshot ${s.name} (${s.identifier}) is listed twice in one push`);
      }
      seen.add(key);
    }
    const now = this.clock();
    const rows = snapshots.map((s) =>
      sqlTuples([[s.name, s.identifier, s.version, s.devVersion, JSON.stringify(s), now, now]]),
    );
    let refused: TidelineError | undefined;
    try {
      await this.adapter.transaction(async (tx) => {
        const existing = await this.existingSnapshots(tx, snapshots);
        if (existing.size > 0) throw (refused = duplicateSnapshotsError(existing));
        for (const batch of batchBySize(rows, INSERT_ROWS, INSERT_CHARS)) {
          await tx.execute(
            `INSERT INTO ${this.table('_snapshots')} (name, identifier, version, dev_version, payload, created_ts, updated_ts) VALUES ${batch.join(', ')}`,
          );
        }
      });
    } catch (err) {
      // A concurrent push of the same snapshot loses on the primary key.
      if (err !== refused && isWriteConflict(err)) {
        const existing = await this.existingSnapshots(this.adapter, snapshots);
        if (existing.size > 0) throw duplicateSnapshotsError(existing, err);
      }
      throw err;
    }
  }

  async updateSnapshots(snapshots: Snapshot[]): Promise<void> {
    if (snapshots.length === 0) return;
    const now = this.clock();
    await this.adapter.transaction(async (tx) => {
      const stored = await this.readSnapshots(tx, snapshots);
      const rows: string[] = [];
      for (const s of snapshots) {
        const current = stored.get(snapshotKey(s));
        if (!current) {
          throw new TidelineError(
            `snapshot ${s.name} (${s.identifier}) is not in state; push it before updating it`,
          );
        }
        const updated: Snapshot = { ...current };
        setOptional(updated, 'changeCategory', s.changeCategory);
        setOptional(updated, 'unpausedTs', s.unpausedTs);
        setOptional(updated, 'devVersion', s.devVersion);
        updated.updatedTs = s.updatedTs;
        rows.push(
          `(${sqlLiteral(s.name)}, ${sqlLiteral(s.identifier)}, ${sqlLiteral(JSON.stringify(updated))}, ${updated.devVersion === undefined ? 'CAST(NULL AS TEXT)' : sqlLiteral(updated.devVersion)})`,
        );
      }
      // One statement per batch of rows: a statement per snapshot costs minutes at 10,000.
      let batch: string[] = [];
      let chars = 0;
      const flush = async () => {
        if (batch.length === 0) return;
        await tx.execute(
          `UPDATE ${this.table('_snapshots')} SET payload = v.payload, dev_version = v.dev_version, updated_ts = ${sqlLiteral(now)} ` +
            `FROM (VALUES ${batch.join(', ')}) AS v(name, identifier, payload, dev_version) ` +
            `WHERE ${this.table('_snapshots')}.name = v.name AND ${this.table('_snapshots')}.identifier = v.identifier`,
        );
        batch = [];
        chars = 0;
      };
      for (const row of rows) {
        batch.push(row);
        chars += row.length;
        if (batch.length >= INSERT_ROWS || chars >= INSERT_CHARS) await flush();
      }
      await flush();
    });
  }

  private async readSnapshots(
    db: EngineAdapter,
    ids: readonly SnapshotId[],
  ): Promise<Map<string, Snapshot>> {
    const out = new Map<string, Snapshot>();
    for (const batch of chunks(dedupeIds(ids), IN_BATCH)) {
      const { rows } = await db.query(
        `SELECT payload FROM ${this.table('_snapshots')} WHERE (name, identifier) IN (${this.idTuples(batch)})`,
      );
      for (const row of rows) {
        const s = JSON.parse(readString(row.payload, '_snapshots.payload')) as Snapshot;
        out.set(snapshotKey(s), s);
      }
    }
    return out;
  }

  /**
   * Deletes the snapshots, and the interval rows of every version (and dev
   * version) that no remaining snapshot uses: a version recreated later
   * starts with no recorded data.
   */
  async deleteSnapshots(ids: SnapshotId[]): Promise<void> {
    const unique = dedupeIds(ids);
    if (unique.length === 0) return;
    await this.adapter.transaction(async (tx) => {
      const versions = new Map<string, [string, string]>();
      const devVersions = new Map<string, [string, string]>();
      for (const batch of chunks(unique, IN_BATCH)) {
        const where = `(name, identifier) IN (${this.idTuples(batch)})`;
        const { rows } = await tx.query(
          `SELECT name, version, dev_version FROM ${this.table('_snapshots')} WHERE ${where}`,
        );
        for (const row of rows) {
          const name = readString(row.name, '_snapshots.name');
          const version = readString(row.version, '_snapshots.version');
          const devVersion = readOptionalString(row.dev_version, '_snapshots.dev_version');
          versions.set(JSON.stringify([name, version]), [name, version]);
          if (devVersion !== undefined) {
            devVersions.set(JSON.stringify([name, devVersion]), [name, devVersion]);
          }
        }
        await tx.execute(`DELETE FROM ${this.table('_snapshots')} WHERE ${where}`);
      }
      await this.deleteUnusedIntervals(tx, [...versions.values()], 'version', false);
      await this.deleteUnusedIntervals(tx, [...devVersions.values()], 'dev_version', true);
    });
  }

  private async deleteUnusedIntervals(
    tx: EngineAdapter,
    pairs: Array<[string, string]>,
    column: 'version' | 'dev_version',
    isDev: boolean,
  ): Promise<void> {
    for (const batch of chunks(pairs, IN_BATCH)) {
      const { rows } = await tx.query(
        `SELECT DISTINCT name, ${column} AS v FROM ${this.table('_snapshots')} WHERE (name, ${column}) IN (${sqlTuples(batch)})`,
      );
      const used = new Set(rows.map((r) => JSON.stringify([r.name, r.v])));
      const unused = batch.filter((p) => !used.has(JSON.stringify(p)));
      if (unused.length === 0) continue;
      await tx.execute(
        `DELETE FROM ${this.table('_intervals')} WHERE is_dev = ${sqlLiteral(isDev)} AND (name, ${column}) IN (${sqlTuples(unused)})`,
      );
    }
  }

  // ---- environments --------------------------------------------------------------------------

  private environmentValues(env: Environment): string {
    return sqlTuples([[env.name, JSON.stringify(env), env.planId, env.expirationTs]]);
  }

  async upsertEnvironment(
    environment: Environment,
    options: { expectedPlanId?: string | null } = {},
  ): Promise<void> {
    const env = this.table('_environments');
    const columns = '(name, payload, plan_id, expiration_ts)';
    const expected = options.expectedPlanId;
    if (expected === undefined) {
      await this.adapter.execute(
        `INSERT INTO ${env} ${columns} VALUES ${this.environmentValues(environment)} ON CONFLICT (name) DO UPDATE SET payload = EXCLUDED.payload, plan_id = EXCLUDED.plan_id, expiration_ts = EXCLUDED.expiration_ts`,
      );
      return;
    }
    // The check and the write are one statement (a conditional insert or
    // update), so of two racing writers on PostgreSQL the second waits for the
    // first and then matches nothing. DuckDB refuses the second at write or
    // commit time with a conflict, reported the same way.
    try {
      await this.adapter.transaction(async (tx) => {
        const sql =
          expected === null
            ? `INSERT INTO ${env} ${columns} VALUES ${this.environmentValues(environment)} ON CONFLICT (name) DO NOTHING RETURNING name`
            : `UPDATE ${env} SET payload = ${sqlLiteral(JSON.stringify(environment))}, plan_id = ${sqlLiteral(environment.planId)}, expiration_ts = ${sqlLiteral(environment.expirationTs)} WHERE name = ${sqlLiteral(environment.name)} AND plan_id = ${sqlLiteral(expected)} RETURNING name`;
        const { rows } = await tx.query(sql);
        if (rows.length === 0) {
          const found = await this.storedPlanId(tx, environment.name);
          throw new StaleStateError(staleMessage(environment.name, expected, found));
        }
      });
    } catch (err) {
      if (err instanceof StaleStateError || !isWriteConflict(err)) throw err;
      const found = await this.storedPlanId(this.adapter, environment.name);
      throw new StaleStateError(staleMessage(environment.name, expected, found), { cause: err });
    }
  }

  private async storedPlanId(db: EngineAdapter, name: string): Promise<string | undefined> {
    const { rows } = await db.query(
      `SELECT plan_id FROM ${this.table('_environments')} WHERE name = ${sqlLiteral(name)}`,
    );
    return rows[0] ? readString(rows[0].plan_id, '_environments.plan_id') : undefined;
  }

  async getEnvironment(name: string): Promise<Environment | undefined> {
    const { rows } = await this.adapter.query(
      `SELECT payload FROM ${this.table('_environments')} WHERE name = ${sqlLiteral(name)}`,
    );
    return rows[0] ? parseEnvironment(rows[0]) : undefined;
  }

  async getEnvironments(): Promise<Environment[]> {
    const { rows } = await this.adapter.query(
      `SELECT payload FROM ${this.table('_environments')} ORDER BY name`,
    );
    return rows.map(parseEnvironment);
  }

  async getExpiredEnvironments(now: number): Promise<Environment[]> {
    const { rows } = await this.adapter.query(
      `SELECT payload FROM ${this.table('_environments')} WHERE name <> ${sqlLiteral(PROD)} AND expiration_ts IS NOT NULL AND expiration_ts <= ${sqlLiteral(now)} ORDER BY name`,
    );
    return rows.map(parseEnvironment);
  }

  async deleteEnvironment(name: string): Promise<void> {
    await this.adapter.execute(
      `DELETE FROM ${this.table('_environments')} WHERE name = ${sqlLiteral(name)}`,
    );
  }

  // ---- intervals -----------------------------------------------------------------------------

  /**
   * Records `[start, end)` as holding committed data. `version` names the
   * table written: the snapshot's version, or its dev version when `dev` is set.
   */
  async addInterval(
    id: SnapshotId,
    version: string,
    interval: Interval,
    options: { dev?: boolean } = {},
  ): Promise<void> {
    validateInterval(interval, `addInterval ${id.name}`);
    await this.insertIntervalRow(id, version, interval, options.dev ?? false, false);
  }

  /**
   * Forgets `[start, end)` for the version (or dev version when `dev` is set),
   * and so for every snapshot sharing it. A later addInterval records it again.
   */
  async removeIntervals(
    id: SnapshotId,
    version: string,
    interval: Interval,
    options: { dev?: boolean } = {},
  ): Promise<void> {
    validateInterval(interval, `removeIntervals ${id.name}`);
    await this.insertIntervalRow(id, version, interval, options.dev ?? false, true);
  }

  private async insertIntervalRow(
    id: SnapshotId,
    version: string,
    [start, end]: Interval,
    isDev: boolean,
    isRemoved: boolean,
  ): Promise<void> {
    let rowVersion = version;
    let devVersion: string | null = null;
    if (isDev) {
      devVersion = version;
      // A dev row also carries the snapshot's own version when state knows it.
      const { rows } = await this.adapter.query(
        `SELECT version FROM ${this.table('_snapshots')} WHERE name = ${sqlLiteral(id.name)} AND identifier = ${sqlLiteral(id.identifier)}`,
      );
      if (rows[0]) rowVersion = readString(rows[0].version, '_snapshots.version');
    }
    const values = sqlTuples([
      [id.name, id.identifier, rowVersion, devVersion, start, end, isDev, isRemoved, this.clock()],
    ]);
    await this.adapter.execute(
      `INSERT INTO ${this.table('_intervals')} (name, identifier, version, dev_version, start_ts, end_ts, is_dev, is_removed, created_ts) VALUES ${values}`,
    );
  }

  /**
   * One entry per requested snapshot whose version state knows (from the
   * stored snapshot, else from interval rows recorded under its id), in the
   * order asked, with empty lists when nothing is recorded.
   */
  async getIntervals(ids: SnapshotId[]): Promise<SnapshotIntervals[]> {
    const unique = dedupeIds(ids);
    const keys = await this.resolveVersions(unique);
    const nonDev = uniquePairs(keys.map((k) => [k.id.name, k.version]));
    const dev = uniquePairs(
      keys.flatMap((k) => (k.devVersion === undefined ? [] : [[k.id.name, k.devVersion]])),
    );
    const intervals = await this.foldIntervals(nonDev, 'version', false);
    const devIntervals = await this.foldIntervals(dev, 'dev_version', true);
    return keys.map((k) => {
      const entry: SnapshotIntervals = {
        name: k.id.name,
        identifier: k.id.identifier,
        version: k.version,
        intervals: intervals.get(JSON.stringify([k.id.name, k.version])) ?? [],
        devIntervals:
          k.devVersion === undefined
            ? []
            : (devIntervals.get(JSON.stringify([k.id.name, k.devVersion])) ?? []),
      };
      if (k.devVersion !== undefined) entry.devVersion = k.devVersion;
      return entry;
    });
  }

  async getVersionIntervals(versions: VersionRef[]): Promise<Map<string, Interval[]>> {
    const pairs = uniquePairs(versions.map((v) => [v.name, v.version]));
    const folded = await this.foldIntervals(pairs, 'version', false);
    const out = new Map<string, Interval[]>();
    for (const [name, version] of pairs) {
      out.set(versionKey({ name, version }), folded.get(JSON.stringify([name, version])) ?? []);
    }
    return out;
  }

  private async resolveVersions(ids: readonly SnapshotId[]): Promise<VersionKeys[]> {
    const found = new Map<string, { version?: string; devVersion?: string; rowVersion?: string }>();
    for (const batch of chunks(ids, IN_BATCH)) {
      const { rows } = await this.adapter.query(
        `SELECT name, identifier, version, dev_version FROM ${this.table('_snapshots')} WHERE (name, identifier) IN (${this.idTuples(batch)})`,
      );
      for (const row of rows) {
        const key = snapshotKey({
          name: readString(row.name, '_snapshots.name'),
          identifier: readString(row.identifier, '_snapshots.identifier'),
        });
        const devVersion = readOptionalString(row.dev_version, '_snapshots.dev_version');
        found.set(key, {
          version: readString(row.version, '_snapshots.version'),
          ...(devVersion === undefined ? {} : { devVersion }),
        });
      }
    }
    const unknown = ids.filter((id) => !found.has(snapshotKey(id)));
    for (const batch of chunks(unknown, IN_BATCH)) {
      const { rows } = await this.adapter.query(
        `SELECT name, identifier, version, dev_version, is_dev FROM ${this.table('_intervals')} WHERE (name, identifier) IN (${this.idTuples(batch)}) ORDER BY id`,
      );
      for (const row of rows) {
        const key = snapshotKey({
          name: readString(row.name, '_intervals.name'),
          identifier: readString(row.identifier, '_intervals.identifier'),
        });
        const entry = found.get(key) ?? {};
        const version = readString(row.version, '_intervals.version');
        if (readBoolean(row.is_dev)) {
          entry.devVersion = readOptionalString(row.dev_version, '_intervals.dev_version');
          entry.rowVersion = version;
        } else {
          entry.version = version;
        }
        found.set(key, entry);
      }
    }
    const out: VersionKeys[] = [];
    for (const id of ids) {
      const entry = found.get(snapshotKey(id));
      const version = entry?.version ?? entry?.rowVersion;
      if (version === undefined) continue;
      out.push({ id, version, devVersion: entry?.devVersion });
    }
    return out;
  }

  /** Folds interval rows in insertion order per (name, version) or (name, dev version). */
  private async foldIntervals(
    pairs: Array<[string, string]>,
    column: 'version' | 'dev_version',
    isDev: boolean,
  ): Promise<Map<string, Interval[]>> {
    const out = new Map<string, Interval[]>();
    for (const batch of chunks(pairs, IN_BATCH)) {
      const { rows } = await this.adapter.query(
        `SELECT name, ${column} AS v, start_ts, end_ts, is_removed FROM ${this.table('_intervals')} WHERE is_dev = ${sqlLiteral(isDev)} AND (name, ${column}) IN (${sqlTuples(batch)}) ORDER BY id`,
      );
      for (const row of rows) {
        const key = JSON.stringify([row.name, row.v]);
        const interval: Interval = [
          readNumber(row.start_ts, '_intervals.start_ts'),
          readNumber(row.end_ts, '_intervals.end_ts'),
        ];
        const current = out.get(key) ?? [];
        if (readBoolean(row.is_removed)) out.set(key, removeInterval(current, interval));
        else {
          current.push(interval);
          out.set(key, current);
        }
      }
    }
    for (const [key, list] of out) out.set(key, mergeIntervals(list));
    return out;
  }

  // ---- plans ---------------------------------------------------------------------------------

  /** Records a plan, or replaces the record of a plan with the same id (status changes). */
  async recordPlan(plan: PlanRecord): Promise<void> {
    const values = sqlTuples([
      [
        plan.id,
        plan.environment,
        plan.status,
        JSON.stringify(plan),
        plan.createdTs,
        plan.updatedTs,
      ],
    ]);
    await this.adapter.execute(
      `INSERT INTO ${this.table('_plans')} (id, environment, status, payload, created_ts, updated_ts) VALUES ${values} ON CONFLICT (id) DO UPDATE SET environment = EXCLUDED.environment, status = EXCLUDED.status, payload = EXCLUDED.payload, created_ts = EXCLUDED.created_ts, updated_ts = EXCLUDED.updated_ts`,
    );
  }

  async getPlan(id: string): Promise<PlanRecord | undefined> {
    const { rows } = await this.adapter.query(
      `SELECT payload FROM ${this.table('_plans')} WHERE id = ${sqlLiteral(id)}`,
    );
    return rows[0] ? parsePlan(rows[0]) : undefined;
  }

  /** Plans, newest first, optionally of one environment and at most `limit` of them. */
  async listPlans(options: { environment?: string; limit?: number } = {}): Promise<PlanRecord[]> {
    const { environment, limit } = options;
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
      throw new TidelineError(`listPlans: limit ${String(limit)} must be a whole number >= 0`);
    }
    const where =
      environment === undefined ? '' : ` WHERE environment = ${sqlLiteral(environment)}`;
    const limitSql = limit === undefined ? '' : ` LIMIT ${sqlLiteral(limit)}`;
    const { rows } = await this.adapter.query(
      `SELECT payload FROM ${this.table('_plans')}${where} ORDER BY created_ts DESC, id DESC${limitSql}`,
    );
    return rows.map(parsePlan);
  }

  async close(): Promise<void> {
    if (this.ownsAdapter) await this.adapter.close();
  }
}

function duplicateSnapshotsError(existing: Set<string>, cause?: unknown): TidelineError {
  const list = [...existing];
  const shown = list.slice(0, 3).join(', ');
  const more = list.length > 3 ? ` and ${list.length - 3} more` : '';
  return new TidelineError(
    `snapshots already in state: ${shown}${more}; a stored snapshot cannot be pushed again`,
    cause === undefined ? undefined : { cause },
  );
}

function parseEnvironment(row: Row): Environment {
  return JSON.parse(readString(row.payload, '_environments.payload')) as Environment;
}

function parsePlan(row: Row): PlanRecord {
  return JSON.parse(readString(row.payload, '_plans.payload')) as PlanRecord;
}
