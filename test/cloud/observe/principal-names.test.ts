/**
 * Who did something, by a name people know: plans, runs, pauses and
 * activity items answer the recorded principal (`client:<id>`, a user id,
 * ...) and beside it the OAuth client's or user's name, on both stores.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { revokeClient } from '../../../src/cloud/auth/clients.js';
import { addUser } from '../../../src/cloud/auth/users.js';
import { CloudStateSync } from '../../../src/cloud/state/cloud-state-sync.js';
import { createClient, ensureProject } from '../../../src/cloud/tenancy.js';
import { makeEnvironment } from '../../engine/state/state-fixtures.js';
import { startTestCloud } from '../../helpers/cloud.js';
import { storeTargets } from '../../helpers/stores.js';
import { JAN_10 } from './observe-fixture.js';

const targets = await storeTargets();

/** A plan body the cloud accepts: a new dev environment with no models. */
function emptyPlan(id: string) {
  return {
    id,
    environment: 'dev',
    expectedPlanId: null,
    isNewEnvironment: true,
    createdTs: JAN_10,
    start: JAN_10 - 86_400_000,
    end: JAN_10,
    executionTime: JAN_10,
    changes: [],
    newSnapshots: [],
    snapshots: [],
    promoted: [],
    backfill: [],
  };
}

for (const target of targets) {
  describe(`display names of who did something on ${target.kind}`, () => {
    it('names the OAuth client or user behind plans, runs, pauses and activity, keeping the recorded value', async () => {
      const cloud = await startTestCloud(target, { services: [], clock: { now: () => JAN_10 } });
      const ctx = cloud.server.ctx;
      const deploys = await createClient(ctx, cloud.projectId, {
        name: 'Nightly deploys',
        role: 'admin',
      });
      const token = await cloud.token(deploys);
      const { user } = await addUser(ctx, cloud.projectId, {
        username: 'ada',
        password: 'correct horse battery',
        role: 'admin',
      });

      const submitted = await cloud.api('/plans', {
        body: { plan: emptyPlan('plan-by-client') },
        token,
      });
      assert.equal(submitted.status, 201, JSON.stringify(submitted.body));
      // A plan recorded as `user:<id>`, a run asked for by a user (its bare id), one by the CLI.
      await ctx.store.db
        .insertInto('plans')
        .values({
          id: 'plan-by-user',
          project_id: cloud.projectId,
          environment: 'dev',
          status: 'succeeded',
          payload: null,
          summary: '{}',
          created_by: `user:${user.userId}`,
          created_ts: JAN_10 + 1,
          updated_ts: JAN_10 + 1,
          started_ts: null,
          finished_ts: null,
          error: null,
        })
        .execute();
      const run = (id: string, by: string | null, ts: number) => ({
        id,
        project_id: cloud.projectId,
        environment: 'dev',
        status: 'succeeded' as const,
        trigger: 'manual',
        execution_ts: ts,
        created_ts: ts,
        started_ts: null,
        finished_ts: null,
        error: null,
        created_by: by,
      });
      // Another project's client is not named here, even when its id is recorded.
      const elsewhere = await ensureProject(ctx, 'acme', 'elsewhere');
      const stranger = await createClient(ctx, elsewhere.id, { name: 'Stranger', role: 'admin' });
      await ctx.store.db
        .insertInto('runs')
        .values([
          run('run-by-user', user.userId, JAN_10 + 2),
          run('run-by-cli', 'cli', JAN_10 + 3),
          run('run-by-stranger', stranger.clientId, JAN_10 + 4),
          run('run-scheduled', null, JAN_10 + 5),
        ])
        .execute();
      const state = new CloudStateSync(ctx.store, cloud.projectId);
      await state.upsertEnvironment(makeEnvironment('dev', 'plan-by-user', { snapshots: [] }));
      const paused = await cloud.api('/environments/dev/pause', {
        body: { reason: 'testing' },
        token,
      });
      assert.equal(paused.status, 201, JSON.stringify(paused.body));
      const made = await cloud.api('/clients', { body: { name: 'CI', role: 'viewer' }, token });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      // A revoked client keeps its name in what it did.
      assert.ok(await revokeClient(ctx, cloud.projectId, deploys.clientId));

      const byClient = {
        createdBy: `client:${deploys.clientId}`,
        createdByName: 'Nightly deploys',
      };
      const plan = await cloud.api('/plans/plan-by-client');
      assert.equal(plan.status, 200, JSON.stringify(plan.body));
      assert.deepEqual(
        { createdBy: plan.body.createdBy, createdByName: plan.body.createdByName },
        byClient,
      );

      const plans = await cloud.api('/plans');
      assert.deepEqual(
        plans.body.plans.map((p: { planId: string; createdBy: string; createdByName: string }) => [
          p.planId,
          p.createdBy,
          p.createdByName,
        ]),
        [
          ['plan-by-user', `user:${user.userId}`, 'ada'],
          ['plan-by-client', byClient.createdBy, byClient.createdByName],
        ],
      );

      const runs = await cloud.api('/v1/runs');
      assert.deepEqual(
        runs.body.runs.map((r: { id: string; createdBy: string; createdByName: string }) => [
          r.id,
          r.createdBy,
          r.createdByName,
        ]),
        [
          ['run-scheduled', null, null],
          ['run-by-stranger', stranger.clientId, stranger.clientId],
          ['run-by-cli', 'cli', 'cli'],
          ['run-by-user', user.userId, 'ada'],
        ],
      );
      const one = await cloud.api('/v1/runs/run-by-user');
      assert.equal(one.body.run.createdByName, 'ada');
      // The runs API's detail (the web UI's run page) names them too.
      const detail = await cloud.api('/runs/run-by-user');
      assert.equal(detail.status, 200, JSON.stringify(detail.body));
      assert.deepEqual(
        [detail.body.run.createdBy, detail.body.run.createdByName],
        [user.userId, 'ada'],
      );
      const scheduled = await cloud.api('/runs/run-scheduled');
      assert.equal(scheduled.body.run.createdByName, null);

      const env = await cloud.api('/environments/dev');
      assert.equal(env.status, 200, JSON.stringify(env.body));
      assert.deepEqual(
        env.body.environment.pauses.map(
          (p: { model: string | null; createdBy: string; createdByName: string }) => [
            p.model,
            p.createdBy,
            p.createdByName,
          ],
        ),
        [[null, deploys.clientId, 'Nightly deploys']],
      );
      assert.equal(env.body.environment.lastPlan.createdByName, 'ada');

      const activity = await cloud.api('/activity?limit=500');
      const who = (type: string, id: string) => {
        const item = activity.body.activity.find(
          (a: { type: string; id: string }) => a.type === type && a.id === id,
        );
        assert.ok(item, `${type} ${id} in the activity`);
        return [item.by, item.byName];
      };
      assert.deepEqual(who('plan', 'plan-by-client'), [byClient.createdBy, 'Nightly deploys']);
      assert.deepEqual(who('plan', 'plan-by-user'), [`user:${user.userId}`, 'ada']);
      assert.deepEqual(who('run', 'run-by-user'), [user.userId, 'ada']);
      assert.deepEqual(who('run', 'run-scheduled'), [null, null]);
      assert.deepEqual(who('client.created', made.body.clientId), [
        byClient.createdBy,
        'Nightly deploys',
      ]);
      assert.deepEqual(who('client.created', deploys.clientId), [null, null]);
      // Pausing and resuming name who did it too.
      const pauseItem = activity.body.activity.find((a: { type: string }) => a.type === 'pause');
      assert.ok(pauseItem, 'the pause in the activity');
      assert.deepEqual([pauseItem.by, pauseItem.byName], [deploys.clientId, 'Nightly deploys']);
    });

    it('names who resumed an environment in the activity', async () => {
      const cloud = await startTestCloud(target, { services: [], clock: { now: () => JAN_10 } });
      const token = await cloud.token(cloud.clients.admin);
      const state = new CloudStateSync(cloud.server.ctx.store, cloud.projectId);
      await state.upsertEnvironment(makeEnvironment('dev', 'p1', { snapshots: [] }));
      const paused = await cloud.api('/environments/dev/pause', { body: {}, token });
      assert.equal(paused.status, 201, JSON.stringify(paused.body));
      const resumed = await cloud.api('/environments/dev/pause', { method: 'DELETE', token });
      assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
      // Read at once: the activity waits for the events log to store the resume.
      const activity = await cloud.api('/activity?limit=50', { token });
      const unpause = activity.body.activity.find((a: { type: string }) => a.type === 'unpause');
      assert.ok(unpause, JSON.stringify(activity.body.activity));
      assert.equal(unpause.by, cloud.clients.admin.clientId);
      assert.equal(typeof unpause.byName, 'string');
      assert.notEqual(unpause.byName, unpause.by, 'a name, not the id');
    });
  });
}
