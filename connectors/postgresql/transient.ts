/** What the Postgres source and destination retry, and how long they wait between tries. */

/** errors worth a reconnect and a retry: connection loss, server restart, deadlock, serialization */
export function isTransient(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  const code = e?.code ?? '';
  if (/^(08|57P0[1-3]|53300)/.test(code) || code === '40001' || code === '40P01') return true;
  if (['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNABORTED'].includes(code)) return true;
  return /Connection terminated|connection (?:is )?(?:closed|ended)|Client has encountered a connection error|Client was closed|not queryable/i.test(e?.message ?? '');
}

export const MAX_RETRIES = 8;
const RETRY_BASE_MS = 200;
const RETRY_MAX_MS = 5000;

/** bounded exponential backoff with jitter: 100–200 ms, 200–400 ms, … capped at 2.5–5 s */
export function backoffMs(attempt: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
}
