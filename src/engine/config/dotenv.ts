/**
 * `.env` files, read the way SQLMesh reads them (it uses python-dotenv):
 *
 * - `KEY=VALUE`, optionally prefixed with `export `; spaces around `=` are allowed.
 * - Unquoted values run to the end of the line; ` # comment` after whitespace is dropped.
 * - `'single'` quoted values are taken as written except `\\` and `\'`.
 * - `"double"` quoted values decode `\n`, `\t`, `\"`, `\\` and the other C escapes,
 *   and both kinds of quotes may span several lines.
 * - `#` comment lines and blank lines are skipped; a bare `KEY` with no `=` sets nothing.
 * - `${NAME}` and `${NAME:-default}` expand to an earlier value from the same file,
 *   else the given environment, else the default, else the empty string.
 *
 * Anything else is a mistake reported as `file:line: reason`.
 */

import { readFileSync, statSync } from 'node:fs';

import { ConfigError } from '../errors.js';

const DOUBLE_QUOTE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

/** Whitespace that does not end a line. */
function isBlank(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t' || ch === '\f' || ch === '\v';
}

function isLineEnd(ch: string | undefined): boolean {
  return ch === '\n' || ch === '\r';
}

/**
 * Parses the text of a `.env` file into its variables, in file order.
 * `path` only names the file in error messages. `env` supplies values for
 * `${NAME}` references that the file itself does not define.
 */
export function parseDotenv(
  text: string,
  path: string,
  env: Record<string, string | undefined> = {},
): Record<string, string> {
  const raw = new Parser(text, path).parse();
  const values: Record<string, string> = {};
  for (const [key, value] of raw) {
    // As python-dotenv with override: values already read from the file win over the environment.
    values[key] = expandVariables(value, (name) => values[name] ?? env[name]);
  }
  return values;
}

/**
 * Reads and parses a `.env` file. Returns undefined when there is no such file
 * (a directory of that name counts as no file, as in SQLMesh).
 * `displayPath` names the file in error messages (defaults to `path`).
 */
export function readDotenvFile(
  path: string,
  env: Record<string, string | undefined> = {},
  displayPath: string = path,
): Record<string, string> | undefined {
  let text: string;
  try {
    if (!statSync(path).isFile()) return undefined;
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(displayPath, `cannot read the file: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return parseDotenv(text, displayPath, env);
}

function expandVariables(value: string, lookup: (name: string) => string | undefined): string {
  return value.replace(
    /\$\{([^}:]*)(?::-([^}]*))?\}/g,
    (_match, name: string, fallback: string | undefined) => lookup(name) ?? fallback ?? '',
  );
}

class Parser {
  private pos = 0;
  private line = 1;
  private readonly out: [string, string][] = [];

  constructor(
    private readonly text: string,
    private readonly path: string,
  ) {}

  parse(): [string, string][] {
    this.pos = this.text.startsWith('\uFEFF') ? 1 : 0;
    while (this.pos < this.text.length) this.binding();
    return this.out;
  }

  private fail(reason: string, line = this.line): never {
    throw new ConfigError(`${this.path}:${line}`, reason);
  }

  private peek(offset = 0): string | undefined {
    return this.text[this.pos + offset];
  }

  private skipBlanks(): void {
    while (isBlank(this.peek())) this.pos++;
  }

  /** Consumes one line ending, if there is one. */
  private endLine(): void {
    if (this.peek() === '\r') this.pos++;
    if (this.peek() === '\n') this.pos++;
    this.line++;
  }

  private skipRestOfLine(): void {
    while (this.pos < this.text.length && !isLineEnd(this.peek())) this.pos++;
    if (this.pos < this.text.length) this.endLine();
  }

  private binding(): void {
    this.skipBlanks();
    const ch = this.peek();
    if (ch === undefined) return;
    if (isLineEnd(ch)) {
      this.endLine();
      return;
    }
    if (ch === '#') {
      this.skipRestOfLine();
      return;
    }
    const startLine = this.line;
    if (this.text.startsWith('export', this.pos) && isBlank(this.peek(6))) {
      this.pos += 6;
      this.skipBlanks();
    }
    const key = this.key();
    this.skipBlanks();
    if (this.peek() !== '=') {
      if (this.atLineEnd() || this.peek() === '#') {
        // A bare name: python-dotenv records it without a value, so nothing is set.
        this.skipRestOfLine();
        return;
      }
      this.fail(`expected \`=\` after ${key}; write ${key}=value`);
    }
    this.pos++;
    this.skipBlanks();
    const value = this.value(key, startLine);
    this.out.push([key, value]);
  }

  private atLineEnd(): boolean {
    const ch = this.peek();
    return ch === undefined || isLineEnd(ch);
  }

  private key(): string {
    if (this.peek() === "'") {
      const end = this.text.indexOf("'", this.pos + 1);
      const lineEnd = this.text.slice(this.pos, end).search(/[\r\n]/);
      if (end <= this.pos + 1 || lineEnd !== -1) this.fail('a quoted name needs a closing quote');
      const key = this.text.slice(this.pos + 1, end);
      this.pos = end + 1;
      return key;
    }
    const start = this.pos;
    while (this.pos < this.text.length && /[^=#\s]/.test(this.text[this.pos] ?? '')) this.pos++;
    if (this.pos === start) {
      if (this.peek() === '=') this.fail('a variable name is missing before `=`');
      this.fail(`unexpected \`${this.peek() ?? ''}\`; expected NAME=value`);
    }
    return this.text.slice(start, this.pos);
  }

  private value(key: string, startLine: number): string {
    const quote = this.peek();
    if (quote === "'" || quote === '"') {
      const value = this.quoted(quote, key, startLine);
      this.skipBlanks();
      if (this.peek() === '#') {
        while (!this.atLineEnd()) this.pos++;
      }
      if (!this.atLineEnd()) {
        this.fail(`unexpected text after the closing quote of ${key}; quote the whole value`);
      }
      this.skipRestOfLine();
      return value;
    }
    const start = this.pos;
    while (!this.atLineEnd()) this.pos++;
    const rawValue = this.text.slice(start, this.pos);
    this.skipRestOfLine();
    // An inline comment needs whitespace before its `#`; `a#b` keeps the `#`.
    return rawValue.replace(/\s+#.*$/, '').trimEnd();
  }

  private quoted(quote: string, key: string, startLine: number): string {
    this.pos++;
    let out = '';
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) {
        this.fail(
          `the ${quote === '"' ? 'double' : 'single'} quote opened for ${key} is never closed`,
          startLine,
        );
      }
      if (ch === quote) {
        this.pos++;
        return out;
      }
      if (ch === '\\') {
        const next = this.peek(1);
        if (quote === '"' && next !== undefined && next in DOUBLE_QUOTE_ESCAPES) {
          out += DOUBLE_QUOTE_ESCAPES[next];
          this.pos += 2;
          continue;
        }
        if (quote === "'" && (next === '\\' || next === "'")) {
          out += next;
          this.pos += 2;
          continue;
        }
      }
      if (ch === '\n' || (ch === '\r' && this.peek(1) !== '\n')) this.line++;
      out += ch;
      this.pos++;
    }
  }
}
