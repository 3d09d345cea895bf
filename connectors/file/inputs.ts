/**
 * Where the file source's bytes come from. The formats (formats/*) read an InputFile, never a
 * path: a local file here, an S3 object in connectors/s3/object-input.ts. Text formats stream
 * the bytes; Parquet and Arrow IPC read by ranges, so a file is never held whole in memory.
 */
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { fileSignature } from './incremental.js';

/**
 * What parquet-wasm's ParquetFile.fromFile and the Arrow IPC reader (lib/arrow/ipc-read.ts) read:
 * `size`, and `slice(start, end).arrayBuffer()`.
 */
export interface BlobLike {
  readonly size: number;
  slice(start?: number, end?: number): BlobLike;
  arrayBuffer(): Promise<ArrayBuffer>;
}

export interface InputFile {
  /** names the input in errors and in incremental state: an absolute path, or s3://bucket/key */
  readonly name: string;
  /** the bytes as stored (still gzipped for .gz) */
  stream(): Readable;
  /** random access for Parquet and Arrow IPC (file or stream format) */
  blob(): Promise<BlobLike | Blob>;
  /** what incremental tables compare between syncs: "mtimeMs:size" for files, the ETag for objects */
  signature(): Promise<string>;
}

/** A local file. */
export function localFile(file: string): InputFile {
  return {
    name: file,
    stream: () => fs.createReadStream(file, { highWaterMark: 1 << 20 }),
    blob: () => fs.openAsBlob(file),
    signature: () => fileSignature(file),
  };
}
