/**
 * Plans built from real projects against real state (DuckDB in memory):
 * changes and their categories, versions, environments, restatements, time
 * ranges and the errors bad input gets.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createAdapter } from '../../../src/engine/adapters/adapter-factory.js';
import type { EngineAdapter } from '../../../src/engine/adapters/engine-adapter.js';
import { TidelineError } from '../../../src/engine/errors.js';
import { SnapshotEvaluator } from '../../../src/engine/evaluate/snapshot-evaluator.js';
import { applyPlan } from '../../../src/engine/plan/plan-applier.js';
import { buildPlan, type BuildPlanInput } from '../../../src/engine/plan/plan-builder.js';
import { planHasWork, type Plan, type PlanChange } from '../../../src/engine/plan/plan-types.js';
import { loadProject } from '../../../src/engine/project/project-loader.js';
import { buildSnapshots } from '../../../src/engine/snapshot/snapshot-builder.js';
import type { Snapshot } from '../../../src/engine/snapshot/snapshot-types.js';
import { WarehouseStateSync } from '../../../src/engine/state/warehouse-state-sync.js';

const DAY = 86_400_000;
const JAN_1 = Date.UTC(2020, 0, 1);
const JAN_10 = Date.UTC(2020, 0, 10);

const CONFIG = `gateways:
  local:
    connection:
      type: duckdb
      database: db.duckdb
default_gateway: local
model_defaults:
  dialect: duckdb
`;

/** raw (FULL) -> inc (incremental by day) -> child (FULL); other (VIEW) stands alone. */
const MODELS: Record<string, string> = {
  raw: `MODEL (name s.raw, kind FULL, cron '@daily', start '2020-01-01');
SELECT 1 AS id, 'a' AS name`,
  inc: `MODEL (
  name s.inc,
  kind INCREMENTAL_BY_TIME_RANGE (time_column ds),
  cron '@daily',
  start '2020-01-01'
);
SELECT id, name, CAST(@start_ds AS DATE) AS ds FROM s.raw`,
  child: `MODEL (name s.child, kind FULL, cron '@daily');
SELECT id, name FROM s.inc`,
  other: `MODEL (name s.other, kind VIEW, start '2020-01-01');
SELECT 2 AS n`,
};

const fqn = (table: string): string => `"db"."s"."${table}"`;

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A project on disk with its state in an in-memory DuckDB shared by plans and applies. */
class TestProject {
  private constructor(
    readonly dir: string,
    readonly adapter: EngineAdapter,
    readonly state: WarehouseStateSync,
  ) {}

  static async create(models: Record<string, string> = MODELS): Promise<TestProject> {
    const dir = mkdtempSync(join(tmpdir(), 'tideline-plan-builder-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'config.yaml'), CONFIG);
    mkdirSync(join(dir, 'models'));
    for (const [name, text] of Object.entries(models)) {
      writeFileSync(join(dir, 'models', `${name}.sql`), `${text}\n`);
    }
    const adapter = createAdapter(
      { type: 'duckdb', catalogs: {}, extensions: [], connectorConfig: {}, concurrentTasks: 1 },
      { projectRoot: dir },
    );
    // The project's catalog is `db` (its database file's name); keep it in memory too.
    await adapter.execute("ATTACH ':memory:' AS db");
    const state = new WarehouseStateSync(adapter, { clock: () => JAN_10 });
    await state.migrate();
    return new TestProject(dir, adapter, state);
  }

  write(model: string, text: string): void {
    writeFileSync(join(this.dir, 'models', `${model}.sql`), `${text}\n`);
  }

  remove(model: string): void {
    unlinkSync(join(this.dir, 'models', `${model}.sql`));
  }

  async snapshots(now = JAN_10): Promise<Map<string, Snapshot>> {
    const project = await loadProject(this.dir, { env: {}, now });
    return buildSnapshots(project, { now });
  }

  async plan(
    environment: string,
    extra: Partial<Omit<BuildPlanInput, 'environment' | 'state'>> = {},
  ): Promise<Plan> {
    const now = extra.now ?? JAN_10;
    return buildPlan({
      snapshots: await this.snapshots(now),
      now,
      ...extra,
      environment,
      state: this.state,
    });
  }

  async apply(plan: Plan): Promise<void> {
    const result = await applyPlan(plan, {
      state: this.state,
      evaluator: new SnapshotEvaluator(this.adapter, { gateway: 'local' }),
      concurrency: 1,
      clock: () => plan.createdTs,
    });
    assert.equal(result.status, 'succeeded', result.error);
  }

  /** Plans and applies `environment` as it is. */
  async deploy(environment = 'prod', extra: Partial<BuildPlanInput> = {}): Promise<Plan> {
    const plan = await this.plan(environment, extra);
    await this.apply(plan);
    return plan;
  }

  async close(): Promise<void> {
    await this.state.close().catch(() => undefined);
    await this.adapter.close();
  }
}

async function withProject(
  fn: (p: TestProject) => Promise<void>,
  models: Record<string, string> = MODELS,
): Promise<void> {
  const p = await TestProject.create(models);
  try {
    await fn(p);
  } finally {
    await p.close();
  }
}

function change(plan: Plan, table: string): PlanChange | undefined {
  return plan.changes.find((c) => c.name === fqn(table));
}

function snapshotOf(plan: Plan, table: string): Snapshot {
  const s = plan.snapshots.find((x) => x.name === fqn(table));
  assert.ok(s, `${table} should be in the plan`);
  return s;
}

function backfilled(plan: Plan): string[] {
  return plan.backfill.map((b) => b.name.split('.').pop()!.replace(/"/g, '')).sort();
}

async function expectError(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof TidelineError, `expected a TidelineError, got ${String(err)}`);
    assert.equal(err.message.includes('\n'), false, `one line: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('buildPlan', () => {
  it('plans a new prod: every model added as breaking, backfilled from its start', async () => {
    await withProject(async (p) => {
      const plan = await p.plan('prod');
      assert.equal(plan.environment, 'prod');
      assert.equal(plan.isNewEnvironment, true);
      assert.equal(plan.expectedPlanId, null);
      assert.equal(plan.baseEnvironment, undefined);
      assert.deepEqual(
        plan.changes.map((c) => [c.name, c.type, c.category]).sort(),
        ['child', 'inc', 'other', 'raw'].map((t) => [fqn(t), 'added', 'breaking']),
      );
      assert.equal(plan.newSnapshots.length, 4);
      assert.deepEqual(backfilled(plan), ['child', 'inc', 'other', 'raw']);
      const inc = plan.backfill.find((b) => b.name === fqn('inc'))!;
      assert.deepEqual(inc.batches, [[JAN_1, JAN_10]]);
      // child has no start: it inherits inc's.
      const child = plan.backfill.find((b) => b.name === fqn('child'))!;
      assert.deepEqual(child.batches, [[JAN_1, JAN_10]]);
      assert.equal(plan.start, JAN_1);
      assert.equal(plan.end, JAN_10);
      assert.equal(plan.promoted.length, 4);
      assert.ok(planHasWork(plan));
    });
  });

  it('is plain JSON: a round trip through JSON gives the same plan', async () => {
    await withProject(async (p) => {
      await p.deploy();
      const restatement = await p.plan('prod', {
        restateModels: [fqn('inc')],
        start: '2020-01-03',
        end: '2020-01-04',
      });
      assert.ok(restatement.restatements.length > 0 && restatement.backfill.length > 0);
      assert.deepEqual(JSON.parse(JSON.stringify(restatement)), restatement);
      p.write('raw', MODELS.raw!.replace("'a' AS name", "'a' AS name, 3 AS extra"));
      p.remove('other');
      const dev = await p.plan('dev');
      assert.ok(dev.changes.length > 0 && dev.removed.length > 0 && dev.newSnapshots.length > 0);
      assert.deepEqual(JSON.parse(JSON.stringify(dev)), dev);
    });
  });

  it('has no changes and no backfill after a completed apply', async () => {
    await withProject(async (p) => {
      const first = await p.deploy();
      const again = await p.plan('prod');
      assert.deepEqual(again.changes, []);
      assert.deepEqual(again.backfill, []);
      assert.deepEqual(again.newSnapshots, []);
      assert.equal(again.isNewEnvironment, false);
      assert.equal(again.expectedPlanId, first.id);
      assert.equal(planHasWork(again), false);
      // A day later, only the new day is missing.
      const later = await p.plan('prod', { now: JAN_10 + DAY });
      assert.deepEqual(later.changes, []);
      const inc = later.backfill.find((b) => b.name === fqn('inc'));
      assert.deepEqual(inc?.batches, [[JAN_10, JAN_10 + DAY]]);
    });
  });

  it('finds removed models', async () => {
    await withProject(async (p) => {
      await p.deploy();
      p.remove('other');
      const plan = await p.plan('prod');
      assert.deepEqual(
        plan.changes.map((c) => [c.name, c.type]),
        [[fqn('other'), 'removed']],
      );
      assert.deepEqual(
        plan.removed.map((r) => r.name),
        [fqn('other')],
      );
      assert.equal(
        plan.snapshots.some((s) => s.name === fqn('other')),
        false,
      );
    });
  });

  it('a breaking change gives the model and everything downstream new versions', async () => {
    await withProject(async (p) => {
      const base = await p.deploy();
      p.write('raw', MODELS.raw!.replace("'a' AS name", "'b' AS name"));
      const plan = await p.plan('prod');
      const raw = change(plan, 'raw')!;
      assert.equal(raw.type, 'directly_modified');
      assert.equal(raw.category, 'breaking');
      assert.equal(raw.undecided, true);
      assert.ok(raw.diff?.includes("'b' AS name"));
      assert.deepEqual(raw.downstream?.sort(), [fqn('child'), fqn('inc')]);
      for (const t of ['inc', 'child']) {
        const c = change(plan, t)!;
        assert.equal(c.type, 'indirectly_modified', t);
        assert.equal(c.category, 'indirect_breaking', t);
        assert.notEqual(snapshotOf(plan, t).version, snapshotOf(base, t).version, t);
      }
      assert.notEqual(snapshotOf(plan, 'raw').version, snapshotOf(base, 'raw').version);
      assert.equal(snapshotOf(plan, 'other').version, snapshotOf(base, 'other').version);
      assert.equal(change(plan, 'other'), undefined);
      assert.deepEqual(backfilled(plan), ['child', 'inc', 'raw']);
    });
  });

  it("a non-breaking column addition keeps its children's versions", async () => {
    await withProject(async (p) => {
      const base = await p.deploy();
      p.write('raw', MODELS.raw!.replace("'a' AS name", "'a' AS name, 3 AS extra"));
      const plan = await p.plan('prod');
      const raw = change(plan, 'raw')!;
      assert.equal(raw.type, 'directly_modified');
      assert.equal(raw.category, 'non_breaking');
      assert.notEqual(snapshotOf(plan, 'raw').version, snapshotOf(base, 'raw').version);
      for (const t of ['inc', 'child']) {
        const c = change(plan, t)!;
        assert.equal(c.type, 'indirectly_modified', t);
        assert.equal(c.category, 'indirect_non_breaking', t);
        assert.equal(snapshotOf(plan, t).version, snapshotOf(base, t).version, t);
      }
      assert.deepEqual(backfilled(plan), ['raw']);
    });
  });

  it('a non-breaking change downstream of a breaking one becomes breaking', async () => {
    await withProject(async (p) => {
      const base = await p.deploy();
      p.write('raw', MODELS.raw!.replace("'a' AS name", "'b' AS name"));
      p.write('child', MODELS.child!.replace('SELECT id, name', 'SELECT id, name, 1 AS flag'));
      const plan = await p.plan('prod');
      const child = change(plan, 'child')!;
      assert.equal(child.type, 'directly_modified');
      assert.equal(child.category, 'breaking');
      assert.notEqual(snapshotOf(plan, 'child').version, snapshotOf(base, 'child').version);
      // The same edit alone is non-breaking.
      p.write('raw', MODELS.raw!);
      const alone = await p.plan('prod');
      assert.equal(change(alone, 'child')!.category, 'non_breaking');
    });
  });

  it('owner and cron changes are metadata: same version, no backfill', async () => {
    await withProject(async (p) => {
      const base = await p.deploy();
      p.write('inc', MODELS.inc!.replace("cron '@daily',", "cron '@daily',\n  owner 'bob',"));
      p.write('other', MODELS.other!.replace('kind VIEW,', "kind VIEW, cron '0 3 * * *',"));
      const plan = await p.plan('prod');
      for (const t of ['inc', 'other']) {
        const c = change(plan, t)!;
        assert.equal(c.type, 'metadata', t);
        assert.equal(c.category, 'metadata', t);
        assert.notEqual(c.identifier, c.previousIdentifier, t);
        assert.equal(snapshotOf(plan, t).version, snapshotOf(base, t).version, t);
      }
      assert.ok(change(plan, 'inc')!.diff?.includes('bob'));
      assert.equal(snapshotOf(plan, 'child').version, snapshotOf(base, 'child').version);
      assert.equal(change(plan, 'raw'), undefined);
      assert.deepEqual(plan.backfill, []);
    });
  });

  it('categories override the automatic category', async () => {
    await withProject(async (p) => {
      const base = await p.deploy();
      p.write('raw', MODELS.raw!.replace("'a' AS name", "'b' AS name"));
      const plan = await p.plan('prod', {
        categories: new Map([[fqn('raw'), 'non_breaking' as const]]),
      });
      const raw = change(plan, 'raw')!;
      assert.equal(raw.category, 'non_breaking');
      assert.equal(raw.categoryOverridden, true);
      assert.equal(change(plan, 'inc')!.category, 'indirect_non_breaking');
      assert.equal(snapshotOf(plan, 'inc').version, snapshotOf(base, 'inc').version);
      // And the other way round: an addition forced to breaking.
      p.write('raw', MODELS.raw!.replace("'a' AS name", "'a' AS name, 3 AS extra"));
      const forced = await p.plan('prod', {
        categories: new Map([[fqn('raw'), 'breaking' as const]]),
      });
      assert.equal(change(forced, 'raw')!.category, 'breaking');
      assert.equal(change(forced, 'inc')!.category, 'indirect_breaking');
      assert.notEqual(snapshotOf(forced, 'inc').version, snapshotOf(base, 'inc').version);
    });
  });

  it('forwardOnly keeps every version', async () => {
    await withProject(async (p) => {
      const base = await p.deploy();
      p.write('raw', MODELS.raw!.replace("'a' AS name", "'b' AS name"));
      const plan = await p.plan('prod', { forwardOnly: true });
      assert.equal(plan.options.forwardOnly, true);
      assert.equal(change(plan, 'raw')!.category, 'forward_only');
      for (const t of ['raw', 'inc', 'child']) {
        assert.equal(snapshotOf(plan, t).version, snapshotOf(base, t).version, t);
      }
      assert.equal(change(plan, 'inc')!.category, 'forward_only');
    });
  });

  it('a new dev environment diffs against prod and backfills only what it does not share', async () => {
    await withProject(async (p) => {
      const prod = await p.deploy();
      p.write('child', MODELS.child!.replace('SELECT id, name', 'SELECT id, name, 1 AS flag'));
      const plan = await p.plan('dev');
      assert.equal(plan.isNewEnvironment, true);
      assert.equal(plan.baseEnvironment, 'prod');
      assert.deepEqual(
        plan.changes.map((c) => [c.name, c.type]),
        [[fqn('child'), 'directly_modified']],
      );
      assert.deepEqual(backfilled(plan), ['child']);
      assert.deepEqual(
        plan.promoted.map((k) => k.split('|')[0]),
        [fqn('child')],
      );
      await p.apply(plan);
      // Prod takes what dev built: same version, nothing to compute again.
      const promote = await p.plan('prod');
      assert.equal(snapshotOf(promote, 'child').version, snapshotOf(plan, 'child').version);
      assert.notEqual(snapshotOf(promote, 'child').version, snapshotOf(prod, 'child').version);
      assert.deepEqual(promote.backfill, []);
      assert.deepEqual(promote.newSnapshots, []);
    });
  });

  it('a dev environment without changes backfills nothing', async () => {
    await withProject(async (p) => {
      await p.deploy();
      const plan = await p.plan('dev');
      assert.deepEqual(plan.changes, []);
      assert.deepEqual(plan.backfill, []);
      assert.deepEqual(plan.promoted, []);
    });
  });

  it('includeUnmodified promotes every model in a dev environment', async () => {
    await withProject(async (p) => {
      await p.deploy();
      p.write('child', MODELS.child!.replace('SELECT id, name', 'SELECT id, name, 1 AS flag'));
      const plan = await p.plan('dev', { includeUnmodified: true });
      assert.equal(plan.options.includeUnmodified, true);
      assert.deepEqual(
        plan.promoted.map((k) => k.split('|')[0]).sort(),
        ['child', 'inc', 'other', 'raw'].map(fqn),
      );
      assert.deepEqual(backfilled(plan), ['child']);
    });
  });

  it('restates a model and everything downstream of it, for the range', async () => {
    await withProject(async (p) => {
      await p.deploy();
      const start = '2020-01-03';
      const end = '2020-01-04';
      const plan = await p.plan('prod', { restateModels: [fqn('inc')], start, end });
      assert.deepEqual(plan.options.restateModels, [fqn('inc')]);
      const byName = new Map(plan.restatements.map((r) => [r.name, r]));
      assert.deepEqual([...byName.keys()].sort(), [fqn('child'), fqn('inc')]);
      assert.deepEqual(byName.get(fqn('inc'))!.interval, [
        Date.UTC(2020, 0, 3),
        Date.UTC(2020, 0, 5),
      ]);
      assert.equal(byName.has(fqn('raw')), false);
      const inc = plan.backfill.find((b) => b.name === fqn('inc'));
      assert.deepEqual(inc?.batches, [[Date.UTC(2020, 0, 3), Date.UTC(2020, 0, 5)]]);
      assert.ok(plan.backfill.some((b) => b.name === fqn('child')));
      assert.equal(
        plan.backfill.some((b) => b.name === fqn('raw')),
        false,
      );
      assert.ok(planHasWork(plan));
    });
  });

  it('skips models with disable_restatement, and what only they would restate', async () => {
    await withProject(async (p) => {
      p.write(
        'inc',
        MODELS['inc']!.replace('(time_column ds)', '(time_column ds, disable_restatement true)'),
      );
      await p.deploy();
      const plan = await p.plan('prod', { restateModels: [fqn('inc')] });
      assert.deepEqual(plan.restatements, []);
      assert.deepEqual(backfilled(plan), []);
      assert.match(plan.warnings.join('\n'), /s\.inc|inc.*cannot be restated/);
    });
  });

  it('a dev plan never restates a table prod uses', async () => {
    await withProject(async (p) => {
      await p.deploy();
      const plan = await p.plan('dev', { restateModels: [fqn('inc')] });
      assert.deepEqual(plan.restatements, []);
      assert.deepEqual(backfilled(plan), []);
      assert.match(plan.warnings.join('\n'), /shared with prod/);
    });
  });

  it('refuses to restate a model the environment does not have', async () => {
    await withProject(async (p) => {
      await expectError(
        p.plan('prod', { restateModels: [fqn('inc')] }),
        /environment prod does not exist yet/,
      );
      await p.deploy('prod');
      p.write('extra', "MODEL (name s.extra, kind FULL, start '2020-01-01');\nSELECT 3 AS x");
      await expectError(
        p.plan('prod', { restateModels: [fqn('extra')] }),
        /not in environment prod/,
      );
    });
  });

  it('refuses --start on a prod plan without restatement, and an end in the future', async () => {
    await withProject(async (p) => {
      await expectError(p.plan('prod', { start: '2020-01-03' }), /--start and --end apply to/);
      await expectError(p.plan('dev', { end: '2020-02-01' }), /--end .* is in the future/);
    });
  });

  it('skipBackfill leaves the backfill empty', async () => {
    await withProject(async (p) => {
      const plan = await p.plan('prod', { skipBackfill: true });
      assert.equal(plan.options.skipBackfill, true);
      assert.deepEqual(plan.backfill, []);
      assert.equal(plan.changes.length, 4);
    });
  });

  it('honours start, end and execution time', async () => {
    await withProject(async (p) => {
      // A new environment: every model is backfilled, within the requested range.
      const plan = await p.plan('dev', { start: '2020-01-03', end: '2020-01-05' });
      const inc = plan.backfill.find((b) => b.name === fqn('inc'));
      assert.deepEqual(inc?.batches, [[Date.UTC(2020, 0, 3), Date.UTC(2020, 0, 6)]]);
      assert.equal(plan.start, Date.UTC(2020, 0, 3));
      assert.equal(plan.end, Date.UTC(2020, 0, 6));
      const early = await p.plan('dev', { executionTime: '2020-01-04' });
      assert.equal(early.executionTime, Date.UTC(2020, 0, 4));
      const inc2 = early.backfill.find((b) => b.name === fqn('inc'));
      assert.deepEqual(inc2?.batches, [[JAN_1, Date.UTC(2020, 0, 4)]]);
    });
  });

  it('normalizes the environment name', async () => {
    await withProject(async (p) => {
      const plan = await p.plan('  Dev ');
      assert.equal(plan.environment, 'dev');
    });
  });
});

describe('buildPlan: bad input', () => {
  const cases: Array<{ name: string; input: Partial<BuildPlanInput>; error: RegExp }> = [
    { name: 'environment with a space', input: { environment: 'my env' }, error: /"my env"/ },
    { name: 'environment with a dot', input: { environment: 'dev.x' }, error: /"dev\.x"/ },
    { name: 'environment with a slash', input: { environment: 'a/b' }, error: /"a\/b"/ },
    { name: 'empty environment', input: { environment: '' }, error: /environment name ""/ },
    { name: 'unparseable start', input: { start: 'someday' }, error: /^--start: .*'someday'/ },
    { name: 'unparseable end', input: { end: '2020-13-45' }, error: /^--end: .*'2020-13-45'/ },
    {
      name: 'unparseable execution time',
      input: { executionTime: 'not a time' },
      error: /^--execution-time: .*'not a time'/,
    },
    {
      name: 'start after end',
      input: { start: '2020-01-05', end: '2020-01-02' },
      error:
        /--start \(2020-01-05T00:00:00\.000Z\) must be before --end \(2020-01-03T00:00:00\.000Z\)/,
    },
    {
      name: 'start equal to a timestamp end',
      input: { start: '2020-01-05 00:00:00', end: '2020-01-05 00:00:00' },
      error: /--start \(2020-01-05T00:00:00\.000Z\) must be before --end/,
    },
    {
      name: 'unknown restate model',
      input: { restateModels: ['"db"."s"."nope"'] },
      error: /--restate-model "db"\."s"\."nope": no such model/,
    },
  ];

  for (const c of cases) {
    it(`${c.name} is a one-line error naming the value`, async () => {
      await withProject(async (p) => {
        await expectError(p.plan(c.input.environment ?? 'dev', c.input), c.error);
      });
    });
  }

  it('names an unknown restate model as the user sees it', async () => {
    await withProject(async (p) => {
      await expectError(
        p.plan('prod', {
          restateModels: ['"db"."s"."nope"'],
          displayName: (n) => n.replace('"db".', '').replace(/"/g, ''),
        }),
        /--restate-model s\.nope: no such model in the project/,
      );
    });
  });
});
