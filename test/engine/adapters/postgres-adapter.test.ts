import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import pg from 'pg';
import {
  ConnectionError,
  describeConnectionError,
} from '../../../src/engine/adapters/adapter-errors.js';
import { createAdapter } from '../../../src/engine/adapters/adapter-factory.js';
import { PostgresAdapter } from '../../../src/engine/adapters/postgres-adapter.js';
import { freePort } from '../../helpers/pg-server.js';
import type { EngineAdapter } from '../../../src/engine/adapters/engine-adapter.js';
import type { PostgresConnectionConfig } from '../../../src/engine/config/config-types.js';
import { ConfigError, EngineError } from '../../../src/engine/errors.js';
import { withTestDatabase, type TestDatabase } from '../../helpers/postgres.js';
import { adapterContract } from './adapter-contract.js';

const db: TestDatabase = await withTestDatabase();

function open(overrides: Partial<PostgresConnectionConfig> = {}): EngineAdapter {
  return createAdapter({ ...db.config, ...overrides }, { projectRoot: '.' });
}

/** The server version read straight from the server, not through the adapter. */
async function serverVersionNum(): Promise<number> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const res = await client.query('SHOW server_version_num');
    return Number(res.rows[0].server_version_num);
  } finally {
    await client.end();
  }
}

adapterContract({
  name: 'PostgreSQL',
  adapter: async (options) => open({ concurrentTasks: options?.concurrentTasks ?? 4 }),
  expectMerge: async () => (await serverVersionNum()) >= 150000,
  longQuerySql: 'SELECT pg_sleep(30) AS slept',
  sql: {
    blob: `CAST('hi!' AS BYTEA)`,
    intList: 'ARRAY[1, 2, NULL]',
    bigintList: 'ARRAY[CAST(9007199254740993 AS BIGINT), 7]',
    record: `json_build_object('a', 1, 'b', 'x')`,
    setTimeZone: (zone) => `SET LOCAL TIME ZONE '${zone}'`,
  },
  types: {
    integer: 'integer',
    text: 'text',
    date: 'date',
    timestamp: 'timestamp without time zone',
    decimal10_2: 'numeric(10,2)',
    varchar20: 'character varying(20)',
  },
});

describe('PostgreSQL adapter', () => {
  test('the default catalog is the database and identifiers keep 63 characters', () => {
    const a = new PostgresAdapter(db.config);
    assert.equal(a.defaultCatalog, db.name);
    assert.equal(a.capabilities.maxIdentifierLength, 63);
    assert.equal(a.capabilities.supportsMultipleCatalogs, false);
    assert.equal(a.dialect, 'postgres');
  });

  test('MERGE support is known after the first statement and follows the server version', async () => {
    const a = new PostgresAdapter(db.config);
    try {
      assert.equal(a.serverVersionNum, undefined);
      await a.ping();
      const num = await serverVersionNum();
      assert.equal(a.serverVersionNum, num);
      assert.equal(a.capabilities.supportsMerge, num >= 150000);
    } finally {
      await a.close();
    }
  });

  test('objects of another database are not found in this one', async () => {
    const a = open();
    try {
      await a.createSchema('cross_db');
      await a.execute('CREATE TABLE cross_db.t (id INTEGER)');
      assert.equal(await a.tableExists({ schema: 'cross_db', name: 't' }), true);
      assert.equal(
        await a.tableExists({ catalog: 'some_other_db', schema: 'cross_db', name: 't' }),
        false,
      );
      assert.equal(await a.schemaExists('cross_db', 'some_other_db'), false);
      await a.dropSchema('cross_db', { cascade: true });
    } finally {
      await a.close();
    }
  });

  test('materialized views are listed as views', async () => {
    const a = open();
    try {
      await a.createSchema('mv');
      await a.execute('CREATE MATERIALIZED VIEW mv.counts AS SELECT 1 AS n');
      assert.deepEqual(await a.listObjects('mv'), [{ name: 'counts', kind: 'view' }]);
      await a.dropSchema('mv', { cascade: true });
    } finally {
      await a.close();
    }
  });

  test('role and application name are applied to every pooled connection', async () => {
    const admin = open();
    try {
      await admin.execute(
        `DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tideline_reader') ` +
          `THEN CREATE ROLE tideline_reader NOLOGIN; END IF; END $$`,
      );
    } finally {
      await admin.close();
    }
    const a = open({ role: 'tideline_reader', applicationName: 'tideline-test' });
    try {
      const results = await Promise.all(
        [1, 2, 3].map(() =>
          a.query(
            `SELECT current_user AS who, current_setting('application_name') AS app, pg_sleep(0.05)::text AS s`,
          ),
        ),
      );
      for (const r of results) {
        assert.equal(r.rows[0]?.['who'], 'tideline_reader');
        assert.equal(r.rows[0]?.['app'], 'tideline-test');
      }
    } finally {
      await a.close();
    }
  });

  test('a missing role fails the connection with the server reason', async () => {
    const a = open({ role: 'tideline_no_such_role' });
    await assert.rejects(a.ping(), (err: unknown) => {
      assert.ok(err instanceof ConnectionError);
      assert.match(describeConnectionError(err), /role "tideline_no_such_role" does not exist/);
      return true;
    });
    await a.close();
  });

  test('value parsing is set per pool: the global pg parsers are untouched', async () => {
    const a = open();
    try {
      const { rows } = await a.query(
        `SELECT CAST(5 AS BIGINT) AS b, CAST('2024-01-02' AS DATE) AS d,
                CAST('NaN' AS NUMERIC) AS nan_num, CAST('Infinity' AS DOUBLE PRECISION) AS inf,
                ARRAY[CAST('2024-01-02 03:04:05+01' AS TIMESTAMPTZ)] AS tstz_list,
                ARRAY[CAST('1.5' AS NUMERIC), NULL] AS num_list,
                ARRAY['a,b', 'c"d'] AS text_list,
                CAST('1 day 02:00:00' AS INTERVAL) AS iv,
                CAST('{"k": [1, 2]}' AS JSONB) AS jb`,
      );
      assert.deepEqual(rows, [
        {
          b: 5,
          d: '2024-01-02',
          nan_num: 'NaN',
          inf: 'Infinity',
          tstz_list: ['2024-01-02 02:04:05+00'],
          num_list: [1.5, null],
          text_list: ['a,b', 'c"d'],
          iv: '1 day 02:00:00',
          jb: { k: [1, 2] },
        },
      ]);
      // Elsewhere in the process, pg keeps its own defaults.
      assert.equal(pg.types.getTypeParser(20, 'text')('5'), '5');
      assert.ok(pg.types.getTypeParser(1082, 'text')('2024-01-02') instanceof Date);
    } finally {
      await a.close();
    }
  });

  describe('connection failures', () => {
    test('a wrong port says the connection was refused at host:port', async () => {
      const port = await freePort();
      const a = open({ host: '127.0.0.1', port });
      await assert.rejects(a.ping(), (err: unknown) => {
        assert.ok(err instanceof ConnectionError);
        assert.equal(describeConnectionError(err), `connection refused at 127.0.0.1:${port}`);
        assert.equal(
          err.message,
          `PostgreSQL connection failed: connection refused at 127.0.0.1:${port}`,
        );
        return true;
      });
      await a.close();
    });

    test('a wrong password names the user', async () => {
      const a = open({ password: 'definitely-wrong' });
      await assert.rejects(a.ping(), (err: unknown) => {
        assert.ok(err instanceof ConnectionError);
        assert.match(
          describeConnectionError(err),
          new RegExp(`password authentication failed for user "${db.config.user}"`),
        );
        assert.doesNotMatch(err.message, /\n/);
        return true;
      });
      await a.close();
    });

    test('a missing database is named', async () => {
      const a = open({ database: 'tideline_no_such_db' });
      await assert.rejects(a.ping(), (err: unknown) => {
        assert.equal(describeConnectionError(err), 'database "tideline_no_such_db" does not exist');
        return true;
      });
      await a.close();
    });

    test('a server that never answers times out after connect_timeout', async () => {
      const sockets = new Set<Socket>();
      const silent = createServer((socket) => sockets.add(socket));
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      const addr = silent.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      const a = open({ host: '127.0.0.1', port, connectTimeout: 1 });
      try {
        const startedAt = Date.now();
        await assert.rejects(a.ping(), (err: unknown) => {
          assert.equal(
            describeConnectionError(err),
            `connection timed out after 1s at 127.0.0.1:${port}/${db.name}`,
          );
          return true;
        });
        assert.ok(Date.now() - startedAt < 3000);
      } finally {
        await a.close();
        for (const socket of sockets) socket.destroy();
        silent.close();
      }
    });

    test('an unknown sslmode is a config error naming the key', async () => {
      const a = open({ sslmode: 'sometimes' });
      await assert.rejects(a.ping(), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /^connection\.sslmode: unknown value "sometimes"/);
        return true;
      });
      await a.close();
    });

    test('a statement cut off by the server leaves the pool usable', async () => {
      const a = open({ concurrentTasks: 1 });
      try {
        await assert.rejects(a.query('SELECT pg_terminate_backend(pg_backend_pid())'), EngineError);
        assert.deepEqual((await a.query('SELECT 2 AS two')).rows, [{ two: 2 }]);
      } finally {
        await a.close();
      }
    });
  });
});
