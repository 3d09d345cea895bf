/**
 * Live progress on stderr: on a TTY, a redrawn block of per-table rows and rows/s; otherwise a
 * plain line every `intervalMs` (so CI logs show the sync is alive without flooding them).
 */
import type { SyncStats } from '../lib/stats.js';

export interface Progress {
  track(source: string, stats: SyncStats): void;
  /** erase the live block (before a log line is printed) */
  clear(): void;
  stop(): void;
}

export function createProgress(stream: NodeJS.WriteStream, opts: { enabled: boolean; intervalMs?: number }): Progress {
  const tty = stream.isTTY === true;
  const interval = opts.intervalMs ?? (tty ? 250 : 10_000);
  let current: { source: string; stats: SyncStats } | undefined;
  let drawn = 0;
  const last = new Map<string, { rows: number; at: number; rate: number }>();

  const lines = (): string[] => {
    if (!current) return [];
    const now = Date.now();
    const out: string[] = [];
    for (const [table, t] of current.stats.tables) {
      const prev = last.get(table) ?? { rows: 0, at: current.stats.startedAt, rate: 0 };
      const dt = (now - prev.at) / 1000;
      const rate = dt > 0 ? (t.rows - prev.rows) / dt : prev.rate;
      last.set(table, { rows: t.rows, at: now, rate });
      out.push(
        `${current.source} ${table}: ${t.rows.toLocaleString('en-US')} rows, ${Math.round(rate).toLocaleString('en-US')} rows/s${
          t.errors ? `, ` + `${t.errors} errors` : ''
        }`,
      );
    }
    return out;
  };

  const clear = () => {
    if (!tty || drawn === 0) return;
    stream.write(`\x1b[${drawn}A\x1b[0J`);
    drawn = 0;
  };

  const tick = () => {
    if (!current) return;
    if (tty) {
      clear();
      const ls = lines().slice(0, Math.max(1, (stream.rows ?? 24) - 2));
      if (ls.length) stream.write(ls.join('\n') + '\n');
      drawn = ls.length;
    } else {
      const ls = lines();
      if (ls.length) stream.write(ls.map((l) => `progress: ${l}`).join('\n') + '\n');
    }
  };

  const timer = opts.enabled ? setInterval(tick, interval) : undefined;
  timer?.unref();
  return {
    track(source, stats) {
      current = { source, stats };
      last.clear();
    },
    clear,
    stop() {
      if (timer) clearInterval(timer);
      clear();
    },
  };
}
