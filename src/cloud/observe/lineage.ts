/**
 * A model's lineage up and down in one environment: every model it reads
 * through any number of steps (ancestors) and every model that reads it so
 * (descendants), from the environment's snapshots' parents. Each comes with
 * its depth, the fewest steps between the two models. Parents that form a
 * cycle are each listed once, and the model itself never.
 */
import type { ModelGraph } from '../scheduler/model-graph.js';

export interface LineageEntry {
  /** The model's canonical name. */
  name: string;
  /** Steps from the model: 1 for a parent or child, 2 for theirs, and so on. */
  depth: number;
}

/** Ancestors and descendants of `name`, nearest first, then by name. */
export function lineageOf(
  graph: ModelGraph,
  name: string,
): { ancestors: LineageEntry[]; descendants: LineageEntry[] } {
  const children = new Map<string, string[]>();
  for (const s of graph.byName.values()) {
    for (const p of graph.parentsOf(s)) {
      const list = children.get(p.name);
      if (list) list.push(s.name);
      else children.set(p.name, [s.name]);
    }
  }
  const parents = (n: string): string[] => {
    const s = graph.byName.get(n);
    return s ? graph.parentsOf(s).map((p) => p.name) : [];
  };
  return {
    ancestors: walk(name, parents),
    descendants: walk(name, (n) => children.get(n) ?? []),
  };
}

/** Breadth first from `start`: each model once, at the depth it is first reached. */
function walk(start: string, next: (name: string) => string[]): LineageEntry[] {
  const seen = new Set([start]);
  const out: LineageEntry[] = [];
  let frontier = [start];
  for (let depth = 1; frontier.length > 0; depth++) {
    const reached: string[] = [];
    for (const n of frontier) {
      for (const m of next(n)) {
        if (seen.has(m)) continue;
        seen.add(m);
        reached.push(m);
      }
    }
    reached.sort();
    for (const m of reached) out.push({ name: m, depth });
    frontier = reached;
  }
  return out;
}
