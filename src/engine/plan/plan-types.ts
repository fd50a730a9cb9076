/**
 * A plan: how an environment differs from the project, how each change is
 * categorized, and what applying it will build. Plain JSON, so the cloud can
 * store it and an apply executor can carry it out without the project files.
 */
import type {
  ChangeCategory,
  Interval,
  Snapshot,
  SnapshotTableInfo,
} from '../snapshot/snapshot-types.js';

export type ChangeType =
  'added' | 'removed' | 'directly_modified' | 'indirectly_modified' | 'metadata';

export interface PlanChange {
  /** Canonical name. */
  name: string;
  /** The name as shown to people. */
  displayName: string;
  type: ChangeType;
  category?: ChangeCategory;
  /** True when the category was set by the user rather than found automatically. */
  categoryOverridden?: boolean;
  /** True when the automatic categorizer could not decide (treated as breaking). */
  undecided?: boolean;
  previousIdentifier?: string;
  identifier?: string;
  /** A unified diff of the model's definition, for direct and metadata changes. */
  diff?: string;
  /** For direct changes: the models downstream that change with it. */
  downstream?: string[];
}

/** The intervals one snapshot will evaluate, already split into batches. */
export interface BackfillItem {
  name: string;
  identifier: string;
  version: string;
  /** Batches in order; each is evaluated (and recorded) as one unit. */
  batches: Interval[];
}

export interface PlanOptions {
  forwardOnly: boolean;
  skipBackfill: boolean;
  includeUnmodified: boolean;
  restateModels: string[];
}

export interface Plan {
  id: string;
  environment: string;
  /** The environment the plan diffs against: the target, or prod for a new environment. */
  baseEnvironment?: string;
  isNewEnvironment: boolean;
  /** The target's plan id when the plan was computed (null when it did not exist). */
  expectedPlanId: string | null;
  createdTs: number;
  /** Requested range, epoch ms; end exclusive. */
  start: number;
  end: number;
  executionTime: number;
  options: PlanOptions;
  changes: PlanChange[];
  /** Snapshots the state does not hold yet. */
  newSnapshots: Snapshot[];
  /** Every snapshot of the environment once applied, parents before children. */
  snapshots: Snapshot[];
  /** Identifiers of the snapshots whose views the environment shows (`<name>|<identifier>`). */
  promoted: string[];
  /** Models of the base environment that the project no longer has. */
  removed: SnapshotTableInfo[];
  /** Intervals forgotten before backfilling (`--restate-model`). */
  restatements: Array<{ name: string; identifier: string; version: string; interval: Interval }>;
  backfill: BackfillItem[];
  /** Things the user should know (restatements skipped, ...). */
  warnings: string[];
}

/** True when applying the plan would change anything at all. */
export function planHasWork(plan: Plan): boolean {
  return (
    plan.changes.length > 0 ||
    plan.backfill.some((b) => b.batches.length > 0) ||
    plan.restatements.length > 0 ||
    plan.isNewEnvironment
  );
}
