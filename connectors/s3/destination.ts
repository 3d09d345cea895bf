/**
 * The `s3` destination (SPEC §4 "File and S3 destinations"): the file destination's formats,
 * compression, path templates and rotation, written as objects of one bucket.
 *
 *   spec: { bucket: lake, region: us-east-1, endpoint: "http://127.0.0.1:9000", use_path_style: true,
 *           path: "raw/{{TABLE}}/{{YEAR}}/{{MONTH}}/{{UUID}}.{{FORMAT}}", format: parquet,
 *           compression: none | gzip (ndjson, csv), no_rotate: false }
 *
 * Append-only. Every flushed batch becomes one object (or, with `no_rotate`, each table one object
 * for the whole sync, completed at the end). Objects are streamed with multipart uploads (see
 * sink.ts) and appear only once complete; a failed batch or sync aborts its uploads. The bucket is
 * checked with HeadBucket before the first write. docs/s3.md has the details.
 */
import { randomUUID } from 'node:crypto';
import type * as A from 'apache-arrow';
import type { S3Client } from '@aws-sdk/client-s3';
import { BATCH_SPEC_PROPERTIES, defineDestination, type ConnectorContext, type DestinationClient, type MigrateOptions, type SpecProblem } from '../../lib/connector.js';
import { ConfigError, CqPipeError, DestinationWriteError, SchemaIncompatibleError } from '../../lib/errors.js';
import { tableName } from '../../lib/schema.js';
import { fileSettings, type FileDestinationSpec, type FileSettings } from '../file/destination.js';
import { COMPRESSIONS, FILE_FORMATS, openFormatWriterOn, type FileFormat, type FormatWriter } from '../file/writers/index.js';
import { S3_CONNECTION_PROPERTIES, checkBucket, connectionProblems, createS3Client, s3Reason, type S3ConnectionSpec } from './client.js';
import { S3Sink } from './sink.js';

export const DEFAULT_S3_PATH = '{{TABLE}}/{{UUID}}.{{FORMAT}}';

export interface S3DestinationSpec extends S3ConnectionSpec, Omit<FileDestinationSpec, 'path'> {
  path?: string;
}

export const s3DestinationSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['bucket'],
  properties: {
    ...S3_CONNECTION_PROPERTIES,
    path: { type: 'string', minLength: 1, default: DEFAULT_S3_PATH },
    format: { type: 'string', enum: [...FILE_FORMATS], default: 'parquet' },
    compression: { type: 'string', enum: [...COMPRESSIONS], default: 'none' },
    no_rotate: { type: 'boolean', default: false },
    ...BATCH_SPEC_PROPERTIES,
  },
} as const;

const CONTENT_TYPES: Record<FileFormat, string> = {
  parquet: 'application/vnd.apache.parquet',
  ndjson: 'application/x-ndjson',
  csv: 'text/csv; charset=utf-8',
  arrow: 'application/vnd.apache.arrow.stream',
};

/** The file destination's checks plus key rules: keys are relative to the bucket. */
export function s3Settings(spec: S3DestinationSpec, connector: string): FileSettings {
  const template = spec.path ?? DEFAULT_S3_PATH;
  if (/^(\/|\.\.?\/)/.test(template)) {
    throw new ConfigError(`path "${template}" must be an object key inside the bucket, not start with "/" or "./"`, { connector, keyPath: 'spec.path' }, `e.g. path: "${template.replace(/^(\.\.?\/|\/)+/, '')}"`);
  }
  if (/^s3:\/\//i.test(template)) {
    throw new ConfigError(`path "${template}" must be an object key inside the bucket, not a URL`, { connector, keyPath: 'spec.path' }, 'put the bucket name in spec.bucket and the key template in spec.path');
  }
  return fileSettings({ ...spec, path: template }, connector);
}

function validate(spec: S3DestinationSpec): SpecProblem[] {
  const problems = connectionProblems(spec);
  try {
    s3Settings(spec ?? {}, 's3');
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const key = (err.context.keyPath ?? 'spec').replace(/^spec\.?/, '');
    problems.push({ keyPath: key ? key.split('.') : [], message: err.message, hint: err.hint });
  }
  return problems;
}

interface OpenObject {
  table: string;
  key: string;
  writer: FormatWriter;
}

/** An object written by this destination (for logs and tests). */
export interface WrittenObject {
  table: string;
  key: string;
  rows: number;
  /** multipart parts uploaded (1: a single PutObject) */
  parts: number;
  bytes: number;
  etag?: string;
}

/** objects finished (completed) in the background at once */
const MAX_PENDING = 2;

class S3DestinationClient implements DestinationClient {
  readonly #s: FileSettings;
  readonly #spec: S3DestinationSpec;
  readonly #ctx: ConnectorContext;
  readonly #client: S3Client;
  #bucketChecked: Promise<void> | undefined;
  /** no_rotate: the one open object per table */
  readonly #open = new Map<string, OpenObject>();
  /** rotating objects being written right now (aborted by close(err)) */
  readonly #inFlight = new Set<FormatWriter>();
  /** key → table, so two tables never share one no_rotate object */
  readonly #claimed = new Map<string, string>();
  /** rotating objects whose upload is completing */
  readonly #pending = new Set<Promise<void>>();
  #pendingError: CqPipeError | undefined;
  #warnedCommit = false;
  #closed = false;
  readonly objectsWritten: WrittenObject[] = [];

  constructor(settings: FileSettings, spec: S3DestinationSpec, ctx: ConnectorContext) {
    this.#s = settings;
    this.#spec = spec;
    this.#ctx = ctx;
    this.#client = createS3Client(spec);
  }

  #ensureBucket(): Promise<void> {
    this.#bucketChecked ??= checkBucket(this.#client, this.#spec, { connector: this.#ctx.name }, (msg, context, cause) => new DestinationWriteError(msg, context, cause));
    return this.#bucketChecked;
  }

  #key(table: string): string {
    return this.#s.template.render({ table, uuid: randomUUID(), format: this.#s.extension, time: this.#ctx.syncTime, syncId: this.#ctx.invocationId });
  }

  #url(key: string): string {
    return `s3://${this.#spec.bucket}/${key}`;
  }

  #fail(err: unknown, table: string, key: string, what: string): CqPipeError {
    const file = this.#url(key);
    if (err instanceof SchemaIncompatibleError) return new SchemaIncompatibleError(err.message, { ...err.context, connector: this.#ctx.name, table, file }, err.hint);
    if (err instanceof CqPipeError) return err;
    return new DestinationWriteError(`${what} ${file} failed: ${s3Reason(err)}`, { connector: this.#ctx.name, table, file, phase: 'write' }, err);
  }

  #openWriter(table: string, key: string, schema: A.Schema, rows: () => number): Promise<FormatWriter> {
    return openFormatWriterOn(this.#s.format, this.#s.compression, async (gzip) => new S3Sink({
      client: this.#client,
      bucket: this.#spec.bucket,
      key,
      gzip,
      contentType: CONTENT_TYPES[this.#s.format],
      onDone: (info) => {
        this.objectsWritten.push({ table, key, rows: rows(), ...info });
        this.#ctx.logger.debug('object written', { table, object: this.#url(key), rows: rows(), parts: info.parts });
      },
      onRecovered: (reason) => {
        this.#ctx.logger.warn(`completing ${this.#url(key)} failed (${reason}), but the object is there, complete: the first answer was lost`, { table, object: this.#url(key) });
      },
    }), schema);
  }

  async migrateTables(_tables: A.Schema[], opts: MigrateOptions): Promise<string[]> {
    // objects need no DDL; the bucket must exist and be writable by us
    if (!opts.plan) await this.#ensureBucket();
    return [];
  }

  async writeBatch(schema: A.Schema, batches: A.RecordBatch[]): Promise<void> {
    if (this.#closed) throw new DestinationWriteError('write after close', { connector: this.#ctx.name });
    const table = tableName(schema);
    const rows = batches.reduce((n, b) => n + b.numRows, 0);
    if (rows === 0) return;
    await this.#ensureBucket();
    const objectSchema = batches[0]!.schema;
    if (this.#s.noRotate) return this.#append(table, objectSchema, batches);

    await this.#settleTo(MAX_PENDING - 1);
    const key = this.#key(table);
    let writer: FormatWriter | undefined;
    try {
      writer = await this.#openWriter(table, key, objectSchema, () => rows);
      this.#inFlight.add(writer);
      await writer.write(batches);
    } catch (err) {
      if (writer) this.#inFlight.delete(writer);
      await writer?.discard();
      throw this.#fail(err, table, key, 'uploading');
    }
    // the trailer and the upload's completion run while the engine prepares the next batch;
    // commit() and close() wait for them (at most MAX_PENDING at a time)
    const w = writer;
    const done: Promise<void> = this.#publish(w, table, key).finally(() => {
      this.#inFlight.delete(w);
      this.#pending.delete(done);
    });
    this.#pending.add(done);
  }

  /** finish a rotating object (footer, last part, CompleteMultipartUpload); a failure is rethrown later */
  async #publish(w: FormatWriter, table: string, key: string): Promise<void> {
    try {
      await w.finish();
    } catch (err) {
      await w.discard();
      this.#pendingError ??= this.#fail(err, table, key, 'completing');
    }
  }

  async #settleTo(n: number): Promise<void> {
    while (this.#pending.size > n) await Promise.race(this.#pending);
    if (this.#pendingError) throw this.#pendingError;
  }

  async #append(table: string, objectSchema: A.Schema, batches: A.RecordBatch[]): Promise<void> {
    let f = this.#open.get(table);
    if (!f) {
      const key = this.#key(table);
      const owner = this.#claimed.get(key);
      if (owner !== undefined && owner !== table) {
        throw new ConfigError(
          `tables ${owner} and ${table} would both be written to ${this.#url(key)}`,
          { connector: this.#ctx.name, keyPath: 'spec.path', table },
          'with no_rotate every table needs its own object: put {{TABLE}} in path',
        );
      }
      let writer: FormatWriter | undefined;
      try {
        writer = await this.#openWriter(table, key, objectSchema, () => writer?.rows ?? 0);
      } catch (err) {
        throw this.#fail(err, table, key, 'opening');
      }
      f = { table, key, writer };
      this.#claimed.set(key, table);
      this.#open.set(table, f);
    }
    try {
      await f.writer.write(batches);
    } catch (err) {
      this.#open.delete(table);
      await f.writer.discard();
      throw this.#fail(err, table, f.key, 'uploading');
    }
  }

  async commit(): Promise<void> {
    await this.#settleTo(0);
    if (this.#s.noRotate && this.#open.size && !this.#warnedCommit) {
      this.#warnedCommit = true;
      this.#ctx.logger.warn('no_rotate: objects are completed when the sync ends; a checkpoint before then is not backed by a finished object', { tables: [...this.#open.keys()].join(',') });
    }
  }

  async close(err?: Error): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const open = [...this.#open.values()];
    this.#open.clear();
    try {
      while (this.#pending.size) await Promise.race(this.#pending);
      if (err) {
        await Promise.all([...open.map((f) => f.writer.discard()), ...[...this.#inFlight].map((w) => w.discard())]);
        return;
      }
      let first: CqPipeError | undefined = this.#pendingError;
      for (const f of open) {
        try {
          await f.writer.finish();
        } catch (e) {
          await f.writer.discard();
          first ??= this.#fail(e, f.table, f.key, 'completing');
        }
      }
      if (first) throw first;
    } finally {
      this.#client.destroy();
    }
  }
}

export const s3Destination = defineDestination<S3DestinationSpec>({
  name: 's3',
  configSchema: s3DestinationSchema,
  capabilities: { writeModes: ['append'], batch: { rows: 10000, bytes: 50 * 1024 * 1024, timeoutMs: 30000 } },
  /** at config load: bucket name, credential pairs, templates and format/compression pairs */
  validate,
  create(spec, ctx): DestinationClient {
    const problems = connectionProblems(spec);
    if (problems.length) {
      const p = problems[0]!;
      throw new ConfigError(p.message, { connector: ctx.name, keyPath: `spec.${p.keyPath.join('.')}` }, p.hint);
    }
    return new S3DestinationClient(s3Settings(spec, ctx.name), spec, ctx);
  },
});
