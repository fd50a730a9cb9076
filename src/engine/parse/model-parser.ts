/**
 * Parses SQL model files: `MODEL (...);` followed by pre-statements, the
 * query, post-statements, `ON_VIRTUAL_UPDATE_BEGIN; ... ON_VIRTUAL_UPDATE_END;`
 * blocks and inline `AUDIT (...); SELECT ...;` pairs. Properties are checked
 * against the keys SQLMesh accepts and SQLMesh's defaults are applied.
 */

import type { ModelDefaultsConfig } from '../config/config-types.js';
import type {
  AuditCall,
  AuditDefinition,
  ColumnDefinition,
  IntervalUnit,
  ModelDefinition,
  ModelKind,
  OnDestructiveChange,
  SqlFragment,
} from '../model-types.js';
import { readAudit } from './audit-parser.js';
import type { Property, PropertyParser, ValueNode } from './property-parser.js';
import {
  asBool,
  asInt,
  asLiteral,
  asScalarText,
  asSqlMap,
  asText,
  asTextList,
  entries,
  suggest,
} from './property-values.js';
import type { RawStatement } from './sql-scanner.js';
import { SourceFile } from './source-file.js';

/** SQLMesh's default format of a text time column. */
export const DEFAULT_TIME_COLUMN_FORMAT = '%Y-%m-%d';
export const DEFAULT_CRON = '@daily';
export const DEFAULT_SEED_BATCH_SIZE = 1000;

const INTERVAL_UNITS: readonly IntervalUnit[] = [
  'year',
  'month',
  'day',
  'hour',
  'half_hour',
  'quarter_hour',
  'five_minute',
];
const DESTRUCTIVE_CHANGE: readonly OnDestructiveChange[] = ['error', 'warn', 'allow', 'ignore'];

/** MODEL keys we read into ModelDefinition fields. */
const MODEL_KEYS = new Set([
  'name',
  'kind',
  'dialect',
  'cron',
  'cron_tz',
  'start',
  'end',
  'grain',
  'grains',
  'audits',
  'columns',
  'column_descriptions',
  'references',
  'depends_on',
  'tags',
  'owner',
  'description',
  'partitioned_by',
  'clustered_by',
  'interval_unit',
  'allow_partials',
  'enabled',
  'stamp',
  'gateway',
  'storage_format',
  'table_format',
  'physical_properties',
  'table_properties',
  'virtual_properties',
  'session_properties',
]);

/** Valid SQLMesh MODEL keys we keep as text in `extraProperties`. */
const EXTRA_MODEL_KEYS = new Set([
  'optimize_query',
  'formatting',
  'ignored_rules',
  'signals',
  'blueprints',
  'retention',
  'physical_version',
  'virtual_environment_mode',
  'grants',
  'grants_target_layer',
  'project',
]);
const BOOLEAN_EXTRA_KEYS = new Set(['optimize_query', 'formatting']);

const KIND_NAMES = [
  'VIEW',
  'FULL',
  'EMBEDDED',
  'EXTERNAL',
  'SEED',
  'INCREMENTAL_BY_TIME_RANGE',
  'INCREMENTAL_BY_UNIQUE_KEY',
  'INCREMENTAL_BY_PARTITION',
  'INCREMENTAL_UNMANAGED',
  'SCD_TYPE_2',
  'SCD_TYPE_2_BY_TIME',
  'SCD_TYPE_2_BY_COLUMN',
] as const;
type KindWord = (typeof KIND_NAMES)[number];
const KIND_SET = new Set<string>(KIND_NAMES);
/** Kinds SQLMesh has that Tideline does not run. */
const UNSUPPORTED_KINDS = new Set(['CUSTOM', 'MANAGED', 'DBT_CUSTOM']);
const KINDS_WITHOUT_PROPERTIES = new Set(['FULL', 'EMBEDDED', 'EXTERNAL']);

const INCREMENTAL = ['on_destructive_change', 'on_additive_change', 'auto_restatement_cron'];
const INCREMENTAL_BY = [
  ...INCREMENTAL,
  'dialect',
  'batch_size',
  'batch_concurrency',
  'lookback',
  'forward_only',
  'disable_restatement',
];
const SCD = [
  ...INCREMENTAL,
  'dialect',
  'unique_key',
  'valid_from_name',
  'valid_to_name',
  'invalidate_hard_deletes',
  'time_data_type',
  'batch_size',
  'forward_only',
  'disable_restatement',
];
const KIND_KEYS: Record<KindWord, Set<string>> = {
  VIEW: new Set(['materialized']),
  FULL: new Set(),
  EMBEDDED: new Set(),
  EXTERNAL: new Set(),
  SEED: new Set(['path', 'batch_size', 'csv_settings']),
  INCREMENTAL_BY_TIME_RANGE: new Set([
    ...INCREMENTAL_BY,
    'time_column',
    'auto_restatement_intervals',
    'partition_by_time_column',
  ]),
  INCREMENTAL_BY_UNIQUE_KEY: new Set([
    ...INCREMENTAL_BY,
    'unique_key',
    'when_matched',
    'merge_filter',
  ]),
  INCREMENTAL_BY_PARTITION: new Set([...INCREMENTAL, 'forward_only', 'disable_restatement']),
  INCREMENTAL_UNMANAGED: new Set([
    ...INCREMENTAL,
    'insert_overwrite',
    'forward_only',
    'disable_restatement',
  ]),
  SCD_TYPE_2: new Set([...SCD, 'updated_at_name', 'updated_at_as_valid_from']),
  SCD_TYPE_2_BY_TIME: new Set([...SCD, 'updated_at_name', 'updated_at_as_valid_from']),
  SCD_TYPE_2_BY_COLUMN: new Set([
    ...SCD,
    'columns',
    'execution_time_as_valid_from',
    'updated_at_name',
  ]),
};
/** Every key any kind takes; used to find where an unbracketed `when_matched` ends. */
const ALL_KIND_KEYS = new Set(Object.values(KIND_KEYS).flatMap((keys) => [...keys]));

/**
 * Parses one model file. `path` is the file relative to the project root and
 * appears in error messages; `defaults` are the project's model_defaults.
 * Throws a ProjectError (`file:line:column: reason`) on any mistake.
 */
export function parseModelFile(
  source: string,
  path: string,
  defaults: ModelDefaultsConfig,
): ModelDefinition {
  const file = new SourceFile(source, path, defaults.dialect);
  const stmts = file.statements;
  const head = stmts[0];
  if (!head) {
    throw file.error(
      0,
      'the model file is empty; start it with `MODEL (name schema.table, kind FULL);`',
    );
  }
  if (!file.startsBlock(head, 'MODEL')) {
    throw file.error(
      head.tokenStart,
      `a model file must start with \`MODEL (...)\`, found \`${file.describe(head)}\`; move the MODEL block to the top`,
    );
  }
  const { parser: p, open, close } = file.headerBlock(head, 'MODEL');
  const props = p.parseProperties(open, close, 'MODEL', (key, i, limit) =>
    readModelValue(p, key, i, limit),
  );
  const model = buildModel(p, props, path, defaults);

  // Statements after the MODEL block.
  const pre: SqlFragment[] = [];
  const post: SqlFragment[] = [];
  const onVirtualUpdate: SqlFragment[] = [];
  const inlineAudits: AuditDefinition[] = [];
  let query: RawStatement | undefined;
  let loneMacro: RawStatement | undefined;
  let others = 0;
  for (let i = 1; i < stmts.length; i++) {
    const stmt = stmts[i] as RawStatement;
    if (stmt.kind === 'virtual-begin') {
      let j = i + 1;
      for (; j < stmts.length; j++) {
        const inner = stmts[j] as RawStatement;
        if (inner.kind === 'virtual-end') break;
        if (inner.kind === 'virtual-begin' || inner.kind === 'jinja-query' || file.isQuery(inner)) {
          throw file.error(
            inner.tokenStart,
            'only statements may go between `ON_VIRTUAL_UPDATE_BEGIN;` and `ON_VIRTUAL_UPDATE_END;`, not queries or blocks',
          );
        }
        onVirtualUpdate.push(file.fragment(inner));
      }
      if (j >= stmts.length) {
        throw file.error(
          stmt.tokenStart,
          '`ON_VIRTUAL_UPDATE_BEGIN;` has no matching `ON_VIRTUAL_UPDATE_END;`; add it after the statements',
        );
      }
      i = j;
      continue;
    }
    if (stmt.kind === 'virtual-end') {
      throw file.error(
        stmt.tokenStart,
        '`ON_VIRTUAL_UPDATE_END;` without `ON_VIRTUAL_UPDATE_BEGIN;` before it',
      );
    }
    if (file.startsBlock(stmt, 'MODEL')) {
      throw file.error(
        stmt.tokenStart,
        'a file holds one MODEL block; move this model to a file of its own',
      );
    }
    if (file.startsBlock(stmt, 'AUDIT')) {
      const next = stmts[i + 1];
      const body = next && next.kind !== 'virtual-begin' ? [next] : [];
      const audit = readAudit(file, stmt, body, model.dialect);
      const clash = inlineAudits.find((a) => a.name === audit.name);
      if (clash) {
        throw file.error(
          stmt.tokenStart,
          `inline audit \`${audit.name}\` is defined twice (first at line ${clash.location.line}); rename one`,
        );
      }
      inlineAudits.push(audit);
      i += body.length;
      continue;
    }
    if (file.isQuery(stmt)) {
      if (query) {
        const first = file.lines.locate(query.tokenStart);
        throw file.error(
          stmt.tokenStart,
          `a model has one query, but a second one starts here (the first is at line ${first.line}); remove one or merge them with UNION`,
        );
      }
      query = stmt;
      continue;
    }
    others++;
    if (file.isMacroCall(stmt)) loneMacro = stmt;
    (query ? post : pre).push(file.fragment(stmt));
  }
  // As in SQLMesh, a model whose only statement is a macro call takes it as its query.
  if (!query && others === 1 && loneMacro) {
    query = loneMacro;
    pre.length = 0;
  }

  if (!query && model.kind.name !== 'SEED' && model.kind.name !== 'EXTERNAL') {
    throw file.error(
      head.tokenStart,
      `model \`${model.name}\` of kind ${model.kind.name} has no query; add a SELECT statement after the MODEL block`,
    );
  }
  if (query) model.query = file.fragment(query);
  model.preStatements = pre;
  model.postStatements = post;
  model.onVirtualUpdate = onVirtualUpdate;
  model.inlineAudits = inlineAudits;
  return model;
}

function readModelValue(p: PropertyParser, key: string, i: number, limit: number): ValueNode {
  if (key === 'kind') return readKind(p, i, limit);
  return p.parsePrimary(i, limit, key);
}

function readKind(p: PropertyParser, i: number, limit: number): ValueNode {
  const t = p.token(i);
  if (t.kind !== 'word' && t.kind !== 'qident' && t.kind !== 'string') {
    throw p.fail(
      i,
      `expected a model kind name after \`kind\`, found \`${t.text}\`; write e.g. \`kind FULL\``,
    );
  }
  const name = p.nameOf(i).toUpperCase();
  if (!KIND_SET.has(name)) {
    if (UNSUPPORTED_KINDS.has(name)) {
      throw p.fail(i, `model kind ${name} is not supported; use one of ${KIND_NAMES.join(', ')}`);
    }
    throw p.fail(i, `unknown model kind \`${p.nameOf(i)}\`; use one of ${KIND_NAMES.join(', ')}`);
  }
  if (i + 1 < limit && p.isPunct(i + 1, '(')) {
    if (KINDS_WITHOUT_PROPERTIES.has(name)) {
      throw p.fail(i + 1, `kind ${name} takes no properties; remove the parentheses after it`);
    }
    const close = p.closing(i + 1);
    const props = p.parseProperties(i + 1, close, `kind ${name}`, (key, j, lim) =>
      readKindValue(p, key, j, lim),
    );
    return { type: 'props', name, props, from: i, to: close + 1 };
  }
  return { type: 'props', name, props: undefined, from: i, to: i + 1 };
}

function readKindValue(p: PropertyParser, key: string, i: number, limit: number): ValueNode {
  if (key === 'time_data_type' || key === 'merge_filter') return p.parseUntilComma(key, i, limit);
  if (key === 'when_matched') {
    if (p.isPunct(i, '(') && p.isWord(i + 1, 'WHEN')) {
      // `when_matched (WHEN MATCHED THEN ...)`: the brackets only delimit the clauses.
      return { type: 'expr', from: i, to: p.closing(i) + 1 };
    }
    // Unbracketed clauses run to the next comma followed by another kind property.
    let j = i;
    for (;;) {
      j = p.untilComma(j, limit);
      if (j >= limit) break;
      const next = p.tokens[j + 1];
      const after = p.tokens[j + 2];
      if (
        next &&
        next.kind === 'word' &&
        ALL_KIND_KEYS.has(next.text.toLowerCase()) &&
        !(after && after.kind === 'punct' && (after.text === '=' || after.text === '.'))
      ) {
        break;
      }
      j++;
    }
    if (j === i)
      throw p.fail(
        i,
        'property `when_matched` has no value; write `when_matched WHEN MATCHED THEN ...`',
      );
    return { type: 'expr', from: i, to: j };
  }
  return p.parsePrimary(i, limit, key);
}

function extraDefault(defaults: ModelDefaultsConfig, snake: string): unknown {
  const camel = snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return defaults.extra[snake] ?? defaults.extra[camel];
}

/** A model_defaults value as SQL text (`'x'` for strings). */
function defaultSql(value: unknown): string {
  if (typeof value === 'string') return `'${value.split("'").join("''")}'`;
  return String(value);
}

function defaultBool(value: unknown, fallback: boolean): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string')
    return ['true', '1', 'yes', 'on', 't', 'y'].includes(value.toLowerCase());
  return fallback;
}

function buildModel(
  p: PropertyParser,
  props: Property[],
  path: string,
  defaults: ModelDefaultsConfig,
): ModelDefinition {
  const byKey = new Map<string, Property>();
  for (const prop of props) {
    if (!MODEL_KEYS.has(prop.key) && !EXTRA_MODEL_KEYS.has(prop.key) && !prop.key.startsWith('@')) {
      if (prop.key === 'default_catalog') {
        throw p.fail(
          prop.keyIndex,
          '`default_catalog` cannot be set per model; set it on the gateway connection',
        );
      }
      const hint = suggest(prop.key, [...MODEL_KEYS, ...EXTRA_MODEL_KEYS]);
      throw p.fail(
        prop.keyIndex,
        hint
          ? `unknown MODEL property \`${prop.key}\`${hint}`
          : `unknown MODEL property \`${prop.key}\`; remove it or use a SQLMesh model property`,
      );
    }
    byKey.set(prop.key, prop);
  }
  const get = (key: string): ValueNode | undefined => byKey.get(key)?.value;
  const text = (key: string, example: string): string | undefined => {
    const v = get(key);
    return v === undefined ? undefined : asScalarText(p, v, key, example);
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = get(key);
    return v === undefined ? fallback : asBool(p, v, key);
  };

  const nameNode = get('name');
  if (!nameNode) throw p.fail(0, 'the MODEL block has no `name`; add `name schema.table`');
  if (nameNode.type === 'string') {
    throw p.fail(
      nameNode.from,
      'the model name must be an identifier, not a string; write `name schema.table` without quotes',
    );
  }
  if (nameNode.type !== 'ident' && nameNode.type !== 'expr') {
    throw p.fail(
      nameNode.from,
      `the model name must be a table name like \`schema.table\`, got \`${p.text(nameNode)}\``,
    );
  }
  const name = p.text(nameNode);

  const dialect = (text('dialect', 'duckdb') ?? defaults.dialect).toLowerCase();

  const extraProperties: Record<string, string> = {};
  const kindNode = get('kind');
  const kind = kindNode
    ? buildKind(p, kindNode, defaults, extraProperties)
    : buildKind(p, defaultKindNode(p, defaults), defaults, extraProperties);

  const model: ModelDefinition = {
    name,
    kind,
    dialect,
    cron: text('cron', "'@daily'") ?? defaults.cron ?? DEFAULT_CRON,
    tags: [],
    grains: [],
    references: [],
    columnDescriptions: {},
    audits: [],
    partitionedBy: [],
    clusteredBy: [],
    physicalProperties: {},
    virtualProperties: {},
    sessionProperties: {},
    allowPartials: bool(
      'allow_partials',
      defaultBool(extraDefault(defaults, 'allow_partials'), false),
    ),
    enabled: bool('enabled', defaultBool(extraDefault(defaults, 'enabled'), true)),
    extraProperties,
    preStatements: [],
    postStatements: [],
    onVirtualUpdate: [],
    inlineAudits: [],
    path,
    location: p.locate(0),
  };

  const cronTz = text('cron_tz', "'UTC'");
  if (cronTz !== undefined) model.cronTz = cronTz;
  const start = text('start', "'2024-01-01'") ?? defaults.start;
  if (start !== undefined) model.start = start;
  const end = text('end', "'2024-12-31'");
  if (end !== undefined) model.end = end;
  const owner = text('owner', 'jen') ?? defaults.owner;
  if (owner !== undefined) model.owner = owner;
  const description = text('description', "'what this model holds'");
  if (description !== undefined) model.description = description;
  const stamp = text('stamp', "'v2'");
  if (stamp !== undefined) model.stamp = stamp;
  const gateway = text('gateway', 'my_gateway');
  if (gateway !== undefined) model.gateway = gateway.toLowerCase();
  const storageFormat = text('storage_format', 'parquet') ?? defaults.storageFormat;
  if (storageFormat !== undefined) model.storageFormat = storageFormat;
  const tableFormatDefault = extraDefault(defaults, 'table_format');
  const tableFormat =
    text('table_format', 'iceberg') ??
    (typeof tableFormatDefault === 'string' ? tableFormatDefault : undefined);
  if (tableFormat !== undefined) model.tableFormat = tableFormat;

  const intervalNode = get('interval_unit');
  const intervalDefault = extraDefault(defaults, 'interval_unit');
  if (intervalNode) {
    const unit = asScalarText(p, intervalNode, 'interval_unit', 'day').toLowerCase();
    if (!(INTERVAL_UNITS as readonly string[]).includes(unit)) {
      throw p.fail(
        intervalNode.from,
        `\`interval_unit\` must be one of ${INTERVAL_UNITS.join(', ')}, got \`${unit}\``,
      );
    }
    model.intervalUnit = unit as IntervalUnit;
  } else if (
    typeof intervalDefault === 'string' &&
    (INTERVAL_UNITS as readonly string[]).includes(intervalDefault)
  ) {
    model.intervalUnit = intervalDefault as IntervalUnit;
  }

  const tags = get('tags');
  if (tags) {
    asTextList(p, tags, 'tags');
    model.tags = entries(tags).map((item) => asText(p, item));
  }
  const grain = get('grain');
  const grains = get('grains');
  if (grain && grains) {
    throw p.fail(byKey.get('grain')?.keyIndex ?? 0, 'use either `grain` or `grains`, not both');
  }
  if (grain ?? grains)
    model.grains = asTextList(p, (grain ?? grains) as ValueNode, grain ? 'grain' : 'grains');
  const references = get('references');
  if (references) model.references = asTextList(p, references, 'references');
  const dependsOn = get('depends_on');
  if (dependsOn) model.dependsOn = asTextList(p, dependsOn, 'depends_on');
  const partitionedBy = get('partitioned_by');
  if (partitionedBy) model.partitionedBy = asTextList(p, partitionedBy, 'partitioned_by');
  const clusteredBy = get('clustered_by');
  if (clusteredBy) model.clusteredBy = asTextList(p, clusteredBy, 'clustered_by');

  const columns = get('columns');
  if (columns) model.columns = readColumns(p, columns);
  const columnDescriptions = get('column_descriptions');
  if (columnDescriptions) {
    for (const item of entries(columnDescriptions)) {
      if (item.type !== 'assign') {
        throw p.fail(item.from, "`column_descriptions` takes `column = 'text'` pairs");
      }
      model.columnDescriptions[item.key] = asText(p, item.value);
    }
  }
  const audits = get('audits');
  if (audits) model.audits = readAuditCalls(p, audits);

  const physical = get('physical_properties');
  const legacyPhysical = get('table_properties');
  if (physical && legacyPhysical) {
    throw p.fail(
      byKey.get('table_properties')?.keyIndex ?? 0,
      '`table_properties` is the old name of `physical_properties`; keep only `physical_properties`',
    );
  }
  model.physicalProperties = mergeProperties(
    p,
    defaults,
    'physical_properties',
    physical ?? legacyPhysical,
  );
  model.virtualProperties = mergeProperties(
    p,
    defaults,
    'virtual_properties',
    get('virtual_properties'),
  );
  model.sessionProperties = mergeProperties(
    p,
    defaults,
    'session_properties',
    get('session_properties'),
  );

  for (const prop of props) {
    if (EXTRA_MODEL_KEYS.has(prop.key)) {
      if (BOOLEAN_EXTRA_KEYS.has(prop.key)) asBool(p, prop.value, prop.key);
      extraProperties[prop.key] = p.text(prop.value);
    } else if (prop.key.startsWith('@')) {
      extraProperties[prop.key] = prop.key;
    }
  }
  return model;
}

function mergeProperties(
  p: PropertyParser,
  defaults: ModelDefaultsConfig,
  key: string,
  node: ValueNode | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  const fromDefaults = extraDefault(defaults, key);
  if (fromDefaults && typeof fromDefaults === 'object' && !Array.isArray(fromDefaults)) {
    for (const [k, v] of Object.entries(fromDefaults as Record<string, unknown>))
      out[k] = defaultSql(v);
  }
  if (node) Object.assign(out, asSqlMap(p, node, key));
  return out;
}

function readColumns(p: PropertyParser, node: ValueNode): ColumnDefinition[] {
  if (node.type !== 'list' || node.bracket !== '(') {
    throw p.fail(
      node.from,
      '`columns` takes a list of `name TYPE` pairs, e.g. `columns (id INT, name TEXT)`',
    );
  }
  const out: ColumnDefinition[] = [];
  for (const item of node.items) {
    const first = p.token(item.from);
    if (first.kind !== 'word' && first.kind !== 'qident') {
      throw p.fail(item.from, `expected a column name in \`columns\`, found \`${first.text}\``);
    }
    const name = p.nameOf(item.from);
    if (item.to - item.from < 2) {
      throw p.fail(
        item.from,
        `column \`${name}\` has no type; write \`${name} TYPE\`, e.g. \`${name} INT\``,
      );
    }
    out.push({ name, type: p.raw(item.from + 1, item.to) });
  }
  return out;
}

function readAuditCalls(p: PropertyParser, node: ValueNode): AuditCall[] {
  const calls: AuditCall[] = [];
  for (const item of entries(node)) {
    const location = p.locate(item.from);
    if (item.type === 'call') {
      const args: Record<string, string> = {};
      for (const arg of item.args) {
        if (arg.type !== 'assign') {
          throw p.fail(
            arg.from,
            `audit \`${item.name}\` takes named arguments, e.g. \`${item.name}(column := value)\``,
          );
        }
        args[arg.key.toLowerCase()] = p.text(arg.value);
      }
      calls.push({ name: item.name.toLowerCase(), args, location });
    } else if ((item.type === 'ident' && item.parts.length === 1) || item.type === 'string') {
      calls.push({ name: asText(p, item).toLowerCase(), args: {}, location });
    } else {
      throw p.fail(
        item.from,
        `\`${p.text(item)}\` is not an audit; list audits as \`name\` or \`name(arg := value)\``,
      );
    }
  }
  return calls;
}

/** A kind node for the model_defaults kind (or VIEW), placed on the MODEL keyword. */
function defaultKindNode(p: PropertyParser, defaults: ModelDefaultsConfig): ValueNode {
  const name = (defaults.kind ?? 'VIEW').toUpperCase();
  if (!KIND_SET.has(name)) {
    throw p.fail(
      0,
      `model_defaults kind \`${defaults.kind}\` is not a model kind; use one of ${KIND_NAMES.join(', ')}`,
    );
  }
  return { type: 'props', name, props: undefined, from: 0, to: 1 };
}

function buildKind(
  p: PropertyParser,
  node: ValueNode,
  defaults: ModelDefaultsConfig,
  extra: Record<string, string>,
): ModelKind {
  if (node.type !== 'props') throw p.fail(node.from, 'expected a model kind');
  const name = node.name as KindWord;
  const props = node.props ?? [];
  const allowed = KIND_KEYS[name];
  const byKey = new Map<string, Property>();
  for (const prop of props) {
    if (!allowed.has(prop.key)) {
      const valid = [...allowed].join(', ');
      const hint = suggest(prop.key, allowed);
      throw p.fail(
        prop.keyIndex,
        hint
          ? `kind ${name} has no property \`${prop.key}\`${hint}`
          : `kind ${name} has no property \`${prop.key}\`; ${valid ? `use one of ${valid}` : 'remove it'}`,
      );
    }
    byKey.set(prop.key, prop);
  }
  const get = (key: string): ValueNode | undefined => byKey.get(key)?.value;
  const bool = (key: string, fallback: boolean): boolean => {
    const v = get(key);
    return v === undefined ? fallback : asBool(p, v, key);
  };
  const int = (key: string, min: number): number | undefined => {
    const v = get(key);
    return v === undefined ? undefined : asInt(p, v, key, min);
  };
  const required = (key: string, example: string): ValueNode => {
    const v = get(key);
    if (!v)
      throw p.fail(
        node.from,
        `kind ${name} needs \`${key}\`; write \`kind ${name} (${key} ${example})\``,
      );
    return v;
  };
  const columnName = (key: string, fallback: string): string => {
    const v = get(key);
    return v === undefined ? fallback : asScalarText(p, v, key, fallback);
  };
  const change = (key: string, fallback: OnDestructiveChange): OnDestructiveChange => {
    const v = get(key);
    if (v === undefined) return fallback;
    const value = asScalarText(p, v, key, 'warn').toLowerCase();
    if (!(DESTRUCTIVE_CHANGE as readonly string[]).includes(value)) {
      throw p.fail(
        v.from,
        `\`${key}\` must be one of ${DESTRUCTIVE_CHANGE.join(', ')}, got \`${value}\``,
      );
    }
    return value as OnDestructiveChange;
  };
  const uniqueKey = (): string[] => {
    const v = required('unique_key', '(id)');
    const keys = asTextList(p, v, 'unique_key');
    if (keys.length === 0) throw p.fail(v.from, '`unique_key` is empty; name at least one column');
    return keys;
  };
  // Kind properties our types do not model are kept so they count in fingerprints.
  const keep = (...keys: string[]): void => {
    for (const key of keys) {
      const v = get(key);
      if (v !== undefined) extra[`kind.${key}`] = p.text(v);
    }
  };
  const defaultChange = extraDefault(defaults, 'on_destructive_change');
  const changeFallback: OnDestructiveChange =
    typeof defaultChange === 'string' &&
    (DESTRUCTIVE_CHANGE as readonly string[]).includes(defaultChange)
      ? (defaultChange as OnDestructiveChange)
      : 'error';
  const common = (forwardOnly: boolean, disableRestatement: boolean) => {
    const out = {
      lookback: int('lookback', 0) ?? 0,
      forwardOnly: bool('forward_only', forwardOnly),
      disableRestatement: bool('disable_restatement', disableRestatement),
      onDestructiveChange: change('on_destructive_change', changeFallback),
    } as {
      batchSize?: number;
      batchConcurrency?: number;
      lookback: number;
      forwardOnly: boolean;
      disableRestatement: boolean;
      onDestructiveChange: OnDestructiveChange;
      autoRestatementCron?: string;
    };
    const batchSize = int('batch_size', 1);
    if (batchSize !== undefined) out.batchSize = batchSize;
    const batchConcurrency = int('batch_concurrency', 1);
    if (batchConcurrency !== undefined) out.batchConcurrency = batchConcurrency;
    const cron = get('auto_restatement_cron');
    if (cron) out.autoRestatementCron = asScalarText(p, cron, 'auto_restatement_cron', "'@weekly'");
    if (get('on_additive_change')) change('on_additive_change', 'allow');
    keep('on_additive_change', 'dialect');
    return out;
  };

  switch (name) {
    case 'VIEW':
      return { name, materialized: bool('materialized', false) };
    case 'FULL':
    case 'EMBEDDED':
    case 'EXTERNAL':
      return { name };
    case 'SEED': {
      const pathNode = required('path', "'$root/seeds/data.csv'");
      if (pathNode.type !== 'string') {
        throw p.fail(
          pathNode.from,
          "seed `path` must be a string, e.g. `path '$root/seeds/data.csv'`",
        );
      }
      const csvSettings: Record<string, string | number | boolean | string[]> = {};
      const csv = get('csv_settings');
      if (csv) {
        for (const item of entries(csv)) {
          if (item.type !== 'assign') {
            throw p.fail(
              item.from,
              "`csv_settings` takes `name = value` pairs, e.g. `csv_settings (delimiter = ';')`",
            );
          }
          csvSettings[item.key.toLowerCase()] = asLiteral(p, item.value);
        }
      }
      return {
        name,
        path: pathNode.value.replace(/\\/g, '/'),
        batchSize: int('batch_size', 1) ?? DEFAULT_SEED_BATCH_SIZE,
        csvSettings,
      };
    }
    case 'INCREMENTAL_BY_TIME_RANGE': {
      const v = required('time_column', "(ds, '%Y-%m-%d')");
      let column: string;
      let format: string | undefined;
      if (v.type === 'list') {
        const [col, fmt, ...rest] = v.items;
        if (!col || rest.length > 0) {
          throw p.fail(
            v.from,
            "`time_column` takes a column and an optional format, e.g. `time_column (ds, '%Y-%m-%d')`",
          );
        }
        column = p.text(col);
        if (fmt) {
          // Dialects where double quotes make strings write the format that way too.
          const quoted =
            fmt.type === 'ident' && fmt.parts.length === 1 && p.token(fmt.from).kind === 'qident';
          if (fmt.type !== 'string' && !quoted) {
            throw p.fail(fmt.from, "`time_column` format must be a string, e.g. `'%Y-%m-%d'`");
          }
          format = asText(p, fmt);
        }
      } else {
        column = v.type === 'string' ? v.value : p.text(v);
      }
      const base = common(false, false);
      keep('auto_restatement_intervals', 'partition_by_time_column');
      if (get('auto_restatement_intervals')) int('auto_restatement_intervals', 1);
      if (get('partition_by_time_column')) bool('partition_by_time_column', true);
      return {
        name,
        timeColumn: { column, format: format ?? DEFAULT_TIME_COLUMN_FORMAT },
        ...base,
      };
    }
    case 'INCREMENTAL_BY_UNIQUE_KEY': {
      const keys = uniqueKey();
      const base = common(false, false);
      const kind: ModelKind = { name, uniqueKey: keys, ...base };
      const whenMatched = get('when_matched');
      if (whenMatched) {
        const bracketed = p.isPunct(whenMatched.from, '(');
        kind.whenMatched = bracketed
          ? p.raw(whenMatched.from + 1, whenMatched.to - 1)
          : p.text(whenMatched);
      }
      const mergeFilter = get('merge_filter');
      if (mergeFilter) kind.mergeFilter = p.text(mergeFilter);
      return kind;
    }
    case 'INCREMENTAL_BY_PARTITION': {
      const forwardOnly = get('forward_only');
      if (forwardOnly && !asBool(p, forwardOnly, 'forward_only')) {
        throw p.fail(
          forwardOnly.from,
          'INCREMENTAL_BY_PARTITION models are always forward-only; remove `forward_only false`',
        );
      }
      return { name, ...common(true, false) };
    }
    case 'INCREMENTAL_UNMANAGED':
      keep(
        'on_destructive_change',
        'on_additive_change',
        'auto_restatement_cron',
        'disable_restatement',
      );
      if (get('on_destructive_change')) change('on_destructive_change', 'error');
      if (get('disable_restatement')) bool('disable_restatement', true);
      return {
        name,
        insertOverwrite: bool('insert_overwrite', false),
        forwardOnly: bool('forward_only', true),
      };
    case 'SCD_TYPE_2':
    case 'SCD_TYPE_2_BY_TIME':
    case 'SCD_TYPE_2_BY_COLUMN': {
      const keys = uniqueKey();
      keep(
        'on_destructive_change',
        'on_additive_change',
        'auto_restatement_cron',
        'batch_size',
        'dialect',
      );
      if (get('on_destructive_change')) change('on_destructive_change', 'error');
      if (get('batch_size')) int('batch_size', 1);
      const shared = {
        uniqueKey: keys,
        validFromName: columnName('valid_from_name', 'valid_from'),
        validToName: columnName('valid_to_name', 'valid_to'),
        invalidateHardDeletes: bool('invalidate_hard_deletes', false),
        timeDataType: get('time_data_type')
          ? p.text(get('time_data_type') as ValueNode)
          : 'TIMESTAMP',
        forwardOnly: bool('forward_only', true),
        disableRestatement: bool('disable_restatement', true),
      };
      if (name !== 'SCD_TYPE_2_BY_COLUMN') {
        return {
          name: 'SCD_TYPE_2_BY_TIME',
          ...shared,
          updatedAtName: columnName('updated_at_name', 'updated_at'),
          updatedAtAsValidFrom: bool('updated_at_as_valid_from', false),
        };
      }
      keep('updated_at_name');
      const cols = required('columns', '[a, b]');
      const isStar = cols.type === 'expr' && p.text(cols) === '*';
      return {
        name,
        ...shared,
        columns: isStar ? '*' : asTextList(p, cols, 'columns'),
        executionTimeAsValidFrom: bool('execution_time_as_valid_from', false),
      };
    }
  }
}
