// The activity feed: the cloud's activity list (plans, runs, pauses and
// client changes), filtered by type and environment on the server and paged
// with its cursor. Filters and page survive live refreshes of the page.
import { activityPage } from './data.js';
import { h, link, replace, table } from './dom.js';
import { badge, errorNote, executionLink, time, who } from './widgets.js';

const enc = encodeURIComponent;

/** Filters and cursors per feed, so a live refresh keeps what the user chose. */
const kept = new Map();

const TYPES = [
  ['', 'everything'],
  ['plan', 'plans'],
  ['run', 'runs'],
  ['pause', 'pauses'],
  ['client', 'client changes'],
];

function what(item) {
  if (item.type === 'plan' || item.type === 'run') return executionLink(item.type, item.id);
  return (
    {
      pause: 'Pause',
      unpause: 'Resume',
      'client.created': 'Client created',
      'client.revoked': 'Client revoked',
    }[item.type] ?? item.type
  );
}

function by(item) {
  const scheduled = item.type === 'run' && item.details?.trigger === 'schedule';
  return who(item.by, item.byName, scheduled ? 'scheduler' : '—');
}

/**
 * The feed, loaded: `options.environment` fixes the environment (no
 * environment filter then); `options.environments` lists the names the
 * environment filter offers.
 */
export async function activityFeed(ctx, options = {}) {
  const id = options.id ?? 'activity';
  const fixedEnv = options.environment;
  const key = `${id}|${fixedEnv ?? ''}`;
  const state = kept.get(key) ?? { type: '', environment: '', cursors: [null] };
  kept.set(key, state);
  const pageSize = options.pageSize ?? 15;

  const typeSelect = h(
    'select',
    { id: `${id}-type` },
    TYPES.filter(([value]) => !(fixedEnv && value === 'client')).map(([value, label]) =>
      h('option', { value, selected: value === state.type }, label),
    ),
  );
  const envSelect = fixedEnv
    ? null
    : h('select', { id: `${id}-env` }, [
        h('option', { value: '' }, 'all environments'),
        (options.environments ?? []).map((e) =>
          h('option', { value: e, selected: e === state.environment }, e),
        ),
      ]);
  const list = h('div', { class: 'feed-list' });
  const status = h('p', { class: 'muted feed-status', 'aria-live': 'polite', id: `${id}-page` });

  const load = async () => {
    const before = state.cursors[state.cursors.length - 1] ?? undefined;
    list.setAttribute('aria-busy', 'true');
    try {
      const page = await activityPage({
        type: state.type || undefined,
        environment: fixedEnv ?? (state.environment || undefined),
        before,
        limit: pageSize,
      });
      const number = state.cursors.length;
      const newer = h(
        'button',
        { type: 'button', class: 'secondary', disabled: number <= 1 },
        '← Newer',
      );
      const older = h(
        'button',
        { type: 'button', class: 'secondary', disabled: !page.truncated },
        'Older →',
      );
      newer.addEventListener('click', () => {
        state.cursors.pop();
        void load().then(() => list.querySelector('button')?.focus());
      });
      older.addEventListener('click', () => {
        state.cursors.push(page.nextBefore);
        void load().then(() => list.querySelectorAll('.pager button')[1]?.focus());
      });
      replace(
        list,
        table(
          options.caption ?? 'Recent activity',
          ['What', 'Environment', 'Status', 'When', 'By', 'Details'],
          page.items.map((i) => [
            what(i),
            i.environment ? link(`/environments/${enc(i.environment)}`, i.environment) : '—',
            i.status ? badge(i.status) : '—',
            time(i.ts, ctx),
            by(i),
            [
              i.text,
              i.details?.error
                ? h('span', { class: 'error-text' }, ` — ${String(i.details.error)}`)
                : null,
            ],
          ]),
          { empty: number > 1 ? 'Nothing older.' : 'Nothing matches these filters.' },
        ),
        number > 1 || page.truncated
          ? h(
              'div',
              { class: 'pager', role: 'group', 'aria-label': 'Activity pages' },
              newer,
              h('span', { class: 'muted' }, `Page ${number}`),
              older,
            )
          : null,
      );
      status.textContent = `Page ${number}: ${page.items.length} item${page.items.length === 1 ? '' : 's'}${page.truncated ? '; older ones follow' : ''}.`;
    } catch (err) {
      replace(list, errorNote(err));
    } finally {
      list.removeAttribute('aria-busy');
    }
  };
  const refilter = () => {
    state.type = typeSelect.value;
    state.environment = envSelect?.value ?? '';
    state.cursors = [null];
    void load();
  };
  typeSelect.addEventListener('change', refilter);
  envSelect?.addEventListener('change', refilter);
  await load();
  return h(
    'div',
    { class: 'activity-feed' },
    h(
      'div',
      { class: 'filters', role: 'group', 'aria-label': 'Filter activity' },
      h('label', { for: typeSelect.id }, 'Show'),
      typeSelect,
      envSelect ? [h('label', { for: envSelect.id }, 'Environment'), envSelect] : null,
    ),
    list,
    status,
  );
}
