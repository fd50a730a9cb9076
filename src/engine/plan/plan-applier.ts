/**
 * Applies a plan to one warehouse: stores its new snapshots, creates their
 * physical tables, backfills the missing intervals, points the environment's
 * views at the tables, and finalizes the environment.
 *
 * Every step can be repeated: a plan cut short anywhere and planned again
 * finds its tables and recorded intervals and only does what is left.
 */
import { EngineError } from '../errors.js';
import type { SnapshotEvaluator } from '../evaluate/snapshot-evaluator.js';
import type { StateSync } from '../state/state-sync.js';
import { StaleStateError, snapshotKey } from '../state/state-sync.js';
import { PROD } from '../snapshot/table-naming.js';
import type { Environment, Snapshot } from '../snapshot/snapshot-types.js';
import { toTimestamp } from '../time/index.js';
import { tableInfo } from './plan-builder.js';
import type { Plan } from './plan-types.js';
import { firstInsertTracker } from './first-insert.js';
import { executeBackfill, type BackfillEvent, type BackfillResult } from './scheduler.js';

export type ApplyStage = 'snapshots' | 'tables' | 'backfill' | 'promote' | 'finalize';

export type ApplyEvent =
  | { type: 'stage'; stage: ApplyStage }
  | { type: 'tables'; done: number; total: number }
  | { type: 'note'; message: string }
  | BackfillEvent;

export interface ApplyPlanOptions {
  state: StateSync;
  evaluator: SnapshotEvaluator;
  /** Snapshots evaluated at the same time (the connection's concurrent_tasks). */
  concurrency: number;
  /** Current time, epoch ms. */
  clock: () => number;
  /** How long a non-prod environment lives after its last plan (`environment_ttl`). */
  environmentTtl?: string;
  onEvent?(event: ApplyEvent): void;
  signal?: AbortSignal;
  createdBy?: string;
}

export interface ApplyResult {
  status: 'succeeded' | 'failed';
  backfill: BackfillResult;
  error?: string;
}

const DEFAULT_ENVIRONMENT_TTL = 'in 1 week';

function summaryOf(plan: Plan): Record<string, unknown> {
  const count = (type: string) => plan.changes.filter((c) => c.type === type).length;
  return {
    added: count('added'),
    removed: count('removed'),
    directlyModified: count('directly_modified'),
    indirectlyModified: count('indirectly_modified'),
    metadata: count('metadata'),
    backfillModels: plan.backfill.length,
    backfillBatches: plan.backfill.reduce((n, b) => n + b.batches.length, 0),
    start: plan.start,
    end: plan.end,
    executionTime: plan.executionTime,
    options: plan.options,
  };
}

export async function applyPlan(plan: Plan, options: ApplyPlanOptions): Promise<ApplyResult> {
  const { state, evaluator } = options;
  const emit = (event: ApplyEvent) => options.onEvent?.(event);
  const current = await state.getEnvironment(plan.environment);
  const currentPlanId = current?.planId ?? null;
  if (currentPlanId !== plan.expectedPlanId && currentPlanId !== plan.id) {
    throw new StaleStateError(
      `environment ${JSON.stringify(plan.environment)} changed since this plan was made; run plan again`,
    );
  }
  const record = async (status: 'applying' | 'succeeded' | 'failed', error?: string) =>
    state.recordPlan({
      id: plan.id,
      environment: plan.environment,
      status,
      createdTs: plan.createdTs,
      updatedTs: options.clock(),
      ...(options.createdBy ? { createdBy: options.createdBy } : {}),
      summary: summaryOf(plan),
      ...(error ? { error } : {}),
    });
  await record('applying');

  const byName = new Map<string, Snapshot>(plan.snapshots.map((s) => [s.name, s]));
  const empty: BackfillResult = { evaluations: 0, completed: [], failed: [], skipped: [] };
  try {
    emit({ type: 'stage', stage: 'snapshots' });
    const exists = await state.snapshotsExist(plan.newSnapshots);
    const fresh = plan.newSnapshots.filter((s) => !exists.has(snapshotKey(s)));
    if (fresh.length > 0) await state.pushSnapshots(fresh);
    for (const r of plan.restatements) {
      await state.removeIntervals(
        { name: r.name, identifier: r.identifier },
        r.version,
        r.interval,
      );
    }

    emit({ type: 'stage', stage: 'tables' });
    let made = 0;
    for (const snapshot of plan.snapshots) {
      try {
        await evaluator.createTable(snapshot, byName, plan.executionTime);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        throw new EngineError(
          `${snapshot.node.definition.name}: creating its table failed: ${message}`,
          { cause: err },
        );
      }
      emit({ type: 'tables', done: ++made, total: plan.snapshots.length });
    }

    if (plan.environment === PROD) {
      // Forward-only changes keep their table: bring its columns up to date.
      const fresh = new Set(plan.newSnapshots.map((s) => snapshotKey(s)));
      for (const snapshot of plan.snapshots) {
        if (snapshot.changeCategory !== 'forward_only' || !fresh.has(snapshotKey(snapshot)))
          continue;
        for (const note of await evaluator.migrateSchema(snapshot, byName, plan.executionTime)) {
          emit({ type: 'note', message: note });
        }
      }
    }

    emit({ type: 'stage', stage: 'backfill' });
    const firstInsert = await firstInsertTracker(state, plan.backfill);
    const backfill = await executeBackfill({
      items: plan.backfill,
      snapshots: byName,
      concurrency: options.concurrency,
      evaluate: (snapshot, interval) =>
        evaluator.evaluate(snapshot, interval, plan.executionTime, byName, plan.environment, {
          firstInsert: firstInsert(snapshot),
        }),
      record: (snapshot, interval) => state.addInterval(snapshot, snapshot.version, interval),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (backfill.failed.length > 0 || backfill.skipped.length > 0) {
      const first = backfill.failed[0];
      const error = first
        ? `${first.name} failed: ${first.error.message}`
        : `the backfill stopped before ${backfill.skipped.join(', ')}`;
      await record('failed', error);
      return { status: 'failed', backfill, error };
    }

    emit({ type: 'stage', stage: 'promote' });
    const promotedKeys = new Set(plan.promoted);
    const promoted = plan.snapshots.filter((s) => promotedKeys.has(snapshotKey(s)));
    await evaluator.promote(plan.environment, promoted);
    const stillShown = new Set(promoted.map((s) => s.name));
    const hidden = new Set<string>(plan.removed.map((r) => r.name));
    for (const id of current?.promotedSnapshotIds ?? []) {
      if (!stillShown.has(id.name)) hidden.add(id.name);
    }
    await evaluator.demote(plan.environment, [...hidden]);

    emit({ type: 'stage', stage: 'finalize' });
    const finished = options.clock();
    const environment: Environment = {
      name: plan.environment,
      snapshots: plan.snapshots.map((s) =>
        tableInfo(s, evaluator.adapter.tableName(evaluator.physicalTable(s))),
      ),
      startAt: Math.min(plan.start, current?.startAt ?? plan.start),
      planId: plan.id,
      ...(current ? { previousPlanId: current.planId } : {}),
      ...(plan.environment === PROD
        ? {}
        : {
            expirationTs: toTimestamp(options.environmentTtl ?? DEFAULT_ENVIRONMENT_TTL, finished),
          }),
      finalizedTs: finished,
      promotedSnapshotIds: promoted.map((s) => ({ name: s.name, identifier: s.identifier })),
      createdTs: current?.createdTs ?? finished,
      updatedTs: finished,
    };
    await state.upsertEnvironment(environment, {
      expectedPlanId: current ? current.planId : null,
    });
    if (plan.environment === PROD) {
      const unpause = plan.snapshots.filter((s) => s.unpausedTs === undefined);
      const stored = await state.getSnapshots(unpause);
      const updates = [...stored.values()]
        .filter((s) => s.unpausedTs === undefined)
        .map((s) => ({ ...s, unpausedTs: finished, updatedTs: finished }));
      if (updates.length > 0) await state.updateSnapshots(updates);
    }
    await record('succeeded');
    return { status: 'succeeded', backfill };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    await record('failed', message).catch(() => undefined);
    if (err instanceof StaleStateError) throw err;
    return { status: 'failed', backfill: empty, error: message };
  }
}
