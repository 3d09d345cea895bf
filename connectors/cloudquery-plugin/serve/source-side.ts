/**
 * A cq-pipe source served as a CloudQuery source plugin (docs/plugins.md): `GetTables` and `Sync`.
 * Tables carry `_cq_id` and `_cq_parent_id`, as the Go SDK adds them (the CLI adds `_cq_sync_time`
 * and `_cq_source_name`); with `deterministic_cq_id` `_cq_id` is a UUIDv5 over the primary key and
 * the only key of the migrate schemas, as Go sources do. `Sync` streams a `migrate_table` for every
 * selected table, then one IPC stream per non-empty batch; a table error becomes a `MessageError`
 * when the request sets `withErrorMessages`. The source is read only as fast as the CLI takes
 * messages (gRPC flow control).
 */
import { once } from 'node:events';
import type * as A from 'apache-arrow';
import type { SourceClient } from '../../../lib/connector.js';
import type { Logger } from '../../../lib/logger.js';
import type { SyncMessage } from '../../../lib/messages.js';
import { AbortedError } from '../../../lib/errors.js';
import { addInternalColumns, internalColumns } from '../../../lib/stages/internal-columns.js';
import { selectTables } from '../../../lib/table-select.js';
import { CQ_ID, CQ_SOURCE_NAME, CQ_SYNC_TIME, MD_PRIMARY_KEY, batchFromColumns, isPrimaryKey, tableName, withFieldMetadata } from '../../../lib/schema.js';
import * as Arrow from 'apache-arrow';
import { encodeSchema } from '../arrow-wire.js';
import { ipcStreamPieces } from '../../../lib/arrow/ipc-write.js';
import { insertRecord } from '../insert-codec.js';
import { type grpcTypes, v3, errorText } from './grpc.js';

/** the columns the CLI adds itself: a served source leaves them out */
const CLI_COLUMNS = new Set([CQ_SYNC_TIME, CQ_SOURCE_NAME]);

/** A source table as a Go source plugin describes it: `_cq_id`, `_cq_parent_id`, then the table's columns. */
export function pluginTable(source: A.Schema, deterministicCqId: boolean): A.Schema {
  const own = new Set(source.fields.map((f) => f.name));
  let fields = addInternalColumns(source).schema.fields.filter((f) => own.has(f.name) || !CLI_COLUMNS.has(f.name));
  if (deterministicCqId && !own.has(CQ_ID)) {
    // Go's CqIDAsPK: `_cq_id` becomes the only primary key
    fields = fields.map((f) =>
      f.name === CQ_ID ? withFieldMetadata(f, { [MD_PRIMARY_KEY]: 'true' }) : isPrimaryKey(f) ? withFieldMetadata(f, { [MD_PRIMARY_KEY]: 'false' }) : f,
    );
  }
  return new Arrow.Schema(fields, source.metadata);
}

export interface TableRequest {
  tables: string[];
  skip_tables: string[];
}

/** The tables a request selects (globs; a pattern matching nothing is an error naming the tables). */
export async function requestedTables(client: SourceClient, req: TableRequest, plugin: string): Promise<A.Schema[]> {
  return selectTables(await client.tables(), req.tables.length ? req.tables : ['*'], req.skip_tables, plugin);
}

/** `GetTables`: one IPC schema per table (cq-pipe sources have no relations: the list is already flat). */
export async function getTables(client: SourceClient, req: TableRequest, plugin: string): Promise<Uint8Array[]> {
  return (await requestedTables(client, req, plugin)).map((t) => encodeSchema(pluginTable(t, false)));
}

type SyncCall = grpcTypes.ServerWritableStream<InstanceType<typeof v3.Sync.Request>, InstanceType<typeof v3.Sync.Response>>;

/** write one message, waiting while the client's window is full; rejects when the call is cancelled */
async function send(call: SyncCall, msg: InstanceType<typeof v3.Sync.Response>, signal: AbortSignal): Promise<void> {
  if (call.write(msg)) return;
  await once(call, 'drain', { signal });
}

export interface SyncOptions {
  client: SourceClient;
  plugin: string;
  logger: Logger;
  signal: AbortSignal;
}

/** Stream one `Sync`; resolves when every message is written, rejects with a CqPipeError otherwise. */
export async function syncTables(call: SyncCall, opts: SyncOptions): Promise<{ tables: number; rows: number }> {
  const req = call.request;
  let tables = await requestedTables(opts.client, req, opts.plugin);
  const shard = req.has_shard && req.shard.total > 0 ? { num: req.shard.num, total: req.shard.total } : undefined;
  if (shard && !opts.client.shardsItself) tables = tables.filter((_, i) => i % shard.total === shard.num - 1);
  if (req.has_backend && req.backend.connection) {
    opts.logger.warn('this cq-pipe source keeps no state through a CloudQuery state backend yet: incremental tables are read in full', {
      backend_table: req.backend.table_name,
    });
  }
  const deterministic = req.deterministic_cq_id;
  const wire = new Map<string, A.Schema>();
  for (const t of tables) {
    const p = pluginTable(t, deterministic);
    wire.set(tableName(t), p);
    await send(call, new v3.Sync.Response({ migrate_table: new v3.Sync.MessageMigrateTable({ table: encodeSchema(p) }) }), opts.signal);
  }
  const read = opts.client.read(tables, { signal: opts.signal, state: new Map(), shard });
  // the engine's stage makes `_cq_id` / `_cq_parent_id`; the CLI's own columns are dropped again
  const withIds = internalColumns({ sourceName: opts.plugin, syncTime: new Date(0), deterministicCqId: deterministic })(read as AsyncIterable<SyncMessage>);
  let rows = 0;
  for await (const msg of withIds) {
    if (opts.signal.aborted) throw new AbortedError('the CloudQuery CLI cancelled the sync');
    if (msg.kind === 'insert') {
      const schema = wire.get(msg.table);
      if (!schema || msg.batch.numRows === 0) continue;
      const byName = new Map(msg.batch.schema.fields.map((f, i) => [f.name, i]));
      const cols = schema.fields.map((f) => msg.batch.data.children[byName.get(f.name)!]!);
      const record = insertRecord(ipcStreamPieces(batchFromColumns(schema, msg.batch.numRows, cols)));
      await send(call, new v3.Sync.Response({ insert: new v3.Sync.MessageInsert({ record }) }), opts.signal);
      rows += msg.batch.numRows;
    } else if (msg.kind === 'table-error') {
      const text = errorText(msg.error);
      opts.logger.error(`table ${msg.table} failed: ${text}`, { table: msg.table });
      if (req.withErrorMessages) {
        await send(call, new v3.Sync.Response({ error: new v3.Sync.MessageError({ table_name: msg.table, error: text }) }), opts.signal);
      }
    }
    // checkpoints: nothing keeps them without a state backend; delete-stale is the CLI's own
  }
  return { tables: tables.length, rows };
}
