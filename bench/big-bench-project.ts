/**
 * A small DuckDB project that writes a lot of rows: an INCREMENTAL_BY_TIME_RANGE
 * model generating `BIG_ROWS_PER_DAY` rows for each of `BIG_DAYS` daily
 * batches from `range()`, and a FULL model aggregating them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const BIG_START = '2024-01-01';
export const BIG_DAYS = 10;
export const BIG_ROWS_PER_DAY = 1_000_000;

/** Writes the project into `root` (an empty folder). */
export function writeBigProject(root: string): void {
  mkdirSync(join(root, 'models'), { recursive: true });
  writeFileSync(
    join(root, 'config.yaml'),
    [
      'gateways:',
      '  local:',
      '    connection:',
      '      type: duckdb',
      '      database: db.duckdb',
      'default_gateway: local',
      'model_defaults:',
      '  dialect: duckdb',
      `  start: '${BIG_START}'`,
      "  cron: '@daily'",
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(root, 'models', 'events.sql'),
    [
      'MODEL (',
      '  name big.events,',
      '  kind INCREMENTAL_BY_TIME_RANGE (time_column event_date, batch_size 1),',
      '  grain id',
      ');',
      '',
      'SELECT',
      '  CAST(@start_ds AS DATE) AS event_date,',
      `  DATE_DIFF('day', DATE '${BIG_START}', CAST(@start_ds AS DATE)) * ${BIG_ROWS_PER_DAY} + i AS id,`,
      '  i % 1000 AS item_id,',
      '  (i * 7919) % 100000 / 100.0 AS amount,',
      "  'channel_' || CAST(i % 7 AS VARCHAR) AS channel",
      `FROM range(0, ${BIG_ROWS_PER_DAY}) AS r(i)`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(root, 'models', 'daily_totals.sql'),
    [
      'MODEL (',
      '  name big.daily_totals,',
      '  kind FULL,',
      '  grain (event_date, item_id)',
      ');',
      '',
      'SELECT event_date, item_id, COUNT(*) AS events, SUM(amount) AS amount',
      'FROM big.events',
      'GROUP BY event_date, item_id',
      '',
    ].join('\n'),
  );
}
