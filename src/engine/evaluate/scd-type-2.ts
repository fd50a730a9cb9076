/**
 * SCD Type 2 (by time and by column): the statement that computes a model
 * table's new contents from its current rows and the query's rows, following
 * SQLMesh's rules.
 *
 * The table keeps every version of each key; the current version has
 * `valid_to` NULL. A load:
 * - keeps closed versions as they are;
 * - closes the current version of a key whose row changed (by time: its
 *   `updated_at` moved forward; by column: a checked column differs,
 *   NULL-safely) and opens a new version;
 * - when `invalidate_hard_deletes` is on, closes at the execution time the
 *   current version of a key the query no longer returns;
 * - opens a first version for a key it has not seen or that was closed. Its
 *   `valid_from` is 1970-01-01 (by time; or `updated_at` with
 *   `updated_at_as_valid_from`; or, for a key that was deleted, the later of
 *   its last `valid_to` and its `updated_at`), or for SCD by column: 1970-01-01
 *   on the first load and the execution time afterwards (always the execution
 *   time with `execution_time_as_valid_from`).
 *
 * One deliberate difference: a version that is closed keeps its own values;
 * SQLMesh fills its NULL columns from the new row.
 */
import type { EngineAdapter } from '../adapters/engine-adapter.js';
import { EngineError } from '../errors.js';
import type { ModelKind } from '../model-types.js';
import { asSubquery, columnList, rewriteColumns } from './materialize-sql.js';
import { castTimeLiteral, type Instant } from './materialize-time.js';
import { columnTypeSql } from './seed-loader.js';

export type ScdKind = Extract<ModelKind, { name: 'SCD_TYPE_2_BY_TIME' | 'SCD_TYPE_2_BY_COLUMN' }>;

export interface ScdQueryInput {
  adapter: Pick<EngineAdapter, 'quoteIdentifier' | 'tableName'>;
  /** The target table, rendered. */
  tableSql: string;
  /** The table's columns in order, with their engine types. */
  columns: Array<{ name: string; type: string }>;
  kind: ScdKind;
  querySql: string;
  /** Declared columns: the query's columns are cast to these types. */
  declared?: Array<{ name: string; type: string }>;
  executionTime: number;
  /** Build from the query alone, ignoring the rows already in the table (the first load). */
  firstLoad: boolean;
  modelName: string;
}

const EPOCH: Instant = { ms: 0, micros: 0 };

/** Finds a column by name: exactly, or else ignoring case. */
export function findColumn<C extends { name: string }>(columns: C[], name: string): C | undefined {
  const unquoted = /^".*"$/.test(name) ? name.slice(1, -1).replace(/""/g, '"') : name;
  const lower = unquoted.toLowerCase();
  return (
    columns.find((c) => c.name === unquoted) ?? columns.find((c) => c.name.toLowerCase() === lower)
  );
}

/** The SELECT giving the table's complete new contents, its columns in table order. */
export function scdType2Query(input: ScdQueryInput): string {
  const { adapter, kind, columns, modelName } = input;
  const q = (name: string): string => adapter.quoteIdentifier(name);
  const fail = (reason: string): never => {
    throw new EngineError(`model ${modelName}: ${reason}`);
  };

  const validFrom = findColumn(columns, kind.validFromName);
  const validTo = findColumn(columns, kind.validToName);
  if (!validFrom || !validTo) {
    return fail(
      `table ${input.tableSql} lacks the ${kind.validFromName} / ${kind.validToName} columns; ` +
        'create it with createPhysicalTable',
    );
  }
  if (kind.uniqueKey.length === 0) return fail('SCD Type 2 needs a unique_key');
  const timeType = validFrom.type;
  const all = columns.map((c) => c.name);
  const unmanaged = all.filter((c) => c !== validFrom.name && c !== validTo.name);
  const index = new Map(all.map((c, i) => [c, i]));
  const uIndex = new Map(unmanaged.map((c, i) => [c, i]));
  const byTime = kind.name === 'SCD_TYPE_2_BY_TIME';
  const updatedAt = byTime ? findColumn(columns, kind.updatedAtName)?.name : undefined;
  if (byTime && updatedAt === undefined) {
    return fail(
      `the query has no ${kind.updatedAtName} column; SCD_TYPE_2_BY_TIME needs an updated_at ` +
        'timestamp (or set updated_at_name)',
    );
  }

  // In `joined`, the current version's columns are __o<i> (table order) and the query's __n<i> (unmanaged order).
  const old = (c: string): string => `j.${q(`__o${index.get(c)}`)}`;
  const neu = (c: string): string => `j.${q(`__n${uIndex.get(c)}`)}`;
  const keyOn = (expr: string, ref: (c: string) => string): string =>
    `(${rewriteColumns(expr, unmanaged, ref)})`;
  const keysEqual = (left: (c: string) => string, right: (c: string) => string): string =>
    kind.uniqueKey.map((k) => `${keyOn(k, left)} = ${keyOn(k, right)}`).join(' AND ');
  const execTs = castTimeLiteral({ ms: input.executionTime, micros: 0 }, timeType);
  const epoch = castTimeLiteral(EPOCH, timeType);
  const deleted = kind.invalidateHardDeletes ? `j.${q('__exists')} IS NULL` : 'FALSE';

  let changed: string;
  let validFromSql: string;
  let validToSql: string;
  let insertedFrom: string;
  if (byTime) {
    const ua = updatedAt as string;
    changed = `${neu(ua)} > ${old(ua)}`;
    const firstFrom = kind.updatedAtAsValidFrom ? neu(ua) : epoch;
    validFromSql =
      `CASE WHEN ${old(validFrom.name)} IS NULL AND d.${q('__exists')} IS NOT NULL THEN ` +
      `CASE WHEN d.${q('__last_to')} > ${neu(ua)} THEN d.${q('__last_to')} ELSE ${neu(ua)} END ` +
      `WHEN ${old(validFrom.name)} IS NULL THEN ${firstFrom} ELSE ${old(validFrom.name)} END`;
    validToSql =
      `CASE WHEN ${changed} THEN ${neu(ua)} WHEN ${deleted} THEN ${execTs} ` +
      `ELSE ${old(validTo.name)} END`;
    insertedFrom = neu(ua);
  } else {
    const checked =
      kind.columns === '*'
        ? unmanaged
        : kind.columns.map((c) => {
            const col = findColumn(columns, c);
            if (!col || !uIndex.has(col.name)) {
              return fail(
                `SCD_TYPE_2_BY_COLUMN checks column ${c}, which the query does not return`,
              );
            }
            return col.name;
          });
    const keysPresent = kind.uniqueKey
      .map((k) => `${keyOn(k, old)} IS NOT NULL AND ${keyOn(k, neu)} IS NOT NULL`)
      .join(' AND ');
    const differs = checked.map((c) => `${neu(c)} IS DISTINCT FROM ${old(c)}`).join(' OR ');
    changed = `(${keysPresent} AND (${differs || 'FALSE'}))`;
    const firstFrom = kind.executionTimeAsValidFrom || !input.firstLoad ? execTs : epoch;
    validFromSql = `COALESCE(${old(validFrom.name)}, ${firstFrom})`;
    validToSql = `CASE WHEN ${deleted} OR ${changed} THEN ${execTs} ELSE ${old(validTo.name)} END`;
    insertedFrom = execTs;
  }

  const sourceCols = unmanaged.map((c) => {
    const type = c === updatedAt ? timeType : findColumn(input.declared ?? [], c)?.type;
    return type === undefined ? q(c) : `CAST(${q(c)} AS ${columnTypeSql(type)}) AS ${q(c)}`;
  });
  const plainKeys = kind.uniqueKey.map((k) => `(${k})`).join(', ');
  const existing =
    `SELECT ${columnList(adapter, all)}, TRUE AS ${q('__exists')} FROM ${input.tableSql}` +
    (input.firstLoad ? ' WHERE FALSE' : '');
  const joinedCols = (): string =>
    [
      `s.${q('__exists')} AS ${q('__exists')}`,
      ...all.map((c, i) => `l.${q(c)} AS ${q(`__o${i}`)}`),
      ...unmanaged.map((c, i) => `s.${q(c)} AS ${q(`__n${i}`)}`),
    ].join(', ');
  const latestSourceOn = keysEqual(
    (c) => `l.${q(c)}`,
    (c) => `s.${q(c)}`,
  );
  const lastTo = q('__last_to');
  const keyAliases = kind.uniqueKey.map((_, i) => q(`__k${i}`));

  const updatedCols = all.map((c) => {
    if (c === validFrom.name) return `${validFromSql} AS ${q(c)}`;
    if (c === validTo.name) return `${validToSql} AS ${q(c)}`;
    // A current version keeps its values; a key new to the table takes the query's.
    return `CASE WHEN ${old(validFrom.name)} IS NULL THEN ${neu(c)} ELSE ${old(c)} END AS ${q(c)}`;
  });
  const insertedCols = all.map((c) => {
    if (c === validFrom.name) return `${insertedFrom} AS ${q(c)}`;
    if (c === validTo.name) return `CAST(NULL AS ${timeType}) AS ${q(c)}`;
    return `${neu(c)} AS ${q(c)}`;
  });
  const allList = columnList(adapter, all);

  return [
    'WITH',
    `${q('__source')} AS (SELECT DISTINCT ON (${plainKeys}) TRUE AS ${q('__exists')}, ` +
      `${sourceCols.join(', ')} FROM ${asSubquery(input.querySql)} AS ${q('__raw')}),`,
    `${q('__existing')} AS (${existing}),`,
    `${q('__static')} AS (SELECT * FROM ${q('__existing')} WHERE ${q(validTo.name)} IS NOT NULL),`,
    `${q('__latest')} AS (SELECT * FROM ${q('__existing')} WHERE ${q(validTo.name)} IS NULL),`,
    // The last valid_to of each key's closed versions, for keys that come back after a delete.
    `${q('__latest_deleted')} AS (SELECT TRUE AS ${q('__exists')}, ` +
      kind.uniqueKey.map((k, i) => `(${k}) AS ${keyAliases[i]}`).join(', ') +
      `, MAX(${q(validTo.name)}) AS ${lastTo} FROM ${q('__static')} GROUP BY ${plainKeys}),`,
    // Current versions with the query's row for their key, plus query rows with no current version.
    `${q('__joined')} AS (` +
      `SELECT ${joinedCols()} FROM ${q('__latest')} AS l LEFT JOIN ${q('__source')} AS s ON ${latestSourceOn} ` +
      `UNION ALL ` +
      `SELECT ${joinedCols()} FROM ${q('__latest')} AS l RIGHT JOIN ${q('__source')} AS s ON ${latestSourceOn} ` +
      `WHERE l.${q('__exists')} IS NULL)`,
    `SELECT ${allList} FROM ${q('__static')}`,
    'UNION ALL',
    `SELECT ${updatedCols.join(', ')} FROM ${q('__joined')} AS j LEFT JOIN ${q('__latest_deleted')} AS d ` +
      `ON ${kind.uniqueKey.map((k, i) => `${keyOn(k, neu)} = d.${keyAliases[i]}`).join(' AND ')}`,
    'UNION ALL',
    `SELECT ${insertedCols.join(', ')} FROM ${q('__joined')} AS j WHERE ${changed}`,
  ].join('\n');
}
