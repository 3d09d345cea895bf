/**
 * `npm run bench`: timed runs of the real CLI in child processes, reported as rows/s, ratios and
 * peak RSS, and written to bench/results.json. Not a test: nothing here passes or fails.
 *
 *   BENCH_ROWS=1000000 (default) sets the dataset size (docs/benchmarks.md; the test source's bench preset).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { postgresBench } from './postgres.js';
import { startEmbeddedPostgres } from '../test/helpers/pg-server.js';

const ROOT = path.resolve(new URL('../..', import.meta.url).pathname);
const CLI = path.join(ROOT, 'dist/bin/cq-pipe.js');
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);

interface Run {
  name: string;
  rows: number;
  seconds: number;
  rows_per_s: number;
  peak_rss_mb: number;
  output_mb?: number;
}

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
  const runs: Run[] = [];
  let postgres: unknown;
  let pipe: { sync_seconds: number; read_write_seconds: number; ratio: number } | undefined;
  let memory: unknown;
  const only = process.env.BENCH_ONLY;
  try {
    if (!only || only === 'file') {
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
      const viaSync = await timedSync('pipe_sync', cfg, work);
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
      process.stdout.write(`read | write           ${pipe.read_write_seconds}s vs sync ${pipe.sync_seconds}s: ratio ${pipe.ratio}× (target ≤ 1.2×)\n`);
    }
    if (!only || only === 'memory') {
      // docs/benchmarks.md: peak RSS, and 10M rows within 1.2× the peak of 1M rows
      const big = Number(process.env.BENCH_BIG_ROWS ?? 10_000_000);
      const pgs = await startEmbeddedPostgres();
      try {
        const cfgFor = (rows: number, dest: string) => `kind: source
spec: { name: bench, path: test, destinations: [out], spec: { num_rows: ${rows}, preset: bench } }
---
kind: destination
spec: ${dest}
`;
        const runs: Record<string, { rows: number; seconds: number; peak_rss_mb: number }> = {};
        for (const [name, rows, dest] of [
          ['parquet_1m', 1_000_000, `{ name: out, path: file, spec: { path: "${work}/mem1/{{TABLE}}/{{UUID}}.{{FORMAT}}" } }`],
          ['parquet_big', big, `{ name: out, path: file, spec: { path: "${work}/mem10/{{TABLE}}/{{UUID}}.{{FORMAT}}" } }`],
          ['postgres_1m', 1_000_000, `{ name: out, path: postgresql, write_mode: append, spec: { connection_string: "${pgs.url}", schema: m1 } }`],
          ['postgres_big', big, `{ name: out, path: postgresql, write_mode: append, spec: { connection_string: "${pgs.url}", schema: m10 } }`],
        ] as const) {
          const cfg = path.join(work, `${name}.yml`);
          await writeFile(cfg, cfgFor(rows, dest));
          process.stdout.write(`  ${name} ...\n`);
          const r = await timedSync(name, cfg, work);
          runs[name] = { rows: r.rows, seconds: Math.round(r.seconds * 100) / 100, peak_rss_mb: r.peakRssMb };
          await rm(path.join(work, name.startsWith('parquet_1m') ? 'mem1' : 'mem10'), { recursive: true, force: true }).catch(() => {});
        }
        memory = {
          ...runs,
          parquet_ratio: Math.round((runs.parquet_big!.peak_rss_mb / runs.parquet_1m!.peak_rss_mb) * 100) / 100,
          postgres_ratio: Math.round((runs.postgres_big!.peak_rss_mb / runs.postgres_1m!.peak_rss_mb) * 100) / 100,
        };
        const m = memory as Record<string, number> & typeof runs;
        process.stdout.write(
          `memory: Parquet ${big.toLocaleString('en-US')} rows peak ${runs.parquet_big!.peak_rss_mb} MB vs 1M ${runs.parquet_1m!.peak_rss_mb} MB ` +
            `(${m.parquet_ratio}×); Postgres ${runs.postgres_big!.peak_rss_mb} MB vs ${runs.postgres_1m!.peak_rss_mb} MB (${m.postgres_ratio}×) ` +
            `(targets ≤ 300 MB, ≤ 1.2×)\n`,
        );
      } finally {
        await pgs.stop();
      }
    }
    if (!only || only === 'postgres') {
      postgres = await postgresBench(
        work,
        ROWS,
        (name, cfg) => timedSync(name, cfg, work),
        (m) => process.stdout.write(`  ${m}\n`),
      );
      const p = postgres as Record<string, number | string>;
      if (!('skipped' in p)) {
        process.stdout.write(`psql \\copy CSV          ${p.psql_copy_seconds}s\n`);
        process.stdout.write(
          `NDJSON → PG append     ${p.append_seconds}s = ${p.rows_per_s_append} rows/s, ratio ${p.append_ratio}× psql (target ≤ 1.5×), peak RSS ` +
            `${p.append_peak_rss_mb} MB\n`,
        );
        process.stdout.write(
          `NDJSON → PG overwrite  ${p.overwrite_seconds}s = ${p.rows_per_s_overwrite} rows/s, ratio ${p.overwrite_ratio}× psql (target ≤ 3×), peak ` +
            `RSS ${p.overwrite_peak_rss_mb} MB\n`,
        );
        process.stdout.write(
          `PG → Parquet           ${p.pg_to_parquet_seconds}s vs psql \\copy TO csv ${p.psql_copy_out_seconds}s: ratio ${p.pg_to_parquet_ratio}× ` +
            `(target ≤ 2×), peak RSS ${p.pg_to_parquet_peak_rss_mb} MB\n`,
        );
        process.stdout.write(
          `PG → PG (append)       ${p.pg_to_pg_seconds}s vs psql copy|copy ${p.psql_pipe_seconds}s: ratio ${p.pg_to_pg_ratio}× (target ≤ 1.5×), peak ` +
            `RSS ${p.pg_to_pg_peak_rss_mb} MB\n`,
        );
      } else {
        process.stdout.write(`postgres bench skipped: ${p.skipped}\n`);
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  for (const r of runs) {
    process.stdout.write(
      `${r.name.padEnd(20)} ${r.rows.toLocaleString('en-US')} rows in ${r.seconds.toFixed(2)}s = ${r.rows_per_s.toLocaleString('en-US')} rows/s, peak ` +
        `RSS ${r.peak_rss_mb} MB${r.output_mb !== undefined ? `, output ${r.output_mb} MB` : ''}\n`,
    );
  }
  const results = { date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, rows: ROWS, runs, pipe, memory, postgres };
  await writeFile(path.join(ROOT, 'bench/results.json'), JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(`wrote bench/results.json\n`);
}

main().catch((err) => {
  process.stderr.write(String(err?.stack ?? err) + '\n');
  process.exitCode = 1;
});
