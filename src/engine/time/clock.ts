/**
 * Clocks. Everything in the engine that needs the current time takes a
 * {@link Clock}, so tests can fix or move time.
 */

/** A source of the current time, in epoch milliseconds (UTC). */
export interface Clock {
  now(): number;
}

/** The machine's clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock that always reads `ms`. */
export function fixedClock(ms: number): Clock {
  return { now: () => ms };
}

/** A clock that tests move by hand. */
export interface TestClock extends Clock {
  /** Sets the time to `ms`. */
  set(ms: number): void;
  /** Moves the time forward by `ms` (backward when negative). */
  advance(ms: number): void;
}

/** A {@link TestClock} starting at `startMs`. */
export function testClock(startMs: number): TestClock {
  let current = startMs;
  return {
    now: () => current,
    set: (ms) => {
      current = ms;
    },
    advance: (ms) => {
      current += ms;
    },
  };
}
