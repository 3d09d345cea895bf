/**
 * A reader of Arrow IPC messages (the stream format, and the file format's messages) that damaged
 * bytes cannot hang, crash or make allocate without bound. apache-arrow's own readers trust every
 * length they read: a metadata length of 2 GB is allocated, a flatbuffer vector length of 2^31 is
 * looped over (one object per step: the heap fills, the process hangs), a body length past the end
 * of the input waits for bytes that never come, a dictionary id that was never sent makes a column
 * that throws later, far from the file. Here every length is checked before it is used:
 *
 * - a message's metadata and body lengths against the bytes left in the file (or, on a stream
 *   whose end is unknown, against MAX_METADATA / MAX_BODY), before anything is allocated; a
 *   stream's bytes are gathered as they arrive, so a lying length costs only the bytes really sent;
 * - the metadata flatbuffer (./ipc-check.ts, `checkMetadata`): every table, vector and string it
 *   points to lies inside it, vector lengths fit it, nested fields visit at most a bounded number
 *   of tables; buffers lie inside the body; node lengths and null counts are sane;
 * - the schema's types (`checkSchema`) and every loaded column (`checkData`): buffers long
 *   enough for the length, offsets ascending and inside their data, dictionary indices inside
 *   their dictionary, every dictionary sent before it is used.
 *
 * Only then does apache-arrow decode the metadata (Message.decode) and lay out the columns
 * (VectorLoader): both are then bounded by the bytes of the message. A failure is a
 * SourceDataError naming the input, the byte offset of the message and the batch number.
 */
import * as A from 'apache-arrow';
import { VectorLoader } from 'apache-arrow/visitor/vectorloader';
import { CqPipeError, SourceDataError } from '../errors.js';
import { Footer } from 'apache-arrow/ipc/metadata/file';
import { checkData, checkFooter, checkMetadata, checkSchema, MESSAGE } from './ipc-check.js';

/** the largest metadata (flatbuffer) of one message read from a stream whose end is unknown */
export const MAX_METADATA = 64 << 20;
/** the largest body of one message read from a stream whose end is unknown (a pipe segment's batch) */
export const MAX_BODY = 1 << 30;

/** The bytes of an input, read front to back. */
export interface IpcBytes {
  /** up to `n` bytes from the current position (fewer only at the end), advancing past them */
  take(n: number): Promise<Uint8Array>;
  /** bytes read so far (the offset of the next byte) */
  readonly position: number;
  /** bytes left before the end, when the end is known (a file) */
  readonly left: number | undefined;
  /** stop reading: the input is released (a stream is ended, so that stdin lets the process exit) */
  close?(): Promise<void>;
}

/** The bytes [start, end) of a Blob-like input (a local file, an S3 object), read ahead 4 MiB at a time. */
export function blobBytes(blob: { slice(start?: number, end?: number): { arrayBuffer(): Promise<ArrayBuffer> } }, start: number, end: number): IpcBytes {
  const AHEAD = 4 << 20;
  let pos = start;
  let win = new Uint8Array(0);
  let winAt = start;
  return {
    get position() {
      return pos;
    },
    get left() {
      return end - pos;
    },
    async take(n) {
      const want = Math.max(0, Math.min(n, end - pos));
      if (pos < winAt || pos + want > winAt + win.length) {
        const size = Math.max(want, Math.min(AHEAD, end - pos));
        win = new Uint8Array(await blob.slice(pos, pos + size).arrayBuffer());
        winAt = pos;
      }
      const out = win.subarray(pos - winAt, pos - winAt + want);
      pos += out.length;
      return out;
    },
  };
}

/** The bytes of a stream of chunks (stdin), gathered only as far as a read needs and as they arrive. */
export function chunkBytes(input: AsyncIterable<Uint8Array>): IpcBytes {
  const it = input[Symbol.asyncIterator]();
  const chunks: Uint8Array[] = [];
  let buffered = 0;
  let done = false;
  let pos = 0;
  return {
    get position() {
      return pos;
    },
    left: undefined,
    async close() {
      done = true;
      chunks.length = 0;
      await it.return?.();
    },
    async take(n) {
      while (buffered < n && !done) {
        const r = await it.next();
        if (r.done) done = true;
        else if (r.value.length) {
          chunks.push(r.value);
          buffered += r.value.length;
        }
      }
      const want = Math.min(n, buffered);
      let out: Uint8Array;
      if (chunks.length && chunks[0]!.length >= want) {
        out = chunks[0]!.subarray(0, want);
        chunks[0] = chunks[0]!.subarray(want);
        if (!chunks[0]!.length) chunks.shift();
      } else {
        // every byte is written below: no need to zero them first
        const b = Buffer.allocUnsafe(want);
        out = new Uint8Array(b.buffer, b.byteOffset, want);
        let k = 0;
        while (k < want) {
          const c = chunks[0]!;
          const m = Math.min(c.length, want - k);
          out.set(c.subarray(0, m), k);
          k += m;
          if (m === c.length) chunks.shift();
          else chunks[0] = c.subarray(m);
        }
      }
      buffered -= want;
      pos += want;
      return out;
    },
  };
}

export interface IpcMessage {
  message: A.Message;
  /** the message body (8-byte aligned) */
  body: Uint8Array;
  /** byte offset of the message in the input */
  at: number;
  /** a schema message whose bytes repeat the previous schema's: that schema, already checked */
  schema?: A.Schema;
}

/** what a reader names in its errors */
export interface IpcWhere {
  /** the input: a file name, or `stdin` */
  file: string;
  /** the first words of a message, e.g. "stdin is not a valid cq-pipe Arrow stream" */
  what: string;
}

/** rows a batch may claim beyond what its body could hold a bit each (null-typed columns take no bytes) */
const MAX_FREE_ROWS = 1 << 24;

const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Reads one message at a time from `bytes`; `eos` at an end-of-stream marker, undefined at the end of the input. */
export class IpcMessageReader {
  constructor(
    private readonly bytes: IpcBytes,
    readonly where: IpcWhere,
  ) {}

  /** the IPC stream being read, counted from 1, when the input holds several (the pipe format's segments) */
  segment: number | undefined;

  /** the number of the record batch being read (set by IpcStreamReader): errors name it */
  batch: number | undefined;

  /**
   * the metadata bytes of the last schema read, with its checked schema: the segments of a pipe
   * repeat their table's schema, which is then decoded and checked once (equal bytes, equal result)
   */
  #lastSchema: { meta: Buffer; message: A.Message; schema: A.Schema } | undefined;

  /** keeps a checked schema for the next schema message with the same bytes */
  rememberSchema(m: IpcMessage & { meta: Uint8Array }, schema: A.Schema): void {
    this.#lastSchema = { meta: Buffer.from(m.meta), message: m.message, schema };
  }

  /** a length beyond the bytes left in the input (`left`), or beyond `cap` on an input of unknown length */
  #tooLong(at: number, what: string, n: number, left: number | undefined, cap: number): SourceDataError {
    return this.damaged(
      at,
      left !== undefined ? `the ${what} length ${n} exceeds the ${left} bytes left in the input` : `the ${what} length ${n} exceeds the limit of ${cap} bytes`,
    );
  }

  damaged(at: number, why: string, cause?: unknown, batch = this.batch): SourceDataError {
    const parts = [this.segment !== undefined ? `segment ${this.segment}` : '', batch !== undefined ? `record batch ${batch}` : ''].filter(Boolean);
    const where = parts.length ? `byte ${at} (${parts.join(', ')})` : `byte ${at}`;
    return new SourceDataError(`${this.where.what}: damaged Arrow IPC data at ${where}: ${why}`, { file: this.where.file }, cause);
  }

  get position(): number {
    return this.bytes.position;
  }

  async next(): Promise<(IpcMessage & { meta: Uint8Array }) | 'eos' | undefined> {
    const at = this.bytes.position;
    let head = await this.bytes.take(4);
    if (head.length === 0) return undefined;
    if (head.length < 4) throw this.damaged(at, `the input ends inside a message's length (${head.length} of 4 bytes)`);
    let len = dv(head).getInt32(0, true);
    if (len === -1) {
      // the continuation marker, then the length
      head = await this.bytes.take(4);
      if (head.length < 4) throw this.damaged(at, `the input ends inside a message's length (${4 + head.length} of 8 bytes)`);
      len = dv(head).getInt32(0, true);
    }
    if (len === 0) return 'eos';
    const left = this.bytes.left;
    if (len < 0) throw this.damaged(at, `a negative metadata length (${len})`);
    if (len > (left ?? MAX_METADATA)) throw this.#tooLong(at, 'metadata', len, left, MAX_METADATA);
    const meta = await this.bytes.take(len);
    if (meta.length < len) throw this.damaged(at, `the input ends inside a message's metadata (${meta.length} of ${len} bytes)`);
    const afterMeta = this.bytes.left;
    const bodyLimit = afterMeta ?? MAX_BODY;
    const last = this.#lastSchema;
    const repeated = last?.meta.equals(meta) ? last : undefined;
    let message: A.Message;
    if (repeated) message = repeated.message;
    else {
      try {
        checkMetadata(meta, bodyLimit, afterMeta !== undefined ? `the ${afterMeta} bytes left in the input` : `the limit of ${MAX_BODY} bytes`);
        message = A.Message.decode(meta);
      } catch (err) {
        throw this.damaged(at, (err as Error).message, err);
      }
    }
    const n = message.bodyLength;
    if (n > bodyLimit) throw this.#tooLong(at, 'body', n, afterMeta, MAX_BODY);
    let body = await this.bytes.take(n);
    if (body.length < n) throw this.damaged(at, `the input ends inside a message's body (${body.length} of ${n} bytes)`);
    if (body.byteOffset % 8 !== 0) {
      // typed arrays over the body need aligned offsets (a Buffer's slice() would be a view, not a copy)
      const copy = new Uint8Array(n);
      copy.set(body);
      body = copy;
    }
    return { message, body, at, meta, ...(repeated ? { schema: repeated.schema } : {}) };
  }
}

/**
 * Schema, dictionaries and record batches of one IPC stream (or of an IPC file's messages), checked.
 * `open()` reads up to the schema; `next()` gives the next record batch, or undefined at the end
 * of the stream (an end-of-stream marker, or the end of the input).
 */
export class IpcStreamReader implements AsyncIterable<A.RecordBatch> {
  schema!: A.Schema;
  /** record batches read so far */
  batches = 0;
  private readonly dictionaries = new Map<number, A.Vector>();
  private ended = false;

  constructor(private readonly messages: IpcMessageReader) {}

  /** the schema came from an IPC file's footer: a schema message among the messages is skipped */
  private footerSchema = false;

  /** takes the (checked) schema of an IPC file's footer instead of reading a schema message */
  useSchema(schema: A.Schema): void {
    this.schema = schema;
    this.footerSchema = true;
  }

  /** reads the schema message; false when the input holds no further message */
  async open(): Promise<boolean> {
    this.messages.batch = undefined;
    const m = await this.messages.next();
    if (m === undefined) return false;
    if (m === 'eos') throw this.messages.damaged(this.messages.position - 8, 'an end-of-stream marker where a schema was expected');
    if (!m.message.isSchema())
      throw this.messages.damaged(m.at, `a ${MESSAGE[m.message.headerType] ?? `type ${m.message.headerType}`} message where a schema was expected`);
    if (m.schema) this.schema = m.schema;
    else {
      try {
        this.schema = m.message.header() as A.Schema;
        checkSchema(this.schema);
      } catch (err) {
        throw this.messages.damaged(m.at, (err as Error).message, err);
      }
      this.messages.rememberSchema(m, this.schema);
    }
    this.dictionaries.clear();
    this.batches = 0;
    this.messages.batch = undefined;
    this.ended = false;
    return true;
  }

  async next(): Promise<A.RecordBatch | undefined> {
    while (!this.ended) {
      this.messages.batch = this.batches + 1;
      const m = await this.messages.next();
      if (m === undefined || m === 'eos') {
        this.ended = true;
        return undefined;
      }
      const { message, body, at } = m;
      const batch = this.batches + 1;
      if (message.isSchema() && this.footerSchema) continue; // the file's copy of the footer's schema
      try {
        if (message.isRecordBatch()) {
          const header = message.header() as unknown as RecordBatchHeader;
          this.batches++;
          return this.loadBatch(header, body, message.version);
        }
        if (message.isDictionaryBatch()) {
          this.loadDictionary(message.header() as unknown as DictionaryBatchHeader, body, message.version);
          continue;
        }
        throw new Error(
          `a ${MESSAGE[message.headerType] ?? `type ${message.headerType}`} message inside a stream (a second schema without an end-of-stream marker?)`,
        );
      } catch (err) {
        if (err instanceof CqPipeError) throw err;
        throw this.messages.damaged(at, (err as Error).message, err, batch);
      }
    }
    return undefined;
  }

  /** the record batches; a stream without any gives one empty batch of its schema, as apache-arrow's readers do */
  async *[Symbol.asyncIterator](): AsyncIterator<A.RecordBatch> {
    let any = false;
    for (let b = await this.next(); b; b = await this.next()) {
      any = true;
      yield b;
    }
    if (!any) {
      const children = this.schema.fields.map((f) => A.makeData({ type: f.type, length: 0, nullCount: 0 }));
      yield new A.RecordBatch(this.schema, A.makeData({ type: new A.Struct(this.schema.fields), length: 0, nullCount: 0, children }));
    }
  }

  private loadColumns(header: RecordBatchHeader, body: Uint8Array, version: A.MetadataVersion, types: A.DataType[]): A.Data[] {
    if (header.compression != null) throw new Error('the batch is compressed (LZ4 / ZSTD), which cq-pipe does not read; write it uncompressed');
    const loader = new VectorLoader(body, header.nodes, header.buffers, this.dictionaries, version, header.variadicBufferCounts);
    let data: A.Data[];
    try {
      data = loader.visitMany(types);
    } catch (err) {
      // a node or buffer the schema needs is missing: apache-arrow destructures undefined
      if (err instanceof TypeError) throw new Error(`its ${header.nodes.length} column nodes and ${header.buffers.length} buffers do not match the schema`);
      throw err;
    }
    for (const d of data) checkData(d);
    return data;
  }

  private loadBatch(header: RecordBatchHeader, body: Uint8Array, version: A.MetadataVersion): A.RecordBatch {
    const fields = this.schema.fields;
    // every column but a null-typed one spends at least a bit a row: billions of rows in a few
    // bytes (all columns null-typed, or none) would be a loop without end for whoever reads them
    if (header.length > MAX_FREE_ROWS && body.length * 8 < header.length)
      throw new Error(`the batch claims ${header.length} rows in a body of ${body.length} bytes`);
    for (const f of fields) {
      const id = dictionaryIds(f.type).find((x) => !this.dictionaries.has(x));
      if (id !== undefined) throw new Error(`column "${f.name}" uses dictionary id ${id}, which was never sent before this batch`);
    }
    const children = this.loadColumns(
      header,
      body,
      version,
      fields.map((f) => f.type),
    );
    children.forEach((c, i) => {
      if (c.length !== header.length) throw new Error(`column "${fields[i]!.name}" has ${c.length} rows, the batch ${header.length}`);
    });
    return new A.RecordBatch(this.schema, A.makeData({ type: new A.Struct(fields), length: header.length, nullCount: 0, children }));
  }

  private loadDictionary(header: DictionaryBatchHeader, body: Uint8Array, version: A.MetadataVersion): void {
    const type = this.schema.dictionaries.get(header.id);
    if (!type) throw new Error(`a dictionary batch for dictionary id ${header.id}, which no column of the schema uses`);
    const [data] = this.loadColumns(header.data, body, version, [type]);
    const vector = A.makeVector(data!);
    const prior = this.dictionaries.get(header.id);
    this.dictionaries.set(header.id, header.isDelta && prior ? prior.concat(vector) : vector);
  }
}

/** the dictionary ids a type uses, at any depth */
function dictionaryIds(t: A.DataType): number[] {
  const own = t.typeId === A.Type.Dictionary ? [(t as A.Dictionary).id, ...dictionaryIds((t as A.Dictionary).dictionary)] : [];
  return [...own, ...(t.children ?? []).flatMap((c) => dictionaryIds(c.type))];
}

interface RecordBatchHeader {
  length: number;
  nodes: { length: number; nullCount: number }[];
  buffers: { offset: number; length: number }[];
  compression?: unknown;
  variadicBufferCounts: number[];
}

interface DictionaryBatchHeader {
  id: number;
  isDelta: boolean;
  data: RecordBatchHeader;
}

/**
 * Every IPC stream of a concatenation of streams (the pipe format: one per segment), each read
 * to its end-of-stream marker before the next is opened.
 */
export async function* ipcStreams(input: AsyncIterable<Uint8Array>, where: IpcWhere): AsyncGenerator<IpcStreamReader> {
  const bytes = chunkBytes(input);
  const messages = new IpcMessageReader(bytes, where);
  try {
    for (let k = 1; ; k++) {
      messages.segment = k;
      const reader = new IpcStreamReader(messages);
      if (!(await reader.open())) return;
      yield reader;
      // whatever the consumer left unread of this stream
      while (await reader.next());
    }
  } finally {
    // ended early (an error, or the consumer stopped): the input is released
    await bytes.close?.();
  }
}

const FILE_MAGIC = 'ARROW1';

/**
 * The record batches of an Arrow IPC file (magic, messages, footer) or of a file holding one IPC
 * stream, read front to back through its messages: the footer (whose block offsets a damaged file
 * can point anywhere) is only used to know where the messages end.
 */
export async function openIpcFile(
  blob: { size: number; slice(start?: number, end?: number): { arrayBuffer(): Promise<ArrayBuffer> } },
  where: IpcWhere,
): Promise<IpcStreamReader> {
  const size = blob.size;
  const damaged = (why: string) => new SourceDataError(`${where.what}: ${why}`, { file: where.file });
  const head = size >= 8 ? new Uint8Array(await blob.slice(0, 8).arrayBuffer()) : new Uint8Array(0);
  let start = 0;
  let end = size;
  if (String.fromCharCode(...head.subarray(0, 6)) === FILE_MAGIC) {
    // <magic, padded to 8> <messages> <footer> <int32 footer length> <magic>
    const tail = size >= 18 ? new Uint8Array(await blob.slice(size - 10, size).arrayBuffer()) : new Uint8Array(0);
    if (tail.length < 10 || String.fromCharCode(...tail.subarray(4)) !== FILE_MAGIC)
      throw damaged(`the file starts as an Arrow IPC file but does not end with its footer (${size} bytes: truncated?)`);
    const footer = dv(tail).getInt32(0, true);
    if (footer <= 0 || footer > size - 18)
      throw damaged(`damaged Arrow IPC data at byte ${size - 10}: a footer length of ${footer} bytes does not fit the file`);
    start = 8;
    end = size - 10 - footer;
    const bytes = new Uint8Array(await blob.slice(end, end + footer).arrayBuffer());
    let schema: A.Schema;
    try {
      checkFooter(bytes);
      schema = Footer.decode(bytes).schema;
      checkSchema(schema);
    } catch (err) {
      throw new SourceDataError(`${where.what}: damaged Arrow IPC data at byte ${end} (the footer): ${(err as Error).message}`, { file: where.file }, err);
    }
    const reader = new IpcStreamReader(new IpcMessageReader(blobBytes(blob, start, end), where));
    reader.useSchema(schema);
    return reader;
  }
  const reader = new IpcStreamReader(new IpcMessageReader(blobBytes(blob, start, end), where));
  if (!(await reader.open())) throw damaged(size === 0 ? 'the file is empty' : 'the file holds no Arrow schema');
  return reader;
}
