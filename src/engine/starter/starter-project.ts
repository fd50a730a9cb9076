/**
 * The starter project that `tideline init` writes: the same layout, schema and
 * model names as the example project SQLMesh's `init` creates, so a user who
 * follows SQLMesh's quickstart finds what the guide describes.
 *
 *   seeds/seed_data.csv -> sqlmesh_example.seed_model (SEED)
 *                       -> sqlmesh_example.incremental_model (INCREMENTAL_BY_TIME_RANGE)
 *                       -> sqlmesh_example.full_model (FULL, audited, unit tested)
 */

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type { EngineType } from '../config/config-types.js';
import { ConfigError } from '../errors.js';

/** One file of the starter project; `path` is relative to the project root, with `/`. */
export interface StarterFile {
  path: string;
  content: string;
}

/** The folders every project has; `init` creates them even when they hold nothing yet. */
export const STARTER_FOLDERS = ['models', 'seeds', 'audits', 'tests', 'macros'] as const;

/** The first day of the seed data, and the start of the incremental model's history. */
export const STARTER_START_DATE = '2020-01-01';

const SEED_DATA = `id,item_id,event_date
1,1,2020-01-01
2,2,2020-01-01
3,1,2020-01-02
4,3,2020-01-03
5,2,2020-01-05
6,1,2020-01-06
7,2,2020-01-07
8,1,2020-01-07
`;

const SEED_MODEL = `-- Loads seeds/seed_data.csv into a table. A SEED model is rebuilt only when
-- the CSV file or this definition changes.
MODEL (
  name sqlmesh_example.seed_model,
  kind SEED (
    path '../seeds/seed_data.csv'
  ),
  columns (
    id INTEGER,
    item_id INTEGER,
    event_date DATE
  ),
  grain (id, event_date)
);
`;

const INCREMENTAL_MODEL = `-- Orders, one row per order. Each run processes only the days that are missing:
-- @start_date and @end_date are the first and last day of the interval being filled.
MODEL (
  name sqlmesh_example.incremental_model,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column event_date
  ),
  start '${STARTER_START_DATE}',
  cron '@daily',
  grain (id, event_date)
);

SELECT
  id,
  item_id,
  event_date
FROM
  sqlmesh_example.seed_model
WHERE
  event_date BETWEEN @start_date AND @end_date
`;

const FULL_MODEL = `-- Number of orders per item, rebuilt from scratch on every run.
MODEL (
  name sqlmesh_example.full_model,
  kind FULL,
  cron '@daily',
  grain item_id,
  audits (assert_positive_order_ids)
);

SELECT
  item_id,
  COUNT(DISTINCT id) AS num_orders
FROM
  sqlmesh_example.incremental_model
GROUP BY
  item_id
`;

const AUDIT = `-- An audit is a query for bad rows: the audit fails when it returns any.
-- @this_model stands for the table of the model being audited.
AUDIT (
  name assert_positive_order_ids
);

SELECT
  *
FROM
  @this_model
WHERE
  item_id < 0
`;

const UNIT_TEST = `# A unit test runs full_model's query on the rows given under inputs (instead of
# the warehouse's tables) and compares the result with the rows under outputs.
test_full_model:
  model: sqlmesh_example.full_model
  inputs:
    sqlmesh_example.incremental_model:
      rows:
        - id: 1
          item_id: 1
          event_date: 2020-01-01
        - id: 2
          item_id: 1
          event_date: 2020-01-02
        - id: 3
          item_id: 2
          event_date: 2020-01-03
        - id: 4
          item_id: 3
          event_date: 2020-01-03
        - id: 5
          item_id: 1
          event_date: 2020-01-04
  outputs:
    query:
      rows:
        - item_id: 1
          num_orders: 3
        - item_id: 2
          num_orders: 1
        - item_id: 3
          num_orders: 1
`;

const MODEL_DEFAULTS = (
  dialect: string,
): string => `# Settings every model gets unless it says otherwise.
model_defaults:
  dialect: ${dialect}
  start: ${STARTER_START_DATE} # the first day to fill when a model has no start of its own
  cron: '@daily'
`;

const DUCKDB_CONFIG = `# Project configuration. Values may use {{ env_var('NAME', 'default') }}.

# Where models run: DuckDB, in the file db.db next to this one.
gateways:
  duckdb:
    connection:
      type: duckdb
      database: db.db
      # concurrent_tasks: 1

default_gateway: duckdb

${MODEL_DEFAULTS('duckdb')}`;

const POSTGRES_CONFIG = `# Project configuration. Values may use {{ env_var('NAME', 'default') }}.

# Where models run: a PostgreSQL database. Each setting is read from the usual
# libpq environment variable (also from a .env file here) or falls back to the default.
gateways:
  postgres:
    connection:
      type: postgres
      host: "{{ env_var('PGHOST', 'localhost') }}"
      port: "{{ env_var('PGPORT', '5432') }}"
      user: "{{ env_var('PGUSER', 'postgres') }}"
      password: "{{ env_var('PGPASSWORD', '') }}"
      database: "{{ env_var('PGDATABASE', 'postgres') }}"
      # concurrent_tasks: 4

default_gateway: postgres

${MODEL_DEFAULTS('postgres')}`;

/**
 * The files of the starter project for `engine`, in the order they are written.
 * The models are written in SQL that DuckDB and PostgreSQL both accept;
 * `model_defaults.dialect` names the engine's own dialect.
 */
export function starterProjectFiles(engine: EngineType): StarterFile[] {
  return [
    { path: 'config.yaml', content: engine === 'postgres' ? POSTGRES_CONFIG : DUCKDB_CONFIG },
    { path: 'models/seed_model.sql', content: SEED_MODEL },
    { path: 'models/incremental_model.sql', content: INCREMENTAL_MODEL },
    { path: 'models/full_model.sql', content: FULL_MODEL },
    { path: 'seeds/seed_data.csv', content: SEED_DATA },
    { path: 'audits/assert_positive_order_ids.sql', content: AUDIT },
    { path: 'tests/test_full_model.yaml', content: UNIT_TEST },
    { path: 'macros/.gitkeep', content: '' },
  ];
}

/**
 * Writes the starter project into `dir` (created when missing) and returns the
 * paths written, relative to `dir`. Refuses with a ConfigError, before writing
 * anything, when `dir` already holds a project (config.yaml, config.yml or a
 * models/ folder) or any file the starter project would write.
 */
export function writeStarterProject(dir: string, engine: EngineType): string[] {
  for (const marker of ['config.yaml', 'config.yml', 'models']) {
    const at = join(dir, marker);
    if (existsSync(at)) {
      throw new ConfigError(
        at,
        'already exists, so this folder already holds a project; run init in an empty folder',
      );
    }
  }
  const files = starterProjectFiles(engine);
  for (const file of files) {
    const at = join(dir, file.path);
    if (existsSync(at)) {
      throw new ConfigError(at, 'already exists; move it away or run init in an empty folder');
    }
  }
  for (const folder of STARTER_FOLDERS) mkdirSync(join(dir, folder), { recursive: true });
  for (const file of files) {
    const at = join(dir, file.path);
    mkdirSync(dirname(at), { recursive: true });
    writeFileSync(at, file.content, { flag: 'wx' });
  }
  return files.map((f) => f.path);
}
