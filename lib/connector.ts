/**
 * Connector contracts. A connector is a descriptor registered by name (connectors/index.ts) or
 * loaded from a module path; `create` opens nothing until the engine uses the result.
 */
import type * as A from 'apache-arrow';
import type { JSONSchemaType } from 'ajv';
import type { MigrateMode, SyncMessage, WriteMode, DeleteStaleMessage, DeleteRecordMessage, RejectedRowsMessage } from './messages.js';
import type { Logger } from './logger.js';

/** A JSON schema (draft-07) for a connector's own `spec`, checked at config load. */
// biome-ignore lint/suspicious/noExplicitAny: a schema of any spec shape
export type SpecSchema = JSONSchemaType<any> | Record<string, unknown>;

export interface ConnectorContext {
  /** the plugin `name` from config */
  name: string;
  logger: Logger;
  /** directory relative data paths resolve against: the working directory, as in CloudQuery */
  baseDir: string;
  /** invocation id (`--invocation-id`), for templates such as {{SYNC_ID}} */
  invocationId: string;
  /** sync start time */
  syncTime: Date;
  /**
   * A destination's `write_mode` when the engine runs it (undefined elsewhere, e.g. `migrate`, or a
   * destination served as a plugin): with `overwrite-delete-stale` a destination may stage the rows
   * of a table and replace them in bulk when the table's delete-stale arrives (docs/postgresql.md).
   */
  writeMode?: WriteMode;
}

export interface ReadOptions {
  signal: AbortSignal;
  /** saved incremental state for this source (empty without a backend) */
  state: ReadonlyMap<string, string>;
  /** `--shard n/t` (1-based n) */
  shard?: { num: number; total: number };
  /**
   * The source's `deterministic_cq_id`: a plugin source asks the plugin for such ids; a source that
   * makes `_cq_id` itself (to name parents in child rows) makes UUIDv5s of the primary key.
   */
  deterministicCqId?: boolean;
  /** `backend_options.table_name` when the source keeps state (a plugin source serves its state under that name) */
  stateTable?: string;
  /**
   * Set when a destination of the source has a dead-letter file (`DestinationClient.rejectRows`): a
   * source that converts values (the file and s3 sources) then sends a row whose value does not fit
   * its column as a `rejected-rows` message instead of failing the table (docs/bad-input.md).
   */
  rejectUnconvertible?: boolean;
}

export interface SourceClient {
  /** every table this source can produce (for `tables`, selection and migrations) */
  tables(): Promise<A.Schema[]>;
  /**
   * Stream `insert` messages (and optionally `checkpoint` / `table-error`) for the selected
   * tables. Sources pull: nothing is read until the consumer asks. A table that fails emits a
   * `table-error` and stops; other tables continue.
   */
  read(tables: A.Schema[], opts: ReadOptions): AsyncIterable<SyncMessage>;
  /**
   * The source splits its own work units by `ReadOptions.shard` (e.g. the files of a file source);
   * the engine then hands it every selected table instead of splitting tables between shards.
   */
  shardsItself?: boolean;
  /**
   * Tables this read did not read in full (a resumed keyset read): the engine then runs no
   * delete-stale for them, which would remove the rows of the interrupted run.
   */
  partialTables?(): ReadonlySet<string>;
  /**
   * Lines at warn and error level in the log of the source's plugin process (docs/plugins.md); the
   * sync's summary counts them as the CloudQuery CLI does. Read after `close`.
   */
  logCounts?(): LogCounts;
  close?(): Promise<void>;
}

/** Warning and error log lines of a plugin process. */
export interface LogCounts {
  warnings: number;
  errors: number;
}

/** A problem a connector finds in its spec beyond what its JSON schema can say (e.g. type names). */
export interface SpecProblem {
  /** key path inside the connector's spec, e.g. ['tables', 0, 'columns', 2, 'type'] */
  keyPath: (string | number)[];
  message: string;
  hint?: string;
}

export interface SourceConnector<Spec = unknown> {
  kind: 'source';
  name: string;
  configSchema: SpecSchema;
  /** checks run at config load after the schema (defaults applied) */
  validate?(spec: Spec): SpecProblem[];
  /** what is wrong with a state value `state set` would store under `key` (undefined: it reads back) */
  validateState?(key: string, value: string): string | undefined;
  create(spec: Spec, ctx: ConnectorContext): SourceClient | Promise<SourceClient>;
}

export interface DestinationCapabilities {
  writeModes: readonly WriteMode[];
  /** default batch caps; the engine applies a destination spec's batch_size / batch_size_bytes / batch_timeout over them */
  batch: { rows: number; bytes: number; timeoutMs: number };
}

export interface MigrateOptions {
  migrateMode: MigrateMode;
  /** only compute and return the plan (DDL), execute nothing */
  plan?: boolean;
}

/**
 * What a destination implements; lib/batch-writer.ts does the batching and ordering around it.
 * `close(undefined)` means commit everything; `close(err)` means roll back what is not committed.
 */
export interface DestinationClient {
  /** all tables of the sync, before the first insert; returns the DDL it ran or would run */
  migrateTables(tables: A.Schema[], opts: MigrateOptions): Promise<string[]>;
  /** one flushed batch of one table (several RecordBatches of the same schema) */
  writeBatch(table: A.Schema, batches: A.RecordBatch[]): Promise<void>;
  deleteStale?(msgs: DeleteStaleMessage[]): Promise<void>;
  /**
   * a source-driven delete (lib/messages.ts `DeleteRecordMessage`), after every row written before
   * it; a destination without it fails the message's table (CQ_ERR_UNSUPPORTED)
   */
  deleteRecord?(msg: DeleteRecordMessage): Promise<void>;
  /**
   * Lines at warn and error level in the log of the destination's plugin process so far
   * (docs/plugins.md); the sync summary's destination_warnings and destination_errors count them as
   * the CloudQuery CLI does. Readable at any time (the summary row is built before `close`).
   */
  logCounts?(): LogCounts;
  /**
   * Present only when the destination has a dead-letter file: rows the source could not convert
   * (lib/messages.ts `RejectedRowsMessage`) are written there and counted in rejectedRows(). The
   * engine asks sources for such messages when a destination has it; a destination without it fails
   * the message's table with the first row's error.
   */
  rejectRows?(msg: RejectedRowsMessage): Promise<void>;
  /**
   * make everything written so far durable (called at checkpoints); `table` is the checkpoint's
   * table when it names one (a client that holds rows back, e.g. staged for a bulk replace, must
   * make at least that table's rows durable in it; without a table, every table's)
   */
  commit?(table?: string): Promise<void>;
  /** rows rejected so far and written to a dead-letter file (a sync with any exits 3) */
  rejectedRows?(): number;
  close(err?: Error): Promise<void>;
}

export interface DestinationConnector<Spec = unknown> {
  kind: 'destination';
  name: string;
  configSchema: SpecSchema;
  /** checks run at config load after the schema (defaults applied) */
  validate?(spec: Spec): SpecProblem[];
  capabilities: DestinationCapabilities;
  /**
   * The state-backend connection (`postgres://…`, `s3://bucket/prefix?…`, `file://dir`) of a store
   * this destination writes to, for `@@plugins.<name>.connection` (docs/config.md). `spec` is the
   * document's spec as written (no defaults applied); undefined when it names no such store.
   */
  stateConnection?(spec: Record<string, unknown>): string | undefined;
  create(spec: Spec, ctx: ConnectorContext): DestinationClient | Promise<DestinationClient>;
}

export type Connector = SourceConnector | DestinationConnector;

export function defineSource<Spec>(c: Omit<SourceConnector<Spec>, 'kind'>): SourceConnector<Spec> {
  return { kind: 'source', ...c };
}

export function defineDestination<Spec>(c: Omit<DestinationConnector<Spec>, 'kind'>): DestinationConnector<Spec> {
  return { kind: 'destination', ...c };
}
