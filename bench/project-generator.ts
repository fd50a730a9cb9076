import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface GenerateOptions {
  /** Rows of the seed every model ultimately reads (default 20). */
  seedRows?: number;
  /**
   * The models' `start` (YYYY-MM-DD, default 2024-01-01). The seed's event
   * dates cover the 28 days from it, so incremental models find rows there.
   */
  start?: string;
  /** The models' cron (default `@daily`). */
  cron?: string;
}

/**
 * Writes a synthetic DuckDB project of `count` models into a fresh temporary
 * folder and returns its path. Models form layers; each reads one to three
 * models of earlier layers, so the DAG is wide and deep like real projects.
 * Kinds rotate through FULL, VIEW and INCREMENTAL_BY_TIME_RANGE. All of them
 * can be evaluated: with a `start` a few days before the plan's time, a plan
 * evaluates every model once over the tiny seed.
 */
export function generateProject(count: number, options: GenerateOptions = {}): string {
  const start = options.start ?? '2024-01-01';
  const cron = options.cron ?? '@daily';
  const startMs = Date.parse(`${start}T00:00:00Z`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(start) || Number.isNaN(startMs)) {
    throw new Error(`generateProject: start must be YYYY-MM-DD, got ${start}`);
  }
  const root = mkdtempSync(join(tmpdir(), `tideline-bench-${count}-`));
  mkdirSync(join(root, 'models'), { recursive: true });
  mkdirSync(join(root, 'seeds'), { recursive: true });
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
      `  start: '${start}'`,
      `  cron: '${cron}'`,
      '',
    ].join('\n'),
  );
  const rows = options.seedRows ?? 20;
  const csv = ['id,item_id,event_date'];
  for (let i = 0; i < rows; i++) {
    const day = new Date(startMs + (i % 28) * 86_400_000).toISOString().slice(0, 10);
    csv.push(`${i},${i % 7},${day}`);
  }
  writeFileSync(join(root, 'seeds', 'events.csv'), csv.join('\n') + '\n');
  writeFileSync(
    join(root, 'models', 'events.sql'),
    [
      'MODEL (',
      '  name bench.events,',
      "  kind SEED (path '$root/seeds/events.csv'),",
      '  columns (id INTEGER, item_id INTEGER, event_date DATE)',
      ');',
      '',
    ].join('\n'),
  );
  const perLayer = Math.max(10, Math.round(Math.sqrt(count)));
  for (let i = 0; i < count - 1; i++) {
    const layer = Math.floor(i / perLayer);
    const upstream: string[] = [];
    if (layer === 0) upstream.push('bench.events');
    else {
      const fanIn = 1 + (i % 3);
      for (let k = 0; k < fanIn; k++) {
        const j = (layer - 1) * perLayer + ((i * 7 + k * 13) % perLayer);
        upstream.push(`bench.m${j}`);
      }
    }
    const unique = [...new Set(upstream)];
    const kind = i % 3;
    const from = unique
      .map((u, k) => (k === 0 ? `FROM ${u} AS t0` : `LEFT JOIN ${u} AS t${k} ON t0.id = t${k}.id`))
      .join('\n');
    const header =
      kind === 0
        ? '  kind FULL,'
        : kind === 1
          ? '  kind VIEW,'
          : '  kind INCREMENTAL_BY_TIME_RANGE (time_column event_date, batch_size 30),';
    const where = kind === 2 ? '\nWHERE t0.event_date BETWEEN @start_ds AND @end_ds' : '';
    writeFileSync(
      join(root, 'models', `m${i}.sql`),
      [
        'MODEL (',
        `  name bench.m${i},`,
        header,
        `  cron '${cron}',`,
        `  owner team_${i % 5},`,
        '  grain id',
        ');',
        '',
        'WITH base AS (',
        '  SELECT t0.id, t0.item_id, t0.event_date -- carried through',
        `  ${from.split('\n').join('\n  ')}`,
        ')',
        `SELECT id, item_id, event_date, item_id * ${i % 11} AS score_${i % 4}`,
        `FROM base${where.replace(/t0\./g, '')}`,
        '',
      ].join('\n'),
    );
  }
  return root;
}
