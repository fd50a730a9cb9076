import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { parseDotenv, readDotenvFile } from '../../../src/engine/config/dotenv.js';
import { ConfigError } from '../../../src/engine/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'tideline-dotenv-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function fails(text: string, line: number, pattern: RegExp): void {
  assert.throws(
    () => parseDotenv(text, '.env'),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.equal(err.where, `.env:${line}`);
      assert.doesNotMatch(err.message, /\n/);
      assert.match(err.message, pattern);
      return true;
    },
  );
}

describe('parseDotenv', () => {
  test('reads plain, exported, spaced and comment-trailed assignments', () => {
    const values = parseDotenv(
      [
        '# a comment',
        '',
        'PLAIN=value',
        'export EXPORTED=yes',
        '  SPACED  =  padded value  ',
        'WITH_COMMENT=abc # trailing note',
        'HASH_INSIDE=abc#def',
        'EMPTY=',
        'URL=postgresql://u:p@host/db?sslmode=require&x=1',
        '\tINDENTED=1',
      ].join('\n'),
      '.env',
    );
    assert.deepEqual(values, {
      PLAIN: 'value',
      EXPORTED: 'yes',
      SPACED: 'padded value',
      WITH_COMMENT: 'abc',
      HASH_INSIDE: 'abc#def',
      EMPTY: '',
      URL: 'postgresql://u:p@host/db?sslmode=require&x=1',
      INDENTED: '1',
    });
  });

  test('decodes escapes in double quotes and keeps single quotes literal', () => {
    const values = parseDotenv(
      [
        'DQ="line1\\nline2\\t\\"quoted\\" \\\\ end"',
        "SQ='raw \\n stays, \\' is a quote'",
        'DQ_HASH="a # not a comment" # but this is',
        'MULTI="first',
        'second"',
        'AFTER=ok',
      ].join('\n'),
      '.env',
    );
    assert.equal(values.DQ, 'line1\nline2\t"quoted" \\ end');
    assert.equal(values.SQ, "raw \\n stays, ' is a quote");
    assert.equal(values.DQ_HASH, 'a # not a comment');
    assert.equal(values.MULTI, 'first\nsecond');
    assert.equal(values.AFTER, 'ok');
  });

  test('handles CRLF line endings and a byte order mark', () => {
    assert.deepEqual(parseDotenv('\uFEFFA=1\r\nB="2"\r\n\r\nC=3', '.env'), {
      A: '1',
      B: '2',
      C: '3',
    });
  });

  test('a bare name sets nothing, as python-dotenv does', () => {
    assert.deepEqual(parseDotenv('JUST_A_NAME\nJUST_ANOTHER # note\nX=1', '.env'), { X: '1' });
  });

  test('expands ${NAME} from the file first, then the environment, then the default', () => {
    const values = parseDotenv(
      [
        'HOST=db.internal',
        'URL=postgres://${HOST}:${PORT:-5432}/${DB}',
        'HOME_DIR="${HOME}/x"',
        'MISSING=[${NOPE}]',
      ].join('\n'),
      '.env',
      { HOST: 'ignored', DB: 'analytics', HOME: '/home/u' },
    );
    assert.equal(values.URL, 'postgres://db.internal:5432/analytics');
    assert.equal(values.HOME_DIR, '/home/u/x');
    assert.equal(values.MISSING, '[]');
  });

  test('malformed lines fail with file:line', () => {
    fails('A=1\n=no_name', 2, /name is missing/);
    fails('A=1\nB=2\nNO EQUALS HERE', 3, /expected `=` after NO/);
    fails('A="unterminated\nB=2', 1, /never closed/);
    fails("A=1\n\nC='open", 3, /single quote .* never closed/);
    fails('A="closed" trailing', 1, /unexpected text after the closing quote of A/);
  });

  test('readDotenvFile returns undefined for a missing file or a folder', () => {
    assert.equal(readDotenvFile(join(dir, 'absent.env')), undefined);
    mkdirSync(join(dir, 'folder.env'));
    assert.equal(readDotenvFile(join(dir, 'folder.env')), undefined);
    writeFileSync(join(dir, 'real.env'), 'TOKEN=abc\n');
    assert.deepEqual(readDotenvFile(join(dir, 'real.env')), { TOKEN: 'abc' });
  });
});
