/**
 * Postgres figures of docs/benchmarks.md: NDJSON file → Postgres (`append`, and `overwrite` into a table
 * already holding the rows), each against `psql \copy` of the same rows as CSV in the same run.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { generateBatch, testTableSchemas } from '../connectors/test-source.js';
import { batchToCsv, batchToNdjson, csvHeader } from '../lib/arrow-json.js';
import { startEmbeddedPostgres } from '../test/helpers/pg-server.js';
import { settle } from './settle.js';

export interface PgFigures {
  psql_copy_out_seconds: number;
  pg_to_parquet_seconds: number;
  pg_to_parquet_ratio: number;
  pg_to_parquet_peak_rss_mb: number;
  psql_pipe_seconds: number;
  pg_to_pg_seconds: number;
  pg_to_pg_ratio: number;
  pg_to_pg_peak_rss_mb: number;
  psql_copy_seconds: number;
  append_seconds: number;
  append_ratio: number;
  append_peak_rss_mb: number;
  overwrite_seconds: number;
  overwrite_ratio: number;
  overwrite_peak_rss_mb: number;
  rows_per_s_append: number;
  rows_per_s_overwrite: number;
  psql: string;
}

type SyncFn = (name: string, config: string) => Promise<{ seconds: number; rows: number; peakRssMb: number }>;

function findPsql(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v psql'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

async function writeDataset(work: string, rows: number): Promise<{ ndjson: string; csv: string }> {
  const spec = { num_tables: 1, num_rows: rows, seed: 42, batch_rows: 10_000, preset: 'bench' as const, incremental: false };
  const [schema] = testTableSchemas(spec);
  const ndjson = path.join(work, 'items.ndjson');
  const csv = path.join(work, 'items.csv');
  const nd = createWriteStream(ndjson);
  const cs = createWriteStream(csv);
  cs.write(csvHeader(schema!));
  for (let start = 0; start < rows; start += spec.batch_rows) {
    const b = generateBatch(spec, schema!, 0, start, Math.min(spec.batch_rows, rows - start));
    if (!nd.write(batchToNdjson(b))) await new Promise((r) => nd.once('drain', () => r(undefined)));
    if (!cs.write(batchToCsv(b))) await new Promise((r) => cs.once('drain', () => r(undefined)));
  }
  await Promise.all([new Promise((r) => nd.end(r)), new Promise((r) => cs.end(r))]);
  return { ndjson, csv };
}

const COLUMNS = `
          - { name: id, type: uuid }
          - { name: name, type: utf8 }
          - { name: category, type: utf8 }
          - { name: country, type: utf8 }
          - { name: created_at, type: timestamp }
          - { name: quantity, type: int64 }
          - { name: active, type: bool }
          - { name: price, type: float64 }
          - { name: attrs, type: json }`;

function config(table: string, file: string, url: string, writeMode: string): string {
  return `kind: source
spec:
  name: bench
  path: file
  destinations: [pg]
  spec:
    batch_rows: 10000
    tables:
      - name: ${table}
        files: ${file}
        primary_key: [id]
        columns:${COLUMNS}
---
kind: destination
spec:
  name: pg
  path: postgresql
  write_mode: ${writeMode}
  spec: { connection_string: "${url}" }
`;
}

export async function postgresBench(work: string, rows: number, sync: SyncFn, log: (s: string) => void): Promise<PgFigures | { skipped: string }> {
  const psql = findPsql();
  if (!psql) return { skipped: 'psql not found on PATH (apt-get install postgresql-client)' };
  const external = process.env.CQ_PIPE_BENCH_PG_URL;
  const server = external ? { url: external, stop: async () => {} } : await startEmbeddedPostgres();
  try {
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    await admin.query('DROP DATABASE IF EXISTS cq_bench');
    await admin.query('CREATE DATABASE cq_bench');
    await admin.end();
    const u = new URL(server.url);
    u.pathname = '/cq_bench';
    const url = u.toString();
    log('writing the dataset (NDJSON and CSV) ...');
    const { ndjson, csv } = await writeDataset(work, rows);

    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`CREATE TABLE psql_items (id uuid, name text, category text, country text, created_at timestamptz,
      quantity bigint, active boolean, price double precision, attrs jsonb)`);
    await c.end();
    log('psql \\copy ...');
    await settle(url);
    const t0 = process.hrtime.bigint();
    const r = spawnSync(psql, [url, '-v', 'ON_ERROR_STOP=1', '-c', `\\copy psql_items FROM '${csv}' WITH (FORMAT csv, HEADER true)`], { encoding: 'utf8' });
    const psqlSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`psql \\copy failed: ${r.stderr}`);

    const appendCfg = path.join(work, 'pg-append.yml');
    await writeFile(appendCfg, config('items_append', ndjson, url, 'append'));
    log('NDJSON → Postgres append ...');
    await settle(url);
    const append = await sync('ndjson_to_pg_append', appendCfg);

    const overCfg = path.join(work, 'pg-overwrite.yml');
    await writeFile(overCfg, config('items_overwrite', ndjson, url, 'overwrite-delete-stale'));
    log('NDJSON → Postgres overwrite-delete-stale (first load) ...');
    await sync('ndjson_to_pg_overwrite_first', overCfg);
    log('NDJSON → Postgres overwrite-delete-stale into the loaded table ...');
    await settle(url);
    const over = await sync('ndjson_to_pg_overwrite', overCfg);
    // Postgres → Parquet, against psql \copy (select …) TO a CSV file
    log('psql \\copy (select …) TO csv ...');
    await settle(url);
    const t1 = process.hrtime.bigint();
    const out = spawnSync(
      psql,
      [url, '-v', 'ON_ERROR_STOP=1', '-c', `\\copy (SELECT * FROM psql_items) TO '${path.join(work, 'out.csv')}' WITH (FORMAT csv)`],
      { encoding: 'utf8' },
    );
    const psqlOutSeconds = Number(process.hrtime.bigint() - t1) / 1e9;
    if (out.status !== 0) throw new Error(`psql \\copy TO failed: ${out.stderr}`);
    const toParquetCfg = path.join(work, 'pg-to-parquet.yml');
    await writeFile(
      toParquetCfg,
      `kind: source
spec: { name: pgsrc, path: postgresql, tables: [psql_items], destinations: [lake], spec: { connection_string: "${url}" } }
---
kind: destination
spec: { name: lake, path: file, spec: { path: "${path.join(work, 'pq')}/{{TABLE}}/{{UUID}}.{{FORMAT}}", format: parquet } }
`,
    );
    log('Postgres → Parquet ...');
    await settle(url);
    const toParquet = await sync('pg_to_parquet', toParquetCfg);

    // Postgres → Postgres, against psql \copy … TO STDOUT | psql \copy … FROM STDIN
    const admin2 = new pg.Client({ connectionString: server.url });
    await admin2.connect();
    for (const db of ['cq_bench_dst', 'cq_bench_psql']) {
      await admin2.query(`DROP DATABASE IF EXISTS ${db}`);
      await admin2.query(`CREATE DATABASE ${db}`);
    }
    await admin2.end();
    const dbUrl = (name: string) => {
      const x = new URL(server.url);
      x.pathname = `/${name}`;
      return x.toString();
    };
    const c2 = new pg.Client({ connectionString: dbUrl('cq_bench_psql') });
    await c2.connect();
    await c2.query(`CREATE TABLE psql_items (id uuid, name text, category text, country text, created_at timestamptz,
      quantity bigint, active boolean, price double precision, attrs jsonb)`);
    await c2.end();
    log('psql \\copy TO STDOUT | psql \\copy FROM STDIN ...');
    await settle(url);
    const t2 = process.hrtime.bigint();
    const pipe = spawnSync(
      'sh',
      [
        '-c',
        `"${psql}" "${url}" -v ON_ERROR_STOP=1 -c '\\copy psql_items TO STDOUT' | "${psql}" "${dbUrl('cq_bench_psql')}" -v ON_ERROR_STOP=1 -c '\\copy ` +
          `psql_items FROM STDIN'`,
      ],
      { encoding: 'utf8' },
    );
    const psqlPipeSeconds = Number(process.hrtime.bigint() - t2) / 1e9;
    if (pipe.status !== 0) throw new Error(`psql pipe failed: ${pipe.stderr}`);
    const pgToPgCfg = path.join(work, 'pg-to-pg.yml');
    await writeFile(
      pgToPgCfg,
      `kind: source
spec: { name: pgsrc, path: postgresql, tables: [psql_items], destinations: [pg2], spec: { connection_string: "${url}" } }
---
kind: destination
spec: { name: pg2, path: postgresql, write_mode: append, spec: { connection_string: "${dbUrl('cq_bench_dst')}" } }
`,
    );
    log('Postgres → Postgres (append) ...');
    await settle(url);
    const pgToPg = await sync('pg_to_pg', pgToPgCfg);

    return {
      psql,
      psql_copy_out_seconds: round(psqlOutSeconds),
      pg_to_parquet_seconds: round(toParquet.seconds),
      pg_to_parquet_ratio: round(toParquet.seconds / psqlOutSeconds),
      pg_to_parquet_peak_rss_mb: toParquet.peakRssMb,
      psql_pipe_seconds: round(psqlPipeSeconds),
      pg_to_pg_seconds: round(pgToPg.seconds),
      pg_to_pg_ratio: round(pgToPg.seconds / psqlPipeSeconds),
      pg_to_pg_peak_rss_mb: pgToPg.peakRssMb,
      psql_copy_seconds: round(psqlSeconds),
      append_seconds: round(append.seconds),
      append_ratio: round(append.seconds / psqlSeconds),
      append_peak_rss_mb: append.peakRssMb,
      rows_per_s_append: Math.round(append.rows / append.seconds),
      overwrite_seconds: round(over.seconds),
      overwrite_ratio: round(over.seconds / psqlSeconds),
      overwrite_peak_rss_mb: over.peakRssMb,
      rows_per_s_overwrite: Math.round(over.rows / over.seconds),
    };
  } finally {
    await server.stop();
  }
}

const round = (x: number) => Math.round(x * 100) / 100;
