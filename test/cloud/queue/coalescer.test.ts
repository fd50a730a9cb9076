import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Coalescer, type BatchOutcome } from '../../../src/cloud/queue/coalescer.js';

const ok = <T>(value: T): BatchOutcome<T> => ({ ok: true, value });

describe('the coalescer', () => {
  it('sends what arrives while a batch runs in the next one, answering each item', async () => {
    const batches: number[][] = [];
    let release: () => void = () => {};
    const c = new Coalescer<number, number>(async (items) => {
      batches.push(items);
      if (batches.length === 1) await new Promise<void>((r) => (release = r));
      return items.map((i) => (i === 13 ? { ok: false, error: new Error('unlucky') } : ok(i * 2)));
    }, 3);
    const first = c.submit(1);
    await new Promise((r) => setTimeout(r, 10));
    const rest = [2, 13, 4, 5].map((i) => c.submit(i));
    release();
    assert.equal(await first, 2);
    const settled = await Promise.allSettled(rest);
    assert.deepEqual(
      settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message)),
      [4, 'unlucky', 8, 10],
    );
    // At most three in a batch, in order.
    assert.deepEqual(batches, [[1], [2, 13, 4], [5]]);
  });

  it('gives every item of a batch the error the batch threw', async () => {
    const c = new Coalescer<number, number>(() => Promise.reject(new Error('store down')));
    const results = await Promise.allSettled([c.submit(1), c.submit(2)]);
    assert.deepEqual(
      results.map((r) => r.status === 'rejected' && (r.reason as Error).message),
      ['store down', 'store down'],
    );
    await c.flushed();
  });

  it('flushed() waits for the items submitted before it, not for those that keep coming', async () => {
    const handled: number[] = [];
    const c = new Coalescer<number, void>(async (items) => {
      await new Promise((r) => setTimeout(r, 2));
      handled.push(...items);
      return items.map(() => ok(undefined));
    }, 10);
    // A steady stream of items (more than a batch per batch), for up to 5 s.
    let n = 0;
    let streaming = true;
    const until = Date.now() + 5_000;
    const stream = (async () => {
      while (streaming && Date.now() < until) {
        for (let i = 0; i < 20; i++) void c.submit(n++);
        await new Promise((r) => setImmediate(r));
      }
    })();
    while (n < 100) await new Promise((r) => setImmediate(r));
    const before = n;
    await c.flushed();
    const stillStreaming = Date.now() < until;
    const upTo = handled.length;
    streaming = false;
    await stream;
    await c.flushed();
    assert.ok(stillStreaming, 'it resolved while items were still being submitted');
    assert.ok(upTo >= before, `the ${before} items submitted before the call were handled`);
    assert.deepEqual(handled, [...Array(n).keys()], 'every item handled once, in submission order');
  });

  it('lingers between batches, and stops lingering when someone waits for it', async () => {
    const starts: number[] = [];
    const c = new Coalescer<number, void>(
      (items) => {
        starts.push(performance.now());
        return Promise.resolve(items.map(() => ok(undefined)));
      },
      100,
      400,
    );
    await c.submit(1);
    const t0 = performance.now();
    const second = c.submit(2);
    await second;
    assert.ok(starts[1]! - starts[0]! >= 390, `second batch ${starts[1]! - starts[0]!} ms later`);
    assert.ok(performance.now() - t0 >= 300);
    // A third item lingers too, until flushed() is awaited: then it goes at once.
    const before = performance.now();
    void c.submit(3);
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(starts.length, 2, 'the third batch is lingering');
    await c.flushed();
    assert.equal(starts.length, 3);
    assert.ok(performance.now() - before < 300, 'flushed() cut the linger short');
  });
});
