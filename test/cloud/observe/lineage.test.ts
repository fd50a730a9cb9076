/**
 * Lineage up and down from snapshots' parents: every ancestor and
 * descendant once, at its nearest depth, also when parents form a cycle.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lineageOf } from '../../../src/cloud/observe/lineage.js';
import { ModelGraph } from '../../../src/cloud/scheduler/model-graph.js';
import type { Snapshot } from '../../../src/engine/snapshot/snapshot-types.js';

/** Just what the graph reads of a snapshot: its name and its parents' names. */
function graphOf(parents: Record<string, string[]>): ModelGraph {
  const snapshots = Object.entries(parents).map(
    ([name, ps]) =>
      ({
        name,
        identifier: `${name}-id`,
        parents: ps.map((p) => ({ name: p, identifier: `${p}-id` })),
      }) as unknown as Snapshot,
  );
  return new ModelGraph(snapshots);
}

const pairs = (entries: Array<{ name: string; depth: number }>) =>
  entries.map((e) => [e.name, e.depth]);

describe('lineage', () => {
  it('lists ancestors and descendants transitively, each at its nearest depth', () => {
    // a -> b -> d, a -> c -> d, d -> e; x reads nothing and nothing reads it.
    const graph = graphOf({ a: [], b: ['a'], c: ['a'], d: ['b', 'c', 'a'], e: ['d'], x: [] });
    const d = lineageOf(graph, 'd');
    assert.deepEqual(pairs(d.ancestors), [
      ['a', 1],
      ['b', 1],
      ['c', 1],
    ]);
    assert.deepEqual(pairs(d.descendants), [['e', 1]]);
    const a = lineageOf(graph, 'a');
    assert.deepEqual(pairs(a.ancestors), []);
    assert.deepEqual(pairs(a.descendants), [
      ['b', 1],
      ['c', 1],
      ['d', 1],
      ['e', 2],
    ]);
    assert.deepEqual(lineageOf(graph, 'x'), { ancestors: [], descendants: [] });
  });

  it('ends on a cycle, listing each model once and never the model itself', () => {
    // p -> q -> r -> p, r -> s; and t reads itself.
    const graph = graphOf({ p: ['r'], q: ['p'], r: ['q'], s: ['r'], t: ['t'] });
    const q = lineageOf(graph, 'q');
    assert.deepEqual(pairs(q.ancestors), [
      ['p', 1],
      ['r', 2],
    ]);
    assert.deepEqual(pairs(q.descendants), [
      ['r', 1],
      ['p', 2],
      ['s', 2],
    ]);
    assert.deepEqual(lineageOf(graph, 't'), { ancestors: [], descendants: [] });
  });
});
