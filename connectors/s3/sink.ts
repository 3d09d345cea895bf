/**
 * A ByteSink that streams into one S3 object with @aws-sdk/lib-storage's Upload: bytes are cut
 * into parts of PART_SIZE as they come and uploaded PART_QUEUE at a time (multipart; an object
 * under one part becomes a single PutObject), so no object is ever held whole in memory — at most
 * PART_QUEUE parts plus the stream buffer. The object appears only when the upload completes, so
 * readers never see a partial object; a failed or discarded upload is aborted here (not by
 * lib-storage, whose abort error would replace the cause: an S3 without AbortMultipartUpload, or
 * keys without s3:AbortMultipartUpload, would report that instead of the failure that happened).
 * S3Objects is the s3 destination's ObjectSink (connectors/object-writer/sink.ts) over it: objects
 * of one bucket, keys from the path template. docs/s3.md has the details.
 */
import { PassThrough, type Writable } from 'node:stream';
import { createGzip, type ZlibOptions } from 'node:zlib';
import {
  AbortMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type ObjectCannedACL,
  type S3Client,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { ConnectorContext } from '../../lib/connector.js';
import { DestinationWriteError, InternalError, type ErrorContext } from '../../lib/errors.js';
import type { ByteSink } from '../file/writers/byte-sink.js';
import type { FileFormat } from '../file/writers/index.js';
import type { ObjectSink, ObjectStream, SinkWords } from '../object-writer/sink.js';
import { checkBucket, createS3Client, s3Reason, type S3ConnectionSpec } from './client.js';

/** bytes per multipart part (S3's minimum is 5 MiB; 10,000 parts → objects up to ~78 GiB) */
export const PART_SIZE = 8 * 1024 * 1024;
/** parts uploaded concurrently per object */
export const PART_QUEUE = 2;
/** bytes buffered before `write` waits */
const HIGH_WATER_MARK = 4 * 1024 * 1024;

/** Object parameters a destination sets on every object (CloudQuery's `acl`, `content_type`, SSE keys). */
export interface ObjectParams {
  ACL?: ObjectCannedACL;
  ContentType?: string;
  ServerSideEncryption?: ServerSideEncryption;
  SSEKMSKeyId?: string;
}

export interface S3SinkOptions {
  client: S3Client;
  bucket: string;
  key: string;
  gzip: boolean;
  contentType?: string;
  /** multipart part size (default PART_SIZE) */
  partSize?: number;
  /** extra PutObject / CreateMultipartUpload parameters (ACL, server-side encryption) */
  params?: ObjectParams;
  /** called with the part count and bytes once the object is complete */
  onDone?: (info: { parts: number; bytes: number; etag?: string }) => void;
  /** called when a failed CompleteMultipartUpload turned out to have completed the object */
  onRecovered?: (reason: string) => void;
}

export class S3Sink implements ByteSink {
  readonly path: string;
  readonly #head: Writable;
  readonly #body: PassThrough;
  readonly #upload: Upload;
  readonly #done: Promise<void>;
  #error: Error | undefined;
  #ended = false;
  #parts = 0;
  #bytes = 0;
  /** bytes of the object as stored (after gzip) */
  #stored = 0;
  readonly #startedAt = Date.now();

  constructor(opts: S3SinkOptions) {
    this.path = `s3://${opts.bucket}/${opts.key}`;
    this.#body = new PassThrough({ highWaterMark: HIGH_WATER_MARK });
    if (opts.gzip) {
      const z = createGzip({ highWaterMark: HIGH_WATER_MARK } as ZlibOptions);
      z.on('error', (e) => this.#body.destroy(e));
      z.on('data', (c: Buffer) => {
        this.#stored += c.byteLength;
      });
      z.pipe(this.#body);
      this.#head = z;
    } else {
      this.#head = this.#body;
    }
    this.#upload = new Upload({
      client: opts.client,
      params: {
        Bucket: opts.bucket,
        Key: opts.key,
        Body: this.#body,
        // .gz objects are stored as gzip files (no Content-Encoding, so no client unpacks them by surprise)
        ...(opts.gzip ? { ContentType: 'application/gzip' } : opts.contentType ? { ContentType: opts.contentType } : {}),
        ...opts.params,
      },
      partSize: opts.partSize ?? PART_SIZE,
      queueSize: PART_QUEUE,
      leavePartsOnError: true, // aborted in #abort, keeping the cause
    });
    this.#upload.on('httpUploadProgress', (p) => {
      if (p.part !== undefined) this.#parts = Math.max(this.#parts, p.part);
    });
    this.#done = this.#upload.done().then(
      (out) => {
        opts.onDone?.({ parts: this.#parts, bytes: this.#bytes, etag: (out as { ETag?: string }).ETag });
      },
      async (err: unknown) => {
        const e = err instanceof Error ? err : this.#failure(String(err));
        if (await this.#completedAnyway(opts)) {
          opts.onRecovered?.(s3Reason(err));
          opts.onDone?.({ parts: this.#parts, bytes: this.#bytes });
          return;
        }
        this.#error ??= e;
        this.#head.destroy();
        await this.#abort(opts, e);
        throw e;
      },
    );
    this.#done.catch(() => {});
  }

  /**
   * A CompleteMultipartUpload whose answer was lost may have completed the object: the SDK's retry
   * then fails on S3-compatible stores that forget a completed upload (AWS answers it with 200).
   * The object counts as ours when every byte was handed over, and the key now holds an object of
   * exactly that size written since this upload started. Anything else is a failure.
   */
  async #completedAnyway(opts: S3SinkOptions): Promise<boolean> {
    if (!this.#ended || !this.#upload.uploadId || this.#error || !this.#body.readableEnded) return false;
    const size = this.#head === this.#body ? this.#bytes : this.#stored;
    try {
      const head = await opts.client.send(new HeadObjectCommand({ Bucket: opts.bucket, Key: opts.key }));
      // LastModified has whole seconds
      return head.ContentLength === size && head.LastModified !== undefined && head.LastModified.getTime() >= Math.floor(this.#startedAt / 1000) * 1000;
    } catch {
      return false;
    }
  }

  /** abort the multipart upload (if one was started); an abort failure is added to the cause's message */
  async #abort(opts: S3SinkOptions, cause: Error): Promise<void> {
    const uploadId = this.#upload.uploadId;
    if (!uploadId) return;
    try {
      await opts.client.send(new AbortMultipartUploadCommand({ Bucket: opts.bucket, Key: opts.key, UploadId: uploadId }));
    } catch (err) {
      cause.message =
        `${cause.message ? `${cause.message}; ` : ''}aborting the multipart upload failed too, so its parts stay until aborted or ` +
        `removed by a lifecycle rule: ${s3Reason(err)}`;
    }
  }

  /** a failure of this upload (the object writer adds the connector and table) */
  #failure(message: string): DestinationWriteError {
    return new DestinationWriteError(message, { file: this.path, phase: 'write' });
  }

  async write(chunk: Uint8Array | string): Promise<void> {
    if (this.#error) throw this.#error;
    if (this.#ended) throw new InternalError(`write after end of ${this.path}`, { file: this.path, phase: 'write' });
    const n = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    if (n === 0) return;
    this.#bytes += n;
    if (this.#head.write(chunk)) return;
    await new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        cleanup();
        resolve();
      };
      const onFail = () => {
        cleanup();
        reject(this.#error ?? this.#failure(`${this.path} closed`));
      };
      const cleanup = () => {
        this.#head.off('drain', onDrain);
        this.#head.off('close', onFail);
      };
      this.#head.once('drain', onDrain);
      this.#head.once('close', onFail);
      this.#done.catch(onFail);
    });
    if (this.#error) throw this.#error;
  }

  /** Flush and complete the upload; resolves when the object exists. */
  async end(): Promise<void> {
    if (this.#error) throw this.#error;
    this.#ended = true;
    this.#head.end();
    await this.#done;
  }

  /**
   * Stop and abort. The body fails (so the Upload never sends what it has as a complete object)
   * and the Upload aborts its multipart upload before `done()` settles. Never throws.
   */
  async discard(): Promise<void> {
    this.#ended = true;
    const err = (this.#error ??= this.#failure(`${this.path} discarded`));
    this.#body.destroy(err);
    if (this.#head !== this.#body) this.#head.destroy();
    await this.#done.catch(() => {});
  }
}

const CONTENT_TYPES: Record<FileFormat, string> = {
  parquet: 'application/vnd.apache.parquet',
  ndjson: 'application/x-ndjson',
  csv: 'text/csv; charset=utf-8',
  arrow: 'application/vnd.apache.arrow.stream',
};

/** An object written by the s3 destination (for logs and tests). */
export interface WrittenObject {
  table: string;
  key: string;
  rows: number;
  /** multipart parts uploaded (1: a single PutObject) */
  parts: number;
  bytes: number;
  etag?: string;
}

/** What the s3 destination's spec sets on its objects. */
export interface S3ObjectOptions {
  partSize?: number;
  params?: ObjectParams;
  /** the key of the `test_write` object, when it is on */
  testWriteKey?: string;
}

/**
 * The objects of one bucket: names are keys, each written by an S3Sink. The bucket is checked with
 * HeadBucket before the first write; `close` destroys the client.
 */
export class S3Objects implements ObjectSink {
  readonly words: SinkWords = { noun: 'object', done: 'completed', writing: 'uploading', finishing: 'completing' };
  readonly schemaErrorsFailTable = false;
  readonly #spec: S3ConnectionSpec;
  readonly #format: FileFormat;
  readonly #ctx: ConnectorContext;
  readonly #client: S3Client;
  #bucketChecked: Promise<void> | undefined;
  readonly written: WrittenObject[] = [];

  readonly #options: S3ObjectOptions;

  constructor(spec: S3ConnectionSpec, format: FileFormat, ctx: ConnectorContext, options: S3ObjectOptions = {}) {
    this.#spec = spec;
    this.#format = format;
    this.#ctx = ctx;
    this.#client = createS3Client(spec);
    this.#options = options;
  }

  name(rendered: string): string {
    return rendered;
  }

  location(key: string): string {
    return `s3://${this.#spec.bucket}/${key}`;
  }

  reason(err: unknown): string {
    return s3Reason(err);
  }

  prepare(): Promise<void> {
    const fail = (msg: string, context: ErrorContext, cause: unknown) => new DestinationWriteError(msg, context, cause);
    this.#bucketChecked ??= checkBucket(this.#client, this.#spec, { connector: this.#ctx.name }, fail).then(() => this.#testWrite());
    return this.#bucketChecked;
  }

  /** CloudQuery's `test_write`: an empty object where a table's file would go, so missing write access fails before any row */
  async #testWrite(): Promise<void> {
    const key = this.#options.testWriteKey;
    if (key === undefined) return;
    try {
      await this.#client.send(new PutObjectCommand({ Bucket: this.#spec.bucket, Key: key, Body: new Uint8Array(0), ...this.#options.params }));
    } catch (err) {
      throw new DestinationWriteError(`test_write: cannot write ${this.location(key)}: ${s3Reason(err)}`, { connector: this.#ctx.name }, err);
    }
  }

  async open(key: string, object: { table: string; gzip: boolean; rows: () => number }): Promise<ObjectStream> {
    const { table, rows } = object;
    return new S3Sink({
      client: this.#client,
      bucket: this.#spec.bucket,
      key,
      gzip: object.gzip,
      contentType: CONTENT_TYPES[this.#format],
      partSize: this.#options.partSize,
      params: this.#options.params,
      onDone: (info) => {
        this.written.push({ table, key, rows: rows(), ...info });
        this.#ctx.logger.debug('object written', { table, object: this.location(key), rows: rows(), parts: info.parts });
      },
      onRecovered: (reason) => {
        const object = this.location(key);
        this.#ctx.logger.warn(`completing ${object} failed (${reason}), but the object is there, complete: the first answer was lost`, { table, object });
      },
    });
  }

  close(): void {
    this.#client.destroy();
  }
}
