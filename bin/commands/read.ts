/**
 * `cq-pipe read <config…> [--source NAME] [--format arrow|ndjson|singer]`: run a source and write
 * its stream to stdout (docs/pipes.md). Delete-stale is not sent: `write` decides it, with its own sync
 * time, once the stream ended without errors. A source's delete-record is passed on (Arrow and NDJSON;
 * Singer has no delete, so it is dropped with a warning) and `write` applies it. Saved incremental state is read (to resume) but
 * never written here; `write` persists checkpoints after its destination commits.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { builtinRegistry, loadConfig } from '../config.js';
import { UsageError } from '../../lib/errors.js';
import { openSource, sourceMessages, sourceNameFor } from '../../lib/pipeline.js';
import { openState } from '../config.js';
import { SyncStats } from '../../lib/stats.js';
import { encodeMessageParts, type PipeMessage } from '../../lib/pipe/arrow-stream.js';
import { encodeNdjson } from '../../lib/pipe/ndjson-stream.js';
import { encodeSinger } from '../../lib/pipe/singer.js';
import { makeLogger, reportError, type GlobalOptions, pickByName } from './common.js';
import { parseShard } from './sync.js';

export interface ReadOptions extends GlobalOptions {
  source?: string;
  format?: string;
  shard?: string;
}

export const PIPE_FORMATS = ['arrow', 'ndjson', 'singer'] as const;

/** bytes the source may run ahead of a slower reader of stdout (a few batches) */
const READ_AHEAD = 8 << 20;

export async function readCommand(paths: string[], o: ReadOptions, out: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout): Promise<number> {
  const logger = makeLogger(o);
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const format = (o.format ?? 'arrow') as (typeof PIPE_FORMATS)[number];
    if (!PIPE_FORMATS.includes(format)) throw new UsageError(`--format "${format}" is not one of ${PIPE_FORMATS.join(', ')}`);
    if (format === 'arrow' && out.isTTY)
      throw new UsageError('refusing to write a binary Arrow stream to a terminal', 'pipe it: cq-pipe read cfg.yml | cq-pipe inspect, or use --format ndjson');
    if (!paths.length) throw new UsageError('read needs at least one config file or directory');
    const shard = parseShard(o.shard);
    const config = await loadConfig(paths);
    for (const s of config.secrets) logger.addSecret(s);
    const source = pickByName(config.sources, o.source, 'source');
    const sourceName = sourceNameFor(source, shard);
    const syncTime = new Date();
    const state = await openState(source.backend_options, sourceName);
    const saved = state.entries();
    await state.close();
    const { client, tables: selected } = await openSource(source, { logger, invocationId: o['invocation-id'] ?? '', syncTime, registry: builtinRegistry });
    const tables = shard && !client.shardsItself ? selected.filter((_, i) => i % shard.total === shard.num - 1) : selected;
    const stats = new SyncStats();
    const encode = format === 'arrow' ? encodeMessageParts : format === 'ndjson' ? encodeNdjson : encodeSinger;
    const corked = out as Partial<Pick<Writable, 'cork' | 'uncork'>>;
    const emit = async (m: PipeMessage) => {
      const bytes = encode(m);
      if (bytes === undefined) return;
      let full: boolean;
      if (Array.isArray(bytes)) {
        // a segment's pieces (the column buffers, not copied) leave in one writev
        corked.cork?.();
        full = false;
        for (const b of bytes) full = !out.write(b) || full;
        corked.uncork?.();
      } else full = !out.write(bytes);
      // the source goes on while up to READ_AHEAD bytes wait for the other end of the pipe
      const queued = (out as Partial<Writable>).writableLength;
      if (full && (queued === undefined || queued > READ_AHEAD)) await once(out, 'drain');
    };
    try {
      await emit({ kind: 'sync-start', sourceName, syncTime: syncTime.toISOString(), source: source.path });
      const more = { deterministicCqId: source.deterministic_cq_id, stateTable: source.backend_options?.table_name };
      for await (const m of sourceMessages(client, tables, {
        sourceName,
        syncTime,
        signal: ac.signal,
        stats,
        hasStateBackend: true,
        logger,
        state: saved,
        ...more,
      })) {
        if (m.kind === 'delete-stale') continue;
        if (m.kind === 'delete-record' && format === 'singer') {
          // Singer has no delete message: say so rather than lose it silently
          logger.warn(`table ${m.table}: a delete-record cannot be written as Singer and is dropped (use --format arrow or ndjson)`, { table: m.table });
          continue;
        }
        await emit(m);
      }
    } finally {
      await client.close?.();
    }
    logger.info('read finished', { source: sourceName, rows: stats.resources, errors: stats.errorCount });
    if (ac.signal.aborted) return 130;
    return stats.errorCount ? 1 : 0;
  } catch (err) {
    return reportError(err, logger);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
