import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tokenRoutes } from '../../../src/cloud/auth/token-routes.js';
import { createObserveRoutes } from '../../../src/cloud/observe/observe-routes.js';
import { decodeCursor, encodeCursor } from '../../../src/cloud/observe/query-params.js';
import { startTestCloud } from '../../helpers/cloud.js';
import { storeTargets } from '../../helpers/stores.js';

const targets = await storeTargets();

const LIST_ROUTES = [
  '/environments',
  '/plans',
  '/plans/p1/evaluations',
  '/plans/p1/logs',
  '/plans/p1/audits',
  '/runs/r1/evaluations',
  '/runs/r1/logs',
  '/runs/r1/audits',
  '/evaluations',
  '/logs',
  '/activity',
  '/v1/runs',
  '/v1/evaluations',
  '/v1/runs/r1/evaluations',
];

/** Query strings every list refuses, with the parameter the message must name. */
const BAD_LIMITS: Array<[string, string]> = [
  ['limit=0', 'limit'],
  ['limit=-1', 'limit'],
  ['limit=501', 'limit'],
  ['limit=abc', 'limit'],
  ['limit=1e3', 'limit'],
  ['limit=99999999999999999999', 'limit'],
  ['limit=1&limit=2', 'limit'],
  ['nope=1', 'nope'],
  ['limit=1%27%20OR%201%3D1', 'limit'],
];

/** Route-specific bad values. */
const BAD_VALUES: Array<[string, string]> = [
  ['/plans?status=done', 'status'],
  ['/plans?before=yesterday', 'before'],
  ['/plans?before=1%27%3B%20DROP%20TABLE%20plans%3B--', 'before'],
  ['/plans?environment=%00x', 'environment'],
  [`/plans?environment=${'e'.repeat(300)}`, 'environment'],
  ['/evaluations?status=running', 'status'],
  [`/evaluations?model=${'m'.repeat(2_000)}`, 'model'],
  ['/evaluations?run=a%0Ab', 'run'],
  ['/logs?level=loud', 'level'],
  ['/logs?before=-5', 'before'],
  ['/logs?before=1.5', 'before'],
  ['/activity?type=deploy', 'type'],
  ['/v1/runs?status=succeeded,failed', 'status'],
  ['/environments/prod?x=1', 'x'],
  ['/home?environment=dev', 'environment'],
  ['/events?lastEventId=abc', 'Last-Event-ID'],
];

for (const target of targets) {
  describe(`observability query input on ${target.kind}`, () => {
    it('answers bad query parameters 400 naming the parameter, and stores nothing', async () => {
      const cloud = await startTestCloud(target, {
        routes: [tokenRoutes, createObserveRoutes()],
      });
      const db = cloud.server.ctx.store.db;
      const now = Date.now();
      await db
        .insertInto('plans')
        .values({
          id: 'p1',
          project_id: cloud.projectId,
          environment: 'prod',
          status: 'succeeded',
          payload: null,
          summary: '{}',
          created_by: null,
          created_ts: now,
          updated_ts: now,
          started_ts: null,
          finished_ts: null,
          error: null,
        })
        .execute();
      await db
        .insertInto('runs')
        .values({
          id: 'r1',
          project_id: cloud.projectId,
          environment: 'prod',
          status: 'succeeded',
          trigger: 'manual',
          execution_ts: now,
          created_ts: now,
          started_ts: null,
          finished_ts: null,
          error: null,
          created_by: null,
        })
        .execute();
      const counts = async () => {
        const out: number[] = [];
        for (const table of ['plans', 'runs', 'logs', 'evaluations', 'events'] as const) {
          const row = await db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow();
          out.push(Number(row.n));
        }
        return out;
      };
      const before = await counts();
      const cases: Array<[string, string]> = [
        ...LIST_ROUTES.flatMap((route) =>
          BAD_LIMITS.map(([q, param]): [string, string] => [`${route}?${q}`, param]),
        ),
        ...BAD_VALUES,
      ];
      for (const [path, param] of cases) {
        const res = await cloud.api(path);
        assert.equal(res.status, 400, `${path}: ${res.status} ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, 'bad_request');
        const message = String(res.body.error.message);
        assert.ok(message.includes(param), `${path}: ${message}`);
        assert.ok(!message.includes('\n') && message.length < 400, `${path}: ${message}`);
      }
      // SQL-looking text in free-text filters is only text.
      for (const path of [
        '/evaluations?model=%27%3B%20DROP%20TABLE%20evaluations%3B--',
        '/logs?run=%27%20OR%20%271%27%3D%271',
        '/activity?environment=prod%27--',
      ]) {
        const res = await cloud.api(path);
        assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body)}`);
      }
      assert.deepEqual((await cloud.api('/logs?run=%27%20OR%20%271%27%3D%271')).body.logs, []);
      assert.deepEqual(await counts(), before);
    });
  });
}

describe('cursors', () => {
  it('round-trip and refuse anything else', () => {
    const c = encodeCursor(1_700_000_000_000, 'a|b~c/é');
    assert.deepEqual(decodeCursor(c), { ts: 1_700_000_000_000, key: 'a|b~c/é' });
    assert.deepEqual(decodeCursor('12'), { ts: 12 });
    for (const bad of [
      '',
      'x',
      '1~',
      '1~!!',
      '1.5',
      `1~${Buffer.from('\n').toString('base64url')}`,
    ]) {
      assert.equal(decodeCursor(bad), undefined, bad);
    }
  });
});
