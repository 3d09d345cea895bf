/**
 * The byte sink under every format writer: a temp file, optionally through gzip, with
 * backpressure (`write` resolves once the stream can take more) and one place for errors.
 * Nothing here knows about the final name: connectors/file/sink.ts renames the temp file when it
 * is complete.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { createGzip, type ZlibOptions } from 'node:zlib';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DestinationWriteError, InternalError } from '../../../lib/errors.js';

/** directories made by this process (a rotating destination opens one file per batch) */
const madeDirs = new Set<string>();

/** bytes buffered before `write` waits: lets the next batch render while this one is written */
export const SINK_HIGH_WATER_MARK = 8 * 1024 * 1024;

/**
 * Free the buffer under `bytes` now. A buffer that waited for its write through a few young
 * collections is in the old generation, where it would stay until the next full collection (the
 * encoder's 2 MB row groups piled up to 40 MB so); moved into a new, unreferenced ArrayBuffer it
 * goes at the next young collection. `bytes` is empty afterwards.
 */
export function release(bytes: Uint8Array): void {
  const buf = bytes.buffer;
  if (buf instanceof ArrayBuffer && buf.byteLength > 0) structuredClone(buf, { transfer: [buf] });
}

export class FileSink {
  readonly path: string;
  readonly #head: Writable;
  readonly #done: Promise<void>;
  /** resolves once the file exists (open errors surface from `open`) */
  readonly #opened: Promise<void>;
  readonly #gzip: boolean;
  #error: Error | undefined;
  #ended = false;

  private constructor(file: string, gzip: boolean) {
    this.path = file;
    this.#gzip = gzip;
    const out = createWriteStream(file, { flags: 'wx', highWaterMark: SINK_HIGH_WATER_MARK });
    this.#opened = new Promise<void>((resolve, reject) => {
      out.once('ready', resolve);
      out.once('error', reject);
    });
    if (gzip) {
      const z = createGzip({ highWaterMark: SINK_HIGH_WATER_MARK } as ZlibOptions);
      this.#head = z;
      this.#done = pipeline(z, out);
    } else {
      this.#head = out;
      this.#done = new Promise<void>((resolve, reject) => {
        out.once('error', reject);
        out.once('close', () => (this.#error ? reject(this.#error) : resolve()));
      });
    }
    this.#done.catch((err: Error) => {
      this.#error ??= err;
    });
  }

  /** Create the temp file (and its directory); gzip-compress everything written when asked. */
  static async open(file: string, gzip: boolean): Promise<FileSink> {
    const dir = path.dirname(file);
    if (!madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      madeDirs.add(dir);
    }
    try {
      const sink = new FileSink(file, gzip);
      await sink.#opened;
      return sink;
    } catch (err) {
      // the directory went away since: make it again
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await mkdir(dir, { recursive: true });
      const sink = new FileSink(file, gzip);
      await sink.#opened;
      return sink;
    }
  }

  /** the file stopped before its end: `closed` under a write, or `discarded` (the object writer adds the connector and table) */
  #failure(what: 'closed' | 'discarded'): DestinationWriteError {
    return new DestinationWriteError(`${this.path} ${what}`, { file: this.path, phase: 'write' });
  }

  /**
   * Write a chunk; resolves when the stream is below its high-water mark again. `give`: the caller
   * hands over the chunk's whole buffer, which is freed as soon as its bytes are in the file
   * (see `release`) instead of waiting for a garbage collection.
   */
  async write(chunk: Uint8Array | string, give = false): Promise<void> {
    if (this.#error) throw this.#error;
    if (this.#ended) throw new InternalError(`write after end of ${this.path}`, { file: this.path, phase: 'write' });
    if (typeof chunk === 'string' ? chunk.length === 0 : chunk.byteLength === 0) return;
    const written = give && !this.#gzip && typeof chunk !== 'string' ? (err?: Error | null) => err || release(chunk) : undefined;
    if (this.#head.write(chunk, written)) return;
    await new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        cleanup();
        resolve();
      };
      const onFail = (err: unknown) => {
        cleanup();
        reject(err instanceof Error ? err : (this.#error ?? this.#failure('closed')));
      };
      const cleanup = () => {
        this.#head.off('drain', onDrain);
        this.#head.off('close', onFail);
      };
      this.#head.once('drain', onDrain);
      this.#head.once('close', onFail);
      this.#done.catch(onFail);
    });
    if (this.#error) throw this.#error;
  }

  /** Flush and close; resolves when every byte is in the file. */
  async end(): Promise<void> {
    if (this.#error) throw this.#error;
    this.#ended = true;
    this.#head.end();
    await this.#done;
  }

  /** Stop writing, close the file and remove it. Never throws. */
  async discard(): Promise<void> {
    this.#ended = true;
    this.#error ??= this.#failure('discarded');
    this.#head.destroy();
    await this.#done.catch(() => {});
    await rm(this.path, { force: true }).catch(() => {});
  }
}
