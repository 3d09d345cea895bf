/**
 * The Parquet encoder of ParquetWriter (./parquet.ts), run in a worker thread so that encoding
 * overlaps whatever the main thread does meanwhile (decoding a source, converting batches).
 *
 * One worker per process serves every open Parquet file; each message names its file by `id`.
 * The main thread sends a file's batches as Arrow IPC stream bytes (`write`, transferred), then
 * `finish` (with the schema as IPC when no batch was written: the file gets no row groups) or
 * `discard`. The worker feeds each file's batches to parquet-wasm's streaming writer
 * (`transformParquetStream`) and sends back, per file and in order: `ack` once a batch has been
 * taken by the writer (the main thread keeps at most a few unacknowledged; the IPC buffer goes
 * back with it, to be collected there), `chunk`s of encoded bytes (transferred) as row groups and
 * the footer are flushed, then `done`; or `error`, once (the file is dead; later messages for it
 * only drop it). A WebAssembly trap is `fatal`: the instance may be corrupt, so the main thread
 * retires this worker.
 *
 * The module imports no apache-arrow; as a worker it starts loading parquet-wasm at once.
 * `serve` is also what runs in-process when the worker is disabled (CQ_PIPE_PARQUET_WORKER=0).
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ReadableStream, type ReadableStreamDefaultController } from 'node:stream/web';
import { DestinationWriteError, InternalError } from '../../../lib/errors.js';

/** `workerData` of the worker started by ./parquet.ts */
export const WORKER_TAG = 'cq-pipe:parquet-encoder';

/** the most rows in a row group */
export const ROW_GROUP_ROWS = 64 * 1024;
/**
 * the in-memory Arrow bytes of a row group, which bound its rows below ROW_GROUP_ROWS: the
 * encoder holds a row group in WebAssembly memory (about three times this) until it is flushed
 */
export const ROW_GROUP_BYTES = 4 * 1024 * 1024;
/** the fewest rows in a row group (rows wider than ROW_GROUP_BYTES / this get groups of this many) */
export const ROW_GROUP_MIN_ROWS = 1024;

/** the rows per row group of a file whose rows take `bytesPerRow` bytes each in Arrow memory */
export function rowGroupRows(bytesPerRow: number): number {
  const rows = Math.floor(ROW_GROUP_BYTES / Math.max(bytesPerRow, 1));
  return Math.min(ROW_GROUP_ROWS, Math.max(ROW_GROUP_MIN_ROWS, rows));
}

export type EncoderRequest =
  /**
   * with a file's first batch: `rowGroupRows` its row groups' size (ROW_GROUP_ROWS without), `plain`
   * the columns written without a dictionary (./parquet-dictionary.ts)
   */
  | { t: 'write'; id: number; ipc: Uint8Array; rowGroupRows?: number; plain?: string[] }
  | { t: 'finish'; id: number; schema?: Uint8Array }
  | { t: 'discard'; id: number };

export type EncoderReply =
  | { t: 'ack'; id: number; spent: Uint8Array }
  | { t: 'chunk'; id: number; bytes: Uint8Array }
  | { t: 'done'; id: number }
  | { t: 'error'; id: number; message: string; fatal: boolean };

type ParquetWasm = typeof import('parquet-wasm');
let wasm: Promise<ParquetWasm> | undefined;
/** parquet-wasm, loaded on first use (its WebAssembly module is a few MB) */
function parquetWasm(): Promise<ParquetWasm> {
  wasm ??= import('parquet-wasm');
  return wasm;
}

/**
 * a column's dictionary page is capped at this (the Parquet default is 1 MiB): a column of few
 * distinct values keeps its dictionary, one of mostly distinct values (ids, timestamps, JSON)
 * falls back to plain pages after a few thousand values instead of hashing a MiB of them per row
 * group — about a third less encoding time on the benchmark rows, and smaller files
 */
export const DICTIONARY_PAGE_BYTES = 128 * 1024;

/*
 * Statistics (min, max, null count) per column chunk, none per page: page-level statistics make
 * the writer keep every page's min and max for the column index in the footer, which grew the
 * encoder's WebAssembly memory with the file (23 → 46 MB over a no_rotate file of 10M bench rows,
 * 23 → 28 MB without them; docs/benchmarks.md). pyarrow writes no page index unless asked either;
 * readers prune by the row groups' statistics.
 */

function writerProperties(pw: ParquetWasm, rowGroupRows = ROW_GROUP_ROWS, plain: string[] = []) {
  let b = new pw.WriterPropertiesBuilder()
    .setCompression(pw.Compression.SNAPPY)
    .setMaxRowGroupSize(rowGroupRows)
    .setDictionaryPageSizeLimit(DICTIONARY_PAGE_BYTES)
    .setStatisticsEnabled(pw.EnabledStatistics.Chunk)
    .setCreatedBy('cq-pipe');
  for (const column of plain) b = b.setColumnDictionaryEnabled(column, false);
  return b.build();
}

/** one file being encoded */
interface Encoding {
  /** this file's requests, one after the other */
  queue: Promise<void>;
  input?: ReadableStream<unknown>;
  ctrl?: ReadableStreamDefaultController<unknown>;
  /** resolves a write waiting for the writer to take its batch */
  pulled?: () => void;
  /** reads the encoded bytes and sends them */
  pump?: Promise<void>;
  /** set once: the error was sent (or the file discarded); nothing more is sent */
  failed?: Error;
}

/** A bytes view whose whole buffer can be transferred (copied when it is a view into more). */
export function own(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer ? bytes : bytes.slice();
}

/**
 * The encoder: returns the handler of requests; replies go to `reply` (with the buffers to
 * transfer). Requests of one file are handled in order; files proceed independently.
 */
export function serve(reply: (msg: EncoderReply, transfer: ArrayBuffer[]) => void): (req: EncoderRequest) => void {
  const files = new Map<number, Encoding>();

  /** stop a file; the error is sent unless the main thread dropped the file itself */
  const fail = (id: number, f: Encoding, err: unknown, send = true): void => {
    if (f.failed) return;
    // only the message and whether it was a WebAssembly trap go back to the main thread
    const e = err instanceof Error ? err : new DestinationWriteError(String(err), { phase: 'write' });
    f.failed = e;
    if (send) reply({ t: 'error', id, message: e.message, fatal: e.name === 'RuntimeError' }, []);
    try {
      f.ctrl?.error(e);
    } catch {
      // already closed
    }
    const r = f.pulled;
    f.pulled = undefined;
    r?.();
  };

  const start = (pw: ParquetWasm, id: number, f: Encoding, rowGroupRows: number | undefined, plain: string[] | undefined): void => {
    f.input = new ReadableStream<unknown>(
      {
        start: (c) => {
          f.ctrl = c;
        },
        pull: () => {
          const r = f.pulled;
          f.pulled = undefined;
          r?.();
        },
      },
      { highWaterMark: 1 },
    );
    // not awaited before the first batch is queued: the stream starts by pulling one
    const out = pw.transformParquetStream(f.input as unknown as globalThis.ReadableStream, writerProperties(pw, rowGroupRows, plain));
    f.pump = (async () => {
      const bytes = (await out) as unknown as AsyncIterable<Uint8Array>;
      for await (const chunk of bytes) {
        if (f.failed) continue;
        const owned = own(chunk);
        reply({ t: 'chunk', id, bytes: owned }, [owned.buffer as ArrayBuffer]);
      }
    })();
    f.pump.catch((err: unknown) => fail(id, f, err));
  };

  const write = async (id: number, f: Encoding, ipc: Uint8Array, rowGroupRows: number | undefined, plain: string[] | undefined): Promise<void> => {
    if (f.failed) return;
    const pw = await parquetWasm();
    const table = pw.Table.fromIPCStream(ipc); // copied into WebAssembly memory
    const batches = table.recordBatches();
    table.free();
    if (!f.pump) start(pw, id, f, rowGroupRows, plain);
    for (const b of batches) {
      if (f.failed) return;
      f.ctrl!.enqueue(b);
      if ((f.ctrl!.desiredSize ?? 0) <= 0) await new Promise<void>((resolve) => (f.pulled = resolve));
    }
    // the IPC buffer goes back with the ack: garbage here would wait for this thread's rare
    // garbage collections (tens of MB of them), on the main thread it is collected at once
    if (!f.failed) reply({ t: 'ack', id, spent: ipc }, [ipc.buffer as ArrayBuffer]);
  };

  const finish = async (id: number, f: Encoding, schema: Uint8Array | undefined): Promise<void> => {
    if (f.failed) return;
    const pw = await parquetWasm();
    if (!f.pump) {
      // no rows: a valid file with the schema and no row groups
      // the main thread sends the schema with the finish of a file it sent no batch of
      if (!schema) throw new InternalError(`Parquet file ${id} has no batches and no schema`, { phase: 'write' });
      const table = pw.Table.fromIPCStream(schema);
      const bytes = own(pw.writeParquet(table, writerProperties(pw)));
      reply({ t: 'chunk', id, bytes }, [bytes.buffer as ArrayBuffer]);
    } else {
      f.ctrl!.close();
      await f.pump;
    }
    if (!f.failed) reply({ t: 'done', id }, []);
  };

  return (req) => {
    let f = files.get(req.id);
    if (req.t === 'discard') {
      // at once, not behind the file's queue: a write waiting for the writer stops now
      if (f) {
        files.delete(req.id);
        fail(req.id, f, new DestinationWriteError('discarded', { phase: 'write' }), false);
      }
      return;
    }
    if (!f) {
      f = { queue: Promise.resolve() };
      files.set(req.id, f);
    }
    const file = f;
    const run =
      req.t === 'write'
        ? () => write(req.id, file, req.ipc, req.rowGroupRows, req.plain)
        : () => finish(req.id, file, req.schema).finally(() => files.delete(req.id));
    file.queue = file.queue.then(run).catch((err: unknown) => fail(req.id, file, err));
  };
}

if (!isMainThread && parentPort && workerData === WORKER_TAG) {
  const port = parentPort;
  // compiled while the main thread is still starting its source: a first batch finds it ready
  void parquetWasm().catch(() => {}); // a failure to load is reported with the first file's request
  port.on(
    'message',
    serve((msg, transfer) => port.postMessage(msg, transfer)),
  );
}
