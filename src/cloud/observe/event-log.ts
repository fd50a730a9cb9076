/**
 * The events log: every event on the cloud's bus is stored in the `events`
 * table (newest `cap` per project kept), in publication order, then handed
 * to the event streams with its stored id, so a client that reconnects with
 * `Last-Event-ID` resumes exactly where it stopped.
 *
 * Events are stored one batch at a time (a {@link Coalescer}), those
 * published meanwhile together in one multi-row insert (under load
 * thousands arrive each second), so ids grow in the order listeners see them. An event that cannot be stored (the store is
 * closing) is still delivered, without an id, and so are the queue's
 * wake-up events ({@link LIVE_ONLY}), which are never stored.
 */
import type { CloudContext } from '../context.js';
import type { CloudEvent } from '../events.js';
import { Coalescer, type BatchOutcome } from '../queue/coalescer.js';

export interface LoggedEvent {
  /** The events table id; null when the event could not be stored. */
  id: number | null;
  projectId: string;
  type: string;
  payload: Record<string, unknown>;
  ts: number;
}

export interface EventLogOptions {
  /** Events kept per project (10,000 by default). */
  cap?: number;
  /**
   * Prune a project's events every this many stored events (a tenth of `cap`,
   * at least 100, by default): a prune looks `cap` events back.
   */
  pruneEvery?: number;
}

type Listener = (event: LoggedEvent) => void;

/** Stored events can be read back at most this many at a time. */
const READ_BATCH = 500;
/** Most events stored by one insert. */
const WRITE_BATCH = 500;
const STORED: BatchOutcome<void> = { ok: true, value: undefined };

/**
 * The task queue's wake-up chatter, several per task: streamed as it
 * happens, without an id, and not stored (a page resuming needs the outcomes,
 * which are stored, not these).
 */
const LIVE_ONLY: ReadonlySet<string> = new Set([
  'task.queued',
  'task.ready',
  'task.claimed',
  'executor.seen',
]);

export class EventLog {
  readonly cap: number;
  private readonly pruneEvery: number;
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly sinceLastPrune = new Map<string, number>();
  /** Highest id pruned per project (events at or below it are gone). */
  private readonly prunedThrough = new Map<string, number>();
  /** Stores and delivers events in batches, one batch at a time, in publication order. */
  private readonly writer = new Coalescer<CloudEvent, void>(async (events) => {
    await this.store(events);
    return events.map(() => STORED);
  }, WRITE_BATCH);
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly ctx: CloudContext,
    options: EventLogOptions = {},
  ) {
    this.cap = options.cap ?? 10_000;
    this.pruneEvery = options.pruneEvery ?? Math.max(100, Math.floor(this.cap / 10));
  }

  /** Starts storing the bus's events. */
  start(): void {
    if (this.unsubscribe) return;
    this.unsubscribe = this.ctx.events.subscribe((event) => {
      this.writer.submit(event).catch((err: unknown) =>
        this.ctx.log.warn('an event was not delivered', {
          type: event.type,
          error: err instanceof Error ? err.message : String(err),
        }),
      );
    });
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /**
   * Resolves once every event published so far is stored and delivered;
   * events published after the call are not waited for.
   */
  flushed(): Promise<void> {
    return this.writer.flushed();
  }

  /** Calls `listener` with each event of `projectId` from now on, until the returned function is called. */
  subscribe(projectId: string, listener: Listener): () => void {
    let set = this.listeners.get(projectId);
    if (!set) {
      set = new Set();
      this.listeners.set(projectId, set);
    }
    set.add(listener);
    return () => {
      const current = this.listeners.get(projectId);
      current?.delete(listener);
      if (current && current.size === 0) this.listeners.delete(projectId);
    };
  }

  /** How many streams listen now (all projects). */
  get listenerCount(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  private async store(events: CloudEvent[]): Promise<void> {
    const ids: Array<number | null> = events.map(() => null);
    const kept = events.flatMap((event, i) => (LIVE_ONLY.has(event.type) ? [] : [i]));
    try {
      const rows = kept.length === 0 ? [] : await this.insert(kept.map((i) => events[i]!));
      // The rows take their ids in the order of the values.
      const sorted = rows.map((r) => Number(r.id)).sort((a, b) => a - b);
      if (sorted.length === kept.length) kept.forEach((i, k) => (ids[i] = sorted[k]!));
      const toPrune: string[] = [];
      for (const event of kept.map((i) => events[i]!)) {
        const n = (this.sinceLastPrune.get(event.projectId) ?? 0) + 1;
        this.sinceLastPrune.set(event.projectId, n);
        if (n >= this.pruneEvery) {
          this.sinceLastPrune.set(event.projectId, 0);
          toPrune.push(event.projectId);
        }
      }
      for (const projectId of new Set(toPrune)) await this.prune(projectId);
    } catch (err) {
      this.ctx.log.debug('events not stored', {
        events: events.length,
        error: err instanceof Error ? err.message : String(err),
      });
    }
    events.forEach((event, i) => this.deliver(event, ids[i] ?? null));
  }

  /** Inserts the events in one statement; their ids, in any order. */
  private async insert(events: CloudEvent[]): Promise<Array<{ id: number | string }>> {
    const values = events.map((event) => ({
      project_id: event.projectId,
      type: event.type.slice(0, 200),
      payload: JSON.stringify(event.payload ?? {}),
      ts: event.ts,
    }));
    const driver = this.ctx.store.driver;
    if (driver.kind === 'postgres') {
      // Four array parameters and a statement prepared once per connection,
      // rather than four parameters a row in a statement of its own shape.
      const result = await driver.pool.query<{ id: string }>({
        name: 'tideline_store_events',
        text: `INSERT INTO "events" ("project_id", "type", "payload", "ts")
          SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) RETURNING "id"`,
        values: [
          values.map((v) => v.project_id),
          values.map((v) => v.type),
          values.map((v) => v.payload),
          values.map((v) => v.ts),
        ],
      });
      return result.rows;
    }
    return this.ctx.store.db.insertInto('events').values(values).returning('id').execute();
  }

  private deliver(event: CloudEvent, id: number | null): void {
    const logged: LoggedEvent = {
      id,
      projectId: event.projectId,
      type: event.type,
      payload: event.payload ?? {},
      ts: event.ts,
    };
    for (const listener of [...(this.listeners.get(event.projectId) ?? [])]) {
      try {
        listener(logged);
      } catch {
        // One failing stream must not stop the others.
      }
    }
  }

  /** Keeps the newest `cap` events of the project. */
  async prune(projectId: string): Promise<number> {
    const db = this.ctx.store.db;
    const edge = await db
      .selectFrom('events')
      .select('id')
      .where('project_id', '=', projectId)
      .orderBy('id', 'desc')
      .limit(1)
      .offset(this.cap)
      .executeTakeFirst();
    if (!edge) return 0;
    const through = Number(edge.id);
    const result = await db
      .deleteFrom('events')
      .where('project_id', '=', projectId)
      .where('id', '<=', through)
      .executeTakeFirst();
    this.prunedThrough.set(projectId, Math.max(through, this.prunedThrough.get(projectId) ?? 0));
    return Number(result.numDeletedRows);
  }

  /**
   * Stored events of the project after id `afterId`, oldest first, and whether
   * some events after `afterId` are no longer kept (`gap`).
   */
  async since(
    projectId: string,
    afterId: number,
  ): Promise<{ events: LoggedEvent[]; gap: boolean }> {
    const db = this.ctx.store.db;
    const events: LoggedEvent[] = [];
    let cursor = afterId;
    for (;;) {
      const rows = await db
        .selectFrom('events')
        .select(['id', 'type', 'payload', 'ts'])
        .where('project_id', '=', projectId)
        .where('id', '>', cursor)
        .orderBy('id')
        .limit(READ_BATCH)
        .execute();
      for (const r of rows) {
        let payload: Record<string, unknown> = {};
        try {
          const value = JSON.parse(r.payload) as unknown;
          if (value && typeof value === 'object') payload = value as Record<string, unknown>;
        } catch {
          payload = {};
        }
        events.push({ id: Number(r.id), projectId, type: r.type, payload, ts: Number(r.ts) });
      }
      if (rows.length < READ_BATCH || events.length >= this.cap) break;
      cursor = Number(rows[rows.length - 1]!.id);
    }
    let gap = afterId < (this.prunedThrough.get(projectId) ?? 0);
    if (!gap) {
      // After a restart: the log is full and begins after the client's position.
      const stats = await db
        .selectFrom('events')
        .select((eb) => [eb.fn.min('id').as('first'), eb.fn.countAll().as('n')])
        .where('project_id', '=', projectId)
        .executeTakeFirst();
      const first = stats?.first == null ? null : Number(stats.first);
      gap = first !== null && afterId < first - 1 && Number(stats?.n ?? 0) >= this.cap;
    }
    return { events, gap };
  }
}

const logs = new WeakMap<CloudContext, EventLog>();

/** The context's events log, created and started on first use. */
export function eventLogFor(ctx: CloudContext, options: EventLogOptions = {}): EventLog {
  let log = logs.get(ctx);
  if (!log) {
    log = new EventLog(ctx, options);
    log.start();
    logs.set(ctx, log);
  }
  return log;
}

/** Resolves once the events published so far are stored (at once if nothing stores them). */
export function eventsWritten(ctx: CloudContext): Promise<void> {
  return logs.get(ctx)?.flushed() ?? Promise.resolve();
}
