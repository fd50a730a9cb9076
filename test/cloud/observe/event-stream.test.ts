import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tokenRoutes } from '../../../src/cloud/auth/token-routes.js';
import { silentLogger } from '../../../src/cloud/logger.js';
import { eventLogFor } from '../../../src/cloud/observe/event-log.js';
import { createObserveRoutes } from '../../../src/cloud/observe/observe-routes.js';
import { pauseRoutes } from '../../../src/cloud/pauses/pause-routes.js';
import { startCloudServer } from '../../../src/cloud/server.js';
import { openStore } from '../../../src/cloud/store/database.js';
import { bootstrap } from '../../../src/cloud/tenancy.js';
import { startTestCloud, type TestCloud } from '../../helpers/cloud.js';
import { storeTargets, type StoreTarget } from '../../helpers/stores.js';

const targets = await storeTargets();

interface Frame {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

/** An open event stream: frames as they arrive. */
class Stream {
  readonly frames: Frame[] = [];
  private text = '';
  private readonly done: Promise<void>;
  ended = false;

  constructor(
    readonly response: Response,
    readonly abort: AbortController,
  ) {
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    this.done = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          this.text += decoder.decode(value, { stream: true });
          let at: number;
          while ((at = this.text.indexOf('\n\n')) >= 0) {
            const block = this.text.slice(0, at);
            this.text = this.text.slice(at + 2);
            const frame: Frame = {};
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) frame.comment = line.slice(1).trim();
              else if (line.startsWith('id: ')) frame.id = line.slice(4);
              else if (line.startsWith('event: ')) frame.event = line.slice(7);
              else if (line.startsWith('data: ')) frame.data = line.slice(6);
            }
            this.frames.push(frame);
          }
        }
      } catch {
        // Aborted.
      } finally {
        this.ended = true;
      }
    })();
  }

  events(): Frame[] {
    return this.frames.filter((f) => f.event !== undefined);
  }

  async until(check: () => boolean, ms = 3_000): Promise<void> {
    const end = Date.now() + ms;
    while (!check()) {
      if (Date.now() > end)
        throw new Error(`stream condition not met: ${JSON.stringify(this.frames)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}

async function open(
  cloud: TestCloud,
  headers: Record<string, string> = {},
  query = '',
): Promise<Stream> {
  const abort = new AbortController();
  const res = await fetch(`${cloud.projectUrl}/api/events${query}`, {
    headers: { authorization: `Bearer ${await cloud.token(cloud.clients.viewer)}`, ...headers },
    signal: abort.signal,
  });
  return new Stream(res, abort);
}

async function eventCloud(target: StoreTarget, options: { eventCap?: number } = {}) {
  return startTestCloud(target, {
    routes: [tokenRoutes, pauseRoutes, createObserveRoutes({ heartbeatMs: 50, ...options })],
  });
}

async function writeEnvironment(cloud: TestCloud, name: string): Promise<void> {
  const now = Date.now();
  await cloud.server.ctx.store.db
    .insertInto('environments')
    .values({
      project_id: cloud.projectId,
      name,
      payload: JSON.stringify({
        name,
        snapshots: [],
        startAt: 0,
        planId: 'p1',
        createdTs: now,
        updatedTs: now,
      }),
      plan_id: 'p1',
      expiration_ts: null,
      created_ts: now,
      updated_ts: now,
    })
    .execute();
}

for (const target of targets) {
  describe(`event stream on ${target.kind}`, () => {
    it('streams the project’s events as they happen, with ids and heartbeats', async () => {
      const cloud = await eventCloud(target);
      await writeEnvironment(cloud, 'dev');
      const stream = await open(cloud);
      assert.equal(stream.response.status, 200);
      assert.match(stream.response.headers.get('content-type') ?? '', /^text\/event-stream/);
      await stream.until(() => stream.frames.some((f) => f.comment === 'connected'));
      const res = await cloud.api('/environments/dev/pause', { body: { reason: 'maintenance' } });
      assert.equal(res.status, 201);
      // Another project's events are not sent.
      cloud.server.ctx.events.publish({
        projectId: 'elsewhere',
        type: 'secret.thing',
        payload: {},
        ts: 1,
      });
      await stream.until(() => stream.events().length >= 1);
      const [frame] = stream.events();
      assert.equal(frame!.event, 'pause.changed');
      assert.match(frame!.id ?? '', /^\d+$/);
      const data = JSON.parse(frame!.data!);
      assert.deepEqual(data.payload, {
        environment: 'dev',
        model: null,
        paused: true,
        // The admin client the test cloud's requests use by default.
        by: cloud.clients.admin.clientId,
      });
      await stream.until(() => stream.frames.some((f) => f.comment === 'heartbeat'));
      assert.ok(stream.events().every((f) => f.event !== 'secret.thing'));
      await stream.close();
    });

    it('resumes after Last-Event-ID from the stored events, then continues live', async () => {
      const cloud = await eventCloud(target);
      await writeEnvironment(cloud, 'dev');
      const first = await open(cloud);
      await first.until(() => first.frames.length > 0);
      await cloud.api('/environments/dev/pause', { body: {} });
      await first.until(() => first.events().length === 1);
      const lastId = first.events()[0]!.id!;
      await first.close();
      // Missed while disconnected.
      await cloud.api('/environments/dev/pause', { method: 'DELETE' });
      await cloud.api('/environments/dev/pause', { body: { reason: 'again' } });
      await eventLogFor(cloud.server.ctx).flushed();

      const resumed = await open(cloud, { 'last-event-id': lastId });
      await resumed.until(() => resumed.events().length >= 2);
      const paused = resumed.events().map((f) => JSON.parse(f.data!).payload.paused);
      assert.deepEqual(paused, [false, true]);
      const ids = resumed.events().map((f) => Number(f.id));
      assert.ok(ids.every((id) => id > Number(lastId)));
      await cloud.api('/environments/dev/pause', { method: 'DELETE' });
      await resumed.until(() => resumed.events().length >= 3);
      assert.ok(Number(resumed.events()[2]!.id) > ids[1]!);
      await resumed.close();

      const bad = await fetch(`${cloud.projectUrl}/api/events`, {
        headers: { authorization: `Bearer ${await cloud.token()}`, 'last-event-id': 'abc' },
      });
      assert.equal(bad.status, 400);
    });

    it('stores events published together in order, and streams the queue chatter without storing it', async () => {
      const cloud = await eventCloud(target);
      const ctx = cloud.server.ctx;
      const log = eventLogFor(ctx);
      const seen: Array<[string, number | null]> = [];
      const stop = log.subscribe(cloud.projectId, (e) => seen.push([e.type, e.id]));
      const types = ['a.one', 'task.claimed', 'a.two', 'executor.seen', 'a.three', 'task.ready'];
      for (const type of types) {
        ctx.events.publish({ projectId: cloud.projectId, type, payload: {}, ts: 1 });
      }
      await log.flushed();
      stop();
      assert.deepEqual(
        seen.map(([type]) => type),
        types,
      );
      const stored = seen.filter(([type]) => type.startsWith('a.'));
      assert.ok(stored.every(([, id]) => typeof id === 'number'));
      const ids = stored.map(([, id]) => id!);
      assert.deepEqual(
        ids,
        [...ids].sort((a, b) => a - b),
      );
      assert.ok(seen.filter(([type]) => !type.startsWith('a.')).every(([, id]) => id === null));
      const rows = await ctx.store.db
        .selectFrom('events')
        .select(['id', 'type'])
        .where('project_id', '=', cloud.projectId)
        .orderBy('id')
        .execute();
      assert.deepEqual(
        rows.filter((r) => r.type.startsWith('a.')).map((r) => [r.type, Number(r.id)]),
        stored.map(([type, id]) => [type, id]),
      );
      assert.ok(
        !rows.some((r) => ['task.claimed', 'executor.seen', 'task.ready'].includes(r.type)),
      );
    });

    it('waits for the events published before it asks, not for those that keep coming', async () => {
      const cloud = await eventCloud(target);
      const ctx = cloud.server.ctx;
      const log = eventLogFor(ctx);
      const stored: string[] = [];
      const stop = log.subscribe(cloud.projectId, (e) => {
        if (e.id !== null) stored.push(e.type);
      });
      const publish = (type: string) =>
        ctx.events.publish({ projectId: cloud.projectId, type, payload: {}, ts: 1 });
      // A steady stream of events (bursts of 20 on every turn of the event
      // loop, so the log is never without work), for up to 5 s.
      let n = 0;
      let streaming = true;
      const until = Date.now() + 5_000;
      const stream = (async () => {
        while (streaming && Date.now() < until) {
          for (let i = 0; i < 20; i++) publish(`stream.${n++}`);
          await new Promise((r) => setImmediate(r));
        }
      })();
      while (n < 20) await new Promise((r) => setTimeout(r, 5));
      publish('marker');
      await log.flushed();
      const stillStreaming = Date.now() < until;
      const marked = stored.includes('marker');
      streaming = false;
      await stream;
      await log.flushed();
      stop();
      assert.ok(marked, 'the event published before the call is stored when it resolves');
      assert.ok(stillStreaming, 'it resolved while events were still being published');
      assert.equal(stored.length, n + 1, 'every event stored once the stream ends');
    });

    it('stores the events of the last requests before the cloud closes its store', async () => {
      const state = await target.newUrl();
      const server = await startCloudServer({ state, log: silentLogger, routes: [] });
      const { project } = await bootstrap(server.ctx, 'acme', 'closing');
      eventLogFor(server.ctx);
      for (let i = 0; i < 5_000; i++) {
        server.ctx.events.publish({ projectId: project.id, type: `last.${i}`, payload: {}, ts: i });
      }
      await server.close();
      const store = await openStore(state);
      try {
        const rows = await store.db
          .selectFrom('events')
          .select(['type'])
          .where('project_id', '=', project.id)
          .where('type', 'like', 'last.%')
          .orderBy('id')
          .execute();
        assert.equal(rows.length, 5_000);
        assert.equal(rows[4_999]!.type, 'last.4999');
      } finally {
        await store.close();
      }
    });

    it('keeps a capped number of events per project and says when a resume has a gap', async () => {
      const cloud = await eventCloud(target, { eventCap: 5 });
      const log = eventLogFor(cloud.server.ctx);
      for (let i = 0; i < 12; i++) {
        cloud.server.ctx.events.publish({
          projectId: cloud.projectId,
          type: 'test.tick',
          payload: { i },
          ts: i,
        });
      }
      await log.flushed();
      await log.prune(cloud.projectId);
      const kept = await cloud.server.ctx.store.db
        .selectFrom('events')
        .select('id')
        .where('project_id', '=', cloud.projectId)
        .execute();
      assert.equal(kept.length, 5);
      const stream = await open(cloud, { 'last-event-id': '1' });
      await stream.until(() => stream.events().length >= 6);
      assert.equal(stream.events()[0]!.event, 'gap');
      assert.deepEqual(
        stream
          .events()
          .slice(1)
          .map((f) => JSON.parse(f.data!).payload.i),
        [7, 8, 9, 10, 11],
      );
      await stream.close();
    });

    it('stops listening when the client goes away or the server stops', async () => {
      const cloud = await eventCloud(target);
      const log = eventLogFor(cloud.server.ctx);
      const listeners = (): number => log.listenerCount;
      const a = await open(cloud);
      const b = await open(cloud, {}, '?types=plan.');
      await a.until(() => a.frames.length > 0);
      await b.until(() => b.frames.length > 0);
      assert.equal(listeners(), 2);
      cloud.server.ctx.events.publish({
        projectId: cloud.projectId,
        type: 'run.created',
        payload: {},
        ts: 1,
      });
      cloud.server.ctx.events.publish({
        projectId: cloud.projectId,
        type: 'plan.finished',
        payload: {},
        ts: 2,
      });
      await b.until(() => b.events().length === 1);
      assert.equal(b.events()[0]!.event, 'plan.finished');
      await a.close();
      const end = Date.now() + 2_000;
      while (listeners() !== 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      assert.equal(listeners(), 1);
      await cloud.server.close();
      await b.until(() => b.ended);
      const end2 = Date.now() + 2_000;
      while (listeners() !== 0 && Date.now() < end2) await new Promise((r) => setTimeout(r, 10));
      assert.equal(listeners(), 0);
    });
  });
}
