/**
 * An S3 object as an InputFile of the file source's formats (connectors/file/inputs.ts):
 *   - stream(): the GetObject body, resumed with a Range request from the last byte received if
 *     the connection drops mid-object (up to max_attempts times);
 *   - blob(): a Blob lookalike for parquet-wasm and the Arrow IPC reader whose slice(a, b).arrayBuffer() is a ranged
 *     GetObject, so Parquet is read footer first and then one row group's column chunks at a time;
 *   - signature(): the ETag from the listing (incremental tables skip objects already loaded).
 * Every read names the ETag it was listed with (If-Match), so an object replaced during a sync
 * fails its table instead of mixing two versions.
 */
import { Readable } from 'node:stream';
import { GetObjectCommand, type GetObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { SourceReadError } from '../../lib/errors.js';
import { retryAfter, type Backoff } from '../../lib/retry.js';
import type { BlobLike, InputFile } from '../file/inputs.js';
import { s3Reason, s3Status } from './client.js';

export interface S3ObjectRef {
  bucket: string;
  key: string;
  size: number;
  etag: string;
}

export interface S3InputOptions {
  client: S3Client;
  /** tries of a broken body stream (requests themselves are retried by the SDK) */
  maxAttempts: number;
  connector: string;
}

/** the wait before asking again for a body that broke: 200 ms, 400 ms, … capped at 5 s (the SDK has its own for requests) */
const BODY_BACKOFF: Backoff = { baseMs: 200, maxMs: 5000, jitter: false };

export class S3ObjectInput implements InputFile {
  readonly name: string;
  readonly #ref: S3ObjectRef;
  readonly #o: S3InputOptions;
  /** ranged GETs issued (for tests and debug logs) */
  rangeRequests = 0;

  constructor(ref: S3ObjectRef, opts: S3InputOptions) {
    this.#ref = ref;
    this.#o = opts;
    this.name = `s3://${ref.bucket}/${ref.key}`;
  }

  get size(): number {
    return this.#ref.size;
  }

  #error(what: string, err: unknown): SourceReadError {
    const status = s3Status(err);
    const reason = status === 412 ? 'the object changed since it was listed (ETag mismatch); run the sync again' : s3Reason(err);
    return new SourceReadError(`${what} ${this.name} failed: ${reason}`, { connector: this.#o.connector, file: this.name }, err);
  }

  async #get(range?: string): Promise<GetObjectCommandOutput> {
    const { bucket, key, etag } = this.#ref;
    return this.#o.client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(etag ? { IfMatch: etag } : {}), ...(range ? { Range: range } : {}) }));
  }

  /**
   * bytes [start, end) of the object. The SDK retries the request; a body that breaks after the
   * answer started (which the SDK does not retry) is asked for again, up to max_attempts times —
   * parquet-wasm cannot survive a failed read (its Blob reads must not fail for a transient cut).
   */
  async range(start: number, end: number): Promise<Uint8Array> {
    if (end <= start) return new Uint8Array(0);
    for (let failures = 0; ; ) {
      this.rangeRequests++;
      let out: GetObjectCommandOutput;
      try {
        out = await this.#get(`bytes=${start}-${end - 1}`);
      } catch (err) {
        throw this.#error(`reading bytes ${start}-${end - 1} of`, err);
      }
      try {
        const bytes = await out.Body!.transformToByteArray();
        if (bytes.byteLength !== end - start) {
          throw new SourceReadError(`asked for bytes ${start}-${end - 1}, got ${bytes.byteLength} bytes`, { connector: this.#o.connector, file: this.name });
        }
        return bytes;
      } catch (err) {
        const failed = this.#error(`reading bytes ${start}-${end - 1} of`, err);
        await retryAfter(failed, ++failures, { attempts: this.#o.maxAttempts, isRetryable: () => true, backoff: BODY_BACKOFF });
      }
    }
  }

  stream(): Readable {
    const self = this;
    async function* body(): AsyncGenerator<Uint8Array> {
      let offset = 0;
      let failures = 0;
      while (true) {
        let out: GetObjectCommandOutput;
        try {
          out = await self.#get(offset > 0 ? `bytes=${offset}-` : undefined);
        } catch (err) {
          throw self.#error('reading', err);
        }
        try {
          for await (const chunk of out.Body as Readable) {
            offset += (chunk as Uint8Array).byteLength;
            yield chunk as Uint8Array;
          }
          return;
        } catch (err) {
          // the reader stopped early (destroyed the stream: Readable.from throws its AbortError in here)
          if (readable.destroyed) throw err;
          // the connection broke mid-object: continue from the next byte (same ETag)
          const failed = self.#error(`reading (at byte ${offset})`, err);
          await retryAfter(failed, ++failures, { attempts: self.#o.maxAttempts, isRetryable: () => offset < self.#ref.size, backoff: BODY_BACKOFF });
        }
      }
    }
    const readable = Readable.from(body(), { objectMode: false, highWaterMark: 1 << 20 });
    return readable;
  }

  async blob(): Promise<BlobLike> {
    return new RangeBlob(this, 0, this.#ref.size);
  }

  async signature(): Promise<string> {
    return this.#ref.etag;
  }
}

/** Blob semantics over ranged reads: slice() is free, arrayBuffer() fetches exactly its range. */
class RangeBlob implements BlobLike {
  constructor(
    readonly input: S3ObjectInput,
    readonly start: number,
    readonly end: number,
  ) {}

  get size(): number {
    return this.end - this.start;
  }

  slice(start = 0, end = this.size): BlobLike {
    const clamp = (v: number) => Math.max(0, Math.min(this.size, v < 0 ? this.size + v : v));
    const a = clamp(start);
    const b = Math.max(a, clamp(end));
    return new RangeBlob(this.input, this.start + a, this.start + b);
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = await this.input.range(this.start, this.end);
    // parquet-wasm wants a plain ArrayBuffer holding exactly these bytes
    if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
    return bytes.slice().buffer as ArrayBuffer;
  }
}
