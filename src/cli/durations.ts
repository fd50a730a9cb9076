/**
 * Durations on the command line: a number and a unit, as operators write
 * them in other tools' settings (`30s`, `15m`, `7d`, `1.5h`, `500ms`).
 */
import { InvalidArgumentError } from 'commander';

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Formats milliseconds with the largest unit that divides them (`30s`, `7d`, `1500ms`). */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNITS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * A commander argument parser for a duration between `minMs` and `maxMs`
 * (inclusive); it returns milliseconds, or refuses the value with what to
 * write instead.
 */
export function durationOption(minMs: number, maxMs: number): (value: string) => number {
  const range = `from ${formatDuration(minMs)} to ${formatDuration(maxMs)}`;
  return (value: string) => {
    const match = /^(\d{1,9}(?:\.\d{1,3})?)(ms|s|m|h|d)$/.exec(value.trim());
    if (!match) {
      throw new InvalidArgumentError(
        `use a number and a unit (ms, s, m, h or d), such as 30s, 15m or 7d, ${range}`,
      );
    }
    const ms = Math.round(Number(match[1]) * UNITS[match[2]!]!);
    if (ms < minMs || ms > maxMs) throw new InvalidArgumentError(`use a duration ${range}`);
    return ms;
  };
}
