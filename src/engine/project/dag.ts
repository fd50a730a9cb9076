import { ProjectError } from '../errors.js';

/**
 * A directed acyclic graph of named nodes (models), edges pointing from a node
 * to the nodes it depends on. Iteration orders are deterministic.
 */
export class Dag {
  private readonly parents = new Map<string, Set<string>>();
  private readonly children = new Map<string, Set<string>>();

  /** Adds a node; its dependencies are added as nodes too. */
  add(node: string, dependsOn: Iterable<string> = []): void {
    const ups = this.ensure(node);
    for (const dep of dependsOn) {
      this.ensure(dep);
      ups.add(dep);
      this.children.get(dep)!.add(node);
    }
  }

  private ensure(node: string): Set<string> {
    let ups = this.parents.get(node);
    if (!ups) {
      ups = new Set();
      this.parents.set(node, ups);
      this.children.set(node, new Set());
    }
    return ups;
  }

  has(node: string): boolean {
    return this.parents.has(node);
  }

  get size(): number {
    return this.parents.size;
  }

  nodes(): string[] {
    return [...this.parents.keys()].sort();
  }

  /** Direct dependencies of a node, sorted. */
  upstreamOf(node: string): string[] {
    return [...(this.parents.get(node) ?? [])].sort();
  }

  /** Direct dependents of a node, sorted. */
  downstreamOf(node: string): string[] {
    return [...(this.children.get(node) ?? [])].sort();
  }

  /** Every node reachable by following dependencies (excluding the node itself). */
  allUpstream(node: string): Set<string> {
    return this.reach(node, this.parents);
  }

  /** Every node that depends on this one, directly or not (excluding the node itself). */
  allDownstream(node: string): Set<string> {
    return this.reach(node, this.children);
  }

  private reach(start: string, edges: Map<string, Set<string>>): Set<string> {
    const seen = new Set<string>();
    const stack = [...(edges.get(start) ?? [])];
    while (stack.length > 0) {
      const next = stack.pop()!;
      if (seen.has(next)) continue;
      seen.add(next);
      for (const n of edges.get(next) ?? []) if (!seen.has(n)) stack.push(n);
    }
    return seen;
  }

  /**
   * Nodes in dependency order (every node after its dependencies), ties broken
   * by name. A cycle is a ProjectError naming the nodes on it.
   */
  topologicalOrder(): string[] {
    const remaining = new Map<string, number>();
    for (const [node, ups] of this.parents) remaining.set(node, ups.size);
    const ready = [...remaining.entries()]
      .filter(([, n]) => n === 0)
      .map(([node]) => node)
      .sort();
    const order: string[] = [];
    // A sorted work list keeps the order stable; heads are taken from the front.
    let head = 0;
    while (head < ready.length) {
      const node = ready[head++]!;
      order.push(node);
      const released: string[] = [];
      for (const child of this.children.get(node)!) {
        const left = remaining.get(child)! - 1;
        remaining.set(child, left);
        if (left === 0) released.push(child);
      }
      if (released.length > 0) ready.push(...released.sort());
    }
    if (order.length !== this.parents.size) {
      throw new ProjectError(
        `dependency cycle: ${this.findCycle().join(' -> ')}; remove one of these references`,
      );
    }
    return order;
  }

  /** Groups of nodes that can run side by side: each level depends only on earlier ones. */
  levels(): string[][] {
    const depth = new Map<string, number>();
    const out: string[][] = [];
    for (const node of this.topologicalOrder()) {
      let d = 0;
      for (const up of this.parents.get(node)!) d = Math.max(d, depth.get(up)! + 1);
      depth.set(node, d);
      (out[d] ??= []).push(node);
    }
    return out;
  }

  /** A subgraph with the given nodes and the edges between them. */
  subgraph(keep: Iterable<string>): Dag {
    const set = new Set(keep);
    const sub = new Dag();
    for (const node of set) {
      if (!this.parents.has(node)) continue;
      sub.add(
        node,
        [...this.parents.get(node)!].filter((p) => set.has(p)),
      );
    }
    return sub;
  }

  private findCycle(): string[] {
    const state = new Map<string, 'open' | 'done'>();
    const path: string[] = [];
    const visit = (node: string): string[] | undefined => {
      state.set(node, 'open');
      path.push(node);
      for (const up of [...this.parents.get(node)!].sort()) {
        const s = state.get(up);
        if (s === 'open') return [...path.slice(path.indexOf(up)), up];
        if (s === undefined) {
          const found = visit(up);
          if (found) return found;
        }
      }
      path.pop();
      state.set(node, 'done');
      return undefined;
    };
    for (const node of this.nodes()) {
      if (!state.has(node)) {
        const found = visit(node);
        if (found) return found;
      }
    }
    return [];
  }
}
