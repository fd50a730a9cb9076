import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  let dir = start;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${start}`);
    dir = parent;
  }
  return dir;
}

/** The repository root, whether tests run from dist/ or from sources. */
export const repoRoot = findRoot(dirname(fileURLToPath(import.meta.url)));
export const fixturesDir = join(repoRoot, 'fixtures');
/** The compiled CLI entry point. */
export const cliPath = join(repoRoot, 'bin', 'tideline.js');
