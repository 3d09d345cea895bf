/**
 * A CloudQuery plugin as a cq-pipe destination (docs/plugins.md): what the CloudQuery CLI does
 * around a destination plugin — discovery (v3), `Init` with the nested spec as JSON, one `Write`
 * stream carrying `migrate_table`, `insert`, `delete_record` (a source-driven delete, in the order
 * the engine gives it) and, after a fully successful overwrite-delete-stale sync, one `delete`
 * (MessageDeleteStale) per table; then the end of the stream, its answer, and
 * `Close`. The engine has applied write, PK and migrate modes; the schemas go out in the CLI's
 * spelling (cli-schema.ts). At a checkpoint the stream is ended and its answer awaited — the
 * plugin has then written every row before it — and the next message opens a new stream.
 */
import type * as A from 'apache-arrow';
import {
  type ConnectorContext,
  type DestinationClient,
  type DestinationConnector,
  type LogCounts,
  type MigrateOptions,
  defineDestination,
} from '../../lib/connector.js';
import { DestinationWriteError } from '../../lib/errors.js';
import type { DeleteRecordMessage, DeleteStaleMessage } from '../../lib/messages.js';
import { tableName } from '../../lib/schema.js';
import { encodeSchema } from './arrow-wire.js';
import { ipcStreamPieces } from '../../lib/arrow/ipc-write.js';
import { insertRecord } from './insert-codec.js';
import { toWireDeleteRecord } from './delete-record.js';
import { type CliModes, CliSchemas, cliModes, PLUGIN_DESTINATION_CAPABILITIES } from './cli-schema.js';

// (kept importable from here)
export { cliModes, PLUGIN_DESTINATION_CAPABILITIES };
import { type PluginConnection, type PluginReach, describePlugin, openAndInit, v3, withWhyGone } from './grpc-client.js';
import { PluginWriteStream } from './write-stream.js';

export type PluginDestinationSpec = Record<string, unknown>;

/** How a destination plugin is reached and which modes the CLI would have applied for it. */
export interface PluginDestinationTarget {
  /** the gRPC target: `host:port`, `unix:/path` or a socket path */
  address: string;
  /** the destination's write and PK modes (the CLI's schema spelling depends on them); default: overwrite-delete-stale, default */
  modes?: Partial<CliModes>;
}

export interface PluginDestinationRun extends PluginReach {
  modes: CliModes;
  /** the warn and error log lines of the plugin's process so far (spawn.ts, docker.ts) */
  logCounts?: () => LogCounts;
}

/** A destination served by a running plugin at `target.address` (`registry: grpc`). */
export function pluginDestination(target: PluginDestinationTarget): DestinationConnector<PluginDestinationSpec> {
  return defineDestination<PluginDestinationSpec>({
    name: `grpc:${target.address}`,
    // the plugin checks its own spec at Init
    configSchema: { type: 'object' },
    capabilities: PLUGIN_DESTINATION_CAPABILITIES,
    create: (spec, ctx) =>
      openPluginDestination(spec, ctx, {
        label: { name: ctx.name, address: target.address, role: 'destination' },
        target: target.address,
        modes: cliModes(target.modes),
      }),
  });
}

/** Dial, check discovery, `Init`, and return the destination client (also used by local plugins). */
export async function openPluginDestination(
  spec: PluginDestinationSpec | undefined,
  ctx: ConnectorContext,
  run: PluginDestinationRun,
): Promise<DestinationClient> {
  return new PluginDestinationClient(await openAndInit(run, spec, ctx.invocationId), ctx, run);
}

/** google.protobuf.Timestamp of a Date (ms precision, so exact in µs) */
function timestamp(d: Date): { seconds: number; nanos: number } {
  const ms = d.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1_000_000 };
}

class PluginDestinationClient implements DestinationClient {
  readonly #schemas: CliSchemas;
  #stream: PluginWriteStream | undefined;
  #closed = false;

  constructor(
    private readonly conn: PluginConnection,
    private readonly ctx: ConnectorContext,
    private readonly run: PluginDestinationRun,
  ) {
    this.#schemas = new CliSchemas(run.modes);
  }

  /** the open Write stream, opened on first use (a sync that writes nothing opens none) */
  #writer(): PluginWriteStream {
    this.#stream ??= new PluginWriteStream(this.conn);
    return this.#stream;
  }

  async #send(req: InstanceType<typeof v3.Write.Request>): Promise<void> {
    try {
      await this.#writer().send(req);
    } catch (err) {
      throw await withWhyGone(err, this.run);
    }
  }

  async migrateTables(tables: A.Schema[], opts: MigrateOptions): Promise<string[]> {
    const force = opts.migrateMode === 'forced';
    const schemas = tables.map((t) => this.#schemas.schema(t));
    const lines = schemas.map(
      (s) => `-- ${describePlugin(this.run.label)}: migrate_table ${tableName(s)} (migrate_force: ${force}; ${s.fields.length} columns)`,
    );
    if (opts.plan) return lines;
    for (const s of schemas) {
      await this.#send(new v3.Write.Request({ migrate_table: new v3.Write.MessageMigrateTable({ table: encodeSchema(s), migrate_force: force }) }));
    }
    return lines;
  }

  async writeBatch(table: A.Schema, batches: A.RecordBatch[]): Promise<void> {
    for (const b of batches) {
      if (b.numRows === 0) continue;
      const record = insertRecord(ipcStreamPieces(this.#schemas.batch(table, b)));
      await this.#send(new v3.Write.Request({ insert: new v3.Write.MessageInsert({ record }) }));
    }
  }

  async deleteStale(msgs: DeleteStaleMessage[]): Promise<void> {
    // a failure the plugin has already answered with: delete nothing
    if (this.#stream?.failure) throw await withWhyGone(this.#stream.failure, this.run);
    for (const m of msgs) {
      const del = v3.Write.MessageDeleteStale.fromObject({ source_name: m.sourceName, table_name: m.table, sync_time: timestamp(m.syncTime) });
      await this.#send(new v3.Write.Request({ delete: del }));
    }
  }

  /** `delete_record` on the same stream, after every row sent before it (the plugin applies its messages in order) */
  async deleteRecord(msg: DeleteRecordMessage): Promise<void> {
    let del: InstanceType<typeof v3.Write.MessageDeleteRecord>;
    try {
      del = v3.Write.MessageDeleteRecord.fromObject(toWireDeleteRecord(msg));
    } catch (err) {
      throw new DestinationWriteError(
        `${describePlugin(this.run.label)}: the delete_record of table ${msg.table} cannot be sent: ${(err as Error).message}`,
        { connector: this.ctx.name, table: msg.table, phase: 'write' },
        err,
      );
    }
    await this.#send(new v3.Write.Request({ delete_record: del }));
  }

  /** a checkpoint: end the stream and await the plugin's answer, so every row before it is written */
  async commit(): Promise<void> {
    const s = this.#stream;
    if (!s) return;
    this.#stream = undefined;
    try {
      await s.finish();
    } catch (err) {
      throw await withWhyGone(err, this.run);
    }
  }

  logCounts(): LogCounts {
    return this.run.logCounts?.() ?? { warnings: 0, errors: 0 };
  }

  /** End (or, after a failure, cancel) the stream, await its answer, `Close`, then `afterClose`. */
  async close(err?: Error): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    let failure: unknown;
    try {
      if (err) this.#stream?.cancel();
      else await this.#stream?.finish();
    } catch (e) {
      failure = await withWhyGone(e, this.run);
    }
    try {
      await this.conn.closePlugin();
    } catch (e) {
      this.ctx.logger.debug(`${describePlugin(this.run.label)}: Close failed: ${(e as Error).message}`);
    }
    await this.run.afterClose?.();
    if (failure) throw failure;
  }
}
