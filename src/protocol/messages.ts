/**
 * The executor protocol's messages: what executors send to the cloud and what
 * they get back, as plain JSON types. Engine objects (plans, snapshots) travel
 * inside as opaque JSON.
 */

export type ExecutorKind = 'run' | 'apply';

/** A gateway an executor can reach: its name and engine, never its settings. */
export interface GatewayInfo {
  name: string;
  type: string;
}

export interface RegisterRequest {
  name: string;
  kind: ExecutorKind;
  version: string;
  /** `major.minor`. */
  protocolVersion: string;
  gateways: GatewayInfo[];
  /** Where the executor runs (host name), for the registry. */
  address?: string;
  /** `hybrid` (user-hosted) or `cloud` (started by the cloud). */
  hosting?: 'hybrid' | 'cloud';
}

export interface RegisterResponse {
  executorId: string;
  /** The cloud's protocol version. */
  protocolVersion: string;
  /** How often to heartbeat a lease, ms. */
  heartbeatIntervalMs: number;
  leaseTtlMs: number;
}

export interface Lease {
  leaseId: string;
  /** Increases with every claim of the task; every write presents it. */
  fencingToken: number;
  /** Epoch ms. */
  expiresTs: number;
}

export interface ClaimRequest {
  executorId: string;
  /** Longest wait, ms (the cloud caps it). */
  waitMs?: number;
  /**
   * Protocol 1.1: take up to this many tasks at once (1 to 100; the
   * executor's free slots). With it, the answer is a {@link ClaimBatchResponse}.
   */
  max?: number;
}

/** What a task asks for. `evaluate`: batches of one model in a run; `apply_plan`: a whole plan. */
export type TaskPayload =
  | {
      kind: 'evaluate';
      environment: string;
      runId: string;
      /** The snapshot (engine JSON) and the snapshots it reads, by name. */
      snapshot: unknown;
      parents: Record<string, unknown>;
      /** [start, end) epoch ms, in order. */
      batches: Array<[number, number]>;
      executionTime: number;
      gateway?: string;
    }
  | {
      kind: 'apply_plan';
      planId: string;
      environment: string;
      /** The engine's Plan JSON. */
      plan: unknown;
      gateway?: string;
    };

export interface ClaimedTask {
  taskId: string;
  queue: ExecutorKind;
  attempt: number;
  lease: Lease;
  payload: TaskPayload;
}

/** A claim answers 200 with a task, or 204 when none came within the wait. */
export type ClaimResponse = ClaimedTask;

/** A claim with `max` answers 200 with one task or more, or 204 when none came. */
export interface ClaimBatchResponse {
  tasks: ClaimedTask[];
}

export interface HeartbeatRequest {
  leaseId: string;
  fencingToken: number;
}

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  /** Epoch ms. */
  ts: number;
}

export interface ProgressReport {
  leaseId: string;
  fencingToken: number;
  logs?: LogLine[];
  /** Evaluations finished since the last report. */
  evaluations?: Array<{
    model: string;
    identifier: string;
    version: string;
    interval: [number, number];
    status: 'succeeded' | 'failed';
    rows?: number;
    durationMs: number;
    error?: string;
  }>;
  /** Free-form progress for the UI (stage, done, total). */
  progress?: Record<string, unknown>;
}

export interface CompleteRequest {
  leaseId: string;
  fencingToken: number;
  status: 'succeeded' | 'failed';
  error?: string;
  /** Retrying may help (a lost connection) or not (a SQL error in the model). */
  retryable?: boolean;
}

/** Protocol 1.1: several completions in one request (`POST /tasks/complete`). */
export interface CompleteBatchRequest {
  items: Array<CompleteRequest & { taskId: string }>;
}

/** One answer per item, in order: the item's CompleteResponse, or its refusal. */
export interface CompleteBatchResponse {
  results: Array<
    | ({ taskId: string } & CompleteResponse)
    | { taskId: string; error: { code: string; message: string } }
  >;
}

/** The error body of every protocol refusal. */
export interface ProtocolError {
  error: { code: string; message: string };
}

/**
 * The header a write about a task carries while the writer holds the task's
 * lease: `<taskId>:<leaseId>:<fencingToken>`. State writes of an apply
 * executor (intervals, snapshots, environments, plan status) send it, and the
 * cloud refuses them with 409 `stale_lease` once the lease is not current.
 */
export const LEASE_HEADER = 'x-tideline-lease';

/** A task's lease as the {@link LEASE_HEADER} value. */
export function formatLeaseHeader(taskId: string, leaseId: string, fencingToken: number): string {
  return `${taskId}:${leaseId}:${fencingToken}`;
}

/** The parts of a {@link LEASE_HEADER} value, or undefined when it is malformed. */
export function parseLeaseHeader(
  value: string,
): { taskId: string; leaseId: string; fencingToken: number } | undefined {
  const parts = value.trim().split(':');
  if (parts.length < 3) return undefined;
  const token = parts.pop()!;
  const leaseId = parts.pop()!;
  const taskId = parts.join(':');
  if (!/^\d{1,15}$/.test(token) || !leaseId || !taskId) return undefined;
  return { taskId, leaseId, fencingToken: Number(token) };
}

/** The answer to a heartbeat: the renewed lease, and whether the work should stop. */
export interface HeartbeatResponse {
  lease: Lease;
  /** True when someone cancelled the plan being applied: stop, then complete as failed. */
  cancelRequested: boolean;
}

/** Hands a claimed task back to the queue at once (draining), without spending an attempt's backoff. */
export type ReleaseRequest = HeartbeatRequest;

/** What a progress report stored. */
export interface ProgressResponse {
  logs: number;
  evaluations: number;
  cancelRequested: boolean;
}

/** What became of a task once complete: done, retried later, or failed for good. */
export interface CompleteResponse {
  status: 'succeeded' | 'failed' | 'cancelled' | 'pending';
  /** For a retry: not claimable before this time, epoch ms. */
  retryAtTs?: number;
}

/** An executor as the registry lists it. */
export interface ExecutorInfo {
  executorId: string;
  name: string;
  kind: ExecutorKind;
  version: string;
  protocolVersion: string;
  gateways: GatewayInfo[];
  address: string | null;
  hosting: 'hybrid' | 'cloud';
  /** Online when seen within two lease lifetimes. */
  status: 'online' | 'offline';
  registeredTs: number;
  lastSeenTs: number;
  /** Ids of the tasks it holds leases on. */
  currentTasks: string[];
  completed: number;
  failed: number;
  retried: number;
  aborted: number;
}

/** `POST <project>/api/plans`: the engine's Plan JSON, computed by the CLI. */
export interface SubmitPlanRequest {
  plan: unknown;
}

export type PlanStatusName = 'pending' | 'applying' | 'succeeded' | 'failed' | 'cancelled';

export interface SubmitPlanResponse {
  planId: string;
  status: PlanStatusName;
}

/** `GET <project>/api/plans/:id`. */
export interface PlanInfo {
  planId: string;
  environment: string;
  status: PlanStatusName;
  error: string | null;
  createdBy: string | null;
  createdTs: number;
  updatedTs: number;
  startedTs: number | null;
  finishedTs: number | null;
  /** Set once a cancel of the applying plan was asked for. */
  cancelRequestedTs: number | null;
  summary: Record<string, unknown>;
}

/** A model evaluation as the cloud recorded it. */
export interface EvaluationRecord {
  id: string;
  model: string;
  identifier: string;
  version: string;
  interval: [number, number];
  status: string;
  attempt: number;
  rows: number | null;
  durationMs: number | null;
  error: string | null;
}

/** `GET <project>/api/plans/:id/progress?after=<logId>&evaluationsAfter=<evaluationId>`. */
export interface PlanProgress {
  planId: string;
  status: PlanStatusName;
  error: string | null;
  logs: Array<LogLine & { id: number }>;
  evaluations: EvaluationRecord[];
  /** Pass back as `after` to get only newer log lines. */
  nextAfter: number;
  /** Pass back as `evaluationsAfter` to get only newer evaluations (absent when none yet). */
  nextEvaluationsAfter: string | null;
}
