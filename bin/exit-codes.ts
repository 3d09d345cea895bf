/**
 * The process exit codes of the CLI (docs/errors.md). The engine says what happened — an error's
 * code, a sync's `status` — and this file alone turns that into a number.
 */
import { isConfigError } from '../lib/errors.js';
import type { SyncResult } from '../lib/pipeline.js';

/**
 * The exit code of a command that failed with `err`: 2 for a usage or config error (nothing ran:
 * CQ_ERR_CONFIG_INVALID, CQ_ERR_USAGE, CQ_ERR_CONNECTOR_NOT_FOUND, CQ_ERR_TABLE_PATTERN,
 * CQ_ERR_UNSUPPORTED — CONFIG_ERROR_CODES in lib/errors.ts), else 1.
 */
export function exitCodeOf(err: unknown): 1 | 2 {
  return isConfigError(err) ? 2 : 1;
}

/** The exit code of a finished sync: 0 succeeded, 1 failed, 2 config error, 3 rows rejected into dead-letter files. */
export function exitCodeOfSync(result: Pick<SyncResult, 'status'>): 0 | 1 | 2 | 3 {
  switch (result.status) {
    case 'succeeded':
      return 0;
    case 'failed':
      return 1;
    case 'config-error':
      return 2;
    case 'rows-rejected':
      return 3;
  }
}

/** The exit code of a command stopped by a signal: 128 + its number (SIGINT 130, SIGTERM 143). */
export function exitCodeOfSignal(signal: NodeJS.Signals): 130 | 143 {
  return signal === 'SIGINT' ? 130 : 143;
}
