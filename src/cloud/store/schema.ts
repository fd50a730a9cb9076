/**
 * The store's tables as Kysely sees them. Times are epoch milliseconds
 * (BIGINT), ids are text (UUIDs unless said otherwise), JSON is kept as text.
 * Every row that belongs to a project carries `project_id`.
 */
import type { ColumnType, Generated } from 'kysely';

export interface SchemaMigrationsTable {
  version: number;
  description: string;
  applied_ts: number;
}

export interface OrganizationsTable {
  id: string;
  name: string;
  created_ts: number;
}

export interface ProjectsTable {
  id: string;
  org_id: string;
  name: string;
  created_ts: number;
}

/** Roles, from least to most: viewer, developer, admin; executor is for executors only. */
export type Role = 'viewer' | 'developer' | 'admin' | 'executor';

export interface OauthClientsTable {
  /** The client id handed to users (`tlc_...`). */
  id: string;
  project_id: string;
  name: string;
  role: Role;
  /** scrypt hash of the secret: `scrypt$N$r$p$salt$hash` (base64url). */
  secret_hash: string;
  created_ts: number;
  created_by: string | null;
  revoked_ts: number | null;
  last_used_ts: number | null;
}

export interface UsersTable {
  id: string;
  username: string;
  password_hash: string;
  created_ts: number;
  disabled: number;
}

export interface UserRolesTable {
  user_id: string;
  project_id: string;
  role: Role;
}

export interface SessionsTable {
  /** sha256 of the session token (the cookie holds the token). */
  id: string;
  user_id: string;
  csrf_token: string;
  created_ts: number;
  expires_ts: number;
}

export interface LoginAttemptsTable {
  /** What is throttled: `user:<name>` or `ip:<address>`. */
  key: string;
  window_start_ts: number;
  failures: number;
}

/** Server-wide settings kept in the store (migration 3), e.g. `signing_key` on PostgreSQL. */
export interface ServerSettingsTable {
  name: string;
  value: string;
  updated_ts: number;
}

export interface SnapshotsTable {
  project_id: string;
  name: string;
  identifier: string;
  version: string;
  dev_version: string | null;
  /** The engine's Snapshot as JSON. */
  payload: string;
  created_ts: number;
  updated_ts: number;
}

export interface EnvironmentsTable {
  project_id: string;
  name: string;
  /** The engine's Environment as JSON. */
  payload: string;
  plan_id: string;
  expiration_ts: number | null;
  created_ts: number;
  updated_ts: number;
}

export interface IntervalsTable {
  id: Generated<number>;
  project_id: string;
  name: string;
  identifier: string;
  version: string;
  dev_version: string | null;
  start_ts: number;
  end_ts: number;
  is_dev: number;
  is_removed: number;
  created_ts: number;
}

export type PlanStatus = 'pending' | 'applying' | 'succeeded' | 'failed' | 'cancelled';

export interface PlansTable {
  id: string;
  project_id: string;
  environment: string;
  status: PlanStatus;
  /** The engine's Plan as JSON (null for plan records written through StateSync alone). */
  payload: string | null;
  /** The change summary as JSON. */
  summary: string;
  created_by: string | null;
  created_ts: number;
  updated_ts: number;
  started_ts: number | null;
  finished_ts: number | null;
  error: string | null;
  /** When a cancel of the applying plan was asked for (migration 2; optional on insert). */
  cancel_requested_ts: ColumnType<number | null, number | null | undefined, number | null>;
}

export type RunStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface RunsTable {
  id: string;
  project_id: string;
  environment: string;
  status: RunStatus;
  /** `schedule` (a cron boundary) or `manual`. */
  trigger: string;
  /** The execution time the run evaluates as of. */
  execution_ts: number;
  created_ts: number;
  started_ts: number | null;
  finished_ts: number | null;
  error: string | null;
  created_by: string | null;
}

export type TaskQueue = 'run' | 'apply';
export type TaskStatus = 'waiting' | 'pending' | 'claimed' | 'succeeded' | 'failed' | 'cancelled';

export interface TasksTable {
  id: string;
  project_id: string;
  queue: TaskQueue;
  /** `evaluate` (run queue) or `apply_plan` (apply queue). */
  kind: string;
  environment: string;
  status: TaskStatus;
  /** What to do, as JSON (model, snapshot, batches; or the plan id). */
  payload: string;
  /** Ids of tasks that must succeed first, as a JSON array. */
  depends_on: string;
  run_id: string | null;
  plan_id: string | null;
  /** For evaluation tasks: the model and version, to avoid evaluating an interval twice at once. */
  model: string | null;
  version: string | null;
  attempts: number;
  max_attempts: number;
  /** Not claimable before this time (retry backoff). */
  not_before_ts: number;
  lease_id: string | null;
  /** Increases with every claim; writes must present the current one. */
  fencing_token: number;
  lease_expires_ts: number | null;
  executor_id: string | null;
  created_ts: number;
  updated_ts: number;
  started_ts: number | null;
  finished_ts: number | null;
  error: string | null;
}

export interface EvaluationsTable {
  id: string;
  project_id: string;
  task_id: string | null;
  run_id: string | null;
  plan_id: string | null;
  environment: string;
  model: string;
  identifier: string;
  version: string;
  start_ts: number;
  end_ts: number;
  status: string;
  attempt: number;
  rows: number | null;
  duration_ms: number | null;
  error: string | null;
  created_ts: number;
  finished_ts: number | null;
}

export interface LogsTable {
  id: Generated<number>;
  project_id: string;
  task_id: string | null;
  run_id: string | null;
  plan_id: string | null;
  executor_id: string | null;
  level: string;
  message: string;
  ts: number;
}

export interface AuditResultsTable {
  id: string;
  project_id: string;
  evaluation_id: string | null;
  run_id: string | null;
  plan_id: string | null;
  model: string;
  audit: string;
  blocking: number;
  passed: number;
  failing_rows: number;
  sample: string;
  created_ts: number;
}

export interface ExecutorsTable {
  id: string;
  project_id: string;
  name: string;
  /** `run` or `apply`. */
  kind: string;
  version: string;
  protocol_version: string;
  /** `[{"name": "...", "type": "postgres"}]`: names and engine types, never settings. */
  gateways: string;
  address: string | null;
  /** `hybrid` or `cloud`. */
  hosting: string;
  status: string;
  registered_ts: number;
  last_seen_ts: number;
  completed: number;
  failed: number;
  retried: number;
  aborted: number;
}

export interface PausesTable {
  project_id: string;
  environment: string;
  /** Empty string for a pause of the whole environment. */
  model: string;
  reason: string | null;
  created_by: string | null;
  created_ts: number;
}

export interface ConnectionsTable {
  project_id: string;
  gateway: string;
  engine: string;
  /** AES-256-GCM: `v1.<iv>.<tag>.<ciphertext>` (base64url) of the YAML. */
  encrypted: string;
  created_ts: number;
  updated_ts: number;
}

export interface EventsTable {
  id: Generated<number>;
  project_id: string;
  type: string;
  payload: string;
  ts: number;
}

export interface DB {
  schema_migrations: SchemaMigrationsTable;
  organizations: OrganizationsTable;
  projects: ProjectsTable;
  oauth_clients: OauthClientsTable;
  users: UsersTable;
  user_roles: UserRolesTable;
  sessions: SessionsTable;
  login_attempts: LoginAttemptsTable;
  server_settings: ServerSettingsTable;
  snapshots: SnapshotsTable;
  environments: EnvironmentsTable;
  intervals: IntervalsTable;
  plans: PlansTable;
  runs: RunsTable;
  tasks: TasksTable;
  evaluations: EvaluationsTable;
  logs: LogsTable;
  audit_results: AuditResultsTable;
  executors: ExecutorsTable;
  pauses: PausesTable;
  connections: ConnectionsTable;
  events: EventsTable;
}
