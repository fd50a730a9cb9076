/**
 * What every part of the cloud shares: the store, the clock (injectable, so
 * tests can move time), the signing key, settings, the event bus and the log.
 */
import { randomBytes } from 'node:crypto';
import type { Store } from './store/database.js';
import { EventBus } from './events.js';
import { createLogger, type Logger } from './logger.js';

export interface CloudClock {
  now(): number;
}

export interface CloudSettings {
  /** Lifetime of an access token, ms (15 minutes by default). */
  accessTokenTtlMs: number;
  /** Lifetime of a task lease without a heartbeat, ms (30 s by default). */
  leaseTtlMs: number;
  /** Longest a claim waits for a task, ms (25 s by default). */
  claimWaitMs: number;
  /** Attempts of an evaluation task before it fails for good (3 by default). */
  maxAttempts: number;
  /** First retry delay, ms, doubled per attempt (10 s by default). */
  retryBackoffMs: number;
  /** How long logs are kept, ms (7 days by default). */
  logRetentionMs: number;
  /** Largest request body accepted, bytes (plans can be large: 32 MiB by default). */
  maxBodyBytes: number;
  /** Lifetime of a web session, ms (12 hours by default). */
  sessionTtlMs: number;
  /** Set the Secure flag on cookies (true unless serving plain HTTP on loopback for tests). */
  secureCookies: boolean;
}

export const DEFAULT_SETTINGS: CloudSettings = {
  accessTokenTtlMs: 15 * 60_000,
  leaseTtlMs: 30_000,
  claimWaitMs: 25_000,
  maxAttempts: 3,
  retryBackoffMs: 10_000,
  logRetentionMs: 7 * 86_400_000,
  maxBodyBytes: 32 * 1024 * 1024,
  sessionTtlMs: 12 * 3_600_000,
  secureCookies: true,
};

export interface CloudContext {
  store: Store;
  clock: CloudClock;
  /** HMAC key that signs access tokens. */
  signingKey: Uint8Array;
  settings: CloudSettings;
  events: EventBus;
  log: Logger;
}

export interface CreateContextOptions {
  store: Store;
  clock?: CloudClock;
  signingKey?: Uint8Array;
  settings?: Partial<CloudSettings>;
  log?: Logger;
}

export function createCloudContext(options: CreateContextOptions): CloudContext {
  return {
    store: options.store,
    clock: options.clock ?? { now: () => Date.now() },
    signingKey: options.signingKey ?? randomBytes(32),
    settings: { ...DEFAULT_SETTINGS, ...options.settings },
    events: new EventBus(),
    log: options.log ?? createLogger({ level: 'info' }),
  };
}
