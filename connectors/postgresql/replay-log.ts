/**
 * The replay log of the `postgresql` destination's open transaction (docs/postgresql.md,
 * "Transient faults"): the binary COPY bytes sent since the last commit, written to an unlinked
 * temporary file as they are sent, so that after a lost connection they can be sent again without
 * keeping the batches in memory. Memory stays bounded by the writes in flight (MAX_IN_FLIGHT), not
 * by the transaction's size. When no temporary file can be made, the bytes are kept in memory.
 */
import { closeSync, openSync, read, unlinkSync, write } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DestinationWriteError } from '../../lib/errors.js';

/** bytes handed to the file and not yet written before `append` waits */
const MAX_IN_FLIGHT = 8 * 1024 * 1024;
/** bytes read back per chunk of a replay */
const READ_CHUNK = 1 << 20;

export class ReplayLog {
  /** the file, opened on first use; null: no file could be made (bytes kept in `#memory`) */
  #fd: number | null | undefined;
  #memory: Buffer[] = [];
  /** bytes logged since the last reset */
  #size = 0;
  #inFlight = 0;
  #writes = new Set<Promise<void>>();
  #error?: Error;
  /** set where an open file cannot be unlinked: removed at close */
  #unlinkAtClose?: string;
  readonly #connector: string;

  constructor(connector: string) {
    this.#connector = connector;
  }

  /** bytes logged since the last reset */
  get size(): number {
    return this.#size;
  }

  #open(): number | null {
    if (this.#fd !== undefined) return this.#fd;
    const file = path.join(os.tmpdir(), `cq-pipe-replay-${process.pid}-${Math.random().toString(36).slice(2)}`);
    try {
      this.#fd = openSync(file, 'w+', 0o600);
      try {
        unlinkSync(file); // nothing left behind, whatever ends the process
      } catch {
        // a platform that cannot unlink an open file
        this.#unlinkAtClose = file;
      }
    } catch {
      this.#fd = null;
    }
    return this.#fd;
  }

  /** log `chunk` (kept unchanged by the caller); resolves when more may be logged */
  async append(chunk: Buffer): Promise<void> {
    if (this.#error) throw this.#error;
    const at = this.#size;
    this.#size += chunk.length;
    const fd = this.#open();
    if (fd === null) {
      this.#memory.push(chunk);
      return;
    }
    this.#inFlight += chunk.length;
    const p = new Promise<void>((resolve) => {
      const next = (off: number): void => {
        write(fd, chunk, off, chunk.length - off, at + off, (err, n) => {
          if (!err && off + n < chunk.length) return next(off + n);
          if (err) {
            const msg =
              `writing the replay file (the uncommitted COPY bytes, in ${os.tmpdir()}) failed: ${err.message}; ` +
              'set TMPDIR to a directory with room for one transaction';
            this.#error ??= this.#failure(msg, err);
          }
          resolve();
        });
      };
      next(0);
    }).finally(() => {
      this.#inFlight -= chunk.length;
      this.#writes.delete(p);
    });
    this.#writes.add(p);
    while (this.#inFlight > MAX_IN_FLIGHT && this.#writes.size) await Promise.race(this.#writes);
    if (this.#error) throw this.#error;
  }

  /** resolves once every logged byte is in the file */
  async settled(): Promise<void> {
    while (this.#writes.size) await Promise.all(this.#writes);
  }

  /** the bytes logged in [start, end), in chunks */
  async *read(start: number, end: number): AsyncGenerator<Buffer> {
    await this.settled();
    if (this.#error) throw this.#error;
    if (this.#fd === null || this.#fd === undefined) {
      let at = 0;
      for (const b of this.#memory) {
        const from = Math.max(start - at, 0);
        const to = Math.min(end - at, b.length);
        if (to > from) yield b.subarray(from, to);
        at += b.length;
      }
      return;
    }
    const fd = this.#fd;
    for (let at = start; at < end; ) {
      const want = Math.min(READ_CHUNK, end - at);
      const buf = Buffer.allocUnsafe(want);
      const n = await new Promise<number>((resolve, reject) => read(fd, buf, 0, want, at, (err, got) => (err ? reject(err) : resolve(got))));
      if (n === 0) throw this.#failure(`the replay file ended at byte ${at}, before ${end}`);
      yield n === want ? buf : buf.subarray(0, n);
      at += n;
    }
  }

  /** forget everything logged (the transaction committed): later bytes overwrite the file from its start */
  async reset(): Promise<void> {
    await this.settled();
    this.#size = 0;
    this.#memory = [];
    this.#error = undefined;
  }

  close(): void {
    if (typeof this.#fd === 'number') closeSync(this.#fd);
    this.#fd = undefined;
    this.#memory = [];
    if (this.#unlinkAtClose) {
      try {
        unlinkSync(this.#unlinkAtClose);
      } catch {
        // already gone
      }
    }
  }

  #failure(message: string, cause?: unknown): DestinationWriteError {
    return new DestinationWriteError(message, { connector: this.#connector, phase: 'load' }, cause);
  }
}

/**
 * Chunks of `source`, each logged in `log` as it is taken; `rest` logs what was not taken (a
 * send failed part way: the whole batch must be in the log for the replay).
 */
export class LoggedChunks implements AsyncIterable<Buffer> {
  readonly #it: Iterator<Buffer>;
  readonly #log: ReplayLog;

  constructor(log: ReplayLog, source: Iterable<Buffer>) {
    this.#log = log;
    this.#it = source[Symbol.iterator]();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (let r = this.#it.next(); !r.done; r = this.#it.next()) {
      await this.#log.append(r.value);
      yield r.value;
    }
  }

  async rest(): Promise<void> {
    for (let r = this.#it.next(); !r.done; r = this.#it.next()) await this.#log.append(r.value);
  }
}
