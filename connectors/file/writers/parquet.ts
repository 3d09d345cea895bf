/**
 * Parquet through parquet-wasm's streaming writer (`transformParquetStream`), run in a worker
 * thread (./parquet-worker.ts) so that encoding overlaps the main thread's work (a source's
 * decoding, the conversions below). Batches go to the worker as Arrow IPC as they come, row
 * groups are encoded and sent back as they fill, and the footer at `finish`; the bytes are
 * written to the sink in order. A row group holds up to ROW_GROUP_BYTES of Arrow data (its row
 * count set from the bytes per row of the file's first batch, at most ROW_GROUP_ROWS), so memory
 * stays bounded by one row group plus MAX_UNACKED batches in flight per file, whether a file holds
 * one batch or a whole no_rotate sync, and however wide its rows. CQ_PIPE_PARQUET_WORKER=0 encodes on the main thread instead (same code, no
 * thread: for bundles that cannot ship the worker module, or a single core).
 *
 * Before writing, CloudQuery extension columns become strings readers understand: uuid
 * (FixedSizeBinary(16)) → Utf8 canonical text, json and inet (Binary) → Utf8; field metadata
 * (ARROW:extension:name, cq:* flags) is kept in the file's Arrow schema. Every other type maps
 * natively (timestamp → TIMESTAMP(µs, UTC-adjusted), decimal → DECIMAL, date32 → DATE, list → LIST,
 * struct → group), so DuckDB and pyarrow read the right types.
 */
import * as A from 'apache-arrow';
import { realignedBitmap } from '../../../lib/arrow/bitmap.js';
import { writeUuidText } from '../../../lib/arrow/uuid.js';
import { Worker } from 'node:worker_threads';
import { extensionOf } from '../../../lib/types.js';
import { DestinationWriteError, SchemaIncompatibleError } from '../../../lib/errors.js';
import { FileSink } from './sink.js';
import { batchByteSize, MD_TABLE_NAME } from '../../../lib/schema.js';
import { ipcStreamPieces, sameSchema } from '../../../lib/arrow/ipc-write.js';
import {
  serve,
  own,
  rowGroupRows,
  WORKER_TAG,
  DICTIONARY_PAGE_BYTES,
  ROW_GROUP_BYTES,
  ROW_GROUP_ROWS,
  type EncoderReply,
  type EncoderRequest,
} from './parquet-worker.js';
import { plainColumns } from './parquet-dictionary.js';
import type { ByteSink } from './byte-sink.js';
import type { FormatWriter } from './index.js';

export { ROW_GROUP_BYTES, ROW_GROUP_ROWS, rowGroupRows };

/**
 * Reusable memory of the conversions and the IPC bytes of one `write`: the same few buffers every
 * batch instead of new ones (docs/benchmarks.md, "Where the time and memory go": a few MB of
 * fresh ArrayBuffers per batch fragmented the main thread's malloc heap, which grew with the rows).
 * A scratch buffer is only valid until the batch it went into is copied into its IPC bytes, which
 * happens in the same synchronous step.
 */
class Scratch {
  readonly #slots: ArrayBuffer[] = [];
  #next = 0;

  /** a new `write`: every slot may be reused */
  reset(): void {
    this.#next = 0;
  }

  /** `bytes` bytes of the next slot (grown when too small; contents undefined) */
  take(bytes: number): ArrayBuffer {
    const i = this.#next++;
    let b = this.#slots[i];
    if (!b || b.byteLength < bytes) {
      b = new ArrayBuffer(grownSize(bytes));
      this.#slots[i] = b;
    }
    return b;
  }
}

/** a reusable buffer's size for `bytes`: a quarter more, in whole 64 KiB, so that slightly larger batches fit */
function grownSize(bytes: number): number {
  return Math.ceil((bytes * 1.25) / 65536) * 65536;
}

/**
 * uuid bytes → Utf8 canonical strings (36 bytes each) of `type`, nulls kept; in `scratch` memory
 * when given
 */
function uuidStrings(data: A.Data, type: A.Utf8, scratch?: Scratch): A.Data<A.Utf8> {
  const n = data.length;
  const src = data.values as Uint8Array;
  const nullBitmap = realignedBitmap(data);
  // a null row gets no text (an all-null column, as _cq_parent_id mostly is, none at all)
  const size = 36 * (nullBitmap ? n - data.nullCount : n);
  const out = scratch ? new Uint8Array(scratch.take(size), 0, size) : new Uint8Array(size);
  const offsets = scratch ? new Int32Array(scratch.take((n + 1) * 4), 0, n + 1) : new Int32Array(n + 1);
  offsets[0] = 0;
  let p = 0;
  for (let i = 0; i < n; i++) {
    if (!nullBitmap || (nullBitmap[i >> 3]! >> (i & 7)) & 1) p = writeUuidText(out, p, src, i * 16);
    offsets[i + 1] = p;
  }
  return A.makeData({ type, length: n, nullCount: data.nullCount, nullBitmap, valueOffsets: offsets, data: out });
}

function hasExtension(f: A.Field): boolean {
  if (extensionOf(f)) return true;
  return (f.type.children ?? []).some(hasExtension);
}

/** The Parquet-side field of an Arrow field: extension columns as Utf8 (recursively). */
export function parquetField(f: A.Field): A.Field {
  if (!hasExtension(f)) return f;
  const ext = extensionOf(f);
  if (ext) return new A.Field(f.name, new A.Utf8(), f.nullable, f.metadata);
  const t = f.type;
  if (t instanceof A.List) return new A.Field(f.name, new A.List(parquetField(t.children[0]!)), f.nullable, f.metadata);
  if (t instanceof A.Struct) return new A.Field(f.name, new A.Struct(t.children.map(parquetField)), f.nullable, f.metadata);
  if (t instanceof A.FixedSizeList) return new A.Field(f.name, new A.FixedSizeList(t.listSize, parquetField(t.children[0]!)), f.nullable, f.metadata);
  return f; // maps and unions with extension children: written as stored
}

/**
 * Column data converted to `target` (from parquetField). Zero-copy except for uuids. Converted
 * columns take the target's own type object, so that every batch of a file has the same schema
 * (lib/arrow/ipc-write.ts then encodes it once, not once a batch).
 */
function parquetData(f: A.Field, target: A.Field, data: A.Data, scratch?: Scratch): A.Data {
  if (f === target) return data;
  const ext = extensionOf(f);
  if (ext === 'uuid' && data.typeId === A.Type.FixedSizeBinary) return uuidStrings(data, target.type as A.Utf8, scratch);
  if (ext) {
    // json / inet: the same bytes and offsets, typed as strings
    return data.type === target.type ? data : data.clone(target.type);
  }
  const children = data.children.map((c, i) => parquetData(f.type.children[i]!, target.type.children[i]!, c, scratch));
  return data.clone(target.type, data.offset, data.length, data.nullCount, undefined, children);
}

/** a table's Parquet side: its schema, and the columns its files write without a dictionary (decided by its first file) */
interface ParquetTable {
  source: A.Schema;
  target: A.Schema;
  plain?: string[];
}

/**
 * each table's last schema and its Parquet side: the files of a table (one a batch, when they
 * rotate) share one target schema, and so one encoded schema message (lib/arrow/ipc-write.ts)
 */
const parquetTables = new Map<string, ParquetTable>();

function parquetTable(schema: A.Schema): ParquetTable {
  const table = schema.metadata.get(MD_TABLE_NAME) ?? '';
  const known = parquetTables.get(table);
  if (known && sameSchema(known.source, schema)) return known;
  const fields = schema.fields.map(parquetField);
  const entry = { source: schema, target: fields.every((f, i) => f === schema.fields[i]) ? schema : new A.Schema(fields, schema.metadata) };
  parquetTables.set(table, entry);
  return entry;
}

export function parquetSchema(schema: A.Schema): A.Schema {
  return parquetTable(schema).target;
}

/** `batch` with the columns of `target` (parquetSchema); uuid text in `scratch` memory when given */
export function toParquetBatch(batch: A.RecordBatch, source: A.Schema, target: A.Schema, scratch?: Scratch): A.RecordBatch {
  if (source === target) return batch;
  const children = source.fields.map((f, i) => parquetData(f, target.fields[i]!, batch.data.children[i]!, scratch));
  return new A.RecordBatch(target, A.makeData({ type: new A.Struct(target.fields), length: batch.numRows, nullCount: 0, children }));
}

/**
 * The batches (one schema) as one Arrow IPC stream — the schema, each batch, end of stream — copied
 * into memory from `alloc(bytes)`: the column buffers are copied once, into it, and nothing else of
 * their size is allocated. Schemas with dictionaries go through apache-arrow's writer instead
 * (`fresh`: its own new buffer).
 */
export function ipcStreamInto(schema: A.Schema, batches: A.RecordBatch[], alloc: (bytes: number) => Uint8Array): { bytes: Uint8Array; fresh: boolean } {
  if (schema.dictionaries.size > 0) return { bytes: A.tableToIPC(new A.Table(schema, batches), 'stream'), fresh: true };
  const parts: Uint8Array[] = [];
  batches.forEach((b, i) => {
    const pieces = ipcStreamPieces(b);
    // one schema message at the start and one end-of-stream marker at the end
    for (let j = i === 0 ? 0 : 1; j < pieces.length - 1; j++) parts.push(pieces[j]!);
    if (i === batches.length - 1) parts.push(pieces[pieces.length - 1]!);
  });
  const out = alloc(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return { bytes: out, fresh: false };
}

/** The dotted path of the first union inside a field, if any. */
function unionPath(f: A.Field, prefix = ''): string | undefined {
  const name = prefix + f.name;
  if (f.type.typeId === A.Type.Union) return name;
  if (f.type.typeId === A.Type.Dictionary) return unionPath(new A.Field(f.name, (f.type as A.Dictionary).dictionary), prefix);
  for (const c of f.type.children ?? []) {
    const bad = unionPath(c, name + '.');
    if (bad) return bad;
  }
  return undefined;
}

function sameShape(a: A.Schema, b: A.Schema): boolean {
  return (
    a.fields.length === b.fields.length &&
    a.fields.every((f, i) => f.name === b.fields[i]!.name && A.util.compareTypes(f.type, b.fields[i]!.type) && extensionOf(f) === extensionOf(b.fields[i]!))
  );
}

/**
 * batches of a file sent to the encoder and not yet taken by its writer before `write` waits
 * (1: as fast as 2 on the benchmarks, and ~15 MB less peak RSS for a no_rotate file of 4M rows)
 */
const MAX_UNACKED = 1;
/** encoded bytes of a file received but not yet accepted by its sink before `write` waits */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
/** IPC buffers handed back by the encoder and kept for the next batches (one per unacknowledged batch, and one more) */
const MAX_SPARE_BUFFERS = 2;
/** an encoder with no open file stops after this long (frees the worker's WebAssembly memory) */
const IDLE_MS = 5000;

/** The main-thread side of one file in the encoder. */
interface EncodedFile {
  readonly id: number;
  readonly sink: ByteSink;
  /** anything sent to the encoder (a discard must reach it) */
  sent: boolean;
  /** batches sent and not acknowledged */
  unacked: number;
  /** encoded bytes not yet accepted by the sink */
  queued: number;
  /** the first failure (encoder, sink, discard): every later call throws it */
  error?: Error;
  /** the sink writes of the encoded bytes, in order */
  chain: Promise<void>;
  /** wakes a `write` waiting for room */
  wake?: () => void;
  /** the pending `finish`, settled by `done` or `error` */
  finishing?: { resolve: () => void; reject: (err: Error) => void };
}

/** a failure of the encoder or the sink under file `f` (the object writer adds the connector and table) */
function failure(f: EncodedFile, message: string): DestinationWriteError {
  return new DestinationWriteError(message, { file: f.sink.path, phase: 'write' });
}

function wake(f: EncodedFile): void {
  const r = f.wake;
  f.wake = undefined;
  r?.();
}

/**
 * The Parquet encoder of this process: a worker thread (started on first use, unref'd whenever no
 * reply is awaited so it never keeps the process alive, stopped after IDLE_MS without an open
 * file) or, with CQ_PIPE_PARQUET_WORKER=0, the same code on this thread.
 */
class Encoder {
  readonly #files = new Map<number, EncodedFile>();
  readonly #post: (req: EncoderRequest, transfer: ArrayBuffer[]) => void;
  readonly #worker: Worker | undefined;
  /** IPC buffers the encoder is done with, reused for the next batches */
  readonly #spare: ArrayBuffer[] = [];
  #nextId = 1;
  /** replies awaited (acks, dones): the worker is ref'd while there are any */
  #awaited = 0;
  #idle: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(inProcess: boolean) {
    if (inProcess) {
      // asynchronous both ways, as through a port
      const handle = serve((msg) => queueMicrotask(() => this.#onReply(msg)));
      this.#post = (req) => queueMicrotask(() => handle(req));
      return;
    }
    const w = new Worker(new URL('./parquet-worker.js', import.meta.url), { workerData: WORKER_TAG });
    w.on('message', (msg: EncoderReply) => this.#onReply(msg));
    w.on('messageerror', (err) => this.#stop(`Parquet encoder thread failed: ${err.message}`));
    w.on('error', (err) => this.#stop(`Parquet encoder thread failed: ${err.name}: ${err.message}`));
    w.on('exit', (code) => this.#stop(`Parquet encoder thread exited (code ${code})`));
    w.unref(); // after the listeners: a 'message' listener refs the thread again
    this.#post = (req, transfer) => w.postMessage(req, transfer);
    this.#worker = w;
  }

  /** no file is open: the idle timer runs (a warmed thread nobody uses stops) */
  warm(): void {
    if (this.#files.size === 0 && this.#worker && !this.#stopped && !this.#idle) {
      this.#idle = setTimeout(() => this.#stop(), IDLE_MS);
      this.#idle.unref();
    }
  }

  open(sink: ByteSink): EncodedFile {
    clearTimeout(this.#idle);
    this.#idle = undefined;
    const f: EncodedFile = { id: this.#nextId++, sink, sent: false, unacked: 0, queued: 0, chain: Promise.resolve() };
    this.#files.set(f.id, f);
    return f;
  }

  /** resolves when `f` may take another batch; throws its error */
  async room(f: EncodedFile): Promise<void> {
    while (!f.error && (f.unacked >= MAX_UNACKED || f.queued > MAX_QUEUED_BYTES)) await new Promise<void>((resolve) => (f.wake = resolve));
    if (f.error) throw f.error;
  }

  /**
   * `bytes` bytes of memory to write a batch's IPC bytes into: a buffer the encoder handed back
   * (large enough, else a new one a quarter larger than asked, so that it is reused)
   */
  buffer(bytes: number): Uint8Array {
    const i = this.#spare.findIndex((b) => b.byteLength >= bytes);
    if (i < 0 && this.#spare.length >= MAX_SPARE_BUFFERS) this.#spare.shift(); // too small: let it go
    const b = i >= 0 ? this.#spare.splice(i, 1)[0]! : new ArrayBuffer(grownSize(bytes));
    return new Uint8Array(b, 0, bytes);
  }

  /**
   * send a batch (Arrow IPC stream bytes; their whole buffer is transferred, so it must be `buffer`'s
   * or `fresh`: a new one nothing else views); the file's first names its row groups' size
   */
  write(f: EncodedFile, ipc: Uint8Array, groupRows: number, plain: string[] | undefined, fresh = false): void {
    const bytes = fresh ? own(ipc) : ipc;
    const first = !f.sent;
    f.sent = true;
    f.unacked++;
    this.#await(1);
    this.#post(first ? { t: 'write', id: f.id, ipc: bytes, rowGroupRows: groupRows, plain } : { t: 'write', id: f.id, ipc: bytes }, [
      bytes.buffer as ArrayBuffer,
    ]);
  }

  /** resolves once the encoded bytes, footer included, were accepted by the sink */
  async finish(f: EncodedFile, schema: Uint8Array | undefined): Promise<void> {
    if (f.error) throw f.error;
    await new Promise<void>((resolve, reject) => {
      f.finishing = { resolve, reject };
      f.sent = true;
      this.#await(1);
      this.#post(schema ? { t: 'finish', id: f.id, schema } : { t: 'finish', id: f.id }, []);
    });
    await f.chain;
    if (f.error) throw f.error;
  }

  /** drop the file in the encoder; resolves once no sink write is running */
  async discard(f: EncodedFile): Promise<void> {
    this.#fail(f, failure(f, `${f.sink.path} discarded`));
    if (f.sent && !this.#stopped) this.#post({ t: 'discard', id: f.id }, []);
    await f.chain;
  }

  #onReply(msg: EncoderReply): void {
    const f = this.#files.get(msg.id);
    if (!f) return; // failed or discarded meanwhile
    switch (msg.t) {
      case 'ack': {
        const spent = msg.spent.buffer;
        if (spent instanceof ArrayBuffer && spent.byteLength > 0 && this.#spare.length < MAX_SPARE_BUFFERS) this.#spare.push(spent);
        f.unacked--;
        this.#await(-1);
        wake(f);
        break;
      }
      case 'chunk': {
        const bytes = msg.bytes;
        const n = bytes.byteLength; // the sink frees the bytes once written (then empty)
        f.queued += n;
        f.chain = f.chain
          .then(() => (f.error ? undefined : f.sink.write(bytes, true)))
          .catch((err: unknown) => {
            f.error ??= err instanceof Error ? err : failure(f, String(err));
          })
          .finally(() => {
            f.queued -= n;
            wake(f);
          });
        break;
      }
      case 'done':
        this.#close(f);
        f.finishing?.resolve();
        break;
      case 'error':
        this.#fail(f, failure(f, msg.message));
        // a WebAssembly trap may leave the instance corrupt: the next file gets a new worker
        if (msg.fatal && this.#worker) this.#stop(`Parquet encoder thread stopped after a WebAssembly trap (${msg.message})`);
        break;
    }
  }

  /** the file's error is set and its pending calls rejected; the encoder forgets it */
  #fail(f: EncodedFile, err: Error): void {
    f.error ??= err;
    if (this.#files.has(f.id)) this.#close(f);
    f.finishing?.reject(f.error);
    wake(f);
  }

  /** no more replies are awaited for `f` */
  #close(f: EncodedFile): void {
    this.#await(-(f.unacked + (f.finishing ? 1 : 0)));
    f.unacked = 0;
    this.#files.delete(f.id);
    if (this.#files.size === 0 && this.#worker && !this.#stopped) {
      this.#idle = setTimeout(() => this.#stop(), IDLE_MS);
      this.#idle.unref();
    }
  }

  #await(n: number): void {
    const before = this.#awaited;
    this.#awaited += n;
    if (before === 0 && this.#awaited > 0) this.#worker?.ref();
    else if (before > 0 && this.#awaited === 0) this.#worker?.unref();
  }

  /** stop the worker; every open file fails with `why` (there are none when it stops for being idle) */
  #stop(why = 'Parquet encoder thread stopped'): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#idle);
    if (encoders.worker === this) encoders.worker = undefined;
    for (const f of [...this.#files.values()]) this.#fail(f, failure(f, why));
    void this.#worker?.terminate();
  }
}

const encoders: { worker?: Encoder; inProcess?: Encoder } = {};
/** the uuid text of the batch being sent (this thread's; see Scratch) */
const scratch = new Scratch();

/** the encoder new files go to (CQ_PIPE_PARQUET_WORKER=0: on this thread) */
function encoder(): Encoder {
  const off = process.env.CQ_PIPE_PARQUET_WORKER;
  if (off === '0' || off === 'false') return (encoders.inProcess ??= new Encoder(true));
  return (encoders.worker ??= new Encoder(false));
}

/**
 * start the encoder's thread (and its WebAssembly) ahead of the first file, while the source is
 * still starting: a destination that will write Parquet calls this when it is made. Unused, the
 * thread stops after IDLE_MS and keeps no process alive meanwhile.
 */
export function warmParquetEncoder(): void {
  encoder().warm();
}

export class ParquetWriter implements FormatWriter {
  rows = 0;
  readonly #sink: ByteSink;
  readonly #schema: A.Schema;
  readonly #target: A.Schema;
  readonly #table: ParquetTable;
  readonly #encoder: Encoder;
  readonly #file: EncodedFile;

  private constructor(sink: ByteSink, schema: A.Schema) {
    this.#sink = sink;
    this.#schema = schema;
    this.#table = parquetTable(schema);
    this.#target = this.#table.target;
    this.#encoder = encoder();
    this.#file = this.#encoder.open(sink);
  }

  static open(file: string, schema: A.Schema): Promise<ParquetWriter> {
    return ParquetWriter.openOn(() => FileSink.open(file, false), schema);
  }

  /** a writer into any sink (opened only after the schema checks pass) */
  static async openOn(openSink: () => Promise<ByteSink>, schema: A.Schema): Promise<ParquetWriter> {
    for (const f of schema.fields) {
      const bad = unionPath(f);
      if (bad) {
        // checked up front: parquet-wasm aborts the WebAssembly instance on dense unions
        throw new SchemaIncompatibleError(
          `column ${bad} is a union, which Parquet cannot store`,
          { column: f.name, phase: 'write' },
          'write this table with format arrow or ndjson',
        );
      }
    }
    const sink = await openSink();
    return new ParquetWriter(sink, schema);
  }

  get path(): string {
    return this.#sink.path;
  }

  async write(batches: A.RecordBatch[]): Promise<void> {
    if (this.#file.error) throw this.#file.error;
    const parts = batches.filter((b) => b.numRows > 0);
    if (!parts.length) return;
    for (const b of parts) {
      if (b.schema !== this.#schema && !sameShape(b.schema, this.#schema)) {
        throw new SchemaIncompatibleError(`batch columns changed within one Parquet file ${this.#sink.path}`, { phase: 'write' });
      }
    }
    const rows = parts.reduce((n, b) => n + b.numRows, 0);
    await this.#encoder.room(this.#file);
    // from here to the encoder's write in one synchronous step: the scratch memory is reused by the next write
    scratch.reset();
    const converted = parts.map((b) => toParquetBatch(b, this.#schema, this.#target, scratch));
    const groupRows = this.#file.sent ? ROW_GROUP_ROWS : rowGroupRows(converted.reduce((n, b) => n + batchByteSize(b), 0) / rows);
    // the table's first file decides which columns go without a dictionary; its later files follow
    const plain = this.#file.sent ? undefined : (this.#table.plain ??= plainColumns(converted[0]!, groupRows, DICTIONARY_PAGE_BYTES));
    const ipc = ipcStreamInto(this.#target, converted, (n) => this.#encoder.buffer(n));
    this.#encoder.write(this.#file, ipc.bytes, groupRows, plain, ipc.fresh);
    this.rows += rows;
  }

  async finish(): Promise<void> {
    // no rows: the encoder writes a valid file with the schema and no row groups
    const schema = this.#file.sent ? undefined : A.tableToIPC(new A.Table(this.#target), 'stream');
    await this.#encoder.finish(this.#file, schema);
    await this.#sink.end();
  }

  async discard(): Promise<void> {
    await this.#encoder.discard(this.#file);
    await this.#sink.discard();
  }
}
