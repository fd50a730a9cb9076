// Environments: the list, and one environment with its plans, runs,
// failures, differences from prod, pauses and models.
import { api, can, ApiError } from '../api.js';
import {
  freshness,
  getEnvironment,
  listEnvironments,
  listPlans,
  listRuns,
  pauses as readPauses,
} from '../data.js';
import { facts, h, link, note, replace, section, table } from '../dom.js';
import { elapsed, shortModelName } from '../format.js';
import { actionButton, badge, duration, errorNote, pager, plural, time } from '../widgets.js';
import { activityList } from './home.js';

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

/** What differs between an environment and prod: models added, changed, missing. */
function differences(env, prod) {
  const mine = new Map((env.snapshots ?? []).map((s) => [s.name, s]));
  const theirs = new Map((prod?.snapshots ?? []).map((s) => [s.name, s]));
  const out = [];
  for (const [name, s] of mine) {
    const p = theirs.get(name);
    if (!p) out.push({ name, change: 'added', category: s.changeCategory });
    else if (p.identifier !== s.identifier)
      out.push({ name, change: 'changed', category: s.changeCategory });
  }
  for (const name of theirs.keys())
    if (!mine.has(name)) out.push({ name, change: 'not in this environment' });
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
  const [prod, plans, runs, fresh, paused] = await Promise.allSettled([
    name === 'prod' ? Promise.resolve(env) : getEnvironment('prod'),
    listPlans({ environment: name, limit: 200 }),
    listRuns({ environment: name, limit: 200 }),
    freshness(name),
    readPauses(name),
  ]);
  for (const r of [prod, plans, runs, fresh, paused]) {
    if (r.status === 'rejected' && r.reason instanceof ApiError && r.reason.status === 401)
      throw r.reason;
  }
  const pauseInfo = paused.status === 'fulfilled' ? paused.value : null;
  const isPaused = pauseInfo?.paused === true;
  const lastPlan = plans.status === 'fulfilled' ? plans.value[0] : undefined;
  const modelPauses = pauseInfo ? pauseInfo.pauses.filter((p) => p.model !== null) : [];

  const controls = can('pause')
    ? h(
        'div',
        { class: 'actions' },
        isPaused
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
            ),
      )
    : null;

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
      ['Scheduling', isPaused ? 'paused: no scheduled runs' : 'active'],
    ]),
    controls,
    failuresSection(plans, runs, fresh, ctx),
    name === 'prod'
      ? null
      : section(
          'Differences from prod',
          prod.status === 'rejected'
            ? errorNote(prod.reason)
            : diffTable(differences(env, prod.value), name),
        ),
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
                  p.createdBy ?? '—',
                  duration(elapsed(p, ctx.now)),
                ]),
                { empty: 'No plans yet.' },
              ),
            'Plans',
          ),
    ),
    section(
      'Recent activity',
      runs.status === 'rejected' || plans.status === 'rejected'
        ? errorNote((runs.status === 'rejected' ? runs : plans).reason)
        : activityList(
            [...runs.value, ...plans.value].sort(
              (a, b) => (b.startedTs ?? b.createdTs) - (a.startedTs ?? a.createdTs),
            ),
            ctx,
            {
              id: 'env-activity',
              environment: name,
              pageSize: 10,
              caption: `Runs and plans of ${name}`,
            },
          ),
    ),
    modelsSection(name, env, fresh, modelPauses, ctx),
  );
}

function diffTable(diff, name) {
  if (!diff.length) return note(`${name} has the same model versions as prod.`);
  return table(
    `Models that differ between ${name} and prod`,
    ['Model', 'Difference', 'Change category'],
    diff.map((d) => [
      d.change === 'not in this environment'
        ? shortModelName(d.name)
        : link(`/models/${enc(name)}/${enc(d.name)}`, shortModelName(d.name)),
      d.change,
      d.category ? d.category.replace(/_/g, ' ') : '—',
    ]),
  );
}

function failuresSection(plans, runs, fresh, ctx) {
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
  const models =
    fresh.status === 'fulfilled'
      ? fresh.value.models.filter((m) => m.lastTask?.status === 'failed')
      : [];
  if (!failed.length && !models.length)
    return section('Recent failures', note('No recent failures.'));
  return section(
    'Recent failures',
    failed.length
      ? table(
          'Failed runs and plans',
          ['What', 'When', 'Error'],
          failed.map((f) => [
            link(
              `/${f.kind === 'plan' ? 'plans' : 'runs'}/${enc(f.id)}`,
              `${f.kind === 'plan' ? 'Plan' : 'Run'} ${f.id.slice(0, 8)}`,
              { title: f.id },
            ),
            time(f.finishedTs ?? f.updatedTs ?? f.createdTs, ctx),
            h('span', { class: 'error-text' }, f.error ?? '—'),
          ]),
        )
      : null,
    models.length
      ? table(
          'Models whose last task failed',
          ['Model', 'Finished', 'Error'],
          models.map((m) => [
            shortModelName(m.model),
            time(m.lastTask.finishedTs, ctx),
            h('span', { class: 'error-text' }, m.lastTask.error ?? '—'),
          ]),
        )
      : null,
  );
}

function pausesSection(name, env, modelPauses, pauseInfo, ctx) {
  if (!pauseInfo) return section('Model pauses', note('Pauses are not available on this server.'));
  const rows = modelPauses.map((p) => [
    link(`/models/${enc(name)}/${enc(p.model)}`, shortModelName(p.model)),
    p.reason ?? '—',
    p.createdBy ?? '—',
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
