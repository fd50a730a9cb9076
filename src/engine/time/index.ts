/** Time, cron and interval math for the engine: pure functions, no I/O. */

export * from './clock.js';
export * from './time-values.js';
export * from './interval-unit.js';
export {
  CronError,
  compileCron,
  cronFloor,
  cronNext,
  cronPrev,
  defaultStart,
  intervalUnitOf,
  normalizeCron,
  resolveIntervalUnit,
  validateCron,
} from './cron.js';
export type { CronSchedule } from './cron.js';
export * from './intervals.js';
