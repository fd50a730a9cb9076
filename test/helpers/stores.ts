/**
 * The cloud's two stores for tests: a SQLite file in a temporary folder and a
 * fresh PostgreSQL database. Store tests run once per kind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { openStore, type Store, type StoreKind } from '../../src/cloud/store/database.js';
import { createTestDatabase } from './postgres.js';

export interface StoreTarget {
  kind: StoreKind;
  /** A URL for a new, empty store of this kind (each call gives a new one). */
  newUrl(): Promise<string>;
}

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Both kinds of store. Call at the top level of a test file (it may start PostgreSQL). */
export async function storeTargets(): Promise<StoreTarget[]> {
  const first = await createTestDatabase();
  let used = false;
  return [
    {
      kind: 'sqlite',
      newUrl: async () => {
        const dir = mkdtempSync(join(tmpdir(), 'tideline-store-'));
        dirs.push(dir);
        return `sqlite:${join(dir, 'tideline.db')}`;
      },
    },
    {
      kind: 'postgres',
      newUrl: async () => {
        if (!used) {
          used = true;
          return first.url;
        }
        return (await createTestDatabase()).url;
      },
    },
  ];
}

/** Opens a new store of the target's kind, closed when the file's tests end. */
export async function newStore(target: StoreTarget): Promise<Store> {
  const store = await openStore(await target.newUrl());
  after(() => store.close());
  return store;
}
