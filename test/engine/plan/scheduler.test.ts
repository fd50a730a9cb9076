/**
 * The backfill scheduler: batch order, waiting on upstream items (also through
 * snapshots that are not backfilled), the concurrency limit, failures that
 * skip only what is downstream, recording after evaluation, and aborting.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { BackfillItem } from '../../../src/engine/plan/plan-types.js';
import {
  executeBackfill,
  type BackfillEvent,
  type ExecuteBackfillOptions,
} from '../../../src/engine/plan/scheduler.js';
import type { Interval, Snapshot } from '../../../src/engine/snapshot/snapshot-types.js';

function snap(name: string, parents: string[] = []): Snapshot {
  return {
    name,
    identifier: `id-${name}`,
    fingerprint: { dataHash: 'd', metadataHash: 'm', parentDataHash: 'p', parentMetadataHash: 'q' },
    version: `v-${name}`,
    parents: parents.map((p) => ({ name: p, identifier: `id-${p}` })),
    node: {
      definition: { name } as Snapshot['node']['definition'],
      dependencies: parents,
      variables: {},
      defaultCatalog: 'db',
    },
    ttl: 'in 1 week',
    createdTs: 0,
    updatedTs: 0,
  };
}

/** A DAG from `name: parents` pairs. */
function dag(spec: Record<string, string[]>): Map<string, Snapshot> {
  return new Map(Object.entries(spec).map(([name, parents]) => [name, snap(name, parents)]));
}

function items(names: string[], batches = 1): BackfillItem[] {
  return names.map((name) => ({
    name,
    identifier: `id-${name}`,
    version: `v-${name}`,
    batches: Array.from({ length: batches }, (_, i): Interval => [i * 10, i * 10 + 10]),
  }));
}

interface Trace {
  log: string[];
  recorded: Array<[string, Interval]>;
  maxRunning: number;
  events: BackfillEvent[];
}

/**
 * Options with an evaluate that takes `ms` (per name, or 5) and logs start
 * and end, failing for the names in `fail` (at their `failAt`-th batch).
 */
function harness(
  snapshots: Map<string, Snapshot>,
  list: BackfillItem[],
  extra: {
    concurrency?: number;
    ms?: Record<string, number>;
    fail?: Record<string, number>;
    signal?: AbortSignal;
    onStart?: (name: string, interval: Interval) => void;
  } = {},
): { options: ExecuteBackfillOptions; trace: Trace } {
  const trace: Trace = { log: [], recorded: [], maxRunning: 0, events: [] };
  let running = 0;
  const batchCount = new Map<string, number>();
  const options: ExecuteBackfillOptions = {
    items: list,
    snapshots,
    concurrency: extra.concurrency ?? 1,
    async evaluate(snapshot, interval) {
      const n = (batchCount.get(snapshot.name) ?? 0) + 1;
      batchCount.set(snapshot.name, n);
      trace.log.push(`start ${snapshot.name} ${interval[0]}`);
      extra.onStart?.(snapshot.name, interval);
      running += 1;
      trace.maxRunning = Math.max(trace.maxRunning, running);
      try {
        await sleep(extra.ms?.[snapshot.name] ?? 5);
        if (extra.fail?.[snapshot.name] === n) throw new Error(`boom in ${snapshot.name}`);
        return { rows: n };
      } finally {
        running -= 1;
        trace.log.push(`end ${snapshot.name} ${interval[0]}`);
      }
    },
    async record(snapshot, interval) {
      trace.log.push(`record ${snapshot.name} ${interval[0]}`);
      trace.recorded.push([snapshot.name, interval]);
    },
    onEvent: (e) => trace.events.push(e),
    ...(extra.signal ? { signal: extra.signal } : {}),
  };
  return { options, trace };
}

function indexOf(log: string[], entry: string): number {
  const i = log.indexOf(entry);
  assert.ok(i >= 0, `${entry} should be in the log: ${log.join(', ')}`);
  return i;
}

describe('executeBackfill', () => {
  it("runs each item's batches in order and records each after its evaluation", async () => {
    const snapshots = dag({ a: [] });
    const { options, trace } = harness(snapshots, items(['a'], 3));
    const result = await executeBackfill(options);
    assert.deepEqual(trace.log, [
      'start a 0',
      'end a 0',
      'record a 0',
      'start a 10',
      'end a 10',
      'record a 10',
      'start a 20',
      'end a 20',
      'record a 20',
    ]);
    assert.equal(result.evaluations, 3);
    assert.deepEqual(result.completed, ['a']);
    assert.deepEqual(result.failed, []);
    assert.deepEqual(result.skipped, []);
    const done = trace.events.filter((e) => e.type === 'batch_done');
    assert.deepEqual(
      done.map((e) => [e.batch, e.batches, e.rows]),
      [
        [1, 3, 1],
        [2, 3, 2],
        [3, 3, 3],
      ],
    );
  });

  it('starts an item only after every item upstream of it completed', async () => {
    // c reads a and b; b is slow, so c must wait for it even though a is done.
    const snapshots = dag({ a: [], b: [], c: ['a', 'b'] });
    const { options, trace } = harness(snapshots, items(['a', 'b', 'c'], 2), {
      concurrency: 3,
      ms: { b: 30 },
    });
    const result = await executeBackfill(options);
    assert.deepEqual(result.completed.sort(), ['a', 'b', 'c']);
    const cStart = indexOf(trace.log, 'start c 0');
    assert.ok(cStart > indexOf(trace.log, 'record a 10'));
    assert.ok(cStart > indexOf(trace.log, 'record b 10'));
  });

  it('waits on upstream items through snapshots that are not backfilled', async () => {
    // a -> mid (unchanged, not in the backfill) -> c
    const snapshots = dag({ a: [], mid: ['a'], c: ['mid'] });
    const { options, trace } = harness(snapshots, items(['a', 'c']), {
      concurrency: 4,
      ms: { a: 30 },
    });
    const result = await executeBackfill(options);
    assert.deepEqual(result.completed, ['a', 'c']);
    assert.ok(indexOf(trace.log, 'start c 0') > indexOf(trace.log, 'record a 0'));
  });

  it('runs independent items concurrently, never more than `concurrency` at once', async () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const snapshots = dag(Object.fromEntries(names.map((n) => [n, []])));
    for (const concurrency of [1, 2, 3]) {
      const { options, trace } = harness(snapshots, items(names, 2), {
        concurrency,
        ms: Object.fromEntries(names.map((n) => [n, 15])),
      });
      const result = await executeBackfill(options);
      assert.equal(result.completed.length, names.length);
      assert.equal(trace.maxRunning, concurrency, `concurrency ${concurrency}`);
    }
  });

  it('treats a concurrency below 1 as 1', async () => {
    const snapshots = dag({ a: [], b: [] });
    const { options, trace } = harness(snapshots, items(['a', 'b']), { concurrency: 0 });
    const result = await executeBackfill(options);
    assert.deepEqual(result.completed, ['a', 'b']);
    assert.equal(trace.maxRunning, 1);
  });

  it('an item waiting on its parent does not hold up an independent one', async () => {
    // With two slots: a (slow) and c run, b waits for a; c's finishing must
    // let d start before a is done.
    const snapshots = dag({ a: [], b: ['a'], c: [], d: [] });
    const { options, trace } = harness(snapshots, items(['a', 'b', 'c', 'd']), {
      concurrency: 2,
      ms: { a: 60, c: 5, d: 5 },
    });
    await executeBackfill(options);
    assert.ok(indexOf(trace.log, 'start d 0') < indexOf(trace.log, 'end a 0'));
    assert.ok(indexOf(trace.log, 'start b 0') > indexOf(trace.log, 'record a 0'));
  });

  it('a failing batch stops its item and skips everything downstream, not other branches', async () => {
    // a -> b -> c, a -> mid -> d (through an unbackfilled snapshot), e independent
    const snapshots = dag({ a: [], b: ['a'], c: ['b'], mid: ['a'], d: ['mid'], e: [] });
    const { options, trace } = harness(snapshots, items(['a', 'b', 'c', 'd', 'e'], 3), {
      concurrency: 2,
      fail: { a: 2 },
    });
    const result = await executeBackfill(options);
    assert.equal(result.failed.length, 1);
    assert.equal(result.failed[0]!.name, 'a');
    assert.deepEqual(result.failed[0]!.interval, [10, 20]);
    assert.match(result.failed[0]!.error.message, /boom in a/);
    assert.deepEqual(result.skipped.sort(), ['b', 'c', 'd']);
    assert.deepEqual(result.completed, ['e']);
    // The failed batch is never recorded, and no later batch of a runs.
    assert.deepEqual(
      trace.recorded.filter(([n]) => n === 'a'),
      [['a', [0, 10]]],
    );
    assert.equal(trace.log.includes('start a 20'), false);
    for (const n of ['b', 'c', 'd']) assert.equal(trace.log.includes(`start ${n} 0`), false);
    assert.equal(result.evaluations, 1 + 3);
    const failedEvent = trace.events.find((e) => e.type === 'batch_failed');
    assert.ok(failedEvent && failedEvent.type === 'batch_failed');
    assert.equal(failedEvent.name, 'a');
    const skippedEvents = trace.events.filter((e) => e.type === 'skipped').map((e) => e.name);
    assert.deepEqual(skippedEvents.sort(), ['b', 'c', 'd']);
  });

  it('a batch that fails while recording is not counted as done', async () => {
    const snapshots = dag({ a: [], b: ['a'] });
    const { options, trace } = harness(snapshots, items(['a', 'b'], 2));
    const result = await executeBackfill({
      ...options,
      async record(snapshot, interval) {
        if (snapshot.name === 'a' && interval[0] === 10) throw new Error('state is down');
        trace.recorded.push([snapshot.name, interval]);
      },
    });
    assert.deepEqual(
      result.failed.map((f) => f.name),
      ['a'],
    );
    assert.deepEqual(result.skipped, ['b']);
    assert.equal(result.evaluations, 1);
    assert.deepEqual(trace.recorded, [['a', [0, 10]]]);
  });

  it('records only after evaluate resolved', async () => {
    const snapshots = dag({ a: [] });
    let evaluating = false;
    const violations: string[] = [];
    await executeBackfill({
      items: items(['a'], 3),
      snapshots,
      concurrency: 1,
      async evaluate() {
        evaluating = true;
        await sleep(2);
        evaluating = false;
        return {};
      },
      async record(_s, interval) {
        if (evaluating) violations.push(String(interval[0]));
      },
    });
    assert.deepEqual(violations, []);
  });

  it('turns thrown non-errors into errors', async () => {
    const snapshots = dag({ a: [] });
    const result = await executeBackfill({
      items: items(['a']),
      snapshots,
      concurrency: 1,
      evaluate: () => Promise.reject('plain text'),
      record: async () => undefined,
    });
    assert.ok(result.failed[0]!.error instanceof Error);
    assert.equal(result.failed[0]!.error.message, 'plain text');
  });

  it('stops starting new batches once aborted, and skips what did not run', async () => {
    const snapshots = dag({ a: [], b: ['a'], c: [] });
    const controller = new AbortController();
    const { options, trace } = harness(snapshots, items(['a', 'b', 'c'], 3), {
      concurrency: 1,
      signal: controller.signal,
      onStart: (name, interval) => {
        if (name === 'a' && interval[0] === 10) controller.abort();
      },
    });
    const result = await executeBackfill(options);
    // The batch running when the abort came finishes and is recorded.
    assert.deepEqual(trace.recorded, [
      ['a', [0, 10]],
      ['a', [10, 20]],
    ]);
    assert.equal(trace.log.includes('start a 20'), false);
    assert.equal(
      trace.log.some((l) => l.startsWith('start b') || l.startsWith('start c')),
      false,
    );
    assert.deepEqual(result.completed, []);
    assert.deepEqual(result.skipped.sort(), ['a', 'b', 'c']);
    assert.equal(result.evaluations, 2);
  });

  it('does nothing for an already aborted signal', async () => {
    const snapshots = dag({ a: [] });
    const { options, trace } = harness(snapshots, items(['a']), {
      signal: AbortSignal.abort(),
    });
    const result = await executeBackfill(options);
    assert.deepEqual(trace.log, []);
    assert.deepEqual(result.skipped, ['a']);
  });

  it('finishes at once with nothing to do', async () => {
    const result = await executeBackfill({
      items: [],
      snapshots: new Map(),
      concurrency: 2,
      evaluate: () => Promise.reject(new Error('not called')),
      record: () => Promise.reject(new Error('not called')),
    });
    assert.deepEqual(result, { evaluations: 0, completed: [], failed: [], skipped: [] });
  });

  it('a model that reads itself does not wait on itself', async () => {
    const snapshots = dag({ a: ['a'], b: ['b', 'a'] });
    const { options } = harness(snapshots, items(['a', 'b'], 2), { concurrency: 2 });
    const result = await executeBackfill(options);
    assert.deepEqual(result.completed, ['a', 'b']);
  });

  it('orders a diamond: the join waits for both branches', async () => {
    const snapshots = dag({ root: [], left: ['root'], right: ['root'], join: ['left', 'right'] });
    const { options, trace } = harness(snapshots, items(['root', 'left', 'right', 'join']), {
      concurrency: 2,
      ms: { left: 5, right: 25 },
    });
    const result = await executeBackfill(options);
    assert.deepEqual(result.completed, ['root', 'left', 'right', 'join']);
    assert.equal(trace.maxRunning, 2, 'left and right run together');
    const join = indexOf(trace.log, 'start join 0');
    assert.ok(join > indexOf(trace.log, 'record right 0'));
  });
});
