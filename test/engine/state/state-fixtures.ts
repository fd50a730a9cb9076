/** Domain objects for the state tests, with nested definitions so payloads are realistic. */

import type { ModelDefinition } from '../../../src/engine/model-types.js';
import type {
  Environment,
  PlanRecord,
  Snapshot,
} from '../../../src/engine/snapshot/snapshot-types.js';

export function makeDefinition(name: string, text = 'x'): ModelDefinition {
  const location = { file: `models/${text}.sql`, line: 1, column: 1 };
  return {
    name,
    kind: {
      name: 'INCREMENTAL_BY_TIME_RANGE',
      timeColumn: { column: 'event_date', format: '%Y-%m-%d' },
      lookback: 2,
      forwardOnly: false,
      disableRestatement: false,
      onDestructiveChange: 'error',
      batchSize: 7,
    },
    dialect: 'duckdb',
    cron: '@daily',
    intervalUnit: 'day',
    start: '2024-01-01',
    owner: text,
    description: `about ${text}`,
    tags: ['a', text],
    grains: ['id'],
    references: [],
    columns: [
      { name: 'id', type: 'INT' },
      { name: text, type: 'DECIMAL(10, 2)' },
    ],
    columnDescriptions: { id: text },
    audits: [{ name: 'not_null', args: { columns: '[id]' }, location }],
    partitionedBy: [],
    clusteredBy: [],
    physicalProperties: {},
    virtualProperties: {},
    sessionProperties: { [text]: text },
    allowPartials: false,
    enabled: true,
    extraProperties: {},
    preStatements: [{ sql: `SET x = '${text}'`, location, jinja: false }],
    query: { sql: `SELECT id, ${text} FROM src WHERE note = '${text}'`, location, jinja: true },
    postStatements: [],
    onVirtualUpdate: [],
    inlineAudits: [],
    path: `models/${text}.sql`,
    location,
  };
}

export function makeSnapshot(
  name: string,
  identifier: string,
  version: string,
  extra: Partial<Snapshot> = {},
  text = 'x',
): Snapshot {
  return {
    name,
    identifier,
    fingerprint: {
      dataHash: `d-${identifier}`,
      metadataHash: `m-${identifier}`,
      parentDataHash: '0',
      parentMetadataHash: '0',
    },
    version,
    parents: [{ name: '"db"."raw"."src"', identifier: 'p1' }],
    node: {
      definition: makeDefinition(name, text),
      querySource: `SELECT 1 -- ${text}`,
      dependencies: ['"db"."raw"."src"'],
      variables: { nested: { list: [1, 2.5, null, true, text] }, n: 0 },
      defaultCatalog: 'db',
    },
    ttl: 'in 1 week',
    createdTs: 1_000,
    updatedTs: 1_000,
    ...extra,
  };
}

export function makeEnvironment(
  name: string,
  planId: string,
  extra: Partial<Environment> = {},
): Environment {
  return {
    name,
    snapshots: [
      {
        name: '"db"."s"."a"',
        identifier: 'a1',
        version: 'v1',
        physicalTable: '"db"."sqlmesh__s"."s__a__v1"',
        kind: 'FULL',
        parents: [],
      },
    ],
    startAt: 0,
    planId,
    createdTs: 10,
    updatedTs: 20,
    ...extra,
  };
}

export function makePlan(id: string, environment: string, createdTs: number): PlanRecord {
  return {
    id,
    environment,
    status: 'succeeded',
    createdTs,
    updatedTs: createdTs,
    createdBy: 'tester',
    summary: { changes: [{ model: 'a', category: 'breaking' }], backfill: [0, 100] },
  };
}
