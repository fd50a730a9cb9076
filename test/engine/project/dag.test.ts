import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Dag } from '../../../src/engine/project/dag.js';

function diamond(): Dag {
  const dag = new Dag();
  dag.add('d', ['b', 'c']);
  dag.add('b', ['a']);
  dag.add('c', ['a']);
  dag.add('e');
  return dag;
}

test('topological order puts every node after its dependencies, ties by name', () => {
  assert.deepEqual(diamond().topologicalOrder(), ['a', 'e', 'b', 'c', 'd']);
});

test('levels group nodes that can run side by side', () => {
  assert.deepEqual(diamond().levels(), [['a', 'e'], ['b', 'c'], ['d']]);
});

test('upstream and downstream, direct and transitive', () => {
  const dag = diamond();
  assert.deepEqual(dag.upstreamOf('d'), ['b', 'c']);
  assert.deepEqual(dag.downstreamOf('a'), ['b', 'c']);
  assert.deepEqual([...dag.allUpstream('d')].sort(), ['a', 'b', 'c']);
  assert.deepEqual([...dag.allDownstream('a')].sort(), ['b', 'c', 'd']);
  assert.deepEqual([...dag.allDownstream('e')], []);
});

test('a cycle is reported with the nodes on it', () => {
  const dag = new Dag();
  dag.add('a', ['c']);
  dag.add('b', ['a']);
  dag.add('c', ['b']);
  dag.add('x', ['a']);
  assert.throws(() => dag.topologicalOrder(), /dependency cycle: a -> c -> b -> a/);
});

test('subgraph keeps only edges between kept nodes', () => {
  const sub = diamond().subgraph(['a', 'b', 'd']);
  assert.deepEqual(sub.topologicalOrder(), ['a', 'b', 'd']);
  assert.deepEqual(sub.upstreamOf('d'), ['b']);
});

test('topological order of a long chain stays linear', () => {
  const dag = new Dag();
  const n = 20000;
  for (let i = 1; i < n; i++) dag.add(`m${i}`, [`m${i - 1}`]);
  const order = dag.topologicalOrder();
  assert.equal(order.length, n);
  assert.equal(order[0], 'm0');
  assert.equal(order[n - 1], `m${n - 1}`);
});
