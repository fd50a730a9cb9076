/**
 * The executor protocol's version. The cloud accepts executors whose major
 * version equals its own and whose minor version is not newer than its own.
 */
export const PROTOCOL_VERSION = { major: 1, minor: 0 } as const;
