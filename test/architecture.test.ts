import assert from 'node:assert/strict';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, dirname, sep } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './helpers/paths.js';

/** Which parts each part may import (ARCHITECTURE.md, "Parts"). */
const allowed: Record<string, string[]> = {
  engine: [],
  protocol: [],
  cloud: ['engine', 'protocol'],
  executor: ['engine', 'protocol'],
  cli: ['engine', 'protocol', 'cloud', 'executor', 'web'],
  web: ['protocol'],
};

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...sources(full));
    else if (/\.(ts|tsx)$/.test(entry)) out.push(full);
  }
  return out;
}

/** Relative import specifiers of a source file (static imports, re-exports, dynamic imports). */
function importsOf(source: string): string[] {
  const found: string[] = [];
  const re =
    /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]/g;
  for (const m of source.matchAll(re)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (spec?.startsWith('.')) found.push(spec);
  }
  return found;
}

function violations(srcRoot: string): string[] {
  const out: string[] = [];
  for (const part of readdirSync(srcRoot)) {
    const partDir = join(srcRoot, part);
    if (!statSync(partDir).isDirectory()) continue;
    const may = allowed[part];
    if (!may) {
      out.push(`src/${part} is not a part named in ARCHITECTURE.md`);
      continue;
    }
    for (const file of sources(partDir)) {
      for (const spec of importsOf(readFileSync(file, 'utf8'))) {
        const target = resolve(dirname(file), spec);
        const rel = relative(srcRoot, target);
        if (rel.startsWith('..')) {
          out.push(`${relative(srcRoot, file)} imports ${spec}, outside src/`);
          continue;
        }
        const targetPart = rel.split(sep)[0]!;
        if (targetPart !== part && !may.includes(targetPart)) {
          out.push(`${relative(srcRoot, file)} (${part}) imports ${spec} (${targetPart})`);
        }
      }
    }
  }
  return out;
}

test('imports only cross part boundaries in the allowed direction', () => {
  assert.deepEqual(violations(join(repoRoot, 'src')), []);
});

test('the boundary check notices an import in the wrong direction', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'tideline-arch-'));
  try {
    mkdirSync(join(tmp, 'engine'));
    mkdirSync(join(tmp, 'cloud'));
    mkdirSync(join(tmp, 'executor'));
    writeFileSync(join(tmp, 'engine', 'plan.ts'), `import { x } from '../cloud/server.js';\n`);
    writeFileSync(
      join(tmp, 'cloud', 'server.ts'),
      `const m = await import('../executor/agent.js');\n`,
    );
    writeFileSync(join(tmp, 'executor', 'agent.ts'), `export * from "../engine/plan.js";\n`);
    assert.deepEqual(violations(tmp).sort(), [
      `cloud${sep}server.ts (cloud) imports ../executor/agent.js (executor)`,
      `engine${sep}plan.ts (engine) imports ../cloud/server.js (cloud)`,
    ]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
