import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelDefaultsConfig } from '../../../src/engine/config/config-types.js';
import type { ModelDefinition } from '../../../src/engine/model-types.js';
import { parseModelFile } from '../../../src/engine/parse/model-parser.js';
import { parseQuery } from '../../../src/engine/sql/query.js';
import {
  addedColumns,
  categorizeChange,
  isBreakingKindChange,
  type AutoCategory,
} from '../../../src/engine/plan/categorize.js';

const DUCKDB: ModelDefaultsConfig = { dialect: 'duckdb', extra: {} };

/** A model file with the given properties after its name, and `body` after the MODEL block. */
function model(body: string, props = 'kind FULL', dialect = 'duckdb'): ModelDefinition {
  return parseModelFile(`MODEL (\n  name s.m,\n  ${props}\n);\n${body}\n`, 'models/m.sql', {
    ...DUCKDB,
    dialect,
  });
}

function categorizeQueries(
  oldQuery: string,
  newQuery: string,
  dialect = 'duckdb',
): AutoCategory | undefined {
  return categorizeChange(
    model(oldQuery, 'kind FULL', dialect),
    model(newQuery, 'kind FULL', dialect),
    {
      dialect,
    },
  );
}

interface QueryCase {
  name: string;
  old: string;
  new: string;
  expected: AutoCategory | undefined;
  dialect?: string;
}

/**
 * Pairs of queries and the category SQLMesh's rule gives them: non-breaking
 * when the new query only adds projections, undecided (undefined, breaking
 * unless the user says otherwise) for every other change.
 */
const QUERY_CASES: QueryCase[] = [
  {
    name: 'a column added at the end',
    old: 'SELECT a, b FROM t',
    new: 'SELECT a, b, c FROM t',
    expected: 'non_breaking',
  },
  {
    name: 'a column added in the middle',
    old: 'SELECT a, b FROM t',
    new: 'SELECT a, c + 1 AS c1, b FROM t',
    expected: 'non_breaking',
  },
  {
    name: 'several complex projections added',
    old: 'SELECT 1 AS one, ds FROM t',
    new: 'SELECT 1 AS one, fun(other_fun(a + 1) * 2)::INT AS f, 2 AS two, CASE WHEN a > 0 THEN 1 END AS pos, ds FROM t',
    expected: 'non_breaking',
  },
  {
    name: 'a column renamed',
    old: 'SELECT a AS x FROM t',
    new: 'SELECT a AS y FROM t',
    expected: undefined,
  },
  {
    name: 'a column removed',
    old: 'SELECT a, b FROM t',
    new: 'SELECT a FROM t',
    expected: undefined,
  },
  {
    name: 'a column replaced and one added',
    old: 'SELECT a, b FROM t',
    new: 'SELECT a, c, d FROM t',
    expected: undefined,
  },
  {
    name: 'an expression changed',
    old: 'SELECT a, b + 1 AS b FROM t',
    new: 'SELECT a, b + 2 AS b FROM t',
    expected: undefined,
  },
  {
    name: 'columns reordered',
    old: 'SELECT a, b FROM t',
    new: 'SELECT b, a FROM t',
    expected: undefined,
  },
  {
    name: 'a WHERE clause added',
    old: 'SELECT a FROM t',
    new: 'SELECT a FROM t WHERE a > 1',
    expected: undefined,
  },
  {
    name: 'a WHERE condition changed',
    old: 'SELECT a FROM t WHERE a > 1',
    new: 'SELECT a FROM t WHERE a > 2',
    expected: undefined,
  },
  {
    name: 'a JOIN type changed',
    old: 'SELECT t.a, u.b FROM t LEFT JOIN u ON t.id = u.id',
    new: 'SELECT t.a, u.b FROM t INNER JOIN u ON t.id = u.id',
    expected: undefined,
  },
  {
    name: 'a JOIN added with a column from it',
    old: 'SELECT t.a FROM t',
    new: 'SELECT t.a, u.b FROM t LEFT JOIN u ON t.id = u.id',
    expected: undefined,
  },
  {
    name: 'the source table changed',
    old: 'SELECT a FROM t',
    new: 'SELECT a FROM t2',
    expected: undefined,
  },
  {
    name: 'DISTINCT added',
    old: 'SELECT a FROM t',
    new: 'SELECT DISTINCT a FROM t',
    expected: undefined,
  },
  {
    name: 'a column added to a DISTINCT select (more rows may come out)',
    old: 'SELECT DISTINCT a FROM t',
    new: 'SELECT DISTINCT a, b FROM t',
    expected: undefined,
  },
  {
    name: 'a window function column added',
    old: 'SELECT id, amount FROM t',
    new: 'SELECT id, amount, ROW_NUMBER() OVER (PARTITION BY id ORDER BY amount) AS rn, SUM(amount) OVER () AS total FROM t',
    expected: 'non_breaking',
  },
  {
    name: 'an aggregate column added to a grouped query',
    old: 'SELECT id, SUM(x) AS s FROM t GROUP BY id',
    new: 'SELECT id, SUM(x) AS s, COUNT(*) AS n, MAX(y) AS top FROM t GROUP BY id',
    expected: 'non_breaking',
  },
  {
    name: 'an aggregate column added to a query that did not aggregate (one row instead of many)',
    old: 'SELECT id FROM t',
    new: 'SELECT id, COUNT(*) AS n FROM t',
    expected: undefined,
  },
  {
    name: 'GROUP BY changed',
    old: 'SELECT id, SUM(x) AS s FROM t GROUP BY id',
    new: 'SELECT id, SUM(x) AS s FROM t GROUP BY id, y',
    expected: undefined,
  },
  {
    name: 'a column added inside a CTE and to the outer select',
    old: 'WITH c AS (SELECT a FROM t) SELECT a FROM c',
    new: 'WITH c AS (SELECT a, b FROM t) SELECT a, b FROM c',
    expected: 'non_breaking',
  },
  {
    name: 'a CTE filter changed',
    old: 'WITH c AS (SELECT a FROM t WHERE a > 0) SELECT a FROM c',
    new: 'WITH c AS (SELECT a FROM t WHERE a >= 0) SELECT a FROM c',
    expected: undefined,
  },
  {
    name: 'a CTE added',
    old: 'WITH c AS (SELECT a FROM t) SELECT a FROM c',
    new: 'WITH c AS (SELECT a FROM t), d AS (SELECT 1 AS one) SELECT a FROM c',
    expected: undefined,
  },
  {
    name: 'a column added to both branches of UNION ALL',
    old: 'SELECT a FROM t UNION ALL SELECT a FROM u',
    new: 'SELECT a, 1 AS src FROM t UNION ALL SELECT a, 2 AS src FROM u',
    expected: 'non_breaking',
  },
  {
    name: 'a column added to both branches of UNION (deduplication now sees it)',
    old: 'SELECT a FROM t UNION SELECT a FROM u',
    new: 'SELECT a, 1 AS src FROM t UNION SELECT a, 2 AS src FROM u',
    expected: undefined,
  },
  {
    name: 'a UNION ALL branch filter changed',
    old: 'SELECT a FROM t UNION ALL SELECT a FROM u',
    new: 'SELECT a FROM t UNION ALL SELECT a FROM u WHERE a IS NOT NULL',
    expected: undefined,
  },
  {
    name: 'UNION ALL turned into UNION',
    old: 'SELECT a FROM t UNION ALL SELECT a FROM u',
    new: 'SELECT a FROM t UNION SELECT a FROM u',
    expected: undefined,
  },
  {
    name: 'only whitespace, comments and keyword or identifier case changed',
    old: 'SELECT a, b FROM t WHERE a > 1',
    new: 'select\n  A, -- the key\n  b /* value */\nfrom T\nwhere a > 1',
    expected: 'non_breaking',
  },
  {
    name: 'an alias written with AS, and a column added',
    old: 'SELECT a x FROM t',
    new: 'SELECT a AS x, b FROM t',
    expected: 'non_breaking',
  },
  {
    name: 'a LIMIT added',
    old: 'SELECT a FROM t',
    new: 'SELECT a FROM t LIMIT 10',
    expected: undefined,
  },
  {
    name: 'ORDER BY changed',
    old: 'SELECT a FROM t ORDER BY a',
    new: 'SELECT a FROM t ORDER BY a DESC',
    expected: undefined,
  },
  {
    name: 'an UNNEST projection added (rows multiply)',
    old: 'SELECT id FROM t',
    new: 'SELECT id, UNNEST(tags) AS tag FROM t',
    expected: undefined,
  },
  {
    name: 'a generate_series projection added (rows multiply)',
    old: 'SELECT id FROM t',
    new: 'SELECT id, generate_series(1, 3) AS g FROM t',
    dialect: 'postgres',
    expected: undefined,
  },
  {
    name: 'a scalar subquery over UNNEST added',
    old: 'SELECT id FROM t',
    new: 'SELECT id, (SELECT MAX(x) FROM UNNEST(vals) AS u(x)) AS top FROM t',
    expected: 'non_breaking',
  },
  {
    name: 'a column added after a star',
    old: 'SELECT * FROM t',
    new: 'SELECT *, a + 1 AS a1 FROM t',
    expected: 'non_breaking',
  },
  {
    name: 'a column added to a subquery in FROM and the outer select',
    old: 'SELECT s.a FROM (SELECT a FROM t) AS s',
    new: 'SELECT s.a, s.b FROM (SELECT a, b FROM t) AS s',
    expected: 'non_breaking',
  },
  {
    name: 'the case of an unquoted identifier changed (PostgreSQL folds it)',
    old: 'SELECT A FROM t',
    new: 'SELECT a, b FROM t',
    dialect: 'postgres',
    expected: 'non_breaking',
  },
  {
    name: 'the case of a quoted identifier changed (PostgreSQL keeps it)',
    old: 'SELECT "A" FROM t',
    new: 'SELECT "a" FROM t',
    dialect: 'postgres',
    expected: undefined,
  },
  {
    name: 'a FROM clause added to a query without one',
    old: 'SELECT 1 AS one, ds',
    new: 'SELECT 1 AS one, ds FROM t',
    expected: undefined,
  },
  {
    name: 'a POSEXPLODE projection added in Spark SQL (rows multiply)',
    old: 'SELECT id FROM t',
    new: 'SELECT id, POSEXPLODE(arr) FROM t',
    dialect: 'spark',
    expected: undefined,
  },
  {
    name: 'a literal changed',
    old: "SELECT a FROM t WHERE s = 'x'",
    new: "SELECT a FROM t WHERE s = 'X'",
    expected: undefined,
  },
];

describe('categorizeChange: query corpus', () => {
  for (const c of QUERY_CASES) {
    it(`${c.name} -> ${c.expected ?? 'undecided'}`, () => {
      assert.equal(categorizeQueries(c.old, c.new, c.dialect), c.expected);
    });
  }

  it('the corpus holds both outcomes and at least 25 pairs', () => {
    assert.ok(QUERY_CASES.length >= 25);
    assert.ok(QUERY_CASES.some((c) => c.expected === 'non_breaking'));
    assert.ok(QUERY_CASES.some((c) => c.expected === undefined));
  });

  it('every query of the corpus parses, so each verdict comes from the rule', () => {
    const at = { file: 'models/m.sql', line: 1, column: 1 };
    for (const c of QUERY_CASES) {
      assert.doesNotThrow(() => parseQuery(c.old, c.dialect ?? 'duckdb', at), c.name);
      assert.doesNotThrow(() => parseQuery(c.new, c.dialect ?? 'duckdb', at), c.name);
    }
  });

  it('is never non-breaking in reverse for a pure addition (a removal)', () => {
    for (const c of QUERY_CASES) {
      if (c.expected !== 'non_breaking') continue;
      const forward = addedColumns(c.old, c.new, c.dialect ?? 'duckdb');
      if (forward === undefined || forward.length === 0) continue;
      assert.equal(categorizeQueries(c.new, c.old, c.dialect), undefined, c.name);
    }
  });
});

describe('categorizeChange: rendered queries', () => {
  it('compares the rendered queries when given, not the written ones', () => {
    const oldDef = model('SELECT a FROM @src');
    const newDef = model('SELECT a, @extra FROM @src');
    assert.equal(
      categorizeChange(oldDef, newDef, {
        dialect: 'duckdb',
        oldQuery: 'SELECT a FROM db.src',
        newQuery: 'SELECT a, 1 AS extra FROM db.src',
      }),
      'non_breaking',
    );
    assert.equal(
      categorizeChange(oldDef, newDef, {
        dialect: 'duckdb',
        oldQuery: 'SELECT a FROM db.src',
        newQuery: 'SELECT a, 1 AS extra FROM db.other',
      }),
      undefined,
    );
  });

  it('is undecided when a query does not parse', () => {
    const def = model('SELECT a FROM t');
    assert.equal(
      categorizeChange(def, def, {
        dialect: 'duckdb',
        oldQuery: 'SELECT a FROM t',
        newQuery: 'SELECT a, FROM WHERE',
      }),
      undefined,
    );
  });

  it('parses in the dialect given', () => {
    const oldDef = model('SELECT a FROM t');
    const newDef = model('SELECT a FROM t');
    const opts = { oldQuery: 'SELECT `a` FROM t', newQuery: 'SELECT `a`, `b` FROM t' };
    assert.equal(
      categorizeChange(oldDef, newDef, { ...opts, dialect: 'bigquery' }),
      'non_breaking',
    );
  });
});

describe('categorizeChange: beyond the query', () => {
  it('a kind change that needs a new table is breaking', () => {
    const q = 'SELECT a, ds FROM t';
    assert.equal(
      categorizeChange(model(q), model(q, 'kind VIEW'), { dialect: 'duckdb' }),
      'breaking',
    );
    assert.equal(
      categorizeChange(model(q), model(q, 'kind INCREMENTAL_BY_TIME_RANGE (time_column ds)'), {
        dialect: 'duckdb',
      }),
      'breaking',
    );
  });

  it('switching between incremental kinds with the same partitioning falls through to the query', () => {
    const byTime = (q: string): ModelDefinition =>
      model(q, 'kind INCREMENTAL_BY_TIME_RANGE (time_column ds)');
    const byKey = (q: string, extra = ''): ModelDefinition =>
      model(q, `kind INCREMENTAL_BY_UNIQUE_KEY (unique_key a)${extra}`);
    const q = 'SELECT a, ds FROM t';
    const d = { dialect: 'duckdb' };
    assert.equal(isBreakingKindChange(byTime(q), byKey(q)), false);
    assert.equal(categorizeChange(byTime(q), byKey(q), d), 'non_breaking');
    assert.equal(categorizeChange(byTime(q), byKey('SELECT a FROM t'), d), undefined);
    // A different partitioning needs a new table.
    assert.equal(categorizeChange(byTime(q), byKey(q, ',\n  partitioned_by (a)'), d), 'breaking');
  });

  it('a SQL model becoming a seed (or the reverse) is breaking', () => {
    const sql = model('SELECT 1 AS a');
    const seed = model('', "kind SEED (path 'data.csv')");
    assert.equal(categorizeChange(sql, seed, { dialect: 'duckdb' }), 'breaking');
    assert.equal(categorizeChange(seed, sql, { dialect: 'duckdb' }), 'breaking');
  });

  it('a changed lookback is undecided even with the same query', () => {
    const q = 'SELECT a, ds FROM t';
    const oldDef = model(q, 'kind INCREMENTAL_BY_TIME_RANGE (time_column ds, lookback 1)');
    const newDef = model(q, 'kind INCREMENTAL_BY_TIME_RANGE (time_column ds, lookback 2)');
    assert.equal(categorizeChange(oldDef, newDef, { dialect: 'duckdb' }), undefined);
  });

  it('pre- and post-statement changes with the same query are non-breaking (only the query counts)', () => {
    const oldDef = model("SET threads = 1;\nSELECT a FROM t;\nINSERT INTO log VALUES ('x')");
    const newDef = model("SET threads = 4;\nSELECT a FROM t;\nINSERT INTO log VALUES ('y')");
    assert.notDeepEqual(
      oldDef.preStatements.map((s) => s.sql),
      newDef.preStatements.map((s) => s.sql),
    );
    assert.equal(categorizeChange(oldDef, newDef, { dialect: 'duckdb' }), 'non_breaking');
    // The statements still do not hide a query change.
    const changed = model("SET threads = 4;\nSELECT b FROM t;\nINSERT INTO log VALUES ('y')");
    assert.equal(categorizeChange(oldDef, changed, { dialect: 'duckdb' }), undefined);
  });

  it('a metadata-only change (owner, cron) is non-breaking', () => {
    const q = 'SELECT a FROM t';
    const oldDef = model(q, 'kind FULL,\n  owner ann');
    const newDef = model(q, "kind FULL,\n  owner bob,\n  cron '@hourly'");
    assert.equal(categorizeChange(oldDef, newDef, { dialect: 'duckdb' }), 'non_breaking');
  });
});

describe('categorizeChange: seeds', () => {
  const seed = (props = ''): ModelDefinition => model('', `kind SEED (path 'items.csv')${props}`);
  const base = 'id,name,price\n1,apple,1.5\n2,pear,2.0\n';
  const categorize = (oldCsv: string | undefined, newCsv: string | undefined) =>
    categorizeChange(seed(), seed(), {
      dialect: 'duckdb',
      ...(oldCsv === undefined ? {} : { oldSeedCsv: oldCsv }),
      ...(newCsv === undefined ? {} : { newSeedCsv: newCsv }),
    });

  it('a new column with every old column unchanged is non-breaking', () => {
    assert.equal(
      categorize(base, 'id,color,name,price\n1,red,apple,1.5\n2,,pear,2.0\n'),
      'non_breaking',
    );
  });
  it('a removed column is undecided', () => {
    assert.equal(categorize(base, 'id,name\n1,apple\n2,pear\n'), undefined);
  });
  it('a renamed column is undecided', () => {
    assert.equal(categorize(base, 'id,label,price\n1,apple,1.5\n2,pear,2.0\n'), undefined);
  });
  it('a new row is undecided', () => {
    assert.equal(categorize(base, `${base}3,plum,0.5\n`), undefined);
  });
  it('a deleted row is undecided', () => {
    assert.equal(categorize(base, 'id,name,price\n1,apple,1.5\n'), undefined);
  });
  it('an edited value is undecided', () => {
    assert.equal(categorize(base, 'id,name,price\n1,apple,1.5\n2,pear,2.5\n'), undefined);
  });
  it('a property change with the same CSV is non-breaking', () => {
    assert.equal(
      categorizeChange(seed(), seed(',\n  owner ann'), {
        dialect: 'duckdb',
        oldSeedCsv: base,
        newSeedCsv: base,
      }),
      'non_breaking',
    );
  });
  it('is undecided without the CSV text', () => {
    assert.equal(categorize(base, undefined), undefined);
  });
});

describe('categorizeChange: external models', () => {
  const external = (columns: string): ModelDefinition =>
    model('', `kind EXTERNAL,\n  columns (${columns})`);
  it('a new column is non-breaking, a changed or removed one undecided', () => {
    const d = { dialect: 'duckdb' };
    assert.equal(categorizeChange(external('a INT'), external('a INT, b TEXT'), d), 'non_breaking');
    assert.equal(categorizeChange(external('a INT'), external('a TEXT'), d), undefined);
    assert.equal(categorizeChange(external('a INT, b TEXT'), external('a INT'), d), undefined);
  });
});

describe('addedColumns', () => {
  it('names the output columns a pure addition adds, in order', () => {
    assert.deepEqual(
      addedColumns('SELECT a, b FROM t', 'SELECT x, a, b, c AS y FROM t', 'duckdb'),
      ['x', 'y'],
    );
  });
  it('is empty when the columns were only added inside a CTE', () => {
    assert.deepEqual(
      addedColumns(
        'WITH c AS (SELECT a FROM t) SELECT a FROM c',
        'WITH c AS (SELECT a, b FROM t) SELECT a FROM c',
        'duckdb',
      ),
      [],
    );
  });
  it('names the columns of the leftmost branch of a UNION ALL', () => {
    assert.deepEqual(
      addedColumns(
        'SELECT a FROM t UNION ALL SELECT a FROM u',
        'SELECT a, 1 AS k FROM t UNION ALL SELECT a, 2 AS k FROM u',
        'duckdb',
      ),
      ['k'],
    );
  });
  it('is undefined for any other change', () => {
    assert.equal(addedColumns('SELECT a, b FROM t', 'SELECT a FROM t', 'duckdb'), undefined);
    assert.equal(
      addedColumns('SELECT a FROM t', 'SELECT a, b FROM t WHERE a > 0', 'duckdb'),
      undefined,
    );
  });
});
