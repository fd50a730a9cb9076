/**
 * The connections API of the standard deployment, under the project's
 * `/api`, for admins only (`connections` permission):
 *
 * - `PUT /connections/:gateway` with the settings as YAML
 *   (`Content-Type: application/yaml` or `text/yaml`), or JSON `{"yaml": "..."}`,
 *   written as a gateway's `connection` in config.yaml. The settings are
 *   validated by the engine (400 naming the key), tested against the
 *   warehouse (422 with the engine's reason; nothing is saved), then sealed
 *   with the master key and saved: 201 `{connection, created: true, warnings}`
 *   for a new gateway, 200 when replacing one.
 * - `GET /connections` → `{connections: [{gateway, engine, createdTs, updatedTs}]}`:
 *   never the settings.
 * - `DELETE /connections/:gateway` → `{deleted: gateway}`, 404 when there is none.
 *
 * Without a master key configured every call answers 503 saying how to set one.
 */
import type { Context } from 'hono';
import { z } from 'zod';
import { ConfigError } from '../../engine/errors.js';
import type { CloudContext } from '../context.js';
import { ApiError, badRequest, notFound } from '../http/api-error.js';
import type { RouteModule } from '../http/app.js';
import { readJson } from '../http/json-body.js';
import { requirePermission, type CloudEnv } from '../http/project-scope.js';
import {
  MAX_CONNECTION_BYTES,
  checkGatewayName,
  parseConnectionYaml,
  type ParsedConnection,
} from './connection-input.js';
import { deleteConnection, listConnections, saveConnection } from './connection-store.js';
import {
  ConnectionTestError,
  hideSecrets,
  secretValuesOf,
  testConnection,
} from './connection-test.js';
import { MASTER_KEY_HINT, resolveMasterKey, type MasterKey } from './master-key.js';

export interface ConnectionRoutesOptions {
  /**
   * The master key, or a function giving it per request. By default it is
   * read from `TIDELINE_MASTER_KEY` in the process environment.
   */
  masterKey?: MasterKey | undefined | (() => MasterKey | undefined);
  /** Longest wait of the connection test, ms (15 s by default). */
  testTimeoutMs?: number;
  /** Where relative DuckDB paths resolve (the working folder by default). */
  dataDir?: string;
}

/** Longest error message sent back: one line, and never a wall of echoed input. */
const MAX_MESSAGE = 400;

function oneLine(text: string): string {
  const flat = text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
  return flat.length > MAX_MESSAGE ? `${flat.slice(0, MAX_MESSAGE - 3)}...` : flat;
}

const YAML_TYPES = /^(application|text)\/(x-)?yaml\b/i;
const JsonBody = z.strictObject({
  yaml: z
    .string({ error: 'must be the connection settings as YAML text' })
    .max(MAX_CONNECTION_BYTES, `at most ${MAX_CONNECTION_BYTES} characters`),
});

function tooLarge(): ApiError {
  return new ApiError(
    413,
    'payload_too_large',
    `the connection settings are larger than ${MAX_CONNECTION_BYTES} bytes`,
  );
}

async function readSettingsText(c: Context<CloudEnv>): Promise<string> {
  const type = c.req.header('content-type') ?? '';
  const length = Number(c.req.header('content-length') ?? '0');
  // JSON escaping can double the text; anything beyond is not a connection.
  if (Number.isFinite(length) && length > 2 * MAX_CONNECTION_BYTES + 64) {
    // The body is left unread: the connection cannot carry another request.
    c.header('connection', 'close');
    throw tooLarge();
  }
  if (/^application\/json\b/i.test(type)) return (await readJson(c, JsonBody)).yaml;
  if (!YAML_TYPES.test(type)) {
    throw new ApiError(
      415,
      'unsupported_media_type',
      'send the connection settings as YAML with Content-Type: application/yaml, or as JSON {"yaml": "..."}',
    );
  }
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.byteLength > MAX_CONNECTION_BYTES) throw tooLarge();
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw badRequest('the connection settings are not UTF-8 text');
  }
}

function gatewayOf(c: Context<CloudEnv>): string {
  try {
    return checkGatewayName(c.req.param('gateway') ?? '');
  } catch (err) {
    if (err instanceof ConfigError) throw badRequest(oneLine(err.message));
    throw err;
  }
}

/** The connections API with the given master key and test settings. */
export function createConnectionRoutes(options: ConnectionRoutesOptions = {}): RouteModule {
  const masterKey = (): MasterKey => {
    let key: MasterKey | undefined;
    try {
      key =
        typeof options.masterKey === 'function'
          ? options.masterKey()
          : 'masterKey' in options
            ? options.masterKey
            : resolveMasterKey({ env: process.env });
    } catch (err) {
      if (err instanceof ConfigError) {
        throw new ApiError(
          503,
          'no_master_key',
          oneLine(`the master key is not usable (${err.message}); ${MASTER_KEY_HINT}`),
        );
      }
      throw err;
    }
    if (!key) {
      throw new ApiError(
        503,
        'no_master_key',
        `stored connections need a master key to encrypt them: ${MASTER_KEY_HINT}`,
      );
    }
    return key;
  };
  const timeoutMs = options.testTimeoutMs ?? 15_000;
  const dataDir = options.dataDir ?? process.cwd();

  return {
    name: 'connections',
    project(app, ctx: CloudContext) {
      app.put('/connections/:gateway', async (c) => {
        const principal = requirePermission(c, 'connections');
        const key = masterKey();
        const gateway = gatewayOf(c);
        const text = await readSettingsText(c);
        let parsed: ParsedConnection;
        try {
          parsed = parseConnectionYaml(gateway, text);
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          // The message may quote a value; never a secret one.
          const secrets = safeSecrets(text);
          throw new ApiError(400, 'invalid_connection', oneLine(hideSecrets(err.message, secrets)));
        }
        const project = c.get('project');
        try {
          await testConnection(gateway, parsed.config, {
            dataDir,
            timeoutMs,
            secrets: secretValuesOf(parsed.settings),
          });
        } catch (err) {
          if (!(err instanceof ConnectionTestError)) throw err;
          ctx.log.info('connection test failed', { project: project.id, gateway });
          throw new ApiError(422, 'connection_test_failed', oneLine(err.message));
        }
        const { info, created } = await saveConnection(ctx, key, project.id, {
          gateway,
          engine: parsed.config.type,
          text: parsed.text,
        });
        ctx.log.info('connection saved', {
          project: project.id,
          gateway,
          engine: info.engine,
          by: principal.name,
          created,
        });
        c.header('cache-control', 'no-store');
        return c.json(
          { connection: info, created, warnings: parsed.warnings.map(oneLine) },
          created ? 201 : 200,
        );
      });

      app.get('/connections', async (c) => {
        requirePermission(c, 'connections');
        masterKey();
        c.header('cache-control', 'no-store');
        return c.json({ connections: await listConnections(ctx, c.get('project').id) });
      });

      app.delete('/connections/:gateway', async (c) => {
        const principal = requirePermission(c, 'connections');
        masterKey();
        const gateway = gatewayOf(c);
        const project = c.get('project');
        if (!(await deleteConnection(ctx, project.id, gateway))) {
          throw notFound(`no connection for gateway ${JSON.stringify(gateway)} in this project`);
        }
        ctx.log.info('connection deleted', { project: project.id, gateway, by: principal.name });
        return c.json({ deleted: gateway });
      });
    },
  };
}

/** Secret values of settings that may not even parse: best effort, never failing. */
function safeSecrets(text: string): string[] {
  const found: string[] = [];
  // `password: value` lines, whatever else is wrong with the document.
  for (const m of text.matchAll(
    /^\s*[\w-]*(?:password|secret|token|key)[\w-]*\s*:\s*(.+?)\s*$/gim,
  )) {
    const value = m[1]!.replace(/^(['"])(.*)\1$/, '$2');
    if (value) found.push(value);
  }
  return found;
}

/** The connections API; the master key comes from `TIDELINE_MASTER_KEY`. */
export const connectionRoutes: RouteModule = createConnectionRoutes();
