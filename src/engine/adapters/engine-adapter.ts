/**
 * The one interface every warehouse is reached through. Differences between
 * engines are expressed as capability flags and small dialect hooks, never as
 * `if (engine === 'postgres')` in callers.
 */

export type Row = Record<string, unknown>;

export interface QueryResult<R extends Row = Row> {
  columns: Array<{ name: string; type: string }>;
  rows: R[];
}

export interface TableRef {
  catalog?: string;
  schema: string;
  name: string;
}

export interface ColumnInfo {
  name: string;
  /** The engine's type name, e.g. `INTEGER`, `character varying`. */
  type: string;
  nullable: boolean;
}

export interface AdapterCapabilities {
  /** MERGE INTO ... WHEN MATCHED / NOT MATCHED. */
  supportsMerge: boolean;
  /** CREATE/DROP inside a transaction roll back with it. */
  supportsTransactionalDdl: boolean;
  /** CREATE OR REPLACE VIEW. */
  supportsReplaceView: boolean;
  /** Several catalogs (databases) addressable from one connection. */
  supportsMultipleCatalogs: boolean;
  /** Longest identifier the engine keeps whole (PostgreSQL: 63). */
  maxIdentifierLength: number;
}

export interface EngineAdapter {
  /** `duckdb` or `postgres`; also the SQL dialect used to generate its SQL. */
  readonly dialect: string;
  readonly capabilities: AdapterCapabilities;
  /** The catalog unqualified names resolve to (DuckDB: the file's stem; PostgreSQL: the database). */
  readonly defaultCatalog: string;

  /** Runs one or more statements, returns nothing. */
  execute(sql: string): Promise<void>;
  /** Runs a query and returns its rows with column names and types. */
  query<R extends Row = Row>(sql: string): Promise<QueryResult<R>>;
  /**
   * Runs `fn` in a transaction on a connection of its own; commits when it
   * resolves, rolls back when it throws. The adapter handed to `fn` uses that
   * connection.
   */
  transaction<T>(fn: (tx: EngineAdapter) => Promise<T>): Promise<T>;

  createSchema(schema: string, catalog?: string): Promise<void>;
  dropSchema(schema: string, options?: { cascade?: boolean; catalog?: string }): Promise<void>;
  schemaExists(schema: string, catalog?: string): Promise<boolean>;
  tableExists(table: TableRef): Promise<boolean>;
  /** Whether the name holds a table, a view, or nothing. */
  objectKind(table: TableRef): Promise<'table' | 'view' | undefined>;
  /** Columns of a table or view, in order; empty when it does not exist. */
  columns(table: TableRef): Promise<ColumnInfo[]>;
  /** Tables and views of a schema. */
  listObjects(
    schema: string,
    catalog?: string,
  ): Promise<Array<{ name: string; kind: 'table' | 'view' }>>;
  dropTable(table: TableRef, options?: { ifExists?: boolean }): Promise<void>;
  dropView(table: TableRef, options?: { ifExists?: boolean }): Promise<void>;
  createView(view: TableRef, selectSql: string, options?: { replace?: boolean }): Promise<void>;

  /** Quotes one identifier for this engine. */
  quoteIdentifier(name: string): string;
  /** Renders a table reference, quoted, omitting the catalog when it is the default one. */
  tableName(table: TableRef): string;

  /** Checks the connection: resolves when a trivial query succeeds. */
  ping(): Promise<void>;
  /** Cancels statements running on this adapter's connections. */
  cancel(): Promise<void>;
  close(): Promise<void>;
}
