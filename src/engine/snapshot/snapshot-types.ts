/**
 * Snapshots: a model at one version of its definition.
 *
 * A snapshot's fingerprint has four hashes. The data hash covers what changes
 * the model's data (query, kind and its properties, columns, pre/post
 * statements, macros used, seed contents); the metadata hash covers the rest
 * (cron, owner, audits, ...). The parent hashes combine the parents' hashes.
 * The snapshot's identifier hashes the whole fingerprint; its version, which
 * names its physical table, comes from the data hashes only, so a
 * metadata-only change keeps the table.
 */

import type { AuditDefinition, JinjaMacroFile, ModelDefinition } from '../model-types.js';

export interface SnapshotFingerprint {
  dataHash: string;
  metadataHash: string;
  parentDataHash: string;
  parentMetadataHash: string;
}

/** Identifies a snapshot: the model's canonical name and the fingerprint's hash. */
export interface SnapshotId {
  name: string;
  identifier: string;
}

export type ChangeCategory =
  | 'breaking'
  | 'non_breaking'
  | 'forward_only'
  | 'indirect_breaking'
  | 'indirect_non_breaking'
  | 'metadata';

/** A half-open time range [start, end) in epoch milliseconds. */
export type Interval = [start: number, end: number];

/** Everything needed to evaluate a model away from its project files. */
export interface SnapshotNode {
  definition: ModelDefinition;
  /** The query as written, Jinja and macros included (rendered per interval at run time). */
  querySource?: string;
  /** Seed rows as CSV text, for SEED models (so an executor needs no project files). */
  seedCsv?: string;
  /** Canonical names of the models this one reads. */
  dependencies: string[];
  /** Project variables visible to the model. */
  variables: Record<string, unknown>;
  /** The catalog unqualified names in the query belong to. */
  defaultCatalog: string;
  /** The Jinja macro files the model calls (so it renders without the project's files). */
  jinjaMacros?: JinjaMacroFile[];
  /**
   * The project audits (audits/*.sql) the model calls, by lower-case name;
   * inline audits are in the definition and built-in ones in the engine.
   */
  audits?: Record<string, AuditDefinition>;
}

export interface Snapshot {
  /** The model's canonical name, `"catalog"."schema"."table"`. */
  name: string;
  identifier: string;
  fingerprint: SnapshotFingerprint;
  /** Names the physical table; shared by snapshots whose data is the same. */
  version: string;
  /** Set for forward-only changes previewed in a dev environment. */
  devVersion?: string;
  changeCategory?: ChangeCategory;
  parents: SnapshotId[];
  node: SnapshotNode;
  /** How long an unused snapshot's table is kept, e.g. "in 1 week". */
  ttl: string;
  createdTs: number;
  updatedTs: number;
  /** When prod started serving this snapshot (undefined while paused). */
  unpausedTs?: number;
}

/** A snapshot as an environment refers to it: enough to build its views. */
export interface SnapshotTableInfo {
  name: string;
  identifier: string;
  version: string;
  devVersion?: string;
  /** Where the physical table lives, e.g. `"db"."sqlmesh__sushi"."sushi__orders__1234"`. */
  physicalTable: string;
  kind: string;
  changeCategory?: ChangeCategory;
  parents: SnapshotId[];
}

export interface Environment {
  name: string;
  snapshots: SnapshotTableInfo[];
  startAt: number;
  endAt?: number;
  planId: string;
  /** The plan this environment was built from before `planId`; used for optimistic concurrency. */
  previousPlanId?: string;
  /** Epoch ms after which the janitor may drop the environment (never for prod). */
  expirationTs?: number;
  /** Set once every view of the environment is in place. */
  finalizedTs?: number;
  /** Snapshots whose views the last promotion updated. */
  promotedSnapshotIds?: SnapshotId[];
  createdTs: number;
  updatedTs: number;
}

/** Recorded intervals of one snapshot version. `dev` marks intervals of a dev (forward-only preview) table. */
export interface SnapshotIntervals {
  name: string;
  identifier: string;
  version: string;
  devVersion?: string;
  intervals: Interval[];
  devIntervals: Interval[];
}

export type PlanStatus = 'pending' | 'applying' | 'succeeded' | 'failed' | 'cancelled';

/** What was planned and what became of it. */
export interface PlanRecord {
  id: string;
  environment: string;
  status: PlanStatus;
  createdTs: number;
  updatedTs: number;
  /** Who asked for it (a user or client id), when known. */
  createdBy?: string;
  /** The plan's summary: changes, backfill range, options. Free-form JSON. */
  summary: Record<string, unknown>;
  error?: string;
}
