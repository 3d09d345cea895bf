/**
 * One registry of typed errors. Every error has a stable `code` (documented in docs/errors.md),
 * the process exit code it maps to, and a context naming where it happened.
 */

export interface ErrorContext {
  connector?: string;
  table?: string;
  column?: string;
  file?: string;
  line?: number;
  document?: number;
  keyPath?: string;
  row?: number;
  phase?: string;
}

const kCqPipeError = Symbol.for('cq-pipe.error');

export class CqPipeError extends Error {
  readonly code: string;
  readonly exitCode: number;
  readonly context: ErrorContext;
  /** a short "how to fix" hint, printed after the message */
  readonly hint?: string;
  /**
   * Set by a destination (see `tableFailure`): only the table in `context.table` failed; its
   * uncommitted rows were rolled back and the destination goes on with the other tables.
   */
  tableScoped = false;

  constructor(code: string, message: string, opts: { context?: ErrorContext; cause?: unknown; exitCode?: number; hint?: string } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CqPipeError';
    this.code = code;
    this.exitCode = opts.exitCode ?? 1;
    this.context = opts.context ?? {};
    this.hint = opts.hint;
  }

  /** instanceof works across two installed copies of cq-pipe */
  static override [Symbol.hasInstance](obj: unknown): boolean {
    return typeof obj === 'object' && obj !== null && (obj as Record<symbol, unknown>)[kCqPipeError] === true;
  }

  get [kCqPipeError](): boolean {
    return true;
  }

  /** "where" part of a message: file:line, table, connector */
  where(): string {
    const c = this.context;
    const parts: string[] = [];
    if (c.file) parts.push(c.line !== undefined ? `${c.file}:${c.line}` : c.file);
    if (c.document !== undefined) parts.push(`document ${c.document}`);
    if (c.keyPath) parts.push(`key ${c.keyPath}`);
    if (c.connector) parts.push(`connector ${c.connector}`);
    if (c.table) parts.push(`table ${c.table}`);
    if (c.column) parts.push(`column ${c.column}`);
    if (c.row !== undefined) parts.push(`row ${c.row}`);
    return parts.join(', ');
  }
}

/** All codes, so docs/errors.md can be checked against them. */
export const ERROR_CODES = {
  CQ_ERR_CONFIG_INVALID: 'config could not be parsed or failed validation',
  CQ_ERR_CONNECTOR_NOT_FOUND: 'a `path` names no built-in connector and no loadable module',
  CQ_ERR_USAGE: 'bad command line',
  CQ_ERR_TABLE_PATTERN: 'a `tables`/`skip_tables` pattern matches no table',
  CQ_ERR_SOURCE_DATA: 'a source record is malformed or does not fit its column',
  CQ_ERR_SOURCE_READ: 'a source could not read its input (missing file, unreadable object)',
  CQ_ERR_SCHEMA_INCOMPATIBLE: 'a batch or a table change does not fit the destination schema',
  CQ_ERR_DEST_WRITE: 'a destination failed to write',
  CQ_ERR_UNSUPPORTED: 'the connector does not support the requested mode or feature',
  CQ_ERR_ABORTED: 'the sync was aborted (signal or early destroy)',
  CQ_ERR_INTERNAL: 'a bug in cq-pipe: please report it',
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

export class ConfigError extends CqPipeError {
  constructor(message: string, context: ErrorContext = {}, hint?: string) {
    super('CQ_ERR_CONFIG_INVALID', message, { context, exitCode: 2, hint });
    this.name = 'ConfigError';
  }
}

export class UsageError extends CqPipeError {
  constructor(message: string, hint?: string) {
    super('CQ_ERR_USAGE', message, { exitCode: 2, hint });
    this.name = 'UsageError';
  }
}

export class ConnectorNotFoundError extends CqPipeError {
  constructor(path: string, known: readonly string[], context: ErrorContext = {}, cause?: unknown) {
    super('CQ_ERR_CONNECTOR_NOT_FOUND', `unknown connector "${path}"`, {
      context, exitCode: 2, cause,
      hint: `use one of: ${known.join(', ')}, or a path to a module (./my-connector.js)`,
    });
    this.name = 'ConnectorNotFoundError';
  }
}

export class TablePatternError extends CqPipeError {
  constructor(message: string, context: ErrorContext = {}, hint?: string) {
    super('CQ_ERR_TABLE_PATTERN', message, { context, exitCode: 2, hint });
    this.name = 'TablePatternError';
  }
}

/** A malformed record or a value that does not fit its column. Fails its table. */
export class SourceDataError extends CqPipeError {
  constructor(message: string, context: ErrorContext = {}, cause?: unknown) {
    super('CQ_ERR_SOURCE_DATA', message, { context, cause });
    this.name = 'SourceDataError';
  }
}

export class SourceReadError extends CqPipeError {
  constructor(message: string, context: ErrorContext = {}, cause?: unknown, hint?: string) {
    super('CQ_ERR_SOURCE_READ', message, { context, cause, hint });
    this.name = 'SourceReadError';
  }
}

export class SchemaIncompatibleError extends CqPipeError {
  constructor(message: string, context: ErrorContext = {}, hint?: string) {
    super('CQ_ERR_SCHEMA_INCOMPATIBLE', message, { context, hint });
    this.name = 'SchemaIncompatibleError';
  }
}

export class DestinationWriteError extends CqPipeError {
  constructor(message: string, context: ErrorContext = {}, cause?: unknown) {
    super('CQ_ERR_DEST_WRITE', message, { context, cause });
    this.name = 'DestinationWriteError';
  }
}

export class UnsupportedError extends CqPipeError {
  constructor(message: string, context: ErrorContext = {}, hint?: string) {
    super('CQ_ERR_UNSUPPORTED', message, { context, exitCode: 2, hint });
    this.name = 'UnsupportedError';
  }
}

export class AbortedError extends CqPipeError {
  constructor(message = 'sync aborted', cause?: unknown) {
    super('CQ_ERR_ABORTED', message, { cause, exitCode: 1 });
    this.name = 'AbortedError';
  }
}

/**
 * Mark a destination error as confined to its table (`context.table` must be set): the
 * destination has rolled back that table's uncommitted rows, kept every other table's, and can
 * take more writes. The engine then fails only that table, drops its later rows and checkpoints,
 * and lets the other tables finish. Without the mark a destination error fails the whole sync.
 */
export function tableFailure<E extends CqPipeError>(err: E): E {
  if (err.context.table) err.tableScoped = true;
  return err;
}

/** Wrap anything thrown into a CqPipeError (keeps CqPipeErrors as they are). */
export function toCqPipeError(err: unknown, context: ErrorContext = {}): CqPipeError {
  if (err instanceof CqPipeError) return err;
  if (err instanceof Error && (err.name === 'AbortError' || (err as { code?: string }).code === 'ABORT_ERR')) {
    return new AbortedError(err.message, err);
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new CqPipeError('CQ_ERR_INTERNAL', msg, { context, cause: err });
}
