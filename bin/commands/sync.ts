/** `cq-pipe sync <config…>` */
import { appendFile, mkdir, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '../config.js';
import { runSync, type Shard } from '../../lib/pipeline.js';
import { UsageError } from '../../lib/errors.js';
import { tableMetrics } from '../table-metrics.js';
import { summaryLine } from '../../lib/stats.js';
import { createProgress } from '../progress.js';
import { makeLogger, reportError, type GlobalOptions } from './common.js';
import { writeStderr } from '../../lib/logger.js';
import { exitCodeOfSignal, exitCodeOfSync } from '../exit-codes.js';

export interface SyncOptions extends GlobalOptions {
  'no-migrate'?: boolean;
  shard?: string;
  'summary-location'?: string;
  'tables-metrics-location'?: string;
  progress?: boolean;
}

export function parseShard(s: string | undefined): Shard | undefined {
  if (s === undefined) return undefined;
  const m = /^(\d+)\/(\d+)$/.exec(s);
  const num = m ? Number(m[1]) : NaN;
  const total = m ? Number(m[2]) : NaN;
  if (!m || total < 1 || num < 1 || num > total) throw new UsageError(`--shard "${s}" must be n/t with 1 ≤ n ≤ t, e.g. --shard 2/4`);
  return { num, total };
}

/** `--summary-location`, checked before the sync writes anything: a file that can be appended to (created if missing) */
async function writableSummary(location: string): Promise<string> {
  const file = path.resolve(location);
  try {
    if ((await stat(file).catch(() => undefined))?.isDirectory()) throw new Error('it is a directory');
    await mkdir(path.dirname(file), { recursive: true });
    await (await open(file, 'a')).close();
  } catch (err) {
    throw new UsageError(`--summary-location ${location} cannot be written: ${(err as Error).message}`, 'name a file in a writable directory');
  }
  return file;
}

/** how long a signalled sync may take to roll back and close */
const GRACE_MS = 30_000;

export async function syncCommand(paths: string[], o: SyncOptions): Promise<number> {
  const progress = createProgress(process.stderr, { enabled: o.progress !== false });
  const logger = makeLogger(o, () => progress.clear());
  const ac = new AbortController();
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    signalled = sig;
    logger.warn(`received ${sig}, stopping; committed data is kept (a second ${sig} exits at once)`);
    ac.abort();
    // a destination stuck on the network must not keep the process alive forever
    setTimeout(() => {
      logger.error(`did not stop within ${GRACE_MS / 1000}s of ${sig}; exiting without waiting further`);
      process.exit(exitCodeOfSignal(sig));
    }, GRACE_MS).unref();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (!paths.length) throw new UsageError('sync needs at least one config file or directory', 'cq-pipe sync examples/quickstart.yml');
    const shard = parseShard(o.shard);
    const config = await loadConfig(paths, { requireDestinations: true });
    const summaryFile = o['summary-location'] ? await writableSummary(o['summary-location']) : undefined;
    for (const s of config.secrets) logger.addSecret(s);
    const metrics = o['tables-metrics-location'] ? tableMetrics(o['tables-metrics-location']) : undefined;
    const result = await runSync({
      config,
      logger,
      shard,
      signal: ac.signal,
      invocationId: o['invocation-id'],
      noMigrate: o['no-migrate'],
      onStats: (source, stats) => {
        progress.track(source, stats);
        metrics?.track(source, stats);
      },
    });
    progress.stop();
    metrics?.stop(result.status === 'succeeded' || result.status === 'rows-rejected' ? 'succeeded' : 'failed');
    if (result.fatal) reportError(result.fatal, logger);
    if (summaryFile) await appendFile(summaryFile, result.summaries.map((s) => JSON.stringify(s) + '\n').join(''));
    const peak = Math.max(0, ...result.summaries.map((s) => s.peak_rss_bytes));
    logger.info('sync finished', { rows: result.resources, errors: result.errorCount, warnings: result.warnings, peak_rss_mb: Math.round(peak / 1048576) });
    writeStderr(summaryLine(result.resources, result.errorCount, result.warnings, result.durationMs));
    if (signalled) return exitCodeOfSignal(signalled);
    return exitCodeOfSync(result);
  } catch (err) {
    progress.stop();
    return reportError(err, logger);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
