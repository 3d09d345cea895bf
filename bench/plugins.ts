/**
 * Plugin figures of docs/benchmarks.md, each against the built-in path in the same run:
 *   - hosted source: `cq-pipe plugin test serve` (the launcher `cq-pipe plugin test install` writes,
 *     `registry: local`) hosted by `cq-pipe sync` into Postgres `append`, against the same config
 *     with `path: test`;
 *   - served destination: `cq-pipe plugin postgresql serve` written to by a CloudQuery-CLI-like client
 *     (bench/cli-like-client.ts) in 10k-row records, against `cq-pipe sync` of the same rows.
 * The built-in reference is one `cq-pipe sync` (test source, `preset: bench`, Postgres `append`),
 * the denominator of both ratios. A plugin process's peak RSS is its own `ru_maxrss` at exit,
 * written by bench/rss-probe.ts, loaded through `NODE_OPTIONS` by a wrapper around the launcher.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbeddedPostgres } from '../test/helpers/pg-server.js';
import { settle } from './settle.js';

export interface PluginFigures {
  /** the built-in reference: `cq-pipe sync` of the test source into Postgres append */
  builtin_seconds: number;
  builtin_peak_rss_mb: number;
  hosted_source_seconds: number;
  hosted_source_ratio: number;
  /** cq-pipe's own peak RSS (its sync summary) */
  hosted_source_peak_rss_mb: number;
  /** the plugin process's peak RSS */
  hosted_source_plugin_peak_rss_mb: number;
  rows_per_s_hosted_source: number;
  served_destination_seconds: number;
  served_destination_ratio: number;
  served_destination_plugin_peak_rss_mb: number;
  rows_per_s_served_destination: number;
}

type SyncFn = (name: string, config: string) => Promise<{ seconds: number; rows: number; peakRssMb: number }>;

export interface PluginBenchOptions {
  work: string;
  rows: number;
  /** dist/bin/cq-pipe.js */
  cli: string;
  sync: SyncFn;
  log: (s: string) => void;
}

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const mb = (bytes: number) => Math.round(bytes / 1048576);
const round = (x: number) => Math.round(x * 100) / 100;

/** `cq-pipe plugin <name> install <dir> [--kind …]`: the launcher's path */
function install(cli: string, dir: string, name: string, kind?: string): string {
  const r = spawnSync(process.execPath, [cli, 'plugin', name, 'install', dir, ...(kind ? ['--kind', kind] : [])], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cq-pipe plugin ${name} install failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** A wrapper that runs `launcher` with bench/rss-probe.ts loaded; the plugin's peak RSS lands in `rssFile`. */
async function probed(launcher: string, rssFile: string): Promise<string> {
  const file = `${launcher}-probed`;
  const probe = new URL('./rss-probe.js', import.meta.url).href;
  await writeFile(file, `#!/bin/sh\nBENCH_RSS_OUT='${rssFile}' NODE_OPTIONS='--import=${probe}' exec '${launcher}' "$@"\n`);
  await chmod(file, 0o755);
  return file;
}

async function peakOf(rssFile: string): Promise<number> {
  return mb(Number((await readFile(rssFile, 'utf8')).trim()));
}

const sourceConfig = (source: string, rows: number, url: string, schema: string) => `kind: source
spec: { name: bench, ${source}, tables: ["*"], destinations: [pg], spec: { num_rows: ${rows}, preset: bench } }
---
kind: destination
spec: { name: pg, path: postgresql, write_mode: append, spec: { connection_string: "${url}", schema: ${schema} } }
`;

/** the CLI-like client's run: its JSON line, or the failure with its stderr */
function runClient(launcher: string, rows: number, spec: Record<string, unknown>): Promise<{ seconds: number; rows: number; records: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [here('./cli-like-client.js'), launcher, String(rows), JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`cli-like client failed (${code}): ${err}`))));
  });
}

async function count(url: string, table: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n;
  } finally {
    await c.end();
  }
}

export async function pluginBench(o: PluginBenchOptions): Promise<PluginFigures> {
  // a plugin's start-up on a loaded machine: the wait, not the timing (docs/plugins.md)
  process.env.CQ_PIPE_PLUGIN_START_TIMEOUT ??= '30000';
  const external = process.env.CQ_PIPE_BENCH_PG_URL;
  const server = external ? { url: external, stop: async () => {} } : await startEmbeddedPostgres();
  try {
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    await admin.query('DROP DATABASE IF EXISTS cq_bench_plugins');
    await admin.query('CREATE DATABASE cq_bench_plugins');
    await admin.end();
    const u = new URL(server.url);
    u.pathname = '/cq_bench_plugins';
    const url = u.toString();

    const dir = path.join(o.work, 'plugins');
    await mkdir(dir, { recursive: true });
    const sourceRss = path.join(dir, 'test.rss');
    const destRss = path.join(dir, 'postgresql.rss');
    const testLauncher = await probed(install(o.cli, dir, 'test'), sourceRss);
    const pgLauncher = await probed(install(o.cli, dir, 'postgresql', 'destination'), destRss);

    const builtinCfg = path.join(o.work, 'plugins-builtin.yml');
    await writeFile(builtinCfg, sourceConfig('path: test', o.rows, url, 'builtin'));
    o.log('test source → Postgres append (built-in) ...');
    await settle(url);
    const builtin = await o.sync('plugins_builtin', builtinCfg);

    const hostedCfg = path.join(o.work, 'plugins-hosted.yml');
    await writeFile(hostedCfg, sourceConfig(`registry: local, path: "${testLauncher}"`, o.rows, url, 'hosted'));
    o.log('cq-pipe plugin test serve, hosted → Postgres append ...');
    await settle(url);
    const hosted = await o.sync('plugins_hosted_source', hostedCfg);
    const hostedPluginRss = await peakOf(sourceRss);

    o.log('CLI-like client → cq-pipe plugin postgresql serve ...');
    await settle(url);
    const served = await runClient(pgLauncher, o.rows, { connection_string: url, schema: 'served' });
    const servedPluginRss = await peakOf(destRss);

    for (const [schema, rows] of [
      ['builtin', builtin.rows],
      ['hosted', hosted.rows],
      ['served', served.rows],
    ] as const) {
      const n = await count(url, `${schema}.test_table_0`);
      if (n !== o.rows || rows !== o.rows) throw new Error(`${schema}: ${n} rows in Postgres, ${rows} reported, ${o.rows} sent`);
    }
    return {
      builtin_seconds: round(builtin.seconds),
      builtin_peak_rss_mb: builtin.peakRssMb,
      hosted_source_seconds: round(hosted.seconds),
      hosted_source_ratio: round(hosted.seconds / builtin.seconds),
      hosted_source_peak_rss_mb: hosted.peakRssMb,
      hosted_source_plugin_peak_rss_mb: hostedPluginRss,
      rows_per_s_hosted_source: Math.round(o.rows / hosted.seconds),
      served_destination_seconds: round(served.seconds),
      served_destination_ratio: round(served.seconds / builtin.seconds),
      served_destination_plugin_peak_rss_mb: servedPluginRss,
      rows_per_s_served_destination: Math.round(o.rows / served.seconds),
    };
  } finally {
    await server.stop();
  }
}
