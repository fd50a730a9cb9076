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
} from '../widgets.js';

const enc = encodeURIComponent;

function planType(summary) {
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
  const [progress, audits] = await Promise.all([
    loadOr(() => planProgress(id), "The plan's progress"),
    loadOr(() => optional.planAudits(id), 'Audit results'),
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
      ['Type', planType(summary)],
      ['Submitted by', plan.createdBy ?? '—'],
      ['Submitted', time(plan.createdTs, ctx)],
      ['Started', time(plan.startedTs, ctx)],
      ['Finished', time(plan.finishedTs, ctx)],
      [
        'Duration',
        plan.startedTs
          ? `${duration(elapsed(plan, ctx.now))}${isFinal(plan.status) ? '' : ' so far'}`
          : '—',
      ],
      [
        'Backfill range',
        summary.start !== undefined && summary.end !== undefined
          ? formatInterval([summary.start, summary.end], ctx.timeZone)
          : '—',
      ],
      [
        'Backfill',
        summary.backfill
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
      changes.length
        ? table(
            'Changes by type',
            ['Change', 'Models'],
            changes.map(([type, n]) => [type.replace(/_/g, ' '), String(n)]),
          )
        : note('No model changes in this plan.'),
      h(
        'p',
        { class: 'muted' },
        `${summary.newSnapshots ?? 0} new snapshot(s); ${summary.restatements ?? 0} restatement(s); ${summary.warnings ?? 0} warning(s).`,
      ),
    ),
    section('Model executions', progress.missing ?? executionsTable(progress.data, plan, ctx)),
    section('Audits', audits.missing ?? auditsTable(audits.data, ctx)),
    section(
      'Log',
      progress.missing ??
        logView(progress.data.logs, ctx, {
          id: 'plan',
          incomplete: progress.data.logsComplete
            ? isFinal(plan.status)
              ? null
              : 'The plan is still being applied: more lines will come.'
            : `Only the first ${progress.data.logs.length} lines are shown: the log is longer.`,
        }),
    ),
  );
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
