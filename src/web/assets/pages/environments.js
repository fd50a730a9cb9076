// Environments: the list, and one environment with its plans, runs,
// failures, differences from prod, pauses and models.
import { api, can, ApiError } from '../api.js';
import { activityFeed } from '../activity-feed.js';
import {
  auditsOf,
  environmentDetail,
  evaluations,
  freshness,
  getEnvironment,
  listEnvironments,
  listPlans,
  listRuns,
  pauses as readPauses,
} from '../data.js';
import { facts, h, link, note, replace, section, table } from '../dom.js';
import { elapsed, formatInterval, shortModelName } from '../format.js';
import {
  actionButton,
  badge,
  duration,
  errorNote,
  executionLink,
  pager,
  plural,
  time,
  who,
} from '../widgets.js';

const enc = encodeURIComponent;

export async function renderEnvironments(view, ctx) {
  const envs = await listEnvironments();
  replace(
    view,
    h('h1', {}, 'Environments'),
    h(
      'p',
      { class: 'muted' },
      `${plural(envs.length, 'environment')}. Each is created by applying a plan to it.`,
    ),
    table(
      'Environments',
      ['Name', 'Models', 'Created', 'Updated', 'Expires'],
      envs.map((e) => [
        link(`/environments/${enc(e.name)}`, e.name),
        e.modelCount ?? '—',
        time(e.createdTs, ctx),
        time(e.updatedTs, ctx),
        e.name === 'prod' ? 'never' : e.expirationTs ? time(e.expirationTs, ctx) : 'never',
      ]),
      { empty: 'No environments yet: apply a plan to create one.' },
    ),
  );
}

/** The five ways a model can differ from prod, in the order they are shown. */
const DIFFERENCES = [
  ['directly_modified', 'Directly modified', 'its own definition changed'],
  ['indirectly_modified', 'Indirectly modified', 'changed through a model it reads'],
  ['metadata', 'Metadata only', 'a change that needs no new data'],
  ['added', 'Added', 'not in prod'],
  ['removed', 'Removed', 'in prod, not here'],
];

/**
 * How an environment differs from prod, by model: the observability API's
 * answer when the server has it, else worked out from the two snapshot
 * lists (a changed identifier counts as directly modified there).
 */
function differences(env, prod, detail) {
  if (detail) {
    return [
      ...detail.snapshots
        .filter((s) => s.difference)
        .map((s) => ({ name: s.name, difference: s.difference, category: s.changeCategory })),
      ...detail.removed.map((r) => ({ name: r.name, difference: 'removed', category: null })),
    ].sort((a, b) => a.name.localeCompare(b.name));
  }
  const mine = new Map((env.snapshots ?? []).map((s) => [s.name, s]));
  const theirs = new Map((prod?.snapshots ?? []).map((s) => [s.name, s]));
  const out = [];
  for (const [name, s] of mine) {
    const p = theirs.get(name);
    if (!p) out.push({ name, difference: 'added', category: s.changeCategory });
    else if (p.identifier !== s.identifier)
      out.push({ name, difference: 'directly_modified', category: s.changeCategory });
  }
  for (const name of theirs.keys())
    if (!mine.has(name)) out.push({ name, difference: 'removed', category: null });
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export async function renderEnvironment(view, ctx) {
  const [name] = ctx.params;
  const env = await getEnvironment(name);
  if (!env) {
    replace(
      view,
      h('h1', {}, `Environment ${name}`),
      note(`There is no environment ${name}. Apply a plan to create it.`),
      link('/environments', '← All environments'),
    );
    return;
  }
  const [prod, plans, runs, fresh, paused, detail, backfilled, failedEvaluations] =
    await Promise.allSettled([
      name === 'prod' ? Promise.resolve(env) : getEnvironment('prod'),
      listPlans({ environment: name, limit: 200 }),
      listRuns({ environment: name, limit: 200 }),
      freshness(name),
      readPauses(name),
      environmentDetail(name),
      evaluations({ environment: name, status: 'succeeded', limit: 1 }),
      evaluations({ environment: name, status: 'failed', limit: 10 }),
    ]);
  for (const r of [prod, plans, runs, fresh, paused, detail, backfilled, failedEvaluations]) {
    if (r.status === 'rejected' && r.reason instanceof ApiError && r.reason.status === 401)
      throw r.reason;
  }
  const pauseInfo = paused.status === 'fulfilled' ? paused.value : null;
  const isPaused = pauseInfo?.paused === true;
  const lastPlan = plans.status === 'fulfilled' ? plans.value[0] : undefined;
  // Who paused, by name, where the observability API says.
  const pausedBy = new Map(
    (detail.status === 'fulfilled' ? (detail.value?.pauses ?? []) : []).map((p) => [
      `${p.model}|${p.createdBy}`,
      p.createdByName,
    ]),
  );
  const modelPauses = pauseInfo
    ? pauseInfo.pauses
        .filter((p) => p.model !== null)
        .map((p) => ({ ...p, createdByName: pausedBy.get(`${p.model}|${p.createdBy}`) ?? null }))
    : [];
  // Failed audits of the latest runs and plans (the audit list is kept per run and plan).
  const recent = [
    ...(plans.status === 'fulfilled' ? plans.value.slice(0, 5) : []),
    ...(runs.status === 'fulfilled' ? runs.value.slice(0, 5) : []),
  ];
  const audits = await Promise.allSettled(
    recent.map(async (x) =>
      (await auditsOf(x.kind, x.id)).map((a) => ({ ...a, kind: x.kind, ownerId: x.id })),
    ),
  );
  const failedAudits = audits
    .flatMap((r) => (r.status === 'fulfilled' ? r.value : []))
    .filter((a) => !a.passed)
    .sort((a, b) => b.createdTs - a.createdTs)
    .slice(0, 10);
  const lastBackfill = backfilled.status === 'fulfilled' ? backfilled.value[0] : undefined;
  const feed = await activityFeed(ctx, {
    id: 'env-activity',
    environment: name,
    pageSize: 10,
    caption: `Activity of ${name}`,
  });

  const pauseButton = !can('pause')
    ? null
    : isPaused
      ? actionButton(
          'Resume environment',
          async () => {
            await api(`/environments/${enc(name)}/pause`, { method: 'DELETE' });
            return `Environment ${name} resumed`;
          },
          ctx,
          { id: 'resume-environment', class: 'primary' },
        )
      : actionButton(
          'Pause environment',
          async () => {
            await api(`/environments/${enc(name)}/pause`, { method: 'POST', body: {} });
            return `Environment ${name} paused: scheduled runs leave it alone`;
          },
          ctx,
          {
            id: 'pause-environment',
            confirm: `Pause ${name}? Scheduled and manual runs will leave it alone until it is resumed.`,
          },
        );
  // A manual run needs run.prod for prod, run.dev for the others; a paused environment runs nothing.
  const runButton =
    can(name === 'prod' ? 'run.prod' : 'run.dev') && !isPaused
      ? actionButton(
          'Run now',
          async () => {
            const answer = await api('/runs', { method: 'POST', body: { environment: name } });
            return answer?.run
              ? `Run ${answer.run.id} of ${name} queued`
              : `Nothing of ${name} is due: no run was started`;
          },
          ctx,
          { id: 'run-now' },
        )
      : null;
  const controls =
    pauseButton || runButton ? h('div', { class: 'actions' }, runButton, pauseButton) : null;

  replace(
    view,
    h('p', { class: 'crumbs' }, link('/environments', '← Environments')),
    h('h1', {}, `Environment ${name} `, isPaused ? badge('paused') : badge('online', 'active')),
    facts([
      ['Models', String(env.modelCount ?? 0)],
      ['Created', time(env.createdTs, ctx)],
      ['Updated', time(env.updatedTs, ctx)],
      ['Expires', name === 'prod' || !env.expirationTs ? 'never' : time(env.expirationTs, ctx)],
      [
        'Last plan',
        lastPlan
          ? [link(`/plans/${enc(lastPlan.id)}`, lastPlan.id), ' ', badge(lastPlan.status)]
          : 'none',
      ],
      [
        'Last backfilled interval',
        lastBackfill
          ? [
              formatInterval(lastBackfill.interval, ctx.timeZone),
              ' of ',
              link(
                `/models/${enc(name)}/${enc(lastBackfill.model)}`,
                shortModelName(lastBackfill.model),
                {
                  title: lastBackfill.model,
                },
              ),
              ', ',
              time(lastBackfill.finishedTs ?? lastBackfill.createdTs, ctx),
            ]
          : 'none yet',
      ],
      ['Scheduling', isPaused ? 'paused: no scheduled runs' : 'active'],
    ]),
    controls,
    name === 'prod'
      ? null
      : section(
          'Differences from prod',
          prod.status === 'rejected'
            ? errorNote(prod.reason)
            : diffTable(
                differences(env, prod.value, detail.status === 'fulfilled' ? detail.value : null),
                name,
              ),
        ),
    failuresSection(plans, runs, failedEvaluations, failedAudits, ctx, name),
    pausesSection(name, env, modelPauses, pauseInfo, ctx),
    section(
      'Plan applications',
      plans.status === 'rejected'
        ? errorNote(plans.reason)
        : pager(
            plans.value,
            10,
            (page) =>
              table(
                'Plans applied to this environment',
                ['Plan', 'Status', 'Submitted', 'By', 'Duration'],
                page.map((p) => [
                  link(`/plans/${enc(p.id)}`, p.id),
                  badge(p.status),
                  time(p.createdTs, ctx),
                  who(p.createdBy, p.createdByName),
                  duration(elapsed(p, ctx.now)),
                ]),
                { empty: 'No plans yet.' },
              ),
            'Plans',
          ),
    ),
    section('Recent activity', feed),
    modelsSection(name, env, fresh, modelPauses, ctx),
  );
}

function diffTable(diff, name) {
  const count = (key) => diff.filter((d) => d.difference === key).length;
  return [
    h(
      'ul',
      { class: 'difference-counts', 'aria-label': 'Differences by kind' },
      DIFFERENCES.map(([key, label, hint]) =>
        h('li', { 'data-difference': key, title: hint }, `${label}: ${count(key)}`),
      ),
    ),
    diff.length
      ? table(
          `Models that differ between ${name} and prod`,
          ['Model', 'Difference', 'Change category'],
          diff.map((d) => [
            d.difference === 'removed'
              ? shortModelName(d.name)
              : link(`/models/${enc(name)}/${enc(d.name)}`, shortModelName(d.name), {
                  title: d.name,
                }),
            DIFFERENCES.find(([key]) => key === d.difference)?.[1] ?? d.difference,
            d.category ? d.category.replace(/_/g, ' ') : '—',
          ]),
        )
      : note(`${name} has the same model versions as prod.`),
  ];
}

function failuresSection(plans, runs, failedEvaluations, failedAudits, ctx, name) {
  const failed = [
    ...(plans.status === 'fulfilled' ? plans.value : []),
    ...(runs.status === 'fulfilled' ? runs.value : []),
  ]
    .filter((x) => x.status === 'failed')
    .sort(
      (a, b) =>
        (b.finishedTs ?? b.updatedTs ?? b.createdTs) - (a.finishedTs ?? a.updatedTs ?? a.createdTs),
    )
    .slice(0, 5);
  const executions = failedEvaluations.status === 'fulfilled' ? failedEvaluations.value : [];
  const owner = (x) =>
    x.runId ? executionLink('run', x.runId) : x.planId ? executionLink('plan', x.planId) : '—';
  const modelLink = (model) =>
    link(`/models/${enc(name)}/${enc(model)}`, shortModelName(model), { title: model });
  return section(
    'Recent failures',
    failedEvaluations.status === 'rejected' ? errorNote(failedEvaluations.reason) : null,
    !failed.length && !executions.length && !failedAudits.length
      ? note('No recent failures: no failed run, plan, model execution or audit.')
      : null,
    failed.length
      ? table(
          'Failed runs and plans',
          ['What', 'When', 'Error'],
          failed.map((f) => [
            executionLink(f.kind, f.id),
            time(f.finishedTs ?? f.updatedTs ?? f.createdTs, ctx),
            h('span', { class: 'error-text' }, f.error ?? '—'),
          ]),
          { showCaption: true },
        )
      : null,
    executions.length
      ? table(
          'Failed model executions',
          ['Model', 'Interval', 'In', 'When', 'Error'],
          executions.map((e) => [
            modelLink(e.model),
            formatInterval(e.interval, ctx.timeZone),
            owner(e),
            time(e.finishedTs ?? e.createdTs, ctx),
            h('span', { class: 'error-text' }, e.error ?? '—'),
          ]),
          { showCaption: true },
        )
      : null,
    failedAudits.length
      ? table(
          'Failed audits',
          ['Model', 'Audit', 'Blocking', 'Failing rows', 'In', 'When'],
          failedAudits.map((a) => [
            modelLink(a.model),
            a.audit,
            a.blocking ? 'yes' : 'no',
            String(a.failingRows),
            owner(a),
            time(a.createdTs, ctx),
          ]),
          { showCaption: true },
        )
      : null,
  );
}

function pausesSection(name, env, modelPauses, pauseInfo, ctx) {
  if (!pauseInfo) return section('Model pauses', note('Pauses are not available on this server.'));
  const rows = modelPauses.map((p) => [
    link(`/models/${enc(name)}/${enc(p.model)}`, shortModelName(p.model)),
    p.reason ?? '—',
    who(p.createdBy, p.createdByName),
    time(p.createdTs, ctx),
    can('pause')
      ? actionButton(
          'Remove pause',
          async () => {
            await api(`/environments/${enc(name)}/models/pause?model=${enc(p.model)}`, {
              method: 'DELETE',
            });
            return `Pause of ${shortModelName(p.model)} removed`;
          },
          ctx,
          {
            confirm: `Remove the pause of ${shortModelName(p.model)}? Runs will evaluate it again.`,
          },
        )
      : '',
  ]);
  const headers = ['Model', 'Reason', 'By', 'Since', can('pause') ? 'Actions' : ''];
  let form = null;
  if (can('pause')) {
    const pausedNames = new Set(modelPauses.map((p) => p.model));
    const model = h('select', { id: 'pause-model', required: true }, [
      h('option', { value: '' }, 'Choose a model…'),
      (env.snapshots ?? [])
        .map((s) => s.name)
        .filter((n) => !pausedNames.has(n))
        .sort()
        .map((n) => h('option', { value: n }, shortModelName(n))),
    ]);
    const reason = h('input', {
      id: 'pause-reason',
      maxlength: 1000,
      placeholder: 'e.g. upstream source is being fixed',
    });
    const error = h('p', { class: 'form-error', role: 'alert', id: 'pause-error' });
    form = h(
      'form',
      {
        class: 'inline-form',
        'aria-label': 'Pause a model',
        onsubmit: async (e) => {
          e.preventDefault();
          error.textContent = '';
          if (!model.value) {
            error.textContent = 'Choose the model to pause.';
            model.focus();
            return;
          }
          try {
            await api(`/environments/${enc(name)}/models/pause`, {
              method: 'POST',
              body: {
                model: model.value,
                ...(reason.value.trim() ? { reason: reason.value.trim() } : {}),
              },
            });
            ctx.announce(
              `${shortModelName(model.value)} paused; runs leave it and its downstream models alone`,
            );
            model.blur();
            reason.blur();
            await ctx.refresh();
          } catch (err) {
            error.textContent = err instanceof Error ? err.message : String(err);
          }
        },
      },
      h('div', { class: 'field' }, h('label', { for: 'pause-model' }, 'Model'), model),
      h('div', { class: 'field grow' }, h('label', { for: 'pause-reason' }, 'Reason'), reason),
      h('button', { type: 'submit', class: 'primary', id: 'pause-model-submit' }, 'Pause model'),
      error,
    );
  }
  return section(
    'Model pauses',
    h(
      'p',
      { class: 'muted' },
      'A paused model is left alone by runs, and so is everything downstream of it. Plans still evaluate it.',
    ),
    table('Paused models', headers, rows, { empty: 'No model is paused.' }),
    form,
  );
}

function modelsSection(name, env, fresh, modelPauses, ctx) {
  const state = new Map(
    fresh.status === 'fulfilled' ? fresh.value.models.map((m) => [m.model, m]) : [],
  );
  const paused = new Set(modelPauses.map((p) => p.model));
  const rows = (env.snapshots ?? [])
    .slice()
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((s) => {
      const f = state.get(s.name);
      return [
        link(`/models/${enc(name)}/${enc(s.name)}`, shortModelName(s.name), { title: s.name }),
        s.kind ?? '—',
        f ? badge(f.state) : h('span', { class: 'muted' }, 'not scheduled'),
        paused.has(s.name)
          ? badge('paused')
          : f?.paused
            ? badge('paused', 'held (upstream paused)')
            : '—',
        f?.lastTask ? [badge(f.lastTask.status), ' ', time(f.lastTask.finishedTs, ctx)] : '—',
      ];
    });
  return section(
    'Models',
    fresh.status === 'rejected' ? errorNote(fresh.reason) : null,
    pager(
      rows,
      25,
      (page) =>
        table(`Models of ${name}`, ['Model', 'Kind', 'Freshness', 'Paused', 'Last task'], page),
      'Models',
    ),
  );
}
