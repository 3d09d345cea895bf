/**
 * A CloudQuery plugin as a cq-pipe source (docs/architecture.md: a connector descriptor): the
 * calls the CloudQuery CLI makes — discovery, `Init`, `GetTables`, `Sync` — over gRPC, the Sync
 * stream turned into cq-pipe messages (an `insert` per record, a `delete_record` as a `delete-record`
 * message in stream order, an `error` as that table's failure). Rows are pulled from the stream only as the engine asks for
 * them, so gRPC flow control slows the plugin down to the slowest destination.
 */
import { randomUUID } from 'node:crypto';
import type * as A from 'apache-arrow';
import { defineSource, type ConnectorContext, type LogCounts, type SourceClient, type SourceConnector } from '../../lib/connector.js';
import { AbortedError, CqPipeError, SourceDataError, SourceReadError, StateError, tableFailure } from '../../lib/errors.js';
import type { SyncMessage } from '../../lib/messages.js';
import { MD_TABLE_NAME, tableName } from '../../lib/schema.js';
import { conformBatch, decodeRecord, decodeSchema, toCqPipeSchema } from './arrow-wire.js';
import { fromWireDeleteRecord } from './delete-record.js';
import { type PluginConnection, describePlugin, openAndInit, pluginCallError, withWhyGone, type PluginReach, type SyncResponse } from './grpc-client.js';
import { StateService } from './state-service.js';

export type PluginSpec = Record<string, unknown>;

export interface PluginTarget {
  /** the gRPC target: `host:port`, `unix:/path` or a socket path */
  address: string;
  /** ask the plugin for deterministic `_cq_id`s (the source's `deterministic_cq_id`) */
  deterministicCqId?: boolean;
}

/** How a plugin client is run: where to dial, how to name it, what to do after `Close`. */
export interface PluginRun extends PluginReach {
  deterministicCqId: boolean;
  /** the warn and error log lines of the plugin's process so far (spawn.ts, docker.ts) */
  logCounts?: () => LogCounts;
}

/** The JSON schema of a plugin source's spec: anything, the plugin checks it at `Init`. */
const anySpec = { type: 'object' };

/** A source served by a running plugin at `target.address` (`registry: grpc`). */
export function pluginSource(target: PluginTarget): SourceConnector<PluginSpec> {
  return defineSource<PluginSpec>({
    name: `grpc:${target.address}`,
    configSchema: anySpec,
    create: (spec, ctx) =>
      openPluginSource(spec, ctx, {
        label: { name: ctx.name, address: target.address },
        target: target.address,
        deterministicCqId: target.deterministicCqId ?? false,
      }),
  });
}

/** Dial, check discovery, `Init`, and return the source client (also used by local plugins). */
export async function openPluginSource(spec: PluginSpec | undefined, ctx: ConnectorContext, run: PluginRun): Promise<SourceClient> {
  return new PluginSourceClient(await openAndInit(run, spec, ctx.invocationId), ctx, run);
}

class PluginSourceClient implements SourceClient {
  /** a plugin splits its own work by the shard it is given, as for the CloudQuery CLI */
  readonly shardsItself = true;
  private schemas?: Promise<A.Schema[]>;
  private closed = false;

  constructor(
    private readonly conn: PluginConnection,
    private readonly ctx: ConnectorContext,
    private readonly run: PluginRun,
  ) {}

  private get plugin(): string {
    return describePlugin(this.run.label);
  }

  tables(): Promise<A.Schema[]> {
    this.schemas ??= this.conn.getTables().then(
      (raw) =>
        raw.map((bytes, i) => {
          const s = toCqPipeSchema(decodeSchema(bytes));
          if (!s.metadata.get(MD_TABLE_NAME)) {
            throw new SourceDataError(`${this.plugin}: table schema ${i + 1} of GetTables has no cq:table_name`, { connector: this.ctx.name });
          }
          return s;
        }),
      async (err: unknown) => {
        throw await withWhyGone(err, this.run);
      },
    );
    return this.schemas;
  }

  async *read(tables: A.Schema[], opts: Parameters<SourceClient['read']>[1]): AsyncGenerator<SyncMessage> {
    const selected = new Map(tables.map((t) => [tableName(t), t]));
    if (selected.size === 0) return;
    const service = opts.stateTable ? await this.startStateService(opts.stateTable, opts.state) : undefined;
    let call: ReturnType<PluginConnection['sync']>;
    try {
      call = this.conn.sync({
        tables: [...selected.keys()],
        deterministicCqId: opts.deterministicCqId ?? this.run.deterministicCqId,
        shard: opts.shard,
        ...(service ? { backend: { table_name: opts.stateTable!, connection: service.address } } : {}),
      });
    } catch (err) {
      await service?.stop();
      throw pluginCallError(this.run.label, 'Sync', err);
    }
    const onAbort = () => call.cancel();
    opts.signal.addEventListener('abort', onAbort, { once: true });
    const failed = new Set<string>();
    const fail = (table: string, err: CqPipeError): SyncMessage => {
      failed.add(table);
      err.context.table ??= table;
      err.context.connector ??= this.ctx.name;
      return { kind: 'table-error', table, error: tableFailure(err) };
    };
    let unattributed: string | undefined;
    let ended = false;
    try {
      for await (const res of call as AsyncIterable<SyncResponse>) {
        if (res.has_insert) {
          const { schema, batches } = decodeRecord(res.insert.record);
          const name = schema.metadata.get(MD_TABLE_NAME);
          if (!name) throw new SourceDataError(`${this.plugin}: an insert record has no cq:table_name`, { connector: this.ctx.name });
          const table = selected.get(name);
          // rows of a table not selected (the parent of a selected relation), or of a failed one
          if (!table || failed.has(name)) continue;
          for (const b of batches) {
            let batch: A.RecordBatch;
            try {
              batch = conformBatch(b, table);
            } catch (err) {
              yield fail(name, new SourceDataError(`${this.plugin}: a record of table ${name} does not fit the table: ${(err as Error).message}`, {}, err));
              break;
            }
            yield { kind: 'insert', table: name, batch };
          }
        } else if (res.has_error) {
          const { table_name: name, error } = res.error;
          if (selected.has(name) && !failed.has(name)) {
            yield fail(name, new SourceReadError(`${this.plugin}: table ${name} failed: ${error}`, {}));
          } else if (!selected.has(name)) {
            this.ctx.logger.error(`${this.plugin} reported an error${name ? ` for table ${name}` : ''}: ${error}`);
            unattributed ??= name ? `table ${name}: ${error}` : error;
          }
        } else if (res.has_delete_record) {
          const name = res.delete_record.table_name;
          if (!name) {
            this.ctx.logger.error(`${this.plugin} sent a delete_record that names no table`);
            unattributed ??= 'a delete_record that names no table';
          } else if (selected.has(name) && !failed.has(name)) {
            // (deletes of a table not selected, the parent of a selected relation, are not applied, as its rows)
            let msg: SyncMessage;
            try {
              msg = fromWireDeleteRecord(res.delete_record);
            } catch (err) {
              msg = fail(name, new SourceDataError(`${this.plugin}: the delete_record of table ${name} cannot be applied: ${(err as Error).message}`, {}, err));
            }
            // after every row of the stream before it: the engine applies it as a barrier
            yield msg;
          }
        }
        // migrate_table: the engine migrates the tables GetTables listed, before any row
      }
      ended = true;
    } catch (err) {
      if (opts.signal.aborted) throw new AbortedError(`${this.plugin}: sync aborted`, err);
      if (err instanceof CqPipeError) throw err;
      throw await withWhyGone(pluginCallError(this.run.label, 'Sync', err), this.run);
    } finally {
      opts.signal.removeEventListener('abort', onAbort);
      if (!ended) call.cancel();
      if (!ended) await service?.stop();
    }
    try {
      if (unattributed !== undefined) {
        throw new SourceReadError(`${this.plugin} reported an error outside the synced tables: ${unattributed}`, { connector: this.ctx.name });
      }
      if (service) {
        const checkpoint = await this.stateCheckpoint(service, failed);
        if (checkpoint) yield checkpoint;
      }
    } finally {
      await service?.stop();
    }
  }

  logCounts(): LogCounts {
    return this.run.logCounts?.() ?? { warnings: 0, errors: 0 };
  }

  private async startStateService(tableName: string, saved: ReadonlyMap<string, string>): Promise<StateService> {
    try {
      return await StateService.start({ tableName, saved, plugin: this.plugin, logger: this.ctx.logger });
    } catch (err) {
      throw new StateError(`${this.plugin}: cannot start the state service it dials: ${(err as Error).message}`, { connector: this.ctx.name }, err);
    }
  }

  /**
   * The state the plugin wrote during this sync as one checkpoint after its last row (docs/incremental.md,
   * "Plugin sources"): only once the Sync stream has ended, so every row sent before any state write
   * is ahead of it; none when a table failed (its rows after the failure were dropped, and a state
   * key cannot be tied to a table).
   */
  private async stateCheckpoint(service: StateService, failed: ReadonlySet<string>): Promise<SyncMessage | undefined> {
    const state = await service.seal();
    const keys = Object.keys(state);
    if (keys.length === 0) return undefined;
    if (failed.size > 0) {
      const tables = [...failed].join(', ');
      this.ctx.logger.warn(
        `${this.plugin}: its state (${keys.length} key(s)) is not saved because table(s) ${tables} failed; the next sync starts from the saved state`,
      );
      return undefined;
    }
    return { kind: 'checkpoint', id: `${this.ctx.name}:plugin-state:${randomUUID()}`, state };
  }

  /** `Close`, then the channel, then `afterClose` (a local plugin's process); never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.conn.closePlugin();
    } catch (err) {
      this.ctx.logger.debug(`${this.plugin}: Close failed: ${(err as Error).message}`);
    }
    await this.run.afterClose?.();
  }
}
