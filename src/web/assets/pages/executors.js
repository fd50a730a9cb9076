// Executors: hybrid (the user's own) and cloud-hosted, with their state and counts.
import { executors as readExecutors } from '../data.js';
import { h, note, replace, section, table } from '../dom.js';
import { badge, plural, time } from '../widgets.js';

function executorTable(caption, list, ctx) {
  return table(
    caption,
    [
      'Name',
      'Id',
      'Type',
      'Address',
      'Version',
      'Status',
      'Last seen',
      'Current task',
      'Completed',
      'Failed',
      'Retried',
      'Aborted',
    ],
    list.map((e) => [
      h('span', { class: 'executor-name' }, e.name),
      h('code', { title: e.executorId }, e.executorId.slice(0, 8)),
      e.kind,
      e.address ?? '—',
      `${e.version} (protocol ${e.protocolVersion})`,
      badge(e.status),
      time(e.lastSeenTs, ctx),
      e.currentTasks.length
        ? h(
            'code',
            { title: e.currentTasks.join(', ') },
            e.currentTasks.map((t) => t.slice(0, 8)).join(', '),
          )
        : 'idle',
      String(e.completed),
      String(e.failed),
      String(e.retried),
      String(e.aborted),
    ]),
    { class: 'executors', empty: 'None.' },
  );
}

export async function renderExecutors(view, ctx) {
  const list = await readExecutors();
  const hybrid = list.filter((e) => e.hosting !== 'cloud');
  const cloud = list.filter((e) => e.hosting === 'cloud');
  const online = list.filter((e) => e.status === 'online');
  const kinds = (k) => online.filter((e) => e.kind === k).length;
  replace(
    view,
    h('h1', {}, 'Executors'),
    h(
      'p',
      { class: 'muted' },
      `${plural(online.length, 'executor')} online: ${kinds('run')} run, ${kinds('apply')} apply. Run executors evaluate scheduled runs; apply executors apply plans.`,
    ),
    online.length === 0
      ? note(
          'No executor is online: runs and plans wait until one claims them. Start one with tideline executor run (or apply).',
          'warn',
        )
      : null,
    section(
      'Hybrid executors',
      h('p', { class: 'muted' }, 'Run in your network and connect out to this cloud.'),
      executorTable('Hybrid executors', hybrid, ctx),
    ),
    section(
      'Cloud-hosted executors',
      h('p', { class: 'muted' }, 'Started by this cloud (standard deployment).'),
      executorTable('Cloud-hosted executors', cloud, ctx),
    ),
  );
}
