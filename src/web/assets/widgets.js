// Pieces shared by the pages: status badges, times, pagers, log views, the
// run/plan chart, confirmations and action buttons.
import { ApiError } from './api.js';
import { h, s, link, note, replace } from './dom.js';
import {
  chartBars,
  chartTicks,
  filterLogs,
  formatDate,
  formatDuration,
  formatRelative,
  formatTime,
  paginate,
  statusInfo,
} from './format.js';

/** A status as symbol + word (colour is extra, never the only carrier). */
export function badge(status, extra) {
  const info = statusInfo(status);
  return h(
    'span',
    { class: `badge tone-${info.tone}`, 'data-status': String(status ?? '') },
    h('span', { class: 'badge-symbol', 'aria-hidden': 'true' }, info.symbol),
    ` ${extra ?? info.label}`,
  );
}

/** A time in the chosen zone, with the other zone and relative time on hover. */
export function time(ts, ctx) {
  if (ts === null || ts === undefined) return '—';
  const other = ctx.timeZone === 'utc' ? 'local' : 'utc';
  return h(
    'time',
    {
      datetime: new Date(Number(ts)).toISOString(),
      title: `${formatTime(ts, other)} (${formatRelative(ts, ctx.now)})`,
    },
    formatTime(ts, ctx.timeZone),
  );
}

export function duration(ms) {
  return formatDuration(ms);
}

/** An error message from a failed call, as a note. */
export function errorNote(err) {
  return note(err instanceof Error ? err.message : String(err), 'error');
}

/** Runs `load`; a route this server lacks becomes a "not available" note. */
export async function loadOr(load, what) {
  try {
    const data = await load();
    // Optional reads answer undefined when the server has no such route.
    if (data === undefined) return { missing: note(`${what} is not available on this server.`) };
    return { data };
  } catch (err) {
    if (err instanceof ApiError && err.status === 404 && /^no route /.test(err.message)) {
      return { missing: note(`${what} is not available on this server.`) };
    }
    if (err instanceof ApiError && err.status === 401) throw err;
    return { missing: errorNote(err) };
  }
}

/**
 * A client-side pager over `items`: renders the current page with `row` and
 * Previous/Next buttons; `renderRows` draws them (a table, usually).
 */
export function pager(items, size, renderRows, label) {
  const holder = h('div', { class: 'pager-holder' });
  let page = 1;
  const draw = () => {
    const p = paginate(items, page, size);
    page = p.page;
    const status = h(
      'span',
      { class: 'muted', 'aria-live': 'polite' },
      `Page ${p.page} of ${p.pages} (${items.length} in all)`,
    );
    replace(
      holder,
      renderRows(p.items),
      p.pages > 1
        ? h(
            'div',
            { class: 'pager', role: 'group', 'aria-label': `${label} pages` },
            h(
              'button',
              {
                type: 'button',
                class: 'secondary',
                disabled: p.page <= 1,
                onclick: () => {
                  page -= 1;
                  draw();
                },
              },
              '← Previous',
            ),
            status,
            h(
              'button',
              {
                type: 'button',
                class: 'secondary',
                disabled: p.page >= p.pages,
                onclick: () => {
                  page += 1;
                  draw();
                },
              },
              'Next →',
            ),
          )
        : null,
    );
  };
  draw();
  return holder;
}

/**
 * Log lines with their level, a level filter, and a plain note when the
 * list is incomplete (cut at a limit, or older lines removed by retention).
 */
export function logView(lines, ctx, options = {}) {
  const holder = h('div', { class: 'logs' });
  const list = h('div', {});
  const select = h(
    'select',
    { id: `log-level-${options.id ?? 'main'}` },
    ['all', 'debug', 'info', 'warn', 'error'].map((l) =>
      h('option', { value: l }, l === 'all' ? 'all levels' : `${l} and above`),
    ),
  );
  const draw = () => {
    const shown = filterLogs(lines, select.value);
    replace(
      list,
      shown.length
        ? h(
            'ol',
            { class: 'log-lines' },
            shown.map((l) =>
              h(
                'li',
                { class: `log-line level-${l.level}` },
                h('span', { class: 'log-level' }, l.level.toUpperCase()),
                h('span', { class: 'log-time' }, formatTime(l.ts, ctx.timeZone)),
                h('span', { class: 'log-message' }, l.message),
              ),
            ),
          )
        : note(lines.length ? 'No lines at this level.' : 'No log lines.'),
    );
  };
  select.addEventListener('change', draw);
  draw();
  replace(
    holder,
    h('div', { class: 'field inline' }, h('label', { for: select.id }, 'Show'), select),
    options.incomplete ? note(options.incomplete, 'warn') : null,
    list,
  );
  return holder;
}

/**
 * The last two weeks of runs and plans as bars: height is duration, colour
 * and a symbol in the title are status; each bar links to its page.
 */
export function activityChart(items, ctx) {
  const width = 720;
  const height = 140;
  const bars = chartBars(items, { now: ctx.now, width, height, days: 14 });
  const ticks = chartTicks({ now: ctx.now, width, days: 14 });
  // Hovering or focusing a bar spells out its details under the chart.
  const detail = h(
    'p',
    { class: 'chart-detail muted', 'aria-hidden': 'true' },
    'Point at a bar (or tab to it) for its details; click it to open the run or plan.',
  );
  const show = (text) => () => (detail.textContent = text);
  const svg = s(
    'svg',
    {
      viewBox: `0 0 ${width} ${height + 18}`,
      class: 'chart',
      role: 'img',
      'aria-labelledby': 'chart-title chart-desc',
    },
    s('title', { id: 'chart-title' }, 'Runs and plans of the last two weeks'),
    s(
      'desc',
      { id: 'chart-desc' },
      `${bars.length} bars; height is duration. The table below lists the same runs and plans.`,
    ),
    ticks.map((t, i) =>
      s(
        'g',
        { class: 'tick' },
        s('line', { x1: t.x, x2: t.x, y1: 0, y2: height }),
        i % 2 === 0 ? s('text', { x: t.x + 2, y: height + 13 }, formatDate(t.ts).slice(5)) : null,
      ),
    ),
    s('line', { class: 'axis', x1: 0, x2: width, y1: height, y2: height }),
    bars.map((b) => {
      const item = b.item;
      const info = statusInfo(item.status);
      const what = item.kind === 'plan' ? 'Plan' : 'Run';
      const title = `${what} ${item.id} — ${info.symbol} ${info.label}; ${formatTime(item.startedTs ?? item.createdTs, ctx.timeZone)}; ${formatDuration(b.durationMs)}`;
      return s(
        'a',
        {
          href: `#/${item.kind === 'plan' ? 'plans' : 'runs'}/${encodeURIComponent(item.id)}`,
          'aria-label': title,
          class: 'bar-link',
          onmouseenter: show(title),
          onfocus: show(title),
        },
        s(
          'rect',
          {
            x: b.x,
            y: b.y,
            width: b.width,
            height: b.height,
            rx: 1.5,
            class: `bar tone-${b.tone}${item.kind === 'plan' ? ' bar-plan' : ''}`,
          },
          s('title', {}, title),
        ),
      );
    }),
  );
  return h(
    'figure',
    { class: 'chart-figure' },
    svg,
    detail,
    h(
      'figcaption',
      { class: 'legend muted' },
      'Bar height: duration. Solid: run; outlined: plan. ',
      ['ok', 'bad', 'busy', 'idle'].map((tone) =>
        h(
          'span',
          { class: `legend-item tone-${tone}` },
          h('span', { class: 'swatch', 'aria-hidden': 'true' }),
          { ok: '✓ succeeded', bad: '✗ failed', busy: '↻ in progress', idle: '⊘ cancelled' }[tone],
        ),
      ),
    ),
  );
}

/** A button that asks first (a dialog), then runs `action`, reporting the outcome. */
export function actionButton(label, action, ctx, options = {}) {
  const button = h(
    'button',
    { type: 'button', class: options.class ?? 'secondary', id: options.id },
    label,
  );
  button.addEventListener('click', async () => {
    if (options.confirm && !(await confirmDialog(options.confirm, label))) return;
    button.disabled = true;
    try {
      const message = await action();
      ctx.announce(message ?? `${label}: done`);
      if (options.refresh !== false) await ctx.refresh();
    } catch (err) {
      button.disabled = false;
      const shown = err instanceof Error ? err.message : String(err);
      ctx.announce(`${label} failed: ${shown}`);
      options.onError?.(shown);
      if (!options.onError) window.alert(`${label} failed: ${shown}`);
    }
  });
  return button;
}

/** A modal confirmation with a native dialog (keyboard and screen reader friendly). */
export function confirmDialog(question, confirmLabel) {
  return new Promise((resolve) => {
    const dialog = h(
      'dialog',
      { class: 'confirm', 'aria-labelledby': 'confirm-q', 'data-keep': 'true' },
      h(
        'form',
        { method: 'dialog' },
        h('p', { id: 'confirm-q' }, question),
        h(
          'div',
          { class: 'actions' },
          h('button', { value: 'cancel', class: 'secondary', type: 'submit' }, 'Cancel'),
          h(
            'button',
            { value: 'ok', class: 'danger', type: 'submit', id: 'confirm-ok' },
            confirmLabel,
          ),
        ),
      ),
    );
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'ok');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export { link };

/** A link to a run or plan, labelled `Run 1a2b3c4d` (the whole id in its title). */
export function executionLink(kind, id, label = kind === 'plan' ? 'Plan' : 'Run') {
  return link(
    `/${kind === 'plan' ? 'plans' : 'runs'}/${encodeURIComponent(id)}`,
    `${label} ${id.slice(0, 8)}`,
    { title: id },
  );
}

/**
 * Who did something: the name people know (an OAuth client's or user's),
 * with the recorded identifier in its title; `fallback` when none is known.
 */
export function who(id, name, fallback = '—') {
  if (!id) return fallback;
  return h('span', { class: 'principal', title: id }, name || id);
}

/** `n model(s)` style counts. */
export function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
