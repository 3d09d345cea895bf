/**
 * The row worker: NDJSON and CSV bytes → rows → Arrow batches (lib/row-builder.ts), on a worker
 * thread so that the file source's main thread only moves bytes in and batches out (docs/file-source.md).
 *
 * One worker per process serves every file being read; each message names its read by `id`. The
 * main thread (./row-thread.ts) opens a read with the table's schema (Arrow IPC) and the format's
 * options, then sends the file's bytes (already gunzipped and checked there, by openText) as
 * `bytes` (transferred), at most INPUT_WINDOW ahead: the worker sends `pull` for each piece it
 * takes. Then `end`, or `input-error` (the input failed: the reading fails there, in order, as it
 * would on the main thread). The worker parses the bytes with the formats' own readers
 * (ndjsonRows, csvRows), builds batches of `batchRows` rows, and sends each as its column buffers
 * (`batch`, transferred) with the positions of rows left out for a dead-letter file; at most
 * MAX_BATCHES unacknowledged, so memory does not grow with the file. A column not in the schema
 * among a file's first 100 rows is reported once (`extra`). The read ends with `done`, `error`
 * (a typed error with its file, line and column, as data), or `too-deep` (a batch overflowed the
 * stack: the main thread reads the file again to name the deepest record, as in-thread).
 *
 * `serve` is also what runs in-process when the worker is disabled (CQ_PIPE_FILE_WORKER=0).
 */
import { Readable } from 'node:stream';
import { isMainThread, parentPort, threadId, workerData } from 'node:worker_threads';
import * as A from 'apache-arrow';
import { SourceDataError } from '../../../lib/errors.js';
import { RowBatchBuilder, ValueError } from '../../../lib/row-builder.js';
import { isStackOverflow } from '../nesting.js';
import { csvRows } from './csv.js';
import type { CsvOptions, RowChunk, ReadContext } from './index.js';
import { ndjsonRows } from './ndjson.js';
import { type NdjsonItem, ndjsonBatches } from './ndjson-batches.js';
import { batchToWire, errorFromWire, errorToWire, type WireData, type WireError } from './row-wire.js';

/** `workerData` of the worker started by ./row-thread.ts */
export const WORKER_TAG = 'cq-pipe:file-rows';
/** pieces of bytes sent to the worker and not yet taken by its parser */
export const INPUT_WINDOW = 2;
/**
 * bytes handed to the parser at a time (views, not copies): the text of a piece and the JSON array
 * of its lines stay below V8's large-object size, so they die young instead of piling up in the
 * large-object space until a full collection (45 MB of it in a 1M-row NDJSON load with 1 MiB pieces)
 */
const PARSE_PIECE = 64 * 1024;
/** batches sent by the worker and not yet taken by the source's consumer */
export const MAX_BATCHES = 2;

export type RowFormatName = 'ndjson' | 'csv';

export interface OpenRead {
  t: 'open';
  id: number;
  format: RowFormatName;
  /** the file's name, for errors */
  file: string;
  table: string;
  /** the table's schema as Arrow IPC (a stream with no batch) */
  schema: Uint8Array;
  text: boolean;
  batchRows: number;
  csv: CsvOptions;
  /** leave out rows whose values do not fit (a destination has a dead-letter file) */
  reject: boolean;
}

export type RowRequest =
  | OpenRead
  | { t: 'bytes'; id: number; bytes: Uint8Array }
  | { t: 'end'; id: number }
  | { t: 'input-error'; id: number; error: WireError }
  | { t: 'ack'; id: number }
  | { t: 'cancel'; id: number };

/** a row left out of a batch: its line, and why */
export interface RejectedAt {
  position: number;
  column: string;
  reason: string;
}

export type RowReply =
  | { t: 'pull'; id: number }
  /** `thread`: the thread that built the batch (worker_threads' threadId) */
  | { t: 'batch'; id: number; data: WireData; rejected?: RejectedAt[]; thread: number }
  | { t: 'extra'; id: number; column: string }
  | { t: 'done'; id: number }
  | { t: 'error'; id: number; error: WireError }
  | { t: 'too-deep'; id: number; first: number; last: number; cause: WireError };

/** NDJSON is read by the byte scanner unless CQ_PIPE_NDJSON_SCAN=0 (docs/file-source.md) */
function scanNdjson(): boolean {
  return process.env.CQ_PIPE_NDJSON_SCAN !== '0';
}

/** one read being served */
interface Read {
  /** bytes not yet taken (null: the end; a WireError: the input failed) */
  queue: (Uint8Array | null | WireError)[];
  /** wakes the parser waiting for bytes */
  wake?: () => void;
  /** batches sent and not acknowledged */
  unacked: number;
  /** wakes the builder waiting for an ack */
  acked?: () => void;
  cancelled: boolean;
}

function wakeUp(r: Read): void {
  const w = r.wake;
  r.wake = undefined;
  w?.();
  const a = r.acked;
  r.acked = undefined;
  a?.();
}

/** The worker's handler of requests; replies go to `reply` with the buffers to transfer. */
export function serve(reply: (msg: RowReply, transfer: ArrayBuffer[]) => void): (req: RowRequest) => void {
  const reads = new Map<number, Read>();

  async function* bytesOf(id: number, r: Read): AsyncGenerator<Buffer> {
    for (;;) {
      while (r.queue.length === 0 && !r.cancelled) await new Promise<void>((resolve) => (r.wake = resolve));
      if (r.cancelled) return;
      const item = r.queue.shift()!;
      if (item === null) return;
      if (!(item instanceof Uint8Array)) throw errorFromWire(item);
      reply({ t: 'pull', id }, []);
      for (let o = 0; o < item.byteLength; o += PARSE_PIECE) yield Buffer.from(item.buffer, item.byteOffset + o, Math.min(PARSE_PIECE, item.byteLength - o));
    }
  }

  const run = async (req: OpenRead, r: Read): Promise<void> => {
    const { id, file, table } = req;
    const schema = A.tableFromIPC(req.schema).schema;
    const builder = new RowBatchBuilder(schema, req.text);
    const known = new Set(schema.fields.map((f) => f.name));
    let lines: number[] = [];
    /** `built`: a batch the NDJSON scanner made (./ndjson-batches.ts); else the builder's rows */
    const flush = async (built?: A.RecordBatch): Promise<boolean> => {
      const at = lines;
      lines = [];
      let batch: A.RecordBatch;
      let rejected: RejectedAt[] | undefined;
      try {
        if (built) batch = built;
        else if (req.reject) {
          const out = builder.finishRejecting();
          batch = out.batch;
          rejected = out.rejected.map((v) => ({ position: at[v.index]!, column: v.column, reason: v.reason }));
        } else {
          batch = builder.finish();
        }
      } catch (err) {
        if (isStackOverflow(err)) {
          reply({ t: 'too-deep', id, first: at[0] ?? 0, last: at[at.length - 1] ?? 0, cause: errorToWire(err) }, []);
          return false;
        }
        if (!(err instanceof ValueError)) throw err;
        throw new SourceDataError(err.message, { table, file, line: at[err.index], column: err.column });
      }
      const transfer = new Set<ArrayBuffer>();
      const data = batchToWire(batch, transfer);
      r.unacked++;
      reply({ t: 'batch', id, data, ...(rejected?.length ? { rejected } : {}), thread: threadId }, [...transfer]);
      while (r.unacked >= MAX_BATCHES && !r.cancelled) await new Promise<void>((resolve) => (r.acked = resolve));
      return !r.cancelled;
    };
    const ctx: ReadContext = { signal: new AbortController().signal, csv: req.csv };
    const input = Readable.from(bytesOf(id, r), { objectMode: false });
    const items: AsyncIterable<RowChunk | NdjsonItem> =
      req.format === 'csv' ? csvRows(input, file, ctx) : scanNdjson() ? ndjsonBatches(input, file, schema, req.batchRows) : ndjsonRows(input, file, ctx);
    let checked = 0;
    for await (const item of items) {
      if ('batch' in item) {
        // a whole batch from the scanner: the builder is empty (batches start every batchRows rows)
        checked += item.batch.numRows;
        if (!(await flush(item.batch))) return;
        continue;
      }
      const chunk = 'chunk' in item ? item.chunk : item;
      if (checked < 100) {
        for (const row of chunk.rows.slice(0, 100 - checked)) {
          const extra = Object.keys(row).find((k) => !known.has(k));
          if (extra !== undefined) {
            reply({ t: 'extra', id, column: extra }, []);
            checked = 100;
            break;
          }
        }
        checked += chunk.rows.length;
      }
      const rows = chunk.rows;
      for (let i = 0; i < rows.length; i++) {
        builder.push(rows[i]!);
        lines.push(chunk.lines[i]!);
        if (builder.length >= req.batchRows && !(await flush())) return;
      }
      if (r.cancelled) return;
    }
    if (r.cancelled) return;
    if (builder.length > 0 && !(await flush())) return;
    if (!r.cancelled) reply({ t: 'done', id }, []);
  };

  return (req) => {
    if (req.t === 'open') {
      const r: Read = { queue: [], unacked: 0, cancelled: false };
      reads.set(req.id, r);
      run(req, r)
        .catch((err: unknown) => {
          if (!r.cancelled) reply({ t: 'error', id: req.id, error: errorToWire(err) }, []);
        })
        .finally(() => reads.delete(req.id));
      return;
    }
    const r = reads.get(req.id);
    if (!r) return; // finished or failed meanwhile
    switch (req.t) {
      case 'bytes':
        r.queue.push(req.bytes);
        break;
      case 'end':
        r.queue.push(null);
        break;
      case 'input-error':
        r.queue.push(req.error);
        break;
      case 'ack':
        r.unacked--;
        break;
      case 'cancel':
        r.cancelled = true;
        reads.delete(req.id);
        break;
    }
    wakeUp(r);
  };
}

if (!isMainThread && parentPort && workerData === WORKER_TAG) {
  const port = parentPort;
  port.on(
    'message',
    serve((msg, transfer) => port.postMessage(msg, transfer)),
  );
}
