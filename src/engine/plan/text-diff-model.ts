/**
 * The text of a model as a plan's diff shows it: its MODEL block with one
 * property a line in a fixed order, then its statements and query as written.
 * Two definitions that differ only in how their file was laid out (property
 * order, spacing inside the MODEL block) give the same text.
 */
import type {
  AuditCall,
  AuditDefinition,
  ModelDefinition,
  ModelKind,
  SqlFragment,
} from '../model-types.js';

/** A value that reads as one word stays bare; anything else is quoted like a SQL string. */
function text(value: string): string {
  return /^[A-Za-z0-9_.@$/:-]+$/.test(value) && !/^\d/.test(value) ? value : quoted(value);
}

function quoted(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function list(values: readonly string[]): string {
  return values.length === 1 ? (values[0] as string) : `(${values.join(', ')})`;
}

function csvSetting(value: string | number | boolean | string[]): string {
  if (Array.isArray(value)) return `[${value.map(quoted).join(', ')}]`;
  return typeof value === 'string' ? quoted(value) : String(value);
}

/** `key value` lines of a kind's properties, in a fixed order. */
function kindProperties(kind: ModelKind): Array<[string, string]> {
  const props: Array<[string, string]> = [];
  const add = (key: string, value: string | number | boolean | undefined): void => {
    if (value !== undefined) props.push([key, String(value)]);
  };
  switch (kind.name) {
    case 'VIEW':
      if (kind.materialized) add('materialized', true);
      break;
    case 'FULL':
    case 'EMBEDDED':
    case 'EXTERNAL':
      break;
    case 'SEED':
      add('path', quoted(kind.path));
      add('batch_size', kind.batchSize);
      for (const key of Object.keys(kind.csvSettings).sort()) {
        add(`csv_settings.${key}`, csvSetting(kind.csvSettings[key] as string));
      }
      break;
    case 'INCREMENTAL_BY_TIME_RANGE':
    case 'INCREMENTAL_BY_UNIQUE_KEY':
    case 'INCREMENTAL_BY_PARTITION':
      if (kind.name === 'INCREMENTAL_BY_TIME_RANGE') {
        add('time_column', kind.timeColumn.column);
        if (kind.timeColumn.format !== undefined) {
          add('time_column_format', quoted(kind.timeColumn.format));
        }
      }
      if (kind.name === 'INCREMENTAL_BY_UNIQUE_KEY') {
        add('unique_key', list(kind.uniqueKey));
        add('when_matched', kind.whenMatched);
        add('merge_filter', kind.mergeFilter);
      }
      add('batch_size', kind.batchSize);
      add('batch_concurrency', kind.batchConcurrency);
      add('lookback', kind.lookback);
      add('forward_only', kind.forwardOnly);
      add('disable_restatement', kind.disableRestatement);
      add('on_destructive_change', kind.onDestructiveChange);
      add('auto_restatement_cron', kind.autoRestatementCron && quoted(kind.autoRestatementCron));
      break;
    case 'INCREMENTAL_UNMANAGED':
      add('insert_overwrite', kind.insertOverwrite);
      add('forward_only', kind.forwardOnly);
      break;
    case 'SCD_TYPE_2_BY_TIME':
    case 'SCD_TYPE_2_BY_COLUMN':
      add('unique_key', list(kind.uniqueKey));
      if (kind.name === 'SCD_TYPE_2_BY_TIME') {
        add('updated_at_name', kind.updatedAtName);
        add('updated_at_as_valid_from', kind.updatedAtAsValidFrom);
      } else {
        add('columns', kind.columns === '*' ? '*' : list(kind.columns));
        add('execution_time_as_valid_from', kind.executionTimeAsValidFrom);
      }
      add('valid_from_name', kind.validFromName);
      add('valid_to_name', kind.validToName);
      add('invalidate_hard_deletes', kind.invalidateHardDeletes);
      add('time_data_type', kind.timeDataType);
      add('forward_only', kind.forwardOnly);
      add('disable_restatement', kind.disableRestatement);
      break;
  }
  return props;
}

function auditCall(call: AuditCall): string {
  const args = Object.entries(call.args).map(([name, value]) => `${name} := ${value}`);
  return args.length === 0 ? call.name : `${call.name}(${args.join(', ')})`;
}

/** A property whose value spans lines: `key (`, one entry a line (each ending in a comma), `)`. */
function block(key: string, entries: string[]): string[] {
  return [`  ${key} (`, ...entries.map((e) => `    ${e},`), '  )'];
}

function mapEntries(values: Record<string, string>): string[] {
  return Object.keys(values)
    .sort()
    .map((key) => `${key} = ${values[key] as string}`);
}

/** The MODEL block's lines, one property (or one entry of a multi-line property) per line. */
function headerLines(def: ModelDefinition): string[] {
  const props: string[][] = [];
  const one = (key: string, value: string | undefined): void => {
    if (value !== undefined) props.push([`  ${key} ${value}`]);
  };
  one('name', def.name);
  const kindProps = kindProperties(def.kind);
  if (kindProps.length === 0) one('kind', def.kind.name);
  else
    props.push(
      block(
        `kind ${def.kind.name}`,
        kindProps.map(([k, v]) => `${k} ${v}`),
      ),
    );
  one('dialect', def.dialect);
  one('cron', quoted(def.cron));
  one('cron_tz', def.cronTz && quoted(def.cronTz));
  one('interval_unit', def.intervalUnit);
  one('start', def.start && quoted(def.start));
  one('end', def.end && quoted(def.end));
  one('owner', def.owner && text(def.owner));
  one('description', def.description === undefined ? undefined : quoted(def.description));
  if (def.tags.length > 0) one('tags', `(${def.tags.map(text).join(', ')})`);
  if (def.grains.length > 0) one('grains', `(${def.grains.join(', ')})`);
  if (def.references.length > 0) one('references', `(${def.references.join(', ')})`);
  if (def.dependsOn) one('depends_on', `(${def.dependsOn.join(', ')})`);
  if (def.columns)
    props.push(
      block(
        'columns',
        def.columns.map((c) => `${c.name} ${c.type}`),
      ),
    );
  const described = Object.keys(def.columnDescriptions).sort();
  if (described.length > 0) {
    props.push(
      block(
        'column_descriptions',
        described.map((c) => `${c} = ${quoted(def.columnDescriptions[c] as string)}`),
      ),
    );
  }
  if (def.audits.length > 0) props.push(block('audits', def.audits.map(auditCall)));
  if (def.partitionedBy.length > 0) one('partitioned_by', `(${def.partitionedBy.join(', ')})`);
  if (def.clusteredBy.length > 0) one('clustered_by', `(${def.clusteredBy.join(', ')})`);
  for (const [key, values] of [
    ['physical_properties', def.physicalProperties],
    ['virtual_properties', def.virtualProperties],
    ['session_properties', def.sessionProperties],
  ] as const) {
    if (Object.keys(values).length > 0) props.push(block(key, mapEntries(values)));
  }
  if (def.allowPartials) one('allow_partials', 'true');
  if (!def.enabled) one('enabled', 'false');
  one('stamp', def.stamp && quoted(def.stamp));
  one('gateway', def.gateway);
  one('storage_format', def.storageFormat);
  one('table_format', def.tableFormat);
  for (const key of Object.keys(def.extraProperties).sort()) {
    one(key, def.extraProperties[key]);
  }
  // A comma after every property, the last included, so adding or removing
  // one property never shows its neighbour as changed.
  const lines: string[] = ['MODEL ('];
  for (const prop of props) {
    const body = [...prop];
    body[body.length - 1] = `${body[body.length - 1] as string},`;
    lines.push(...body);
  }
  lines.push(');');
  return lines;
}

/** A statement as written, ending with `;`; a Jinja block keeps its begin and end markers. */
function statement(fragment: SqlFragment, isQuery = false): string {
  const sql = `${fragment.sql.trim()};`;
  if (!fragment.jinja) return sql;
  return `${isQuery ? 'JINJA_QUERY_BEGIN;' : 'JINJA_STATEMENT_BEGIN;'}\n${sql}\nJINJA_END;`;
}

function inlineAudit(audit: AuditDefinition): string {
  const props = [`name ${audit.name}`];
  if (audit.dialect !== undefined) props.push(`dialect ${audit.dialect}`);
  if (!audit.blocking) props.push('blocking false');
  if (audit.standalone) props.push('standalone true');
  if (audit.skip) props.push('skip true');
  for (const [key, value] of Object.entries(audit.defaults)) props.push(`${key} ${value}`);
  return [
    `AUDIT (${props.join(', ')});`,
    ...(audit.statements ?? []).map((s) => statement(s)),
    statement(audit.query, true),
  ].join('\n');
}

/**
 * The text of a model as a plan's diff shows it: the MODEL block with the
 * properties that are set (name, kind and its properties, dialect, cron,
 * start, owner, description, tags, grains, columns, audits, ...) one per line
 * in a fixed order, then the pre-statements, the query and the
 * post-statements as written, then on-virtual-update statements and inline
 * audits. Sections are separated by a blank line; the text ends with a line break.
 */
export function modelDiffText(def: ModelDefinition): string {
  const sections: string[] = [headerLines(def).join('\n')];
  for (const s of def.preStatements) sections.push(statement(s));
  if (def.query) sections.push(statement(def.query, true));
  for (const s of def.postStatements) sections.push(statement(s));
  if (def.onVirtualUpdate.length > 0) {
    sections.push(
      [
        'ON_VIRTUAL_UPDATE_BEGIN;',
        ...def.onVirtualUpdate.map((s) => statement(s)),
        'ON_VIRTUAL_UPDATE_END;',
      ].join('\n'),
    );
  }
  for (const audit of def.inlineAudits) sections.push(inlineAudit(audit));
  return `${sections.join('\n\n')}\n`;
}
