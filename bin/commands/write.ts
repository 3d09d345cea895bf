/**
 * `cq-pipe write <config…> [--destination NAME] [--source-name S]`: read a stream from stdin
 * (Arrow, NDJSON or Singer, told by its first bytes) into a destination with its write, migrate
 * and PK modes (docs/pipes.md). Reserved columns are added here, as `sync` does; checkpoints are
 * persisted to the source's state backend once committed (Singer STATE is then echoed to stdout);
 * delete-stale runs only when the stream ended cleanly without table errors.
 */
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { loadConfig } from '../config.js';
import { AbortedError, SourceDataError, UsageError, toCqPipeError } from '../../lib/errors.js';
import { CheckpointTracker } from '../../lib/checkpoints.js';
import type { SyncMessage } from '../../lib/messages.js';
import { destinationSummary, openDestination } from '../../lib/pipeline.js';
import { isIncrementalTable, tableName } from '../../lib/schema.js';
import { openState } from '../config.js';
import type { StateBackend } from '../../lib/state/index.js';
import { SyncStats, summaryLine } from '../../lib/stats.js';
import { internalColumns } from '../../lib/stages/internal-columns.js';
import { openPipeInput, type PipeFormat } from '../../lib/pipe/detect.js';
import type { PipeMessage, SyncStartMessage } from '../../lib/pipe/arrow-stream.js';
import { SINGER_STATE_KEY } from '../../lib/pipe/singer.js';
import { makeLogger, reportError, type GlobalOptions, pickByName } from './common.js';
import { writeStderr } from '../../lib/logger.js';
import { exitCodeOfSignal, exitCodeOfSync } from '../exit-codes.js';
import type * as A from 'apache-arrow';

export interface WriteOptions extends GlobalOptions {
  destination?: string;
  'source-name'?: string;
  'no-migrate'?: boolean;
}

export async function writeCommand(
  paths: string[],
  o: WriteOptions,
  input: AsyncIterable<Uint8Array> & { isTTY?: boolean } = process.stdin,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const logger = makeLogger(o);
  const ac = new AbortController();
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    signalled = sig;
    logger.warn(`received ${sig}, stopping; committed data and state are kept`);
    ac.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const started = Date.now();
  const stats = new SyncStats();
  try {
    if (!paths.length) throw new UsageError('write needs at least one config file or directory');
    // a terminal as stdin would wait silently for a stream nobody types
    if (input.isTTY)
      throw new UsageError(
        'write reads a stream from stdin, which is a terminal',
        'pipe one in: cq-pipe read cfg.yml | cq-pipe write cfg.yml, or < stream.arrow',
      );
    const config = await loadConfig(paths);
    for (const s of config.secrets) logger.addSecret(s);
    const dest = pickByName(config.destinations, o.destination, 'destination');
    // the source feeding this destination in the config (if any) supplies state and cq-id settings
    const source = config.sources.find((s) => s.destinations.includes(dest.name));

    const syncTime = new Date();
    const invocationId = o['invocation-id'] ?? '';
    // known once the stream's first message has arrived (its sync-start names the source)
    let format: PipeFormat = 'arrow';
    let start: SyncStartMessage | undefined;
    let sourceName = '';
    let log = logger;
    let tracker: CheckpointTracker | undefined;
    // `send_sync_summary`: as sync does, the row names the config's source (else the stream's)
    const summary = () =>
      destinationSummary(source ?? { name: sourceName, path: start?.source ?? 'pipe' }, dest, {
        sourceName,
        invocationId,
        syncTime,
        stats,
        noMigrate: o['no-migrate'],
      })();
    // the destination opens (connects, starts its workers) while the reading side starts up, as sync
    // opens its source and destinations at the same time; rows, checkpoints and errors come only
    // after the first message, when everything above is known
    const opening = openDestination(dest, {
      logger,
      invocationId,
      syncTime,
      noMigrate: o['no-migrate'],
      ...(dest.send_sync_summary ? { summary } : {}),
      signal: ac.signal,
      config,
      onCheckpoint: async (m, committed) => {
        await tracker!.ack(m, committed);
        // a Singer target prints each state once it is durable
        const s = m.state[SINGER_STATE_KEY];
        if (committed && format === 'singer' && s !== undefined && !out.write(s + '\n')) await once(out, 'drain');
      },
      onTableError: (table, err) => {
        stats.recordDestinationError(dest.name, table, err);
        log.error(`table ${table} failed in destination ${dest.name}: ${err.message} (the other tables go on; its saved state does not advance)`, {
          table,
          code: err.code,
          where: err.where(),
        });
      },
    });
    // a failure to open is reported after the input's own (below), as when the destination opened second
    opening.catch(() => {});
    let messages: AsyncGenerator<PipeMessage>;
    let first: IteratorResult<PipeMessage>;
    let state: StateBackend;
    try {
      ({ format, messages } = await openPipeInput(input));
      first = await messages.next();
      start = !first.done && first.value.kind === 'sync-start' ? first.value : undefined;
      sourceName = o['source-name'] ?? start?.sourceName ?? source?.name ?? 'pipe';
      log = logger.child({ source: sourceName, destination: dest.name });
      state = await openState(source?.backend_options, sourceName);
    } catch (err) {
      // nothing reached the destination: what it opened is closed before the input's error is reported
      await opening
        .then(
          (b) => {
            b.writer.destroy(toCqPipeError(err));
            return b.done;
          },
          () => {},
        )
        .catch(() => {});
      throw err;
    }
    tracker = new CheckpointTracker(1, state, log);
    try {
      const branch = await opening;
      const tables: A.Schema[] = [];
      async function* messagesOut(): AsyncGenerator<SyncMessage> {
        let ended = false;
        const handle = function* (m: PipeMessage): Generator<SyncMessage> {
          if (m.kind === 'sync-start') return;
          if (m.kind === 'sync-end') {
            ended = true;
            return;
          }
          if (m.kind === 'delete-stale') return;
          stats.record(m);
          if (m.kind === 'migrate-table') {
            tables.push(m.table);
            stats.table(tableName(m.table));
          }
          if (m.kind === 'table-error') log.error(`table ${m.table} failed upstream: ${m.error.message}`, { table: m.table, code: m.error.code });
          yield m;
        };
        if (!first.done && !start) yield* handle(first.value);
        for await (const m of messages) {
          if (ac.signal.aborted) throw new AbortedError();
          yield* handle(m);
        }
        if (format === 'arrow' && !ended)
          throw new SourceDataError('the stream ended before its sync-end: the reading side failed or was stopped', { file: 'stdin' });
        if (stats.errorCount === 0) {
          for (const t of tables) {
            if (source?.backend_options && isIncrementalTable(t)) continue;
            yield { kind: 'delete-stale', table: tableName(t), sourceName, syncTime };
          }
        }
        yield { kind: 'sync-end' };
      }
      await Promise.all([
        pipeline(
          Readable.from(messagesOut(), { objectMode: true, highWaterMark: 1 }),
          internalColumns({ sourceName, syncTime, deterministicCqId: source?.deterministic_cq_id ?? false }),
          branch.input,
          { signal: ac.signal },
        ),
        branch.done,
        // nothing the batch writer queued runs on after the state closes
      ]).finally(() => branch.writer.settled());
      const rejected = branch.client.rejectedRows?.() ?? 0;
      const errors = stats.errorCount + stats.destinationErrors.length;
      writeStderr(summaryLine(stats.resources, errors, 0, Date.now() - started));
      if (signalled) return exitCodeOfSignal(signalled);
      return exitCodeOfSync({ status: errors ? 'failed' : rejected ? 'rows-rejected' : 'succeeded' });
    } finally {
      await state.close();
    }
  } catch (err) {
    const e = signalled ? new AbortedError(`write stopped by ${signalled}`, err) : toCqPipeError(err);
    const code = reportError(e, logger);
    writeStderr(summaryLine(stats.resources, stats.errorCount + stats.destinationErrors.length + 1, 0, Date.now() - started));
    if (signalled) return exitCodeOfSignal(signalled);
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
