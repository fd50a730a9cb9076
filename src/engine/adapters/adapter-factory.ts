/**
 * Builds the adapter for a gateway's connection. Nothing connects until the
 * adapter's first statement (or `ping()`), so creating one never fails on an
 * unreachable warehouse.
 */
import type { ConnectionConfig } from '../config/config-types.js';
import { ConfigError } from '../errors.js';
import { describeConnectionError } from './adapter-errors.js';
import { DuckDbAdapter } from './duckdb-adapter.js';
import type { EngineAdapter } from './engine-adapter.js';
import { PostgresAdapter } from './postgres-adapter.js';

export { describeConnectionError };

export interface CreateAdapterOptions {
  /** The project folder; relative DuckDB paths are resolved against it. */
  projectRoot: string;
}

/** The adapter for `config`: DuckDB in process, or a PostgreSQL pool. */
export function createAdapter(
  config: ConnectionConfig,
  options: CreateAdapterOptions,
): EngineAdapter {
  switch (config.type) {
    case 'duckdb':
      return new DuckDbAdapter(config, { projectRoot: options.projectRoot });
    case 'postgres':
      return new PostgresAdapter(config);
    default:
      throw new ConfigError(
        'connection.type',
        `unsupported engine "${(config as { type: string }).type}"; use duckdb or postgres`,
      );
  }
}
