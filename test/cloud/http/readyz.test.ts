/**
 * GET /readyz on both stores: 200 `ok` while the store answers `SELECT 1`,
 * 503 with a one-line reason while it is busy past the timeout or gone, and
 * ready again once it answers. /livez does not depend on the store.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type pg from 'pg';
import { READY_TIMEOUT_MS } from '../../../src/cloud/http/app.js';
import { startTestCloud, type TestCloud } from '../../helpers/cloud.js';
import { storeTargets } from '../../helpers/stores.js';

const targets = await storeTargets();

async function get(
  cloud: TestCloud,
  path: string,
): Promise<{ status: number; text: string; ms: number; headers: Headers }> {
  const started = performance.now();
  const res = await fetch(`${cloud.server.url}${path}`);
  const text = await res.text();
  return { status: res.status, text, ms: performance.now() - started, headers: res.headers };
}

/**
 * Takes every connection the store has (the pool's clients on PostgreSQL, the
 * one connection on SQLite) until the returned function is called.
 */
async function holdEveryConnection(cloud: TestCloud): Promise<() => Promise<void>> {
  const driver = cloud.server.ctx.store.driver;
  if (driver.kind === 'postgres') {
    const max = (driver.pool as pg.Pool & { options: { max: number } }).options.max;
    const clients = await Promise.all(Array.from({ length: max }, () => driver.pool.connect()));
    return async () => {
      for (const client of clients) client.release();
    };
  }
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let held!: () => void;
  const holding = new Promise<void>((resolve) => (held = resolve));
  const done = cloud.server.ctx.store.db.connection().execute(async () => {
    held();
    await released;
  });
  await holding;
  return async () => {
    release();
    await done;
  };
}

for (const target of targets) {
  describe(`GET /readyz (${target.kind} store)`, async () => {
    const cloud = await startTestCloud(target);

    it('answers 200 ok, never cached, while the store answers', async () => {
      const r = await get(cloud, '/readyz');
      assert.equal(r.status, 200);
      assert.equal(r.text, 'ok');
      assert.equal(r.headers.get('cache-control'), 'no-store');
      assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
    });

    it('answers 503 within the timeout while no connection is free, then 200 again', async () => {
      const release = await holdEveryConnection(cloud);
      try {
        const r = await get(cloud, '/readyz');
        assert.equal(r.status, 503);
        assert.equal(r.text, `not ready: the store did not answer within ${READY_TIMEOUT_MS} ms`);
        assert.ok(r.ms >= READY_TIMEOUT_MS - 50, `waited ${r.ms} ms for the store`);
        assert.ok(r.ms < READY_TIMEOUT_MS + 2_000, `answered in ${r.ms} ms, not hung`);
        assert.equal((await get(cloud, '/livez')).status, 200, 'alive all the same');
      } finally {
        await release();
      }
      const again = await get(cloud, '/readyz');
      assert.deepEqual([again.status, again.text], [200, 'ok']);
    });

    it('answers 503 with a one-line reason and no store details once the store is closed', async () => {
      await cloud.server.ctx.store.close();
      const r = await get(cloud, '/readyz');
      assert.equal(r.status, 503);
      assert.equal(r.text, 'not ready: the store query failed');
      assert.equal(r.headers.get('cache-control'), 'no-store');
      const live = await get(cloud, '/livez');
      assert.deepEqual([live.status, live.text], [200, 'ok']);
    });
  });
}
