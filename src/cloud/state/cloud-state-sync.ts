/**
 * The engine's StateSync for one project, kept in the cloud's store (tables
 * `snapshots`, `environments`, `intervals` and `plans`, every row carrying
 * the project's id). It behaves as the warehouse's state does:
 *
 * - snapshots are stored once; pushing a stored one again is an error;
 * - intervals are an append-only log of added and removed `[start, end)` rows,
 *   folded in insertion order, so an interval added after a removal counts
 *   again; non-dev rows are shared by every snapshot with the same name and
 *   version, dev rows by the same name and dev version;
 * - deleting snapshots drops the interval rows of versions no snapshot uses;
 * - environments are written optimistically: with `expectedPlanId`, the check
 *   and the write are one statement, so of two racing writers one wins and
 *   the other gets a StaleStateError.
 *
 * The store's schema is migrated when the store opens, so `migrate()` only
 * checks that the project exists.
 */
import {
  chunks,
  dedupeIds,
  setOptional,
  staleMessage,
  uniquePairs,
  validateInterval,
} from '../../engine/state/state-helpers.js';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { TidelineError } from '../../engine/errors.js';
import type {
  Environment,
  Interval,
  PlanRecord,
  Snapshot,
  SnapshotId,
  SnapshotIntervals,
} from '../../engine/snapshot/snapshot-types.js';
import {
  StaleStateError,
  snapshotKey,
  versionKey,
  type SnapshotSummary,
  type StateSync,
  type StateVersions,
  type VersionRef,
} from '../../engine/state/state-sync.js';
import { mergeIntervals, removeInterval } from '../../engine/time/intervals.js';
import type { CloudClock } from '../context.js';
import type { Store } from '../store/database.js';
import { STORE_SCHEMA_VERSION } from '../store/migrations.js';
import type { DB } from '../store/schema.js';
import { packageVersion } from './package-version.js';

/** The environment that never expires. */
const PROD = 'prod';
/** Pairs per `IN (VALUES ...)` list (two parameters each). */
const IN_BATCH = 400;
/** Snapshot rows per INSERT (eight parameters each). */
const INSERT_ROWS = 200;

/** A snapshot that is already stored was pushed again. */
export class DuplicateSnapshotsError extends TidelineError {
  override name = 'DuplicateSnapshotsError';
  constructor(
    readonly keys: string[],
    options?: { cause?: unknown },
  ) {
    const shown = keys.slice(0, 3).join(', ');
    const more = keys.length > 3 ? ` and ${keys.length - 3} more` : '';
    super(
      `snapshots already in state: ${shown}${more}; a stored snapshot cannot be pushed again`,
      options,
    );
  }
}

/** An update names a snapshot that is not stored. */
export class MissingSnapshotError extends TidelineError {
  override name = 'MissingSnapshotError';
}

/** A plan id recorded by another project. */
export class PlanIdTakenError extends TidelineError {
  override name = 'PlanIdTakenError';
}

export interface CloudStateSyncOptions {
  /** Current time for created/updated columns; default the machine's clock. */
  clock?: CloudClock;
  /**
   * The `db` given is already a transaction (a write under a lease checked in
   * it): work runs in it instead of opening transactions of its own.
   */
  inTransaction?: boolean;
}

interface VersionKeys {
  id: SnapshotId;
  version: string;
  devVersion: string | undefined;
}

/** True when an error (or one of its causes) is a duplicate key or a write-write conflict. */
function isWriteConflict(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === '23505' || code === '40001' || code === '40P01') return true;
    if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** `(a, b) IN (VALUES (?, ?), ...)`: a row-value membership test both stores understand. */
function pairIn(
  first: string,
  second: string,
  pairs: ReadonlyArray<readonly [string, string]>,
): RawBuilder<boolean> {
  const values = sql.join(pairs.map(([a, b]) => sql`(${a}, ${b})`));
  return sql<boolean>`(${sql.ref(first)}, ${sql.ref(second)}) IN (VALUES ${values})`;
}

function idPairs(ids: readonly SnapshotId[]): Array<[string, string]> {
  return ids.map((id) => [id.name, id.identifier]);
}

function parsePlanRow(row: {
  id: string;
  environment: string;
  status: PlanRecord['status'];
  summary: string;
  created_by: string | null;
  created_ts: number;
  updated_ts: number;
  error: string | null;
}): PlanRecord {
  return {
    id: row.id,
    environment: row.environment,
    status: row.status,
    createdTs: Number(row.created_ts),
    updatedTs: Number(row.updated_ts),
    ...(row.created_by === null ? {} : { createdBy: row.created_by }),
    summary: JSON.parse(row.summary) as Record<string, unknown>,
    ...(row.error === null ? {} : { error: row.error }),
  };
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

export class CloudStateSync implements StateSync {
  private readonly db: Kysely<DB>;
  private readonly clock: CloudClock;
  private readonly inTransaction: boolean;

  constructor(
    store: Store | { db: Kysely<DB> },
    readonly projectId: string,
    options: CloudStateSyncOptions = {},
  ) {
    this.db = store.db;
    this.clock = options.clock ?? { now: () => Date.now() };
    this.inTransaction = options.inTransaction ?? false;
  }

  private async transaction<T>(fn: (tx: Kysely<DB>) => Promise<T>): Promise<T> {
    if (this.inTransaction) return await fn(this.db);
    return await this.db.transaction().execute(fn);
  }

  private now(): number {
    return this.clock.now();
  }

  // ---- versions ------------------------------------------------------------------------------

  async getVersions(): Promise<StateVersions> {
    return { schemaVersion: STORE_SCHEMA_VERSION, tidelineVersion: packageVersion() };
  }

  /** The store migrates when it opens; this only checks that the project exists. */
  async migrate(): Promise<void> {
    const row = await this.db
      .selectFrom('projects')
      .select('id')
      .where('id', '=', this.projectId)
      .executeTakeFirst();
    if (!row) throw new TidelineError(`no project with id ${this.projectId} in the cloud store`);
  }

  // ---- snapshots -----------------------------------------------------------------------------

  private async readSnapshots(
    db: Kysely<DB>,
    ids: readonly SnapshotId[],
  ): Promise<Map<string, Snapshot>> {
    const out = new Map<string, Snapshot>();
    for (const batch of chunks(dedupeIds(ids), IN_BATCH)) {
      const rows = await db
        .selectFrom('snapshots')
        .select(['name', 'identifier', 'payload'])
        .where('project_id', '=', this.projectId)
        .where(pairIn('name', 'identifier', idPairs(batch)))
        .execute();
      for (const row of rows) {
        out.set(
          snapshotKey({ name: row.name, identifier: row.identifier }),
          JSON.parse(row.payload) as Snapshot,
        );
      }
    }
    return out;
  }

  async getSnapshots(ids: SnapshotId[]): Promise<Map<string, Snapshot>> {
    return await this.readSnapshots(this.db, ids);
  }

  async snapshotsExist(ids: SnapshotId[]): Promise<Set<string>> {
    return await this.existingSnapshots(this.db, ids);
  }

  private async existingSnapshots(
    db: Kysely<DB>,
    ids: readonly SnapshotId[],
  ): Promise<Set<string>> {
    const out = new Set<string>();
    for (const batch of chunks(dedupeIds(ids), IN_BATCH)) {
      const rows = await db
        .selectFrom('snapshots')
        .select(['name', 'identifier'])
        .where('project_id', '=', this.projectId)
        .where(pairIn('name', 'identifier', idPairs(batch)))
        .execute();
      for (const row of rows) out.add(snapshotKey(row));
    }
    return out;
  }

  async listSnapshotSummaries(): Promise<SnapshotSummary[]> {
    const rows = await this.db
      .selectFrom('snapshots')
      .select(['name', 'identifier', 'version', 'updated_ts', 'payload'])
      .where('project_id', '=', this.projectId)
      .orderBy('name')
      .orderBy('identifier')
      .execute();
    return rows.map((row) => {
      const s = JSON.parse(row.payload) as Snapshot;
      return {
        name: row.name,
        identifier: row.identifier,
        version: row.version,
        kind: s.node.definition.kind.name,
        ttl: s.ttl,
        updatedTs: Number(row.updated_ts),
      };
    });
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
    const now = this.now();
    const rows = snapshots.map((s) => ({
      project_id: this.projectId,
      name: s.name,
      identifier: s.identifier,
      version: s.version,
      dev_version: s.devVersion ?? null,
      payload: JSON.stringify(s),
      created_ts: now,
      updated_ts: now,
    }));
    let refused: DuplicateSnapshotsError | undefined;
    try {
      await this.transaction(async (tx) => {
        const existing = await this.existingSnapshots(tx, snapshots);
        if (existing.size > 0) throw (refused = new DuplicateSnapshotsError([...existing]));
        for (const batch of chunks(rows, INSERT_ROWS)) {
          await tx.insertInto('snapshots').values(batch).execute();
        }
      });
    } catch (err) {
      // A concurrent push of the same snapshot loses on the primary key.
      if (err !== refused && isWriteConflict(err)) {
        const existing = await this.existingSnapshots(this.db, snapshots);
        if (existing.size > 0) throw new DuplicateSnapshotsError([...existing], { cause: err });
      }
      throw err;
    }
  }

  async updateSnapshots(snapshots: Snapshot[]): Promise<void> {
    if (snapshots.length === 0) return;
    const now = this.now();
    await this.transaction(async (tx) => {
      const stored = await this.readSnapshots(tx, snapshots);
      for (const s of snapshots) {
        const current = stored.get(snapshotKey(s));
        if (!current) {
          throw new MissingSnapshotError(
            `snapshot ${s.name} (${s.identifier}) is not in state; push it before updating it`,
          );
        }
        const updated: Snapshot = { ...current };
        setOptional(updated, 'changeCategory', s.changeCategory);
        setOptional(updated, 'unpausedTs', s.unpausedTs);
        setOptional(updated, 'devVersion', s.devVersion);
        updated.updatedTs = s.updatedTs;
        await tx
          .updateTable('snapshots')
          .set({
            payload: JSON.stringify(updated),
            dev_version: updated.devVersion ?? null,
            updated_ts: now,
          })
          .where('project_id', '=', this.projectId)
          .where('name', '=', s.name)
          .where('identifier', '=', s.identifier)
          .execute();
      }
    });
  }

  /**
   * Deletes the snapshots, and the interval rows of every version (and dev
   * version) that no remaining snapshot uses: a version recreated later
   * starts with no recorded data.
   */
  async deleteSnapshots(ids: SnapshotId[]): Promise<void> {
    const unique = dedupeIds(ids);
    if (unique.length === 0) return;
    await this.transaction(async (tx) => {
      const versions = new Map<string, [string, string]>();
      const devVersions = new Map<string, [string, string]>();
      for (const batch of chunks(unique, IN_BATCH)) {
        const rows = await tx
          .selectFrom('snapshots')
          .select(['name', 'version', 'dev_version'])
          .where('project_id', '=', this.projectId)
          .where(pairIn('name', 'identifier', idPairs(batch)))
          .execute();
        for (const row of rows) {
          versions.set(JSON.stringify([row.name, row.version]), [row.name, row.version]);
          if (row.dev_version !== null) {
            devVersions.set(JSON.stringify([row.name, row.dev_version]), [
              row.name,
              row.dev_version,
            ]);
          }
        }
        await tx
          .deleteFrom('snapshots')
          .where('project_id', '=', this.projectId)
          .where(pairIn('name', 'identifier', idPairs(batch)))
          .execute();
      }
      await this.deleteUnusedIntervals(tx, [...versions.values()], 'version', false);
      await this.deleteUnusedIntervals(tx, [...devVersions.values()], 'dev_version', true);
    });
  }

  private async deleteUnusedIntervals(
    tx: Kysely<DB>,
    pairs: Array<[string, string]>,
    column: 'version' | 'dev_version',
    isDev: boolean,
  ): Promise<void> {
    for (const batch of chunks(pairs, IN_BATCH)) {
      const rows = await tx
        .selectFrom('snapshots')
        .select(['name', `${column} as v`])
        .distinct()
        .where('project_id', '=', this.projectId)
        .where(pairIn('name', column, batch))
        .execute();
      const used = new Set(rows.map((r) => JSON.stringify([r.name, r.v])));
      const unused = batch.filter((p) => !used.has(JSON.stringify(p)));
      if (unused.length === 0) continue;
      await tx
        .deleteFrom('intervals')
        .where('project_id', '=', this.projectId)
        .where('is_dev', '=', isDev ? 1 : 0)
        .where(pairIn('name', column, unused))
        .execute();
    }
  }

  // ---- environments --------------------------------------------------------------------------

  async upsertEnvironment(
    environment: Environment,
    options: { expectedPlanId?: string | null } = {},
  ): Promise<void> {
    const now = this.now();
    const payload = JSON.stringify(environment);
    const row = {
      project_id: this.projectId,
      name: environment.name,
      payload,
      plan_id: environment.planId,
      expiration_ts: environment.expirationTs ?? null,
      created_ts: now,
      updated_ts: now,
    };
    const expected = options.expectedPlanId;
    if (expected === undefined) {
      await this.db
        .insertInto('environments')
        .values(row)
        .onConflict((oc) =>
          oc.columns(['project_id', 'name']).doUpdateSet({
            payload,
            plan_id: environment.planId,
            expiration_ts: environment.expirationTs ?? null,
            updated_ts: now,
          }),
        )
        .execute();
      return;
    }
    // The check and the write are one statement, so of two racing writers on
    // PostgreSQL the second waits for the first and then matches nothing; on
    // SQLite writes are serialized anyway.
    try {
      const written =
        expected === null
          ? await this.db
              .insertInto('environments')
              .values(row)
              .onConflict((oc) => oc.columns(['project_id', 'name']).doNothing())
              .returning('name')
              .execute()
          : await this.db
              .updateTable('environments')
              .set({
                payload,
                plan_id: environment.planId,
                expiration_ts: environment.expirationTs ?? null,
                updated_ts: now,
              })
              .where('project_id', '=', this.projectId)
              .where('name', '=', environment.name)
              .where('plan_id', '=', expected)
              .returning('name')
              .execute();
      if (written.length === 0) {
        const found = await this.storedPlanId(environment.name);
        throw new StaleStateError(staleMessage(environment.name, expected, found));
      }
    } catch (err) {
      if (err instanceof StaleStateError || !isWriteConflict(err)) throw err;
      const found = await this.storedPlanId(environment.name);
      throw new StaleStateError(staleMessage(environment.name, expected, found), { cause: err });
    }
  }

  private async storedPlanId(name: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('environments')
      .select('plan_id')
      .where('project_id', '=', this.projectId)
      .where('name', '=', name)
      .executeTakeFirst();
    return row?.plan_id;
  }

  async getEnvironment(name: string): Promise<Environment | undefined> {
    const row = await this.db
      .selectFrom('environments')
      .select('payload')
      .where('project_id', '=', this.projectId)
      .where('name', '=', name)
      .executeTakeFirst();
    return row ? (JSON.parse(row.payload) as Environment) : undefined;
  }

  async getEnvironments(): Promise<Environment[]> {
    const rows = await this.db
      .selectFrom('environments')
      .select('payload')
      .where('project_id', '=', this.projectId)
      .orderBy('name')
      .execute();
    return rows.map((r) => JSON.parse(r.payload) as Environment);
  }

  async getExpiredEnvironments(now: number): Promise<Environment[]> {
    const rows = await this.db
      .selectFrom('environments')
      .select('payload')
      .where('project_id', '=', this.projectId)
      .where('name', '<>', PROD)
      .where('expiration_ts', 'is not', null)
      .where('expiration_ts', '<=', now)
      .orderBy('name')
      .execute();
    return rows.map((r) => JSON.parse(r.payload) as Environment);
  }

  async deleteEnvironment(name: string): Promise<void> {
    await this.db
      .deleteFrom('environments')
      .where('project_id', '=', this.projectId)
      .where('name', '=', name)
      .execute();
  }

  // ---- intervals -----------------------------------------------------------------------------

  async addInterval(
    id: SnapshotId,
    version: string,
    interval: Interval,
    options: { dev?: boolean } = {},
  ): Promise<void> {
    validateInterval(interval, `addInterval ${id.name}`);
    await this.insertIntervalRow(id, version, interval, options.dev ?? false, false);
  }

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
      const row = await this.db
        .selectFrom('snapshots')
        .select('version')
        .where('project_id', '=', this.projectId)
        .where('name', '=', id.name)
        .where('identifier', '=', id.identifier)
        .executeTakeFirst();
      if (row) rowVersion = row.version;
    }
    await this.db
      .insertInto('intervals')
      .values({
        project_id: this.projectId,
        name: id.name,
        identifier: id.identifier,
        version: rowVersion,
        dev_version: devVersion,
        start_ts: start,
        end_ts: end,
        is_dev: isDev ? 1 : 0,
        is_removed: isRemoved ? 1 : 0,
        created_ts: this.now(),
      })
      .execute();
  }

  /**
   * One entry per requested snapshot whose version state knows (from the
   * stored snapshot, else from interval rows recorded under its id), in the
   * order asked, with empty lists when nothing is recorded.
   */
  async getIntervals(ids: SnapshotId[]): Promise<SnapshotIntervals[]> {
    const keys = await this.resolveVersions(dedupeIds(ids));
    const nonDev = uniquePairs(keys.map((k) => [k.id.name, k.version] as const));
    const dev = uniquePairs(
      keys.flatMap((k) => (k.devVersion === undefined ? [] : [[k.id.name, k.devVersion] as const])),
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
    const pairs = uniquePairs(versions.map((v) => [v.name, v.version] as const));
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
      const rows = await this.db
        .selectFrom('snapshots')
        .select(['name', 'identifier', 'version', 'dev_version'])
        .where('project_id', '=', this.projectId)
        .where(pairIn('name', 'identifier', idPairs(batch)))
        .execute();
      for (const row of rows) {
        found.set(snapshotKey(row), {
          version: row.version,
          ...(row.dev_version === null ? {} : { devVersion: row.dev_version }),
        });
      }
    }
    const unknown = ids.filter((id) => !found.has(snapshotKey(id)));
    for (const batch of chunks(unknown, IN_BATCH)) {
      const rows = await this.db
        .selectFrom('intervals')
        .select(['name', 'identifier', 'version', 'dev_version', 'is_dev'])
        .where('project_id', '=', this.projectId)
        .where(pairIn('name', 'identifier', idPairs(batch)))
        .orderBy('id')
        .execute();
      for (const row of rows) {
        const key = snapshotKey(row);
        const entry = found.get(key) ?? {};
        if (Number(row.is_dev) !== 0) {
          if (row.dev_version === null) delete entry.devVersion;
          else entry.devVersion = row.dev_version;
          entry.rowVersion = row.version;
        } else {
          entry.version = row.version;
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
      const rows = await this.db
        .selectFrom('intervals')
        .select(['name', `${column} as v`, 'start_ts', 'end_ts', 'is_removed'])
        .where('project_id', '=', this.projectId)
        .where('is_dev', '=', isDev ? 1 : 0)
        .where(pairIn('name', column, batch))
        .orderBy('id')
        .execute();
      for (const row of rows) {
        const key = JSON.stringify([row.name, row.v]);
        const interval: Interval = [Number(row.start_ts), Number(row.end_ts)];
        const current = out.get(key) ?? [];
        if (Number(row.is_removed) !== 0) out.set(key, removeInterval(current, interval));
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

  /**
   * Records a plan, or updates the record of a plan with the same id (status
   * changes). The first recorded submitter (`createdBy`) and start are kept.
   * A plan submitted to the cloud (it has a stored `payload`) keeps what the
   * submission recorded (environment, creation time, summary): only its
   * status, error and times change.
   */
  async recordPlan(plan: PlanRecord): Promise<void> {
    const started = plan.status === 'applying' ? plan.updatedTs : null;
    const finished = TERMINAL.has(plan.status) ? plan.updatedTs : null;
    const summary = JSON.stringify(plan.summary);
    const result = await this.db
      .insertInto('plans')
      .values({
        id: plan.id,
        project_id: this.projectId,
        environment: plan.environment,
        status: plan.status,
        payload: null,
        summary,
        created_by: plan.createdBy ?? null,
        created_ts: plan.createdTs,
        updated_ts: plan.updatedTs,
        started_ts: started,
        finished_ts: finished,
        error: plan.error ?? null,
      })
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet((eb) => ({
            // A submission's facts stay: an apply executor recording the plan only reports progress.
            environment: eb
              .case()
              .when('plans.payload', 'is', null)
              .then(plan.environment)
              .else(eb.ref('plans.environment'))
              .end(),
            status: plan.status,
            summary: eb
              .case()
              .when('plans.payload', 'is', null)
              .then(summary)
              .else(eb.ref('plans.summary'))
              .end(),
            // The submitter stays: an apply executor recording the plan is not its author.
            created_by: eb.fn.coalesce('plans.created_by', eb.val(plan.createdBy ?? null)),
            created_ts: eb
              .case()
              .when('plans.payload', 'is', null)
              .then(plan.createdTs)
              .else(eb.ref('plans.created_ts'))
              .end(),
            updated_ts: plan.updatedTs,
            started_ts: eb.fn.coalesce('plans.started_ts', eb.val(started)),
            finished_ts: finished,
            error: plan.error ?? null,
          }))
          .where('plans.project_id', '=', this.projectId),
      )
      .executeTakeFirst();
    if (Number(result.numInsertedOrUpdatedRows ?? 0) === 0) {
      throw new PlanIdTakenError(
        `plan id ${JSON.stringify(plan.id)} belongs to another project; use a new plan id`,
      );
    }
  }

  async getPlan(id: string): Promise<PlanRecord | undefined> {
    const row = await this.db
      .selectFrom('plans')
      .select([
        'id',
        'environment',
        'status',
        'summary',
        'created_by',
        'created_ts',
        'updated_ts',
        'error',
      ])
      .where('project_id', '=', this.projectId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row ? parsePlanRow(row) : undefined;
  }

  /** Plans, newest first, optionally of one environment and at most `limit` of them. */
  async listPlans(options: { environment?: string; limit?: number } = {}): Promise<PlanRecord[]> {
    const { environment, limit } = options;
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
      throw new TidelineError(`listPlans: limit ${String(limit)} must be a whole number >= 0`);
    }
    let query = this.db
      .selectFrom('plans')
      .select([
        'id',
        'environment',
        'status',
        'summary',
        'created_by',
        'created_ts',
        'updated_ts',
        'error',
      ])
      .where('project_id', '=', this.projectId);
    if (environment !== undefined) query = query.where('environment', '=', environment);
    query = query.orderBy('created_ts', 'desc').orderBy('id', 'desc');
    if (limit !== undefined) query = query.limit(limit);
    return (await query.execute()).map(parsePlanRow);
  }

  async close(): Promise<void> {
    // The store belongs to the caller.
  }
}
