// Home: prod at a glance — freshness, the last run and plan, two weeks of
// runs and plans as a chart, and recent activity with filters and pages.
import { ApiError } from '../api.js';
import { activity, freshness, listPlans, listRuns } from '../data.js';
import { facts, h, link, note, replace, section, table } from '../dom.js';
import { elapsed, isFinal, shortModelName } from '../format.js';
import { activityChart, badge, duration, errorNote, pager, plural, time } from '../widgets.js';

export async function renderHome(view, ctx) {
  const [fresh, runs, plans, feed] = await Promise.allSettled([
    freshness('prod'),
    listRuns({ environment: 'prod', limit: 500 }),
    listPlans({ environment: 'prod', limit: 200 }),
    activity({ limit: 200 }),
  ]);
  for (const r of [fresh, runs, plans, feed]) {
    if (r.status === 'rejected' && r.reason instanceof ApiError && r.reason.status === 401)
      throw r.reason;
  }
  replace(
    view,
    h('h1', {}, 'Home ', h('span', { class: 'muted' }, '— prod')),
    freshnessSection(fresh, ctx),
    latestSection(runs, plans, ctx),
    section(
      'Last two weeks',
      runs.status === 'fulfilled' && plans.status === 'fulfilled'
        ? activityChart([...runs.value, ...plans.value], ctx)
        : errorNote((runs.status === 'rejected' ? runs : plans).reason),
    ),
    activitySection(feed, ctx),
  );
}

function freshnessSection(result, ctx) {
  if (result.status === 'rejected') {
    const err = result.reason;
    const missingProd =
      err instanceof ApiError && err.status === 404 && !/^no route /.test(err.message);
    return section(
      'Freshness',
      missingProd
        ? note(
            'There is no prod environment yet: apply a plan to prod (tideline plan --auto-apply).',
          )
        : errorNote(err),
    );
  }
  const models = result.value.models ?? [];
  const count = (states) => models.filter((m) => states.includes(m.state)).length;
  const late = count(['late']);
  const cards = [
    ['complete', count(['complete']), 'Complete', 'nothing due is missing'],
    ['pending', count(['pending']), 'Pending', 'due work is queued or running'],
    [
      'behind',
      count(['behind', 'late']),
      'Behind',
      late ? `${late} late: due for over a cron period` : 'due work missing, nothing queued',
    ],
  ];
  const behind = models.filter((m) => m.state === 'behind' || m.state === 'late');
  return section(
    'Freshness',
    h(
      'p',
      { class: 'muted' },
      `${plural(models.length, 'model')} in prod, as of `,
      time(result.value.asOf, ctx),
      result.value.paused ? [' — ', badge('paused', 'prod is paused')] : null,
    ),
    h(
      'ul',
      { class: 'cards' },
      cards.map(([state, n, label, hint]) =>
        h(
          'li',
          { class: `card`, 'data-state': state },
          h('span', { class: 'card-number' }, String(n)),
          h('span', { class: 'card-label' }, badge(state, label)),
          h('span', { class: 'card-hint muted' }, hint),
        ),
      ),
    ),
    behind.length
      ? table(
          'Models behind',
          ['Model', 'State', 'Due since', 'Last task'],
          behind
            .slice(0, 10)
            .map((m) => [
              link(`/models/prod/${encodeURIComponent(m.model)}`, shortModelName(m.model)),
              badge(m.state),
              time(m.dueSince, ctx),
              m.lastTask
                ? [
                    badge(m.lastTask.status),
                    m.lastTask.error
                      ? h('span', { class: 'error-text' }, ` ${m.lastTask.error}`)
                      : null,
                  ]
                : '—',
            ]),
        )
      : null,
    h('p', {}, link('/environments/prod', 'Every prod model and its freshness →')),
  );
}

function latestSection(runs, plans, ctx) {
  const lastRun = runs.status === 'fulfilled' ? runs.value[0] : undefined;
  const lastPlan = plans.status === 'fulfilled' ? plans.value[0] : undefined;
  const item = (thing, what) =>
    thing
      ? facts([
          ['Status', badge(thing.status)],
          [
            what,
            link(
              `/${thing.kind === 'plan' ? 'plans' : 'runs'}/${encodeURIComponent(thing.id)}`,
              thing.id,
            ),
          ],
          ['Started', time(thing.startedTs ?? thing.createdTs, ctx)],
          [
            'Duration',
            `${duration(elapsed(thing, ctx.now))}${isFinal(thing.status) ? '' : ' so far'}`,
          ],
          thing.error ? ['Error', h('span', { class: 'error-text' }, thing.error)] : null,
        ])
      : note(`No ${what.toLowerCase()} in prod yet.`);
  return h(
    'div',
    { class: 'two-up' },
    section('Last run', runs.status === 'rejected' ? errorNote(runs.reason) : item(lastRun, 'Run')),
    section(
      'Last plan',
      plans.status === 'rejected' ? errorNote(plans.reason) : item(lastPlan, 'Plan'),
    ),
  );
}

/** The activity feed: runs and plans of every environment, filtered and paged. */
export function activityList(items, ctx, options = {}) {
  const id = options.id ?? 'activity';
  const envs = [...new Set(items.map((i) => i.environment))].sort();
  const kind = h('select', { id: `${id}-kind` }, [
    h('option', { value: '' }, 'runs and plans'),
    h('option', { value: 'run' }, 'runs'),
    h('option', { value: 'plan' }, 'plans'),
  ]);
  const status = h('select', { id: `${id}-status` }, [
    h('option', { value: '' }, 'any status'),
    h('option', { value: 'succeeded' }, 'succeeded'),
    h('option', { value: 'failed' }, 'failed'),
    h('option', { value: 'active' }, 'in progress'),
    h('option', { value: 'cancelled' }, 'cancelled'),
  ]);
  const env = options.environment
    ? null
    : h('select', { id: `${id}-env` }, [
        h('option', { value: '' }, 'all environments'),
        envs.map((e) => h('option', { value: e }, e)),
      ]);
  const list = h('div', {});
  const draw = () => {
    const shown = items.filter(
      (i) =>
        (!kind.value || i.kind === kind.value) &&
        (!env?.value || i.environment === env.value) &&
        (!status.value ||
          (status.value === 'active' ? !isFinal(i.status) : i.status === status.value)),
    );
    replace(
      list,
      pager(
        shown,
        options.pageSize ?? 15,
        (page) =>
          table(
            options.caption ?? 'Recent activity',
            ['What', 'Environment', 'Status', 'Started', 'Duration', 'By'],
            page.map((i) => [
              link(
                `/${i.kind === 'plan' ? 'plans' : 'runs'}/${encodeURIComponent(i.id)}`,
                `${i.kind === 'plan' ? 'Plan' : `Run (${i.trigger ?? 'run'})`} ${i.id.slice(0, 8)}`,
                { title: i.id },
              ),
              link(`/environments/${encodeURIComponent(i.environment)}`, i.environment),
              badge(i.status),
              time(i.startedTs ?? i.createdTs, ctx),
              duration(elapsed(i, ctx.now)),
              i.createdBy ?? (i.trigger === 'schedule' ? 'scheduler' : '—'),
            ]),
            { empty: 'Nothing matches these filters.' },
          ),
        'Activity',
      ),
    );
  };
  for (const select of [kind, status, env]) select?.addEventListener('change', draw);
  draw();
  return h(
    'div',
    {},
    h(
      'div',
      { class: 'filters', role: 'group', 'aria-label': 'Filter activity' },
      h('label', { for: kind.id }, 'Show'),
      kind,
      h('label', { for: status.id }, 'Status'),
      status,
      env ? [h('label', { for: env.id }, 'Environment'), env] : null,
    ),
    list,
  );
}

function activitySection(result, ctx) {
  return section(
    'Recent activity',
    result.status === 'rejected' ? errorNote(result.reason) : activityList(result.value, ctx),
  );
}
