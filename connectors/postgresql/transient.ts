/**
 * Which Postgres errors are transient — worth a reconnect and another try. How often and how long
 * to wait is lib/retry.ts's (docs/postgresql.md, "Transient faults").
 */

/** errors worth a reconnect and a retry: connection loss, server restart, deadlock, serialization */
export function isTransient(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  const code = e?.code ?? '';
  if (/^(08|57P0[1-3]|53300)/.test(code) || code === '40001' || code === '40P01') return true;
  if (['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNABORTED'].includes(code)) return true;
  return /Connection terminated|connection (?:is )?(?:closed|ended)|Client has encountered a connection error|Client was closed|not queryable/i.test(
    e?.message ?? '',
  );
}
