/**
 * Parquet through parquet-wasm's streaming writer (`transformParquetStream`): batches go in as
 * they come, row groups of up to ROW_GROUP_ROWS rows are encoded and flushed to the file as they
 * fill, and the footer is written at `finish`. Memory stays bounded by one row group, whether a
 * file holds one batch or a whole no_rotate sync.
 *
 * Before writing, CloudQuery extension columns become strings readers understand: uuid
 * (FixedSizeBinary(16)) → Utf8 canonical text, json and inet (Binary) → Utf8; field metadata
 * (ARROW:extension:name, cq:* flags) is kept in the file's Arrow schema. Every other type maps
 * natively (timestamp → TIMESTAMP(µs, UTC-adjusted), decimal → DECIMAL, date32 → DATE, list → LIST,
 * struct → group), so DuckDB and pyarrow read the right types.
 */
import * as A from 'apache-arrow';
import { ReadableStream, type ReadableStreamDefaultController } from 'node:stream/web';
import { extensionOf } from '../../../lib/types.js';
import { SchemaIncompatibleError } from '../../../lib/errors.js';
import { FileSink } from './sink.js';
import type { ByteSink } from './byte-sink.js';
import type { FormatWriter } from './index.js';

type ParquetWasm = typeof import('parquet-wasm');
let wasm: Promise<ParquetWasm> | undefined;
/** parquet-wasm, loaded on first use (its WebAssembly module is a few MB) */
export function parquetWasm(): Promise<ParquetWasm> {
  wasm ??= import('parquet-wasm');
  return wasm;
}

export const ROW_GROUP_ROWS = 64 * 1024;

const HEX = Array.from({ length: 16 }, (_, i) => '0123456789abcdef'.charCodeAt(i));

/** uuid bytes → Utf8 canonical strings (36 bytes each), nulls kept. */
function uuidStrings(data: A.Data): A.Data<A.Utf8> {
  const n = data.length;
  const src = data.values as Uint8Array;
  const out = new Uint8Array(n * 36);
  const offsets = new Int32Array(n + 1);
  let p = 0;
  for (let i = 0; i < n; i++) {
    const base = i * 16;
    for (let k = 0; k < 16; k++) {
      if (k === 4 || k === 6 || k === 8 || k === 10) out[p++] = 0x2d;
      const x = src[base + k]!;
      out[p++] = HEX[x >> 4]!;
      out[p++] = HEX[x & 15]!;
    }
    offsets[i + 1] = p;
  }
  return A.makeData({ type: new A.Utf8(), length: n, nullCount: data.nullCount, nullBitmap: realignedBitmap(data), valueOffsets: offsets, data: out });
}

/** The validity bitmap of `data` starting at bit 0 (undefined when no nulls). */
function realignedBitmap(data: A.Data): Uint8Array | undefined {
  if (!data.nullBitmap || data.nullBitmap.length === 0 || data.nullCount === 0) return undefined;
  const n = data.length;
  const off = data.offset;
  if (off % 8 === 0) return data.nullBitmap.subarray(off >> 3, (off >> 3) + ((n + 7) >> 3));
  const bm = new Uint8Array((n + 7) >> 3);
  const src = data.nullBitmap;
  for (let i = 0; i < n; i++) if ((src[(off + i) >> 3]! >> ((off + i) & 7)) & 1) bm[i >> 3]! |= 1 << (i & 7);
  return bm;
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

/** Column data converted to `target` (from parquetField). Zero-copy except for uuids. */
function parquetData(f: A.Field, target: A.Field, data: A.Data): A.Data {
  if (f === target) return data;
  const ext = extensionOf(f);
  if (ext === 'uuid' && data.typeId === A.Type.FixedSizeBinary) return uuidStrings(data);
  if (ext) {
    // json / inet: the same bytes and offsets, typed as strings
    return data.typeId === A.Type.Utf8 ? data : data.clone(new A.Utf8());
  }
  const children = data.children.map((c, i) => parquetData(f.type.children[i]!, target.type.children[i]!, c));
  return data.clone(target.type, data.offset, data.length, data.nullCount, undefined, children);
}

export function parquetSchema(schema: A.Schema): A.Schema {
  const fields = schema.fields.map(parquetField);
  return fields.every((f, i) => f === schema.fields[i]) ? schema : new A.Schema(fields, schema.metadata);
}

export function toParquetBatch(batch: A.RecordBatch, source: A.Schema, target: A.Schema): A.RecordBatch {
  if (source === target) return batch;
  const children = source.fields.map((f, i) => parquetData(f, target.fields[i]!, batch.data.children[i]!));
  return new A.RecordBatch(target, A.makeData({ type: new A.Struct(target.fields), length: batch.numRows, nullCount: 0, children }));
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
  return a.fields.length === b.fields.length && a.fields.every((f, i) => f.name === b.fields[i]!.name && A.util.compareTypes(f.type, b.fields[i]!.type) && extensionOf(f) === extensionOf(b.fields[i]!));
}

export class ParquetWriter implements FormatWriter {
  rows = 0;
  readonly #sink: ByteSink;
  readonly #schema: A.Schema;
  readonly #target: A.Schema;
  readonly #pw: ParquetWasm;
  #ctrl!: ReadableStreamDefaultController<unknown>;
  #pulled: (() => void) | undefined;
  #pump: Promise<void> | undefined;
  #error: Error | undefined;
  readonly #input: ReadableStream<unknown>;

  private constructor(pw: ParquetWasm, sink: ByteSink, schema: A.Schema) {
    this.#pw = pw;
    this.#sink = sink;
    this.#schema = schema;
    this.#target = parquetSchema(schema);
    this.#input = new ReadableStream<unknown>(
      {
        start: (c) => {
          this.#ctrl = c;
        },
        pull: () => {
          const r = this.#pulled;
          this.#pulled = undefined;
          r?.();
        },
      },
      { highWaterMark: 1 },
    );
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
        throw new SchemaIncompatibleError(`column ${bad} is a union, which Parquet cannot store`, { column: f.name, phase: 'write' }, 'write this table with format arrow or ndjson');
      }
    }
    const pw = await parquetWasm();
    const sink = await openSink();
    return new ParquetWriter(pw, sink, schema);
  }

  get path(): string {
    return this.#sink.path;
  }

  #start(): void {
    const props = new this.#pw.WriterPropertiesBuilder()
      .setCompression(this.#pw.Compression.SNAPPY)
      .setMaxRowGroupSize(ROW_GROUP_ROWS)
      .setCreatedBy('cq-pipe')
      .build();
    // not awaited before the first batch is queued: the stream starts by pulling one
    const out = this.#pw.transformParquetStream(this.#input as unknown as globalThis.ReadableStream, props);
    this.#pump = (async () => {
      const bytes = (await out) as unknown as AsyncIterable<Uint8Array>;
      for await (const chunk of bytes) await this.#sink.write(chunk);
    })();
    this.#pump.catch((err: unknown) => {
      this.#error ??= err instanceof Error ? err : new Error(String(err));
      const r = this.#pulled;
      this.#pulled = undefined;
      r?.();
    });
  }

  async write(batches: A.RecordBatch[]): Promise<void> {
    if (this.#error) throw this.#error;
    const parts = batches.filter((b) => b.numRows > 0);
    if (!parts.length) return;
    for (const b of parts) {
      if (b.schema !== this.#schema && !sameShape(b.schema, this.#schema)) {
        throw new SchemaIncompatibleError(`batch columns changed within one Parquet file ${this.#sink.path}`, { phase: 'write' });
      }
    }
    const converted = parts.map((b) => toParquetBatch(b, this.#schema, this.#target));
    const table = this.#pw.Table.fromIPCStream(A.tableToIPC(new A.Table(this.#target, converted), 'stream'));
    const wasmBatches = table.recordBatches();
    table.free();
    if (!this.#pump) this.#start();
    for (const wb of wasmBatches) {
      this.#ctrl.enqueue(wb);
      if ((this.#ctrl.desiredSize ?? 0) <= 0) await new Promise<void>((resolve) => (this.#pulled = resolve));
      if (this.#error) throw this.#error;
    }
    this.rows += parts.reduce((n, b) => n + b.numRows, 0);
  }

  async finish(): Promise<void> {
    if (this.#error) throw this.#error;
    if (!this.#pump) {
      // no rows: a valid file with the schema and no row groups
      const table = this.#pw.Table.fromIPCStream(A.tableToIPC(new A.Table(this.#target), 'stream'));
      await this.#sink.write(this.#pw.writeParquet(table, new this.#pw.WriterPropertiesBuilder().setCompression(this.#pw.Compression.SNAPPY).build()));
    } else {
      this.#ctrl.close();
      await this.#pump;
    }
    await this.#sink.end();
  }

  async discard(): Promise<void> {
    this.#error ??= new Error(`${this.#sink.path} discarded`);
    try {
      this.#ctrl.error(this.#error);
    } catch {
      // already closed
    }
    await this.#pump?.catch(() => {});
    await this.#sink.discard();
  }
}
