/**
 * The built-in audits SQLMesh projects call by name (`not_null`,
 * `accepted_range`, `z_score`, ...), each also as a `_non_blocking` twin.
 * Each one writes its query for the engine directly, so that engine
 * differences (regular expressions, types) are settled here rather than
 * left to translation; the arguments arrive already in the engine's dialect.
 */

/** An audit call's arguments, rendered and in the engine's dialect. */
export interface BuiltinArgs {
  /** A single SQL expression. */
  expr(name: string): string;
  /** The expression, or undefined when it is absent or NULL. */
  optional(name: string): string | undefined;
  /** A list: `(a, b)`, `[a, b]` or one value. */
  list(name: string): string[];
  /** A boolean known when the query is written: TRUE or FALSE. */
  bool(name: string): boolean;
  /** Rejects the call: a ProjectError at the call saying `reason`. */
  fail(reason: string): never;
}

/** Where a built-in audit reads and which SQL it writes. */
export interface BuiltinTarget {
  /** The audited rows: a table name or a parenthesized subquery (an alias follows it). */
  relation: string;
  /** The engine's dialect: `duckdb`, `postgres`, or another that translation will handle. */
  dialect: string;
}

export interface BuiltinAudit {
  name: string;
  blocking: boolean;
  /** Arguments every call must give. */
  required: string[];
  /** Optional arguments and their default SQL (`NULL` when absent means "not given"). */
  defaults: Record<string, string>;
  /** Other spellings accepted for an argument: alias -> argument. */
  aliases: Record<string, string>;
  /** The audit's query: it returns the rows that break the rule. */
  sql(args: BuiltinArgs, target: BuiltinTarget): string;
}

/** The alias the audited rows get in every built-in query. */
const ROWS = '_this_model';

/** Wraps an expression in parentheses unless it is a plain name, number or string. */
function p(expr: string): string {
  const e = expr.trim();
  if (/^("[^"]*"|[A-Za-z_][A-Za-z0-9_$]*)(\.("[^"]*"|[A-Za-z_][A-Za-z0-9_$]*))*$/.test(e)) return e;
  if (/^-?\d+(\.\d+)?$/.test(e) || /^'([^']|'')*'$/.test(e)) return e;
  if (e.startsWith('(') && closesAtEnd(e)) return e;
  return `(${e})`;
}

/** True when the parenthesis opening `e` closes at its last character. */
function closesAtEnd(e: string): boolean {
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < e.length; i++) {
    const c = e[i] as string;
    if (quote) {
      if (c === quote) quote = undefined;
      continue;
    }
    if (c === "'" || c === '"') quote = c;
    else if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth === 0) return i === e.length - 1;
    }
  }
  return false;
}

/** `cond` ANDed with the call's `condition`, or nothing to add when both are trivially true. */
function where(...conditions: string[]): string {
  const kept = conditions
    .map((c) => c.trim())
    .filter((c) => c !== '' && c.toUpperCase() !== 'TRUE');
  if (kept.length === 0) return '';
  return ` WHERE ${kept.map((c) => (kept.length > 1 ? p(c) : c)).join(' AND ')}`;
}

function anyOf(conditions: string[]): string {
  return conditions.length === 1 ? (conditions[0] as string) : conditions.map(p).join(' OR ');
}

function allOf(conditions: string[]): string {
  return conditions.length === 1 ? (conditions[0] as string) : conditions.map(p).join(' AND ');
}

function from(target: BuiltinTarget): string {
  return `${target.relation} AS ${ROWS}`;
}

/** A regular-expression match (a search, like PostgreSQL's `~`) in the engine's dialect. */
export function regexMatch(value: string, pattern: string, dialect: string): string {
  switch (dialect.toLowerCase()) {
    case 'postgres':
    case 'postgresql':
      return `(${p(value)} ~ ${pattern})`;
    case 'duckdb':
      return `REGEXP_MATCHES(${value}, ${pattern})`;
    default:
      return `REGEXP_LIKE(${value}, ${pattern})`;
  }
}

/** A floating-point type name both engines (and translation) understand. */
const DOUBLE = 'DOUBLE PRECISION';

function condition(a: BuiltinArgs): string {
  return a.expr('condition');
}

/** The comparisons of a range check on `value`; empty when neither bound is given. */
function outsideRange(value: string, a: BuiltinArgs): string[] {
  const min = a.optional('min_v');
  const max = a.optional('max_v');
  const inclusive = a.bool('inclusive');
  const out: string[] = [];
  if (min !== undefined) out.push(`${p(value)} ${inclusive ? '<' : '<='} ${p(min)}`);
  if (max !== undefined) out.push(`${p(value)} ${inclusive ? '>' : '>='} ${p(max)}`);
  if (out.length === 0) a.fail('needs `min_v`, `max_v` or both');
  return out;
}

const RANGE_DEFAULTS = { min_v: 'NULL', max_v: 'NULL', inclusive: 'TRUE', condition: 'TRUE' };

/** Rows whose `predicate` holds (and the condition). */
function rowsWhere(
  name: string,
  required: string[],
  predicate: (a: BuiltinArgs, t: BuiltinTarget) => string,
  extra: Partial<Pick<BuiltinAudit, 'defaults' | 'aliases'>> = {},
): Omit<BuiltinAudit, 'blocking'> {
  return {
    name,
    required,
    defaults: extra.defaults ?? { condition: 'TRUE' },
    aliases: extra.aliases ?? {},
    sql: (a, t) => `SELECT * FROM ${from(t)}${where(predicate(a, t), condition(a))}`,
  };
}

const UUID_PATTERN = "'^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'";
const EMAIL_PATTERN = "'^[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\\.[a-zA-Z0-9.-]+$'";
const URL_PATTERN = "'^(https?|ftp)://[^\\s/$.?#].[^\\s]*$'";
const HTTP_METHODS = [
  'GET',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'CONNECT',
];

const DEFINITIONS: Array<Omit<BuiltinAudit, 'blocking'>> = [
  // Rows where any of the columns is NULL.
  rowsWhere('not_null', ['columns'], (a) => anyOf(a.list('columns').map((c) => `${p(c)} IS NULL`))),

  // Rows that repeat a value already seen in any one of the columns.
  {
    name: 'unique_values',
    required: ['columns'],
    defaults: { condition: 'TRUE' },
    aliases: {},
    sql(a, t) {
      const columns = a.list('columns');
      const ranks = columns.map(
        (c, i) => `ROW_NUMBER() OVER (PARTITION BY ${c}) AS _rank_${i + 1}`,
      );
      const repeated = anyOf(columns.map((_, i) => `_rank_${i + 1} > 1`));
      return (
        `SELECT * FROM (SELECT ${ROWS}.*, ${ranks.join(', ')} FROM ${from(t)}${where(condition(a))}) ` +
        `AS _ranked WHERE ${repeated}`
      );
    },
  },

  // Combinations of the columns that occur more than once.
  {
    name: 'unique_combination_of_columns',
    required: ['columns'],
    defaults: { condition: 'TRUE' },
    aliases: {},
    sql(a, t) {
      const columns = a.list('columns').join(', ');
      return (
        `SELECT ${columns}, COUNT(*) AS duplicate_count FROM ${from(t)}${where(condition(a))} ` +
        `GROUP BY ${columns} HAVING COUNT(*) > 1`
      );
    },
  },

  // Values outside the accepted list (NULL passes).
  rowsWhere(
    'accepted_values',
    ['column', 'is_in'],
    (a) => `${p(a.expr('column'))} NOT IN (${a.list('is_in').join(', ')})`,
  ),
  // Values inside the rejected list.
  rowsWhere(
    'not_accepted_values',
    ['column', 'is_in'],
    (a) => `${p(a.expr('column'))} IN (${a.list('is_in').join(', ')})`,
  ),

  // The table must have more than `threshold` rows; counting stops just past it.
  {
    name: 'number_of_rows',
    required: ['threshold'],
    defaults: { condition: 'TRUE' },
    aliases: {},
    sql(a, t) {
      const threshold = p(a.expr('threshold'));
      return (
        `SELECT COUNT(*) AS row_count FROM (SELECT 1 AS one FROM ${from(t)}${where(condition(a))} ` +
        `LIMIT ${threshold} + 1) AS _counted HAVING COUNT(*) <= ${threshold}`
      );
    },
  },

  // Rows for which any of the criteria is false.
  rowsWhere('forall', ['criteria'], (a) => anyOf(a.list('criteria').map((c) => `NOT ${p(c)}`))),

  // Values below min_v or above max_v (or at them when not inclusive).
  {
    name: 'accepted_range',
    required: ['column'],
    defaults: RANGE_DEFAULTS,
    aliases: {},
    sql(a, t) {
      const outside = outsideRange(a.expr('column'), a);
      return `SELECT * FROM ${from(t)}${where(anyOf(outside), condition(a))}`;
    },
  },

  // At least one row, and no non-NULL value: fails. An empty table passes.
  {
    name: 'at_least_one',
    required: ['column'],
    defaults: { condition: 'TRUE' },
    aliases: {},
    sql(a, t) {
      const column = a.expr('column');
      return (
        `SELECT COUNT(*) AS row_count FROM ${from(t)}${where(condition(a))} ` +
        `HAVING COUNT(*) > 0 AND COUNT(${column}) = 0`
      );
    },
  },

  // At most one distinct non-NULL value (an empty table included).
  {
    name: 'not_constant',
    required: ['column'],
    defaults: { condition: 'TRUE' },
    aliases: {},
    sql(a, t) {
      const column = a.expr('column');
      return (
        `SELECT COUNT(DISTINCT ${column}) AS distinct_values FROM ${from(t)}${where(condition(a))} ` +
        `HAVING COUNT(DISTINCT ${column}) <= 1`
      );
    },
  },

  rowsWhere('not_empty_string', ['column'], (a) => `${p(a.expr('column'))} = ''`),

  // The share of non-NULL values must exceed `threshold`.
  {
    name: 'not_null_proportion',
    required: ['column', 'threshold'],
    defaults: { condition: 'TRUE' },
    aliases: {},
    sql(a, t) {
      const column = a.expr('column');
      return (
        `SELECT COUNT(*) AS row_count, COUNT(${column}) AS not_null_count, ` +
        `COUNT(*) - COUNT(${column}) AS null_count FROM ${from(t)}${where(condition(a))} ` +
        `HAVING COUNT(${column}) <= COUNT(*) * ${p(a.expr('threshold'))}`
      );
    },
  },

  // In ascending order, each value must be the previous one plus `interval`.
  {
    name: 'sequential_values',
    required: ['column'],
    defaults: { interval: '1', condition: 'TRUE' },
    aliases: {},
    sql(a, t) {
      const column = a.expr('column');
      return (
        `SELECT * FROM (SELECT ${column} AS value, LAG(${column}) OVER (ORDER BY ${column}) AS previous_value ` +
        `FROM ${from(t)}${where(condition(a))}) AS _ordered ` +
        `WHERE NOT (value = previous_value + ${p(a.expr('interval'))})`
      );
    },
  },

  // Each row's [lower, upper] must be ordered and end before the next range (per partition) starts.
  {
    name: 'mutually_exclusive_ranges',
    required: ['lower_bound_column', 'upper_bound_column'],
    defaults: { partition_clause: 'FALSE', condition: 'TRUE' },
    aliases: { partition_by: 'partition_clause' },
    sql(a, t) {
      const lower = a.expr('lower_bound_column');
      const upper = a.expr('upper_bound_column');
      const partition = partitionClause(a.optional('partition_clause'));
      const window = (order: string) => `OVER (${partition}ORDER BY ${order})`;
      return (
        `WITH _bounds AS (SELECT ${lower} AS lower_bound, ${upper} AS upper_bound, ` +
        `LEAD(${lower}) ${window(`${lower}, ${upper}`)} AS next_lower_bound, ` +
        `ROW_NUMBER() ${window(`${lower} DESC, ${upper} DESC`)} = 1 AS is_last_record ` +
        `FROM ${from(t)}${where(condition(a))}) ` +
        `SELECT * FROM _bounds WHERE NOT (COALESCE(lower_bound <= upper_bound, FALSE) ` +
        `AND COALESCE(upper_bound <= next_lower_bound, is_last_record, FALSE))`
      );
    },
  },

  rowsWhere(
    'valid_uuid',
    ['column'],
    (a, t) =>
      `NOT ${regexMatch(`LOWER(CAST(${a.expr('column')} AS TEXT))`, UUID_PATTERN, t.dialect)}`,
  ),
  rowsWhere(
    'valid_email',
    ['column'],
    (a, t) => `NOT ${regexMatch(a.expr('column'), EMAIL_PATTERN, t.dialect)}`,
  ),
  rowsWhere(
    'valid_url',
    ['column'],
    (a, t) => `NOT ${regexMatch(a.expr('column'), URL_PATTERN, t.dialect)}`,
  ),
  rowsWhere(
    'valid_http_method',
    ['column'],
    (a) => `${p(a.expr('column'))} NOT IN (${HTTP_METHODS.map((m) => `'${m}'`).join(', ')})`,
  ),

  // Non-NULL values matching none of the patterns.
  rowsWhere('match_regex_pattern_list', ['column', 'patterns'], (a, t) =>
    allOf(a.list('patterns').map((pat) => `NOT ${regexMatch(a.expr('column'), pat, t.dialect)}`)),
  ),
  // Values matching any of the patterns.
  rowsWhere('not_match_regex_pattern_list', ['column', 'patterns'], (a, t) =>
    anyOf(a.list('patterns').map((pat) => regexMatch(a.expr('column'), pat, t.dialect))),
  ),
  rowsWhere('match_like_pattern_list', ['column', 'patterns'], (a) =>
    allOf(a.list('patterns').map((pat) => `NOT (${p(a.expr('column'))} LIKE ${pat})`)),
  ),
  rowsWhere('not_match_like_pattern_list', ['column', 'patterns'], (a) =>
    anyOf(a.list('patterns').map((pat) => `${p(a.expr('column'))} LIKE ${pat}`)),
  ),

  {
    name: 'string_length_between',
    required: ['column'],
    defaults: RANGE_DEFAULTS,
    aliases: {},
    sql(a, t) {
      const outside = outsideRange(`LENGTH(${a.expr('column')})`, a);
      return `SELECT * FROM ${from(t)}${where(anyOf(outside), condition(a))}`;
    },
  },
  rowsWhere(
    'string_length_equal',
    ['column', 'v'],
    (a) => `LENGTH(${a.expr('column')}) <> ${p(a.expr('v'))}`,
  ),

  // The column's mean (or standard deviation) must lie in the range.
  ...(['mean_in_range', 'stddev_in_range'] as const).map((name) => ({
    name,
    required: ['column'],
    defaults: RANGE_DEFAULTS,
    aliases: {},
    sql(a: BuiltinArgs, t: BuiltinTarget) {
      const [fn, alias] = name === 'mean_in_range' ? ['AVG', 'mean'] : ['STDDEV', 'stddev'];
      const outside = outsideRange(alias, a);
      return (
        `SELECT * FROM (SELECT ${fn}(${a.expr('column')}) AS ${alias} FROM ${from(t)}` +
        `${where(condition(a))}) AS _stats${where(anyOf(outside))}`
      );
    },
  })),

  // Rows whose value lies more than `threshold` standard deviations from the mean.
  {
    name: 'z_score',
    required: ['column', 'threshold'],
    defaults: { condition: 'TRUE' },
    aliases: {},
    sql(a, t) {
      const column = a.expr('column');
      const z = `(${column} - _stats._audit_mean) / NULLIF(_stats._audit_stddev, 0)`;
      return (
        `WITH _stats AS (SELECT AVG(${column}) AS _audit_mean, STDDEV(${column}) AS _audit_stddev ` +
        `FROM ${from(t)}${where(condition(a))}) ` +
        `SELECT ${ROWS}.*, ${z} AS z_score FROM ${from(t)} CROSS JOIN _stats` +
        where(`ABS(${z}) > ${p(a.expr('threshold'))}`, condition(a))
      );
    },
  },

  // The symmetrised Kullback-Leibler divergence between the distributions of two columns.
  {
    name: 'kl_divergence',
    required: ['source_column', 'target_column', 'threshold'],
    defaults: { condition: 'TRUE' },
    aliases: { column: 'source_column' },
    sql(a, t) {
      const distribution = (column: string, share: string) =>
        `SELECT _value, CAST(_n AS ${DOUBLE}) / SUM(_n) OVER () AS ${share} FROM ` +
        `(SELECT ${column} AS _value, COUNT(*) AS _n FROM ${from(t)}${where(condition(a))} ` +
        `GROUP BY ${column}) AS _counts`;
      // Values seen in only one of the columns have no finite term; like SQLMesh, they add nothing.
      const divergence = 'SUM((_p.p - _q.q) * LN(_p.p / _q.q))';
      return (
        `WITH _p AS (${distribution(a.expr('source_column'), 'p')}), ` +
        `_q AS (${distribution(a.expr('target_column'), 'q')}) ` +
        `SELECT * FROM (SELECT ${divergence} AS kl_divergence FROM _p JOIN _q ON _p._value = _q._value) ` +
        `AS _kl WHERE kl_divergence > ${p(a.expr('threshold'))}`
      );
    },
  },

  // Pearson's chi-square statistic of two categorical columns, over the observed pairs as
  // SQLMesh computes it. With `dependent` (the default) the columns must be dependent
  // (statistic above the critical value); with `dependent := false` independent.
  {
    name: 'chi_square',
    required: ['column_a', 'column_b', 'critical_value'],
    defaults: { dependent: 'TRUE', condition: 'TRUE' },
    aliases: { column: 'column_a', target_column: 'column_b' },
    sql(a, t) {
      const colA = a.expr('column_a');
      const colB = a.expr('column_b');
      const critical = p(a.expr('critical_value'));
      const failing = a.bool('dependent')
        ? `NOT (chi_square > ${critical})`
        : `chi_square > ${critical}`;
      return (
        `WITH _samples AS (SELECT ${colA} AS x_a, ${colB} AS x_b FROM ${from(t)}` +
        `${where(`${p(colA)} IS NOT NULL AND ${p(colB)} IS NOT NULL`, condition(a))}), ` +
        `_cells AS (SELECT x_a, x_b, COUNT(*) AS observed FROM _samples GROUP BY x_a, x_b), ` +
        `_tot_a AS (SELECT x_a, COUNT(*) AS tot_a FROM _samples GROUP BY x_a), ` +
        `_tot_b AS (SELECT x_b, COUNT(*) AS tot_b FROM _samples GROUP BY x_b), ` +
        `_expected AS (SELECT _cells.x_a, _cells.x_b, _cells.observed, ` +
        `CAST(_tot_a.tot_a AS ${DOUBLE}) * _tot_b.tot_b / (SELECT COUNT(*) FROM _samples) AS expected ` +
        `FROM _cells JOIN _tot_a ON _cells.x_a = _tot_a.x_a JOIN _tot_b ON _cells.x_b = _tot_b.x_b) ` +
        `SELECT * FROM (SELECT (COUNT(DISTINCT x_a) - 1) * (COUNT(DISTINCT x_b) - 1) AS degrees_of_freedom, ` +
        `SUM((observed - expected) * (observed - expected) / expected) AS chi_square FROM _expected) ` +
        `AS _chi WHERE ${failing}`
      );
    },
  },
];

/** `PARTITION BY ...` from `partition_clause`: written out, or the expressions to partition by. */
function partitionClause(value: string | undefined): string {
  if (value === undefined || value.toUpperCase() === 'FALSE') return '';
  const text = value.trim();
  if (/^partition\s+by\s/i.test(text)) return `${text} `;
  const inner = text.startsWith('(') && closesAtEnd(text) ? text.slice(1, -1) : text;
  return `PARTITION BY ${inner} `;
}

/** Every built-in audit by name, each with its `_non_blocking` twin. */
export const BUILTIN_AUDITS: ReadonlyMap<string, BuiltinAudit> = new Map(
  DEFINITIONS.flatMap((d): Array<[string, BuiltinAudit]> => [
    [d.name, { ...d, blocking: true }],
    [`${d.name}_non_blocking`, { ...d, name: `${d.name}_non_blocking`, blocking: false }],
  ]),
);
