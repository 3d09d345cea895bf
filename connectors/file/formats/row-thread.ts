/**
 * The file source's side of the row worker (./row-worker.ts): a file's bytes go in, its Arrow
 * batches come out, built on the worker thread. The worker is started on first use, ref'd only
 * while a read is open (it never keeps the process alive), and stopped after IDLE_MS without one;
 * CQ_PIPE_FILE_WORKER=0 runs the same code on this thread instead (through the same messages).
 *
 * Bytes are sent at most INPUT_WINDOW pieces ahead of the worker's parser (small pieces, as gunzip
 * gives them, are joined up to PIECE_BYTES first), and the worker sends at most MAX_BATCHES
 * batches ahead of the consumer: a read holds a bounded amount of memory however large its file.
 */
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import * as A from 'apache-arrow';
import { InternalError } from '../../../lib/errors.js';
import { csvRows } from './csv.js';
import type { CsvOptions, ReadContext, RowChunk } from './index.js';
import { ndjsonRows } from './ndjson.js';
import { batchFromWire, errorFromWire, errorToWire } from './row-wire.js';
import { INPUT_WINDOW, serve, WORKER_TAG, type RejectedAt, type RowFormatName, type RowReply, type RowRequest } from './row-worker.js';

/** a worker with no open read stops after this long */
const IDLE_MS = 5000;
/**
 * the worker's stack: V8's limit on the main thread (984 KiB) plus the 192 KiB Node keeps below a
 * worker's limit, so that a record too deep to read or convert on the main thread is too deep here
 */
const STACK_MB = (984 + 192) / 1024;
/** pieces of input shorter than this are joined before they are sent */
const PIECE_BYTES = 512 * 1024;

export interface WorkerRead {
  format: RowFormatName;
  /** the file's name, for errors */
  file: string;
  table: string;
  schema: A.Schema;
  text: boolean;
  batchRows: number;
  csv: CsvOptions;
  reject: boolean;
  signal: AbortSignal;
}

export type RowEvent =
  /** `thread`: the threadId of the thread that built it */
  | { t: 'batch'; batch: A.RecordBatch; rejected?: RejectedAt[]; thread: number }
  /** a column of the file's first 100 rows that the schema does not have */
  | { t: 'extra'; column: string }
  /** a batch of the lines first..last overflowed the stack; the read ends */
  | { t: 'too-deep'; first: number; last: number; cause: Error };

/** Counters of the row worker, for tests and benchmarks. */
export const rowWorkerStats = {
  /** batches received from the worker (or the in-process server) */
  batches: 0,
  /** the threadId that built the last batch */
  lastThread: -1,
  /** the most batches received and not yet taken by a consumer, over every read */
  maxAhead: 0,
  /** the most input bytes sent to the worker and not yet taken by its parser, over every read */
  maxBytesAhead: 0,
  /** input bytes sent to the worker */
  bytesSent: 0,
};

interface Open {
  replies: RowReply[];
  wake?: () => void;
  /** the worker stopped under this read */
  failed?: Error;
}

function wake(r: Open): void {
  const w = r.wake;
  r.wake = undefined;
  w?.();
}

/** A bytes view whose whole buffer can be transferred (copied when it is a view into more). */
function own(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer ? bytes : bytes.slice();
}

class RowThread {
  readonly #reads = new Map<number, Open>();
  readonly #post: (req: RowRequest, transfer: ArrayBuffer[]) => void;
  readonly #worker: Worker | undefined;
  #nextId = 1;
  #idle: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(inProcess: boolean) {
    if (inProcess) {
      // asynchronous both ways, as through a port
      const handle = serve((msg) => queueMicrotask(() => this.#onReply(msg)));
      this.#post = (req) => queueMicrotask(() => handle(req));
      return;
    }
    const w = new Worker(new URL('./row-worker.js', import.meta.url), { workerData: WORKER_TAG, resourceLimits: { stackSizeMb: STACK_MB } });
    w.unref();
    w.on('message', (msg: RowReply) => this.#onReply(msg));
    w.on('messageerror', (err) => this.#stop(`file row thread failed: ${err.message}`));
    w.on('error', (err) => this.#stop(`file row thread failed: ${err.name}: ${err.message}`));
    w.on('exit', (code) => this.#stop(`file row thread exited (code ${code})`));
    this.#post = (req, transfer) => w.postMessage(req, transfer);
    this.#worker = w;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  open(): { id: number; read: Open } {
    clearTimeout(this.#idle);
    this.#idle = undefined;
    if (this.#reads.size === 0) this.#worker?.ref();
    const id = this.#nextId++;
    const read: Open = { replies: [] };
    this.#reads.set(id, read);
    return { id, read };
  }

  post(req: RowRequest, transfer: ArrayBuffer[] = []): void {
    if (!this.#stopped && this.#reads.has(req.id)) this.#post(req, transfer);
  }

  /** the read is over; `cancel`: the worker may still be at it */
  close(id: number, cancel: boolean): void {
    if (!this.#reads.has(id)) return;
    if (cancel) this.post({ t: 'cancel', id });
    this.#reads.delete(id);
    if (this.#reads.size === 0 && this.#worker && !this.#stopped) {
      this.#worker.unref();
      this.#idle = setTimeout(() => this.#stop(), IDLE_MS);
      this.#idle.unref();
    }
  }

  #onReply(msg: RowReply): void {
    const r = this.#reads.get(msg.id);
    if (!r) return; // closed meanwhile
    r.replies.push(msg);
    wake(r);
  }

  /** stop the worker; every open read fails with `why` (there are none when it stops for being idle) */
  #stop(why = 'file row thread stopped'): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#idle);
    if (threads.worker === this) threads.worker = undefined;
    for (const r of this.#reads.values()) {
      r.failed ??= new InternalError(why);
      wake(r);
    }
    this.#reads.clear();
    void this.#worker?.terminate();
  }
}

const threads: { worker?: RowThread; inProcess?: RowThread } = {};

/**
 * Where rows are built (CQ_PIPE_FILE_WORKER): `auto` (unset) on the worker for inputs longer than
 * SMALL_INPUT_BYTES, on this thread for shorter ones (a worker's start costs more than they take);
 * `always` (1, true) on the worker whatever the size; `off` (0, false) on this thread;
 * `in-process` the worker's code on this thread through its messages (for tests of the protocol).
 */
export type RowWorkerMode = 'auto' | 'always' | 'off' | 'in-process';

export function rowWorkerMode(): RowWorkerMode {
  const v = process.env.CQ_PIPE_FILE_WORKER;
  if (v === '0' || v === 'false') return 'off';
  if (v === '1' || v === 'true') return 'always';
  if (v === 'in-process') return 'in-process';
  return 'auto';
}

/** inputs (gunzipped) up to this long are read on this thread in `auto` mode */
export const SMALL_INPUT_BYTES = 4 * 1024 * 1024;

function rowThread(): RowThread {
  if (rowWorkerMode() === 'in-process') return (threads.inProcess ??= new RowThread(true));
  return (threads.worker ??= new RowThread(false));
}

/** the start of an input, read to tell a small one from a large one */
export interface Head {
  /** the bytes read so far, then the rest (an input's failure is thrown after the bytes before it) */
  bytes: AsyncIterable<Uint8Array>;
  /** the input ended (or failed) within the bytes read */
  small: boolean;
  /** stop reading the input */
  destroy(): void;
}

/** reads `input` up to `limit` bytes (0: nothing) */
export async function readHead(input: Readable, limit: number): Promise<Head> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  const parts: Uint8Array[] = [];
  let size = 0;
  let ended = false;
  let failed = false;
  let failure: unknown;
  while (size < limit) {
    let r: IteratorResult<Uint8Array>;
    try {
      r = await it.next();
    } catch (err) {
      failed = true;
      failure = err;
      break;
    }
    if (r.done) {
      ended = true;
      break;
    }
    parts.push(r.value);
    size += r.value.length;
  }
  async function* bytes(): AsyncGenerator<Uint8Array> {
    while (parts.length) yield parts.shift()!;
    if (failed) throw failure;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  return { bytes: bytes(), small: ended || failed, destroy: () => input.destroy() };
}

/** the rows of a small input, read on this thread by the format's reader */
export function rowsInThread(format: RowFormatName, head: Head, file: string, ctx: ReadContext): AsyncIterable<RowChunk> {
  const input = Readable.from(head.bytes, { objectMode: false });
  return format === 'csv' ? csvRows(input, file, ctx) : ndjsonRows(input, file, ctx);
}

const schemaBytes = new WeakMap<A.Schema, Uint8Array>();

function schemaIpc(schema: A.Schema): Uint8Array {
  let b = schemaBytes.get(schema);
  if (!b) {
    b = A.tableToIPC(new A.Table(schema), 'stream');
    schemaBytes.set(schema, b);
  }
  return b;
}

/**
 * The batches of a file's bytes (`head`, already gunzipped), built by the row worker, in order.
 * The errors of the file (malformed records, values that do not fit) are thrown as the classes,
 * codes and contexts the in-thread reading throws; an aborted `signal` ends the events.
 */
export async function* rowsInWorker(head: Head, o: WorkerRead): AsyncGenerator<RowEvent> {
  const thread = rowThread();
  const { id, read } = thread.open();
  const onAbort = (): void => wake(read);
  o.signal.addEventListener('abort', onAbort);
  let finished = false;
  let closed = false;
  // the pump: sends pieces of the input while the worker has room for them
  let credit = INPUT_WINDOW;
  let pumping = false;
  let inputDone = false;
  let it: AsyncIterator<Uint8Array> | undefined;
  /** the sizes of the pieces sent and not yet taken by the parser */
  const unpulled: number[] = [];
  let bytesAhead = 0;
  const send = (parts: Uint8Array[], size: number): void => {
    let bytes: Uint8Array;
    if (parts.length === 1) bytes = own(parts[0]!);
    else {
      bytes = new Uint8Array(size);
      let p = 0;
      for (const x of parts) {
        bytes.set(x, p);
        p += x.length;
      }
    }
    rowWorkerStats.bytesSent += bytes.byteLength;
    unpulled.push(bytes.byteLength);
    bytesAhead += bytes.byteLength;
    rowWorkerStats.maxBytesAhead = Math.max(rowWorkerStats.maxBytesAhead, bytesAhead);
    thread.post({ t: 'bytes', id, bytes }, [bytes.buffer as ArrayBuffer]);
  };
  const pump = async (): Promise<void> => {
    if (pumping) return;
    pumping = true;
    try {
      while (credit > 0 && !inputDone && !closed) {
        const parts: Uint8Array[] = [];
        let size = 0;
        let failure: unknown;
        while (size < PIECE_BYTES) {
          let r: IteratorResult<Uint8Array>;
          try {
            r = await it!.next();
          } catch (err) {
            failure = err;
            inputDone = true;
            break;
          }
          if (closed) return;
          if (r.done) {
            inputDone = true;
            break;
          }
          parts.push(r.value);
          size += r.value.length;
        }
        if (size > 0) {
          credit--;
          send(parts, size);
        }
        if (failure !== undefined) thread.post({ t: 'input-error', id, error: errorToWire(failure) });
        else if (inputDone) thread.post({ t: 'end', id });
      }
    } finally {
      pumping = false;
    }
  };
  const stream = (): void => {
    void pump().catch((err: unknown) => {
      // a failure of this code, not of the input (those go to the worker in order)
      read.failed ??= err instanceof Error ? err : new InternalError(String(err));
      wake(read);
    });
  };
  try {
    thread.post({
      t: 'open',
      id,
      format: o.format,
      file: o.file,
      table: o.table,
      schema: schemaIpc(o.schema),
      text: o.text,
      batchRows: o.batchRows,
      csv: o.csv,
      reject: o.reject,
    });
    it = head.bytes[Symbol.asyncIterator]();
    stream();
    let ahead = 0;
    for (;;) {
      while (read.replies.length === 0 && !read.failed && !o.signal.aborted) await new Promise<void>((resolve) => (read.wake = resolve));
      if (o.signal.aborted) return;
      if (read.failed) throw read.failed;
      const m = read.replies.shift()!;
      switch (m.t) {
        case 'pull':
          bytesAhead -= unpulled.shift() ?? 0;
          credit++;
          stream();
          break;
        case 'extra':
          yield { t: 'extra', column: m.column };
          break;
        case 'batch': {
          rowWorkerStats.batches++;
          rowWorkerStats.lastThread = m.thread;
          ahead = read.replies.reduce((n, x) => n + (x.t === 'batch' ? 1 : 0), 1);
          rowWorkerStats.maxAhead = Math.max(rowWorkerStats.maxAhead, ahead);
          yield { t: 'batch', batch: batchFromWire(o.schema, m.data), ...(m.rejected ? { rejected: m.rejected } : {}), thread: m.thread };
          thread.post({ t: 'ack', id });
          break;
        }
        case 'done':
          finished = true;
          return;
        case 'error':
          finished = true;
          throw errorFromWire(m.error);
        case 'too-deep':
          finished = true;
          yield { t: 'too-deep', first: m.first, last: m.last, cause: errorFromWire(m.cause) };
          return;
      }
    }
  } finally {
    closed = true;
    o.signal.removeEventListener('abort', onAbort);
    thread.close(id, !finished);
    head.destroy();
  }
}
