/**
 * Pauses: an environment, or one model of it, that scheduled and manual runs
 * leave alone. A paused model holds back everything downstream of it; plans
 * still evaluate paused models. A pause of the whole environment is stored
 * with the model ''.
 */
import type { Kysely } from 'kysely';
import type { CloudContext } from '../context.js';
import type { Snapshot } from '../../engine/snapshot/snapshot-types.js';
import { displayName, fullyQualifiedName } from '../../engine/sql/names.js';
import type { DB } from '../store/schema.js';

/** The model value of a pause of the whole environment. */
export const WHOLE_ENVIRONMENT = '';

export interface Pause {
  environment: string;
  /** The model's canonical name; null for the whole environment. */
  model: string | null;
  reason: string | null;
  createdBy: string | null;
  createdTs: number;
}

export interface EnvironmentPauses {
  /** The whole environment is paused. */
  environment: boolean;
  /** Paused models, by canonical name. */
  models: Set<string>;
}

export async function listPauses(
  db: Kysely<DB>,
  projectId: string,
  environment: string,
): Promise<Pause[]> {
  const rows = await db
    .selectFrom('pauses')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('environment', '=', environment)
    .orderBy('model')
    .execute();
  return rows.map((r) => ({
    environment: r.environment,
    model: r.model === WHOLE_ENVIRONMENT ? null : r.model,
    reason: r.reason,
    createdBy: r.created_by,
    createdTs: Number(r.created_ts),
  }));
}

export async function environmentPauses(
  db: Kysely<DB>,
  projectId: string,
  environment: string,
): Promise<EnvironmentPauses> {
  return pausesOf(await listPauses(db, projectId, environment));
}

/** What an environment's pauses hold back: all of it, or these models. */
export function pausesOf(pauses: readonly Pause[]): EnvironmentPauses {
  const models = new Set<string>();
  let whole = false;
  for (const p of pauses) {
    if (p.model === null) whole = true;
    else models.add(p.model);
  }
  return { environment: whole, models };
}

/**
 * Pauses the environment (`model` omitted) or one model of it. Pausing again
 * keeps the first pause and replaces its reason when one is given.
 */
export async function addPause(
  ctx: CloudContext,
  projectId: string,
  options: { environment: string; model?: string; reason?: string; createdBy?: string },
): Promise<Pause> {
  const model = options.model ?? WHOLE_ENVIRONMENT;
  const now = ctx.clock.now();
  await ctx.store.db
    .insertInto('pauses')
    .values({
      project_id: projectId,
      environment: options.environment,
      model,
      reason: options.reason ?? null,
      created_by: options.createdBy ?? null,
      created_ts: now,
    })
    .onConflict((oc) => {
      const target = oc.columns(['project_id', 'environment', 'model']);
      return options.reason === undefined
        ? target.doNothing()
        : target.doUpdateSet({ reason: options.reason });
    })
    .execute();
  ctx.events.publish({
    projectId,
    type: 'pause.changed',
    payload: {
      environment: options.environment,
      model: options.model ?? null,
      paused: true,
      by: options.createdBy ?? null,
    },
    ts: now,
  });
  const row = await ctx.store.db
    .selectFrom('pauses')
    .selectAll()
    .where('project_id', '=', projectId)
    .where('environment', '=', options.environment)
    .where('model', '=', model)
    .executeTakeFirstOrThrow();
  return {
    environment: row.environment,
    model: row.model === WHOLE_ENVIRONMENT ? null : row.model,
    reason: row.reason,
    createdBy: row.created_by,
    createdTs: Number(row.created_ts),
  };
}

/** Removes a pause; true when there was one. `removedBy` goes into the event. */
export async function removePause(
  ctx: CloudContext,
  projectId: string,
  options: { environment: string; model?: string; removedBy?: string },
): Promise<boolean> {
  const result = await ctx.store.db
    .deleteFrom('pauses')
    .where('project_id', '=', projectId)
    .where('environment', '=', options.environment)
    .where('model', '=', options.model ?? WHOLE_ENVIRONMENT)
    .executeTakeFirst();
  const removed = Number(result.numDeletedRows) > 0;
  if (removed) {
    ctx.events.publish({
      projectId,
      type: 'pause.changed',
      payload: {
        environment: options.environment,
        model: options.model ?? null,
        paused: false,
        by: options.removedBy ?? null,
      },
      ts: ctx.clock.now(),
    });
  }
  return removed;
}

/**
 * The canonical name of the environment's model that `input` names: the
 * canonical name itself (`"db"."sch"."t"`) or the name as written or shown
 * (`sch.t`, `db.sch.t`). Undefined when no model of the environment matches
 * or the name cannot be parsed.
 */
export function resolveModelName(
  snapshots: readonly Snapshot[],
  input: string,
): string | undefined {
  const text = input.trim();
  if (!text) return undefined;
  const exact = snapshots.find((s) => s.name === text);
  if (exact) return exact.name;
  for (const s of snapshots) {
    const def = s.node.definition;
    try {
      if (fullyQualifiedName(text, def.dialect, s.node.defaultCatalog) === s.name) return s.name;
      if (displayName(s.name, def.dialect, s.node.defaultCatalog) === text) return s.name;
    } catch {
      // A name this model's dialect cannot parse does not name it.
    }
  }
  return undefined;
}
