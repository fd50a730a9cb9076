/**
 * Group commit for hot store writes and reads: requests that arrive while a
 * batch is in the store wait and go together in the next one, so under load
 * many requests share one statement (and one round trip), and a lone request
 * goes at once without waiting for company.
 */

/** What a batch answers for one item: its result, or the error that item alone gets. */
export type BatchOutcome<O> = { ok: true; value: O } | { ok: false; error: unknown };

interface Entry<I, O> {
  item: I;
  resolve(value: O): void;
  reject(error: unknown): void;
}

export class Coalescer<I, O> {
  private queue: Array<Entry<I, O>> = [];
  private running = false;
  private idleWaiters: Array<() => void> = [];

  private lastStart = -Infinity;

  /**
   * `run` handles a batch and answers one outcome per item, in order; when
   * it throws, every item of the batch gets that error. At most `maxBatch`
   * items go in one batch, and one batch runs at a time. With `lingerMs`, a
   * batch starts at least that long after the one before it (so writes that
   * nobody waits for gather more items), except when {@link idle} is awaited.
   */
  constructor(
    private readonly run: (items: I[]) => Promise<Array<BatchOutcome<O>>>,
    private readonly maxBatch = 256,
    private readonly lingerMs = 0,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) {
        this.running = true;
        // Requests read from the sockets in the same turn of the event loop join the first batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  /** Resolves once every item submitted so far has been handled. */
  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.endLinger?.();
    });
  }

  private endLinger: (() => void) | undefined;

  /** Waits `ms`, or less if someone starts waiting for {@link idle}. */
  private linger(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.endLinger = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.endLinger = done;
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const wait = this.lastStart + this.lingerMs - performance.now();
        if (wait > 0 && this.idleWaiters.length === 0) await this.linger(wait);
        this.lastStart = performance.now();
        const batch = this.queue.splice(0, this.maxBatch);
        let outcomes: Array<BatchOutcome<O>>;
        try {
          outcomes = await this.run(batch.map((e) => e.item));
        } catch (err) {
          for (const e of batch) e.reject(err);
          continue;
        }
        batch.forEach((e, i) => {
          const outcome = outcomes[i];
          if (!outcome) e.reject(new Error('the batch answered no outcome for this item'));
          else if (outcome.ok) e.resolve(outcome.value);
          else e.reject(outcome.error);
        });
      }
    } finally {
      this.running = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}

/** One coalescer per key object (a store, a context), made on first use. */
export function perKey<K extends object, V>(make: (key: K) => V): (key: K) => V {
  const map = new WeakMap<K, V>();
  return (key) => {
    let value = map.get(key);
    if (value === undefined) {
      value = make(key);
      map.set(key, value);
    }
    return value;
  };
}
