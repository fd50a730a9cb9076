// A plan: status, type, who and when, backfill range, changes, the model
// executions of its apply, audits and the apply's log.
import { api, can } from '../api.js';
import { getPlan, optional, planProgress } from '../data.js';
import { facts, h, link, note, replace, section, table } from '../dom.js';
import { elapsed, formatInterval, isFinal, shortModelName } from '../format.js';
import {
  actionButton,
  badge,
  duration,
  errorNote,
  loadOr,
  logView,
  pager,
  time,
  who,
} from '../widgets.js';

const enc = encodeURIComponent;

function planType(summary, listed) {
  if (listed) {
    if (listed.restatements.length) return 'restatement';
    if (listed.changes.length) return 'changes';
    return listed.backfill.length ? 'backfill only' : 'no changes';
  }
  if (Number(summary.restatements) > 0) return 'restatement';
  if (summary.isNewEnvironment) return 'new environment';
  const changes = Object.values(summary.changes ?? {}).reduce((a, b) => a + Number(b), 0);
  if (changes === 0 && Number(summary.backfill?.models ?? 0) > 0) return 'backfill only';
  if (changes === 0) return 'no changes';
  return 'changes';
}

export async function renderPlan(view, ctx) {
  const [id] = ctx.params;
  const plan = await getPlan(id);
  const summary = plan.summary ?? {};
  const [progress, audits, changeList, logs] = await Promise.all([
    loadOr(() => planProgress(id), "The plan's progress"),
    loadOr(() => optional.planAudits(id), 'Audit results'),
    loadOr(() => optional.planChanges(id), 'The list of changed models'),
    loadOr(() => optional.planLogs(id), 'The log with retention details'),
  ]);
  const changes = Object.entries(summary.changes ?? {});
  const canCancel =
    !isFinal(plan.status) && can(plan.environment === 'prod' ? 'plan.prod' : 'plan.dev');
  replace(
    view,
    h(
      'p',
      { class: 'crumbs' },
      link(`/environments/${enc(plan.environment)}`, `← Environment ${plan.environment}`),
    ),
    h('h1', {}, `Plan ${plan.id} `, badge(plan.status)),
    facts([
      ['Environment', link(`/environments/${enc(plan.environment)}`, plan.environment)],
      ['Type', planType(summary, changeList.data?.available ? changeList.data : null)],
      ['Submitted by', who(plan.createdBy, plan.createdByName)],
      ['Submitted', time(plan.createdTs, ctx)],
      ['Started', time(plan.startedTs, ctx)],
      ['Finished', time(plan.finishedTs, ctx)],
      [
        'Duration',
        plan.startedTs
          ? `${duration(elapsed(plan, ctx.now))}${isFinal(plan.status) ? '' : ' so far'}`
          : '—',
      ],
      ['Backfill range', backfillRange(summary, changeList.data, ctx)],
      [
        'Backfill',
        changeList.data?.available
          ? `${changeList.data.backfill.length} model(s), ${changeList.data.backfill.reduce((n, b) => n + Number(b.batches), 0)} batch(es)`
          : summary.backfill
            ? `${summary.backfill.models ?? 0} model(s), ${summary.backfill.batches ?? 0} batch(es)`
            : '—',
      ],
      plan.error ? ['Error', h('span', { class: 'error-text' }, plan.error)] : null,
      plan.cancelRequestedTs ? ['Cancel requested', time(plan.cancelRequestedTs, ctx)] : null,
    ]),
    canCancel
      ? h(
          'div',
          { class: 'actions' },
          actionButton(
            'Cancel plan',
            async () => {
              await api(`/plans/${enc(id)}/cancel`, { method: 'POST' });
              return `Plan ${id}: cancel requested`;
            },
            ctx,
            {
              id: 'cancel-plan',
              class: 'danger',
              confirm: `Cancel plan ${id}? Work already committed stays; the rest is not applied.`,
            },
          ),
        )
      : null,
    section(
      'Changes',
      changeList.data?.available
        ? null
        : changes.length
          ? table(
              'Changes by type',
              ['Change', 'Models'],
              changes.map(([type, n]) => [type.replace(/_/g, ' '), String(n)]),
            )
          : note('No model changes in this plan.'),
      changeList.data?.available
        ? [
            changeList.data.changes.length ? null : note('No model changes in this plan.'),
            h(
              'p',
              { class: 'muted' },
              `${changeList.data.changes.length} change(s); ${changeList.data.restatements.length} restatement(s); ${changeList.data.removed.length} removed; ${changeList.data.warnings.length} warning(s).`,
            ),
            changedModels(changeList.data, plan),
          ]
        : h(
            'p',
            { class: 'muted' },
            `${summary.newSnapshots ?? 0} new snapshot(s); ${summary.restatements ?? 0} restatement(s); ${summary.warnings ?? 0} warning(s).`,
          ),
    ),
    section('Model executions', progress.missing ?? executionsTable(progress.data, plan, ctx)),
    section('Audits', audits.missing ?? auditsTable(audits.data, ctx)),
    section('View updates', viewUpdates(plan, summary, changeList)),
    section('Log', planLog(plan, progress, logs, ctx)),
  );
}

/** The range the plan backfills: from its changes list, else its summary. */
function backfillRange(summary, listed, ctx) {
  const start = listed?.available ? listed.start : summary.start;
  const end = listed?.available ? listed.end : summary.end;
  if (typeof start !== 'number' || typeof end !== 'number') return '—';
  return formatInterval([start, end], ctx.timeZone);
}

/**
 * The views the plan points at its models' new versions (or drops), and
 * whether that happened: views change only when the apply succeeds.
 */
function viewUpdates(plan, summary, changeList) {
  // A fresh badge per row: one element can sit in one place only.
  const state = () =>
    plan.status === 'succeeded'
      ? badge('succeeded', 'updated')
      : isFinal(plan.status)
        ? badge('cancelled', 'not updated')
        : badge('pending', 'waiting for the apply');
  const intro = h(
    'p',
    { class: 'muted' },
    `The views of environment ${plan.environment} that this plan points at new model versions. Views change only once every backfill of the plan succeeded.`,
  );
  if (changeList.missing) return [intro, changeList.missing];
  const data = changeList.data;
  if (!data?.available) {
    return [
      intro,
      note('This plan was recorded without its body, so its view updates are not known.'),
    ];
  }
  const rows = [
    ...data.changes
      .filter((c) => c && typeof c.name === 'string' && c.type !== 'removed')
      .map((c) => [
        link(`/models/${enc(plan.environment)}/${enc(c.name)}`, shortModelName(c.name), {
          title: c.name,
        }),
        c.type === 'added' ? 'view created' : 'view points at the new version',
        state(),
      ]),
    ...[
      ...new Set([
        ...data.removed,
        ...data.changes
          .filter((c) => c && typeof c.name === 'string' && c.type === 'removed')
          .map((c) => c.name),
      ]),
    ].map((name) => [shortModelName(name), 'view dropped', state()]),
  ];
  return [
    intro,
    summary.isNewEnvironment
      ? note(`A new environment: every model of ${plan.environment} gets its view.`)
      : null,
    table('View updates', ['Model', 'Update', 'State'], rows, {
      empty: 'No view changes: every model keeps the version its view shows.',
    }),
  ];
}

/** The plan's log: the observability page (which says what retention removed) or the progress lines. */
function planLog(plan, progress, logs, ctx) {
  const still = isFinal(plan.status)
    ? null
    : 'The plan is still being applied: more lines will come.';
  if (logs.data) {
    const { logs: lines, truncated, olderRemoved } = logs.data;
    return logView(lines, ctx, {
      id: 'plan',
      incomplete: olderRemoved
        ? 'Incomplete: older lines of this plan were removed by log retention.'
        : truncated
          ? `Incomplete: only the latest ${lines.length} lines are shown.`
          : still,
    });
  }
  if (progress.missing) return progress.missing;
  return logView(progress.data.logs, ctx, {
    id: 'plan',
    incomplete: progress.data.logsComplete
      ? still
      : `Incomplete: only the first ${progress.data.logs.length} lines are shown.`,
  });
}

/** Each changed model with its change type, and the models the plan backfills. */
function changedModels(data, plan) {
  const rows = data.changes
    .filter((c) => c && typeof c === 'object')
    .map((c) => [
      typeof c.name === 'string'
        ? link(`/models/${enc(plan.environment)}/${enc(c.name)}`, shortModelName(c.name), {
            title: c.name,
          })
        : '—',
      String(c.type ?? c.category ?? '—').replace(/_/g, ' '),
    ]);
  const backfill = data.backfill.map((b) => [
    link(`/models/${enc(plan.environment)}/${enc(b.name)}`, shortModelName(b.name), {
      title: b.name,
    }),
    String(b.batches),
  ]);
  return [
    rows.length ? table('Changed models', ['Model', 'Change'], rows, { showCaption: true }) : null,
    backfill.length
      ? table('Models backfilled', ['Model', 'Batches'], backfill, { showCaption: true })
      : null,
  ];
}

function executionsTable(progress, plan, ctx) {
  const rows = progress.evaluations.map((e) => [
    link(`/models/${enc(plan.environment)}/${enc(e.model)}`, shortModelName(e.model), {
      title: e.model,
    }),
    badge(e.status),
    formatInterval(e.interval, ctx.timeZone),
    duration(e.durationMs),
    e.rows === null || e.rows === undefined ? '—' : String(e.rows),
    String(e.attempt),
    e.error ? h('span', { class: 'error-text' }, e.error) : '—',
  ]);
  return [
    progress.evaluationsComplete
      ? null
      : note(`Only the first ${rows.length} executions are shown.`, 'warn'),
    pager(
      rows,
      25,
      (page) =>
        table(
          'Model executions',
          ['Model', 'Status', 'Interval', 'Duration', 'Rows', 'Attempt', 'Error'],
          page,
          {
            empty: isFinal(plan.status)
              ? 'This plan evaluated no model (nothing to backfill).'
              : 'No model has been evaluated yet.',
          },
        ),
      'Executions',
    ),
    h('p', { class: 'muted' }, 'Log lines for these executions are in the log below.'),
  ];
}

/** Audit results, whatever list the server answers (`audits` or `results`). */
export function auditsTable(data, ctx) {
  const list = data?.audits ?? data?.results ?? [];
  return table(
    'Audit results',
    ['Model', 'Audit', 'Result', 'Blocking', 'Failing rows', 'When'],
    list.map((a) => [
      shortModelName(a.model ?? ''),
      a.audit ?? a.name ?? '—',
      badge(a.passed ? 'passed' : 'failed'),
      a.blocking ? 'yes' : 'no',
      String(a.failingRows ?? a.failing_rows ?? 0),
      time(a.createdTs ?? a.ts, ctx),
    ]),
    { empty: 'No audits ran.' },
  );
}

export { errorNote };
