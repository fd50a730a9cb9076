/**
 * The cloud's in-process event bus: what changed (a task queued, a plan
 * finished, an executor seen), for the server-sent event stream and to wake
 * waiting claims at once.
 */
export interface CloudEvent {
  projectId: string;
  type: string;
  payload: Record<string, unknown>;
  ts: number;
}

type Listener = (event: CloudEvent) => void;

export class EventBus {
  private readonly listeners = new Set<Listener>();

  publish(event: CloudEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // A failing listener must not stop the others.
      }
    }
  }

  /** Calls `listener` for every event until the returned function is called. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves with the first event `match` accepts, or undefined after
   * `timeoutMs` or when `signal` aborts.
   */
  waitFor(
    match: (event: CloudEvent) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<CloudEvent | undefined> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (event: CloudEvent | undefined) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        unsubscribe();
        signal?.removeEventListener('abort', onAbort);
        resolve(event);
      };
      const onAbort = () => finish(undefined);
      const unsubscribe = this.subscribe((event) => {
        if (match(event)) finish(event);
      });
      const timer = setTimeout(() => finish(undefined), Math.max(0, timeoutMs));
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted) finish(undefined);
    });
  }
}
