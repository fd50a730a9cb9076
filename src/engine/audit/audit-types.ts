/**
 * Audits: queries for bad rows, run against a model's table after it is
 * evaluated. An audit passes when its query returns no rows. A blocking audit
 * that fails stops the plan or run; a non-blocking one only warns.
 */
import type { EngineAdapter, Row, TableRef } from '../adapters/engine-adapter.js';
import { EngineError } from '../errors.js';
import type { Snapshot } from '../snapshot/snapshot-types.js';

/** What running a model's audits needs. */
export interface AuditRunContext {
  adapter: EngineAdapter;
  /**
   * The snapshot just evaluated: `node.definition` holds the audit calls,
   * inline audits, dialect and kind; `node.audits` the project audits it
   * calls, by lower-case name; `node.variables` the project variables.
   */
  snapshot: Snapshot;
  /** The physical table, as SQL for the adapter (already quoted). */
  table: string;
  /** The same table as parts, when the caller has them (else parsed from `table`). */
  tableRef?: TableRef;
  /** The interval just written, epoch ms [start, end). */
  interval: [number, number];
  executionTime: number;
  /** Other models' tables by canonical name, as SQL for the adapter, for audits that read them. */
  tableFor?: (fqn: string) => string | undefined;
  /** `@gateway`. */
  gateway?: string;
  /** `@this_env`: the environment being audited. */
  environment?: string;
  /**
   * Report every audit as non-blocking, as SQLMesh does for a dev preview of a
   * forward-only change, whose table holds only part of the data.
   */
  forceNonBlocking?: boolean;
}

/** The outcome of one audit call. */
export interface AuditResult {
  /** The audit's name as the model calls it (`not_null`, `not_null_non_blocking`, ...). */
  name: string;
  blocking: boolean;
  /** True when the query returned no rows (and skipped audits). */
  passed: boolean;
  /** `skip true` in the audit's definition: not run. */
  skipped?: boolean;
  /** How many rows the query returned. */
  failingRows: number;
  /** The first rows returned (at most five). */
  sample: Row[];
  /** The query that ran, in the engine's dialect (empty when skipped). */
  sql: string;
  /** The engine's error when the query could not run; the audit then counts as failed. */
  error?: string;
}

/** How many failing rows an audit result keeps. */
export const AUDIT_SAMPLE_SIZE = 5;

function jsonOf(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** One line saying why an audit failed. */
export function describeAuditFailure(model: string, result: AuditResult): string {
  if (result.error !== undefined) {
    return `audit ${result.name} failed for ${model}: ${result.error}`;
  }
  const first = result.sample[0];
  return (
    `audit ${result.name} failed for ${model}: ${result.failingRows} row(s)` +
    (first !== undefined ? `, first: ${jsonOf(first)}` : '')
  );
}

/** Blocking audits of a model failed: the evaluation must not count as done. */
export class AuditFailure extends EngineError {
  override name = 'AuditFailure';
  /** The blocking audits that failed, in the order they ran. */
  readonly results: AuditResult[];
  readonly model: string;
  constructor(model: string, results: AuditResult[]) {
    const [first] = results;
    const more = results.length > 1 ? ` (and ${results.length - 1} more blocking audit(s))` : '';
    super(
      first ? `${describeAuditFailure(model, first)}${more}` : `audits failed for ${model}`,
      first?.sql ? { sql: first.sql } : {},
    );
    this.results = results;
    this.model = model;
  }
}

/** The failure to raise for a model's audit results: their blocking failures, if any. */
export function auditFailureOf(model: string, results: AuditResult[]): AuditFailure | undefined {
  const blocking = results.filter((r) => r.blocking && !r.passed && !r.skipped);
  return blocking.length > 0 ? new AuditFailure(model, blocking) : undefined;
}
