/**
 * The Writable at the end of every destination branch. It turns the message stream into calls on a
 * DestinationClient, in CloudQuery's order (docs/architecture.md):
 *   migrate-table … (all collected, applied in one call before the first insert)
 *   insert          (grouped per table; flushed at rows / bytes / timeout)
 *   delete-stale    (a barrier: pending inserts are flushed first)
 *   delete-record   (a barrier: the pending inserts of its table and of its relations' tables are
 *                    flushed first, then client.deleteRecord; a client without it fails the table,
 *                    CQ_ERR_UNSUPPORTED)
 *   checkpoint      (a barrier: flush, commit, then acknowledge)
 * `finish` means committed (client.close()), `destroy(err)` means rolled back (client.close(err)).
 *
 * A client error with `scope: 'table'` (lib/errors.ts `tableFailure`), from a migration or a write, fails only its table: the
 * writer reports it (onTableError), drops that table's later rows and delete-stale, and answers
 * its checkpoints with `committed: false`; the other tables go on. Any other error ends the branch.
 * A delete-record for a table that failed — in this destination, or upstream (a `table-error`
 * before it) — is dropped, as delete-stale is never run for a failed table (docs/semantics.md).
 */
import { Writable } from 'node:stream';
import type * as A from 'apache-arrow';
import type { DestinationClient, MigrateOptions } from './connector.js';
import type { CheckpointMessage, DeleteRecordMessage, DeleteStaleMessage, RejectedRowsMessage, SyncMessage } from './messages.js';
import { QUEUED_BATCHES, TableBatcher, type BatchCaps } from './batcher.js';
import { countRows, inSpan } from './telemetry.js';
import { type CqPipeError, DestinationWriteError, SchemaIncompatibleError, SourceDataError, UnsupportedError, tableFailure, toCqPipeError } from './errors.js';
import { tableName } from './schema.js';
import { inCascadeOrder } from './delete-record.js';

export interface BatchWriterOptions {
  client: DestinationClient;
  destination: string;
  caps: BatchCaps & { timeoutMs: number };
  migrate: MigrateOptions | false;
  /**
   * called once every row before the checkpoint is committed; `committed` is false when this
   * destination failed the checkpoint's table (or, for a checkpoint naming no table, any table)
   */
  onCheckpoint?: (msg: CheckpointMessage, committed: boolean) => Promise<void> | void;
  /** a table failed in this destination (a table-scoped client error); the others go on */
  onTableError?: (table: string, err: CqPipeError) => void;
  /** at `sync-end`, after every row and delete-stale before it: more messages to write before the end (a sync summary row) */
  onSyncEnd?: () => SyncMessage[];
  /** called after each flushed group, for progress and summaries */
  onFlush?: (table: string, rows: number) => void;
  highWaterMark?: number;
}

export class BatchWriter extends Writable {
  readonly #opts: BatchWriterOptions;
  readonly #tables = new Map<string, A.Schema>();
  readonly #batchers = new Map<string, TableBatcher>();
  #pendingMigrations: A.Schema[] = [];
  #pendingDeletes: DeleteStaleMessage[] = [];
  #queue: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #failed: Error | undefined;
  /** DDL the migrations ran (or planned) */
  readonly ddl: string[] = [];
  rowsWritten = 0;
  /** tables this destination failed, with their error and the rows dropped after it */
  readonly failedTables = new Map<string, { error: CqPipeError; droppedRows: number }>();
  /** tables a `table-error` reached (failed upstream): their delete-records are dropped */
  readonly #failedUpstream = new Set<string>();
  /** delete-records applied, and dropped (their table had failed) */
  deleteRecords = { applied: 0, dropped: 0 };

  constructor(opts: BatchWriterOptions) {
    super({ objectMode: true, highWaterMark: opts.highWaterMark ?? QUEUED_BATCHES });
    this.#opts = opts;
  }

  /** resolves once no message is being handled or waits to be (never rejects) */
  settled(): Promise<void> {
    return this.#queue;
  }

  /** run fn after everything queued before it (writes and timer flushes never overlap) */
  #serial(fn: () => Promise<void>): Promise<void> {
    const p = this.#queue.then(() => {
      if (this.#failed) throw this.#failed;
      return fn();
    });
    this.#queue = p.catch((err) => {
      this.#failed ??= err;
    });
    return p;
  }

  override _write(msg: SyncMessage, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#serial(() => this.#handle(msg)).then(
      () => cb(),
      (err) => cb(toCqPipeError(err, { connector: this.#opts.destination })),
    );
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#clearTimer();
    this.#serial(async () => {
      await this.#flushAll();
      try {
        await this.#opts.client.close();
      } catch (err) {
        // a table that failed at the final commit (the client committed the others and closed)
        const e = toCqPipeError(err, { connector: this.#opts.destination });
        if (e.scope !== 'table' || !e.context.table) throw e;
        this.#failTable(this.#tableNamed(e.context.table), e, 0);
      }
    }).then(
      () => cb(),
      (err) => cb(toCqPipeError(err, { connector: this.#opts.destination })),
    );
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#clearTimer();
    // a destroy without an error before the end is an abort, never a silent success
    const reason =
      err ?? (this.writableFinished ? null : new DestinationWriteError('destination closed before the sync ended', { connector: this.#opts.destination }));
    if (!reason) {
      cb(null);
      return;
    }
    // messages still queued are dropped: nothing is written or committed after an abort
    this.#failed ??= reason;
    this.#queue
      .finally(() => this.#opts.client.close(reason))
      .then(
        () => cb(reason),
        (closeErr) => cb(reason ?? closeErr),
      );
  }

  async #handle(msg: SyncMessage): Promise<void> {
    // a table that failed upstream before its first row is not created
    if (msg.kind === 'table-error') {
      this.#failedUpstream.add(msg.table);
      this.#pendingMigrations = this.#pendingMigrations.filter((t) => tableName(t) !== msg.table);
    }
    if (msg.kind !== 'migrate-table') await this.#applyMigrations();
    if (msg.kind !== 'delete-stale') await this.#applyDeletes();
    switch (msg.kind) {
      case 'migrate-table':
        this.#tables.set(tableName(msg.table), msg.table);
        this.#pendingMigrations.push(msg.table);
        return;
      case 'insert':
        return this.#insert(msg.table, msg.batch);
      case 'delete-stale':
        await this.#flushAll();
        if (!this.failedTables.has(msg.table)) this.#pendingDeletes.push(msg);
        return;
      case 'delete-record':
        // the pending rows of the table and of the tables it cascades to go first; other tables keep batching
        await this.#flushTables([msg.table, ...msg.relations.map((r) => r.table)]);
        return this.#deleteRecord(msg);
      case 'checkpoint': {
        await this.#flushAll();
        await this.#commit(msg.table);
        const committed = msg.table !== undefined ? !this.failedTables.has(msg.table) : this.failedTables.size === 0;
        await this.#opts.onCheckpoint?.(msg, committed);
        return;
      }
      case 'rejected-rows':
        return this.#reject(msg);
      case 'table-error':
        return;
      case 'sync-end':
        await this.#flushAll();
        if (this.#opts.onSyncEnd) {
          // the rows are committed first: a destination migrates outside its open load (lib/sync-summary.ts)
          await this.#commit();
          for (const m of this.#opts.onSyncEnd()) await this.#handle(m);
          await this.#flushAll();
        }
        return;
    }
  }

  async #applyMigrations(): Promise<void> {
    if (!this.#pendingMigrations.length) return;
    // a table that failed is not migrated again (its rows are dropped anyway)
    let tables = this.#pendingMigrations.filter((t) => !this.failedTables.has(tableName(t)));
    this.#pendingMigrations = [];
    const migrate = this.#opts.migrate;
    if (!migrate) return;
    // a table-scoped failure fails that table; the other tables are handed over again
    while (tables.length) {
      try {
        this.ddl.push(...(await this.#opts.client.migrateTables(tables, migrate)));
        return;
      } catch (err) {
        const e = toCqPipeError(err, { connector: this.#opts.destination });
        const failed = e.scope === 'table' && e.context.table ? this.#tableNamed(e.context.table) : undefined;
        if (!failed || !tables.some((t) => tableName(t) === failed)) throw e;
        this.#failTable(failed, e, 0);
        tables = tables.filter((t) => tableName(t) !== failed);
      }
    }
  }

  async #applyDeletes(): Promise<void> {
    if (!this.#pendingDeletes.length) return;
    const all = this.#pendingDeletes;
    this.#pendingDeletes = [];
    for (;;) {
      const msgs = all.filter((m) => !this.failedTables.has(m.table));
      if (!msgs.length) return;
      try {
        await this.#opts.client.deleteStale?.(msgs);
        return;
      } catch (err) {
        // the commit before the deletes failed one table (the others committed): delete for the rest
        const e = toCqPipeError(err, { connector: this.#opts.destination });
        const failed = e.scope === 'table' && e.context.table ? this.#tableNamed(e.context.table) : undefined;
        if (!failed || this.failedTables.has(failed)) throw e;
        this.#failTable(failed, e, 0);
      }
    }
  }

  async #deleteRecord(msg: DeleteRecordMessage): Promise<void> {
    const dest = this.#opts.destination;
    for (;;) {
      if (this.failedTables.has(msg.table) || this.#failedUpstream.has(msg.table)) {
        this.deleteRecords.dropped++;
        return;
      }
      try {
        if (!this.#opts.client.deleteRecord) {
          throw tableFailure(
            new UnsupportedError(
              `destination ${dest} cannot delete records (a source's delete-record for table ${msg.table})`,
              { connector: dest, table: msg.table, phase: 'delete-record' },
              'send this source to a destination that deletes records (postgresql, memory), or drop its delete-record messages with a custom transformer',
            ),
          );
        }
        const attributes = { 'cq.destination': dest, 'cq.table': msg.table };
        const ordered = inCascadeOrder(msg, dest);
        await inSpan('cq-pipe.delete-record', attributes, () => this.#opts.client.deleteRecord!(ordered));
        this.deleteRecords.applied++;
        return;
      } catch (err) {
        const e = toCqPipeError(err, { connector: dest });
        if (e.scope !== 'table' || !e.context.table) throw e;
        const failed = this.#tableNamed(e.context.table);
        if (failed === msg.table || this.failedTables.has(failed)) {
          this.#failTable(msg.table, e, 0);
          return;
        }
        // the commit before the delete failed another table (the others committed): fail it, delete again
        this.#failTable(failed, e, 0);
      }
    }
  }

  async #insert(table: string, batch: A.RecordBatch): Promise<void> {
    const failed = this.failedTables.get(table);
    if (failed) {
      failed.droppedRows += batch.numRows;
      return;
    }
    let schema = this.#tables.get(table);
    if (!schema) {
      // inserts without a preceding migrate-table (e.g. --no-migrate pipes) define the table
      schema = batch.schema;
      this.#tables.set(table, schema);
    } else if (schema.fields.length !== batch.schema.fields.length || schema.fields.some((f, i) => f.name !== batch.schema.fields[i]!.name)) {
      throw new SchemaIncompatibleError(
        `batch columns (${batch.schema.fields.map((f) => f.name).join(', ')}) do not match table ${table} (${schema.fields.map((f) => f.name).join(', ')})`,
        { connector: this.#opts.destination, table, phase: 'write' },
        'emit a migrate-table message for the new shape before its rows',
      );
    }
    let batcher = this.#batchers.get(table);
    if (!batcher) {
      batcher = new TableBatcher(this.#opts.caps);
      this.#batchers.set(table, batcher);
    }
    for (const group of batcher.add(batch)) await this.#write(table, group);
    if (!batcher.empty) this.#armTimer();
  }

  async #write(table: string, group: A.RecordBatch[]): Promise<void> {
    const schema = this.#tables.get(table)!;
    const rows = group.reduce((n, b) => n + b.numRows, 0);
    const attributes = { 'cq.destination': this.#opts.destination, 'cq.table': table, 'cq.rows': rows };
    for (;;) {
      try {
        await inSpan('cq-pipe.write-batch', attributes, () => this.#opts.client.writeBatch(schema, group));
        break;
      } catch (err) {
        const e = toCqPipeError(err, { connector: this.#opts.destination });
        if (e.scope !== 'table' || !e.context.table) throw e;
        const failed = this.#tableNamed(e.context.table);
        if (failed === table || this.failedTables.has(failed)) {
          this.#failTable(table, e, rows);
          return;
        }
        // a client that loads lazily found an earlier table's failure before taking this group:
        // fail that table and hand the group over again
        this.#failTable(failed, e, 0);
      }
    }
    countRows(rows, { 'cq.destination': this.#opts.destination, 'cq.table': table });
    this.rowsWritten += rows;
    this.#opts.onFlush?.(table, rows);
  }

  /**
   * rows the source could not convert: into the client's dead-letter file; a client without one
   * fails the table with the first row's error, as the source fails it when no destination has one
   */
  async #reject(msg: RejectedRowsMessage): Promise<void> {
    if (this.failedTables.has(msg.table) || msg.rows.length === 0) return;
    if (this.#opts.client.rejectRows) return this.#opts.client.rejectRows(msg);
    const r = msg.rows[0]!;
    const at = r.line !== undefined ? { line: r.line } : { row: r.element };
    this.#failTable(msg.table, new SourceDataError(r.reason, { table: msg.table, file: r.file, ...at, column: r.column }), 0);
  }

  /** commit what the client holds; a table-scoped failure (the others were committed) fails its table */
  async #commit(table?: string): Promise<void> {
    try {
      await this.#opts.client.commit?.(table);
    } catch (err) {
      const e = toCqPipeError(err, { connector: this.#opts.destination });
      if (e.scope !== 'table' || !e.context.table) throw e;
      this.#failTable(this.#tableNamed(e.context.table), e, 0);
    }
  }

  /** the sync's name of a table a client names (clients may normalize case) */
  #tableNamed(name: string): string {
    if (this.#tables.has(name)) return name;
    for (const t of this.#tables.keys()) if (t.toLowerCase() === name.toLowerCase()) return t;
    return name;
  }

  #failTable(table: string, err: CqPipeError, rows: number): void {
    if (this.failedTables.has(table)) return;
    const batcher = this.#batchers.get(table);
    const unwritten = batcher && !batcher.empty ? batcher.take().reduce((n, b) => n + b.numRows, 0) : 0;
    this.#batchers.delete(table);
    this.failedTables.set(table, { error: err, droppedRows: rows + unwritten });
    this.#opts.onTableError?.(table, err);
  }

  async #flushAll(): Promise<void> {
    this.#clearTimer();
    for (const [table, batcher] of this.#batchers) {
      if (!batcher.empty) await this.#write(table, batcher.take());
    }
  }

  async #flushTables(tables: readonly string[]): Promise<void> {
    for (const table of new Set(tables)) {
      const batcher = this.#batchers.get(table);
      if (batcher && !batcher.empty) await this.#write(table, batcher.take());
    }
  }

  #armTimer(): void {
    if (this.#timer || !(this.#opts.caps.timeoutMs > 0)) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#serial(() => this.#flushAll()).catch((err) => this.destroy(toCqPipeError(err, { connector: this.#opts.destination })));
    }, this.#opts.caps.timeoutMs);
    this.#timer.unref();
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
