/**
 * How the `postgresql` destination classifies and words the errors of a load (see
 * docs/postgresql.md, "Rejected rows"): errors caused by rows (dead-letter candidates), errors that
 * belong to one table (they fail that table only), and the message naming the table and the row.
 */
import { DestinationWriteError, SchemaIncompatibleError, type CqPipeError } from '../../lib/errors.js';
import { EncodeError } from './copy-binary.js';

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

/** a server error's message with its detail and SQLSTATE */
export function describePgError(err: unknown): string {
  const e = err as { message?: string; detail?: string; code?: string };
  return `${e.message ?? String(err)}${e.detail ? ` (${e.detail})` : ''}${e.code ? ` [SQLSTATE ${e.code}]` : ''}`;
}

/** why a row was rejected, for the dead-letter file */
export function rejectReason(err: unknown): string {
  return err instanceof EncodeError ? err.message : describePgError(err);
}

/** the error a failed load of `table` (the sync's name, if known) is reported as */
export function loadError(connector: string, table: string | undefined, err: unknown): CqPipeError {
  if (err instanceof DestinationWriteError || err instanceof SchemaIncompatibleError) return err;
  const row = copyRow(err);
  const at = row !== undefined ? ` (row ${row + 1} of the load)` : '';
  return new DestinationWriteError(
    `Postgres rejected rows for table ${table ?? '?'}: ${rejectReason(err)}${at}; the table's uncommitted rows were rolled back`,
    { connector, table, ...(row !== undefined ? { row: row + 1 } : {}) },
    err,
  );
}
