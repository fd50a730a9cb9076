/**
 * Errors the engine raises. Errors a user can cause carry where (file, line,
 * column or a config key) and what to do, and print as one line.
 */

/** A position in a project file; line and column are 1-based. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

export function formatLocation(loc: SourceLocation): string {
  return `${loc.file}:${loc.line}:${loc.column}`;
}

/** Base class for every error the engine raises on purpose. */
export class TidelineError extends Error {
  override name = 'TidelineError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * A mistake in a project file: `file:line:column: reason`.
 * The message is a single line, with no stack trace shown to the user.
 */
export class ProjectError extends TidelineError {
  override name = 'ProjectError';
  readonly location: SourceLocation | undefined;
  readonly reason: string;
  constructor(reason: string, location?: SourceLocation, options?: { cause?: unknown }) {
    super(location ? `${formatLocation(location)}: ${reason}` : reason, options);
    this.location = location;
    this.reason = reason;
  }
}

/** A mistake in configuration: a config key or an environment variable. */
export class ConfigError extends TidelineError {
  override name = 'ConfigError';
  /** The config file, key path or environment variable at fault. */
  readonly where: string;
  constructor(where: string, reason: string, options?: { cause?: unknown }) {
    super(`${where}: ${reason}`, options);
    this.where = where;
  }
}

/** A failure reported by a warehouse (connection refused, SQL error, ...). */
export class EngineError extends TidelineError {
  override name = 'EngineError';
  /** The SQL being run when the engine failed, when there was one. */
  readonly sql: string | undefined;
  constructor(message: string, options?: { cause?: unknown; sql?: string }) {
    super(message, options);
    this.sql = options?.sql;
  }
}

/** A model, macro or variable that a command names but the project lacks. */
export class NotFoundError extends TidelineError {
  override name = 'NotFoundError';
}
