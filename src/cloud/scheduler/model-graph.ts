/**
 * The model graph of one environment, from its snapshots' parents: what is
 * upstream of what, in parents-first order, and what a paused model holds
 * back (itself and everything downstream of it).
 */
import type { Snapshot } from '../../engine/snapshot/snapshot-types.js';

export class ModelGraph {
  readonly byName: Map<string, Snapshot>;
  /** Every snapshot after the snapshots it reads. */
  readonly order: Snapshot[];

  constructor(snapshots: readonly Snapshot[]) {
    this.byName = new Map(snapshots.map((s) => [s.name, s]));
    this.order = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (s: Snapshot): void => {
      if (state.has(s.name)) return;
      state.set(s.name, 'visiting');
      for (const parent of this.parentsOf(s)) visit(parent);
      state.set(s.name, 'done');
      this.order.push(s);
    };
    for (const s of snapshots) visit(s);
  }

  /** The snapshots `s` reads that are in the environment (a model reading itself left out). */
  parentsOf(s: Snapshot): Snapshot[] {
    const out: Snapshot[] = [];
    for (const id of s.parents) {
      if (id.name === s.name) continue;
      const p = this.byName.get(id.name);
      if (p) out.push(p);
    }
    return out;
  }

  /** `roots` and every model downstream of any of them. */
  downstreamOf(roots: Iterable<string>): Set<string> {
    const held = new Set<string>();
    for (const r of roots) if (this.byName.has(r)) held.add(r);
    if (held.size === 0) return held;
    for (const s of this.order) {
      if (held.has(s.name)) continue;
      if (this.parentsOf(s).some((p) => held.has(p.name))) held.add(s.name);
    }
    return held;
  }

  /**
   * The snapshots needed to render `s`: its parents, and through EMBEDDED
   * parents (whose queries are inlined) their parents too, by name.
   */
  renderParents(s: Snapshot): Record<string, Snapshot> {
    const out: Record<string, Snapshot> = {};
    const walk = (node: Snapshot): void => {
      for (const p of this.parentsOf(node)) {
        if (p.name === s.name || out[p.name]) continue;
        out[p.name] = p;
        if (p.node.definition.kind.name === 'EMBEDDED') walk(p);
      }
    };
    walk(s);
    return out;
  }
}
