/**
 * Organizations, projects and OAuth clients: creating them, and bootstrap
 * (an organization, a project and its first admin client in one step).
 */
import { randomUUID } from 'node:crypto';
import { TidelineError } from '../engine/errors.js';
import { isRole } from './auth/permissions.js';
import { hashSecret, newClientId, newClientSecret } from './auth/secrets.js';
import type { CloudContext } from './context.js';
import type { Role } from './store/schema.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

function checkName(what: string, name: string): void {
  if (!NAME.test(name)) {
    throw new TidelineError(
      `invalid ${what} name ${JSON.stringify(name)}: use 1-63 letters, digits, '_', '-' or '.', starting with a letter or digit`,
    );
  }
}

export interface ProjectRecord {
  id: string;
  orgId: string;
  org: string;
  name: string;
}

/** The project `org/name`, created (with its organization) when missing. */
export async function ensureProject(
  ctx: CloudContext,
  org: string,
  name: string,
): Promise<ProjectRecord> {
  checkName('organization', org);
  checkName('project', name);
  const db = ctx.store.db;
  const now = ctx.clock.now();
  return db.transaction().execute(async (tx) => {
    let orgRow = await tx
      .selectFrom('organizations')
      .select('id')
      .where('name', '=', org)
      .executeTakeFirst();
    if (!orgRow) {
      orgRow = { id: randomUUID() };
      await tx
        .insertInto('organizations')
        .values({ id: orgRow.id, name: org, created_ts: now })
        .execute();
    }
    let project = await tx
      .selectFrom('projects')
      .select('id')
      .where('org_id', '=', orgRow.id)
      .where('name', '=', name)
      .executeTakeFirst();
    if (!project) {
      project = { id: randomUUID() };
      await tx
        .insertInto('projects')
        .values({ id: project.id, org_id: orgRow.id, name, created_ts: now })
        .execute();
    }
    return { id: project.id, orgId: orgRow.id, org, name };
  });
}

/** A project by organization and name, or undefined. */
export async function findProject(
  ctx: CloudContext,
  org: string,
  name: string,
): Promise<ProjectRecord | undefined> {
  const row = await ctx.store.db
    .selectFrom('projects')
    .innerJoin('organizations', 'organizations.id', 'projects.org_id')
    .select(['projects.id as id', 'organizations.id as orgId'])
    .where('organizations.name', '=', org)
    .where('projects.name', '=', name)
    .executeTakeFirst();
  return row ? { id: row.id, orgId: row.orgId, org, name } : undefined;
}

export interface NewClient {
  clientId: string;
  /** Shown once; only its hash is stored. */
  clientSecret: string;
  name: string;
  role: Role;
}

export async function createClient(
  ctx: CloudContext,
  projectId: string,
  options: { name: string; role: Role; createdBy?: string },
): Promise<NewClient> {
  if (!isRole(options.role)) {
    throw new TidelineError(
      `invalid role ${JSON.stringify(options.role)}: use viewer, developer, admin or executor`,
    );
  }
  const name = options.name.trim();
  if (!name || name.length > 100) {
    throw new TidelineError('a client name must have 1 to 100 characters');
  }
  const clientId = newClientId();
  const clientSecret = newClientSecret();
  await ctx.store.db
    .insertInto('oauth_clients')
    .values({
      id: clientId,
      project_id: projectId,
      name,
      role: options.role,
      secret_hash: await hashSecret(clientSecret),
      created_ts: ctx.clock.now(),
      created_by: options.createdBy ?? null,
      revoked_ts: null,
      last_used_ts: null,
    })
    .execute();
  return { clientId, clientSecret, name, role: options.role };
}

export interface BootstrapResult {
  project: ProjectRecord;
  client: NewClient;
}

/** Creates the organization and project (when missing) and a new admin client. */
export async function bootstrap(
  ctx: CloudContext,
  org: string,
  project: string,
): Promise<BootstrapResult> {
  const record = await ensureProject(ctx, org, project);
  const client = await createClient(ctx, record.id, {
    name: 'bootstrap admin',
    role: 'admin',
    createdBy: 'bootstrap',
  });
  return { project: record, client };
}
