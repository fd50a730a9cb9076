/**
 * The syntax zoo end to end: load fixtures/projects/syntax-zoo with the project
 * loader, render every model, and run the rendered SQL on DuckDB (and a few
 * models on PostgreSQL when a test server is available). Expected values are
 * computed here from the seed CSVs, not copied from any output.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createAdapter } from '../../../src/engine/adapters/adapter-factory.js';
import type { EngineAdapter } from '../../../src/engine/adapters/engine-adapter.js';
import { renderModel } from '../../../src/engine/project/model-renderer.js';
import {
  loadProject,
  type LoadedModel,
  type Project,
} from '../../../src/engine/project/project-loader.js';
import { MacroScope } from '../../../src/engine/render/macro-renderer.js';
import { fixturesDir } from '../../helpers/paths.js';
import { createTestDatabase } from '../../helpers/postgres.js';

const ZOO = join(fixturesDir, 'projects', 'syntax-zoo');
/** The daily interval every model is rendered for: the days the orders seed covers. */
const START = '2024-01-01';
const END = '2024-01-07';
const EXECUTION_TIME = Date.UTC(2024, 0, 8, 6, 0, 0);
const EXECUTION_DS = '2024-01-08';

let root = '';
let project: Project;

before(async () => {
  // Work on a copy: the DuckDB file the gateway names is created next to config.yaml.
  root = mkdtempSync(join(tmpdir(), 'tideline-zoo-'));
  cpSync(ZOO, root, { recursive: true });
  project = await loadProject(root, { env: {}, now: EXECUTION_TIME });
});

after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

// ---------------------------------------------------------------- seed data

type CsvRow = Record<string, string>;

function readCsv(relPath: string): CsvRow[] {
  const lines = readFileSync(join(ZOO, relPath), 'utf8').trim().split('\n');
  const header = (lines[0] ?? '').split(',');
  return lines.slice(1).map((line) => {
    const cells = line.split(',');
    return Object.fromEntries(header.map((h, i) => [h, cells[i] ?? '']));
  });
}

const orders = readCsv('seeds/orders.csv');
const customers = readCsv('seeds/customers.csv');
const items = readCsv('seeds/items.csv');

/** What zoo.stg_orders keeps, following the project variables as the model reads them. */
function stagedOrders(vars: Record<string, unknown>): CsvRow[] {
  const minAmount = Number(vars['min_amount'] ?? 0);
  const includeRefunds = vars['include_refunds'] === true;
  return orders
    .filter((o) => Number(o['amount']) >= minAmount)
    .filter((o) => includeRefunds || o['status'] !== 'refunded')
    .map((o) => ({ ...o, channel: (o['channel'] ?? '').toLowerCase() }));
}

function groupBy<T>(rows: T[], key: (r: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const r of rows) {
    const k = key(r);
    out.set(k, [...(out.get(k) ?? []), r]);
  }
  return out;
}

const sum = (rows: CsvRow[], col: string) => rows.reduce((n, r) => n + Number(r[col]), 0);
const round2 = (n: number) => Math.round(n * 100) / 100;

/** Monday of the ISO week holding `day` (YYYY-MM-DD), as DuckDB's DATE_TRUNC('week') gives. */
function weekStart(day: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  const back = (d.getUTCDay() + 6) % 7;
  return new Date(d.getTime() - back * 86_400_000).toISOString().slice(0, 10);
}

// ---------------------------------------------------------------- helpers

const fqnOf = (name: string) => project.findModel(name).fqn;

/** Renders a model's pre- or post-statements the way the renderer renders its query. */
function renderStatements(model: LoadedModel, which: 'pre' | 'post'): string[] {
  const def = model.definition;
  const scope = new MacroScope(
    {
      start: Date.parse(`${START}T00:00:00Z`),
      end: Date.parse(`${END}T00:00:00Z`) + 86_400_000,
      executionTime: EXECUTION_TIME,
      variables: project.variables,
      thisModel: model.fqn,
      gateway: project.gatewayName,
      runtimeStage: 'evaluating',
      modelKindName: def.kind.name,
      dialect: def.dialect,
    },
    { definitions: [...def.preStatements, ...def.postStatements], jinja: project.jinja },
  );
  const out: string[] = [];
  for (const s of which === 'pre' ? def.preStatements : def.postStatements) {
    const sql = scope.renderStatement(s);
    if (sql !== null) out.push(sql);
  }
  return out;
}

async function rows(adapter: EngineAdapter, sql: string): Promise<Record<string, unknown>[]> {
  return (await adapter.query(sql)).rows;
}

// ---------------------------------------------------------------- test 1: load

test('the zoo loads: enabled models, dependencies and counts', () => {
  const names = [...project.models.values()].map((m) => m.name).sort();
  assert.deepEqual(names, [
    'ext.web_events',
    'raw.customers',
    'raw.items',
    'raw.orders',
    'zoo.channel_pivot',
    'zoo.customer_orders',
    'zoo.customer_summary',
    'zoo.customers_history',
    'zoo.hourly_events',
    'zoo.item_revenue',
    'zoo.items_history',
    'zoo.jinja_summary',
    'zoo.order_amounts',
    'zoo.orders_daily',
    'zoo.stg_orders',
    'zoo.weekly_refunds',
  ]);
  assert.equal(project.defaultCatalog, 'zoo_warehouse');
  assert.equal(fqnOf('zoo.stg_orders'), '"zoo_warehouse"."zoo"."stg_orders"');
  // enabled false leaves the model out entirely.
  assert.throws(() => project.findModel('zoo.retired_report'), /no model named/);

  const deps = (name: string) => project.findModel(name).dependencies;
  assert.deepEqual(deps('zoo.channel_pivot'), [fqnOf('zoo.order_amounts')]);
  assert.deepEqual(deps('zoo.hourly_events'), [fqnOf('ext.web_events')]);
  // The catalog-qualified reference resolves to the same model as an unqualified one.
  assert.deepEqual(deps('zoo.stg_orders'), [fqnOf('raw.orders')]);
  // Jinja hides the query from the parser; depends_on supplies the edge.
  assert.deepEqual(deps('zoo.jinja_summary'), [fqnOf('zoo.stg_orders')]);
  // A CTE name is not a dependency.
  assert.deepEqual(deps('zoo.customer_summary'), [fqnOf('raw.customers'), fqnOf('zoo.stg_orders')]);
  assert.deepEqual(deps('zoo.item_revenue'), [fqnOf('zoo.items_history'), fqnOf('zoo.stg_orders')]);
  assert.deepEqual(project.dag.upstreamOf(fqnOf('zoo.order_amounts')), [fqnOf('zoo.stg_orders')]);

  const order = project.dag.topologicalOrder();
  assert.equal(order.length, project.models.size);
  for (const m of project.models.values()) {
    for (const d of m.dependencies)
      assert.ok(order.indexOf(d) < order.indexOf(m.fqn), `${d} before ${m.fqn}`);
  }

  assert.deepEqual(project.counts(), { models: 16, macros: 2, seeds: 3, tests: 1 });
  // Both seed path forms ($root/... and relative to the model file) land on the CSV.
  assert.equal(project.findModel('raw.orders').seedPath, 'seeds/orders.csv');
  assert.equal(project.findModel('raw.items').seedPath, 'seeds/items.csv');
  assert.deepEqual(project.warnings, []);
});

// ---------------------------------------------------------------- test 2: DuckDB

test('every model renders to SQL that runs on DuckDB, with results that follow from the seeds', async () => {
  const connection = project.gateway.connection;
  assert.ok(connection);
  const db = createAdapter(connection, { projectRoot: root });
  try {
    const built: string[] = [];
    for (const fqn of project.dag.topologicalOrder()) {
      const model = project.models.get(fqn);
      assert.ok(model);
      const def = model.definition;
      const kind = def.kind;
      const [, schema] = fqn.split('.');
      if (kind.name === 'EXTERNAL') continue; // built by someone else (see hourly_events)
      await db.execute(`CREATE SCHEMA IF NOT EXISTS ${schema}`);

      if (kind.name === 'SEED') {
        const csv = join(project.root, model.seedPath ?? '').replaceAll("'", "''");
        // Declared columns win over what the CSV reader guesses.
        const select = def.columns
          ? def.columns.map((c) => `CAST("${c.name}" AS ${c.type}) AS "${c.name}"`).join(', ')
          : '*';
        const reader = def.columns
          ? `read_csv('${csv}', header = true, all_varchar = true)`
          : `read_csv('${csv}', header = true)`;
        await db.execute(`CREATE TABLE ${fqn} AS SELECT ${select} FROM ${reader}`);
        built.push(fqn);
        continue;
      }

      for (const sql of renderStatements(model, 'pre')) await db.execute(sql);
      const query = renderModel(project, fqn, {
        start: START,
        end: END,
        executionTime: EXECUTION_TIME,
      });
      if (kind.name === 'VIEW') {
        await db.execute(`CREATE OR REPLACE VIEW ${fqn} AS ${query}`);
      } else if (kind.name === 'EMBEDDED') {
        // The renderer leaves references to an EMBEDDED model as table names
        // (SQLMesh would inline its query as a subquery), so give the name a view.
        await db.execute(`CREATE OR REPLACE VIEW ${fqn} AS ${query}`);
      } else if (kind.name === 'SCD_TYPE_2_BY_TIME' || kind.name === 'SCD_TYPE_2_BY_COLUMN') {
        // A first load only: every row is the current version (valid_to NULL),
        // valid from its update time (by time) or the epoch (by column), as on
        // SQLMesh's first evaluation. Later versions are not exercised here.
        const validFrom =
          kind.name === 'SCD_TYPE_2_BY_TIME'
            ? `CAST("${kind.updatedAtName}" AS TIMESTAMP)`
            : `TIMESTAMP '1970-01-01 00:00:00'`;
        await db.execute(
          `CREATE OR REPLACE TABLE ${fqn} AS SELECT q.*, ${validFrom} AS "${kind.validFromName}", ` +
            `CAST(NULL AS TIMESTAMP) AS "${kind.validToName}" FROM (${query}) AS q`,
        );
      } else {
        await db.execute(`CREATE OR REPLACE TABLE ${fqn} AS ${query}`);
      }
      for (const sql of renderStatements(model, 'post')) await db.execute(sql);
      built.push(fqn);
    }

    // Every model but the external one produced a table or view.
    const wanted = [...project.models.values()]
      .filter((m) => m.definition.kind.name !== 'EXTERNAL')
      .map((m) => m.fqn)
      .sort();
    assert.deepEqual([...built].sort(), wanted);
    for (const fqn of wanted) {
      const [catalog, schema, name] = fqn.split('.').map((p) => p.replaceAll('"', ''));
      assert.ok(
        await db.tableExists({ catalog: catalog ?? '', schema: schema ?? '', name: name ?? '' }),
        `${fqn} exists`,
      );
    }

    const count = async (name: string) =>
      Number((await rows(db, `SELECT COUNT(*)::INTEGER AS n FROM ${fqnOf(name)}`))[0]?.['n']);

    // Seeds: one row per CSV line, declared types applied.
    assert.equal(await count('raw.orders'), orders.length);
    assert.equal(await count('raw.customers'), customers.length);
    assert.equal(await count('raw.items'), items.length);
    const types = await rows(
      db,
      `SELECT column_name, data_type FROM information_schema.columns
       WHERE table_schema = 'raw' AND table_name = 'orders' ORDER BY ordinal_position`,
    );
    assert.deepEqual(
      types.map((t) => [t['column_name'], t['data_type']]),
      (project.findModel('raw.orders').definition.columns ?? []).map((c) => [
        c.name,
        c.type.replace(/\s+/g, '').replace('TEXT', 'VARCHAR'),
      ]),
    );

    const staged = stagedOrders(project.variables);
    assert.ok(staged.length > 0 && staged.length < orders.length, 'the filter drops some rows');
    assert.equal(await count('zoo.stg_orders'), staged.length);
    const channels = await rows(db, `SELECT DISTINCT channel FROM ${fqnOf('zoo.stg_orders')}`);
    for (const c of channels) assert.equal(c['channel'], String(c['channel']).toLowerCase());

    // orders_daily: count and revenue per day and channel over the interval.
    const inInterval = staged.filter((o) => (o['ds'] ?? '') >= START && (o['ds'] ?? '') <= END);
    const daily = [...groupBy(inInterval, (o) => `${o['ds']}|${o['channel']}`)]
      .map(([k, rs]) => `${k}|${rs.length}|${round2(sum(rs, 'amount'))}`)
      .sort();
    const dailyGot = await rows(
      db,
      `SELECT ds, channel, order_count::INTEGER AS n, revenue::DOUBLE AS r FROM ${fqnOf('zoo.orders_daily')}`,
    );
    assert.deepEqual(
      dailyGot.map((r) => `${r['ds']}|${r['channel']}|${r['n']}|${round2(Number(r['r']))}`).sort(),
      daily,
    );

    // customer_orders: one row per customer and day, stamped with the execution day.
    const perCustomerDay = groupBy(inInterval, (o) => `${o['customer_id']}|${o['ds']}`);
    assert.equal(await count('zoo.customer_orders'), perCustomerDay.size);
    const loaded = await rows(db, `SELECT DISTINCT loaded_on FROM ${fqnOf('zoo.customer_orders')}`);
    assert.deepEqual(
      loaded.map((r) => String(r['loaded_on'])),
      [EXECUTION_DS],
    );

    // customer_summary: every customer, with lifetime orders and amount; the
    // post-statement recorded the row count.
    const byCustomer = groupBy(staged, (o) => o['customer_id'] ?? '');
    const summary = await rows(
      db,
      `SELECT customer_id::INTEGER AS id, order_count::INTEGER AS n, lifetime_amount::DOUBLE AS a,
              first_order_day AS f FROM ${fqnOf('zoo.customer_summary')} ORDER BY 1`,
    );
    assert.deepEqual(
      summary.map((r) => [r['id'], r['n'], round2(Number(r['a'])), r['f'] ?? null]),
      customers.map((c) => {
        const mine = byCustomer.get(c['customer_id'] ?? '') ?? [];
        const first = mine.map((o) => o['ds'] ?? '').sort()[0] ?? null;
        return [Number(c['customer_id']), mine.length, round2(sum(mine, 'amount')), first];
      }),
    );
    const recorded = await rows(
      db,
      'SELECT model_name, row_count::INTEGER AS n FROM zoo_ops.row_counts',
    );
    assert.deepEqual(recorded, [{ model_name: 'zoo.customer_summary', n: customers.length }]);

    // channel_pivot (through the EMBEDDED order_amounts): per-day sums per channel.
    const configured = project.variables['channels'] as string[];
    const pivot = await rows(
      db,
      `SELECT ds, amount_web::DOUBLE AS w, amount_store::DOUBLE AS s, web_big_orders::INTEGER AS wb,
              total_cents::BIGINT::INTEGER AS t FROM ${fqnOf('zoo.channel_pivot')} ORDER BY ds`,
    );
    const byDay = groupBy(staged, (o) => o['ds'] ?? '');
    assert.deepEqual(
      pivot.map((r) => [r['ds'], round2(Number(r['w'])), round2(Number(r['s'])), r['wb'], r['t']]),
      [...byDay.keys()].sort().map((day) => {
        const rs = byDay.get(day) ?? [];
        const web = rs.filter((o) => o['channel'] === 'web');
        const store = rs.filter((o) => o['channel'] === 'store');
        const bigWeb = web.filter((o) => Number(o['amount']) >= 30).length; // @DEF(big_order, 30)
        return [
          day,
          round2(sum(web, 'amount')),
          round2(sum(store, 'amount')),
          bigWeb,
          Math.round(sum(rs, 'amount') * 100),
        ];
      }),
    );

    // jinja_summary: the configured channels, revenue in cents.
    const jinja = await rows(
      db,
      `SELECT channel, order_count::INTEGER AS n, revenue_cents::INTEGER AS c FROM ${fqnOf('zoo.jinja_summary')} ORDER BY channel`,
    );
    const byChannel = groupBy(
      staged.filter((o) => configured.includes(o['channel'] ?? '')),
      (o) => o['channel'] ?? '',
    );
    assert.deepEqual(
      jinja.map((r) => [r['channel'], r['n'], r['c']]),
      [...byChannel.keys()].sort().map((ch) => {
        const rs = byChannel.get(ch) ?? [];
        return [ch, rs.length, Math.round(sum(rs, 'amount') * 100)];
      }),
    );

    // item_revenue: every item at its current price, with how often it sold.
    const revenue = await rows(
      db,
      `SELECT item_id::INTEGER AS id, name, current_price::DOUBLE AS p, times_ordered::INTEGER AS n
       FROM ${fqnOf('zoo.item_revenue')} ORDER BY 1`,
    );
    assert.deepEqual(
      revenue.map((r) => [r['id'], r['name'], Number(r['p']), r['n']]),
      items.map((i) => [
        Number(i['item_id']),
        i['name'],
        Number(i['price']),
        staged.filter((o) => o['item_id'] === i['item_id']).length,
      ]),
    );
    assert.equal(await count('zoo.customers_history'), customers.length);

    // weekly_refunds (written for postgres, run on DuckDB): all orders, refunds counted.
    const weekly = await rows(
      db,
      `SELECT week_start::TEXT AS w, order_count::INTEGER AS n, refund_count::INTEGER AS r,
              refunded_amount::DOUBLE AS a FROM ${fqnOf('zoo.weekly_refunds')} ORDER BY 1`,
    );
    const byWeek = groupBy(orders, (o) => weekStart(o['ds'] ?? ''));
    assert.deepEqual(
      weekly.map((r) => [r['w'], r['n'], r['r'], round2(Number(r['a']))]),
      [...byWeek.keys()].sort().map((w) => {
        const rs = byWeek.get(w) ?? [];
        const refunds = rs.filter((o) => (o['status'] ?? '').startsWith('refund'));
        return [w, rs.length, refunds.length, round2(sum(refunds, 'amount'))];
      }),
    );

    // hourly_events: its pre-statement created the external stand-in; one row per hour.
    const events = await rows(
      db,
      `SELECT DATE_TRUNC('hour', event_ts) AS h, COUNT(*)::INTEGER AS n FROM ${fqnOf('ext.web_events')} GROUP BY 1`,
    );
    assert.ok(events.length > 0);
    const hourly = await rows(
      db,
      `SELECT SUM(page_views)::INTEGER AS n, COUNT(*)::INTEGER AS h FROM ${fqnOf('zoo.hourly_events')}`,
    );
    assert.deepEqual(hourly, [
      { n: events.reduce((t, e) => t + Number(e['n']), 0), h: events.length },
    ]);
  } finally {
    await db.close();
  }
});

// ---------------------------------------------------------------- test 3: PostgreSQL

const PG_TYPES: Record<string, Record<string, string>> = {
  // raw.customers declares no columns; these are the types DuckDB infers from its CSV.
  '"zoo_warehouse"."raw"."customers"': {
    customer_id: 'INTEGER',
    name: 'TEXT',
    tier: 'TEXT',
    updated_at: 'TIMESTAMP',
  },
};

test('every model renders for postgres; simple ones run there', async () => {
  const pgTable = (fqn: string) => fqn.split('.').slice(1).join('.'); // drop the catalog
  const rendered = new Map<string, string>();
  for (const model of project.models.values()) {
    if (!model.definition.query) continue;
    const sql = renderModel(project, model.fqn, {
      start: START,
      end: END,
      executionTime: EXECUTION_TIME,
      dialect: 'postgres',
      tableFor: pgTable,
    });
    assert.match(sql, /^(WITH|SELECT)\b/i, model.name);
    assert.doesNotMatch(sql, /zoo_warehouse/, `${model.name}: tableFor decides the names`);
    rendered.set(model.name, sql);
  }
  assert.equal(
    rendered.size,
    [...project.models.values()].filter((m) => m.definition.query).length,
  );

  if (!process.env['TIDELINE_TEST_PG_URL']) return;
  const database = await createTestDatabase();
  const pg = createAdapter(database.config, { projectRoot: root });
  try {
    await pg.execute('CREATE SCHEMA raw; CREATE SCHEMA zoo');
    for (const [name, data] of [
      ['raw.orders', orders],
      ['raw.customers', customers],
      ['raw.items', items],
    ] as const) {
      const model = project.findModel(name);
      const declared = model.definition.columns
        ? Object.fromEntries(model.definition.columns.map((c) => [c.name, c.type]))
        : PG_TYPES[model.fqn];
      assert.ok(declared, name);
      const cols = Object.keys(declared);
      const values = data
        .map((r) => `(${cols.map((c) => `'${(r[c] ?? '').replaceAll("'", "''")}'`).join(', ')})`)
        .join(', ');
      await pg.execute(
        `CREATE TABLE ${name} AS SELECT ${cols.map((c) => `CAST(v.${c} AS ${declared[c]}) AS ${c}`).join(', ')}
         FROM (VALUES ${values}) AS v(${cols.join(', ')})`,
      );
    }
    const sql = (name: string) => rendered.get(name) ?? assert.fail(`${name} not rendered`);
    await pg.execute(`CREATE VIEW zoo.stg_orders AS ${sql('zoo.stg_orders')}`);
    for (const name of ['zoo.weekly_refunds', 'zoo.customer_summary', 'zoo.orders_daily']) {
      await pg.execute(`CREATE TABLE ${name} AS ${sql(name)}`);
    }

    const staged = stagedOrders(project.variables);
    const one = async (q: string) => (await pg.query(q)).rows[0] ?? {};
    assert.deepEqual(await one('SELECT COUNT(*)::int AS n FROM zoo.stg_orders'), {
      n: staged.length,
    });
    const refunds = orders.filter((o) => (o['status'] ?? '').startsWith('refund'));
    assert.deepEqual(
      await one(
        'SELECT SUM(order_count)::int AS n, SUM(refund_count)::int AS r, SUM(refunded_amount)::float8 AS a FROM zoo.weekly_refunds',
      ),
      { n: orders.length, r: refunds.length, a: round2(sum(refunds, 'amount')) },
    );
    assert.deepEqual(
      await one(
        'SELECT COUNT(*)::int AS c, SUM(order_count)::int AS n, SUM(lifetime_amount)::float8 AS a FROM zoo.customer_summary',
      ),
      { c: customers.length, n: staged.length, a: round2(sum(staged, 'amount')) },
    );
    const days = new Set(staged.map((o) => `${o['ds']}|${o['channel']}`));
    assert.deepEqual(
      await one('SELECT COUNT(*)::int AS g, SUM(order_count)::int AS n FROM zoo.orders_daily'),
      { g: days.size, n: staged.length },
    );
  } finally {
    await pg.close();
    await database.drop();
  }
});
