/**
 * The `file` destination (SPEC §4 "File and S3 destinations"): tables written as Parquet, NDJSON,
 * CSV or Arrow IPC files under a path template.
 *
 *   spec: { path: "./cq-output/{{TABLE}}/{{UUID}}.{{FORMAT}}", format: parquet,
 *           compression: none | gzip (ndjson, csv), no_rotate: false }
 *
 * Relative paths resolve against ctx.baseDir (the working directory). Append-only. By default every flushed batch becomes its own file; with `no_rotate` each table
 * gets one file for the whole sync, streamed batch by batch and published at the end. A file is
 * written to `<final>.tmp-<random>` and renamed when complete, so readers never see a partial file
 * and a failed batch or sync leaves none behind. docs/file-destination.md has the details.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { rename } from 'node:fs/promises';
import path from 'node:path';
import type * as A from 'apache-arrow';
import { BATCH_SPEC_PROPERTIES, defineDestination, type ConnectorContext, type DestinationClient } from '../../lib/connector.js';
import { ConfigError, CqPipeError, DestinationWriteError, SchemaIncompatibleError, tableFailure } from '../../lib/errors.js';
import { parsePathTemplate, type PathTemplate } from '../../lib/path-template.js';
import { tableName } from '../../lib/schema.js';
import {
  COMPRESSIONS, FILE_FORMATS, GZIP_FORMATS, formatExtension, openFormatWriter,
  type Compression, type FileFormat, type FormatWriter,
} from './writers/index.js';

export const DEFAULT_FILE_PATH = './cq-output/{{TABLE}}/{{UUID}}.{{FORMAT}}';

export interface FileDestinationSpec {
  path?: string;
  format?: FileFormat;
  compression?: Compression;
  no_rotate?: boolean;
  batch_size?: number;
  batch_size_bytes?: number;
  batch_timeout?: string | number;
}

export const fileDestinationSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    path: { type: 'string', minLength: 1, default: DEFAULT_FILE_PATH },
    format: { type: 'string', enum: [...FILE_FORMATS], default: 'parquet' },
    compression: { type: 'string', enum: [...COMPRESSIONS], default: 'none' },
    no_rotate: { type: 'boolean', default: false },
    ...BATCH_SPEC_PROPERTIES,
  },
} as const;

/** The checked, defaulted settings of one file destination. */
export interface FileSettings {
  template: PathTemplate;
  format: FileFormat;
  compression: Compression;
  noRotate: boolean;
  /** `{{FORMAT}}`: "parquet", "ndjson.gz", … */
  extension: string;
}

/** Check a spec (also what the s3 destination can reuse); throws ConfigError naming the key. */
export function fileSettings(spec: FileDestinationSpec, connector: string): FileSettings {
  const where = (key: string) => ({ connector, keyPath: `spec.${key}` });
  const format = spec.format ?? 'parquet';
  if (!(FILE_FORMATS as readonly string[]).includes(format)) {
    throw new ConfigError(`unknown format "${String(format)}"`, where('format'), `use one of: ${FILE_FORMATS.join(', ')}`);
  }
  const compression = spec.compression ?? 'none';
  if (!(COMPRESSIONS as readonly string[]).includes(compression)) {
    throw new ConfigError(`unknown compression "${String(compression)}"`, where('compression'), `use one of: ${COMPRESSIONS.join(', ')}`);
  }
  if (compression === 'gzip' && !GZIP_FORMATS.includes(format)) {
    throw new ConfigError(
      `compression gzip is not available for format ${format}`,
      where('compression'),
      `gzip applies to ${GZIP_FORMATS.join(' and ')}; ${format === 'parquet' ? 'parquet files are snappy-compressed inside the format' : 'arrow files are written uncompressed'}, so remove compression`,
    );
  }
  if (spec.no_rotate !== undefined && typeof spec.no_rotate !== 'boolean') {
    throw new ConfigError('no_rotate must be true or false', where('no_rotate'));
  }
  const noRotate = spec.no_rotate ?? false;
  const template = parsePathTemplate(spec.path ?? DEFAULT_FILE_PATH, { requireUuid: !noRotate, context: where('path') });
  return { template, format, compression, noRotate, extension: formatExtension(format, compression) };
}

interface OpenFile {
  table: string;
  final: string;
  writer: FormatWriter;
}

class FileDestinationClient implements DestinationClient {
  readonly #s: FileSettings;
  readonly #ctx: ConnectorContext;
  /** no_rotate: the one open file per table */
  readonly #open = new Map<string, OpenFile>();
  /** rotating files being written right now (discarded by close(err)) */
  readonly #inFlight = new Set<FormatWriter>();
  /** final path → table, so two tables never share one no_rotate file */
  readonly #claimed = new Map<string, string>();
  /** rotating files whose trailer and rename are still running */
  readonly #pending = new Set<Promise<void>>();
  #pendingError: CqPipeError | undefined;
  #warnedCommit = false;
  #closed = false;
  filesWritten: string[] = [];

  constructor(settings: FileSettings, ctx: ConnectorContext) {
    this.#s = settings;
    this.#ctx = ctx;
  }

  #finalPath(table: string): string {
    const rel = this.#s.template.render({ table, uuid: randomUUID(), format: this.#s.extension, time: this.#ctx.syncTime, syncId: this.#ctx.invocationId });
    return path.resolve(this.#ctx.baseDir, rel);
  }

  #fail(err: unknown, table: string, file: string, what: string): CqPipeError {
    // a table whose rows do not fit the format fails alone: its file is discarded, other tables' files are untouched
    if (err instanceof SchemaIncompatibleError) return tableFailure(new SchemaIncompatibleError(err.message, { ...err.context, connector: this.#ctx.name, table, file }, err.hint));
    if (err instanceof CqPipeError) return err;
    const msg = err instanceof Error ? err.message : String(err);
    return new DestinationWriteError(`${what} ${file} failed: ${msg}`, { connector: this.#ctx.name, table, file, phase: 'write' }, err);
  }

  async migrateTables(): Promise<string[]> {
    // files need no DDL; directories are created when the first file of a table is written
    return [];
  }

  async writeBatch(schema: A.Schema, batches: A.RecordBatch[]): Promise<void> {
    if (this.#closed) throw new DestinationWriteError('write after close', { connector: this.#ctx.name });
    const table = tableName(schema);
    const rows = batches.reduce((n, b) => n + b.numRows, 0);
    if (rows === 0) return;
    const fileSchema = batches[0]!.schema;
    if (this.#s.noRotate) return this.#append(table, fileSchema, batches);

    await this.#settleTo(MAX_PENDING - 1);
    const final = this.#finalPath(table);
    let writer: FormatWriter | undefined;
    try {
      writer = await openFormatWriter(this.#s.format, this.#s.compression, tempPath(final), fileSchema);
      this.#inFlight.add(writer);
      await writer.write(batches);
    } catch (err) {
      if (writer) this.#inFlight.delete(writer);
      await writer?.discard();
      throw this.#fail(err, table, final, 'writing');
    }
    // the trailer, flush and rename run while the engine prepares the next batch;
    // commit() and close() wait for them (at most MAX_PENDING at a time)
    const w = writer;
    const done: Promise<void> = this.#publish(w, table, final, rows).finally(() => {
      this.#inFlight.delete(w);
      this.#pending.delete(done);
    });
    this.#pending.add(done);
  }

  /** finish a rotating file and rename it into place; a failure removes it and is rethrown later */
  async #publish(w: FormatWriter, table: string, final: string, rows: number): Promise<void> {
    try {
      await w.finish();
      await rename(w.path, final);
      this.filesWritten.push(final);
      this.#ctx.logger.debug('file written', { table, file: final, rows });
    } catch (err) {
      await w.discard();
      this.#pendingError ??= this.#fail(err, table, final, 'finishing');
    }
  }

  /** wait until at most `n` files are still being finished; rethrow a failure of any */
  async #settleTo(n: number): Promise<void> {
    while (this.#pending.size > n) await Promise.race(this.#pending);
    if (this.#pendingError) throw this.#pendingError;
  }

  async #append(table: string, fileSchema: A.Schema, batches: A.RecordBatch[]): Promise<void> {
    let f = this.#open.get(table);
    if (!f) {
      const final = this.#finalPath(table);
      const owner = this.#claimed.get(final);
      if (owner !== undefined && owner !== table) {
        throw new ConfigError(
          `tables ${owner} and ${table} would both be written to ${final}`,
          { connector: this.#ctx.name, keyPath: 'spec.path', table },
          'with no_rotate every table needs its own file: put {{TABLE}} in path',
        );
      }
      try {
        const writer = await openFormatWriter(this.#s.format, this.#s.compression, tempPath(final), fileSchema);
        f = { table, final, writer };
      } catch (err) {
        throw this.#fail(err, table, final, 'opening');
      }
      this.#claimed.set(final, table);
      this.#open.set(table, f);
    }
    try {
      await f.writer.write(batches);
    } catch (err) {
      this.#open.delete(table);
      await f.writer.discard();
      throw this.#fail(err, table, f.final, 'writing');
    }
  }

  async commit(): Promise<void> {
    await this.#settleTo(0);
    // rotating files are already complete; no_rotate files are published at close
    if (this.#s.noRotate && this.#open.size && !this.#warnedCommit) {
      this.#warnedCommit = true;
      this.#ctx.logger.warn('no_rotate: files are published when the sync ends; a checkpoint before then is not backed by a finished file', { tables: [...this.#open.keys()].join(',') });
    }
  }

  async close(err?: Error): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const open = [...this.#open.values()];
    this.#open.clear();
    // rotating files accepted before now are completed (or removed if that fails)
    while (this.#pending.size) await Promise.race(this.#pending);
    if (err) {
      await Promise.all([...open.map((f) => f.writer.discard()), ...[...this.#inFlight].map((w) => w.discard())]);
      return;
    }
    let first: CqPipeError | undefined = this.#pendingError;
    for (const f of open) {
      try {
        await f.writer.finish();
        await rename(f.writer.path, f.final);
        this.filesWritten.push(f.final);
        this.#ctx.logger.debug('file written', { table: f.table, file: f.final, rows: f.writer.rows });
      } catch (e) {
        await f.writer.discard();
        first ??= this.#fail(e, f.table, f.final, 'finishing');
      }
    }
    if (first) throw first;
  }
}

/** rotating files finished in the background at once (each holds at most one sink buffer) */
const MAX_PENDING = 2;

/** `<final>.tmp-<random>` beside the final file, so the rename is atomic. */
function tempPath(final: string): string {
  return `${final}.tmp-${randomBytes(6).toString('hex')}`;
}

export const fileDestination = defineDestination<FileDestinationSpec>({
  name: 'file',
  configSchema: fileDestinationSchema,
  capabilities: { writeModes: ['append'], batch: { rows: 10000, bytes: 50 * 1024 * 1024, timeoutMs: 30000 } },
  /** at config load: the same checks create() makes (templates, format/compression pairs) */
  validate(spec) {
    try {
      fileSettings(spec ?? {}, 'file');
      return [];
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      const key = (err.context.keyPath ?? 'spec').replace(/^spec\.?/, '');
      return [{ keyPath: key ? key.split('.') : [], message: err.message, hint: err.hint }];
    }
  },
  create(spec, ctx): DestinationClient {
    return new FileDestinationClient(fileSettings(spec ?? {}, ctx.name), ctx);
  },
});
