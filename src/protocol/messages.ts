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

/** The error body of every protocol refusal. */
export interface ProtocolError {
  error: { code: string; message: string };
}
