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
  /** Items submitted, and items handled (in submission order: a prefix). */
  private submitted = 0;
  private handled = 0;
  private waiters: Array<{ upTo: number; resolve: () => void }> = [];
  private endLinger: (() => void) | undefined;
  private lastStart = -Infinity;

  /**
   * `run` handles a batch and answers one outcome per item, in order; when
   * it throws, every item of the batch gets that error. At most `maxBatch`
   * items go in one batch, and one batch runs at a time, in submission
   * order. With `lingerMs`, a batch starts at least that long after the one
   * before it (so writes that nobody waits for gather more items), except
   * while someone awaits {@link flushed}.
   */
  constructor(
    private readonly run: (items: I[]) => Promise<Array<BatchOutcome<O>>>,
    private readonly maxBatch = 256,
    private readonly lingerMs = 0,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.submitted += 1;
      if (!this.running) {
        this.running = true;
        // Requests read from the sockets in the same turn of the event loop join the first batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  /**
   * Resolves once every item submitted so far has been handled; items
   * submitted after the call are not waited for.
   */
  flushed(): Promise<void> {
    if (this.handled >= this.submitted) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ upTo: this.submitted, resolve });
      this.endLinger?.();
    });
  }

  /** Waits `ms`, or less if someone starts waiting for {@link flushed}. */
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
        if (wait > 0 && this.waiters.length === 0) await this.linger(wait);
        this.lastStart = performance.now();
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          const outcomes = await this.run(batch.map((e) => e.item));
          batch.forEach((e, i) => {
            const outcome = outcomes[i];
            if (!outcome) e.reject(new Error('the batch answered no outcome for this item'));
            else if (outcome.ok) e.resolve(outcome.value);
            else e.reject(outcome.error);
          });
        } catch (err) {
          for (const e of batch) e.reject(err);
        }
        this.handled += batch.length;
        this.releaseWaiters();
      }
    } finally {
      this.running = false;
    }
  }

  private releaseWaiters(): void {
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => w.upTo <= this.handled);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.upTo > this.handled);
    for (const w of ready) w.resolve();
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
