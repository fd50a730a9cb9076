import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTestCloud } from '../../helpers/cloud.js';
import { storeTargets } from '../../helpers/stores.js';

const targets = await storeTargets();

for (const target of targets) {
  describe(`OAuth token endpoint on ${target.kind}`, () => {
    it('issues a 15-minute bearer token for good credentials, by form or HTTP Basic', async () => {
      const cloud = await startTestCloud(target);
      const { clientId, clientSecret } = cloud.clients.admin;
      const form = await fetch(`${cloud.projectUrl}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: clientId,
          client_secret: clientSecret,
        }),
      });
      assert.equal(form.status, 200);
      const body = (await form.json()) as Record<string, unknown>;
      assert.equal(body['token_type'], 'Bearer');
      assert.equal(body['expires_in'], 900);
      assert.match(String(body['access_token']), /^[\w-]+\.[\w-]+\.[\w-]+$/);
      const basic = await fetch(`${cloud.projectUrl}/oauth/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
        },
        body: 'grant_type=client_credentials',
      });
      assert.equal(basic.status, 200);
    });

    it('refuses wrong secrets, unknown clients, other grants, and other projects', async () => {
      const cloud = await startTestCloud(target);
      const { clientId, clientSecret } = cloud.clients.admin;
      const post = (url: string, fields: Record<string, string>) =>
        fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(fields),
        });
      const wrong = await post(`${cloud.projectUrl}/oauth/token`, {
        grant_type: 'client_credentials',
        client_id: clientId,
        client_secret: clientSecret + 'x',
      });
      assert.equal(wrong.status, 401);
      assert.equal(((await wrong.json()) as { error: string }).error, 'invalid_client');
      const grant = await post(`${cloud.projectUrl}/oauth/token`, {
        grant_type: 'password',
        client_id: clientId,
        client_secret: clientSecret,
      });
      assert.equal(grant.status, 400);
      const missing = await post(`${cloud.projectUrl}/oauth/token`, {
        grant_type: 'client_credentials',
      });
      assert.equal(missing.status, 400);
      const otherProject = await post(`${cloud.server.url}/sqlmesh/acme/nope/oauth/token`, {
        grant_type: 'client_credentials',
        client_id: clientId,
        client_secret: clientSecret,
      });
      assert.equal(otherProject.status, 404);
    });

    it('serves a discovery document naming the token endpoint', async () => {
      const cloud = await startTestCloud(target);
      const res = await fetch(`${cloud.projectUrl}/.well-known/oauth-authorization-server`);
      const doc = (await res.json()) as Record<string, unknown>;
      assert.equal(doc['token_endpoint'], `${cloud.projectUrl}/oauth/token`);
      assert.deepEqual(doc['grant_types_supported'], ['client_credentials']);
    });

    it('answers 401 without a token and 404 for unknown routes', async () => {
      const cloud = await startTestCloud(target);
      const none = await cloud.api('/anything', { token: null });
      assert.equal(none.status, 401);
      const bad = await cloud.api('/anything', { token: 'not.a.token' });
      assert.equal(bad.status, 401);
      assert.match(bad.body.error.message, /not valid/);
      const unknown = await cloud.api('/no/such/route');
      assert.equal(unknown.status, 404);
    });
  });
}
