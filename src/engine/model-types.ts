/**
 * The engine's domain types.
 *
 * Glossary (these words mean the same thing in code, API, UI and docs):
 * - project: a folder with config.yaml, models/, seeds/, audits/, tests/, macros/.
 * - model: one `MODEL (...)` file (or an external model from external_models.yaml):
 *   a named query with a kind that says how it is materialized.
 * - gateway: a named connection to a warehouse (plus optional state and test connections).
 * - snapshot: a model at one version of its definition, with its fingerprint.
 * - version: the identity of a snapshot's physical table, derived from data hashes.
 * - interval: a half-open time range [start, end) of a model's data, in epoch ms.
 * - environment: a named set of snapshots exposed as views (`prod`, `dev`, ...).
 * - plan: the difference between a project and an environment, and how to apply it.
 * - run: one scheduled pass that evaluates the missing intervals of due models.
 * - evaluation: executing one model for one batch of intervals.
 * - task: a unit of work the cloud hands to an executor; a lease is its claim on it.
 * - executor: a process that claims tasks and runs them against its gateways.
 */

import type { SourceLocation } from './errors.js';

/** A piece of SQL as written in a project file, not yet rendered. */
export interface SqlFragment {
  /** The text, macros and Jinja included, without the terminating semicolon. */
  sql: string;
  /** Where the fragment starts. */
  location: SourceLocation;
  /** True when the fragment came from a `JINJA_QUERY_BEGIN; ... JINJA_END;` style block. */
  jinja: boolean;
}

export type IntervalUnit =
  'year' | 'month' | 'day' | 'hour' | 'half_hour' | 'quarter_hour' | 'five_minute';

export type OnDestructiveChange = 'error' | 'warn' | 'allow' | 'ignore';

/** A time column of an incremental model; `format` applies to text columns. */
export interface TimeColumn {
  column: string;
  format?: string;
}

interface IncrementalCommon {
  batchSize?: number;
  batchConcurrency?: number;
  lookback: number;
  forwardOnly: boolean;
  disableRestatement: boolean;
  onDestructiveChange: OnDestructiveChange;
  autoRestatementCron?: string;
}

export type ModelKind =
  | { name: 'VIEW'; materialized: boolean }
  | { name: 'FULL' }
  | { name: 'EMBEDDED' }
  | { name: 'EXTERNAL' }
  | {
      name: 'SEED';
      /** As written: may start with `$root/` or be relative to the model file. */
      path: string;
      batchSize: number;
      csvSettings: Record<string, string | number | boolean | string[]>;
    }
  | ({ name: 'INCREMENTAL_BY_TIME_RANGE'; timeColumn: TimeColumn } & IncrementalCommon)
  | ({
      name: 'INCREMENTAL_BY_UNIQUE_KEY';
      /** SQL expressions, usually column names. */
      uniqueKey: string[];
      /** `WHEN MATCHED THEN ...` clause(s) as SQL, when given. */
      whenMatched?: string;
      mergeFilter?: string;
    } & IncrementalCommon)
  | ({ name: 'INCREMENTAL_BY_PARTITION' } & IncrementalCommon)
  | { name: 'INCREMENTAL_UNMANAGED'; insertOverwrite: boolean; forwardOnly: boolean }
  | {
      name: 'SCD_TYPE_2_BY_TIME';
      uniqueKey: string[];
      updatedAtName: string;
      updatedAtAsValidFrom: boolean;
      validFromName: string;
      validToName: string;
      invalidateHardDeletes: boolean;
      timeDataType: string;
      forwardOnly: boolean;
      disableRestatement: boolean;
    }
  | {
      name: 'SCD_TYPE_2_BY_COLUMN';
      uniqueKey: string[];
      /** Columns whose change opens a new version; `'*'` means all. */
      columns: string[] | '*';
      executionTimeAsValidFrom: boolean;
      validFromName: string;
      validToName: string;
      invalidateHardDeletes: boolean;
      timeDataType: string;
      forwardOnly: boolean;
      disableRestatement: boolean;
    };

export type ModelKindName = ModelKind['name'];

/** A reference to an audit from a model: `audits (not_null(columns := [id]))`. */
export interface AuditCall {
  name: string;
  /** Argument name -> SQL expression text, e.g. `columns` -> `[id, name]`. */
  args: Record<string, string>;
  location: SourceLocation;
}

/** An audit defined in audits/*.sql or inline in a model file. */
export interface AuditDefinition {
  name: string;
  dialect?: string;
  blocking: boolean;
  /** A standalone audit runs on its own schedule and is not attached to a model. */
  standalone: boolean;
  /** Parameter name -> default SQL expression. */
  defaults: Record<string, string>;
  /** `skip true`: the audit is defined but not run. */
  skip?: boolean;
  /** Statements between the AUDIT block and its query (such as `@DEF(...)`), in order. */
  statements?: SqlFragment[];
  query: SqlFragment;
  location: SourceLocation;
}

export interface ColumnDefinition {
  name: string;
  /** SQL type as written, e.g. `DECIMAL(10, 2)`. */
  type: string;
}

/** A model as declared in its file, validated, with defaults applied. Not yet rendered. */
export interface ModelDefinition {
  /** The name as written (`sushi.orders`, `"my-db".raw.items`). Normalized later. */
  name: string;
  kind: ModelKind;
  /** The SQL dialect the model is written in. */
  dialect: string;
  cron: string;
  cronTz?: string;
  intervalUnit?: IntervalUnit;
  /** As written: a date, a timestamp, epoch milliseconds or a relative time ("1 year ago"). */
  start?: string;
  end?: string;
  owner?: string;
  description?: string;
  tags: string[];
  /** Grain columns (SQL expressions). `grain` and `grains` both land here. */
  grains: string[];
  references: string[];
  /** Declared columns, in order. Absent when the model does not declare them. */
  columns?: ColumnDefinition[];
  columnDescriptions: Record<string, string>;
  /** Explicit dependencies; when present they replace those found in the query. */
  dependsOn?: string[];
  audits: AuditCall[];
  partitionedBy: string[];
  clusteredBy: string[];
  physicalProperties: Record<string, string>;
  virtualProperties: Record<string, string>;
  sessionProperties: Record<string, string>;
  allowPartials: boolean;
  enabled: boolean;
  stamp?: string;
  gateway?: string;
  storageFormat?: string;
  tableFormat?: string;
  /** Properties we read but do not act on yet, kept so they count in fingerprints. */
  extraProperties: Record<string, string>;

  preStatements: SqlFragment[];
  /** The model's query; absent for SEED and EXTERNAL models. */
  query?: SqlFragment;
  postStatements: SqlFragment[];
  onVirtualUpdate: SqlFragment[];
  /** `AUDIT (...)` blocks written in the model file. */
  inlineAudits: AuditDefinition[];

  /** The model file (or external_models.yaml) relative to the project root. */
  path: string;
  location: SourceLocation;
}

/** A Jinja macro file from macros/*.sql. */
export interface JinjaMacroFile {
  path: string;
  source: string;
}
