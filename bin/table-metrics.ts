/**
 * `--tables-metrics-location FILE`: per-table rows, errors, start, end and duration of every source
 * in the run, rewritten atomically (temp file + rename) every second while the sync runs and once
 * at the end, so a dashboard or `watch cat FILE` sees it live.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SyncStats } from '../lib/stats.js';

export interface TableMetricsWriter {
  track(source: string, stats: SyncStats): void;
  /** write the final state and stop the timer */
  stop(status: 'succeeded' | 'failed'): void;
}

export function tableMetrics(file: string, intervalMs = 1000): TableMetricsWriter {
  const target = path.resolve(file);
  mkdirSync(path.dirname(target), { recursive: true });
  const sources = new Map<string, SyncStats>();
  const write = (status: 'running' | 'succeeded' | 'failed') => {
    const tables = [...sources].flatMap(([source, stats]) =>
      [...stats.tables].map(([table, t]) => ({
        source,
        table,
        rows: t.rows,
        errors: t.errors,
        started_at: new Date(t.startedAt).toISOString(),
        ended_at: status === 'running' && t.errors === 0 ? null : new Date(t.endedAt).toISOString(),
        duration_ms: (status === 'running' ? Date.now() : t.endedAt) - t.startedAt,
      })),
    );
    const tmp = `${target}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ updated_at: new Date().toISOString(), status, tables }, null, 2) + '\n');
    renameSync(tmp, target);
  };
  const timer = setInterval(() => write('running'), intervalMs);
  timer.unref();
  return {
    track(source, stats) {
      sources.set(source, stats);
      write('running');
    },
    stop(status) {
      clearInterval(timer);
      write(status);
    },
  };
}
