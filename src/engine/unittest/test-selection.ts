/**
 * Finding a project's unit tests and choosing which to run: by name
 * (`test_name`, `tests/file.yaml::test_name`, or a whole file) and by a
 * `-k` pattern (a substring, or a glob with `*`, `?` or `[...]`).
 */
import { NotFoundError } from '../errors.js';
import type { Project } from '../project/project-loader.js';
import { readTestFile, type UnitTestDefinition } from './test-definition.js';

/** Every test of the project's tests/ folder (files named test*.yaml or test*.yml), in file order. */
export function discoverTests(project: Project): UnitTestDefinition[] {
  const options = { root: project.root, variables: project.variables, env: project.env };
  const out: UnitTestDefinition[] = [];
  for (const file of project.files.tests) out.push(...readTestFile(file, options));
  return out;
}

/** `file::name`, the name a test has across the project. */
export function qualifiedTestName(test: UnitTestDefinition): string {
  return `${test.file}::${test.name}`;
}

function hasGlob(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/** Whether `text` matches a shell-style glob (`*`, `?`, `[abc]`, `[!abc]`), whole. */
export function globMatch(pattern: string, text: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else if (ch === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close === -1) {
        re += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, close);
      if (body.startsWith('!')) body = '^' + body.slice(1);
      re += `[${body.replace(/\\/g, '\\\\')}]`;
      i = close;
    } else re += ch.replace(/[.+^${}()|\\/\]]/g, '\\$&');
  }
  return new RegExp(re + '$', 's').test(text);
}

/** The file part of a selector matches a test file given from the root, from tests/, or as a path ending. */
function fileMatches(selector: string, file: string): boolean {
  const s = selector.replace(/\\/g, '/').replace(/^\.\//, '');
  if (hasGlob(s)) return globMatch(s, file) || globMatch(s, file.replace(/^tests\//, ''));
  return file === s || file === `tests/${s}` || s.endsWith(`/${file}`);
}

function selectorMatches(selector: string, test: UnitTestDefinition): boolean {
  const sep = selector.lastIndexOf('::');
  if (sep !== -1) {
    const file = selector.slice(0, sep);
    const name = selector.slice(sep + 2);
    const nameOk = hasGlob(name) ? globMatch(name, test.name) : name === test.name;
    return nameOk && fileMatches(file, test.file);
  }
  if (/\.ya?ml$/i.test(selector) || (hasGlob(selector) && selector.includes('/'))) {
    return fileMatches(selector, test.file);
  }
  return hasGlob(selector) ? globMatch(selector, test.name) : selector === test.name;
}

/** Whether a `-k` pattern selects the test: a substring of, or a glob matching, its name or `file::name`. */
export function patternMatches(pattern: string, test: UnitTestDefinition): boolean {
  const full = qualifiedTestName(test);
  if (hasGlob(pattern)) return globMatch(pattern, test.name) || globMatch(pattern, full);
  return full.includes(pattern);
}

/**
 * The tests to run: all, or those `names` select, narrowed by `pattern`.
 * A name that selects nothing is a NotFoundError naming close matches.
 */
export function selectTests(
  tests: UnitTestDefinition[],
  options: { names?: string[]; pattern?: string },
): UnitTestDefinition[] {
  let selected = tests;
  if (options.names && options.names.length > 0) {
    const chosen = new Set<UnitTestDefinition>();
    for (const selector of options.names) {
      const matched = tests.filter((t) => selectorMatches(selector, t));
      if (matched.length === 0) {
        const word = selector.split('::').pop()?.toLowerCase() ?? selector;
        const close = tests
          .map((t) => t.name)
          .filter((n) => n.toLowerCase().includes(word) || word.includes(n.toLowerCase()))
          .slice(0, 3);
        throw new NotFoundError(
          `no unit test matches ${selector}` +
            (close.length
              ? `; did you mean ${close.join(', ')}?`
              : tests.length
                ? `; the project has ${tests.map(qualifiedTestName).slice(0, 5).join(', ')}${tests.length > 5 ? ', ...' : ''}`
                : '; the project has no tests (tests/test*.yaml)'),
        );
      }
      for (const t of matched) chosen.add(t);
    }
    selected = tests.filter((t) => chosen.has(t));
  }
  if (options.pattern !== undefined && options.pattern !== '') {
    const pattern = options.pattern;
    selected = selected.filter((t) => patternMatches(pattern, t));
  }
  return selected;
}
