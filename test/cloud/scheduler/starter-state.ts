/**
 * State for scheduler tests: real snapshots of the starter project (seed ->
 * incremental_model -> full_model), optionally with an independent hourly
 * model, written into the store's tables as a plan would leave them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { DB } from '../../../src/cloud/store/schema.js';
import { tableInfo } from '../../../src/engine/plan/plan-builder.js';
import { loadProject } from '../../../src/engine/project/project-loader.js';
import { buildSnapshots } from '../../../src/engine/snapshot/snapshot-builder.js';
import type {
  Environment,
  Interval,
  Snapshot,
} from '../../../src/engine/snapshot/snapshot-types.js';
import {
  canonicalTableName,
  physicalTableName,
} from '../../../src/engine/snapshot/table-naming.js';
import { writeStarterProject } from '../../../src/engine/starter/starter-project.js';

export const DAY = 86_400_000;
export const HOUR = 3_600_000;
/** When the plan ran: 01:00 UTC, so every daily model is filled up to midnight. */
export const PLAN_TIME = Date.UTC(2024, 0, 10, 1);
export const MIDNIGHT = Date.UTC(2024, 0, 10);
export const HISTORY_START = Date.UTC(2020, 0, 1);

export const SEED = '"db"."sqlmesh_example"."seed_model"';
export const INCREMENTAL = '"db"."sqlmesh_example"."incremental_model"';
export const FULL = '"db"."sqlmesh_example"."full_model"';
export const OTHER = '"db"."sqlmesh_example"."other_model"';

const OTHER_MODEL = `MODEL (
  name sqlmesh_example.other_model,
  kind FULL,
  cron '@hourly'
);

SELECT 1 AS x
`;

const cache = new Map<boolean, Promise<Snapshot[]>>();

/** The starter project's snapshots (parents first); with `other`, also an independent hourly model. */
export function starterSnapshots(options: { other?: boolean } = {}): Promise<Snapshot[]> {
  const other = options.other ?? false;
  let found = cache.get(other);
  if (!found) {
    found = (async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tideline-sched-'));
      try {
        writeStarterProject(dir, 'duckdb');
        if (other) writeFileSync(join(dir, 'models', 'other_model.sql'), OTHER_MODEL);
        const project = await loadProject(dir, { env: {}, now: PLAN_TIME });
        return [...buildSnapshots(project, { now: PLAN_TIME }).values()];
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    })();
    cache.set(other, found);
  }
  return found;
}

/** The environment a plan applied at `PLAN_TIME` leaves (see the plan applier). */
export function environmentOf(
  name: string,
  snapshots: readonly Snapshot[],
  options: { expirationTs?: number } = {},
): Environment {
  return {
    name,
    snapshots: snapshots.map((s) =>
      tableInfo(s, canonicalTableName(physicalTableName(s.name, s.version))),
    ),
    startAt: HISTORY_START,
    planId: `plan-${name}`,
    ...(options.expirationTs !== undefined ? { expirationTs: options.expirationTs } : {}),
    finalizedTs: PLAN_TIME,
    promotedSnapshotIds: snapshots.map((s) => ({ name: s.name, identifier: s.identifier })),
    createdTs: PLAN_TIME,
    updatedTs: PLAN_TIME,
  };
}

/** Writes snapshots (once per project) and an environment of them. */
export async function writeEnvironment(
  db: Kysely<DB>,
  projectId: string,
  name: string,
  snapshots: readonly Snapshot[],
  options: { expirationTs?: number } = {},
): Promise<void> {
  await db
    .insertInto('snapshots')
    .values(
      snapshots.map((s) => ({
        project_id: projectId,
        name: s.name,
        identifier: s.identifier,
        version: s.version,
        dev_version: s.devVersion ?? null,
        payload: JSON.stringify(s),
        created_ts: PLAN_TIME,
        updated_ts: PLAN_TIME,
      })),
    )
    .onConflict((oc) => oc.columns(['project_id', 'name', 'identifier']).doNothing())
    .execute();
  const env = environmentOf(name, snapshots, options);
  await db
    .insertInto('environments')
    .values({
      project_id: projectId,
      name,
      payload: JSON.stringify(env),
      plan_id: env.planId,
      expiration_ts: options.expirationTs ?? null,
      created_ts: PLAN_TIME,
      updated_ts: PLAN_TIME,
    })
    .execute();
}

/** Records an interval of a snapshot's version, as a finished evaluation does. */
export async function recordInterval(
  db: Kysely<DB>,
  projectId: string,
  snapshot: Snapshot,
  interval: Interval,
  options: { removed?: boolean } = {},
): Promise<void> {
  await db
    .insertInto('intervals')
    .values({
      project_id: projectId,
      name: snapshot.name,
      identifier: snapshot.identifier,
      version: snapshot.version,
      dev_version: null,
      start_ts: interval[0],
      end_ts: interval[1],
      is_dev: 0,
      is_removed: options.removed ? 1 : 0,
      created_ts: PLAN_TIME,
    })
    .execute();
}

/**
 * Everything a plan at `PLAN_TIME` backfilled: daily models up to midnight,
 * the hourly model up to the plan's hour.
 */
export async function recordPlanBackfill(
  db: Kysely<DB>,
  projectId: string,
  snapshots: readonly Snapshot[],
): Promise<void> {
  for (const s of snapshots) {
    const end = s.name === OTHER ? PLAN_TIME : MIDNIGHT;
    await recordInterval(db, projectId, s, [HISTORY_START, end]);
  }
}

/** A project's `name` snapshot. */
export function byName(snapshots: readonly Snapshot[], name: string): Snapshot {
  const s = snapshots.find((x) => x.name === name);
  if (!s) throw new Error(`no snapshot ${name} among ${snapshots.map((x) => x.name).join(', ')}`);
  return s;
}

/** A clock tests move by hand. */
export interface MutableClock {
  t: number;
  now(): number;
}

export function mutableClock(t: number): MutableClock {
  const clock = {
    t,
    now: () => clock.t,
  };
  return clock;
}
