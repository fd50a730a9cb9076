/**
 * SQL dialects as a project names them (`dialect: duckdb` in config.yaml or a
 * MODEL block), mapped to the parser's dialects, with each dialect's rules for
 * folding the case of identifiers and for quoting them.
 */
import { Dialect } from '@polyglot-sql/sdk';
import { ConfigError } from '../errors.js';

/**
 * How a dialect resolves the case of identifiers:
 * - `lowercase`: unquoted identifiers fold to lower case, quoted ones keep their case.
 * - `uppercase`: unquoted identifiers fold to upper case, quoted ones keep their case.
 * - `case_insensitive`: every identifier, quoted or not, compares in lower case.
 * - `case_sensitive`: identifiers are kept exactly as written.
 */
export type NormalizationStrategy =
  'lowercase' | 'uppercase' | 'case_insensitive' | 'case_sensitive';

/** What the SQL layer knows about one dialect. */
export interface SqlDialect {
  /** The canonical project-facing name (`duckdb`, `postgres`, `tsql`, ...). */
  name: string;
  /** The parser's dialect. */
  parser: Dialect;
  /** How identifiers in general are case-folded. */
  normalization: NormalizationStrategy;
  /**
   * How the parts of a qualified table name are case-folded, when that differs
   * from `normalization` (BigQuery treats qualified table names as case-sensitive).
   */
  tableNormalization: NormalizationStrategy;
  /** The characters that open and close a quoted identifier. */
  quoteStart: string;
  quoteEnd: string;
  /** Whether unquoted identifiers may contain `-` (BigQuery project names). */
  allowsDashInNames: boolean;
}

interface DialectSpec {
  parser: Dialect;
  normalization: NormalizationStrategy;
  tableNormalization?: NormalizationStrategy;
  quote?: [string, string];
  allowsDashInNames?: boolean;
}

const BACKTICK: [string, string] = ['`', '`'];
const BRACKET: [string, string] = ['[', ']'];

const SPECS: Record<string, DialectSpec> = {
  duckdb: { parser: Dialect.DuckDB, normalization: 'case_insensitive' },
  postgres: { parser: Dialect.PostgreSQL, normalization: 'lowercase' },
  redshift: { parser: Dialect.Redshift, normalization: 'case_insensitive' },
  snowflake: { parser: Dialect.Snowflake, normalization: 'uppercase' },
  bigquery: {
    parser: Dialect.BigQuery,
    normalization: 'case_insensitive',
    tableNormalization: 'case_sensitive',
    quote: BACKTICK,
    allowsDashInNames: true,
  },
  databricks: { parser: Dialect.Databricks, normalization: 'case_insensitive', quote: BACKTICK },
  spark: { parser: Dialect.Spark, normalization: 'case_insensitive', quote: BACKTICK },
  hive: { parser: Dialect.Hive, normalization: 'case_insensitive', quote: BACKTICK },
  trino: { parser: Dialect.Trino, normalization: 'case_insensitive' },
  presto: { parser: Dialect.Presto, normalization: 'case_insensitive' },
  athena: { parser: Dialect.Athena, normalization: 'case_insensitive' },
  mysql: { parser: Dialect.MySQL, normalization: 'case_sensitive', quote: BACKTICK },
  tsql: { parser: Dialect.TSQL, normalization: 'case_insensitive', quote: BRACKET },
  fabric: { parser: Dialect.Fabric, normalization: 'case_insensitive', quote: BRACKET },
  clickhouse: { parser: Dialect.ClickHouse, normalization: 'case_sensitive' },
  oracle: { parser: Dialect.Oracle, normalization: 'uppercase' },
  sqlite: { parser: Dialect.SQLite, normalization: 'case_insensitive' },
  teradata: { parser: Dialect.Teradata, normalization: 'case_insensitive' },
  materialize: { parser: Dialect.Materialize, normalization: 'lowercase' },
  risingwave: { parser: Dialect.RisingWave, normalization: 'lowercase' },
  doris: { parser: Dialect.Doris, normalization: 'case_sensitive', quote: BACKTICK },
  starrocks: { parser: Dialect.StarRocks, normalization: 'case_sensitive', quote: BACKTICK },
  exasol: { parser: Dialect.Exasol, normalization: 'uppercase' },
  dremio: { parser: Dialect.Dremio, normalization: 'lowercase' },
  druid: { parser: Dialect.Druid, normalization: 'lowercase' },
  // The empty dialect: no engine's quirks, ANSI-style identifiers.
  generic: { parser: Dialect.Generic, normalization: 'lowercase' },
};

/** Other spellings a project may use for a dialect. */
const ALIASES: Record<string, string> = {
  postgresql: 'postgres',
  mssql: 'tsql',
  sqlserver: 'tsql',
  azuresql: 'tsql',
  motherduck: 'duckdb',
  gcp_postgres: 'postgres',
};

const cache = new Map<string, SqlDialect>();

function build(name: string, spec: DialectSpec): SqlDialect {
  const [quoteStart, quoteEnd] = spec.quote ?? ['"', '"'];
  return {
    name,
    parser: spec.parser,
    normalization: spec.normalization,
    tableNormalization: spec.tableNormalization ?? spec.normalization,
    quoteStart,
    quoteEnd,
    allowsDashInNames: spec.allowsDashInNames ?? false,
  };
}

/** The dialect names a project may write, canonical names first, then other spellings. */
export function dialectNames(): string[] {
  return [...Object.keys(SPECS), ...Object.keys(ALIASES)];
}

/** The dialect called `name` (case-insensitive), or undefined when there is none. */
export function findDialect(name: string): SqlDialect | undefined {
  const key = name.trim().toLowerCase();
  const cached = cache.get(key);
  if (cached) return cached;
  const canonical = ALIASES[key] ?? key;
  const spec = SPECS[canonical];
  if (!spec) return undefined;
  const dialect = build(canonical, spec);
  cache.set(key, dialect);
  return dialect;
}

/**
 * The dialect called `name`. An unknown name is a ConfigError at `where`
 * (a config key or `file:line:column`), listing the names that are valid.
 * An empty name means the generic dialect.
 */
export function resolveDialect(name: string | SqlDialect, where = 'dialect'): SqlDialect {
  if (typeof name !== 'string') return name;
  if (name.trim() === '') return findDialect('generic') as SqlDialect;
  const dialect = findDialect(name);
  if (!dialect) {
    throw new ConfigError(
      where,
      `unknown SQL dialect '${name}'; use one of: ${Object.keys(SPECS).join(', ')} (also ${Object.keys(ALIASES).join(', ')})`,
    );
  }
  return dialect;
}
