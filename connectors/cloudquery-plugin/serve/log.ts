/**
 * The served plugin's log: what the CloudQuery CLI reads from a plugin's stdout (docs/plugins.md).
 * JSON lines with zerolog's names — `level` (debug, info, warn, error), `message`, `module`,
 * `time` — each under 4 KiB (the CLI keeps only 1,000 bytes of a longer line), or text lines with
 * `--log-format text`. Secrets are redacted by the engine's logger this wraps.
 */
import { type LogFormat, type Logger, type LogLevel, createLogger } from '../../../lib/logger.js';

/** Lines are kept under the CLI's 4 KiB line buffer. */
export const MAX_LINE_BYTES = 4000;

export interface PluginLogOptions {
  level: LogLevel;
  format: LogFormat;
  /** zerolog's `module`: the plugin's name */
  module: string;
  /** where lines go (default: stdout) */
  write?: (line: string) => void;
}

/** A line cut to `max` UTF-8 bytes (at a character boundary), marked with an ellipsis. */
function cut(s: string, max: number): string {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= max) return s;
  let end = max;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  return `${b.subarray(0, end).toString('utf8')}…`;
}

/** A zerolog-shaped line from the engine logger's JSON line (`msg` → `message`, `module` added). */
export function zerologLine(engineLine: string, module: string): string {
  const { time, level, msg, ...fields } = JSON.parse(engineLine) as Record<string, unknown>;
  const line = JSON.stringify({ level, module, message: msg, time, ...fields });
  if (Buffer.byteLength(line) <= MAX_LINE_BYTES) return line;
  // too long: keep level, module, time and as much of the message as fits; drop the fields
  const head = JSON.stringify({ level, module, time, message: '' });
  return JSON.stringify({ level, module, time, message: cut(String(msg), MAX_LINE_BYTES - head.length - 64) });
}

export function pluginLogger(opts: PluginLogOptions): Logger {
  const out = opts.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const write = opts.format === 'json' ? (line: string) => out(zerologLine(line, opts.module)) : (line: string) => out(cut(line, MAX_LINE_BYTES));
  return createLogger({ level: opts.level, format: opts.format, write });
}
