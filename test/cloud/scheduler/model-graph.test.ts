import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ModelGraph } from '../../../src/cloud/scheduler/model-graph.js';
import type { Snapshot } from '../../../src/engine/snapshot/snapshot-types.js';

/** A snapshot with only what the graph reads: name, parents and kind. */
function node(name: string, kind: string, parents: string[] = []): Snapshot {
  return {
    name,
    identifier: `${name}-id`,
    version: `${name}-v`,
    parents: parents.map((p) => ({ name: p, identifier: `${p}-id` })),
    node: { definition: { kind: { name: kind } } },
  } as unknown as Snapshot;
}

describe('model graph of an environment', () => {
  // raw -> emb (EMBEDDED) -> mart -> report; side is independent; mart also reads itself.
  const snapshots = [
    node('report', 'FULL', ['mart']),
    node('mart', 'INCREMENTAL_BY_TIME_RANGE', ['emb', 'mart']),
    node('emb', 'EMBEDDED', ['raw']),
    node('raw', 'SEED'),
    node('side', 'VIEW'),
  ];
  const graph = new ModelGraph(snapshots);

  it('orders every model after the models it reads', () => {
    const order = graph.order.map((s) => s.name);
    for (const s of snapshots) {
      for (const p of s.parents) {
        if (p.name === s.name) continue;
        assert.ok(order.indexOf(p.name) < order.indexOf(s.name), `${p.name} before ${s.name}`);
      }
    }
    assert.equal(order.length, snapshots.length);
  });

  it('gives the parents needed to render, through embedded models', () => {
    assert.deepEqual(Object.keys(graph.renderParents(snapshots[1]!)).sort(), ['emb', 'raw']);
    assert.deepEqual(Object.keys(graph.renderParents(snapshots[0]!)), ['mart']);
    assert.deepEqual(graph.renderParents(snapshots[3]!), {});
  });

  it('holds back a paused model and everything downstream, not independent ones', () => {
    assert.deepEqual([...graph.downstreamOf(['raw'])].sort(), ['emb', 'mart', 'raw', 'report']);
    assert.deepEqual([...graph.downstreamOf(['mart'])].sort(), ['mart', 'report']);
    assert.deepEqual([...graph.downstreamOf(['side', 'unknown'])], ['side']);
  });
});
