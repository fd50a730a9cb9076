/**
 * The executor protocol's version. The cloud accepts executors whose major
 * version equals its own and whose minor version is not newer than its own.
 */
export const PROTOCOL_VERSION = { major: 1, minor: 1 } as const;

/**
 * What each minor version adds (an executor uses it only when the cloud's
 * version, answered at registration, has it):
 * - 1.1: claims of several tasks (`max`) and batched completions
 *   (`POST /tasks/complete`).
 */
export function supportsBatches(cloudProtocolVersion: string): boolean {
  const [major, minor] = cloudProtocolVersion.split('.').map(Number);
  return major === 1 && minor !== undefined && minor >= 1;
}

/**
 * How often an executor heartbeats a lease of `leaseTtlMs`: six times a
 * lease (every 5 s under the default 30 s lease). A failed heartbeat is tried
 * again every second or so, so a lease survives an outage of the cloud that,
 * with the cloud's restart, ends about a sixth of a lease and a second before
 * the lease would run out (about 24 s under the default lease).
 */
export function heartbeatIntervalFor(leaseTtlMs: number): number {
  return Math.max(100, Math.floor(leaseTtlMs / 6));
}
