/**
 * Exactly-once effect: the CLI is killed (SIGKILL) in the middle of a
 * backfill of 40 daily intervals and started again. The final tables equal
 * those of a clean run and every interval is recorded once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createAdapter } from '../../src/engine/adapters/adapter-factory.js';
import type { ConnectionConfig } from '../../src/engine/config/config-types.js';
import { cliPath } from '../helpers/paths.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { spawnCli, tempDir } from './run-cli.js';

const pg = await createTestDatabase();
after(() => pg.drop());

const DAYS = 40;
const ROWS_PER_DAY = 3000;

interface Setup {
  engine: 'duckdb' | 'postgres';
  config(schemaTag: string): string;
  connection(dir: string): ConnectionConfig;
  series: string;
}

const setups: Setup[] = [
  {
    engine: 'duckdb',
    config: () => `gateways:
  local:
    connection:
      type: duckdb
      database: warehouse.duckdb
default_gateway: local
model_defaults:
  dialect: duckdb
`,
    connection: (dir) => ({
      type: 'duckdb',
      database: join(dir, 'warehouse.duckdb'),
      catalogs: {},
      extensions: [],
      connectorConfig: {},
      concurrentTasks: 1,
    }),
    series: `generate_series(CAST(@start_ds AS TIMESTAMP), CAST(@end_ds AS TIMESTAMP), INTERVAL 1 DAY) AS d(day), generate_series(1, ${ROWS_PER_DAY}) AS r(i)`,
  },
  {
    engine: 'postgres',
    config: (tag) => `gateways:
  pg:
    connection:
      type: postgres
      host: ${pg.config.host}
      port: ${pg.config.port}
      user: ${pg.config.user}
      password: "${pg.config.password ?? ''}"
      database: ${pg.config.database}
    state_schema: state_${tag}
default_gateway: pg
model_defaults:
  dialect: postgres
`,
    connection: () => pg.config,
    series: `generate_series(CAST(@start_ds AS TIMESTAMP), CAST(@end_ds AS TIMESTAMP), INTERVAL '1 day') AS d(day), generate_series(1, ${ROWS_PER_DAY}) AS r(i)`,
  },
];

function writeProject(dir: string, setup: Setup, tag: string): void {
  mkdirSync(join(dir, 'models'));
  writeFileSync(join(dir, 'config.yaml'), setup.config(tag));
  writeFileSync(
    join(dir, 'models', 'events.sql'),
    `MODEL (
  name kill_${tag}.events,
  kind INCREMENTAL_BY_TIME_RANGE (time_column ds, batch_size 1),
  start '2024-01-01',
  cron '@daily'
);
SELECT CAST(day AS DATE) AS ds, i AS n, CAST(day AS DATE) - DATE '2024-01-01' AS day_no
FROM ${setup.series}
`,
  );
  writeFileSync(
    join(dir, 'models', 'daily.sql'),
    `MODEL (
  name kill_${tag}.daily,
  kind INCREMENTAL_BY_TIME_RANGE (time_column ds, batch_size 1),
  start '2024-01-01',
  cron '@daily'
);
SELECT ds, COUNT(*) AS n, SUM(n) AS total FROM kill_${tag}.events
WHERE ds BETWEEN @start_ds AND @end_ds
GROUP BY ds
`,
  );
}

const PLAN_ARGS = ['plan', '--auto-apply', '--execution-time', '2024-02-10'];

/** Starts a plan and kills it with SIGKILL once `afterBatches` batches have completed. */
function planAndKill(
  dir: string,
  afterBatches: number,
): Promise<{ killed: boolean; done: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, '-p', dir, ...PLAN_ARGS], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let done = 0;
    let killed = false;
    let buffer = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        if (/^\[#*\.*\]/.test(line)) done += 1;
        if (!killed && done >= afterBatches) {
          killed = child.kill('SIGKILL');
        }
      }
    });
    child.on('error', reject);
    child.on('exit', () => resolve({ killed, done }));
  });
}

for (const setup of setups) {
  describe(`a killed backfill resumes exactly once on ${setup.engine}`, () => {
    it('gives the same tables as a clean run, each interval recorded once', async () => {
      const tagKilled = `${setup.engine}_k`;
      const tagClean = `${setup.engine}_c`;
      const killedDir = tempDir();
      const cleanDir = tempDir();
      writeProject(killedDir, setup, tagKilled);
      writeProject(cleanDir, setup, tagClean);

      const first = await planAndKill(killedDir, 12);
      assert.equal(first.killed, true, 'the plan was killed mid-backfill');
      assert.ok(first.done < DAYS * 2, `killed after ${first.done} of ${DAYS * 2} batches`);

      const resumed = spawnCli(['-p', killedDir, ...PLAN_ARGS]);
      assert.equal(resumed.code, 0, resumed.err);
      const clean = spawnCli(['-p', cleanDir, ...PLAN_ARGS]);
      assert.equal(clean.code, 0, clean.err);
      assert.match(clean.out, /80 evaluation\(s\)/);

      const killedDb = createAdapter(setup.connection(killedDir), { projectRoot: killedDir });
      const cleanDb = createAdapter(setup.connection(cleanDir), { projectRoot: cleanDir });
      try {
        for (const table of ['events', 'daily']) {
          const query = (tag: string) =>
            `SELECT CAST(ds AS TEXT) AS ds, COUNT(*) AS c, SUM(n) AS s FROM kill_${tag}.${table} GROUP BY ds ORDER BY ds`;
          const a = (await killedDb.query(query(tagKilled))).rows.map((r) =>
            JSON.stringify(r, (_, v) => (typeof v === 'bigint' ? Number(v) : v)),
          );
          const b = (await cleanDb.query(query(tagClean))).rows.map((r) =>
            JSON.stringify(r, (_, v) => (typeof v === 'bigint' ? Number(v) : v)),
          );
          assert.equal(a.length, DAYS, `${table} has every day`);
          assert.deepEqual(a, b, `${table} equals the clean run's`);
        }
        const stateSchema = setup.engine === 'postgres' ? `state_${tagKilled}` : 'sqlmesh';
        const intervals = await killedDb.query(
          `SELECT name, start_ts, COUNT(*) AS c FROM ${stateSchema}._intervals WHERE NOT is_removed GROUP BY name, start_ts`,
        );
        assert.equal(intervals.rows.length, DAYS * 2, 'every interval of both models is recorded');
        assert.ok(
          intervals.rows.every((r) => Number(r.c) === 1),
          'no interval is recorded twice',
        );
      } finally {
        await killedDb.close();
        await cleanDb.close();
      }
    });
  });
}
