/**
 * One source, several destinations: a Writable that hands every message to each branch and
 * accepts the next one only when every branch has room — the slowest destination sets the pace,
 * so memory stays bounded by the branches' high-water marks.
 */
import { Writable } from 'node:stream';
import { once } from 'node:events';
import type { SyncMessage } from './messages.js';
import { QUEUED_BATCHES } from './batcher.js';
import { AbortedError } from './errors.js';

export class FanOut extends Writable {
  readonly #branches: Writable[];

  constructor(branches: Writable[]) {
    super({ objectMode: true, highWaterMark: QUEUED_BATCHES });
    this.#branches = branches;
  }

  override _write(msg: SyncMessage, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    Promise.all(this.#branches.map((b) => writeWithBackpressure(b, msg))).then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    for (const b of this.#branches) b.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (err) for (const b of this.#branches) b.destroy(err);
    cb(err);
  }
}

async function writeWithBackpressure(w: Writable, msg: SyncMessage): Promise<void> {
  // closed without an error: the branch stopped early (its own error, if any, is reported by it)
  if (w.destroyed) throw w.errored ?? new AbortedError('destination branch closed');
  if (!w.write(msg)) {
    const ac = new AbortController();
    // a branch that fails while we wait must not hang the fan-out
    await Promise.race([
      once(w, 'drain', { signal: ac.signal }),
      once(w, 'close', { signal: ac.signal }).then(() => {
        if (w.errored) throw w.errored;
      }),
    ]).finally(() => ac.abort());
  }
}
