// Home: prod at a glance — freshness, the last run and plan, two weeks of
// runs and plans as a chart, and recent activity with filters and pages.
import { ApiError } from '../api.js';
import { activityFeed } from '../activity-feed.js';
import { freshness, home, listEnvironments } from '../data.js';
import { facts, h, link, note, replace, section, table } from '../dom.js';
import { elapsed, formatDate, isFinal, shortModelName } from '../format.js';
import { activityChart, badge, duration, errorNote, plural, time } from '../widgets.js';

export async function renderHome(view, ctx) {
  const [fresh, summary, envs] = await Promise.allSettled([
    freshness('prod'),
    home(),
    listEnvironments(),
  ]);
  for (const r of [fresh, summary, envs]) {
    if (r.status === 'rejected' && r.reason instanceof ApiError && r.reason.status === 401)
      throw r.reason;
  }
  const feed = await activityFeed(ctx, {
    environments: envs.status === 'fulfilled' ? envs.value.map((e) => e.name) : [],
  });
  // The chart's two weeks end at the server's now, whatever the browser's clock says.
  const serverCtx =
    summary.status === 'fulfilled' ? { ...ctx, now: summary.value.asOf ?? ctx.now } : ctx;
  replace(
    view,
    h('h1', {}, 'Home ', h('span', { class: 'muted' }, '— prod')),
    freshnessSection(fresh, serverCtx),
    summary.status === 'fulfilled' ? freshnessHistory(summary.value, serverCtx) : null,
    latestSection(summary, serverCtx),
    section(
      'Last two weeks',
      summary.status === 'fulfilled'
        ? [
            activityChart(summary.value.chart.items, serverCtx),
            summary.value.chart.truncated
              ? note('Only the latest runs and plans are drawn: there were too many.', 'warn')
              : null,
          ]
        : errorNote(summary.reason),
    ),
    section('Recent activity', feed),
  );
}

/**
 * Freshness over time: prod as the last scheduled run of each day left it
 * (complete when it succeeded, behind when it failed or was cancelled,
 * pending while it runs); days without a run are shown as such.
 */
function freshnessHistory(summary, ctx) {
  const runs = summary.chart.items.filter((i) => i.kind === 'run');
  const byDay = new Map();
  for (const r of runs) byDay.set(formatDate(r.startedTs, ctx.timeZone), r);
  const days = [];
  for (let i = 13; i >= 0; i--) {
    const day = formatDate(ctx.now - i * 86_400_000, ctx.timeZone);
    if (!days.includes(day)) days.push(day);
  }
  const stateOf = (run) =>
    !run
      ? 'none'
      : run.status === 'succeeded'
        ? 'complete'
        : isFinal(run.status)
          ? 'behind'
          : 'pending';
  const words = {
    complete: '✓ complete',
    behind: '! behind',
    pending: '… pending',
    none: '– no run',
  };
  return section(
    'Freshness over time',
    h(
      'p',
      { class: 'muted' },
      "Prod as each day's last run left it: complete when the run succeeded, behind when it failed.",
    ),
    h(
      'ol',
      { class: 'freshness-strip' },
      days.map((day) => {
        const run = byDay.get(day);
        const state = stateOf(run);
        const label = `${day}: ${words[state].slice(2)}`;
        const cell = h(
          'span',
          { class: `strip-cell strip-${state}`, title: label },
          h('span', { class: 'strip-day' }, day.slice(5)),
          h('span', { class: 'strip-word' }, words[state]),
        );
        return h(
          'li',
          { 'data-state': state },
          run ? link(`/runs/${encodeURIComponent(run.id)}`, cell, { 'aria-label': label }) : cell,
        );
      }),
    ),
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

function latestSection(summary, ctx) {
  const lastRun = summary.status === 'fulfilled' ? summary.value.lastRun : undefined;
  const lastPlan = summary.status === 'fulfilled' ? summary.value.lastPlan : undefined;
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
    section(
      'Last run',
      summary.status === 'rejected' ? errorNote(summary.reason) : item(lastRun, 'Run'),
    ),
    section(
      'Last plan',
      summary.status === 'rejected' ? errorNote(summary.reason) : item(lastPlan, 'Plan'),
    ),
  );
}
