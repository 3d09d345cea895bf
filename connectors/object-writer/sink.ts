/**
 * What the object writer (./writer.ts) writes objects into: local files (connectors/file/sink.ts)
 * or S3 objects (connectors/s3/sink.ts). An object is opened under its final name, written chunk
 * by chunk, then finished — durable under that name (the temp file renamed into place, the
 * multipart upload completed) — or discarded (the temp file removed, the upload aborted), so
 * readers never see a partial object. docs/file-destination.md and docs/s3.md have the details.
 */
import type { ByteSink } from '../file/writers/byte-sink.js';

/**
 * One object being written, handed to a format writer. `path` is where its bytes go for now (a
 * temp file, s3://bucket/key); `write` resolves once the sink can take more (backpressure).
 * `end` is the finish: it resolves once the object is durable under its final name. `discard`
 * stops and leaves nothing behind; it never throws.
 */
export type ObjectStream = ByteSink;

/** The words of a sink's messages: "file"/"object", "published"/"completed", … */
export interface SinkWords {
  /** what an object is called: "file", "object" */
  noun: string;
  /** what happens to a no_rotate object when the sync ends: "published", "completed" */
  done: string;
  /** what fails while batches go in: "writing", "uploading" */
  writing: string;
  /** the trailer and the finish: "finishing", "completing" */
  finishing: string;
}

export interface ObjectSink {
  readonly words: SinkWords;
  /**
   * Whether a table whose rows the format cannot store (SchemaIncompatibleError) fails alone
   * (tableFailure) or fails the sync.
   */
  readonly schemaErrorsFailTable: boolean;
  /** an object's name from its rendered path template: an absolute file path, an object key */
  name(rendered: string): string;
  /** how messages and error contexts name an object: its path, s3://bucket/key */
  location(name: string): string;
  /** why something failed, for a message (an S3 error's code and HTTP status, …) */
  reason(err: unknown): string;
  /** run before each non-empty batch and by migrateTables outside --plan (s3: HeadBucket, once) */
  prepare?(): Promise<void>;
  /** open an object: nothing is visible under `name` until the stream ends */
  open(name: string, object: { table: string; gzip: boolean; rows: () => number }): Promise<ObjectStream>;
  /** after the writer is closed (s3: the client is destroyed) */
  close?(): void;
}
