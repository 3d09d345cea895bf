/**
 * Where the file source's bytes come from. The formats (formats/*) read an InputFile, never a
 * path: a local file here, an S3 object in connectors/s3/object-input.ts. Text formats stream
 * the bytes; Parquet and Arrow IPC read by ranges, so a file is never held whole in memory.
 */
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { fileSignature } from './incremental.js';
import { SourceDataError } from '../../lib/errors.js';

/**
 * What apache-arrow's RecordBatchReader.from treats as a random-access file (it checks `fd` and
 * `stat`): an fs FileHandle, or a lookalike whose `read` fetches a range.
 */
export interface RandomAccessHandle {
  fd: number;
  stat(): Promise<{ size: number }>;
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number; buffer: Uint8Array }>;
  close(): Promise<void>;
}

/** What parquet-wasm's ParquetFile.fromFile reads: `size`, and `slice(start, end).arrayBuffer()`. */
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
  /** random access for Parquet */
  blob(): Promise<BlobLike | Blob>;
  /** random access for Arrow IPC (file or stream format) */
  handle(): Promise<RandomAccessHandle | fs.promises.FileHandle>;
  /** what incremental tables compare between syncs: "mtimeMs:size" for files, the ETag for objects */
  signature(): Promise<string>;
}

/** A local file. */
export function localFile(file: string): InputFile {
  return {
    name: file,
    stream: () => fs.createReadStream(file, { highWaterMark: 1 << 20 }),
    blob: () => fs.openAsBlob(file),
    handle: () => boundedHandle(file),
    signature: () => fileSignature(file),
  };
}

/**
 * A local file for apache-arrow's random-access reader, whose reads must stay inside the file: a
 * damaged footer can point before its start or past its end, where apache-arrow's read loop gets
 * no bytes and spins forever. Such a read fails as damaged data naming the file.
 */
async function boundedHandle(file: string): Promise<RandomAccessHandle> {
  const fh = await fs.promises.open(file, 'r');
  const { size } = await fh.stat();
  const outside = (position: number, length: number) =>
    new SourceDataError(`a read of ${length} bytes at offset ${position} lies outside the file (${size} bytes): the file is damaged`, { file });
  return {
    fd: fh.fd,
    stat: async () => ({ size }),
    async read(buffer, offset, length, position) {
      if (!Number.isSafeInteger(position) || position < 0 || length < 0 || position + length > size) throw outside(position, length);
      const r = await fh.read(buffer, offset, length, position);
      if (r.bytesRead === 0 && length > 0) throw outside(position, length);
      return r;
    },
    close: () => fh.close(),
  };
}
