// A model as an environment uses it: definition, source, columns, lineage,
// version history, loaded intervals and recent executions.
import {
  freshness,
  getEnvironment,
  intervals,
  optional,
  snapshotSummaries,
  snapshots,
} from '../data.js';
import { facts, h, link, note, replace, section, table } from '../dom.js';
import { formatDuration, formatInterval, shortModelName } from '../format.js';
import { auditsTable } from './plan.js';
import { badge, executionLink, loadOr, time } from '../widgets.js';

const enc = encodeURIComponent;

function kindText(kind) {
  if (!kind) return '—';
  const extra = [];
  if (kind.timeColumn?.column) extra.push(`time column ${kind.timeColumn.column}`);
  if (Array.isArray(kind.uniqueKey) && kind.uniqueKey.length)
    extra.push(`unique key ${kind.uniqueKey.join(', ')}`);
  if (kind.materialized) extra.push('materialized');
  return extra.length ? `${kind.name} (${extra.join('; ')})` : kind.name;
}

/** Models up or down the lineage, nearest first, each linked to its page. */
function lineageTable(caption, models, envName, empty) {
  return table(
    caption,
    ['Model', 'Depth'],
    models.map((m) => [
      link(`/models/${enc(envName)}/${enc(m.name)}`, shortModelName(m.name), { title: m.name }),
      m.depth === undefined || m.depth === 1 ? '1 (direct)' : String(m.depth),
    ]),
    { empty },
  );
}

export async function renderModel(view, ctx) {
  const [envName, name] = ctx.params;
  const env = await getEnvironment(envName);
  const info = env?.snapshots?.find((s) => s.name === name);
  if (!env || !info) {
    replace(
      view,
      h('h1', {}, `Model ${shortModelName(name)}`),
      note(
        env
          ? `Environment ${envName} has no model ${name}.`
          : `There is no environment ${envName}.`,
      ),
      link(`/environments/${enc(envName)}`, `← Environment ${envName}`),
    );
    return;
  }
  const id = { name: info.name, identifier: info.identifier };
  const [snapshot] = await snapshots([id]);
  const [versions, loaded, fresh, rendered] = await Promise.all([
    loadOr(snapshotSummaries, 'Version history'),
    loadOr(() => intervals([id]), 'Loaded intervals'),
    loadOr(() => freshness(envName), 'Freshness'),
    loadOr(() => optional.modelDetail(envName, name), 'Rendered SQL and recent executions'),
  ]);
  const detail = rendered.data;
  const executions = rendered;
  const def = snapshot?.node?.definition ?? {};
  // Every model up and down where the cloud works lineage out; direct ones otherwise.
  const upstream =
    detail?.lineage?.ancestors ??
    detail?.lineage?.parents ??
    snapshot?.parents ??
    info.parents ??
    [];
  const downstream =
    detail?.lineage?.descendants ??
    detail?.lineage?.children ??
    (env.snapshots ?? []).filter((s) => (s.parents ?? []).some((p) => p.name === name));
  const myFresh = fresh.data?.models?.find((m) => m.model === name);
  const history = (versions.data ?? [])
    .filter((v) => v.name === name)
    .sort((a, b) => b.updatedTs - a.updatedTs);
  const mine = loaded.data?.[0];
  const source = snapshot?.node?.querySource ?? def.query?.sql;
  const columns = def.columns ?? [];
  const descriptions = def.columnDescriptions ?? {};

  replace(
    view,
    h('p', { class: 'crumbs' }, link(`/environments/${enc(envName)}`, `← Environment ${envName}`)),
    h('h1', {}, `Model ${shortModelName(name)} `, myFresh ? badge(myFresh.state) : null),
    def.description ? h('p', { class: 'lead' }, def.description) : null,
    facts([
      ['Full name', h('code', {}, name)],
      ['Kind', kindText(def.kind) ?? info.kind],
      ['Cron', def.cron ? h('code', {}, def.cron) : '—'],
      ['Owner', def.owner ?? '—'],
      ['Tags', def.tags?.length ? def.tags.map((t) => h('span', { class: 'tag' }, t)) : '—'],
      ['Dialect', def.dialect ?? '—'],
      ['Grain', def.grains?.length ? def.grains.join(', ') : '—'],
      ['Audits', def.audits?.length ? def.audits.map((a) => a.name).join(', ') : '—'],
      ['Version', h('code', {}, info.version)],
      ['Change category', info.changeCategory ? info.changeCategory.replace(/_/g, ' ') : '—'],
      ['Physical table', h('code', {}, info.physicalTable ?? '—')],
      ['Defined in', def.path ? h('code', {}, def.path) : '—'],
    ]),
    section(
      'Definition',
      source
        ? h(
            'pre',
            { class: 'code', tabindex: '0', 'aria-label': 'Model query as written' },
            h('code', {}, source),
          )
        : note('This model has no query (a seed or external model).'),
    ),
    section(
      'Rendered SQL',
      rendered.missing ??
        (detail.renderedSql
          ? [
              detail.renderedInterval
                ? h(
                    'p',
                    { class: 'muted' },
                    `Rendered for the interval ${formatInterval(detail.renderedInterval, ctx.timeZone)}, reading the physical tables.`,
                  )
                : null,
              h(
                'pre',
                { class: 'code', tabindex: '0', 'aria-label': 'Rendered query' },
                h('code', {}, detail.renderedSql),
              ),
            ]
          : note(
              detail.renderError
                ? `The query could not be rendered: ${detail.renderError}`
                : 'This model has no query to render (a seed or external model).',
              detail.renderError ? 'warn' : 'info',
            )),
    ),
    section(
      'Columns',
      table(
        'Columns',
        ['Column', 'Type', 'Description'],
        columns.map((c) => [h('code', {}, c.name), c.type, descriptions[c.name] ?? '—']),
        { empty: 'Columns are not declared in the model; they come from its query.' },
      ),
    ),
    h(
      'div',
      { class: 'two-up' },
      section(
        'Upstream',
        lineageTable('Upstream models', upstream, envName, 'Reads no other model.'),
      ),
      section(
        'Downstream',
        lineageTable('Downstream models', downstream, envName, 'No model reads this one.'),
      ),
    ),
    section(
      'Loaded intervals',
      loaded.missing ??
        (mine && mine.intervals.length
          ? h(
              'ul',
              { class: 'intervals' },
              mine.intervals.map((i) => h('li', {}, formatInterval(i, ctx.timeZone))),
            )
          : note('No intervals recorded for this version.')),
      myFresh?.missing?.length
        ? h(
            'p',
            {},
            `Missing: ${myFresh.missing.map((i) => formatInterval(i, ctx.timeZone)).join('; ')}`,
          )
        : null,
    ),
    section('Version history', versionHistory(detail, versions, history, info, envName, ctx)),
    section(
      'Recent executions',
      executions.missing
        ? [
            myFresh?.lastTask
              ? facts([
                  ['Last task', badge(myFresh.lastTask.status)],
                  ['Finished', time(myFresh.lastTask.finishedTs, ctx)],
                  myFresh.lastTask.error
                    ? ['Error', h('span', { class: 'error-text' }, myFresh.lastTask.error)]
                    : null,
                ])
              : note('No scheduled execution yet.'),
          ]
        : table(
            'Recent executions',
            ['Status', 'Interval', 'When', 'Duration', 'Rows', 'By', 'Error'],
            (detail.evaluations ?? []).map((e) => [
              badge(e.status),
              formatInterval(e.interval, ctx.timeZone),
              time(e.finishedTs ?? e.createdTs, ctx),
              formatDuration(e.durationMs),
              e.rows === null || e.rows === undefined ? '—' : String(e.rows),
              e.runId
                ? executionLink('run', e.runId, 'run')
                : e.planId
                  ? executionLink('plan', e.planId, 'plan')
                  : '—',
              e.error ? h('span', { class: 'error-text' }, e.error) : '—',
            ]),
            { empty: 'No executions yet.' },
          ),
    ),
    section(
      'Recent audits',
      detail
        ? auditsTable({ audits: detail.audits ?? [] }, ctx)
        : note('Audit results are not available on this server.'),
    ),
  );
}

/** Whether a change category breaks what reads the model (its data must be rebuilt downstream). */
function breakingText(category) {
  if (!category) return '—';
  const words = {
    breaking: 'breaking',
    indirect_breaking: 'breaking (through an upstream model)',
    non_breaking: 'not breaking',
    indirect_non_breaking: 'not breaking (through an upstream model)',
    forward_only: 'forward-only (not breaking)',
    metadata: 'metadata only (not breaking)',
  };
  return words[category] ?? category.replace(/_/g, ' ');
}

/**
 * Every stored version of the model, newest first: breaking or not, and
 * the plan that brought it (from the observability API when the server has
 * it, else the state's snapshot list without those two facts).
 */
function versionHistory(detail, versions, history, info, envName, ctx) {
  if (detail?.versions) {
    return table(
      'Versions of this model',
      ['Version', 'Change', 'Plan', 'Created', ''],
      detail.versions.map((v) => [
        h('code', { title: v.identifier }, v.version),
        v.changeCategory
          ? h(
              'span',
              { 'data-breaking': /^(indirect_)?breaking$/.test(v.changeCategory) },
              breakingText(v.changeCategory),
            )
          : '—',
        v.planId ? executionLink('plan', v.planId) : '—',
        time(v.createdTs, ctx),
        v.current ? badge('online', `used by ${envName}`) : '',
      ]),
      { empty: 'No stored versions.' },
    );
  }
  if (versions.missing) return versions.missing;
  return table(
    'Versions of this model',
    ['Identifier', 'Version', 'Kind', 'Updated', ''],
    history.map((v) => [
      h('code', {}, v.identifier),
      h('code', {}, v.version),
      v.kind,
      time(v.updatedTs, ctx),
      v.identifier === info.identifier ? badge('online', `used by ${envName}`) : '',
    ]),
    { empty: 'No stored versions.' },
  );
}
