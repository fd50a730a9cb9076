import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProjectError } from '../../../src/engine/errors.js';
import {
  DEFAULT_NA_VALUES,
  decodeSeed,
  readSeed,
  typeCategory,
} from '../../../src/engine/evaluate/seed-reader.js';

const path = 'seeds/items.csv';

describe('readSeed parsing', () => {
  it('reads quoted fields with delimiters, newlines, doubled quotes, CRLF and a BOM', () => {
    const csv = '\ufeffid,note\r\n1,"a, b"\r\n2,"line1\nline2"\r\n3,"say ""hi"""\r\n4,plain\r\n';
    const seed = readSeed(csv, { path });
    assert.deepEqual(seed.columns, [
      { name: 'id', type: 'BIGINT' },
      { name: 'note', type: 'TEXT' },
    ]);
    assert.deepEqual(seed.rows, [
      [1, 'a, b'],
      [2, 'line1\nline2'],
      [3, 'say "hi"'],
      [4, 'plain'],
    ]);
  });

  it('skips blank lines and fills missing trailing fields with NULL', () => {
    const seed = readSeed('a,b\n1,x\n\n2\n', { path });
    assert.deepEqual(seed.rows, [
      [1, 'x'],
      [2, null],
    ]);
  });

  it('turns every default NA string into NULL', () => {
    const csv = ['v,k', ...DEFAULT_NA_VALUES.map((na, i) => `${na === '' ? '' : na},${i}`)].join(
      '\n',
    );
    const seed = readSeed(csv, { path, columns: [{ name: 'v', type: 'TEXT' }] });
    assert.equal(seed.rows.length, DEFAULT_NA_VALUES.length);
    for (const row of seed.rows) assert.deepEqual(row, [null]);
    // A string close to, but not, an NA string stays text.
    assert.deepEqual(readSeed('v\nNil\n', { path }).rows, [['Nil']]);
  });

  it('applies na_values, keep_default_na and per-column na_values', () => {
    const csv = 'a,b\n-,NA\nx,-\n';
    assert.deepEqual(readSeed(csv, { path, csvSettings: { na_values: ['-'] } }).rows, [
      [null, null],
      ['x', null],
    ]);
    assert.deepEqual(
      readSeed(csv, { path, csvSettings: { na_values: ['-'], keep_default_na: false } }).rows,
      [
        [null, 'NA'],
        ['x', null],
      ],
    );
    assert.deepEqual(readSeed(csv, { path, csvSettings: { na_values: { a: ['-'] } } }).rows, [
      [null, null],
      ['x', '-'],
    ]);
  });

  it('honours delimiter, quotechar, escapechar, doublequote, skipinitialspace and lineterminator', () => {
    assert.deepEqual(
      readSeed("a|b\n1|'x|y'\n", { path, csvSettings: { delimiter: '|', quotechar: "'" } }).rows,
      [[1, 'x|y']],
    );
    assert.deepEqual(
      readSeed('a,b\n1,"x\\"y"\n2,p\\,q\n', {
        path,
        csvSettings: { escapechar: '\\', doublequote: false },
      }).rows,
      [
        [1, 'x"y'],
        [2, 'p,q'],
      ],
    );
    assert.deepEqual(
      readSeed('a,b\n1,  x\n', { path, csvSettings: { skipinitialspace: true } }).rows,
      [[1, 'x']],
    );
    assert.deepEqual(readSeed('a,b;1,x;2,y', { path, csvSettings: { lineterminator: ';' } }).rows, [
      [1, 'x'],
      [2, 'y'],
    ]);
  });

  it('keeps backslashes as ordinary characters by default', () => {
    assert.deepEqual(readSeed('p\nC:\\dir\\n\n', { path }).rows, [['C:\\dir\\n']]);
  });
});

describe('readSeed types', () => {
  it('infers BIGINT, DOUBLE, BOOLEAN and TEXT per column', () => {
    const csv = 'i,f,b,t,d,n,e\n1,1.5,true,x,2024-01-01,1,\n-2,3,False,y,2024-01-02,,\n';
    const seed = readSeed(csv, { path });
    assert.deepEqual(
      seed.columns.map((c) => c.type),
      ['BIGINT', 'DOUBLE', 'BOOLEAN', 'TEXT', 'TEXT', 'DOUBLE', 'DOUBLE'],
    );
    assert.deepEqual(seed.rows, [
      [1, 1.5, true, 'x', '2024-01-01', 1, null],
      [-2, 3, false, 'y', '2024-01-02', null, null],
    ]);
  });

  it('keeps integers beyond 2^53 exact', () => {
    assert.deepEqual(readSeed('v\n9007199254740993\n', { path }).rows, [[9007199254740993n]]);
  });

  it('types values by declared columns, keeping only those, in declared order', () => {
    const csv = 'id,name,price,day,ok,at,extra\n7,Ann,12.50,2024-02-29,yes,2024-01-01 10:00:00,z\n';
    const columns = [
      { name: 'day', type: 'DATE' },
      { name: 'id', type: 'INTEGER' },
      { name: 'price', type: 'DECIMAL(10, 2)' },
      { name: 'ok', type: 'BOOLEAN' },
      { name: 'name', type: 'VARCHAR' },
      { name: 'at', type: 'TIMESTAMP' },
    ];
    const seed = readSeed(csv, { path, columns });
    assert.deepEqual(seed.columns, columns);
    assert.deepEqual(seed.rows, [['2024-02-29', 7, '12.50', true, 'Ann', '2024-01-01 10:00:00']]);
  });

  it('keeps declared text columns exactly as written', () => {
    const seed = readSeed('code\n007\n', { path, columns: [{ name: 'code', type: 'TEXT' }] });
    assert.deepEqual(seed.rows, [['007']]);
  });

  it('matches declared columns to the header ignoring case, and normalizes header names', () => {
    const seed = readSeed('ID\n1\n', { path, columns: [{ name: 'id', type: 'BIGINT' }] });
    assert.deepEqual(seed.rows, [[1]]);
    const lowered = readSeed('ID,Name\n1,a\n', {
      path,
      normalizeColumnName: (n) => n.toLowerCase(),
    });
    assert.deepEqual(
      lowered.columns.map((c) => c.name),
      ['id', 'name'],
    );
  });

  it('classifies types', () => {
    assert.equal(typeCategory('decimal(10, 2)'), 'decimal');
    assert.equal(typeCategory('timestamp with time zone'), 'timestamp');
    assert.equal(typeCategory('double precision'), 'float');
    assert.equal(typeCategory('varchar(20)'), 'text');
    assert.equal(typeCategory('int8'), 'integer');
    assert.equal(typeCategory('JSON'), 'other');
  });

  it('decodes other encodings named in csv_settings', () => {
    const bytes = Uint8Array.from([0x61, 0x0a, 0xe9, 0x0a]);
    const text = decodeSeed(bytes, { path, csvSettings: { encoding: 'latin-1' } });
    assert.deepEqual(readSeed(text, { path }).rows, [['é']]);
    assert.throws(() => decodeSeed(bytes, { path }), /seeds\/items\.csv:1:1: .*utf-8/);
  });
});

describe('readSeed errors', () => {
  const id = [{ name: 'id', type: 'INTEGER' }];
  const corpus: Array<{
    name: string;
    csv: string;
    options?: Partial<Parameters<typeof readSeed>[1]>;
    at: string;
    says: RegExp;
  }> = [
    { name: 'unterminated quote', csv: 'a,b\n1,"open\n2,x\n', at: '2:3', says: /never ends/ },
    {
      name: 'too many fields',
      csv: 'a,b\n1,2\n3,4,5\n',
      at: '3:5',
      says: /3 fields but the header has 2/,
    },
    {
      name: 'text in INTEGER',
      csv: 'id\n1\nabc\n',
      options: { columns: id },
      at: '3:1',
      says: /"abc" in column "id" is not a whole number/,
    },
    {
      name: 'INTEGER out of range',
      csv: 'x,id\n1,3000000000\n',
      options: { columns: id },
      at: '2:3',
      says: /out of range for INTEGER/,
    },
    {
      name: 'text in DOUBLE',
      csv: 'v\n1.5\n1.5.2\n',
      options: { columns: [{ name: 'v', type: 'DOUBLE' }] },
      at: '3:1',
      says: /is not a number/,
    },
    {
      name: 'impossible DATE',
      csv: 'd\n2024-13-01\n',
      options: { columns: [{ name: 'd', type: 'DATE' }] },
      at: '2:1',
      says: /is not a date/,
    },
    {
      name: 'word in BOOLEAN',
      csv: 'b\nmaybe\n',
      options: { columns: [{ name: 'b', type: 'BOOLEAN' }] },
      at: '2:1',
      says: /is not a boolean/,
    },
    {
      name: 'text in DECIMAL',
      csv: 'p\n"1,5"\n',
      options: { columns: [{ name: 'p', type: 'DECIMAL(5,2)' }] },
      at: '2:1',
      says: /is not a decimal/,
    },
    {
      name: 'declared column missing',
      csv: 'a\n1\n',
      options: { columns: id },
      at: '1:1',
      says: /declared column "id" is not in the CSV header/,
    },
    { name: 'duplicate header', csv: 'a,b,a\n1,2,3\n', at: '1:5', says: /names column "a" twice/ },
    {
      name: 'unnamed header column',
      csv: 'a,,c\n1,2,3\n',
      at: '1:3',
      says: /header column 2 has no name/,
    },
    { name: 'empty file', csv: '', at: '1:1', says: /seed file is empty/ },
    {
      name: 'dangling escape',
      csv: 'a\nx\\',
      options: { csvSettings: { escapechar: '\\' } },
      at: '2:2',
      says: /escape character/,
    },
    {
      name: 'error after a multi-line field',
      csv: 'a,b\n"x\ny",1\n2,3,4\n',
      at: '4:5',
      says: /3 fields/,
    },
  ];

  for (const c of corpus) {
    it(`locates: ${c.name}`, () => {
      assert.throws(
        () => readSeed(c.csv, { path, ...c.options }),
        (err: unknown) => {
          assert.ok(err instanceof ProjectError, String(err));
          assert.equal(err.message.includes('\n'), false, 'one line');
          assert.ok(err.message.startsWith(`${path}:${c.at}: `), err.message);
          assert.match(err.message, c.says);
          return true;
        },
      );
    });
  }

  it('rejects bad csv_settings with the key named', () => {
    assert.throws(
      () => readSeed('a\n1\n', { path, csvSettings: { delimiter: '||' } }),
      /csv_settings delimiter must be a single character/,
    );
    assert.throws(
      () => readSeed('a\n1\n', { path, csvSettings: { sep: ';' } }),
      /csv_settings sep is not a known setting/,
    );
    assert.throws(
      () => readSeed('a\n1\n', { path, csvSettings: { doublequote: 'maybe' } }),
      /csv_settings doublequote must be true or false/,
    );
  });
});
