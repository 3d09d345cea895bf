/**
 * The object writer of the file and s3 destinations: tables written as Parquet, NDJSON, CSV or
 * Arrow IPC objects named by a path template, into any ObjectSink (./sink.ts). Append-only. By
 * default every flushed batch becomes its own object, finished in the background while the next
 * batch is prepared (at most MAX_PENDING at a time; checkpoints and close wait for them); with
 * `no_rotate` each table gets one object for the whole sync, streamed batch by batch and finished
 * at close. A failed batch or sync discards its objects, so none is left partial. A source's
 * delete-record fails its table (CQ_ERR_UNSUPPORTED): objects already written are not rewritten, as
 * CloudQuery's file and s3 destinations do not implement DeleteRecord either.
 * docs/file-destination.md and docs/s3.md have the details.
 */
import { randomUUID } from 'node:crypto';
import type * as A from 'apache-arrow';
import type { ConnectorContext, DestinationClient, MigrateOptions } from '../../lib/connector.js';
import type { DeleteRecordMessage } from '../../lib/messages.js';
import { ConfigError, CqPipeError, DestinationWriteError, SchemaIncompatibleError, UnsupportedError, tableFailure } from '../../lib/errors.js';
import { tableName } from '../../lib/schema.js';
import { openFormatWriterOn, prepareFormat, type FormatWriter } from '../file/writers/index.js';
import type { ObjectWriterSettings } from './settings.js';
import type { ObjectSink } from './sink.js';

/** rotating objects finished in the background at once (each holds at most one sink buffer) */
export const MAX_PENDING = 2;

interface OpenObject {
  table: string;
  name: string;
  writer: FormatWriter;
}

export class ObjectWriter implements DestinationClient {
  readonly #s: ObjectWriterSettings;
  readonly #sink: ObjectSink;
  readonly #ctx: ConnectorContext;
  /** no_rotate: the one open object per table */
  readonly #open = new Map<string, OpenObject>();
  /** rotating objects being written right now (discarded by close(err)) */
  readonly #inFlight = new Set<FormatWriter>();
  /** object name → table, so two tables never share one no_rotate object */
  readonly #claimed = new Map<string, string>();
  /** rotating objects whose trailer and finish are still running */
  readonly #pending = new Set<Promise<void>>();
  #pendingError: CqPipeError | undefined;
  #warnedCommit = false;
  #closed = false;

  constructor(settings: ObjectWriterSettings, sink: ObjectSink, ctx: ConnectorContext) {
    this.#s = settings;
    this.#sink = sink;
    this.#ctx = ctx;
    for (const notice of settings.notices) ctx.logger.info(`destination ${ctx.name}: ${notice}`);
    prepareFormat(settings.format);
  }

  #name(table: string): string {
    const { syncTime: time, invocationId: syncId } = this.#ctx;
    return this.#sink.name(this.#s.template.render({ table, uuid: randomUUID(), format: this.#s.extension, time, syncId }));
  }

  #fail(err: unknown, table: string, name: string, what: string): CqPipeError {
    const file = this.#sink.location(name);
    if (err instanceof SchemaIncompatibleError) {
      // a table whose rows do not fit the format: its object is discarded, other tables' objects are untouched
      const e = new SchemaIncompatibleError(err.message, { ...err.context, connector: this.#ctx.name, table, file }, err.hint);
      return this.#sink.schemaErrorsFailTable ? tableFailure(e) : e;
    }
    // a failure of the sink or encoder below names at most its file: it gets the object's words and context
    const fromBelow = !(err instanceof CqPipeError) || (err instanceof DestinationWriteError && err.context.connector === undefined);
    if (!fromBelow) return err;
    return new DestinationWriteError(`${what} ${file} failed: ${this.#sink.reason(err)}`, { connector: this.#ctx.name, table, file, phase: 'write' }, err);
  }

  #openWriter(table: string, name: string, schema: A.Schema, rows: () => number): Promise<FormatWriter> {
    return openFormatWriterOn(this.#s.format, this.#s.compression, (gzip) => this.#sink.open(name, { table, gzip, rows }), schema, this.#s.formatOptions);
  }

  async migrateTables(_tables: A.Schema[], opts: MigrateOptions): Promise<string[]> {
    // objects need no DDL (directories are made with their first file); an s3 bucket must exist and be writable
    if (!opts.plan && this.#sink.prepare) await this.#sink.prepare();
    return [];
  }

  /** append-only objects: a delete-record fails its table (the rows written so far stay) */
  async deleteRecord(msg: DeleteRecordMessage): Promise<void> {
    const what = this.#sink.words.noun;
    throw tableFailure(
      new UnsupportedError(
        `destination ${this.#ctx.name} cannot delete records: a source's delete-record for table ${msg.table} (${what}s are append-only)`,
        { connector: this.#ctx.name, table: msg.table, phase: 'delete-record' },
        `the ${what}s written before it keep their rows; send this source to a destination that deletes (postgresql), ` +
          'or drop its delete-record messages with a custom transformer (docs/transformers.md)',
      ),
    );
  }

  async writeBatch(schema: A.Schema, batches: A.RecordBatch[]): Promise<void> {
    if (this.#closed) throw new DestinationWriteError('write after close', { connector: this.#ctx.name });
    const table = tableName(schema);
    const rows = batches.reduce((n, b) => n + b.numRows, 0);
    if (rows === 0) return;
    if (this.#sink.prepare) await this.#sink.prepare();
    const objectSchema = batches[0]!.schema;
    if (this.#s.noRotate) return this.#append(table, objectSchema, batches);

    await this.#settleTo(MAX_PENDING - 1);
    const name = this.#name(table);
    let writer: FormatWriter | undefined;
    try {
      writer = await this.#openWriter(table, name, objectSchema, () => rows);
      this.#inFlight.add(writer);
      await writer.write(batches);
    } catch (err) {
      if (writer) this.#inFlight.delete(writer);
      await writer?.discard();
      throw this.#fail(err, table, name, this.#sink.words.writing);
    }
    // the trailer and the finish run while the engine prepares the next batch;
    // commit() and close() wait for them (at most MAX_PENDING at a time)
    const w = writer;
    const done: Promise<void> = this.#publish(w, table, name).finally(() => {
      this.#inFlight.delete(w);
      this.#pending.delete(done);
    });
    this.#pending.add(done);
  }

  /** finish a rotating object; a failure discards it and is rethrown later */
  async #publish(w: FormatWriter, table: string, name: string): Promise<void> {
    try {
      await w.finish();
    } catch (err) {
      await w.discard();
      this.#pendingError ??= this.#fail(err, table, name, this.#sink.words.finishing);
    }
  }

  /** wait until at most `n` objects are still being finished; rethrow a failure of any */
  async #settleTo(n: number): Promise<void> {
    while (this.#pending.size > n) await Promise.race(this.#pending);
    if (this.#pendingError) throw this.#pendingError;
  }

  async #append(table: string, objectSchema: A.Schema, batches: A.RecordBatch[]): Promise<void> {
    let f = this.#open.get(table);
    if (!f) {
      const name = this.#name(table);
      const owner = this.#claimed.get(name);
      const noun = this.#sink.words.noun;
      if (owner !== undefined && owner !== table) {
        throw new ConfigError(
          `tables ${owner} and ${table} would both be written to ${this.#sink.location(name)}`,
          { connector: this.#ctx.name, keyPath: 'spec.path', table },
          `with no_rotate every table needs its own ${noun}: put {{TABLE}} in path`,
        );
      }
      let writer: FormatWriter | undefined;
      try {
        writer = await this.#openWriter(table, name, objectSchema, () => writer?.rows ?? 0);
      } catch (err) {
        throw this.#fail(err, table, name, 'opening');
      }
      f = { table, name, writer };
      this.#claimed.set(name, table);
      this.#open.set(table, f);
    }
    try {
      await f.writer.write(batches);
    } catch (err) {
      this.#open.delete(table);
      await f.writer.discard();
      throw this.#fail(err, table, f.name, this.#sink.words.writing);
    }
  }

  async commit(): Promise<void> {
    await this.#settleTo(0);
    // rotating objects are already finished; no_rotate objects are finished at close
    if (this.#s.noRotate && this.#open.size && !this.#warnedCommit) {
      this.#warnedCommit = true;
      const { noun, done } = this.#sink.words;
      const tables = [...this.#open.keys()].join(',');
      this.#ctx.logger.warn(`no_rotate: ${noun}s are ${done} when the sync ends; a checkpoint before then is not backed by a finished ${noun}`, { tables });
    }
  }

  async close(err?: Error): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const open = [...this.#open.values()];
    this.#open.clear();
    try {
      // rotating objects accepted before now are finished (or discarded if that fails)
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
          first ??= this.#fail(e, f.table, f.name, this.#sink.words.finishing);
        }
      }
      if (first) throw first;
    } finally {
      this.#sink.close?.();
    }
  }
}
