import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { loadProject } from '../../../src/engine/project/project-loader.js';
import { HASH_LENGTH, normalizeSql, versionOf } from '../../../src/engine/snapshot/fingerprint.js';
import {
  buildSnapshots,
  DEFAULT_SNAPSHOT_TTL,
} from '../../../src/engine/snapshot/snapshot-builder.js';
import type { Snapshot } from '../../../src/engine/snapshot/snapshot-types.js';
import { writeStarterProject } from '../../../src/engine/starter/starter-project.js';

const base = mkdtempSync(join(tmpdir(), 'tideline-fingerprint-'));
after(() => rmSync(base, { recursive: true, force: true }));
let counter = 0;

const SEED = '"db"."sqlmesh_example"."seed_model"';
const INCREMENTAL = '"db"."sqlmesh_example"."incremental_model"';
const FULL = '"db"."sqlmesh_example"."full_model"';

/** Replaces `from` by `to` in a project file, failing when `from` is not there. */
function edit(dir: string, file: string, from: string, to: string): void {
  const path = join(dir, file);
  const text = readFileSync(path, 'utf8');
  assert.ok(text.includes(from), `${file} does not contain ${from}`);
  writeFileSync(path, text.replace(from, to));
}

/** A starter project in a fresh folder, changed by `change`, loaded and snapshotted. */
async function snapshots(
  change: (dir: string) => void = () => {},
  now = 1_700_000_000_000,
): Promise<Map<string, Snapshot>> {
  const dir = join(base, `p${counter++}`);
  writeStarterProject(dir, 'duckdb');
  change(dir);
  const project = await loadProject(dir, { env: {}, now });
  return buildSnapshots(project, { now });
}

function get(map: Map<string, Snapshot>, name: string): Snapshot {
  const s = map.get(name);
  assert.ok(s, `no snapshot for ${name}`);
  return s;
}

const baseline = await snapshots();

test('snapshots come parents first, one per model, with their node filled in', () => {
  assert.deepEqual([...baseline.keys()], [SEED, INCREMENTAL, FULL]);
  const full = get(baseline, FULL);
  assert.deepEqual(full.parents, [
    { name: INCREMENTAL, identifier: get(baseline, INCREMENTAL).identifier },
  ]);
  assert.match(full.node.querySource ?? '', /COUNT\(DISTINCT id\) AS num_orders/);
  assert.deepEqual(full.node.dependencies, [INCREMENTAL]);
  assert.equal(full.ttl, DEFAULT_SNAPSHOT_TTL);
  assert.equal(full.createdTs, 1_700_000_000_000);
  const seed = get(baseline, SEED);
  assert.match(seed.node.seedCsv ?? '', /^id,item_id,event_date\n1,1,2020-01-01/);
  assert.equal(seed.node.querySource, undefined);
  assert.deepEqual(seed.parents, []);
});

test('hashes and versions are short lowercase hex strings', () => {
  for (const s of baseline.values()) {
    for (const h of [...Object.values(s.fingerprint), s.version, s.identifier]) {
      assert.match(h, new RegExp(`^[0-9a-f]{${HASH_LENGTH}}$`));
    }
    assert.equal(s.version, versionOf(s.fingerprint));
  }
  const versions = new Set([...baseline.values()].map((s) => s.version));
  assert.equal(versions.size, 3, 'each model has its own version');
});

test('fingerprints are the same across loads and project folders', async () => {
  const again = await snapshots(() => {}, 1_800_000_000_000);
  for (const name of [SEED, INCREMENTAL, FULL]) {
    assert.deepEqual(get(again, name).fingerprint, get(baseline, name).fingerprint);
    assert.equal(get(again, name).identifier, get(baseline, name).identifier);
    assert.equal(get(again, name).version, get(baseline, name).version);
  }
});

test("adding a column to a model's query changes its data hash and version only", async () => {
  const changed = await snapshots((dir) =>
    edit(dir, 'models/full_model.sql', 'AS num_orders', 'AS num_orders,\n  1 AS one'),
  );
  const before = get(baseline, FULL);
  const after = get(changed, FULL);
  assert.notEqual(after.fingerprint.dataHash, before.fingerprint.dataHash);
  assert.notEqual(after.version, before.version);
  assert.equal(after.fingerprint.metadataHash, before.fingerprint.metadataHash);
  assert.equal(after.fingerprint.parentDataHash, before.fingerprint.parentDataHash);
  assert.deepEqual(get(changed, INCREMENTAL).fingerprint, get(baseline, INCREMENTAL).fingerprint);
});

test('a data change upstream changes the parent data hash and version downstream', async () => {
  const changed = await snapshots((dir) =>
    edit(
      dir,
      'models/incremental_model.sql',
      '  event_date\nFROM',
      '  event_date,\n  2 AS two\nFROM',
    ),
  );
  assert.notEqual(get(changed, INCREMENTAL).version, get(baseline, INCREMENTAL).version);
  const before = get(baseline, FULL).fingerprint;
  const after = get(changed, FULL).fingerprint;
  assert.equal(after.dataHash, before.dataHash);
  assert.equal(after.metadataHash, before.metadataHash);
  assert.notEqual(after.parentDataHash, before.parentDataHash);
  assert.notEqual(get(changed, FULL).version, get(baseline, FULL).version);
  assert.deepEqual(get(changed, SEED).fingerprint, get(baseline, SEED).fingerprint);
});

for (const [what, from, to] of [
  ['cron', "cron '@daily',\n  grain item_id", "cron '@hourly',\n  grain item_id"],
  ['owner', 'kind FULL,', 'kind FULL,\n  owner jen,'],
  ['description', 'kind FULL,', "kind FULL,\n  description 'orders per item',"],
] as const) {
  test(`changing only the ${what} changes the metadata hash and keeps the version`, async () => {
    const changed = await snapshots((dir) => edit(dir, 'models/full_model.sql', from, to));
    const before = get(baseline, FULL);
    const after = get(changed, FULL);
    assert.notEqual(after.fingerprint.metadataHash, before.fingerprint.metadataHash);
    assert.equal(after.fingerprint.dataHash, before.fingerprint.dataHash);
    assert.equal(after.version, before.version);
    assert.notEqual(after.identifier, before.identifier);
  });
}

test('a metadata change upstream reaches the parent metadata hash, not the version', async () => {
  const changed = await snapshots((dir) =>
    edit(dir, 'models/incremental_model.sql', "cron '@daily',", "cron '@daily',\n  owner jen,"),
  );
  const before = get(baseline, FULL);
  const after = get(changed, FULL);
  assert.notEqual(after.fingerprint.parentMetadataHash, before.fingerprint.parentMetadataHash);
  assert.equal(after.fingerprint.parentDataHash, before.fingerprint.parentDataHash);
  assert.equal(after.version, before.version);
});

test('comments and layout in the query change nothing', async () => {
  const changed = await snapshots((dir) =>
    edit(
      dir,
      'models/full_model.sql',
      'SELECT\n  item_id,\n  COUNT(DISTINCT id) AS num_orders\nFROM',
      'SELECT /* the item */ item_id,   -- per item\n\n\tCOUNT(DISTINCT id)   AS num_orders\n  FROM',
    ),
  );
  assert.deepEqual(get(changed, FULL).fingerprint, get(baseline, FULL).fingerprint);
});

test('whitespace inside a string literal is data', () => {
  assert.notEqual(normalizeSql("SELECT 'a  b'"), normalizeSql("SELECT 'a b'"));
  assert.equal(normalizeSql("SELECT  'a  b' -- x\n"), "SELECT 'a  b'");
});

test("changing the seed CSV changes the seed's data hash and its dependents' versions", async () => {
  const changed = await snapshots((dir) =>
    edit(dir, 'seeds/seed_data.csv', '8,1,2020-01-07\n', '8,1,2020-01-07\n9,3,2020-01-08\n'),
  );
  assert.notEqual(
    get(changed, SEED).fingerprint.dataHash,
    get(baseline, SEED).fingerprint.dataHash,
  );
  assert.equal(
    get(changed, SEED).fingerprint.metadataHash,
    get(baseline, SEED).fingerprint.metadataHash,
  );
  assert.notEqual(get(changed, INCREMENTAL).version, get(baseline, INCREMENTAL).version);
  // Two levels down: the parent's version, not its data hash, feeds the parent data hash.
  assert.notEqual(get(changed, FULL).version, get(baseline, FULL).version);
  assert.match(get(changed, SEED).node.seedCsv ?? '', /9,3,2020-01-08/);
});

test('batch_size is metadata, the time column is data', async () => {
  const batch = await snapshots((dir) =>
    edit(
      dir,
      'models/incremental_model.sql',
      'time_column event_date',
      'time_column event_date,\n    batch_size 7',
    ),
  );
  assert.equal(get(batch, INCREMENTAL).version, get(baseline, INCREMENTAL).version);
  assert.notEqual(
    get(batch, INCREMENTAL).fingerprint.metadataHash,
    get(baseline, INCREMENTAL).fingerprint.metadataHash,
  );
  const timeColumn = await snapshots((dir) =>
    edit(
      dir,
      'models/incremental_model.sql',
      'time_column event_date',
      "time_column (event_date, '%Y%m%d')",
    ),
  );
  assert.notEqual(get(timeColumn, INCREMENTAL).version, get(baseline, INCREMENTAL).version);
});

test("a custom audit's query counts as metadata", async () => {
  const changed = await snapshots((dir) =>
    edit(dir, 'audits/assert_positive_order_ids.sql', 'item_id < 0', 'item_id < 1'),
  );
  const before = get(baseline, FULL);
  const after = get(changed, FULL);
  assert.notEqual(after.fingerprint.metadataHash, before.fingerprint.metadataHash);
  assert.equal(after.version, before.version);
});

const VAR_MODEL = `MODEL (name sqlmesh_example.var_model, kind FULL);
SELECT item_id FROM sqlmesh_example.full_model WHERE item_id > @VAR('min_item', 0)
`;
const JINJA_MODEL = `MODEL (name sqlmesh_example.jinja_model, kind FULL);
JINJA_QUERY_BEGIN;
SELECT {{ double('item_id') }} AS doubled FROM sqlmesh_example.full_model
JINJA_END;
`;
const VAR_MODEL_NAME = '"db"."sqlmesh_example"."var_model"';
const JINJA_MODEL_NAME = '"db"."sqlmesh_example"."jinja_model"';

function withExtras(vars: string, macros: { used: string; unused: string }): (dir: string) => void {
  return (dir) => {
    writeFileSync(join(dir, 'models/var_model.sql'), VAR_MODEL);
    writeFileSync(join(dir, 'models/jinja_model.sql'), JINJA_MODEL);
    writeFileSync(join(dir, 'macros/double.sql'), macros.used);
    writeFileSync(join(dir, 'macros/other.sql'), macros.unused);
    const config = join(dir, 'config.yaml');
    writeFileSync(config, `${readFileSync(config, 'utf8')}\nvariables:\n${vars}`);
  };
}

const MACROS = {
  used: '{% macro double(col) %}{{ col }} * 2{% endmacro %}\n',
  unused: '{% macro other() %}1{% endmacro %}\n',
};

test('a model depends on the variables it reads and the Jinja macros it calls', async () => {
  const one = await snapshots(withExtras('  min_item: 1\n  unrelated: a\n', MACROS));
  const otherVar = await snapshots(withExtras('  min_item: 1\n  unrelated: b\n', MACROS));
  const readVar = await snapshots(withExtras('  min_item: 2\n  unrelated: a\n', MACROS));
  assert.equal(get(otherVar, VAR_MODEL_NAME).version, get(one, VAR_MODEL_NAME).version);
  assert.notEqual(get(readVar, VAR_MODEL_NAME).version, get(one, VAR_MODEL_NAME).version);

  const unusedMacro = await snapshots(
    withExtras('  min_item: 1\n  unrelated: a\n', {
      ...MACROS,
      unused: '{% macro other() %}2{% endmacro %}\n',
    }),
  );
  const usedMacro = await snapshots(
    withExtras('  min_item: 1\n  unrelated: a\n', {
      ...MACROS,
      used: '{% macro double(col) %}{{ col }} * 3{% endmacro %}\n',
    }),
  );
  assert.equal(get(unusedMacro, JINJA_MODEL_NAME).version, get(one, JINJA_MODEL_NAME).version);
  assert.notEqual(get(usedMacro, JINJA_MODEL_NAME).version, get(one, JINJA_MODEL_NAME).version);
  assert.equal(get(usedMacro, VAR_MODEL_NAME).version, get(one, VAR_MODEL_NAME).version);

  // A variable read inside a called macro counts for the model calling it.
  const macroVar = {
    ...MACROS,
    used: "{% macro double(col) %}{{ col }} * {{ var('factor') }}{% endmacro %}\n",
  };
  const factor2 = await snapshots(withExtras('  min_item: 1\n  factor: 2\n', macroVar));
  const factor3 = await snapshots(withExtras('  min_item: 1\n  factor: 3\n', macroVar));
  assert.notEqual(get(factor3, JINJA_MODEL_NAME).version, get(factor2, JINJA_MODEL_NAME).version);
  assert.equal(get(factor3, VAR_MODEL_NAME).version, get(factor2, VAR_MODEL_NAME).version);
});
