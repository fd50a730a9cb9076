// Formatting for the UI: times (UTC or local), durations, statuses and the
// run/plan chart's geometry. No DOM here, so it is tested in Node.

export const TIME_ZONE_KEY = 'tideline.timeZone';

/** `utc` or `local`, from storage (UTC unless the user chose local). */
export function readTimeZone(storage) {
  try {
    return storage?.getItem(TIME_ZONE_KEY) === 'local' ? 'local' : 'utc';
  } catch {
    return 'utc';
  }
}

export function writeTimeZone(storage, mode) {
  try {
    storage?.setItem(TIME_ZONE_KEY, mode === 'local' ? 'local' : 'utc');
  } catch {
    // Storage can be disabled; the choice then lasts for this page only.
  }
}

const pad = (n, width = 2) => String(n).padStart(width, '0');

/** `2020-01-10 14:03:05 UTC`, or the same in local time with the zone's offset. */
export function formatTime(ts, mode = 'utc') {
  if (ts === null || ts === undefined || !Number.isFinite(Number(ts))) return '—';
  const d = new Date(Number(ts));
  if (mode === 'local') {
    const offset = -d.getTimezoneOffset();
    const sign = offset >= 0 ? '+' : '-';
    const abs = Math.abs(offset);
    return (
      `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ` +
      `UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
    );
  }
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`
  );
}

/** A date only: `2020-01-10` (a whole day in the chosen zone). */
export function formatDate(ts, mode = 'utc') {
  if (ts === null || ts === undefined) return '—';
  const d = new Date(Number(ts));
  return mode === 'local'
    ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`
    : `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** An interval [start, end): dates when both are midnights in UTC, times otherwise. */
export function formatInterval(interval, mode = 'utc') {
  if (!Array.isArray(interval) || interval.length !== 2) return '—';
  const [start, end] = interval.map(Number);
  const day = 86_400_000;
  if (mode === 'utc' && start % day === 0 && end % day === 0) {
    const last = end - day;
    return last <= start ? formatDate(start) : `${formatDate(start)} – ${formatDate(last)}`;
  }
  return `${formatTime(start, mode)} – ${formatTime(end, mode)}`;
}

/** `850 ms`, `4.2 s`, `3 min 5 s`, `2 h 10 min`. */
export function formatDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(Number(ms))) return '—';
  const n = Math.max(0, Number(ms));
  if (n < 1000) return `${Math.round(n)} ms`;
  if (n < 60_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)} s`;
  const totalSeconds = Math.round(n / 1000);
  if (n < 3_600_000) {
    const m = Math.floor(totalSeconds / 60);
    const sec = totalSeconds % 60;
    return sec ? `${m} min ${sec} s` : `${m} min`;
  }
  const totalMinutes = Math.round(n / 60_000);
  const hours = Math.floor(totalMinutes / 60);
  const minutes = totalMinutes % 60;
  return minutes ? `${hours} h ${minutes} min` : `${hours} h`;
}

/** `just now`, `5 min ago`, `3 h ago`, `2 days ago`; `in ...` for the future. */
export function formatRelative(ts, now) {
  if (ts === null || ts === undefined) return '—';
  const diff = Number(now) - Number(ts);
  const abs = Math.abs(diff);
  const words =
    abs < 45_000
      ? null
      : abs < 3_600_000
        ? `${Math.round(abs / 60_000)} min`
        : abs < 86_400_000
          ? `${Math.round(abs / 3_600_000)} h`
          : `${Math.round(abs / 86_400_000)} days`;
  if (!words) return 'just now';
  return diff >= 0 ? `${words} ago` : `in ${words}`;
}

/**
 * How a status is shown: a tone (for colour), a symbol and a word, so colour
 * never carries the meaning alone.
 */
export function statusInfo(status) {
  const s = String(status ?? 'unknown').toLowerCase();
  const table = {
    succeeded: ['ok', '✓', 'succeeded'],
    complete: ['ok', '✓', 'complete'],
    passed: ['ok', '✓', 'passed'],
    online: ['ok', '●', 'online'],
    failed: ['bad', '✗', 'failed'],
    behind: ['bad', '!', 'behind'],
    late: ['bad', '!', 'late'],
    error: ['bad', '✗', 'error'],
    cancelled: ['idle', '⊘', 'cancelled'],
    offline: ['idle', '○', 'offline'],
    paused: ['warn', '⏸', 'paused'],
    warn: ['warn', '!', 'warning'],
    pending: ['busy', '…', 'pending'],
    waiting: ['busy', '…', 'waiting'],
    applying: ['busy', '↻', 'applying'],
    running: ['busy', '↻', 'running'],
    claimed: ['busy', '↻', 'running'],
  };
  const [tone, symbol, label] = table[s] ?? ['idle', '•', s];
  return { tone, symbol, label };
}

/** Duration of a run or plan: finished − started, or so far when still going. */
export function elapsed(item, now) {
  const start = item.startedTs ?? item.createdTs;
  if (start === null || start === undefined) return null;
  const end = item.finishedTs ?? (isFinal(item.status) ? item.updatedTs : now);
  if (end === null || end === undefined) return null;
  return Math.max(0, Number(end) - Number(start));
}

export function isFinal(status) {
  return status === 'succeeded' || status === 'failed' || status === 'cancelled';
}

/**
 * The two-week chart: one bar per run or plan, placed by its start time,
 * height by duration (square-root scaled so short bars stay visible), in
 * a box of `width` × `height`. Items outside [now − days, now] are left out.
 */
export function chartBars(items, options) {
  const { now, width, height } = options;
  const days = options.days ?? 14;
  const span = days * 86_400_000;
  const from = now - span;
  const shown = items
    .map((item) => ({ item, start: Number(item.startedTs ?? item.createdTs) }))
    .filter((x) => Number.isFinite(x.start) && x.start >= from && x.start <= now)
    .sort((a, b) => a.start - b.start);
  const durations = shown.map((x) => elapsed(x.item, now) ?? 0);
  const longest = Math.max(1, ...durations);
  const barWidth = Math.max(2, Math.min(10, (width / Math.max(shown.length, 1)) * 0.6));
  return shown.map((x, i) => {
    const d = durations[i];
    const h = Math.max(3, Math.sqrt(d / longest) * (height - 4));
    const cx = ((x.start - from) / span) * (width - barWidth);
    return {
      item: x.item,
      x: Math.round(cx * 10) / 10,
      y: Math.round((height - h) * 10) / 10,
      width: Math.round(barWidth * 10) / 10,
      height: Math.round(h * 10) / 10,
      durationMs: d,
      tone: statusInfo(x.item.status).tone,
    };
  });
}

/** The day ticks of the chart: midnights (UTC) between now − days and now, as x positions. */
export function chartTicks(options) {
  const { now, width } = options;
  const days = options.days ?? 14;
  const span = days * 86_400_000;
  const from = now - span;
  const ticks = [];
  const first = Math.ceil(from / 86_400_000) * 86_400_000;
  for (let t = first; t <= now; t += 86_400_000) {
    ticks.push({ ts: t, x: Math.round(((t - from) / span) * width * 10) / 10 });
  }
  return ticks;
}

/** A page of a list: items, page number (from 1) clamped, and the page count. */
export function paginate(items, page, size) {
  const pages = Math.max(1, Math.ceil(items.length / size));
  const current = Math.min(Math.max(1, page), pages);
  return {
    items: items.slice((current - 1) * size, current * size),
    page: current,
    pages,
  };
}

/** A model's name as people write it: `"db"."sch"."tbl"` → `sch.tbl` (catalog dropped). */
export function shortModelName(name) {
  const parts = String(name)
    .match(/"((?:[^"]|"")*)"|[^.]+/g)
    ?.map((p) => (p.startsWith('"') ? p.slice(1, -1).replace(/""/g, '"') : p));
  if (!parts || parts.length < 2) return String(name);
  return parts.slice(-2).join('.');
}

/** Which log lines to show for a level filter (`all` or a minimum level). */
export function filterLogs(lines, minimum) {
  const order = ['debug', 'info', 'warn', 'error'];
  if (!minimum || minimum === 'all') return lines;
  const floor = order.indexOf(minimum);
  return lines.filter((l) => order.indexOf(l.level) >= floor);
}
