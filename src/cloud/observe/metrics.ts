/**
 * Prometheus metrics of the cloud, in the text exposition format (0.0.4).
 * Counts only: no project, model, client or user names, nothing secret.
 *
 * - `tideline_http_requests_total{method,status}`: requests by method and
 *   status class (`2xx`, `4xx`...).
 * - `tideline_http_request_duration_seconds`: a histogram of request times
 *   (until the response headers).
 * - `tideline_tasks{queue,status}`, `tideline_executors_online`,
 *   `tideline_runs{status}`, `tideline_plans{status}`: read from the store
 *   at each scrape, over every project of the server.
 */
import type { CloudContext } from '../context.js';
import { executorNotesWritten } from '../queue/executor-bookkeeping.js';

export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export class HttpMetrics {
  /** `method|class` -> count. */
  private readonly requests = new Map<string, number>();
  private readonly bucketCounts = DURATION_BUCKETS.map(() => 0);
  private count = 0;
  private sum = 0;

  observe(method: string, status: number, seconds: number): void {
    const m = METHODS.has(method) ? method : 'OTHER';
    const cls = status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
    const key = `${m}|${cls}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    this.count += 1;
    this.sum += seconds;
    DURATION_BUCKETS.forEach((le, i) => {
      if (seconds <= le) this.bucketCounts[i]! += 1;
    });
  }

  lines(): string[] {
    const out = [
      '# HELP tideline_http_requests_total HTTP requests answered, by method and status class.',
      '# TYPE tideline_http_requests_total counter',
    ];
    for (const [key, n] of [...this.requests].sort(([a], [b]) => a.localeCompare(b))) {
      const [method, cls] = key.split('|');
      out.push(`tideline_http_requests_total{method="${method}",status="${cls}"} ${n}`);
    }
    out.push(
      '# HELP tideline_http_request_duration_seconds Time to answer HTTP requests.',
      '# TYPE tideline_http_request_duration_seconds histogram',
    );
    DURATION_BUCKETS.forEach((le, i) => {
      out.push(`tideline_http_request_duration_seconds_bucket{le="${le}"} ${this.bucketCounts[i]}`);
    });
    out.push(
      `tideline_http_request_duration_seconds_bucket{le="+Inf"} ${this.count}`,
      `tideline_http_request_duration_seconds_sum ${this.sum}`,
      `tideline_http_request_duration_seconds_count ${this.count}`,
    );
    return out;
  }
}

const TASK_QUEUES = ['run', 'apply'] as const;
const TASK_STATUSES = ['waiting', 'pending', 'claimed', 'succeeded', 'failed', 'cancelled'];
const RUN_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'cancelled'];
const PLAN_STATUSES = ['pending', 'applying', 'succeeded', 'failed', 'cancelled'];

/** Label values come from the store; only known ones are shown, anything else as `other`. */
function known(value: string, list: readonly string[]): string {
  return list.includes(value) ? value : 'other';
}

/** The whole exposition: HTTP metrics plus counts read from the store now. */
export async function renderMetrics(ctx: CloudContext, http: HttpMetrics): Promise<string> {
  const db = ctx.store.db;
  const out = http.lines();

  const tasks = await db
    .selectFrom('tasks')
    .select(['queue', 'status', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy(['queue', 'status'])
    .execute();
  const taskCounts = new Map<string, number>();
  for (const q of TASK_QUEUES) for (const s of TASK_STATUSES) taskCounts.set(`${q}|${s}`, 0);
  for (const r of tasks) {
    const key = `${known(r.queue, TASK_QUEUES)}|${known(r.status, TASK_STATUSES)}`;
    taskCounts.set(key, (taskCounts.get(key) ?? 0) + Number(r.n));
  }
  out.push(
    '# HELP tideline_tasks Tasks in the store, by queue and status.',
    '# TYPE tideline_tasks gauge',
  );
  for (const [key, n] of taskCounts) {
    const [queue, status] = key.split('|');
    out.push(`tideline_tasks{queue="${queue}",status="${status}"} ${n}`);
  }

  const onlineSince = ctx.clock.now() - 2 * ctx.settings.leaseTtlMs;
  await executorNotesWritten(ctx);
  const executors = await db
    .selectFrom('executors')
    .select(['kind', (eb) => eb.fn.countAll<number>().as('n')])
    .where('last_seen_ts', '>=', onlineSince)
    .groupBy('kind')
    .execute();
  out.push(
    '# HELP tideline_executors_online Executors seen within two lease lifetimes, by kind.',
    '# TYPE tideline_executors_online gauge',
  );
  const byKind = new Map<string, number>([
    ['run', 0],
    ['apply', 0],
  ]);
  for (const r of executors) {
    const kind = r.kind === 'apply' ? 'apply' : 'run';
    byKind.set(kind, (byKind.get(kind) ?? 0) + Number(r.n));
  }
  for (const [kind, n] of byKind) out.push(`tideline_executors_online{kind="${kind}"} ${n}`);

  for (const [table, statuses, help] of [
    ['runs', RUN_STATUSES, 'Runs in the store, by status.'],
    ['plans', PLAN_STATUSES, 'Plans in the store, by status.'],
  ] as const) {
    const rows = await db
      .selectFrom(table)
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .execute();
    const counts = new Map<string, number>(statuses.map((s) => [s, 0]));
    for (const r of rows) {
      const s = known(r.status, statuses);
      counts.set(s, (counts.get(s) ?? 0) + Number(r.n));
    }
    out.push(`# HELP tideline_${table} ${help}`, `# TYPE tideline_${table} gauge`);
    for (const [status, n] of counts) out.push(`tideline_${table}{status="${status}"} ${n}`);
  }
  return `${out.join('\n')}\n`;
}
