import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { storeTargets } from '../../helpers/stores.js';
import { countRows, startQueueCloud } from '../queue/queue-helpers.js';

const targets = await storeTargets();

const good = {
  name: 'exec-a',
  kind: 'run',
  version: '1.2.3',
  protocolVersion: '1.0',
  gateways: [
    { name: 'warehouse', type: 'postgres' },
    { name: 'local', type: 'duckdb' },
  ],
  address: 'host-a.internal',
};

for (const target of targets) {
  describe(`executor registry on ${target.kind}`, () => {
    it('registers an executor and lists it online, then offline after two lease lifetimes', async () => {
      const cloud = await startQueueCloud(target);
      const res = await cloud.post('/executors/register', good);
      assert.equal(res.status, 201);
      assert.equal(typeof res.body.executorId, 'string');
      // The cloud answers its own version; an executor of an older minor version is welcome.
      assert.equal(res.body.protocolVersion, '1.1');
      assert.equal(res.body.leaseTtlMs, 30_000);
      // Six heartbeats a lease: room for a 20 s outage of the cloud (see the protocol's rule).
      assert.equal(res.body.heartbeatIntervalMs, 5_000);

      const viewer = await cloud.token(cloud.clients.viewer);
      const list = await cloud.api('/executors', { token: viewer });
      assert.equal(list.status, 200);
      assert.equal(list.body.executors.length, 1);
      const e = list.body.executors[0];
      assert.equal(e.executorId, res.body.executorId);
      assert.equal(e.status, 'online');
      assert.equal(e.name, 'exec-a');
      assert.equal(e.kind, 'run');
      assert.equal(e.version, '1.2.3');
      assert.equal(e.address, 'host-a.internal');
      assert.deepEqual(e.gateways, good.gateways);
      assert.deepEqual(e.currentTasks, []);
      assert.deepEqual([e.completed, e.failed, e.retried, e.aborted], [0, 0, 0, 0]);
      assert.equal(e.lastSeenTs, cloud.clock.now());

      cloud.clock.advance(59_000);
      let again = await cloud.api('/executors', { token: viewer });
      assert.equal(again.body.executors[0].status, 'online');
      cloud.clock.advance(2_000);
      again = await cloud.api('/executors', { token: viewer });
      assert.equal(again.body.executors[0].status, 'offline');

      // Registering again under the same name takes over the offline entry.
      const back = await cloud.post('/executors/register', { ...good, version: '1.2.4' });
      assert.equal(back.body.executorId, res.body.executorId);
      again = await cloud.api('/executors', { token: viewer });
      assert.equal(again.body.executors.length, 1);
      assert.equal(again.body.executors[0].status, 'online');
      assert.equal(again.body.executors[0].version, '1.2.4');
      // While it is online, the same name gets a second entry (two replicas).
      const twin = await cloud.post('/executors/register', good);
      assert.notEqual(twin.body.executorId, res.body.executorId);
    });

    it('refuses incompatible protocol versions with both versions and what to upgrade', async () => {
      const cloud = await startQueueCloud(target);
      const newer = await cloud.post('/executors/register', { ...good, protocolVersion: '2.0' });
      assert.equal(newer.status, 409);
      assert.equal(newer.body.error.code, 'protocol_version');
      assert.match(newer.body.error.message, /2\.0/);
      assert.match(newer.body.error.message, /1\.1/);
      assert.match(newer.body.error.message, /upgrade the cloud/);
      const newerMinor = await cloud.post('/executors/register', {
        ...good,
        protocolVersion: '1.2',
      });
      assert.equal(newerMinor.status, 409);
      assert.match(newerMinor.body.error.message, /upgrade the cloud/);
      const older = await cloud.post('/executors/register', { ...good, protocolVersion: '0.9' });
      assert.equal(older.status, 409);
      assert.match(older.body.error.message, /upgrade the executor/);
      const junk = await cloud.post('/executors/register', { ...good, protocolVersion: 'one' });
      assert.equal(junk.status, 400);
      assert.match(junk.body.error.message, /major\.minor/);
      assert.equal(await countRows(cloud, 'executors'), 0);
    });

    it('refuses connection settings in gateways and other bad input, storing nothing', async () => {
      const cloud = await startQueueCloud(target);
      const bodies: unknown[] = [
        { ...good, gateways: [{ name: 'wh', type: 'postgres', host: 'db.internal' }] },
        { ...good, gateways: [{ name: 'wh', type: 'postgres', password: 'hunter2' }] },
        { ...good, gateways: [{ name: 'wh', type: 'postgres', connection: { user: 'x' } }] },
        { ...good, password: 'hunter2' },
        { ...good, kind: 'both' },
        { ...good, name: '' },
        { ...good, name: "x'; DROP TABLE executors; --" },
        { ...good, name: 'a'.repeat(10_000) },
        { ...good, version: 12 },
        { ...good, gateways: 'local' },
        { ...good, gateways: [{ name: 'wh', type: "postgres'; --" }] },
        {
          ...good,
          gateways: Array.from({ length: 101 }, (_, i) => ({ name: `g${i}`, type: 'duckdb' })),
        },
        { ...good, address: 'a\nb' },
        { ...good, hosting: 'moon' },
        { name: 'x' },
        [],
        null,
        'register me',
      ];
      for (const body of bodies) {
        const res = await cloud.post('/executors/register', body);
        assert.equal(res.status, 400, JSON.stringify(body).slice(0, 200));
        assert.equal(typeof res.body.error.message, 'string');
        assert.ok(!res.body.error.message.includes('\n'));
      }
      const malformed = await cloud.api('/executors/register', {
        method: 'POST',
        body: '{"name": "x",',
        token: cloud.executorToken,
      });
      assert.equal(malformed.status, 400);
      assert.match(malformed.body.error.message, /not valid JSON/);
      const wrongType = await cloud.api('/executors/register', {
        method: 'POST',
        body: JSON.stringify(good),
        token: cloud.executorToken,
        headers: { 'content-type': 'text/plain' },
      });
      assert.equal(wrongType.status, 415);
      const unknownKey = await cloud.post('/executors/register', { ...good, host: 'x' });
      assert.match(unknownKey.body.error.message, /unknown field.*"host"/);
      assert.equal(await countRows(cloud, 'executors'), 0);
    });

    it('lets only executors register and only readers list', async () => {
      const cloud = await startQueueCloud(target);
      for (const role of ['viewer', 'developer', 'admin'] as const) {
        const token = await cloud.token(cloud.clients[role]);
        const res = await cloud.api('/executors/register', { method: 'POST', body: good, token });
        assert.equal(res.status, 403, role);
        assert.match(res.body.error.message, /act as an executor/);
      }
      const none = await cloud.api('/executors/register', {
        method: 'POST',
        body: good,
        token: null,
      });
      assert.equal(none.status, 401);
      const listNone = await cloud.api('/executors', { token: null });
      assert.equal(listNone.status, 401);
      const listExec = await cloud.api('/executors', { token: cloud.executorToken });
      assert.equal(listExec.status, 403);
      for (const role of ['viewer', 'developer', 'admin'] as const) {
        const token = await cloud.token(cloud.clients[role]);
        assert.equal((await cloud.api('/executors', { token })).status, 200, role);
      }
      assert.equal(await countRows(cloud, 'executors'), 0);
    });
  });
}
