/**
 * Errors the adapters raise, and the one-line reasons shown for them.
 */
import { EngineError } from '../errors.js';

/** The warehouse could not be reached or refused the connection. */
export class ConnectionError extends EngineError {
  override name = 'ConnectionError';
  /** The short reason alone, e.g. `connection refused at 127.0.0.1:5432`. */
  readonly reason: string;
  constructor(engine: string, reason: string, options?: { cause?: unknown }) {
    super(`${engine} connection failed: ${reason}`, options);
    this.reason = reason;
  }
}

/** A statement stopped by `cancel()`. */
export class QueryCancelledError extends EngineError {
  override name = 'QueryCancelledError';
}

/** The first non-empty line of a message, trimmed. */
export function firstLine(message: string): string {
  for (const line of message.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed) return trimmed;
  }
  return message.trim();
}

/** A statement shortened to one line for an error message. */
export function sqlExcerpt(sql: string, max = 80): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

interface NodeSystemError {
  code?: string;
  address?: string;
  port?: number;
  hostname?: string;
  errors?: unknown[];
}

/**
 * A one-line reason for a failed connection check, for messages such as
 * `Data warehouse connection failed: <reason>`. Understands the adapters' own
 * errors, socket errors, PostgreSQL server errors and DuckDB file errors.
 */
export function describeConnectionError(err: unknown): string {
  if (err instanceof ConnectionError) return err.reason;
  if (err instanceof EngineError && err.cause !== undefined) {
    return describeConnectionError(err.cause);
  }
  if (err instanceof AggregateError && err.errors.length > 0) {
    const reasons = [...new Set(err.errors.map((e) => describeConnectionError(e)))];
    return reasons.join('; ');
  }
  const sys = (typeof err === 'object' && err !== null ? err : {}) as NodeSystemError;
  const where = sys.address !== undefined ? `${sys.address}:${sys.port ?? ''}` : undefined;
  switch (sys.code) {
    case 'ECONNREFUSED':
      return where ? `connection refused at ${where}` : 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host not found: ${sys.hostname ?? 'unknown host'}`;
    case 'ETIMEDOUT':
      return where ? `connection timed out at ${where}` : 'connection timed out';
    case 'ECONNRESET':
      return 'connection reset by the server';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return where ? `host unreachable at ${where}` : 'host unreachable';
    default:
      break;
  }
  const message = firstLine(messageOf(err));
  const lock = /Could not set lock on file "([^"]+)"/.exec(message);
  if (lock) {
    const pid = /\(PID (\d+)\)/.exec(messageOf(err));
    return `database file is locked: ${lock[1]}${pid ? ` (held by process ${pid[1]})` : ''}`;
  }
  if (/connection timeout|timeout expired/i.test(message)) return 'connection timed out';
  return message;
}
