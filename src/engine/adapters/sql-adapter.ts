/**
 * What the SQL adapters share: quoting, table references and the schema and
 * object operations, written on top of `execute` / `query` and a few
 * engine-specific catalog queries.
 */
import type {
  AdapterCapabilities,
  ColumnInfo,
  EngineAdapter,
  QueryResult,
  Row,
  TableRef,
} from './engine-adapter.js';

/** Quotes a string as an SQL literal ('it''s'). */
export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** Quotes one identifier with double quotes, doubling any inside. */
export function quoteDoubled(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export type ObjectKind = 'table' | 'view';

export abstract class SqlAdapter implements EngineAdapter {
  abstract readonly dialect: string;
  abstract readonly capabilities: AdapterCapabilities;
  abstract readonly defaultCatalog: string;

  abstract execute(sql: string): Promise<void>;
  abstract query<R extends Row = Row>(sql: string): Promise<QueryResult<R>>;
  abstract transaction<T>(fn: (tx: EngineAdapter) => Promise<T>): Promise<T>;
  abstract ping(): Promise<void>;
  abstract cancel(): Promise<void>;
  abstract close(): Promise<void>;

  /** SQL listing `name` and `kind` ('table' | 'view') of a schema's objects, optionally one name. */
  protected abstract objectsSql(schema: string, catalog: string, name?: string): string;
  /** SQL returning one row when the schema exists. */
  protected abstract schemaExistsSql(schema: string, catalog: string): string;
  /** SQL listing `name`, `type`, `nullable` of a table's columns in order. */
  protected abstract columnsSql(table: TableRef, catalog: string): string;
  /** Whether two catalog names denote the same catalog. */
  protected abstract sameCatalog(a: string, b: string): boolean;

  quoteIdentifier(name: string): string {
    return quoteDoubled(name);
  }

  tableName(table: TableRef): string {
    const parts = [table.schema, table.name];
    if (table.catalog !== undefined && !this.sameCatalog(table.catalog, this.defaultCatalog)) {
      parts.unshift(table.catalog);
    }
    return parts.map((p) => this.quoteIdentifier(p)).join('.');
  }

  /** `catalog.schema`, quoted, the catalog omitted when it is the default one. */
  protected schemaName(schema: string, catalog?: string): string {
    const q = this.quoteIdentifier(schema);
    if (catalog === undefined || this.sameCatalog(catalog, this.defaultCatalog)) return q;
    return `${this.quoteIdentifier(catalog)}.${q}`;
  }

  async createSchema(schema: string, catalog?: string): Promise<void> {
    await this.execute(`CREATE SCHEMA IF NOT EXISTS ${this.schemaName(schema, catalog)}`);
  }

  async dropSchema(
    schema: string,
    options?: { cascade?: boolean; catalog?: string },
  ): Promise<void> {
    const cascade = options?.cascade ? ' CASCADE' : '';
    await this.execute(
      `DROP SCHEMA IF EXISTS ${this.schemaName(schema, options?.catalog)}${cascade}`,
    );
  }

  async schemaExists(schema: string, catalog?: string): Promise<boolean> {
    const result = await this.query(this.schemaExistsSql(schema, catalog ?? this.defaultCatalog));
    return result.rows.length > 0;
  }

  async tableExists(table: TableRef): Promise<boolean> {
    const sql = this.objectsSql(table.schema, table.catalog ?? this.defaultCatalog, table.name);
    const result = await this.query(sql);
    return result.rows.length > 0;
  }

  async objectKind(table: TableRef): Promise<'table' | 'view' | undefined> {
    const sql = this.objectsSql(table.schema, table.catalog ?? this.defaultCatalog, table.name);
    const rows = (await this.query(sql)).rows;
    const exact = rows.find((r) => r['name'] === table.name) ?? rows[0];
    if (!exact) return undefined;
    return exact['kind'] === 'view' ? 'view' : 'table';
  }

  async columns(table: TableRef): Promise<ColumnInfo[]> {
    const result = await this.query(this.columnsSql(table, table.catalog ?? this.defaultCatalog));
    return result.rows.map((r) => ({
      name: String(r['name']),
      type: String(r['type']),
      nullable: r['nullable'] === true || r['nullable'] === 'YES',
    }));
  }

  async listObjects(
    schema: string,
    catalog?: string,
  ): Promise<Array<{ name: string; kind: 'table' | 'view' }>> {
    const result = await this.query(this.objectsSql(schema, catalog ?? this.defaultCatalog));
    return result.rows
      .map((r) => ({
        name: String(r['name']),
        kind: r['kind'] === 'view' ? ('view' as const) : ('table' as const),
      }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async dropTable(table: TableRef, options?: { ifExists?: boolean }): Promise<void> {
    const ifExists = options?.ifExists === false ? '' : 'IF EXISTS ';
    await this.execute(`DROP TABLE ${ifExists}${this.tableName(table)}`);
  }

  async dropView(table: TableRef, options?: { ifExists?: boolean }): Promise<void> {
    const ifExists = options?.ifExists === false ? '' : 'IF EXISTS ';
    await this.execute(`DROP VIEW ${ifExists}${this.tableName(table)}${this.dropViewSuffix()}`);
  }

  /** Appended to DROP VIEW (PostgreSQL: ` CASCADE`). */
  protected dropViewSuffix(): string {
    return '';
  }

  async createView(
    view: TableRef,
    selectSql: string,
    options?: { replace?: boolean },
  ): Promise<void> {
    const orReplace = options?.replace === false ? '' : 'OR REPLACE ';
    await this.execute(`CREATE ${orReplace}VIEW ${this.tableName(view)} AS ${selectSql}`);
  }
}
