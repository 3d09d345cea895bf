/**
 * The map of cq-pipe. One sync = one pipeline per source, run one source after another:
 *
 *   state backend ─► source.read()        per destination branch (fan-out: slowest sets the pace)
 *   ──► engine messages ──► internal ──► FanOut ─┬─► user transformers ─► write/pk modes ─► BatchWriter ─► client
 *      (migrate-table,       columns             └─► user transformers ─► write/pk modes ─► BatchWriter ─► client
 *       insert, checkpoint,  (_cq_sync_time,                                                   │ commit at checkpoints
 *       delete-stale,         _cq_source_name,        CheckpointTracker ◄── ack after commit ◄──┘
 *       sync-end)             _cq_id, _cq_parent_id)  (every destination acked → state flushed)
 *
 * Every stage is a Node stream or an async generator joined with stream.pipeline; backpressure
 * holds end to end, so memory is bounded by batch caps and high-water marks, not by input size.
 * `cq-pipe read` runs the left half to stdout and `cq-pipe write` the right half from stdin
 * (bin/commands/read.ts, write.ts; the format in lib/pipe/).
 */
import { PassThrough, Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import type * as A from 'apache-arrow';
import type { LoadedConfig, SourceSpec, DestinationSpec } from './config/types.js';
import type { ConnectorContext, DestinationClient, SourceClient } from './connector.js';
import type { Registry } from './registry.js';
import type { CheckpointMessage, SyncMessage } from './messages.js';
import { CheckpointTracker } from './checkpoints.js';
import { countTableError, inSpan } from './telemetry.js';
import { startOtelExport } from './otel-export.js';
import { openState, type StateBackend } from './state/index.js';
import { BatchWriter } from './batch-writer.js';
import { QUEUED_BATCHES } from './batcher.js';
import { FanOut } from './fan-out.js';
import { selectTables } from './table-select.js';
import { isIncrementalTable, tableName } from './schema.js';
import { SyncStats, buildSummary, type SummaryInput, type SyncSummary } from './stats.js';
import { summaryMessages } from './sync-summary.js';
import { renderSyncGroupId } from './stages/sync-group-id.js';
import { AbortedError, type CqPipeError, UnsupportedError, isConfigError, toCqPipeError } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { internalColumns } from './stages/internal-columns.js';
import { destinationPlan, registryOf } from './destination-plan.js';
import { VERSION } from './version.js';

export interface Shard {
  num: number;
  total: number;
}

export interface RunSyncOptions {
  config: LoadedConfig;
  /** where connectors are looked up; default: the registry the config was loaded against */
  registry?: Registry;
  logger?: Logger;
  invocationId?: string;
  /** skip migrations (delete-stale still runs) */
  noMigrate?: boolean;
  shard?: Shard;
  signal?: AbortSignal;
  /** called with live stats of the source being synced (progress display) */
  onStats?: (source: string, stats: SyncStats) => void;
}

export interface SyncResult {
  summaries: SyncSummary[];
  /** every table error and the fatal error, if any */
  errors: CqPipeError[];
  fatal?: CqPipeError;
  resources: number;
  /** rows destinations rejected into dead-letter files */
  rejectedRows: number;
  durationMs: number;
  /** the errors the summary line reports: `errors`, plus plugin error log lines beyond a source's table errors (as the CloudQuery CLI) */
  errorCount: number;
  /** warn log lines of plugin processes (as the CloudQuery CLI counts them) */
  warnings: number;
  /**
   * How the sync ended: `config-error` when the fatal error is a config-time one (its code is in
   * CONFIG_ERROR_CODES, lib/errors.ts), `failed` for any other fatal or table error,
   * `rows-rejected` when everything ran but destinations rejected rows into dead-letter files,
   * else `succeeded`. The CLI maps it to an exit code (bin/exit-codes.ts, docs/errors.md).
   */
  status: SyncStatus;
}

export type SyncStatus = 'succeeded' | 'failed' | 'config-error' | 'rows-rejected';

/** The outcome of a sync from its fatal error, table errors and rejected rows. */
export function syncStatus(fatal: CqPipeError | undefined, errors: readonly CqPipeError[], rejectedRows: number): SyncStatus {
  if (fatal) return isConfigError(fatal) ? 'config-error' : 'failed';
  return errors.length ? 'failed' : rejectedRows > 0 ? 'rows-rejected' : 'succeeded';
}

/** Run every source of the config into its destinations (`cq-pipe sync`). */
export async function runSync(opts: RunSyncOptions): Promise<SyncResult> {
  const logger = opts.logger ?? createLogger({ level: 'warn' });
  // otel_endpoint: this sync's spans and counters go out over OTLP, flushed at the end, failed or not (docs/observability.md)
  const otel = await startOtelExport(opts.config, logger);
  const result = await syncSources(opts, logger).catch(async (err: unknown) => {
    await otel?.shutdown();
    throw err;
  });
  const failedExports = (await otel?.shutdown()) ?? 0;
  return failedExports ? { ...result, warnings: result.warnings + 1 } : result;
}

async function syncSources(opts: RunSyncOptions, logger: Logger): Promise<SyncResult> {
  const registry = registryOf(opts.config, opts.registry);
  const invocationId = opts.invocationId ?? randomUUID();
  // µs precision: the same value lands in every row of this run
  const syncTime = new Date(Math.floor(Date.now()));
  const started = Date.now();
  const summaries: SyncSummary[] = [];
  const errors: CqPipeError[] = [];
  let fatal: CqPipeError | undefined;
  let resources = 0;
  let rejectedRows = 0;
  let warnings = 0;
  let logOnlyErrors = 0;

  for (const source of opts.config.sources) {
    const stats = new SyncStats();
    opts.onStats?.(source.name, stats);
    const dests = source.destinations.map((name) => {
      const d = opts.config.destinations.find((x) => x.name === name);
      if (!d) throw new UnsupportedError(`source ${source.name} names destination ${name}, which the config does not define`);
      return d;
    });
    try {
      rejectedRows += await inSpan(
        'cq-pipe.sync',
        {
          'cq.source': sourceNameFor(source, opts.shard),
          'cq.source_path': source.path,
          'cq.invocation_id': invocationId,
          'cq.destinations': dests.map((d) => d.name).join(','),
        },
        async (span) => {
          const n = await syncSource(source, dests, { ...opts, registry, logger, invocationId, syncTime, stats });
          span.setAttributes({ 'cq.rows': stats.resources, 'cq.table_errors': stats.errorCount });
          return n;
        },
      );
    } catch (err) {
      fatal = toCqPipeError(err);
      if (opts.signal?.aborted && !(fatal.code === 'CQ_ERR_ABORTED')) fatal = new AbortedError('sync aborted', err);
    }
    errors.push(...stats.errors, ...stats.destinationErrors.map((e) => e.error));
    resources += stats.resources;
    warnings += stats.warnings;
    logOnlyErrors += stats.sourceErrors - stats.errorCount;
    const sourceName = sourceNameFor(source, opts.shard);
    for (const d of dests) summaries.push(buildSummary(summaryInput(source, d, { invocationId, syncTime, stats, shard: opts.shard, fatal: !!fatal })));
    logger.debug('source synced', { source: sourceName, rows: stats.resources, errors: stats.errorCount });
    if (fatal) break;
  }
  if (fatal) errors.push(fatal);
  const status = syncStatus(fatal, errors, rejectedRows);
  return { summaries, errors, fatal, resources, rejectedRows, durationMs: Date.now() - started, errorCount: errors.length + logOnlyErrors, warnings, status };
}

/** The summary input of one source and destination (the rendered sync group id included). */
function summaryInput(
  source: Pick<SourceSpec, 'name' | 'path' | 'version'>,
  dest: DestinationSpec,
  run: { invocationId: string; syncTime: Date; stats: SyncStats; shard?: Shard; fatal?: boolean },
): SummaryInput {
  return {
    stats: run.stats,
    cliVersion: VERSION,
    syncId: run.invocationId,
    syncTime: run.syncTime,
    source: { name: source.name, path: source.path, version: source.version },
    destination: { name: dest.name, path: dest.path, version: dest.version },
    ...(dest.sync_group_id ? { syncGroupId: renderSyncGroupId(dest.sync_group_id, run.syncTime, run.invocationId) } : {}),
    ...(run.shard ? { shard: run.shard } : {}),
    fatal: run.fatal,
  };
}

/**
 * A `send_sync_summary` destination's summary row of one source's sync (lib/sync-summary.ts), made
 * when called — at the end of the stream, after delete-stale. `sourceName` is the rows'
 * `_cq_source_name` (with the shard suffix); `source.name` the unsuffixed one.
 */
export function destinationSummary(
  source: Pick<SourceSpec, 'name' | 'path' | 'version'>,
  dest: DestinationSpec,
  run: { sourceName: string; invocationId: string; syncTime: Date; stats: SyncStats; shard?: Shard; noMigrate?: boolean },
): () => SyncMessage[] {
  return () =>
    summaryMessages(buildSummary(summaryInput(source, dest, run)), {
      sourceName: run.sourceName,
      syncTime: run.syncTime,
      writeMode: dest.write_mode,
      pkMode: dest.pk_mode,
      migrate: !run.noMigrate,
    });
}

export function sourceNameFor(source: SourceSpec, shard?: Shard): string {
  return shard ? `${source.name}_${shard.num}_${shard.total}` : source.name;
}

interface SyncContext extends RunSyncOptions {
  registry: Registry;
  logger: Logger;
  invocationId: string;
  syncTime: Date;
  stats: SyncStats;
}

function connectorContext(name: string, _origin: { baseDir: string }, ctx: SyncContext): ConnectorContext {
  return { name, logger: ctx.logger.child({ plugin: name }), baseDir: process.cwd(), invocationId: ctx.invocationId, syncTime: ctx.syncTime };
}

/** Open a source and select its tables (also used by `cq-pipe tables`). */
export async function openSource(
  source: SourceSpec,
  ctx: Pick<SyncContext, 'logger' | 'invocationId' | 'syncTime' | 'registry'>,
): Promise<{ client: SourceClient; tables: A.Schema[]; all: A.Schema[] }> {
  const connector = await ctx.registry.source(source.path, source.origin.baseDir, source);
  const client = await connector.create(source.spec, connectorContext(source.name, source.origin, ctx as SyncContext));
  try {
    const all = await client.tables();
    return { client, all, tables: selectTables(all, source.tables, source.skip_tables, source.name) };
  } catch (err) {
    // a failed listing or a pattern that matches nothing must not leave the source's connection open
    await client.close?.().catch(() => {});
    throw err;
  }
}

/** The engine's message stream for one source: migrations, rows, then delete-stale and sync-end. */
export async function* sourceMessages(
  client: SourceClient,
  tables: A.Schema[],
  opts: {
    sourceName: string;
    syncTime: Date;
    signal: AbortSignal;
    stats: SyncStats;
    hasStateBackend: boolean;
    shard?: Shard;
    logger: Logger;
    state?: ReadonlyMap<string, string>;
    deterministicCqId?: boolean;
    stateTable?: string;
    /** a destination has a dead-letter file: rows the source cannot convert come as `rejected-rows` */
    rejectUnconvertible?: boolean;
  },
): AsyncGenerator<SyncMessage> {
  for (const t of tables) {
    opts.stats.table(tableName(t));
    yield { kind: 'migrate-table', table: t };
  }
  const { signal, shard, deterministicCqId, stateTable, rejectUnconvertible } = opts;
  for await (const msg of client.read(tables, { signal, state: opts.state ?? new Map(), shard, deterministicCqId, stateTable, rejectUnconvertible })) {
    opts.stats.record(msg);
    if (msg.kind === 'table-error') {
      countTableError({ 'cq.source': opts.sourceName, 'cq.table': msg.table, 'cq.code': msg.error.code });
      opts.logger.error(`table ${msg.table} failed: ${msg.error.message}`, { table: msg.table, code: msg.error.code, where: msg.error.where() });
    }
    yield msg;
  }
  // delete-stale only after a fully successful read, never for incremental tables with state
  if (opts.stats.errorCount === 0) {
    const partial = client.partialTables?.() ?? new Set<string>();
    for (const t of tables) {
      if (opts.hasStateBackend && isIncrementalTable(t)) continue;
      if (partial.has(tableName(t))) {
        opts.logger.info(`table ${tableName(t)} resumed an interrupted read: no delete-stale this run`, { table: tableName(t) });
        continue;
      }
      yield { kind: 'delete-stale', table: tableName(t), sourceName: opts.sourceName, syncTime: opts.syncTime };
    }
  }
  yield { kind: 'sync-end' };
}

/** Open a destination branch: a Writable of messages plus the promise of its pipeline. */
export async function openDestination(
  dest: DestinationSpec,
  ctx: Pick<SyncContext, 'logger' | 'invocationId' | 'syncTime'> & {
    /** the sync's stats: the destination plugin's log counts are read into its summary */
    stats?: SyncStats;
    noMigrate?: boolean;
    signal?: AbortSignal;
    onFlush?: (table: string, rows: number) => void;
    onCheckpoint?: (msg: CheckpointMessage, committed: boolean) => Promise<void>;
    onTableError?: (table: string, err: CqPipeError) => void;
    /** at the end of a sync that was not aborted, after delete-stale: the messages of its summary row (`send_sync_summary`) */
    summary?: () => SyncMessage[];
    /** the config: its transformer documents and registry */
    config: Pick<LoadedConfig, 'transformers' | 'registry'>;
    registry?: Registry;
  },
): Promise<{ input: Writable; done: Promise<void>; writer: BatchWriter; client: DestinationClient }> {
  // the plan (transformers included) is built before the client opens: config errors leave nothing open
  const plan = await destinationPlan(dest, ctx.config, ctx, ctx.registry);
  const client = await plan.connector.create(dest.spec, { ...connectorContext(dest.name, dest.origin, ctx as SyncContext), writeMode: dest.write_mode });
  if (client.logCounts) ctx.stats?.destinationLogs.set(dest.name, () => client.logCounts?.());
  const writer = new BatchWriter({
    client,
    destination: dest.name,
    caps: plan.caps,
    migrate: ctx.noMigrate ? false : { migrateMode: dest.migrate_mode },
    onFlush: ctx.onFlush,
    onCheckpoint: ctx.onCheckpoint,
    onTableError: ctx.onTableError,
    onSyncEnd: ctx.summary,
  });
  const input = new PassThrough({ objectMode: true, highWaterMark: QUEUED_BATCHES });
  const done = pipeline(input, plan.stage, writer, ctx.signal ? { signal: ctx.signal } : {});
  return { input, done, writer, client };
}

/** Sync one source into its destinations; returns the number of rows sent to dead-letter files. */
async function syncSource(source: SourceSpec, dests: DestinationSpec[], ctx: SyncContext): Promise<number> {
  const ac = new AbortController();
  const onAbort = () => ac.abort(ctx.signal?.reason);
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  const sourceName = sourceNameFor(source, ctx.shard);
  const log = ctx.logger.child({ source: sourceName });
  let client: SourceClient | undefined;
  let state: StateBackend | undefined;
  try {
    state = await openState(source.backend_options, sourceName, ctx.registry);
    const stateBackend = state;
    // checkpoints arrive only once rows flow, after both sides are open
    let tracker: CheckpointTracker | undefined;
    const onTableError = (destination: string) => (table: string, err: CqPipeError) => {
      ctx.stats.recordDestinationError(destination, table, err);
      countTableError({ 'cq.source': sourceName, 'cq.destination': destination, 'cq.table': table, 'cq.code': err.code });
      log.error(`table ${table} failed in destination ${destination}: ${err.message} (the other tables go on; its saved state does not advance)`, {
        table,
        destination,
        code: err.code,
        where: err.where(),
      });
    };
    // the source and the destinations open at the same time (a plugin source's process starts while
    // the destinations connect); the source's failure is the one reported, and whatever opened is closed
    const opening = Promise.allSettled(
      dests.map((d) =>
        openDestination(d, {
          ...ctx,
          signal: ac.signal,
          onCheckpoint: (m, committed) => tracker!.ack(m, committed),
          onTableError: onTableError(d.name),
          ...(d.send_sync_summary ? { summary: destinationSummary(source, d, { ...ctx, sourceName }) } : {}),
        }),
      ),
    );
    const opened$ = async () => (await opening).flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const closeOpened = async (err: Error) => {
      const open = await opened$();
      for (const b of open) b.writer.destroy(err);
      await Promise.allSettled(open.map((b) => b.done));
    };
    let opened: Awaited<ReturnType<typeof openSource>>;
    try {
      opened = await openSource(source, ctx);
    } catch (err) {
      await closeOpened(toCqPipeError(err));
      throw err;
    }
    client = opened.client;
    const destinationFailure = (await opening).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (destinationFailure) {
      await closeOpened(toCqPipeError(destinationFailure.reason));
      throw destinationFailure.reason;
    }
    const branches = await opened$();
    let tables = opened.tables;
    if (ctx.shard && !client.shardsItself) tables = tables.filter((_, i) => i % ctx.shard!.total === ctx.shard!.num - 1);
    log.info('sync started', { tables: tables.length, destinations: dests.map((d) => d.name).join(',') });
    tracker = new CheckpointTracker(dests.length, stateBackend, log);
    const source$ = Readable.from(
      sourceMessages(client, tables, {
        sourceName,
        syncTime: ctx.syncTime,
        signal: ac.signal,
        stats: ctx.stats,
        logger: log,
        hasStateBackend: source.backend_options !== undefined,
        shard: ctx.shard,
        state: state.entries(),
        deterministicCqId: source.deterministic_cq_id,
        stateTable: source.backend_options?.table_name,
        // each destination with a dead-letter file takes them; one without fails the table (lib/batch-writer.ts)
        rejectUnconvertible: branches.some((b) => b.client.rejectRows !== undefined),
      }),
      { objectMode: true, highWaterMark: QUEUED_BATCHES },
    );
    const all = [
      pipeline(
        source$,
        internalColumns({ sourceName, syncTime: ctx.syncTime, deterministicCqId: source.deterministic_cq_id }),
        new FanOut(branches.map((b) => b.input)),
        { signal: ac.signal },
      ),
      ...branches.map((b) => b.done),
    ].map((p) =>
      p.catch((err) => {
        ac.abort(err);
        throw err;
      }),
    );
    const results = await Promise.allSettled(all);
    // nothing a batch writer queued runs on after the sync returns (a checkpoint's state flush)
    await Promise.all(branches.map((b) => b.writer.settled()));
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => toCqPipeError(r.reason));
    if (failures.length) {
      // the first failure that is not just the echo of our own abort
      throw failures.find((e) => e.code !== 'CQ_ERR_ABORTED') ?? failures[0];
    }
    return branches.reduce((n, b) => n + (b.client.rejectedRows?.() ?? 0), 0);
  } finally {
    ctx.signal?.removeEventListener('abort', onAbort);
    await client?.close?.();
    ctx.stats.addLogCounts(client?.logCounts?.());
    await state?.close();
  }
}
