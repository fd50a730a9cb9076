// A run: status, when, its executions (one task per model, with batches),
// evaluations, audits and logs where the server offers them; the previous
// and next run of the same environment.
import { getRun, listRuns, optional } from '../data.js';
import { facts, h, link, note, replace, section, table } from '../dom.js';
import { formatInterval, isFinal, elapsed, shortModelName } from '../format.js';
import { badge, duration, loadOr, logView, pager, time, who } from '../widgets.js';
import { auditsTable } from './plan.js';

const enc = encodeURIComponent;

export async function renderRun(view, ctx) {
  const [id] = ctx.params;
  const run = await getRun(id);
  const [adjacent, evaluations, audits, logs] = await Promise.all([
    loadOr(async () => {
      const near = await optional.runAdjacent(id);
      if (near) return near;
      // Without the observability API: find the run among its environment's runs.
      const list = await listRuns({ environment: run.environment, limit: 500 });
      const at = list.findIndex((r) => r.id === run.id);
      // Newest first: the previous run is later in the list.
      return {
        previous: at >= 0 ? list[at + 1] : undefined,
        next: at > 0 ? list[at - 1] : undefined,
      };
    }, 'The run list'),
    loadOr(() => optional.runEvaluations(id), 'Evaluations'),
    loadOr(() => optional.runAudits(id), 'Audit results'),
    loadOr(() => optional.runLogs(id), 'Run logs'),
  ]);
  const previous = adjacent.data?.previous ?? undefined;
  const next = adjacent.data?.next ?? undefined;
  replace(
    view,
    h(
      'p',
      { class: 'crumbs' },
      link(`/environments/${enc(run.environment)}`, `← Environment ${run.environment}`),
    ),
    h('h1', {}, `Run ${run.id} `, badge(run.status)),
    h(
      'nav',
      { class: 'prev-next', 'aria-label': 'Other runs of this environment' },
      previous
        ? link(`/runs/${enc(previous.id)}`, '← Previous run', { rel: 'prev' })
        : h('span', { class: 'muted' }, 'No earlier run'),
      next
        ? link(`/runs/${enc(next.id)}`, 'Next run →', { rel: 'next' })
        : h('span', { class: 'muted' }, 'No later run'),
    ),
    facts([
      ['Environment', link(`/environments/${enc(run.environment)}`, run.environment)],
      ['Trigger', run.trigger === 'schedule' ? 'scheduled (cron)' : run.trigger],
      ['Execution time', time(run.executionTs, ctx)],
      ['Created', time(run.createdTs, ctx)],
      ['Started', time(run.startedTs, ctx)],
      ['Finished', time(run.finishedTs, ctx)],
      [
        'Duration',
        run.startedTs
          ? `${duration(elapsed(run, ctx.now))}${isFinal(run.status) ? '' : ' so far'}`
          : '—',
      ],
      ['By', who(run.createdBy, run.createdByName, run.trigger === 'schedule' ? 'scheduler' : '—')],
      run.error ? ['Error', h('span', { class: 'error-text' }, run.error)] : null,
    ]),
    section(
      'Executions',
      pager(
        run.tasks ?? [],
        25,
        (page) =>
          table(
            'Model executions of this run',
            ['Model', 'Status', 'Intervals', 'Attempts', 'Started', 'Duration', 'Error'],
            page.map((t) => [
              t.model
                ? link(`/models/${enc(run.environment)}/${enc(t.model)}`, shortModelName(t.model), {
                    title: t.model,
                  })
                : '—',
              badge(t.status),
              t.batches.length
                ? formatInterval(
                    [t.batches[0][0], t.batches[t.batches.length - 1][1]],
                    ctx.timeZone,
                  ) + (t.batches.length > 1 ? ` (${t.batches.length} batches)` : '')
                : '—',
              `${t.attempts} of ${t.maxAttempts}`,
              time(t.startedTs, ctx),
              t.startedTs ? duration(elapsed(t, ctx.now)) : '—',
              t.error ? h('span', { class: 'error-text' }, t.error) : '—',
            ]),
            { empty: 'This run had nothing to evaluate.' },
          ),
        'Executions',
      ),
    ),
    evaluations.missing
      ? null
      : section('Evaluations', evaluationsTable(evaluations.data, run, ctx)),
    section('Audits', audits.missing ?? auditsTable(audits.data, ctx)),
    section(
      'Logs',
      logs.missing ??
        logView(logs.data?.logs ?? [], ctx, {
          id: 'run',
          incomplete: logs.data?.olderRemoved
            ? 'Incomplete: older lines of this run were removed by log retention.'
            : logs.data?.truncated
              ? `Incomplete: only the latest ${logs.data.logs.length} lines are shown.`
              : isFinal(run.status)
                ? null
                : 'The run is still going: more lines will come.',
        }),
    ),
    run.status === 'pending' &&
      !run.tasks?.some((t) => t.status !== 'waiting' && t.status !== 'pending')
      ? note(
          "No executor has claimed this run's tasks yet. Check that a run executor is online (Executors).",
        )
      : null,
  );
}

function evaluationsTable(data, run, ctx) {
  const list = data?.evaluations ?? [];
  return table(
    'Evaluations',
    ['Model', 'Status', 'Interval', 'Duration', 'Rows', 'Error'],
    list.map((e) => [
      link(`/models/${enc(run.environment)}/${enc(e.model)}`, shortModelName(e.model)),
      badge(e.status),
      formatInterval(e.interval ?? [e.startTs, e.endTs], ctx.timeZone),
      duration(e.durationMs),
      e.rows ?? '—',
      e.error ? h('span', { class: 'error-text' }, e.error) : '—',
    ]),
    { empty: 'No evaluations recorded.' },
  );
}
