/**
 * One registry of typed errors (docs/errors.md). Every error has a code from the closed set
 * `ERROR_CODES`, a context naming where it happened, and two facts set when it is made and never
 * changed: `scope` (what it fails: one table, one destination, or the whole sync) and `retryable`
 * (trying the same thing again may succeed unchanged: a transient fault). Exit codes are the
 * CLI's business (bin/exit-codes.ts); the engine only says which codes are config-time errors.
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

/** All codes, so docs/errors.md can be checked against them. */
export const ERROR_CODES = {
  CQ_ERR_CONFIG_INVALID: 'config could not be parsed or failed validation',
  CQ_ERR_CONNECTOR_NOT_FOUND: 'a `path` names no built-in connector and no loadable module',
  CQ_ERR_USAGE: 'bad command line',
  CQ_ERR_TABLE_PATTERN: 'a `tables`/`skip_tables` pattern matches no table',
  CQ_ERR_SOURCE_DATA: 'a source record is malformed or does not fit its column',
  CQ_ERR_SOURCE_READ: 'a source could not read its input (missing file, unreadable object)',
  CQ_ERR_STATE: 'a state backend could not be opened, read or saved',
  CQ_ERR_STATE_CONFLICT: 'another writer changed the saved state since this sync loaded it',
  CQ_ERR_TRANSFORM: 'a transformer failed at run time',
  CQ_ERR_SCHEMA_INCOMPATIBLE: 'a batch or a table change does not fit the destination schema',
  CQ_ERR_DEST_WRITE: 'a destination failed to write',
  CQ_ERR_UNSUPPORTED: 'the connector does not support the requested mode or feature',
  CQ_ERR_ABORTED: 'the sync was aborted (signal or early destroy)',
  CQ_ERR_INTERNAL: 'a bug in cq-pipe: please report it',
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

/** `x` is one of the codes of `ERROR_CODES` (e.g. a code read from a pipe). */
export function isErrorCode(x: unknown): x is ErrorCode {
  return typeof x === 'string' && Object.hasOwn(ERROR_CODES, x);
}

/**
 * Codes of errors in what the user asked for — config, command line, connector names, table
 * patterns, unsupported modes — rather than in the data or the stores: the sync is a config error
 * (`SyncResult.status: 'config-error'`, exit code 2 in the CLI) even when found at run time.
 */
export const CONFIG_ERROR_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'CQ_ERR_CONFIG_INVALID',
  'CQ_ERR_USAGE',
  'CQ_ERR_CONNECTOR_NOT_FOUND',
  'CQ_ERR_TABLE_PATTERN',
  'CQ_ERR_UNSUPPORTED',
]);

/** `err` is a CqPipeError whose code is in CONFIG_ERROR_CODES. */
export function isConfigError(err: unknown): boolean {
  return err instanceof CqPipeError && CONFIG_ERROR_CODES.has(err.code);
}

/**
 * What an error fails: only the table in `context.table` (the other tables go on), the
 * destination it happened in, or the whole sync.
 */
export type ErrorScope = 'table' | 'destination' | 'sync';

export interface ErrorOptions {
  /** what the error fails (default: the class's) */
  scope?: ErrorScope;
  /** trying the same operation again may succeed unchanged, e.g. a lost connection (default: false) */
  retryable?: boolean;
}

export interface CqPipeErrorOptions extends ErrorOptions {
  context?: ErrorContext;
  cause?: unknown;
  /** a short "how to fix" hint, printed after the message */
  hint?: string;
}

const kCqPipeError = Symbol.for('cq-pipe.error');

export class CqPipeError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;
  /** a short "how to fix" hint, printed after the message */
  readonly hint?: string;
  /** what the error fails; see ErrorScope */
  readonly scope: ErrorScope;
  /** trying the same operation again may succeed unchanged (a transient fault) */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, opts: CqPipeErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CqPipeError';
    this.code = code;
    this.context = opts.context ?? {};
    this.hint = opts.hint;
    this.scope = opts.scope ?? 'sync';
    this.retryable = opts.retryable ?? false;
  }

  /**
   * `x instanceof CqPipeError` works across two installed copies of cq-pipe (by a symbol); a
   * subclass (`x instanceof SchemaIncompatibleError`) checks its own prototype chain, so it is not
   * true of every CqPipeError.
   */
  static override [Symbol.hasInstance](obj: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the subclass being tested, not CqPipeError
    if (this !== CqPipeError) return Function.prototype[Symbol.hasInstance].call(this, obj);
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

export class ConfigError extends CqPipeError {
  constructor(message: string, context: ErrorContext = {}, hint?: string) {
    super('CQ_ERR_CONFIG_INVALID', message, { context, hint, scope: 'sync' });
    this.name = 'ConfigError';
  }
}

export class UsageError extends CqPipeError {
  constructor(message: string, hint?: string) {
    super('CQ_ERR_USAGE', message, { hint, scope: 'sync' });
    this.name = 'UsageError';
  }
}

/**
 * A CloudQuery plugin (`path: team/name` with a `registry` and a `version`) that cq-pipe has no
 * built-in connector for and cannot run (docs/plugins.md): a config error naming the plugin, its
 * version and the ways to provide it — never "unknown connector".
 */
export class PluginUnavailableError extends CqPipeError {
  constructor(message: string, hint: string, context: ErrorContext = {}, cause?: unknown) {
    super('CQ_ERR_CONNECTOR_NOT_FOUND', message, { context, hint, scope: 'sync', cause });
    this.name = 'PluginUnavailableError';
  }
}

export class ConnectorNotFoundError extends CqPipeError {
  constructor(path: string, known: readonly string[], context: ErrorContext = {}, cause?: unknown) {
    super('CQ_ERR_CONNECTOR_NOT_FOUND', `unknown connector "${path}"`, {
      context,
      cause,
      scope: 'sync',
      hint: `use one of: ${known.join(', ')}, or a path to a module (./my-connector.js)`,
    });
    this.name = 'ConnectorNotFoundError';
  }
}

export class TablePatternError extends CqPipeError {
  constructor(message: string, context: ErrorContext = {}, hint?: string) {
    super('CQ_ERR_TABLE_PATTERN', message, { context, hint, scope: 'sync' });
    this.name = 'TablePatternError';
  }
}

/** A malformed record or a value that does not fit its column. Fails its table. */
export class SourceDataError extends CqPipeError {
  constructor(message: string, context: ErrorContext = {}, cause?: unknown, opts: ErrorOptions = {}) {
    super('CQ_ERR_SOURCE_DATA', message, { context, cause, scope: 'table', ...opts });
    this.name = 'SourceDataError';
  }
}

/**
 * A source cannot read its input: a missing file, an unreadable object, an unreachable database.
 * Fails the sync unless the source reports it as a `table-error` (then it is table-scoped).
 */
export class SourceReadError extends CqPipeError {
  constructor(message: string, context: ErrorContext = {}, cause?: unknown, hint?: string, opts: ErrorOptions = {}) {
    super('CQ_ERR_SOURCE_READ', message, { context, cause, hint, scope: 'sync', ...opts });
    this.name = 'SourceReadError';
  }
}

/** A state backend cannot be opened, read or saved (docs/incremental.md). */
export class StateError extends CqPipeError {
  constructor(message: string, context: ErrorContext = {}, cause?: unknown, opts: ErrorOptions = {}) {
    super('CQ_ERR_STATE', message, { context: { phase: 'state', ...context }, cause, scope: 'sync', ...opts });
    this.name = 'StateError';
  }
}

/** Another writer changed the saved state since this sync loaded it; this sync's state was not saved. */
export class StateConflictError extends CqPipeError {
  constructor(message: string, context: ErrorContext = {}, cause?: unknown) {
    super('CQ_ERR_STATE_CONFLICT', message, {
      context: { phase: 'state', ...context },
      cause,
      scope: 'sync',
    });
    this.name = 'StateConflictError';
  }
}

/**
 * A transformer failed at run time: a custom module threw or yielded something that is not a
 * message, or a built-in transformation met data it cannot handle. Problems a transformer's
 * config has (also when found at run time, e.g. a transformation that does not fit a table)
 * are ConfigErrors.
 */
export class TransformError extends CqPipeError {
  constructor(message: string, context: ErrorContext = {}, cause?: unknown) {
    super('CQ_ERR_TRANSFORM', message, { context, cause, scope: 'destination' });
    this.name = 'TransformError';
  }
}

export class SchemaIncompatibleError extends CqPipeError {
  constructor(message: string, context: ErrorContext = {}, hint?: string, opts: ErrorOptions = {}) {
    super('CQ_ERR_SCHEMA_INCOMPATIBLE', message, { context, hint, scope: 'destination', ...opts });
    this.name = 'SchemaIncompatibleError';
  }
}

export class DestinationWriteError extends CqPipeError {
  constructor(message: string, context: ErrorContext = {}, cause?: unknown, opts: ErrorOptions = {}) {
    super('CQ_ERR_DEST_WRITE', message, { context, cause, scope: 'destination', ...opts });
    this.name = 'DestinationWriteError';
  }
}

export class UnsupportedError extends CqPipeError {
  constructor(message: string, context: ErrorContext = {}, hint?: string) {
    super('CQ_ERR_UNSUPPORTED', message, { context, hint, scope: 'sync' });
    this.name = 'UnsupportedError';
  }
}

export class AbortedError extends CqPipeError {
  constructor(message = 'sync aborted', cause?: unknown) {
    super('CQ_ERR_ABORTED', message, { cause, scope: 'sync' });
    this.name = 'AbortedError';
  }
}

/** A broken invariant of cq-pipe itself (or a plain error it did not expect): a bug to report. */
export class InternalError extends CqPipeError {
  constructor(message: string, context: ErrorContext = {}, cause?: unknown) {
    super('CQ_ERR_INTERNAL', message, { context, cause, scope: 'sync' });
    this.name = 'InternalError';
  }
}

/**
 * The same error confined to its table (`context.table` must be set; without it `err` is returned
 * as it is): a copy of the same class, message, context, cause, hint and stack, with
 * `scope: 'table'`. A destination throws it when it has rolled back that table's uncommitted rows,
 * kept every other table's, and can take more writes; the engine then fails only that table,
 * drops its later rows and checkpoints, and lets the other tables finish. A source yields it in a
 * `table-error` message. Without it a destination error fails the whole sync.
 */
export function tableFailure<E extends CqPipeError>(err: E): E {
  if (!err.context.table || err.scope === 'table') return err;
  return reissued(err, { scope: 'table' });
}

/** a copy of `err` (same prototype and own properties, stack included) with other options */
function reissued<E extends CqPipeError>(err: E, opts: ErrorOptions): E {
  const copy = Object.create(Object.getPrototypeOf(err) as object) as E;
  Object.defineProperties(copy, Object.getOwnPropertyDescriptors(err));
  // the stack may be an accessor bound to the original: keep its text
  Object.defineProperty(copy, 'stack', { value: err.stack, writable: true, enumerable: false, configurable: true });
  for (const [k, v] of Object.entries(opts)) {
    if (v !== undefined) Object.defineProperty(copy, k, { value: v, writable: false, enumerable: true, configurable: true });
  }
  return copy;
}

/** Wrap anything thrown into a CqPipeError (keeps CqPipeErrors as they are; anything else is an InternalError). */
export function toCqPipeError(err: unknown, context: ErrorContext = {}): CqPipeError {
  if (err instanceof CqPipeError) return err;
  if (err instanceof Error && (err.name === 'AbortError' || (err as { code?: string }).code === 'ABORT_ERR')) {
    return new AbortedError(err.message, err);
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new InternalError(msg, context, err);
}
