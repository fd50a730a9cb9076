/**
 * Plans, applies and runs the starter project end to end, on DuckDB and on
 * PostgreSQL: categorization, virtual environments, reuse of dev's tables in
 * prod, and runs driven by an injected clock.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LocalContext } from '../../../src/engine/local-context.js';
import type { ApplyEvent } from '../../../src/engine/plan/plan-applier.js';
import type { Plan } from '../../../src/engine/plan/plan-types.js';
import { writeStarterProject } from '../../../src/engine/starter/starter-project.js';
import { testClock, type TestClock } from '../../../src/engine/time/index.js';
import { createTestDatabase } from '../../helpers/postgres.js';

const DAY = 86_400_000;
const JAN_10 = Date.UTC(2020, 0, 10);

const pg = await createTestDatabase();
after(() => pg.drop());

interface Engine {
  name: 'duckdb' | 'postgres';
  env: Record<string, string | undefined>;
}

const engines: Engine[] = [
  { name: 'duckdb', env: {} },
  {
    name: 'postgres',
    env: {
      PGHOST: pg.config.host,
      PGPORT: String(pg.config.port),
      PGUSER: pg.config.user,
      PGPASSWORD: pg.config.password ?? '',
      PGDATABASE: pg.config.database,
    },
  },
];

const INC = 'models/incremental_model.sql';

function edit(dir: string, file: string, from: string, to: string): void {
  const path = join(dir, file);
  const text = readFileSync(path, 'utf8');
  assert.ok(text.includes(from), `${file} should contain ${from}`);
  writeFileSync(path, text.replace(from, to));
}

function evaluatedModels(events: ApplyEvent[]): string[] {
  return [
    ...new Set(
      events
        .filter((e) => e.type === 'batch_done')
        .map((e) => (e as { name: string }).name.split('.').pop()!.replace(/"/g, '')),
    ),
  ].sort();
}

function changeOf(plan: Plan, table: string) {
  return plan.changes.find((c) => c.displayName.endsWith(`.${table}`));
}

for (const engine of engines) {
  describe(`plan and run on ${engine.name}`, () => {
    const dirs: string[] = [];
    after(() => {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    async function freshProject(clock: TestClock): Promise<{ dir: string; ctx: LocalContext }> {
      const dir = mkdtempSync(join(tmpdir(), 'tideline-plan-'));
      dirs.push(dir);
      writeStarterProject(dir, engine.name);
      if (engine.name === 'postgres') {
        // Every project gets a state schema and model schemas of its own.
        const tag = `p${dirs.length}`;
        const cfg = join(dir, 'config.yaml');
        writeFileSync(
          cfg,
          readFileSync(cfg, 'utf8')
            .replace('default_gateway: postgres', `default_gateway: postgres\n`)
            .replace(
              '      # concurrent_tasks: 4',
              `      concurrent_tasks: 2\n    state_schema: state_${tag}`,
            ),
        );
        for (const f of ['models/seed_model.sql', INC, 'models/full_model.sql']) {
          const p = join(dir, f);
          writeFileSync(p, readFileSync(p, 'utf8').replaceAll('sqlmesh_example.', `ex_${tag}.`));
        }
      }
      const ctx = await LocalContext.open(dir, { env: engine.env, clock });
      return { dir, ctx };
    }

    async function reopen(dir: string, clock: TestClock): Promise<LocalContext> {
      return LocalContext.open(dir, { env: engine.env, clock });
    }

    async function apply(ctx: LocalContext, plan: Plan): Promise<ApplyEvent[]> {
      const events: ApplyEvent[] = [];
      const result = await ctx.apply(plan, (e) => events.push(e));
      assert.equal(result.status, 'succeeded', result.error);
      return events;
    }

    async function rows(ctx: LocalContext, sql: string): Promise<Array<Record<string, unknown>>> {
      return (await ctx.adapter.query(sql)).rows.map((r) =>
        Object.fromEntries(
          Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v]),
        ),
      );
    }

    function schemaOf(ctx: LocalContext): string {
      const model = [...ctx.project.models.values()].find((m) => m.name.endsWith('full_model'))!;
      return model.name.split('.')[0]!;
    }

    it('applies the starter project to prod with the right rows in tables and views', async () => {
      const clock = testClock(JAN_10);
      const { ctx } = await freshProject(clock);
      try {
        const plan = await ctx.plan({ environment: 'prod' });
        assert.equal(plan.isNewEnvironment, true);
        assert.deepEqual(
          plan.changes.map((c) => c.type),
          ['added', 'added', 'added'],
        );
        const inc = plan.backfill.find((b) => b.name.includes('incremental_model'));
        assert.ok(inc, 'incremental_model is backfilled');
        assert.equal(inc.batches[0]![0], Date.UTC(2020, 0, 1));
        assert.equal(inc.batches.at(-1)![1], JAN_10);
        const events = await apply(ctx, plan);
        assert.deepEqual(evaluatedModels(events), [
          'full_model',
          'incremental_model',
          'seed_model',
        ]);
        const s = schemaOf(ctx);
        const counts = await rows(
          ctx,
          `SELECT item_id, num_orders FROM ${s}.full_model ORDER BY item_id`,
        );
        assert.deepEqual(counts, [
          { item_id: 1, num_orders: 4 },
          { item_id: 2, num_orders: 3 },
          { item_id: 3, num_orders: 1 },
        ]);
        const inc8 = await rows(ctx, `SELECT COUNT(*) AS n FROM ${s}.incremental_model`);
        assert.equal(inc8[0]!.n, 8);
        // The view reads a physical table in sqlmesh__<schema>.
        const physical = await ctx.adapter.listObjects(`sqlmesh__${s}`);
        assert.equal(physical.filter((o) => o.kind === 'table').length, 3);
        assert.ok(physical.every((o) => /^[a-z_0-9]+__[a-z_]+__[0-9a-f]+$/.test(o.name)));
        // Planning again finds nothing to do.
        const again = await ctx.plan({ environment: 'prod' });
        assert.equal(again.changes.length, 0);
        assert.equal(again.backfill.length, 0);
      } finally {
        await ctx.close();
      }
    });

    it('treats an added column as non-breaking and a changed filter as breaking', async () => {
      const clock = testClock(JAN_10);
      const { dir, ctx } = await freshProject(clock);
      let current = ctx;
      try {
        await apply(current, await current.plan({ environment: 'prod' }));
        await current.close();

        edit(dir, INC, '  event_date\nFROM', '  event_date,\n  item_id * 10 AS item_code\nFROM');
        current = await reopen(dir, clock);
        const nonBreaking = await current.plan({ environment: 'prod' });
        assert.equal(changeOf(nonBreaking, 'incremental_model')?.type, 'directly_modified');
        assert.equal(changeOf(nonBreaking, 'incremental_model')?.category, 'non_breaking');
        assert.equal(changeOf(nonBreaking, 'full_model')?.category, 'indirect_non_breaking');
        assert.match(
          changeOf(nonBreaking, 'incremental_model')?.diff ?? '',
          /\+\s*item_id \* 10 AS item_code/,
        );
        const events = await apply(current, nonBreaking);
        assert.deepEqual(evaluatedModels(events), ['incremental_model']);
        const s = schemaOf(current);
        const codes = await rows(current, `SELECT MAX(item_code) AS m FROM ${s}.incremental_model`);
        assert.equal(codes[0]!.m, 30);
        await current.close();

        edit(
          dir,
          INC,
          'event_date BETWEEN @start_date AND @end_date',
          'event_date BETWEEN @start_date AND @end_date AND item_id > 1',
        );
        current = await reopen(dir, clock);
        const breaking = await current.plan({ environment: 'prod' });
        assert.equal(changeOf(breaking, 'incremental_model')?.category, 'breaking');
        assert.equal(changeOf(breaking, 'full_model')?.category, 'indirect_breaking');
        const events2 = await apply(current, breaking);
        assert.deepEqual(evaluatedModels(events2), ['full_model', 'incremental_model']);
        const counts = await rows(current, `SELECT item_id FROM ${s}.full_model ORDER BY item_id`);
        assert.deepEqual(counts, [{ item_id: 2 }, { item_id: 3 }]);
      } finally {
        await current.close();
      }
    });

    it('builds dev beside prod and promotes to prod without evaluating again', async () => {
      const clock = testClock(JAN_10);
      const { dir, ctx } = await freshProject(clock);
      let current = ctx;
      try {
        await apply(current, await current.plan({ environment: 'prod' }));
        const s = schemaOf(current);
        await current.close();

        edit(
          dir,
          INC,
          'event_date BETWEEN @start_date AND @end_date',
          'event_date BETWEEN @start_date AND @end_date AND id <> 1',
        );
        current = await reopen(dir, clock);
        const dev = await current.plan({ environment: 'dev' });
        assert.equal(dev.isNewEnvironment, true);
        assert.equal(dev.baseEnvironment, 'prod');
        const devEvents = await apply(current, dev);
        assert.deepEqual(evaluatedModels(devEvents), ['full_model', 'incremental_model']);

        const prodCount = await rows(current, `SELECT COUNT(*) AS n FROM ${s}.incremental_model`);
        const devCount = await rows(
          current,
          `SELECT COUNT(*) AS n FROM ${s}__dev.incremental_model`,
        );
        assert.equal(prodCount[0]!.n, 8, 'prod still reads the old version');
        assert.equal(devCount[0]!.n, 7, 'dev reads the new version');
        // Only changed models get views in dev.
        const devViews = (await current.adapter.listObjects(`${s}__dev`)).map((o) => o.name).sort();
        assert.deepEqual(devViews, ['full_model', 'incremental_model']);

        clock.advance(60_000);
        const promote = await current.plan({ environment: 'prod' });
        assert.equal(promote.newSnapshots.length, 0, 'prod reuses the snapshots dev built');
        const prodEvents = await apply(current, promote);
        assert.equal(
          prodEvents.filter((e) => e.type === 'batch_done').length,
          0,
          'zero evaluations',
        );
        const after = await rows(current, `SELECT COUNT(*) AS n FROM ${s}.incremental_model`);
        assert.equal(after[0]!.n, 7);
      } finally {
        await current.close();
      }
    });

    it('applies a forward-only change without backfilling history, and refuses a destructive one', async () => {
      const clock = testClock(JAN_10);
      const { dir, ctx } = await freshProject(clock);
      let current = ctx;
      try {
        await apply(current, await current.plan({ environment: 'prod' }));
        const s = schemaOf(current);
        await current.close();

        edit(dir, INC, '  event_date\nFROM', '  event_date,\n  item_id * 10 AS item_code\nFROM');
        current = await reopen(dir, clock);
        const plan = await current.plan({ environment: 'prod', forwardOnly: true });
        assert.equal(changeOf(plan, 'incremental_model')?.category, 'forward_only');
        const before = plan.snapshots.find((x) => x.name.includes('incremental_model'))!;
        const events = await apply(current, plan);
        assert.equal(events.filter((e) => e.type === 'batch_done').length, 0, 'history is kept');
        const old = await rows(
          current,
          `SELECT COUNT(*) AS n, COUNT(item_code) AS coded FROM ${s}.incremental_model`,
        );
        assert.deepEqual(old, [{ n: 8, coded: 0 }], 'the new column exists, empty for old rows');

        clock.advance(DAY);
        const run = await current.run('prod');
        assert.equal(run.backfill.failed.length, 0);
        const after = await current.plan({ environment: 'prod' });
        assert.equal(
          after.snapshots.find((x) => x.name.includes('incremental_model'))!.version,
          before.version,
          'the table version is unchanged',
        );
        await current.close();

        edit(dir, INC, '  item_id,\n', '');
        current = await reopen(dir, clock);
        const destructive = await current.plan({ environment: 'prod', forwardOnly: true });
        const result = await current.apply(destructive);
        assert.equal(result.status, 'failed');
        assert.match(result.error ?? '', /drops column item_id.*on_destructive_change/);
      } finally {
        await current.close();
      }
    });

    it('fails the plan on a blocking audit, naming the audit, the model and a failing row', async () => {
      const clock = testClock(JAN_10);
      const { dir, ctx } = await freshProject(clock);
      let current = ctx;
      try {
        await current.close();
        edit(dir, 'seeds/seed_data.csv', '8,1,2020-01-07', '8,-5,2020-01-07');
        current = await reopen(dir, clock);
        const result = await current.apply(await current.plan({ environment: 'prod' }));
        assert.equal(result.status, 'failed');
        assert.match(
          result.error ?? '',
          /audit assert_positive_order_ids failed for \S*full_model: 1 row\(s\), first: \{.*"item_id":-5/,
        );
        assert.equal(await current.state.getEnvironment('prod'), undefined, 'prod is not created');
        edit(
          dir,
          'models/full_model.sql',
          'audits (assert_positive_order_ids)',
          'audits (not_null_non_blocking(columns := [item_id]), accepted_range_non_blocking(column := item_id, min_v := 0))',
        );
        await current.close();
        current = await reopen(dir, clock);
        const events = await apply(current, await current.plan({ environment: 'prod' }));
        const audits = events.flatMap((e) => (e.type === 'batch_done' ? (e.audits ?? []) : []));
        assert.deepEqual(
          audits.map((a) => [a.name, a.passed]),
          [
            ['not_null_non_blocking', true],
            ['accepted_range_non_blocking', false],
          ],
        );
      } finally {
        await current.close();
      }
    });

    it('runs exactly the new intervals after a day, and nothing when nothing is due', async () => {
      const clock = testClock(JAN_10);
      const { ctx } = await freshProject(clock);
      try {
        await apply(ctx, await ctx.plan({ environment: 'prod' }));
        const idle = await ctx.run('prod');
        assert.equal(idle.items.length, 0, 'nothing is due at the time of the plan');

        clock.advance(DAY);
        const first = await ctx.run('prod');
        assert.equal(first.backfill.failed.length, 0);
        const byModel = Object.fromEntries(
          first.items.map((i) => [i.name.split('.').pop()!.replace(/"/g, ''), i.batches]),
        );
        assert.deepEqual(Object.keys(byModel).sort(), ['full_model', 'incremental_model']);
        assert.deepEqual(byModel['incremental_model'], [[JAN_10, JAN_10 + DAY]]);
        assert.equal(first.backfill.evaluations, 2);

        clock.advance(3_600_000);
        const second = await ctx.run('prod');
        assert.equal(second.items.length, 0, 'the next day is not complete yet');
        assert.equal(second.backfill.evaluations, 0);
      } finally {
        await ctx.close();
      }
    });
  });
}
