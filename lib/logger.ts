/**
 * A small leveled logger writing to stderr, as text or JSON lines, with secret redaction.
 */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
  readonly level: LogLevel;
  /** register a value that must never be printed */
  addSecret(value: string): void;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  write?: (line: string) => void;
  /** called before each line is written (e.g. to clear a progress display) */
  beforeWrite?: () => void;
}

/**
 * stderr, written so that logging never fails a sync: once stderr is closed (`2>&1 | head -1`
 * leaves EPIPE) lines are dropped. The listener also covers every other write to process.stderr
 * (progress, the summary line), which would otherwise end the process with an unhandled 'error'.
 */
let stderrClosed = false;
let stderrGuarded = false;

export function guardStderr(): void {
  if (stderrGuarded) return;
  stderrGuarded = true;
  process.stderr.on('error', () => {
    stderrClosed = true;
  });
}

/** write one line to stderr, or nothing once it is closed */
export function writeStderr(line: string): void {
  guardStderr();
  if (stderrClosed || process.stderr.destroyed) return;
  try {
    process.stderr.write(line + '\n');
  } catch {
    stderrClosed = true;
  }
}

const REDACTED = '[REDACTED]';
/** user:password@ in URLs */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:)([^@\s]+)(@)/gi;

export function createLogger(opts: LoggerOptions = {}): Logger {
  const secrets = new Set<string>();
  const level = opts.level ?? 'info';
  const format = opts.format ?? 'text';
  if (!opts.write) guardStderr();
  const write = opts.write ?? writeStderr;
  const min = LOG_LEVELS.indexOf(level);

  const redact = (s: string): string => {
    let out = s.replace(URL_PASSWORD, `$1${REDACTED}$3`);
    for (const v of secrets) if (v.length >= 3) out = out.split(v).join(REDACTED);
    return out;
  };

  const make = (base: LogFields): Logger => {
    const emit = (lvl: LogLevel, msg: string, fields?: LogFields) => {
      if (LOG_LEVELS.indexOf(lvl) < min) return;
      const all = { ...base, ...fields };
      let line: string;
      if (format === 'json') {
        line = JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...all }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
      } else {
        const kv = Object.entries(all)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
          .join(' ');
        line = `${new Date().toISOString()} ${lvl.toUpperCase().padEnd(5)} ${msg}${kv ? ' ' + kv : ''}`;
      }
      try {
        opts.beforeWrite?.();
        write(redact(line));
      } catch {
        // a log line that cannot be written is dropped: logging never fails a sync
      }
    };
    return {
      level,
      debug: (m, f) => emit('debug', m, f),
      info: (m, f) => emit('info', m, f),
      warn: (m, f) => emit('warn', m, f),
      error: (m, f) => emit('error', m, f),
      child: (fields) => make({ ...base, ...fields }),
      addSecret: (v) => {
        if (v) secrets.add(v);
      },
    };
  };
  return make({});
}

/** A logger that prints nothing (library default). */
export const silentLogger: Logger = createLogger({ level: 'error', write: () => {} });
