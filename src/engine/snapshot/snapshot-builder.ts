/**
 * Builds a snapshot of every model of a loaded project: fingerprints computed
 * parents first, so each model's parent hashes fold in its parents' own.
 */

import type { AuditDefinition } from '../model-types.js';
import type { Project } from '../project/project-loader.js';
import {
  fingerprintOf,
  identifierOf,
  jinjaMacrosUsed,
  readSeedCsv,
  versionOf,
} from './fingerprint.js';
import type { Snapshot, SnapshotFingerprint, SnapshotNode } from './snapshot-types.js';

/** How long an unused snapshot's table is kept unless the caller says otherwise (SQLMesh's default). */
export const DEFAULT_SNAPSHOT_TTL = 'in 1 week';

export interface BuildSnapshotsOptions {
  /** Creation time of the snapshots, epoch ms. */
  now: number;
  /** How long an unused snapshot's table is kept; defaults to {@link DEFAULT_SNAPSHOT_TTL}. */
  ttl?: string;
}

/**
 * One snapshot per model, keyed by canonical name, in topological order
 * (every model after the models it reads). Versions are the generated ones
 * (data hash + parent data hash); categorizing a change may later keep a
 * previous version instead. The node carries the definition, the query as
 * written (macros and Jinja unrendered), the seed CSV of SEED models, the
 * dependencies and the project's variables.
 */
export function buildSnapshots(
  project: Project,
  options: BuildSnapshotsOptions,
): Map<string, Snapshot> {
  const ttl = options.ttl ?? DEFAULT_SNAPSHOT_TTL;
  const variables = project.variables;
  const ctx = {
    root: project.root,
    jinjaMacros: project.jinjaMacros,
    variables,
    audits: project.audits,
  };
  const fingerprints = new Map<string, SnapshotFingerprint>();
  const out = new Map<string, Snapshot>();
  for (const fqn of project.dag.topologicalOrder()) {
    const model = project.models.get(fqn);
    if (!model) continue;
    const def = model.definition;
    const seedCsv = readSeedCsv(model, project.root);
    const parents = model.dependencies.filter((d) => project.models.has(d));
    const parentFps = parents.map((d) => {
      const fp = fingerprints.get(d);
      // The topological order guarantees parents come first.
      if (!fp) throw new Error(`internal: ${d} fingerprinted after its child ${fqn}`);
      return fp;
    });
    const fingerprint = fingerprintOf(model, parentFps, ctx, seedCsv);
    fingerprints.set(fqn, fingerprint);
    const node: SnapshotNode = {
      definition: def,
      ...(def.query ? { querySource: def.query.sql } : {}),
      ...(seedCsv !== undefined ? { seedCsv } : {}),
      dependencies: [...model.dependencies],
      variables: { ...variables },
      defaultCatalog: project.defaultCatalog,
    };
    const macros = jinjaMacrosUsed(def, project.jinjaMacros);
    if (macros.length > 0) node.jinjaMacros = macros;
    const audits: Record<string, AuditDefinition> = {};
    for (const call of def.audits) {
      const key = call.name.toLowerCase();
      const found = project.audits.get(key);
      if (found) audits[key] = found;
    }
    if (Object.keys(audits).length > 0) node.audits = audits;
    out.set(fqn, {
      name: fqn,
      identifier: identifierOf(fingerprint),
      fingerprint,
      version: versionOf(fingerprint),
      parents: parents.map((p) => {
        const fp = fingerprints.get(p)!;
        return { name: p, identifier: identifierOf(fp) };
      }),
      node,
      ttl,
      createdTs: options.now,
      updatedTs: options.now,
    });
  }
  return out;
}
