/**
 * How the `postgresql` destination classifies and words the errors of a load (see
 * docs/postgresql.md, "Rejected rows" and "Other failures"): errors caused by rows (dead-letter
 * candidates), errors that belong to one table (they fail that table only), and the message naming
 * the table, the row, and the real cause — "rejected rows" only when rows were rejected.
 */
import { DestinationWriteError, SchemaIncompatibleError, type CqPipeError } from '../../lib/errors.js';
import { DEFAULT_ATTEMPTS } from '../../lib/retry.js';
import { EncodeError } from './copy-binary.js';
import { isTransient } from './transient.js';

/** SQLSTATE classes of errors a row causes (bad value, constraint): candidates for dead-lettering */
export function isRowError(err: unknown): boolean {
  if (err instanceof EncodeError) return true;
  const code = (err as { code?: string }).code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

/**
 * Errors that belong to one table's rows or definition — a bad value, a constraint, a missing or
 * inaccessible table or column (SQLSTATE classes 22, 23, 42) — as opposed to the server or the
 * connection (disk full, out of memory, internal errors), which fail the whole sync.
 */
export function isTableError(err: unknown): boolean {
  if (err instanceof EncodeError || err instanceof SchemaIncompatibleError) return true;
  const code = (err as { code?: string }).code;
  return typeof code === 'string' && /^(22|23|42)/.test(code);
}

/** "COPY items, line 3, column id: ..." → 2 (0-based tuple index) */
export function copyRow(err: unknown): number | undefined {
  const where = (err as { where?: string }).where;
  const m = where ? /COPY [^,]+, line (\d+)/.exec(where) : null;
  return m ? Number(m[1]) - 1 : undefined;
}

/** a server error's message with its detail and SQLSTATE (a socket error's code as it is) */
export function describePgError(err: unknown): string {
  const e = err as { message?: string; detail?: string; code?: string };
  const code = e.code ? (/^[0-9A-Z]{5}$/.test(e.code) ? ` [SQLSTATE ${e.code}]` : ` [${e.code}]`) : '';
  return `${e.message ?? String(err)}${e.detail ? ` (${e.detail})` : ''}${code}`;
}

/** the cause of a failure in words, then the server's message: read-only, a timeout, an unreachable server, … */
export function describeCause(err: unknown): string {
  const e = err as { message?: string; code?: string };
  const code = e.code ?? '';
  const what = describePgError(err);
  if (code === '25006') return `the database is read-only (default_transaction_read_only is on, or it is a standby): ${what}`;
  if (code === '57014' && /statement timeout/i.test(e.message ?? '')) return `the server's statement_timeout canceled the statement: ${what}`;
  if (code === '57014') return `the statement was canceled: ${what}`;
  if (code === '55P03') return `the server's lock_timeout expired waiting for a lock: ${what}`;
  if (code === '42501') return `permission denied: ${what}`;
  if (code === '40P01' || code === '40001')
    return `${code === '40P01' ? 'a deadlock' : 'a serialization failure'}, retried ${DEFAULT_ATTEMPTS - 1} times: ${what}`;
  if (isTransient(err)) return `the Postgres server is unreachable (gave up after ${DEFAULT_ATTEMPTS - 1} retries): ${what}`;
  return what;
}

/** why a row was rejected, for the dead-letter file */
export function rejectReason(err: unknown): string {
  return err instanceof EncodeError ? err.message : describePgError(err);
}

/**
 * The error a failed load is reported as. `tables` are the sync's names of the tables it was
 * loading (one when known; those of the open transaction otherwise).
 */
export function loadError(connector: string, tables: string | readonly string[] | undefined, err: unknown): CqPipeError {
  if (err instanceof DestinationWriteError || err instanceof SchemaIncompatibleError) return err;
  const names = tables === undefined ? [] : typeof tables === 'string' ? [tables] : [...new Set(tables)];
  const table = names.length === 1 ? names[0] : undefined;
  if (table !== undefined && isRowError(err)) {
    const row = copyRow(err);
    const at = row !== undefined ? ` (row ${row + 1} of the load)` : '';
    return new DestinationWriteError(
      `Postgres rejected rows for table ${table}: ${rejectReason(err)}${at}; the table's uncommitted rows were rolled back`,
      { connector, table, ...(row !== undefined ? { row: row + 1 } : {}) },
      err,
    );
  }
  const what = names.length === 0 ? 'writing to Postgres' : `writing table${names.length > 1 ? 's' : ''} ${names.join(', ')}`;
  return new DestinationWriteError(`${what} failed: ${describeCause(err)}; uncommitted rows were rolled back`, { connector, table }, err);
}
