/**
 * Stored connections become the SQLMESH__ variables a hybrid executor would
 * be given, and the executor reads them back into the same connections the
 * cloud validated: scalars as text, mappings and lists as JSON, the default
 * gateway named; nothing secret of the cloud's own environment is passed on.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConnectionYaml } from '../../../src/cloud/connections/connection-input.js';
import { connectionEnv, inheritedEnv } from '../../../src/cloud/hosted/executor-env.js';
import { readGateways } from '../../../src/executor/config.js';

function stored(gateway: string, yaml: string) {
  const parsed = parseConnectionYaml(gateway, yaml);
  return { gateway, engine: parsed.config.type, text: parsed.text, config: parsed.config };
}

describe('cloud-hosted executor environment', () => {
  it('round-trips every kind of setting through the executor configuration', () => {
    const warehouse = stored(
      'warehouse',
      [
        'type: postgres',
        'host: db.internal',
        'port: 6543',
        'user: etl',
        "password: 'p@ss: w{o}rd [1]'",
        'database: dw',
        'sslmode: require',
        'connect_timeout: 7',
        'concurrent_tasks: 2',
      ].join('\n'),
    );
    const local = stored(
      'local_2',
      [
        'type: duckdb',
        'catalogs:',
        '  Main: /data/main.db',
        '  other: /data/other.db',
        'extensions: [httpfs, {name: spatial}]',
        'connector_config: {threads: 2, enable_object_cache: true}',
      ].join('\n'),
    );
    const env = connectionEnv([warehouse, local]);
    assert.equal(env['SQLMESH__DEFAULT_GATEWAY'], 'warehouse');
    assert.equal(env['SQLMESH__GATEWAYS__WAREHOUSE__CONNECTION__PORT'], '6543');
    assert.equal(env['SQLMESH__GATEWAYS__WAREHOUSE__CONNECTION__PASSWORD'], 'p@ss: w{o}rd [1]');
    assert.equal(
      env['SQLMESH__GATEWAYS__LOCAL_2__CONNECTION__CATALOGS'],
      JSON.stringify({ Main: '/data/main.db', other: '/data/other.db' }),
    );
    const read = readGateways(env);
    assert.equal(read.defaultGateway, 'warehouse');
    assert.deepEqual(
      read.gateways.map((g) => g.name),
      ['warehouse', 'local_2'],
    );
    assert.deepEqual(read.gateways[0]!.connection, warehouse.config);
    assert.deepEqual(read.gateways[1]!.connection, local.config);
  });

  it('names the first stored connection the default', () => {
    const env = connectionEnv([stored('b', 'type: duckdb'), stored('a', 'type: duckdb')]);
    assert.equal(env['SQLMESH__DEFAULT_GATEWAY'], 'b');
    assert.equal(readGateways(env).defaultGateway, 'b');
  });

  it("passes on only the harmless part of the cloud's environment", () => {
    const inherited = inheritedEnv({
      PATH: '/usr/bin',
      HOME: '/home/cloud',
      TZ: 'UTC',
      TIDELINE_MASTER_KEY: 'k'.repeat(44),
      TIDELINE_SIGNING_KEY: 's'.repeat(44),
      TIDELINE_STATE_URL: 'postgres://u:p@h/db',
      SQLMESH__GATEWAYS__X__CONNECTION__TYPE: 'duckdb',
      AWS_SECRET_ACCESS_KEY: 'nope',
    });
    assert.deepEqual(inherited, { PATH: '/usr/bin', HOME: '/home/cloud', TZ: 'UTC' });
  });
});
