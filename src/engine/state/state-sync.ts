/**
 * StateSync: where the engine keeps snapshots, environments, intervals and
 * plan records. Implemented on the warehouse (schema `sqlmesh`) for local mode
 * and by the cloud (over HTTP) in cloud mode, so it speaks only in domain types.
 */

import type {
  Environment,
  Interval,
  PlanRecord,
  Snapshot,
  SnapshotId,
  SnapshotIntervals,
} from '../snapshot/snapshot-types.js';

export interface StateVersions {
  /** Version of the state schema (migrations applied). */
  schemaVersion: number;
  /** Version of Tideline that last migrated the state. */
  tidelineVersion: string;
}

/** Thrown when an environment changed since the plan was computed (optimistic concurrency). */
export class StaleStateError extends Error {
  override name = 'StaleStateError';
}

/** A model's table version. */
export interface VersionRef {
  name: string;
  version: string;
}

/** The key of {@link StateReader.getVersionIntervals}' map. */
export function versionKey(ref: VersionRef): string {
  return `${ref.name}|${ref.version}`;
}

/** A stored snapshot in brief. */
export interface SnapshotSummary {
  name: string;
  identifier: string;
  version: string;
  /** The model kind's name (`FULL`, `VIEW`, ...). */
  kind: string;
  /** How long the snapshot is kept once no environment uses it, e.g. "in 1 week". */
  ttl: string;
  updatedTs: number;
}

export interface StateReader {
  getVersions(): Promise<StateVersions>;
  /** Snapshots by id; missing ids are absent from the map (keyed by `name|identifier`). */
  getSnapshots(ids: SnapshotId[]): Promise<Map<string, Snapshot>>;
  /** Which of the ids are stored. */
  snapshotsExist(ids: SnapshotId[]): Promise<Set<string>>;
  getEnvironment(name: string): Promise<Environment | undefined>;
  getEnvironments(): Promise<Environment[]>;
  /** Recorded intervals for the given snapshots' versions. */
  getIntervals(ids: SnapshotId[]): Promise<SnapshotIntervals[]>;
  /**
   * Recorded (non-dev) intervals by table version, keyed `name|version`:
   * what a snapshot not stored yet will find when it reuses a version.
   */
  getVersionIntervals(versions: VersionRef[]): Promise<Map<string, Interval[]>>;
  getPlan(id: string): Promise<PlanRecord | undefined>;
  listPlans(options?: { environment?: string; limit?: number }): Promise<PlanRecord[]>;
  /** Every stored snapshot, briefly: enough for the janitor to find unused ones. */
  listSnapshotSummaries(): Promise<SnapshotSummary[]>;
  /** Environments whose expiration time is at or before `now`. */
  getExpiredEnvironments(now: number): Promise<Environment[]>;
}

export interface StateSync extends StateReader {
  /** Creates or upgrades the state schema; safe to call on every start. */
  migrate(): Promise<void>;
  /** Stores new snapshots; storing a snapshot that exists already is an error. */
  pushSnapshots(snapshots: Snapshot[]): Promise<void>;
  /** Updates mutable snapshot fields: changeCategory, unpausedTs, updatedTs, devVersion. */
  updateSnapshots(snapshots: Snapshot[]): Promise<void>;
  deleteSnapshots(ids: SnapshotId[]): Promise<void>;
  /**
   * Writes an environment. When `expectedPlanId` is given, the stored
   * environment's planId must equal it (or the environment must not exist when
   * it is null), else StaleStateError.
   */
  upsertEnvironment(
    environment: Environment,
    options?: { expectedPlanId?: string | null },
  ): Promise<void>;
  deleteEnvironment(name: string): Promise<void>;
  /**
   * Records that [start, end) of a snapshot's table holds committed data.
   * `version` names the table written: the snapshot's version, or its dev
   * version when `dev` is set.
   */
  addInterval(
    id: SnapshotId,
    version: string,
    interval: Interval,
    options?: { dev?: boolean },
  ): Promise<void>;
  /** Forgets intervals (restatement), for every snapshot sharing the version. */
  removeIntervals(
    id: SnapshotId,
    version: string,
    interval: Interval,
    options?: { dev?: boolean },
  ): Promise<void>;
  recordPlan(plan: PlanRecord): Promise<void>;
  close(): Promise<void>;
}

/** The key used in maps of snapshots. */
export function snapshotKey(id: SnapshotId): string {
  return `${id.name}|${id.identifier}`;
}
