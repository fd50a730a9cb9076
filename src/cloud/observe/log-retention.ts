/**
 * Log retention: log lines older than `settings.logRetentionMs` (7 days by
 * default) are deleted, once an hour. Each project whose lines were deleted
 * gets its cut-off recorded (server_settings `log_retention_cutoff:<project>`),
 * so log lists can say that older lines were removed rather than never written.
 */
import type { CloudContext } from '../context.js';
import type { BackgroundService } from '../server.js';
import { retentionMarker } from './history.js';
import { chunks } from './store-queries.js';

/** Rows deleted per statement, so one pass never holds a long lock. */
const DELETE_BATCH = 5_000;

export interface RetentionResult {
  cutoffTs: number;
  deleted: number;
  projects: number;
}

/** One retention pass as of the context's clock. */
export async function pruneLogs(ctx: CloudContext): Promise<RetentionResult> {
  const db = ctx.store.db;
  const cutoffTs = ctx.clock.now() - ctx.settings.logRetentionMs;
  const projects = (
    await db.selectFrom('logs').select('project_id').distinct().where('ts', '<', cutoffTs).execute()
  ).map((r) => r.project_id);
  let deleted = 0;
  for (const projectId of projects) {
    for (;;) {
      const ids = (
        await db
          .selectFrom('logs')
          .select('id')
          .where('project_id', '=', projectId)
          .where('ts', '<', cutoffTs)
          .limit(DELETE_BATCH)
          .execute()
      ).map((r) => Number(r.id));
      if (ids.length === 0) break;
      for (const group of chunks(ids)) {
        const res = await db.deleteFrom('logs').where('id', 'in', group).executeTakeFirst();
        deleted += Number(res.numDeletedRows);
      }
      if (ids.length < DELETE_BATCH) break;
    }
    const now = ctx.clock.now();
    await db
      .insertInto('server_settings')
      .values({ name: retentionMarker(projectId), value: String(cutoffTs), updated_ts: now })
      .onConflict((oc) =>
        oc.column('name').doUpdateSet({ value: String(cutoffTs), updated_ts: now }),
      )
      .execute();
  }
  return { cutoffTs, deleted, projects: projects.length };
}

export interface LogRetentionOptions {
  /** How often to prune, ms (an hour by default). */
  intervalMs?: number;
}

/** The log retention loop as a server background service; the first pass runs at start. */
export function createLogRetention(options: LogRetentionOptions = {}): BackgroundService {
  const intervalMs = options.intervalMs ?? 3_600_000;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  return {
    name: 'log-retention',
    start(ctx: CloudContext) {
      stopped = false;
      const pass = () => {
        running = (async () => {
          try {
            const result = await pruneLogs(ctx);
            if (result.deleted > 0) ctx.log.info('old log lines removed', { ...result });
          } catch (err) {
            ctx.log.warn('log retention pass failed', {
              error: err instanceof Error ? err.message : String(err),
            });
          }
        })();
        void running.finally(() => {
          if (!stopped) {
            timer = setTimeout(pass, intervalMs);
            timer.unref();
          }
        });
      };
      pass();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
