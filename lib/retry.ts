/**
 * Retries with bounded exponential backoff and jitter, in one place: connectors say which errors
 * are transient (e.g. connectors/postgresql/transient.ts) and how to report a retry; this module
 * decides whether to try again and how long to wait (docs/postgresql.md, "Transient faults").
 */
import { AbortedError, CqPipeError, InternalError } from './errors.js';

/** tries in all, the first included, unless a caller says otherwise: the first and 8 retries */
export const DEFAULT_ATTEMPTS = 9;

export interface Backoff {
  /** the longest wait of the first retry */
  baseMs: number;
  /** the longest wait of any retry */
  maxMs: number;
  /** wait a random time in [d/2, d] instead of d (default: true) */
  jitter?: boolean;
}

export const DEFAULT_BACKOFF: Backoff = { baseMs: 200, maxMs: 5000 };

/**
 * The wait before retry `n` (1-based): a random time in [d/2, d] with d = min(maxMs, baseMs·2^(n−1))
 * — by default 100–200 ms, 200–400 ms, … capped at 2.5–5 s; exactly d without jitter.
 */
export function backoffMs(n: number, backoff: Backoff = DEFAULT_BACKOFF): number {
  const d = Math.min(backoff.maxMs, backoff.baseMs * 2 ** (n - 1));
  return backoff.jitter === false ? d : d * (0.5 + Math.random() / 2);
}

export interface RetryInfo {
  /** this retry's number, 1-based */
  retry: number;
  /** the most retries there will be (attempts − 1) */
  retries: number;
  /** how long it waits before the retry */
  delayMs: number;
  /** what the failed try threw */
  error: unknown;
}

export interface RetryOptions {
  /** tries in all, the first included (an integer ≥ 1) */
  attempts: number;
  /** whether an error is worth another try; default: a CqPipeError with `retryable: true` */
  isRetryable?: (err: unknown) => boolean;
  /** called before each wait (log it, drop a broken connection); throwing stops the retries */
  onRetry?: (info: RetryInfo) => void | Promise<void>;
  /** stops a wait: the retry then fails with an AbortedError */
  signal?: AbortSignal;
  backoff?: Backoff;
}

const retryableCqPipeError = (err: unknown): boolean => err instanceof CqPipeError && err.retryable;

/**
 * After failed try `attempt` (1-based) threw `err`: throws `err` again when it is not retryable
 * or no try is left; otherwise reports the retry (`onRetry`) and waits its backoff. For loops that
 * cannot be one function (an async generator that yields between tries); else use `retry`.
 */
export async function retryAfter(err: unknown, attempt: number, opts: RetryOptions): Promise<void> {
  if (!Number.isInteger(opts.attempts) || opts.attempts < 1) throw new InternalError(`retry: attempts must be an integer ≥ 1, not ${opts.attempts}`);
  if (!Number.isInteger(attempt) || attempt < 1) throw new InternalError(`retry: attempt must be an integer ≥ 1, not ${attempt}`);
  if (attempt >= opts.attempts || !(opts.isRetryable ?? retryableCqPipeError)(err)) throw err;
  const delayMs = backoffMs(attempt, opts.backoff);
  await opts.onRetry?.({ retry: attempt, retries: opts.attempts - 1, delayMs, error: err });
  await sleep(delayMs, opts.signal);
}

/** Run `fn` (given its try number, 1-based) until it succeeds, retrying as `opts` says (see retryAfter). */
export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      await retryAfter(err, attempt, opts);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (!signal) return new Promise((resolve) => setTimeout(resolve, ms));
  return new Promise((resolve, reject) => {
    const aborted = () => new AbortedError('retry aborted', signal.reason);
    if (signal.aborted) return reject(aborted());
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
