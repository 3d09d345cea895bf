/**
 * Parquet with parquet-wasm, one row group at a time (never the whole file in memory): the input
 * is opened as a Blob (a local file, or ranged GETs of an S3 object), so only the footer and the
 * requested row group's column chunks are read.
 *
 * The decoding runs in a worker thread (./parquet-decoder.ts): a WebAssembly trap on a damaged
 * page ends that thread, never the process, and fails the file's table naming the file and the
 * row group. A worker that failed is never used again; one that finished a file cleanly decodes
 * the next one.
 *
 * The worker asks this thread for the byte ranges it reads. parquet-wasm hangs or aborts when a
 * read it awaits fails, so the bytes it will ask for are fetched here first, where a failed read
 * is an ordinary error: the footer with up to 4 MiB before it (the page index, read when the file
 * is opened; small files whole) and each row group's column chunks (stored back to back after the
 * 4-byte magic, as writers lay them out) before it is decoded. Reads inside a fetched range are
 * answered from memory; any other read goes to the input directly, and a failure there stops the
 * worker and fails the table with the read error.
 */
import { Worker } from 'node:worker_threads';
import * as A from 'apache-arrow';
import { CqPipeError, SourceDataError, SourceReadError } from '../../../lib/errors.js';
import type { BlobLike, InputFile } from '../inputs.js';
import type { ColumnarFormat, ReadContext } from './index.js';
import { DECODER_TAG, type DecoderReply, type DecoderRequest } from './parquet-decoder.js';

/** bytes [start, end) of the input, a failure typed as a read error of the file */
async function fetchRange(base: BlobLike | Blob, file: InputFile, start: number, end: number): Promise<Uint8Array> {
  try {
    return new Uint8Array(await base.slice(start, end).arrayBuffer());
  } catch (err) {
    if (err instanceof CqPipeError) throw err; // a read failure of the input, already typed
    throw new SourceReadError(`reading ${file.name} failed: ${String((err as Error).message ?? err)}`, { file: file.name }, err);
  }
}

/** bytes read with the footer: covers the page index of all but huge files (and small files whole); tests lower it */
export const PARQUET_READ = { tailBytes: 4 << 20 };

/** a decoder worker that finished its last file cleanly, kept for the next one */
let idle: Worker | undefined;

/** One file open in a decoder worker: requests go one at a time, each awaiting its reply. */
class Decoding {
  readonly ranges: { start: number; bytes: Uint8Array }[] = [];
  #worker: Worker;
  #pending: { resolve: (r: DecoderReply) => void; reject: (e: Error) => void; what: string } | undefined;
  #failed: Error | undefined;
  #closed = false;

  constructor(
    private readonly base: BlobLike | Blob,
    private readonly file: InputFile,
  ) {
    const w = idle ?? new Worker(new URL('./parquet-decoder.js', import.meta.url), { workerData: DECODER_TAG });
    idle = undefined;
    w.ref();
    w.removeAllListeners();
    w.on('message', (msg: DecoderReply) => this.#onReply(msg));
    w.on('error', (err) => this.#fail(this.#crashed(`${err.name}: ${err.message}`, err)));
    w.on('messageerror', (err) => this.#fail(this.#crashed(err.message, err)));
    w.on('exit', (code) => this.#fail(this.#crashed(`the decoder thread exited (code ${code})`)));
    this.#worker = w;
  }

  #crashed(why: string, cause?: unknown): Error {
    const what = this.#pending?.what ?? 'the file';
    return new SourceDataError(`cannot decode ${what}: the Parquet decoder failed (${why}); the file is damaged`, { file: this.file.name }, cause);
  }

  #fail(err: Error): void {
    if (this.#closed) return;
    this.#failed ??= err;
    this.#closed = true;
    const p = this.#pending;
    this.#pending = undefined;
    void this.#worker.terminate();
    p?.reject(this.#failed);
  }

  #onReply(msg: DecoderReply): void {
    if (msg.t === 'read') {
      void this.#read(msg.id, msg.start, msg.end);
      return;
    }
    const p = this.#pending;
    this.#pending = undefined;
    if (!p) return;
    if (msg.t === 'error') {
      // the worker's instance may be left broken: it is not reused
      this.#pending = p;
      this.#fail(new SourceDataError(`cannot decode ${p.what}: ${msg.message}`, { file: this.file.name }));
      return;
    }
    p.resolve(msg);
  }

  async #read(id: number, start: number, end: number): Promise<void> {
    try {
      const r = this.ranges.find((x) => x.start <= start && end <= x.start + x.bytes.byteLength);
      const bytes = r ? r.bytes.slice(start - r.start, end - r.start) : await fetchRange(this.base, this.file, start, end);
      if (!this.#closed) this.#worker.postMessage({ t: 'bytes', id, bytes } satisfies DecoderRequest, [bytes.buffer as ArrayBuffer]);
    } catch (err) {
      this.#fail(err as Error);
    }
  }

  /** send `req` and await its reply (`what` names it in errors) */
  request(req: DecoderRequest, what: string): Promise<DecoderReply> {
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject, what };
      this.#worker.postMessage(req);
    });
  }

  /** free the file; a worker that never failed waits for the next file */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#worker.postMessage({ t: 'close' } satisfies DecoderRequest);
    const w = this.#worker;
    w.removeAllListeners();
    w.on('error', () => {});
    w.once('exit', () => {
      if (idle === w) idle = undefined;
    });
    w.unref();
    if (idle) void w.terminate();
    else idle = w;
  }
}

interface OpenParquet {
  dec: Decoding;
  base: BlobLike | Blob;
  schema: A.Schema;
  groups: number[];
}

async function open(file: InputFile): Promise<OpenParquet> {
  const base = await file.blob();
  const notParquet = (why: string, cause?: unknown) => new SourceDataError(`not a readable Parquet file: ${why}`, { file: file.name }, cause);
  if (base.size < 12) throw notParquet(`${base.size} bytes is too short`);
  // the footer: <metadata> <4-byte little-endian length> "PAR1"
  const tail = await fetchRange(base, file, base.size - 8, base.size);
  const len = new DataView(tail.buffer, tail.byteOffset).getUint32(0, true);
  if (String.fromCharCode(...tail.subarray(4)) !== 'PAR1' || len + 12 > base.size) throw notParquet('no Parquet footer at the end');
  // the footer and what usually sits before it (the page index, which opening reads too)
  const tailStart = Math.max(0, Math.min(base.size - 8 - len, base.size - PARQUET_READ.tailBytes));
  const footer = await fetchRange(base, file, tailStart, base.size);
  const dec = new Decoding(base, file);
  dec.ranges.push({ start: tailStart, bytes: footer });
  try {
    const opened = await dec.request({ t: 'open', size: base.size }, 'its footer');
    if (opened.t !== 'opened') throw notParquet(`unexpected reply ${opened.t}`);
    return { dec, base, schema: A.tableFromIPC(opened.schema).schema, groups: opened.groups };
  } catch (err) {
    dec.close();
    if (err instanceof CqPipeError) throw err;
    throw notParquet(String((err as Error).message ?? err), err);
  }
}

export const parquetFormat: ColumnarFormat = {
  kind: 'columnar',
  async schema(file: InputFile): Promise<A.Schema> {
    const { dec, schema } = await open(file);
    dec.close();
    return schema;
  },
  async *read(file: InputFile, ctx: ReadContext & { batchRows: number }): AsyncIterable<A.RecordBatch> {
    const { dec, base, groups } = await open(file);
    try {
      let offset = 4; // after the leading "PAR1"
      for (let g = 0; g < groups.length; g++) {
        if (ctx.signal.aborted) return;
        const size = groups[g]!;
        // this row group's bytes replace the previous one's (the footer stays)
        dec.ranges.length = 1;
        if (size > 0 && offset < dec.ranges[0]!.start && offset + size <= base.size)
          dec.ranges.push({ start: offset, bytes: await fetchRange(base, file, offset, offset + size) });
        offset += size;
        const what = `row group ${g} of ${groups.length}`;
        const reply = await dec.request({ t: 'group', g, batchRows: ctx.batchRows }, what);
        if (reply.t !== 'group') throw new SourceDataError(`cannot decode ${what}: unexpected reply ${reply.t}`, { file: file.name });
        let table: A.Table;
        try {
          table = A.tableFromIPC(reply.ipc);
        } catch (err) {
          throw new SourceDataError(`cannot decode ${what}: ${String((err as Error).message ?? err)}`, { file: file.name }, err);
        }
        for (const b of table.batches) yield b;
      }
    } finally {
      dec.close();
    }
  },
};
