import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { loadProject } from '../../../src/engine/project/project-loader.js';
import { buildSnapshots } from '../../../src/engine/snapshot/snapshot-builder.js';
import {
  canonicalTableName,
  physicalTableName,
  shortenIdentifier,
  viewName,
} from '../../../src/engine/snapshot/table-naming.js';
import { writeStarterProject } from '../../../src/engine/starter/starter-project.js';

const base = mkdtempSync(join(tmpdir(), 'tideline-naming-'));
after(() => rmSync(base, { recursive: true, force: true }));

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

test('physical tables of the starter models', async () => {
  const dir = join(base, 'starter');
  writeStarterProject(dir, 'duckdb');
  const project = await loadProject(dir, { env: {} });
  const snapshots = buildSnapshots(project, { now: 0 });
  const names = [...snapshots.values()].map((s) =>
    canonicalTableName(physicalTableName(s.name, s.version)),
  );
  const v = (table: string) => snapshots.get(`"db"."sqlmesh_example"."${table}"`)!.version;
  assert.deepEqual(names, [
    `"db"."sqlmesh__sqlmesh_example"."sqlmesh_example__seed_model__${v('seed_model')}"`,
    `"db"."sqlmesh__sqlmesh_example"."sqlmesh_example__incremental_model__${v('incremental_model')}"`,
    `"db"."sqlmesh__sqlmesh_example"."sqlmesh_example__full_model__${v('full_model')}"`,
  ]);
});

test('a dev table adds __dev; the catalog is kept', () => {
  const t = physicalTableName('"db"."sushi"."orders"', '1234', { dev: true });
  assert.equal(t.catalog?.name, 'db');
  assert.equal(t.schema?.name, 'sqlmesh__sushi');
  assert.equal(t.name.name, 'sushi__orders__1234__dev');
  const noCatalog = physicalTableName('"sushi"."orders"', '1234');
  assert.equal(noCatalog.catalog, undefined);
  assert.equal(canonicalTableName(noCatalog), '"sqlmesh__sushi"."sushi__orders__1234"');
});

test('characters other than letters, digits and _ become _ in the table name', () => {
  const t = physicalTableName('"my-db"."raw data"."items.v2"', 'abc');
  assert.equal(t.name.name, 'raw_data__items_v2__abc');
  assert.equal(t.catalog?.name, 'my-db');
});

test('long names are shortened to fit, keep the version, and stay distinct', () => {
  const long = 'x'.repeat(70);
  const a = physicalTableName(`"db"."analytics"."${long}_a"`, '0123456789');
  const b = physicalTableName(`"db"."analytics"."${long}_b"`, '0123456789');
  for (const t of [a, b]) {
    assert.ok(bytes(t.name.name) <= 63, `${t.name.name} is ${bytes(t.name.name)} bytes`);
    assert.ok(t.name.name.startsWith('analytics__xxx'));
    assert.ok(t.name.name.endsWith('__0123456789'));
  }
  assert.notEqual(a.name.name, b.name.name);
  // Deterministic: the same name shortens the same way.
  assert.deepEqual(physicalTableName(`"db"."analytics"."${long}_a"`, '0123456789'), a);
  const dev = physicalTableName(`"db"."analytics"."${long}_a"`, '0123456789', { dev: true });
  assert.ok(dev.name.name.endsWith('__0123456789__dev') && bytes(dev.name.name) <= 63);

  const longSchema = physicalTableName(`"db"."${'s'.repeat(60)}"."t"`, '1');
  assert.ok(bytes(longSchema.schema!.name) <= 63);
  assert.ok(longSchema.schema!.name.startsWith('sqlmesh__sss'));

  const fits = physicalTableName('"db"."s"."t"', '1', { maxIdentifierLength: 8 });
  assert.equal(bytes(fits.name.name) <= 8, true);
});

test('shortening never splits a multi-byte character', () => {
  const name = shortenIdentifier('é'.repeat(40), '__v1', 63);
  assert.ok(bytes(name) <= 63);
  assert.ok(!name.includes('\uFFFD'));
  assert.equal(Buffer.from(name, 'utf8').toString('utf8'), name);
  assert.equal(shortenIdentifier('short', '__v1', 63), 'short__v1');
});

test('view names: the model name in prod, a suffixed schema elsewhere', () => {
  const fqn = '"db"."sqlmesh_example"."full_model"';
  assert.equal(canonicalTableName(viewName(fqn, 'prod')), fqn);
  assert.equal(canonicalTableName(viewName(fqn, 'PROD')), fqn);
  assert.equal(
    canonicalTableName(viewName(fqn, 'Dev')),
    '"db"."sqlmesh_example__dev"."full_model"',
  );
  const long = viewName(fqn, 'feature_'.repeat(10));
  assert.ok(bytes(long.schema!.name) <= 63);
  assert.notEqual(long.schema!.name, viewName(fqn, 'feature_'.repeat(9)).schema!.name);
});
