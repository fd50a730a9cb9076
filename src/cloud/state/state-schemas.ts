/**
 * The request bodies of the state API, as strict zod schemas: unknown fields
 * are refused, names have bounded lengths and no NUL characters (the store
 * cannot keep them in a text column), times are whole epoch milliseconds.
 * Snapshots are checked structurally: the fields the state itself reads are
 * typed, the model definition beyond its kind's name is carried as given.
 */
import { z } from 'zod';

const NO_NUL = (s: string) => !s.includes('\0');

/** Text stored in a column: at most `max` characters, no NUL. */
export function text(max: number, min = 0) {
  return z.string().min(min).max(max).refine(NO_NUL, 'must not contain a NUL character');
}

/** A model name, identifier or version. */
export const stateName = text(1024, 1);

/** Environment names as the engine writes them (lower case, digits, `_`, `-`). */
export const ENVIRONMENT_NAME = /^[a-z0-9_-]{1,128}$/;
export const environmentName = z
  .string()
  .regex(ENVIRONMENT_NAME, "use 1-128 lower-case letters, digits, '_' or '-'");

/** Plan ids: UUIDs from the engine, or short names. */
export const PLAN_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
export const planId = z.string().regex(PLAN_ID, "use 1-128 letters, digits, '_', '.', ':' or '-'");

export const epochMs = z.number().int();

export const snapshotIdSchema = z.object({ name: stateName, identifier: stateName }).strict();

export const intervalSchema = z
  .tuple([epochMs, epochMs])
  .refine(([start, end]) => start < end, 'an interval is [start, end) with start < end');

export const changeCategorySchema = z.enum([
  'breaking',
  'non_breaking',
  'forward_only',
  'indirect_breaking',
  'indirect_non_breaking',
  'metadata',
]);

const fingerprintSchema = z
  .object({
    dataHash: text(256, 1),
    metadataHash: text(256, 1),
    parentDataHash: text(256, 1),
    parentMetadataHash: text(256, 1),
  })
  .strict();

const definitionSchema = z
  .object({
    name: text(1024, 1),
    kind: z.object({ name: text(100, 1) }).loose(),
  })
  .loose();

const nodeSchema = z
  .object({
    definition: definitionSchema,
    dependencies: z.array(text(1024)).max(100_000),
    variables: z.record(z.string(), z.unknown()),
    defaultCatalog: z.string().max(1024),
    querySource: z.string().optional(),
    seedCsv: z.string().optional(),
  })
  .loose();

export const snapshotSchema = z
  .object({
    name: stateName,
    identifier: stateName,
    fingerprint: fingerprintSchema,
    version: stateName,
    devVersion: stateName.optional(),
    changeCategory: changeCategorySchema.optional(),
    parents: z.array(snapshotIdSchema).max(100_000),
    node: nodeSchema,
    ttl: text(200),
    createdTs: epochMs,
    updatedTs: epochMs,
    unpausedTs: epochMs.optional(),
  })
  .strict();

const tableInfoSchema = z
  .object({
    name: stateName,
    identifier: stateName,
    version: stateName,
    devVersion: stateName.optional(),
    physicalTable: text(4096),
    kind: text(100, 1),
    changeCategory: changeCategorySchema.optional(),
    parents: z.array(snapshotIdSchema).max(100_000),
  })
  .strict();

export const environmentSchema = z
  .object({
    name: environmentName,
    snapshots: z.array(tableInfoSchema).max(100_000),
    startAt: epochMs,
    endAt: epochMs.optional(),
    planId,
    previousPlanId: planId.optional(),
    expirationTs: epochMs.optional(),
    finalizedTs: epochMs.optional(),
    promotedSnapshotIds: z.array(snapshotIdSchema).max(100_000).optional(),
    createdTs: epochMs,
    updatedTs: epochMs,
  })
  .strict();

export const planRecordSchema = z
  .object({
    id: planId,
    environment: environmentName,
    status: z.enum(['pending', 'applying', 'succeeded', 'failed', 'cancelled']),
    createdTs: epochMs,
    updatedTs: epochMs,
    createdBy: text(200).optional(),
    summary: z.record(z.string(), z.unknown()),
    error: text(100_000).optional(),
  })
  .strict();

/** Ids or snapshots per request; the client splits longer lists. */
export const MAX_IDS = 10_000;
export const MAX_SNAPSHOTS = 5_000;

export const idsBody = z.object({ ids: z.array(snapshotIdSchema).max(MAX_IDS) }).strict();
export const snapshotsBody = z
  .object({ snapshots: z.array(snapshotSchema).max(MAX_SNAPSHOTS) })
  .strict();
export const environmentBody = z
  .object({ environment: environmentSchema, expectedPlanId: planId.nullable().optional() })
  .strict();
export const intervalBody = z
  .object({
    id: snapshotIdSchema,
    version: stateName,
    interval: intervalSchema,
    dev: z.boolean().optional(),
  })
  .strict();
export const versionsBody = z
  .object({
    versions: z.array(z.object({ name: stateName, version: stateName }).strict()).max(MAX_IDS),
  })
  .strict();
export const planBody = z.object({ plan: planRecordSchema }).strict();
