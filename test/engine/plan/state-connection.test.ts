/**
 * State kept apart from the warehouse: a gateway's `state_connection` (here
 * PostgreSQL, with its own `state_schema`) holds snapshots, environments and
 * intervals, while the models run on DuckDB.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { LocalContext } from '../../../src/engine/local-context.js';
import { writeStarterProject } from '../../../src/engine/starter/starter-project.js';
import { testClock } from '../../../src/engine/time/index.js';
import { createTestDatabase } from '../../helpers/postgres.js';

const db = await createTestDatabase();
after(() => db.drop());

describe('state_connection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tideline-state-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps state in its own connection and schema, and the data in the warehouse', async () => {
    writeStarterProject(dir, 'duckdb');
    const cfg = join(dir, 'config.yaml');
    writeFileSync(
      cfg,
      readFileSync(cfg, 'utf8').replace(
        '      database: db.db\n',
        `      database: db.db
    state_connection:
      type: postgres
      host: ${db.config.host}
      port: ${db.config.port}
      user: ${db.config.user}
      password: "${db.config.password ?? ''}"
      database: ${db.config.database}
    state_schema: tideline_state
`,
      ),
    );
    const clock = testClock(Date.UTC(2020, 0, 10));
    const ctx = await LocalContext.open(dir, { env: {}, clock });
    try {
      const plan = await ctx.plan({ environment: 'prod' });
      const result = await ctx.apply(plan);
      assert.equal(result.status, 'succeeded', result.error);
      const rows = await ctx.adapter.query('SELECT COUNT(*) AS n FROM sqlmesh_example.full_model');
      assert.equal(Number(rows.rows[0]!.n), 3);
      assert.equal(await ctx.adapter.schemaExists('sqlmesh'), false, 'no state in the warehouse');
    } finally {
      await ctx.close();
    }
    assert.ok(existsSync(join(dir, 'db.db')));

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const envs = await client.query<{ name: string }>(
        'SELECT name FROM tideline_state._environments',
      );
      assert.deepEqual(
        envs.rows.map((r) => r.name),
        ['prod'],
      );
      const intervals = await client.query<{ n: string }>(
        'SELECT COUNT(*) AS n FROM tideline_state._intervals',
      );
      assert.ok(Number(intervals.rows[0]!.n) >= 3);
    } finally {
      await client.end();
    }

    // A second context finds the environment through the state connection.
    const again = await LocalContext.open(dir, { env: {}, clock });
    try {
      const plan = await again.plan({ environment: 'prod' });
      assert.equal(plan.changes.length, 0);
      assert.equal(plan.isNewEnvironment, false);
    } finally {
      await again.close();
    }
  });
});
