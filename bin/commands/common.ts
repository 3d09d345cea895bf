/** Shared CLI plumbing: options every command takes, logger set-up, error printing. */
import { randomUUID } from 'node:crypto';
import { openSync, writeSync } from 'node:fs';
import { UsageError, toCqPipeError } from '../../lib/errors.js';
import { exitCodeOf } from '../exit-codes.js';
import { LOG_FORMATS, LOG_LEVELS, createLogger, writeStderr, type LogFormat, type LogLevel, type Logger } from '../../lib/logger.js';

export interface GlobalOptions {
  'log-level'?: string;
  'log-format'?: string;
  'invocation-id'?: string;
  'log-file-name'?: string;
  'no-log-file'?: boolean;
  'log-console'?: boolean;
  'telemetry-level'?: string;
  'cq-dir'?: string;
  'data-dir'?: string;
  color?: string;
  'log-file-overwrite'?: boolean;
  license?: string;
}

/** CloudQuery's `--color` values (deprecated there: console logs are colorless; so are cq-pipe's). */
const COLORS = ['on', 'off', 'auto'];

/** CloudQuery's `--telemetry-level` values (cq-pipe sends no telemetry whatever the value). */
const TELEMETRY_LEVELS = ['none', 'errors', 'stats', 'all'];

/**
 * Options every command takes: cq-pipe's own, and the CloudQuery CLI's from its deployment guides,
 * so scripts written for `cloudquery` run unchanged (docs/cloudquery.md).
 */
export const GLOBAL_OPTIONS = {
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  'invocation-id': { type: 'string' },
  'log-file-name': { type: 'string' },
  'no-log-file': { type: 'boolean' },
  'log-console': { type: 'boolean' },
  'telemetry-level': { type: 'string' },
  'cq-dir': { type: 'string' },
  // deprecated in CloudQuery's CLI, still accepted there: --data-dir is --cq-dir, --color does nothing
  'data-dir': { type: 'string' },
  color: { type: 'string' },
  'log-file-overwrite': { type: 'boolean' },
  license: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Where log lines go: stderr always (cq-pipe's console), and `--log-file-name` when given. */
function logSink(o: GlobalOptions): ((line: string) => void) | undefined {
  const file = o['no-log-file'] ? undefined : o['log-file-name'];
  if (!file) return undefined;
  let fd: number;
  try {
    fd = openSync(file, o['log-file-overwrite'] ? 'w' : 'a');
  } catch (err) {
    throw new UsageError(`--log-file-name ${file} cannot be opened: ${(err as Error).message}`, 'name a file in a writable directory');
  }
  return (line: string) => {
    writeStderr(line);
    writeSync(fd, line + '\n');
  };
}

export function makeLogger(o: GlobalOptions, beforeWrite?: () => void): Logger {
  // CloudQuery's `trace` is cq-pipe's most detailed level
  const level = (o['log-level'] === 'trace' ? 'debug' : (o['log-level'] ?? 'info')) as LogLevel;
  const format = (o['log-format'] ?? 'text') as LogFormat;
  if (!LOG_LEVELS.includes(level)) throw new UsageError(`--log-level "${level}" is not one of ${LOG_LEVELS.join(', ')}`);
  if (!LOG_FORMATS.includes(format)) throw new UsageError(`--log-format "${format}" is not one of ${LOG_FORMATS.join(', ')}`);
  const telemetry = o['telemetry-level'];
  if (telemetry !== undefined && !TELEMETRY_LEVELS.includes(telemetry)) {
    throw new UsageError(`--telemetry-level "${telemetry}" is not one of ${TELEMETRY_LEVELS.join(', ')}`);
  }
  if (o.color !== undefined && !COLORS.includes(o.color)) throw new UsageError(`--color "${o.color}" is not one of ${COLORS.join(', ')}`);
  // one invocation id per run (--invocation-id or random): on every JSON log line, and the sync id
  o['invocation-id'] ??= randomUUID();
  const write = logSink(o);
  const logger = createLogger({ level, format, beforeWrite, ...(write ? { write } : {}) });
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
