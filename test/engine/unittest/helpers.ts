/** Shared set-up for unit test tests: temporary copies of the shop fixture project. */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';
import { loadProject, type Project } from '../../../src/engine/project/project-loader.js';
import { fixturesDir } from '../../helpers/paths.js';

export const shopDir = join(fixturesDir, 'unittest', 'shop');

const made: string[] = [];
after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A new empty folder, removed when the test file finishes. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tideline-unittest-'));
  made.push(dir);
  return dir;
}

/**
 * A copy of the shop project; `files` (path -> text) are written into it,
 * and `keepTests: false` removes the fixture's own tests first.
 */
export function shopCopy(files: Record<string, string> = {}, keepTests = true): string {
  const dir = tempDir();
  cpSync(shopDir, dir, { recursive: true });
  if (!keepTests) {
    rmSync(join(dir, 'tests'), { recursive: true, force: true });
    mkdirSync(join(dir, 'tests'));
  }
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

export function load(dir: string): Promise<Project> {
  return loadProject(dir, { env: {} });
}
