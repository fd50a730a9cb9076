/**
 * The engine's StateSync kept by the cloud, reached over its state API
 * (`<project>/api/state/...`). Used by the CLI in cloud mode and by
 * executors (whose client may carry a task's lease, see
 * {@link CloudClient.withLease}).
 *
 * Long lists are sent in parts, so a push of more snapshots than one request
 * holds is stored part by part. Writes that may be retried after a lost
 * answer are reconciled: a retried push whose snapshots are all stored, or a
 * retried environment write that finds its own plan in place, succeeded.
 */
import { chunks } from '../../engine/state/state-helpers.js';
import { isDeepStrictEqual } from 'node:util';
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
import { CloudApiError, type CloudClient } from './cloud-client.js';

/** Ids per read request (answers carry whole snapshots). */
const ID_BATCH = 1_000;
/** Snapshots per push, and a bound on one request's JSON size. */
const PUSH_BATCH = 500;
const PUSH_CHARS = 8 * 1024 * 1024;

function bySize<T>(items: readonly T[], maxItems: number, maxChars: number): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const item of items) {
    const length = JSON.stringify(item).length;
    if (current.length > 0 && (current.length >= maxItems || size + length > maxChars)) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += length;
  }
  if (current.length > 0) out.push(current);
  return out;
}

function ids(list: readonly SnapshotId[]): SnapshotId[] {
  const seen = new Map<string, SnapshotId>();
  for (const id of list) {
    const key = snapshotKey(id);
    if (!seen.has(key)) seen.set(key, { name: id.name, identifier: id.identifier });
  }
  return [...seen.values()];
}

function environmentPath(name: string): string {
  return `/state/environments/${encodeURIComponent(name)}`;
}

export class HttpStateSync implements StateSync {
  constructor(readonly client: CloudClient) {}

  async getVersions(): Promise<StateVersions> {
    return await this.client.get<StateVersions>('/state/versions');
  }

  /** The cloud migrates its own store; this checks that it answers. */
  async migrate(): Promise<void> {
    await this.getVersions();
  }

  // ---- snapshots ----

  async getSnapshots(list: SnapshotId[]): Promise<Map<string, Snapshot>> {
    const out = new Map<string, Snapshot>();
    for (const batch of chunks(ids(list), ID_BATCH)) {
      const res = await this.client.post<{ snapshots: Snapshot[] }>(
        '/state/snapshots/get',
        { ids: batch },
        { idempotent: true },
      );
      for (const s of res.snapshots) out.set(snapshotKey(s), s);
    }
    return out;
  }

  async snapshotsExist(list: SnapshotId[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (const batch of chunks(ids(list), ID_BATCH)) {
      const res = await this.client.post<{ ids: SnapshotId[] }>(
        '/state/snapshots/exist',
        { ids: batch },
        { idempotent: true },
      );
      for (const id of res.ids) out.add(snapshotKey(id));
    }
    return out;
  }

  async listSnapshotSummaries(): Promise<SnapshotSummary[]> {
    return (await this.client.get<{ snapshots: SnapshotSummary[] }>('/state/snapshots/summaries'))
      .snapshots;
  }

  async pushSnapshots(snapshots: Snapshot[]): Promise<void> {
    const seen = new Set<string>();
    for (const s of snapshots) {
      const key = snapshotKey(s);
      if (seen.has(key)) {
        throw new TidelineError(`snapshot ${s.name} (${s.identifier}) is listed twice in one push`);
      }
      seen.add(key);
    }
    for (const batch of bySize(snapshots, PUSH_BATCH, PUSH_CHARS)) {
      let retried = false;
      try {
        await this.client.post(
          '/state/snapshots',
          { snapshots: batch },
          { idempotent: true, onRetry: () => (retried = true) },
        );
      } catch (err) {
        // A lost answer to a push that was stored: the retry finds them all.
        if (retried && err instanceof CloudApiError && err.code === 'snapshot_exists') {
          const stored = await this.snapshotsExist(batch);
          if (stored.size === batch.length) continue;
        }
        throw err;
      }
    }
  }

  async updateSnapshots(snapshots: Snapshot[]): Promise<void> {
    for (const batch of bySize(snapshots, PUSH_BATCH, PUSH_CHARS)) {
      await this.client.post('/state/snapshots/update', { snapshots: batch }, { idempotent: true });
    }
  }

  async deleteSnapshots(list: SnapshotId[]): Promise<void> {
    for (const batch of chunks(ids(list), ID_BATCH)) {
      await this.client.post('/state/snapshots/delete', { ids: batch }, { idempotent: true });
    }
  }

  // ---- environments ----

  async getEnvironment(name: string): Promise<Environment | undefined> {
    const res = await this.client.get<{ environment: Environment | null }>(environmentPath(name));
    return res.environment ?? undefined;
  }

  async getEnvironments(): Promise<Environment[]> {
    return (await this.client.get<{ environments: Environment[] }>('/state/environments'))
      .environments;
  }

  async getExpiredEnvironments(now: number): Promise<Environment[]> {
    const res = await this.client.get<{ environments: Environment[] }>(
      '/state/expired-environments',
      { query: { now } },
    );
    return res.environments;
  }

  async upsertEnvironment(
    environment: Environment,
    options: { expectedPlanId?: string | null } = {},
  ): Promise<void> {
    let retried = false;
    try {
      await this.client.put(
        environmentPath(environment.name),
        {
          environment,
          ...(options.expectedPlanId === undefined
            ? {}
            : { expectedPlanId: options.expectedPlanId }),
        },
        { onRetry: () => (retried = true) },
      );
    } catch (err) {
      // A lost answer to a write that happened: the retry finds our own plan in place.
      if (retried && err instanceof StaleStateError) {
        const stored = await this.getEnvironment(environment.name);
        if (stored && isDeepStrictEqual(stored, JSON.parse(JSON.stringify(environment)))) return;
      }
      throw err;
    }
  }

  async deleteEnvironment(name: string): Promise<void> {
    await this.client.delete(environmentPath(name));
  }

  // ---- intervals ----

  async addInterval(
    id: SnapshotId,
    version: string,
    interval: Interval,
    options: { dev?: boolean } = {},
  ): Promise<void> {
    await this.client.post(
      '/state/intervals/add',
      intervalBody(id, version, interval, options.dev),
      // Adding a recorded interval again changes nothing.
      { idempotent: true },
    );
  }

  async removeIntervals(
    id: SnapshotId,
    version: string,
    interval: Interval,
    options: { dev?: boolean } = {},
  ): Promise<void> {
    await this.client.post(
      '/state/intervals/remove',
      intervalBody(id, version, interval, options.dev),
      { idempotent: true },
    );
  }

  async getIntervals(list: SnapshotId[]): Promise<SnapshotIntervals[]> {
    const out: SnapshotIntervals[] = [];
    for (const batch of chunks(ids(list), ID_BATCH * 5)) {
      const res = await this.client.post<{ intervals: SnapshotIntervals[] }>(
        '/state/intervals/get',
        { ids: batch },
        { idempotent: true },
      );
      out.push(...res.intervals);
    }
    return out;
  }

  async getVersionIntervals(versions: VersionRef[]): Promise<Map<string, Interval[]>> {
    const unique = new Map<string, VersionRef>();
    for (const v of versions) unique.set(versionKey(v), { name: v.name, version: v.version });
    const out = new Map<string, Interval[]>();
    for (const batch of chunks([...unique.values()], ID_BATCH * 5)) {
      const res = await this.client.post<{
        versions: Array<{ name: string; version: string; intervals: Interval[] }>;
      }>('/state/version-intervals', { versions: batch }, { idempotent: true });
      for (const v of res.versions) out.set(versionKey(v), v.intervals);
    }
    return out;
  }

  // ---- plans ----

  async recordPlan(plan: PlanRecord): Promise<void> {
    // Recording is an upsert by id: sending it again changes nothing.
    await this.client.post('/state/plans', { plan }, { idempotent: true });
  }

  async getPlan(id: string): Promise<PlanRecord | undefined> {
    const res = await this.client.get<{ plan: PlanRecord | null }>(
      `/state/plans/${encodeURIComponent(id)}`,
    );
    return res.plan ?? undefined;
  }

  async listPlans(options: { environment?: string; limit?: number } = {}): Promise<PlanRecord[]> {
    const { environment, limit } = options;
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
      throw new TidelineError(`listPlans: limit ${String(limit)} must be a whole number >= 0`);
    }
    const res = await this.client.get<{ plans: PlanRecord[] }>('/state/plans', {
      query: { environment, limit },
    });
    return res.plans;
  }

  async close(): Promise<void> {
    // Nothing is held open between requests.
  }
}

function intervalBody(
  id: SnapshotId,
  version: string,
  interval: Interval,
  dev: boolean | undefined,
): Record<string, unknown> {
  return {
    id: { name: id.name, identifier: id.identifier },
    version,
    interval: [interval[0], interval[1]],
    ...(dev === undefined ? {} : { dev }),
  };
}
