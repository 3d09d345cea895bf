/**
 * One `Write` stream of a served destination (docs/plugins.md), driving cq-pipe's destination
 * client directly: the CloudQuery CLI has already added `_cq_sync_time` / `_cq_source_name` and
 * applied write and PK modes, so the rows are written as they come and the primary keys of the
 * schema decide upsert or append, as in a Go destination. Each stream has its own client (its
 * own connection and transaction), so concurrent streams — a Go source's state client beside the
 * CLI's stream — do not interfere; everything is committed when the stream ends, rolled back when
 * it fails or is cancelled.
 *
 * Order, as the Go batch writer: migrations are applied (grouped, `migrate_force` → forced)
 * before the next non-migrate message; inserts are batched per table up to the destination's caps;
 * a table's pending rows are written before its migration, and every pending row before a
 * delete-stale or a delete_record (handed to the connector's `deleteRecord` as cq-pipe's
 * `delete-record` message; a connector without it fails the stream with CQ_ERR_UNSUPPORTED).
 */
import type * as A from 'apache-arrow';
import type { ConnectorContext, DestinationClient, DestinationConnector } from '../../../lib/connector.js';
import type { DeleteRecordMessage, DeleteStaleMessage } from '../../../lib/messages.js';
import { TableBatcher, type BatchCaps } from '../../../lib/batcher.js';
import { SchemaIncompatibleError, UnsupportedError } from '../../../lib/errors.js';
import { MD_TABLE_NAME, tableName } from '../../../lib/schema.js';
import { conformBatch, decodeRecord, decodeSchema, toCqPipeSchema } from '../arrow-wire.js';
import { fromWireDeleteRecord, type WireDeleteRecord } from '../delete-record.js';
import type { v3 } from './grpc.js';

type WriteRequest = InstanceType<typeof v3.Write.Request>;

export interface WriteSessionOptions {
  connector: DestinationConnector;
  spec: Record<string, unknown>;
  caps: BatchCaps;
  ctx: ConnectorContext;
}

/** A protobuf Timestamp as a Date (µs precision kept as far as Date allows: ms; the destination compares `<`). */
function timestampDate(ts: { seconds: number; nanos: number }): Date {
  return new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6));
}

export class WriteSession {
  readonly #client: DestinationClient;
  readonly #opts: WriteSessionOptions;
  readonly #tables = new Map<string, A.Schema>();
  readonly #batchers = new Map<string, TableBatcher>();
  #migrations: { schema: A.Schema; force: boolean }[] = [];
  #deletes: DeleteStaleMessage[] = [];
  #uncommittedWrites = false;
  rows = 0;
  messages = 0;

  private constructor(client: DestinationClient, opts: WriteSessionOptions) {
    this.#client = client;
    this.#opts = opts;
  }

  static async open(opts: WriteSessionOptions): Promise<WriteSession> {
    return new WriteSession(await opts.connector.create(opts.spec, opts.ctx), opts);
  }

  get #plugin(): string {
    return this.#opts.ctx.name;
  }

  async handle(req: WriteRequest): Promise<void> {
    this.messages++;
    if (req.has_migrate_table) {
      const schema = toCqPipeSchema(decodeSchema(req.migrate_table.table));
      const name = tableName(schema);
      await this.#applyDeletes();
      await this.#flushTable(name);
      this.#tables.set(name, schema);
      this.#migrations.push({ schema, force: req.migrate_table.migrate_force });
      return;
    }
    await this.#applyMigrations();
    if (req.has_delete) {
      const d = req.delete;
      const table = d.table_name || (d.table.length ? tableName(decodeSchema(d.table)) : '');
      if (!table) throw new SchemaIncompatibleError('a delete-stale message names no table', { connector: this.#plugin, phase: 'write' });
      await this.#flushAll();
      const syncTime = d.has_sync_time ? timestampDate(d.sync_time) : new Date(0);
      this.#deletes.push({ kind: 'delete-stale', table, sourceName: d.source_name, syncTime });
      return;
    }
    await this.#applyDeletes();
    if (req.has_insert) return this.#insert(req.insert.record);
    if (req.has_delete_record) return this.#deleteRecord(req.delete_record);
    throw new UnsupportedError(`a Write message of an unknown kind reached cq-pipe's ${this.#opts.connector.name} destination`, {
      connector: this.#plugin,
      phase: 'write',
    });
  }

  async #insert(bytes: Uint8Array): Promise<void> {
    const { schema: wire, batches } = decodeRecord(bytes);
    const name = wire.metadata.get(MD_TABLE_NAME);
    if (!name) {
      throw new SchemaIncompatibleError('an insert record has no cq:table_name in its schema metadata', { connector: this.#plugin, phase: 'write' });
    }
    let table = this.#tables.get(name);
    if (!table) {
      // inserts with no migrate_table before them (the CLI's --no-migrate): the record defines the table
      table = toCqPipeSchema(wire);
      this.#tables.set(name, table);
    }
    let batcher = this.#batchers.get(name);
    if (!batcher) this.#batchers.set(name, (batcher = new TableBatcher(this.#opts.caps)));
    for (const b of batches) {
      let batch: A.RecordBatch;
      try {
        batch = conformBatch(b, table);
      } catch (err) {
        throw new SchemaIncompatibleError(
          `a record of table ${name} does not fit the table's migrate_table schema: ${(err as Error).message}`,
          { connector: this.#plugin, table: name, phase: 'write' },
          'send a migrate_table of the new shape before its rows',
        );
      }
      for (const group of batcher.add(batch)) await this.#write(table, group);
    }
  }

  /** a delete_record: every pending row is written first, then the connector deletes (CQ_ERR_UNSUPPORTED when it cannot) */
  async #deleteRecord(wire: WireDeleteRecord): Promise<void> {
    const table = wire.table_name;
    if (!table) throw new SchemaIncompatibleError('a delete_record message names no table', { connector: this.#plugin, phase: 'write' });
    if (!this.#client.deleteRecord) {
      throw new UnsupportedError(
        `cq-pipe's ${this.#opts.connector.name} destination cannot apply delete_record (table ${table})`,
        { connector: this.#plugin, table, phase: 'write' },
        'use a source that does not send delete_record, or another destination (docs/plugins.md lists which apply it)',
      );
    }
    let msg: DeleteRecordMessage;
    try {
      msg = fromWireDeleteRecord(wire);
    } catch (err) {
      throw new SchemaIncompatibleError(`the delete_record of table ${table} cannot be applied: ${(err as Error).message}`, {
        connector: this.#plugin,
        table,
        phase: 'write',
      });
    }
    await this.#flushAll();
    await this.#client.deleteRecord(msg);
    this.#uncommittedWrites = true;
  }

  async #write(table: A.Schema, group: A.RecordBatch[]): Promise<void> {
    await this.#client.writeBatch(table, group);
    this.#uncommittedWrites = true;
    this.rows += group.reduce((n, b) => n + b.numRows, 0);
  }

  async #flushTable(name: string): Promise<void> {
    const batcher = this.#batchers.get(name);
    if (batcher && !batcher.empty) await this.#write(this.#tables.get(name)!, batcher.take());
  }

  async #flushAll(): Promise<void> {
    for (const name of this.#batchers.keys()) await this.#flushTable(name);
  }

  async #applyMigrations(): Promise<void> {
    if (!this.#migrations.length) return;
    const pending = this.#migrations;
    this.#migrations = [];
    // a migration after rows of this stream: what is written is committed first (no DDL behind an open load)
    if (this.#uncommittedWrites) {
      await this.#client.commit?.();
      this.#uncommittedWrites = false;
    }
    const safe = pending.filter((m) => !m.force).map((m) => m.schema);
    const forced = pending.filter((m) => m.force).map((m) => m.schema);
    if (safe.length) await this.#client.migrateTables(safe, { migrateMode: 'safe' });
    if (forced.length) await this.#client.migrateTables(forced, { migrateMode: 'forced' });
  }

  async #applyDeletes(): Promise<void> {
    if (!this.#deletes.length) return;
    const msgs = this.#deletes;
    this.#deletes = [];
    if (!this.#client.deleteStale) {
      throw new UnsupportedError(
        `cq-pipe's ${this.#opts.connector.name} destination cannot delete stale rows (table ${msgs[0]!.table})`,
        { connector: this.#plugin, table: msgs[0]!.table, phase: 'write' },
        `it is append-only: set write_mode: append on this destination in the CloudQuery config`,
      );
    }
    await this.#client.deleteStale(msgs);
  }

  /** The stream ended: everything pending is written, migrated and deleted, then committed (unless `beforeCommit` throws). */
  async finish(beforeCommit: () => void = () => {}): Promise<void> {
    await this.#applyMigrations();
    await this.#flushAll();
    beforeCommit();
    await this.#applyDeletes();
    await this.#client.close();
  }

  /** The stream failed or was cancelled: what is not committed is rolled back. */
  async abort(err: Error): Promise<void> {
    await this.#client.close(err);
  }
}
