/**
 * Parquet with parquet-wasm, one row group at a time (never the whole file in memory): the input
 * is opened as a Blob (a local file, or ranged GETs of an S3 object), so only the footer and the
 * requested row group's column chunks are read.
 */
import * as A from 'apache-arrow';
import * as pw from 'parquet-wasm';
import { CqPipeError, SourceDataError, SourceReadError } from '../../../lib/errors.js';
import type { BlobLike, InputFile } from '../inputs.js';
import type { ColumnarFormat, ReadContext } from './index.js';

/**
 * parquet-wasm aborts its WebAssembly instance (an uncaught `RuntimeError: unreachable` that ends
 * the process) when a Blob read it awaits rejects, and hangs or aborts on bytes that are not what
 * it asked for. So the bytes it will ask for are fetched here first, where a failed read is an
 * ordinary error: the footer with up to 4 MiB before it (the page index, read when the file is
 * opened; small files whole) and each row group's column chunks (stored back to back after the
 * 4-byte magic, as writers lay them out) before it is decoded. Reads inside a fetched range are
 * answered from memory; any other read (a page index larger than 4 MiB, a file laid out
 * otherwise) goes to the input directly, where a failure still aborts.
 */
class PrefetchedBlob implements BlobLike {
  constructor(
    private readonly base: BlobLike | Blob,
    private readonly ranges: { start: number; bytes: Uint8Array }[],
    private readonly start = 0,
    private readonly end = base.size,
  ) {}

  get size(): number {
    return this.end - this.start;
  }

  slice(start = 0, end = this.size): BlobLike {
    const clamp = (x: number) => Math.max(0, Math.min(this.size, x < 0 ? this.size + x : x));
    return new PrefetchedBlob(this.base, this.ranges, this.start + clamp(start), this.start + clamp(end));
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const r = this.ranges.find((x) => x.start <= this.start && this.end <= x.start + x.bytes.byteLength);
    if (r) return r.bytes.slice(this.start - r.start, this.end - r.start).buffer as ArrayBuffer;
    return this.base.slice(this.start, this.end).arrayBuffer();
  }
}

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

interface OpenParquet {
  pf: pw.ParquetFile;
  base: BlobLike | Blob;
  ranges: { start: number; bytes: Uint8Array }[];
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
  const ranges = [{ start: tailStart, bytes: await fetchRange(base, file, tailStart, base.size) }];
  try {
    return { pf: await pw.ParquetFile.fromFile(new PrefetchedBlob(base, ranges) as unknown as Blob), base, ranges };
  } catch (err) {
    if (err instanceof CqPipeError) throw err;
    throw notParquet(String((err as Error).message ?? err), err);
  }
}

export const parquetFormat: ColumnarFormat = {
  kind: 'columnar',
  async schema(file: InputFile): Promise<A.Schema> {
    const { pf } = await open(file);
    try {
      return A.tableFromIPC(pf.schema().intoIPCStream()).schema;
    } finally {
      pf.free();
    }
  },
  async *read(file: InputFile, ctx: ReadContext & { batchRows: number }): AsyncIterable<A.RecordBatch> {
    const { pf, base, ranges } = await open(file);
    try {
      const md = pf.metadata();
      const groups = md.numRowGroups();
      let offset = 4; // after the leading "PAR1"
      for (let g = 0; g < groups; g++) {
        if (ctx.signal.aborted) return;
        const size = md.rowGroup(g).compressedSize();
        // this row group's bytes replace the previous one's (the footer stays)
        ranges.length = 1;
        if (size > 0 && offset < ranges[0]!.start && offset + size <= base.size)
          ranges.push({ start: offset, bytes: await fetchRange(base, file, offset, offset + size) });
        offset += size;
        let table: A.Table;
        try {
          const t = await pf.read({ rowGroups: [g], batchSize: ctx.batchRows });
          table = A.tableFromIPC(t.intoIPCStream());
        } catch (err) {
          if (err instanceof CqPipeError) throw err;
          throw new SourceDataError(`cannot decode row group ${g}: ${String((err as Error).message ?? err)}`, { file: file.name }, err);
        }
        for (const b of table.batches) yield b;
      }
    } finally {
      pf.free();
    }
  },
};
