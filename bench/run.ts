/**
 * `npm run bench`: timed runs of the real CLI in child processes, reported as one table of every
 * figure of docs/benchmarks.md against its target (bench/report.ts), written to
 * bench/results.json and drawn in bench/results.svg (bench/chart.ts). Not a test: nothing here
 * passes or fails.
 *
 *   BENCH_ROWS=1000000 (default) sets the dataset size (docs/benchmarks.md; the test source's bench preset);
 *   BENCH_BIG_ROWS=10000000 (default) the size of the memory runs compared with it;
 *   BENCH_ONLY=file|pipe|memory|postgres|plugins runs one section.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chartSvg } from './chart.js';
import { pluginBench } from './plugins.js';
import { postgresBench } from './postgres.js';
import { formatTable, reportLines, type MemoryFigures, type MemoryRun, type PipeFigures, type Run, type Sections } from './report.js';
import { startEmbeddedPostgres } from '../test/helpers/pg-server.js';
import { settle } from './settle.js';

const ROOT = path.resolve(new URL('../..', import.meta.url).pathname);
const CLI = path.join(ROOT, 'dist/bin/cq-pipe.js');
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);

async function sh(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<{ seconds: number; code: number; stderr: string }> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, code: code ?? 1, stderr }));
  });
}

async function dirSize(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) n += (await stat(path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))).size;
  }
  return n;
}

async function syncRun(name: string, work: string, destSpec: string): Promise<Run> {
  const cfg = path.join(work, `${name}.yml`);
  const out = path.join(work, name);
  await writeFile(
    cfg,
    `kind: source
spec:
  name: bench
  path: test
  destinations: [out]
  spec: { num_rows: ${ROWS}, preset: bench }
---
kind: destination
spec:
  name: out
  path: file
  spec: { path: "${out}/{{TABLE}}/{{UUID}}.{{FORMAT}}", ${destSpec} }
`,
  );
  const summary = path.join(work, `${name}.summary.jsonl`);
  const r = await sh(process.execPath, [CLI, 'sync', cfg, '--summary-location', summary, '--no-progress', '--log-level', 'warn']);
  if (r.code !== 0) throw new Error(`${name} failed (${r.code}): ${r.stderr}`);
  const s = JSON.parse((await readFile(summary, 'utf8')).trim().split('\n').pop()!);
  return {
    name,
    rows: s.resources,
    seconds: r.seconds,
    rows_per_s: Math.round(s.resources / r.seconds),
    peak_rss_mb: Math.round(s.peak_rss_bytes / 1048576),
    output_mb: Math.round((await dirSize(out)) / 1048576),
  };
}

/** one timed `cq-pipe sync` of an existing config */
async function timedSync(name: string, cfg: string, work: string): Promise<{ seconds: number; rows: number; peakRssMb: number }> {
  const summary = path.join(work, `${name}.summary.jsonl`);
  const r = await sh(process.execPath, [CLI, 'sync', cfg, '--summary-location', summary, '--no-progress', '--log-level', 'warn']);
  if (r.code !== 0) throw new Error(`${name} failed (${r.code}): ${r.stderr}`);
  const s = JSON.parse((await readFile(summary, 'utf8')).trim().split('\n').pop()!);
  return { seconds: r.seconds, rows: s.resources, peakRssMb: Math.round(s.peak_rss_bytes / 1048576) };
}

async function main() {
  const work = await mkdtemp(path.join(os.tmpdir(), 'cq-pipe-bench-'));
  const loadBefore = os.loadavg();
  const runs: Run[] = [];
  let postgres: Sections['postgres'];
  let pipe: PipeFigures | undefined;
  let memory: MemoryFigures | undefined;
  let plugins: Sections['plugins'];
  const big = Number(process.env.BENCH_BIG_ROWS ?? 10_000_000);
  const only = process.env.BENCH_ONLY;
  const log = (m: string) => process.stdout.write(`  ${m}\n`);
  try {
    if (!only || only === 'file') {
      log('test → Parquet, test → NDJSON ...');
      runs.push(await syncRun('test_to_parquet', work, 'format: parquet'));
      runs.push(await syncRun('test_to_ndjson', work, 'format: ndjson'));
    }
    if (!only || only === 'pipe') {
      // read | write against sync on the same config (docs/benchmarks.md)
      const cfg = path.join(work, 'pipe.yml');
      await writeFile(
        cfg,
        `kind: source
spec: { name: bench, path: test, destinations: [out], spec: { num_rows: ${ROWS}, preset: bench } }
---
kind: destination
spec: { name: out, path: file, spec: { path: "${work}/pipe-out/{{TABLE}}/{{UUID}}.{{FORMAT}}", format: parquet } }
`,
      );
      log('sync, then read | write ...');
      await settle();
      const viaSync = await timedSync('pipe_sync', cfg, work);
      await settle();
      const t0 = process.hrtime.bigint();
      const r = await sh('bash', [
        '-o',
        'pipefail',
        '-c',
        `"${process.execPath}" "${CLI}" read "${cfg}" --log-level warn | "${process.execPath}" "${CLI}" write "${cfg}" --log-level warn`,
      ]);
      const pipeSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (r.code !== 0) throw new Error(`read | write failed: ${r.stderr}`);
      pipe = {
        sync_seconds: Math.round(viaSync.seconds * 100) / 100,
        read_write_seconds: Math.round(pipeSeconds * 100) / 100,
        ratio: Math.round((pipeSeconds / viaSync.seconds) * 100) / 100,
      };
    }
    if (!only || only === 'memory') {
      // docs/benchmarks.md: peak RSS, and BENCH_BIG_ROWS (10M) rows within 1.2× the peak of BENCH_ROWS (1M)
      const pgs = await startEmbeddedPostgres();
      try {
        const cfgFor = (rows: number, dest: string) => `kind: source
spec: { name: bench, path: test, destinations: [out], spec: { num_rows: ${rows}, preset: bench } }
---
kind: destination
spec: ${dest}
`;
        const mem: Record<string, MemoryRun> = {};
        for (const [name, rows, dest] of [
          ['parquet', ROWS, `{ name: out, path: file, spec: { path: "${work}/mem1/{{TABLE}}/{{UUID}}.{{FORMAT}}" } }`],
          ['parquet_big', big, `{ name: out, path: file, spec: { path: "${work}/mem10/{{TABLE}}/{{UUID}}.{{FORMAT}}" } }`],
          ['parquet_no_rotate', ROWS, `{ name: out, path: file, spec: { path: "${work}/mem1/{{TABLE}}.{{FORMAT}}", no_rotate: true } }`],
          ['parquet_no_rotate_big', big, `{ name: out, path: file, spec: { path: "${work}/mem10/{{TABLE}}.{{FORMAT}}", no_rotate: true } }`],
          ['postgres', ROWS, `{ name: out, path: postgresql, write_mode: append, spec: { connection_string: "${pgs.url}", schema: m1 } }`],
          ['postgres_big', big, `{ name: out, path: postgresql, write_mode: append, spec: { connection_string: "${pgs.url}", schema: m10 } }`],
        ] as const) {
          const cfg = path.join(work, `memory_${name}.yml`);
          await writeFile(cfg, cfgFor(rows, dest));
          log(`memory: test → ${name} (${rows.toLocaleString('en-US')} rows) ...`);
          const r = await timedSync(`memory_${name}`, cfg, work);
          mem[name] = { rows: r.rows, seconds: Math.round(r.seconds * 100) / 100, peak_rss_mb: r.peakRssMb };
          await rm(path.join(work, rows === ROWS ? 'mem1' : 'mem10'), { recursive: true, force: true }).catch(() => {});
        }
        memory = {
          rows: ROWS,
          big_rows: big,
          parquet: mem.parquet!,
          parquet_big: mem.parquet_big!,
          parquet_no_rotate: mem.parquet_no_rotate!,
          parquet_no_rotate_big: mem.parquet_no_rotate_big!,
          postgres: mem.postgres!,
          postgres_big: mem.postgres_big!,
          parquet_ratio: Math.round((mem.parquet_big!.peak_rss_mb / mem.parquet!.peak_rss_mb) * 100) / 100,
          parquet_no_rotate_ratio: Math.round((mem.parquet_no_rotate_big!.peak_rss_mb / mem.parquet_no_rotate!.peak_rss_mb) * 100) / 100,
          postgres_ratio: Math.round((mem.postgres_big!.peak_rss_mb / mem.postgres!.peak_rss_mb) * 100) / 100,
        };
      } finally {
        await pgs.stop();
      }
      // the 10M-row runs leave GBs of dirty pages (Parquet files, a Postgres cluster) that the kernel
      // writes back for tens of seconds: flushed here, so that the next section does not time them
      await settle();
    }
    if (!only || only === 'postgres') {
      postgres = await postgresBench(work, ROWS, (name, cfg) => timedSync(name, cfg, work), log);
      if ('skipped' in postgres) process.stdout.write(`postgres bench skipped: ${postgres.skipped}\n`);
    }
    if (!only || only === 'plugins') {
      plugins = await pluginBench({ work, rows: ROWS, cli: CLI, sync: (name, cfg) => timedSync(name, cfg, work), log });
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const lines = reportLines({ runs, pipe, memory, postgres, plugins });
  process.stdout.write(`\n${formatTable(lines)}\n`);
  const load = [loadBefore, os.loadavg()].map((l) => l.map((x) => Math.round(x * 100) / 100));
  const results = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    /** 1, 5 and 15-minute load averages at the start and at the end of the run */
    load_average: { start: load[0], end: load[1] },
    rows: ROWS,
    big_rows: big,
    only: only ?? null,
    lines,
    runs,
    pipe,
    memory,
    postgres,
    plugins,
  };
  await writeFile(path.join(ROOT, 'bench/results.json'), JSON.stringify(results, null, 2) + '\n');
  const rows = ROWS.toLocaleString('en-US');
  const title = `cq-pipe npm run bench, ${results.date.slice(0, 10)}: ${rows} rows, Node ${process.version}, ${results.cpus} CPUs, load ${load[0]![0]}`;
  await writeFile(path.join(ROOT, 'bench/results.svg'), chartSvg(lines, title));
  process.stdout.write('wrote bench/results.json and bench/results.svg\n');
}

main().catch((err) => {
  process.stderr.write(String(err?.stack ?? err) + '\n');
  process.exitCode = 1;
});
