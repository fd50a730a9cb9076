/**
 * The OAuth 2.0 token endpoint (client credentials grant, RFC 6749 4.4) and
 * its discovery document (RFC 8414), under the project URL:
 * `POST <project>/oauth/token`, `GET <project>/.well-known/oauth-authorization-server`.
 */
import type { Context } from 'hono';
import type { CloudContext } from '../context.js';
import type { RouteModule } from '../http/app.js';
import type { CloudEnv } from '../http/project-scope.js';
import { verifySecret } from './secrets.js';
import { issueAccessToken } from './tokens.js';

function oauthError(c: Context, status: 400 | 401, error: string, description: string) {
  c.header('cache-control', 'no-store');
  return c.json({ error, error_description: description }, status);
}

/** The project's base URL as the caller reached it. */
export function projectUrl(c: Context<CloudEnv>): string {
  const url = new URL(c.req.url);
  const p = c.get('project');
  return `${url.protocol}//${url.host}/sqlmesh/${encodeURIComponent(p.org)}/${encodeURIComponent(p.name)}`;
}

async function credentials(
  c: Context<CloudEnv>,
): Promise<{ id?: string; secret?: string; grant?: string }> {
  const type = c.req.header('content-type') ?? '';
  let fields: Record<string, unknown> = {};
  if (/^application\/x-www-form-urlencoded\b/i.test(type)) {
    fields = Object.fromEntries(new URLSearchParams(await c.req.text()));
  } else if (/^application\/json\b/i.test(type)) {
    try {
      const body: unknown = await c.req.json();
      if (body && typeof body === 'object') fields = body as Record<string, unknown>;
    } catch {
      fields = {};
    }
  }
  let id = typeof fields['client_id'] === 'string' ? fields['client_id'] : undefined;
  let secret = typeof fields['client_secret'] === 'string' ? fields['client_secret'] : undefined;
  const basic = /^Basic\s+(\S+)$/i.exec(c.req.header('authorization') ?? '');
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const at = decoded.indexOf(':');
    if (at > 0) {
      id = decodeURIComponent(decoded.slice(0, at));
      secret = decodeURIComponent(decoded.slice(at + 1));
    }
  }
  const grant = typeof fields['grant_type'] === 'string' ? fields['grant_type'] : undefined;
  return { ...(id ? { id } : {}), ...(secret ? { secret } : {}), ...(grant ? { grant } : {}) };
}

export const tokenRoutes: RouteModule = {
  name: 'oauth',
  projectPublic(app, ctx: CloudContext) {
    app.get('/.well-known/oauth-authorization-server', (c) => {
      const base = projectUrl(c);
      return c.json({
        issuer: base,
        token_endpoint: `${base}/oauth/token`,
        grant_types_supported: ['client_credentials'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        response_types_supported: [],
      });
    });
    app.post('/oauth/token', async (c) => {
      const { id, secret, grant } = await credentials(c);
      if (grant !== 'client_credentials') {
        return oauthError(
          c,
          400,
          'unsupported_grant_type',
          'grant_type must be client_credentials',
        );
      }
      if (!id || !secret) {
        return oauthError(
          c,
          400,
          'invalid_request',
          'send client_id and client_secret (form fields or HTTP Basic)',
        );
      }
      const row = await ctx.store.db
        .selectFrom('oauth_clients')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirst();
      const project = c.get('project');
      const ok =
        row !== undefined &&
        row.revoked_ts === null &&
        row.project_id === project.id &&
        (await verifySecret(secret, row.secret_hash));
      if (!ok || !row) {
        return oauthError(
          c,
          401,
          'invalid_client',
          'unknown client, wrong secret, or a revoked client',
        );
      }
      const token = await issueAccessToken(ctx, {
        id: row.id,
        projectId: row.project_id,
        role: row.role,
      });
      await ctx.store.db
        .updateTable('oauth_clients')
        .set({ last_used_ts: ctx.clock.now() })
        .where('id', '=', row.id)
        .execute();
      c.header('cache-control', 'no-store');
      return c.json({
        access_token: token.accessToken,
        token_type: token.tokenType,
        expires_in: token.expiresIn,
        scope: row.role,
      });
    });
  },
};
