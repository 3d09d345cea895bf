/** Shared CLI plumbing: options every command takes, logger set-up, error printing. */
import { randomUUID } from 'node:crypto';
import { UsageError, toCqPipeError } from '../../lib/errors.js';
import { exitCodeOf } from '../exit-codes.js';
import { LOG_FORMATS, LOG_LEVELS, createLogger, type LogFormat, type LogLevel, type Logger } from '../../lib/logger.js';

export interface GlobalOptions {
  'log-level'?: string;
  'log-format'?: string;
  'invocation-id'?: string;
}

export const GLOBAL_OPTIONS = {
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  'invocation-id': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function makeLogger(o: GlobalOptions, beforeWrite?: () => void): Logger {
  const level = (o['log-level'] ?? 'info') as LogLevel;
  const format = (o['log-format'] ?? 'text') as LogFormat;
  if (!LOG_LEVELS.includes(level)) throw new UsageError(`--log-level "${level}" is not one of ${LOG_LEVELS.join(', ')}`);
  if (!LOG_FORMATS.includes(format)) throw new UsageError(`--log-format "${format}" is not one of ${LOG_FORMATS.join(', ')}`);
  // one invocation id per run (--invocation-id or random): on every JSON log line, and the sync id
  o['invocation-id'] ??= randomUUID();
  const logger = createLogger({ level, format, beforeWrite });
  return format === 'json' ? logger.child({ invocation_id: o['invocation-id'] }) : logger;
}

/** Print an error for humans (or as JSON), without a stack unless debugging; returns its exit code. */
export function reportError(err: unknown, logger: Logger | undefined): number {
  const e = toCqPipeError(err);
  const debug = logger?.level === 'debug';
  const where = e.where();
  const text = `Error ${e.code}: ${e.message}${where && !e.message.includes(where) ? ` (${where})` : ''}${e.hint ? `\n  hint: ${e.hint}` : ''}`;
  if (logger) {
    logger.error(text, debug ? { stack: e.stack, cause: e.cause instanceof Error ? e.cause.stack : e.cause } : {});
  } else {
    process.stderr.write(text + '\n');
  }
  return exitCodeOf(e);
}

/**
 * The config document a command works on: the one `--<kind> NAME` names, or the only one of its
 * kind; a usage error listing the names otherwise.
 */
export function pickByName<T extends { name: string }>(items: readonly T[], name: string | undefined, kind: 'source' | 'destination' | 'transformer'): T {
  const names = items.map((x) => x.name);
  const list = names.join(', ') || 'none';
  if (!name && names.length !== 1) throw new UsageError(`--${kind} is required (${kind}s: ${list})`);
  const found = items.find((x) => x.name === (name ?? names[0]));
  if (!found) throw new UsageError(`no ${kind} named "${name}" (${kind}s: ${list})`);
  return found;
}
