/**
 * `tideline cloud`: run the cloud and administer it on its store.
 *
 * - `cloud serve` starts the HTTP server and runs until SIGINT or SIGTERM.
 * - `cloud bootstrap`, `cloud client create|list|revoke`, `cloud user
 *   create|list|update` work on the store directly (the operator's tools: no
 *   token needed, no server needs to run).
 *
 * The store is `--state`, else `TIDELINE_STATE_URL`, else `sqlite:./tideline.db`.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { TidelineError } from '../../engine/errors.js';
import { listClients, revokeClient } from '../../cloud/auth/clients.js';
import { isRole } from '../../cloud/auth/permissions.js';
import { randomToken } from '../../cloud/auth/secrets.js';
import { resolveSigningKey } from '../../cloud/auth/signing-key.js';
import {
  USER_ROLES,
  addUser,
  findUserByName,
  listUsers,
  updateUser,
} from '../../cloud/auth/users.js';
import { createConnectionRoutes } from '../../cloud/connections/connection-routes.js';
import { MASTER_KEY_HINT, resolveMasterKey } from '../../cloud/connections/master-key.js';
import {
  createCloudContext,
  DEFAULT_SETTINGS,
  type CloudContext,
  type CloudSettings,
} from '../../cloud/context.js';
import { HostedExecutors, loopbackUrl } from '../../cloud/hosted/hosted-executors.js';
import { createLogger, silentLogger } from '../../cloud/logger.js';
import { ALL_ROUTES, defaultServices } from '../../cloud/routes.js';
import { startCloudServer } from '../../cloud/server.js';
import { openStore } from '../../cloud/store/database.js';
import type { Role } from '../../cloud/store/schema.js';
import { bootstrap, createClient, findProject, type ProjectRecord } from '../../cloud/tenancy.js';
import type { CliIo } from '../cli-context.js';
import { durationOption, formatDuration } from '../durations.js';
import { formatTable, toJson } from '../output.js';

export const DEFAULT_STATE_URL = 'sqlite:./tideline.db';
export const DEFAULT_PORT = 8000;
export const DEFAULT_HOST = '127.0.0.1';

interface StoreOptions {
  state?: string;
}
interface ProjectOptions extends StoreOptions {
  org?: string;
  project?: string;
}

function stateUrl(io: CliIo, opts: StoreOptions): string {
  return opts.state ?? io.env['TIDELINE_STATE_URL'] ?? DEFAULT_STATE_URL;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) {
    throw new InvalidArgumentError('use a port number from 0 to 65535');
  }
  return port;
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 64)
    throw new InvalidArgumentError('use a whole number from 0 to 64');
  return n;
}

function parseAttempts(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 100)
    throw new InvalidArgumentError('use a whole number from 1 to 100');
  return n;
}

function parseRole(value: string): Role {
  if (!isRole(value)) throw new InvalidArgumentError('use viewer, developer, admin or executor');
  return value;
}

function parseUserRole(value: string): Role {
  if (!isRole(value) || !USER_ROLES.includes(value)) {
    throw new InvalidArgumentError('use viewer, developer or admin');
  }
  return value;
}

/** Opens the store, runs `work` with a context on it, and closes the store. */
async function withStore<T>(
  io: CliIo,
  opts: StoreOptions,
  work: (ctx: CloudContext) => Promise<T>,
): Promise<T> {
  const store = await openStore(stateUrl(io, opts));
  try {
    return await work(createCloudContext({ store, log: silentLogger }));
  } finally {
    await store.close();
  }
}

async function allProjects(ctx: CloudContext): Promise<string[]> {
  const rows = await ctx.store.db
    .selectFrom('projects')
    .innerJoin('organizations', 'organizations.id', 'projects.org_id')
    .select(['organizations.name as org', 'projects.name as name'])
    .orderBy('organizations.name')
    .orderBy('projects.name')
    .execute();
  return rows.map((r) => `${r.org}/${r.name}`);
}

/** The project named by --org and --project, or the store's only project. */
async function projectOf(ctx: CloudContext, opts: ProjectOptions): Promise<ProjectRecord> {
  if (opts.org && opts.project) {
    const found = await findProject(ctx, opts.org, opts.project);
    if (!found) {
      throw new TidelineError(
        `no project ${opts.org}/${opts.project} in ${ctx.store.where}; create it with tideline cloud bootstrap --org ${opts.org} --project ${opts.project}`,
      );
    }
    return found;
  }
  if (opts.org || opts.project) {
    throw new TidelineError('give both --org and --project, or neither');
  }
  const projects = await allProjects(ctx);
  if (projects.length === 1) {
    const [org, name] = projects[0]!.split('/') as [string, string];
    return (await findProject(ctx, org, name))!;
  }
  if (projects.length === 0) {
    throw new TidelineError(
      `no project in ${ctx.store.where}; create one with tideline cloud bootstrap --org ORG --project PROJECT`,
    );
  }
  throw new TidelineError(
    `name the project with --org and --project (projects here: ${projects.join(', ')})`,
  );
}

function time(ts: number | null): string {
  return ts === null ? '' : new Date(ts).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Uint8Array));
  // One trailing newline (as `echo` adds) is not part of the password.
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

function storeOptions(cmd: Command): Command {
  return cmd.option(
    '--state <url>',
    `the cloud's store (default: $TIDELINE_STATE_URL or ${DEFAULT_STATE_URL})`,
  );
}

function projectOptions(cmd: Command): Command {
  return storeOptions(cmd)
    .option('--org <org>', 'the organization (default: the only project in the store)')
    .option('--project <project>', 'the project (default: the only project in the store)');
}

export function registerCloudCommands(program: Command, io: CliIo): void {
  const cloud = program
    .command('cloud')
    .description('Run the Tideline cloud and manage its projects, OAuth clients and users.');

  storeOptions(cloud.command('serve'))
    .description('Start the cloud HTTP server; stops on SIGINT or SIGTERM.')
    .option('--host <host>', 'the address to listen on', DEFAULT_HOST)
    .option('--port <port>', 'the port to listen on (0 picks a free one)', parsePort, DEFAULT_PORT)
    .option(
      '--signing-key-file <file>',
      'a file holding the token signing key as base64 (default: $TIDELINE_SIGNING_KEY, else kept beside a SQLite store or in a PostgreSQL store)',
    )
    .option('--no-secure-cookies', 'send session cookies without the Secure flag (plain HTTP only)')
    .option(
      '--master-key-file <file>',
      'a file (mode 0600) holding the key that encrypts stored connections, as base64 of 32 bytes (default: $TIDELINE_MASTER_KEY; without a key the connections API is off)',
    )
    .option(
      '--executors',
      'the standard deployment: run executors for every project with stored connections (needs the master key)',
    )
    .option('--run-executors <n>', 'run executors per project with --executors', parseCount, 1)
    .option('--apply-executors <n>', 'apply executors per project with --executors', parseCount, 1)
    .option(
      '--executor-data-dir <dir>',
      'where relative DuckDB paths of stored connections resolve (default: the working folder)',
    )
    .option(
      '--lease-ttl <duration>',
      `how long a task's lease lasts without a heartbeat: a dead executor's task is handed out again after it (default: ${formatDuration(DEFAULT_SETTINGS.leaseTtlMs)})`,
      durationOption(3_000, 3_600_000),
    )
    .option(
      '--max-attempts <n>',
      `attempts of an evaluation before it fails for good (default: ${DEFAULT_SETTINGS.maxAttempts})`,
      parseAttempts,
    )
    .option(
      '--retry-backoff <duration>',
      `wait before the first retry of a failed evaluation, doubled per attempt (default: ${formatDuration(DEFAULT_SETTINGS.retryBackoffMs)})`,
      durationOption(0, 86_400_000),
    )
    .option(
      '--log-retention <duration>',
      `how long task logs are kept (default: ${formatDuration(DEFAULT_SETTINGS.logRetentionMs)})`,
      durationOption(3_600_000, 365 * 86_400_000),
    )
    .option(
      '--token-ttl <duration>',
      `lifetime of an access token (default: ${formatDuration(DEFAULT_SETTINGS.accessTokenTtlMs)})`,
      durationOption(60_000, 86_400_000),
    )
    .action(
      async (
        opts: StoreOptions & {
          leaseTtl?: number;
          maxAttempts?: number;
          retryBackoff?: number;
          logRetention?: number;
          tokenTtl?: number;
          host: string;
          port: number;
          signingKeyFile?: string;
          secureCookies: boolean;
          masterKeyFile?: string;
          executors?: boolean;
          runExecutors: number;
          applyExecutors: number;
          executorDataDir?: string;
        },
      ) => {
        const masterKey = resolveMasterKey({ env: io.env, keyFile: opts.masterKeyFile });
        if (opts.executors && !masterKey) {
          throw new TidelineError(
            `--executors needs the master key that encrypts the stored connections: ${MASTER_KEY_HINT}`,
          );
        }
        const dataDir = opts.executorDataDir;
        const routes = ALL_ROUTES.map((m) =>
          m.name === 'connections'
            ? createConnectionRoutes({ masterKey, ...(dataDir ? { dataDir } : {}) })
            : m,
        );
        const hosted =
          opts.executors && masterKey
            ? new HostedExecutors({
                masterKey,
                runExecutors: opts.runExecutors,
                applyExecutors: opts.applyExecutors,
                ...(dataDir ? { dataDir } : {}),
              })
            : undefined;
        const state = stateUrl(io, opts);
        // The key is settled on the store before the server opens it, so that
        // every replica of a PostgreSQL cloud agrees on it.
        const store = await openStore(state);
        let signing;
        try {
          signing = await resolveSigningKey({
            store,
            env: io.env,
            ...(opts.signingKeyFile ? { keyFile: opts.signingKeyFile } : {}),
            warn: (m) => io.err(`Warning: ${m}`),
          });
        } finally {
          await store.close();
        }
        const settings: Partial<CloudSettings> = {
          secureCookies: opts.secureCookies,
          ...(opts.leaseTtl !== undefined ? { leaseTtlMs: opts.leaseTtl } : {}),
          ...(opts.maxAttempts !== undefined ? { maxAttempts: opts.maxAttempts } : {}),
          ...(opts.retryBackoff !== undefined ? { retryBackoffMs: opts.retryBackoff } : {}),
          ...(opts.logRetention !== undefined ? { logRetentionMs: opts.logRetention } : {}),
          ...(opts.tokenTtl !== undefined ? { accessTokenTtlMs: opts.tokenTtl } : {}),
        };
        const server = await startCloudServer({
          state,
          host: opts.host,
          port: opts.port,
          signingKey: signing.key,
          settings,
          log: createLogger({ write: (line) => io.err(line) }),
          routes,
          services: [...defaultServices(), ...(hosted ? [hosted] : [])],
        });
        hosted?.listening(loopbackUrl(opts.host, server.port));
        io.out(`Tideline cloud listening on ${server.url} (store ${server.ctx.store.where})`);
        io.out(`Signing key: ${signing.source}${signing.generated ? ' (new)' : ''}`);
        io.out(`Master key: ${masterKey ? masterKey.source : 'none (the connections API is off)'}`);
        const used = server.ctx.settings;
        io.out(
          `Settings: leases ${formatDuration(used.leaseTtlMs)}, ${used.maxAttempts} attempt(s) per evaluation with backoff from ${formatDuration(used.retryBackoffMs)}, logs kept ${formatDuration(used.logRetentionMs)}, access tokens ${formatDuration(used.accessTokenTtlMs)}`,
        );
        if (hosted) {
          io.out(
            `Cloud-hosted executors: ${opts.runExecutors} run and ${opts.applyExecutors} apply per project with stored connections`,
          );
        }
        const signal = await new Promise<NodeJS.Signals>((resolve) => {
          const stop = (sig: NodeJS.Signals) => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            resolve(sig);
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
        io.out(`Received ${signal}: stopping`);
        await server.close();
        io.out('Stopped.');
      },
    );

  storeOptions(cloud.command('bootstrap'))
    .description('Create an organization and project (when missing) and a new admin OAuth client.')
    .requiredOption('--org <org>', 'the organization')
    .requiredOption('--project <project>', 'the project')
    .option(
      '--server <url>',
      'the URL users reach the server at, for the TCLOUD_URL hint (default: $TIDELINE_PUBLIC_URL or http://127.0.0.1:8000)',
    )
    .option('--json', 'print {org, project, url, clientId, clientSecret} as JSON')
    .action(
      async (
        opts: ProjectOptions & { org: string; project: string; server?: string; json?: boolean },
      ) => {
        const server = (
          opts.server ??
          io.env['TIDELINE_PUBLIC_URL'] ??
          `http://${DEFAULT_HOST}:${DEFAULT_PORT}`
        ).replace(/\/+$/, '');
        await withStore(io, opts, async (ctx) => {
          const existed = (await findProject(ctx, opts.org, opts.project)) !== undefined;
          const { project, client } = await bootstrap(ctx, opts.org, opts.project);
          const url = `${server}/sqlmesh/${encodeURIComponent(project.org)}/${encodeURIComponent(project.name)}`;
          if (opts.json) {
            io.out(
              toJson({
                org: project.org,
                project: project.name,
                url,
                clientId: client.clientId,
                clientSecret: client.clientSecret,
              }),
            );
            return;
          }
          io.out(
            `${existed ? 'Project exists' : 'Created project'}: ${project.org}/${project.name} (${ctx.store.where})`,
          );
          io.out('New admin OAuth client; the secret is shown only now:');
          io.out(`  TCLOUD_URL=${url}`);
          io.out(`  TCLOUD_CLIENT_ID=${client.clientId}`);
          io.out(`  TCLOUD_CLIENT_SECRET=${client.clientSecret}`);
        });
      },
    );

  const client = cloud.command('client').description("Manage a project's OAuth clients.");

  projectOptions(client.command('create'))
    .description('Create an OAuth client; its secret is shown only once.')
    .requiredOption('--name <name>', 'a label for the client')
    .requiredOption('--role <role>', 'viewer, developer, admin or executor', parseRole)
    .option('--json', 'print {clientId, clientSecret, name, role} as JSON')
    .action(async (opts: ProjectOptions & { name: string; role: Role; json?: boolean }) => {
      await withStore(io, opts, async (ctx) => {
        const project = await projectOf(ctx, opts);
        const made = await createClient(ctx, project.id, {
          name: opts.name,
          role: opts.role,
          createdBy: 'cli',
        });
        if (opts.json) {
          io.out(toJson(made));
          return;
        }
        io.out(
          `Created ${made.role} client "${made.name}" in ${project.org}/${project.name}; the secret is shown only now:`,
        );
        io.out(`  TCLOUD_CLIENT_ID=${made.clientId}`);
        io.out(`  TCLOUD_CLIENT_SECRET=${made.clientSecret}`);
      });
    });

  projectOptions(client.command('list'))
    .description("List a project's OAuth clients (never their secrets).")
    .option('--json', 'print the clients as JSON')
    .action(async (opts: ProjectOptions & { json?: boolean }) => {
      await withStore(io, opts, async (ctx) => {
        const project = await projectOf(ctx, opts);
        const clients = await listClients(ctx, project.id);
        if (opts.json) {
          io.out(toJson(clients));
          return;
        }
        io.out(
          formatTable(
            ['id', 'name', 'role', 'created', 'last used', 'revoked'],
            clients.map((c) => ({
              id: c.clientId,
              name: c.name,
              role: c.role,
              created: time(c.createdTs),
              'last used': time(c.lastUsedTs),
              revoked: time(c.revokedTs),
            })),
          ),
        );
      });
    });

  projectOptions(client.command('revoke'))
    .description('Revoke an OAuth client: its secret and tokens stop working at once.')
    .argument('<id>', 'the client id (tlc_...)')
    .action(async (id: string, opts: ProjectOptions) => {
      await withStore(io, opts, async (ctx) => {
        const project = await projectOf(ctx, opts);
        const result = await revokeClient(ctx, project.id, id);
        if (!result) {
          throw new TidelineError(
            `no OAuth client ${id} in ${project.org}/${project.name}; see tideline cloud client list`,
          );
        }
        io.out(
          result.revokedNow
            ? `Revoked ${id} ("${result.client.name}")`
            : `${id} was already revoked at ${time(result.client.revokedTs)}`,
        );
      });
    });

  const user = cloud.command('user').description('Manage the users who log in to the web UI.');

  projectOptions(user.command('create'))
    .description(
      'Create a user with a role in the project (or give an existing user a role); without --password-stdin a password is generated and shown once.',
    )
    .requiredOption('--username <name>', 'the login name (kept in lower case)')
    .requiredOption('--role <role>', 'viewer, developer or admin', parseUserRole)
    .option('--password-stdin', 'read the password from standard input')
    .option('--json', 'print {userId, username, role, password?} as JSON')
    .action(
      async (
        opts: ProjectOptions & {
          username: string;
          role: Role;
          passwordStdin?: boolean;
          json?: boolean;
        },
      ) => {
        await withStore(io, opts, async (ctx) => {
          const project = await projectOf(ctx, opts);
          const existing = await ctx.store.db
            .selectFrom('users')
            .select('id')
            .where('username', '=', opts.username.trim().toLowerCase())
            .executeTakeFirst();
          let password: string | undefined;
          let generated = false;
          if (opts.passwordStdin) password = await readStdin();
          else if (!existing) {
            password = randomToken('', 18);
            generated = true;
          }
          const { user: made, created } = await addUser(ctx, project.id, {
            username: opts.username,
            role: opts.role,
            ...(password !== undefined ? { password } : {}),
          });
          if (opts.json) {
            io.out(
              toJson({
                userId: made.userId,
                username: made.username,
                role: made.role,
                created,
                ...(generated ? { password } : {}),
              }),
            );
            return;
          }
          io.out(
            created
              ? `Created user ${made.username} with role ${made.role} in ${project.org}/${project.name}`
              : `Gave the existing user ${made.username} role ${made.role} in ${project.org}/${project.name}`,
          );
          if (generated) io.out(`Password (shown only now): ${password}`);
        });
      },
    );

  projectOptions(user.command('list'))
    .description("List a project's users.")
    .option('--json', 'print the users as JSON')
    .action(async (opts: ProjectOptions & { json?: boolean }) => {
      await withStore(io, opts, async (ctx) => {
        const project = await projectOf(ctx, opts);
        const users = await listUsers(ctx, project.id);
        if (opts.json) {
          io.out(toJson(users));
          return;
        }
        io.out(
          formatTable(
            ['username', 'role', 'created', 'disabled'],
            users.map((u) => ({
              username: u.username,
              role: u.role,
              created: time(u.createdTs),
              disabled: u.disabled ? 'yes' : '',
            })),
          ),
        );
      });
    });

  projectOptions(user.command('update'))
    .description(
      "Change a user's role in the project, password or disabled flag (for any account).",
    )
    .argument('<username>', 'the user')
    .option('--role <role>', 'the new role in the project', parseUserRole)
    .option('--password-stdin', 'read a new password from standard input')
    .option('--disable', 'disable the account (ends its sessions)')
    .option('--enable', 'enable the account')
    .action(
      async (
        username: string,
        opts: ProjectOptions & {
          role?: Role;
          passwordStdin?: boolean;
          disable?: boolean;
          enable?: boolean;
        },
      ) => {
        if (opts.disable && opts.enable)
          throw new TidelineError('give --disable or --enable, not both');
        if (!opts.role && !opts.passwordStdin && !opts.disable && !opts.enable) {
          throw new TidelineError(
            'nothing to change: give --role, --password-stdin, --disable or --enable',
          );
        }
        await withStore(io, opts, async (ctx) => {
          const project = await projectOf(ctx, opts);
          const found = await findUserByName(ctx, project.id, username);
          if (!found) {
            throw new TidelineError(
              `no user ${username} in ${project.org}/${project.name}; see tideline cloud user list`,
            );
          }
          const password = opts.passwordStdin ? await readStdin() : undefined;
          const changed = await updateUser(
            ctx,
            project.id,
            found.userId,
            {
              ...(opts.role ? { role: opts.role } : {}),
              ...(password !== undefined ? { password } : {}),
              ...(opts.disable ? { disabled: true } : opts.enable ? { disabled: false } : {}),
            },
            { operator: true },
          );
          io.out(
            `Updated ${changed.username}: role ${changed.role}${changed.disabled ? ', disabled' : ''}`,
          );
        });
      },
    );
}
