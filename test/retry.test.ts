/** lib/retry.ts: attempt bounds, backoff ranges, what is retried, onRetry, abort. */
import t from 'tap';
import { DEFAULT_ATTEMPTS, DEFAULT_BACKOFF, backoffMs, retry, retryAfter, type RetryInfo } from '../lib/retry.js';
import { DestinationWriteError, SourceReadError } from '../lib/errors.js';

const fast = { baseMs: 1, maxMs: 4 };

t.test('backoff: exponential with jitter in [d/2, d], capped', async (t) => {
  t.same(DEFAULT_BACKOFF, { baseMs: 200, maxMs: 5000 });
  t.equal(DEFAULT_ATTEMPTS, 9, 'the first try and 8 retries');
  const expected = [200, 400, 800, 1600, 3200, 5000, 5000, 5000];
  for (let n = 1; n <= 8; n++) {
    for (let i = 0; i < 50; i++) {
      const d = backoffMs(n);
      if (d < expected[n - 1]! / 2 || d > expected[n - 1]!) t.fail(`retry ${n}: ${d} ms outside ${expected[n - 1]! / 2}–${expected[n - 1]} ms`);
    }
  }
  t.ok(backoffMs(3, fast) <= 4);
});

t.test('retry: tries up to `attempts` times, reporting each retry', async (t) => {
  const seen: RetryInfo[] = [];
  let tries = 0;
  const boom = new Error('ECONNRESET');
  const always = { isRetryable: () => true, backoff: fast };
  await t.rejects(
    retry(
      async () => {
        tries++;
        throw boom;
      },
      {
        ...always,
        attempts: 4,
        onRetry: (i) => {
          seen.push(i);
        },
      },
    ),
    boom,
  );
  t.equal(tries, 4);
  t.same(
    seen.map((i) => [i.retry, i.retries, i.error]),
    [
      [1, 3, boom],
      [2, 3, boom],
      [3, 3, boom],
    ],
  );
  t.ok(seen.every((i) => i.delayMs > 0 && i.delayMs <= 4));

  let n = 0;
  t.equal(
    await retry(
      async (attempt) => {
        n = attempt;
        if (attempt < 3) throw boom;
        return 'ok';
      },
      { ...always, attempts: 9 },
    ),
    'ok',
  );
  t.equal(n, 3, 'the try number is handed to fn');

  let once = 0;
  await t.rejects(
    retry(
      async () => {
        once++;
        throw boom;
      },
      { attempts: 1, isRetryable: () => true },
    ),
    boom,
  );
  t.equal(once, 1, 'attempts: 1 never retries');
});

t.test('retry: only retryable errors are retried (default: a CqPipeError with retryable: true)', async (t) => {
  let tries = 0;
  const fatal = new DestinationWriteError('no such table');
  await t.rejects(
    retry(
      async () => {
        tries++;
        throw fatal;
      },
      { attempts: 5, backoff: fast },
    ),
    fatal,
  );
  t.equal(tries, 1);
  tries = 0;
  const transient = new SourceReadError('connection lost', {}, undefined, undefined, { retryable: true });
  await t.rejects(
    retry(
      async () => {
        tries++;
        throw transient;
      },
      { attempts: 3, backoff: fast },
    ),
    transient,
  );
  t.equal(tries, 3);
  tries = 0;
  await t.rejects(
    retry(
      async () => {
        tries++;
        throw new Error('plain');
      },
      { attempts: 3, backoff: fast },
    ),
    /plain/,
  );
  t.equal(tries, 1, 'a plain error is not retryable by default');
});

t.test('onRetry may stop the retries by throwing; a signal stops a wait', async (t) => {
  const stop = new Error('cannot resume');
  let tries = 0;
  const always = { isRetryable: () => true, backoff: fast };
  await t.rejects(
    retry(
      async () => {
        tries++;
        throw new Error('lost');
      },
      {
        ...always,
        attempts: 5,
        onRetry: () => {
          throw stop;
        },
      },
    ),
    stop,
  );
  t.equal(tries, 1);
  const ac = new AbortController();
  const slow = { baseMs: 60_000, maxMs: 60_000 };
  const p = retry(
    async () => {
      throw new Error('lost');
    },
    { attempts: 5, isRetryable: () => true, backoff: slow, signal: ac.signal },
  );
  setTimeout(() => ac.abort(), 10);
  await t.rejects(p, { code: 'CQ_ERR_ABORTED' });
});

t.test('retryAfter: the bounds are checked; a used-up budget rethrows the error', async (t) => {
  const e = new Error('x');
  await t.rejects(retryAfter(e, 0, { attempts: 3, isRetryable: () => true }), { code: 'CQ_ERR_INTERNAL' });
  await t.rejects(retryAfter(e, 1, { attempts: 0, isRetryable: () => true }), { code: 'CQ_ERR_INTERNAL' });
  await t.rejects(retryAfter(e, 3, { attempts: 3, isRetryable: () => true }), e);
  await t.resolves(retryAfter(e, 2, { attempts: 3, isRetryable: () => true, backoff: fast }));
});
