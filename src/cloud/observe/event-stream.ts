/**
 * `GET <project>/api/events`: the project's events as server-sent events,
 * as they happen:
 *
 *     id: 42
 *     event: plan.finished
 *     data: {"type":"plan.finished","ts":1700000000000,"payload":{...}}
 *
 * A client that sends `Last-Event-ID` (browsers do on reconnect; `?lastEventId=`
 * works too) first gets the stored events after that id; when some of them are
 * no longer kept it gets an `event: gap` first. A comment line every
 * `heartbeatMs` keeps proxies from closing the connection. The stream ends
 * when the client goes away or the server stops.
 */
import type { Context } from 'hono';
import { badRequest } from '../http/api-error.js';
import type { CloudEnv } from '../http/project-scope.js';
import type { EventLog, LoggedEvent } from './event-log.js';

export interface EventStreamOptions {
  /** Milliseconds between heartbeat comments (15 s by default). */
  heartbeatMs?: number;
  /** Only events whose type starts with one of these. */
  types?: string[];
}

/** One server-sent event frame. */
export function sseFrame(event: Pick<LoggedEvent, 'id' | 'type' | 'payload' | 'ts'>): string {
  const data = JSON.stringify({ type: event.type, ts: event.ts, payload: event.payload });
  // Event types come from the cloud itself; newlines are stripped all the same.
  const type = event.type.replace(/[\r\n]/g, ' ');
  return `${event.id !== null ? `id: ${event.id}\n` : ''}event: ${type}\ndata: ${data}\n\n`;
}

/** The id to resume after, from `Last-Event-ID` or `?lastEventId=`; undefined for a fresh stream. */
export function resumeId(c: Context<CloudEnv>, fromQuery: string | undefined): number | undefined {
  const raw = c.req.header('last-event-id') ?? fromQuery;
  if (raw === undefined || raw.trim() === '') return undefined;
  const text = raw.trim();
  if (!/^\d{1,15}$/.test(text)) {
    throw badRequest(
      `Last-Event-ID: expected the id of an event this stream sent, got ${JSON.stringify(text.slice(0, 40))}`,
    );
  }
  return Number(text);
}

export function eventStream(
  c: Context<CloudEnv>,
  log: EventLog,
  projectId: string,
  after: number | undefined,
  options: EventStreamOptions = {},
): Response {
  const encoder = new TextEncoder();
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const wanted = (type: string) =>
    !options.types || options.types.some((prefix) => type.startsWith(prefix));
  let closed = false;
  let unsubscribe: (() => void) | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let controllerRef: ReadableStreamDefaultController<Uint8Array> | undefined;

  const close = () => {
    if (closed) return;
    closed = true;
    unsubscribe?.();
    if (heartbeat) clearInterval(heartbeat);
    try {
      controllerRef?.close();
    } catch {
      // Already closed or cancelled.
    }
  };
  const send = (text: string) => {
    if (closed || !controllerRef) return;
    try {
      controllerRef.enqueue(encoder.encode(text));
    } catch {
      close();
    }
  };

  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controllerRef = controller;
      send('retry: 3000\n: connected\n\n');
      // Live events are buffered while stored ones are sent, then delivered in order.
      let buffer: LoggedEvent[] | undefined = after !== undefined ? [] : undefined;
      let lastSent = after ?? 0;
      const deliver = (event: LoggedEvent) => {
        if (event.id !== null && event.id <= lastSent) return;
        if (!wanted(event.type)) return;
        if (event.id !== null) lastSent = event.id;
        send(sseFrame(event));
      };
      unsubscribe = log.subscribe(projectId, (event) => {
        if (buffer) buffer.push(event);
        else deliver(event);
      });
      heartbeat = setInterval(() => send(': heartbeat\n\n'), heartbeatMs);
      heartbeat.unref();
      if (after !== undefined) {
        void log
          .since(projectId, after)
          .then(({ events, gap }) => {
            if (gap) {
              send(
                `event: gap\ndata: ${JSON.stringify({ message: `some events after id ${after} are no longer kept; reload the state you show` })}\n\n`,
              );
            }
            for (const event of events) deliver(event);
            const pending = buffer ?? [];
            buffer = undefined;
            for (const event of pending) deliver(event);
          })
          .catch(() => close());
      }
    },
    cancel() {
      close();
    },
  });
  c.req.raw.signal.addEventListener('abort', close, { once: true });
  return new Response(stream, {
    status: 200,
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      'x-request-id': c.get('requestId'),
    },
  });
}
