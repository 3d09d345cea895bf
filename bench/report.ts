/**
 * The report of `npm run bench` (docs/benchmarks.md): every figure of the table there as one line
 * — path, figure, target, met or missed — built from what each bench returned, printed as one
 * table and written into bench/results.json. Lines without a target are shown for information.
 */
import type { PluginFigures } from './plugins.js';
import type { PgFigures } from './postgres.js';

/** docs/benchmarks.md: each figure must be at most its target */
export const TARGETS = {
  append: 1.1,
  overwrite: 2,
  pgToParquet: 1.5,
  peakRssMb: 200,
  rssGrowth: 1.2,
  readWrite: 1.1,
  plugin: 1.3,
  pluginRssMb: 300,
} as const;

export type Unit = '×' | 'MB' | 'rows/s';

export interface Line {
  path: string;
  /** what the figure is measured against */
  reference: string;
  unit: Unit;
  /** a ratio (×), a peak RSS (MB) or a throughput */
  figure: number;
  target?: number;
  met?: boolean;
  seconds?: number;
  reference_seconds?: number;
  rows_per_s?: number;
  peak_rss_mb?: number;
}

export interface Run {
  name: string;
  rows: number;
  seconds: number;
  rows_per_s: number;
  peak_rss_mb: number;
  output_mb?: number;
}

export interface PipeFigures {
  sync_seconds: number;
  read_write_seconds: number;
  ratio: number;
}

export interface MemoryRun {
  rows: number;
  seconds: number;
  peak_rss_mb: number;
}

export interface MemoryFigures {
  rows: number;
  big_rows: number;
  parquet: MemoryRun;
  parquet_big: MemoryRun;
  /** one `no_rotate` Parquet file per table: the whole sync in one file */
  parquet_no_rotate: MemoryRun;
  parquet_no_rotate_big: MemoryRun;
  postgres: MemoryRun;
  postgres_big: MemoryRun;
  parquet_ratio: number;
  parquet_no_rotate_ratio: number;
  postgres_ratio: number;
}

export interface Sections {
  runs: Run[];
  pipe?: PipeFigures;
  memory?: MemoryFigures;
  postgres?: PgFigures | { skipped: string };
  plugins?: PluginFigures;
}

function line(l: Omit<Line, 'met'>): Line {
  if (l.target === undefined) return l;
  const { path, reference, unit, figure, target, ...times } = l;
  return { path, reference, unit, figure, target, met: figure <= target, ...times };
}

const rowsLabel = (n: number) => (n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n.toLocaleString('en-US'));

/** The report's lines, in the order of docs/benchmarks.md, from the sections that ran. */
export function reportLines(s: Sections): Line[] {
  const out: Line[] = [];
  /** every built-in path's peak RSS, for the "every path" line */
  const rss: [string, number][] = s.runs.map((r) => [r.name, r.peak_rss_mb]);
  const pg = s.postgres && !('skipped' in s.postgres) ? s.postgres : undefined;
  if (pg) {
    const copy = pg.psql_copy_seconds;
    out.push(
      line({
        path: 'NDJSON → Postgres append',
        reference: 'psql \\copy CSV',
        unit: '×',
        figure: pg.append_ratio,
        target: TARGETS.append,
        seconds: pg.append_seconds,
        reference_seconds: copy,
        rows_per_s: pg.rows_per_s_append,
        peak_rss_mb: pg.append_peak_rss_mb,
      }),
      line({
        path: 'NDJSON → Postgres overwrite-delete-stale, loaded table',
        reference: 'psql \\copy CSV',
        unit: '×',
        figure: pg.overwrite_ratio,
        target: TARGETS.overwrite,
        seconds: pg.overwrite_seconds,
        reference_seconds: copy,
        rows_per_s: pg.rows_per_s_overwrite,
        peak_rss_mb: pg.overwrite_peak_rss_mb,
      }),
      line({
        path: 'Postgres → Parquet',
        reference: 'psql \\copy (…) TO CSV',
        unit: '×',
        figure: pg.pg_to_parquet_ratio,
        target: TARGETS.pgToParquet,
        seconds: pg.pg_to_parquet_seconds,
        reference_seconds: pg.psql_copy_out_seconds,
        peak_rss_mb: pg.pg_to_parquet_peak_rss_mb,
      }),
      line({
        path: 'Postgres → Postgres append',
        reference: 'psql \\copy TO | \\copy FROM',
        unit: '×',
        figure: pg.pg_to_pg_ratio,
        seconds: pg.pg_to_pg_seconds,
        reference_seconds: pg.psql_pipe_seconds,
        peak_rss_mb: pg.pg_to_pg_peak_rss_mb,
      }),
    );
    rss.push(
      ['NDJSON → Postgres append', pg.append_peak_rss_mb],
      ['NDJSON → Postgres overwrite-delete-stale', pg.overwrite_peak_rss_mb],
      ['Postgres → Parquet', pg.pg_to_parquet_peak_rss_mb],
      ['Postgres → Postgres', pg.pg_to_pg_peak_rss_mb],
    );
  }
  if (s.memory) {
    const m = s.memory;
    rss.push(
      [`test → Parquet ${rowsLabel(m.rows)}`, m.parquet.peak_rss_mb],
      [`test → Parquet ${rowsLabel(m.big_rows)}`, m.parquet_big.peak_rss_mb],
      [`test → no_rotate Parquet ${rowsLabel(m.rows)}`, m.parquet_no_rotate.peak_rss_mb],
      [`test → no_rotate Parquet ${rowsLabel(m.big_rows)}`, m.parquet_no_rotate_big.peak_rss_mb],
      [`test → Postgres ${rowsLabel(m.rows)}`, m.postgres.peak_rss_mb],
      [`test → Postgres ${rowsLabel(m.big_rows)}`, m.postgres_big.peak_rss_mb],
    );
  }
  if (s.plugins) rss.push(['test → Postgres (built-in)', s.plugins.builtin_peak_rss_mb]);
  if (rss.length > 0) {
    const [name, top] = rss.reduce((a, b) => (b[1] > a[1] ? b : a));
    out.push(line({ path: 'peak RSS, every path', reference: `highest: ${name}`, unit: 'MB', figure: top, target: TARGETS.peakRssMb }));
  }
  if (s.memory) {
    const m = s.memory;
    const vs = `${rowsLabel(m.big_rows)} vs ${rowsLabel(m.rows)} rows`;
    out.push(
      line({ path: 'peak RSS growth, test → Parquet', reference: vs, unit: '×', figure: m.parquet_ratio, target: TARGETS.rssGrowth }),
      line({ path: 'peak RSS growth, test → no_rotate Parquet', reference: vs, unit: '×', figure: m.parquet_no_rotate_ratio, target: TARGETS.rssGrowth }),
      line({ path: 'peak RSS growth, test → Postgres', reference: vs, unit: '×', figure: m.postgres_ratio, target: TARGETS.rssGrowth }),
    );
  }
  if (s.pipe) {
    out.push(
      line({
        path: 'read | write',
        reference: 'sync, same config',
        unit: '×',
        figure: s.pipe.ratio,
        target: TARGETS.readWrite,
        seconds: s.pipe.read_write_seconds,
        reference_seconds: s.pipe.sync_seconds,
      }),
    );
  }
  const p = s.plugins;
  if (p) {
    out.push(
      line({
        path: 'plugin source hosted → Postgres',
        reference: 'built-in test source',
        unit: '×',
        figure: p.hosted_source_ratio,
        target: TARGETS.plugin,
        seconds: p.hosted_source_seconds,
        reference_seconds: p.builtin_seconds,
        rows_per_s: p.rows_per_s_hosted_source,
        peak_rss_mb: p.hosted_source_peak_rss_mb,
      }),
      line({
        path: 'plugin source hosted: peak RSS',
        reference: `cq-pipe ${p.hosted_source_peak_rss_mb} MB, plugin ${p.hosted_source_plugin_peak_rss_mb} MB`,
        unit: 'MB',
        figure: Math.max(p.hosted_source_peak_rss_mb, p.hosted_source_plugin_peak_rss_mb),
        target: TARGETS.pluginRssMb,
      }),
      line({
        path: 'served Postgres destination ← client',
        reference: 'cq-pipe sync, same rows',
        unit: '×',
        figure: p.served_destination_ratio,
        target: TARGETS.plugin,
        seconds: p.served_destination_seconds,
        reference_seconds: p.builtin_seconds,
        rows_per_s: p.rows_per_s_served_destination,
        peak_rss_mb: p.served_destination_plugin_peak_rss_mb,
      }),
      line({
        path: 'served Postgres destination: peak RSS',
        reference: 'the plugin process',
        unit: 'MB',
        figure: p.served_destination_plugin_peak_rss_mb,
        target: TARGETS.pluginRssMb,
      }),
    );
  }
  for (const r of s.runs) {
    out.push(
      line({ path: r.name, reference: `${rowsLabel(r.rows)} rows`, unit: 'rows/s', figure: r.rows_per_s, seconds: r.seconds, peak_rss_mb: r.peak_rss_mb }),
    );
  }
  return out;
}

const fmt = (n: number, unit: Unit) => (unit === '×' ? `${n.toFixed(2)}×` : unit === 'MB' ? `${n} MB` : `${n.toLocaleString('en-US')} rows/s`);

/** The lines as one text table: path, figure, target, met/missed, then time and memory. */
export function formatTable(lines: Line[]): string {
  const rows = lines.map((l) => [
    l.path,
    fmt(l.figure, l.unit),
    l.target === undefined ? '' : `≤ ${fmt(l.target, l.unit)}`,
    l.met === undefined ? 'info' : l.met ? 'met' : 'MISSED',
    l.seconds === undefined ? '' : `${l.seconds.toFixed(2)}s${l.reference_seconds === undefined ? '' : ` vs ${l.reference_seconds.toFixed(2)}s`}`,
    l.peak_rss_mb === undefined ? '' : `${l.peak_rss_mb} MB`,
    l.reference,
  ]);
  const head = ['path', 'figure', 'target', '', 'time', 'peak RSS', 'against'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmtRow = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [fmtRow(head), fmtRow(widths.map((w) => '-'.repeat(w))), ...rows.map(fmtRow)].join('\n') + '\n';
}
