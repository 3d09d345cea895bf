/**
 * Postgres `infinity` / `-infinity` (issue 13, item 7): the source maps them to the ±infinity
 * sentinels (DuckDB's encoding), files show them as infinity (Parquet read by DuckDB) or the text
 * `infinity` / `-infinity` (NDJSON, CSV), and a Postgres destination stores infinity again — never a
 * wrapped date in year -290278.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { config, destSpec, duckdb, sourceSpec, tmpDir } from './helpers/index.js';
import { freshDatabase, query } from './helpers/postgres.js';
import { runSync } from '../lib/pipeline.js';

t.test('infinity timestamps and dates from the Postgres source into Parquet, NDJSON, CSV and Postgres', async (t) => {
  const dir = await tmpDir(t);
  const src = await freshDatabase('inf_src');
  const dst = await freshDatabase('inf_dst');
  await query(src, 'CREATE TABLE ev (id int PRIMARY KEY, ts timestamptz, tsl timestamp, d date)');
  await query(
    src,
    `INSERT INTO ev VALUES (1, 'infinity', 'infinity', 'infinity'), (2, '-infinity', '-infinity', '-infinity'),
     (3, '0001-01-01 00:00:00+00', '9999-12-31 23:59:59.999999', '0001-01-01'), (4, NULL, NULL, NULL)`,
  );
  const file = (format: string) =>
    destSpec({ name: format, path: 'file', write_mode: 'append', spec: { path: `${dir}/${format}/{{TABLE}}/{{UUID}}.{{FORMAT}}`, format, no_rotate: true } });
  const res = await runSync({
    config: config(
      [sourceSpec({ path: 'postgresql', tables: ['public.ev'], destinations: ['parquet', 'ndjson', 'csv', 'pg'], spec: { connection_string: src } })],
      [file('parquet'), file('ndjson'), file('csv'), destSpec({ name: 'pg', path: 'postgresql', spec: { connection_string: dst } })],
    ),
  });
  t.equal(res.status, 'succeeded', res.errors.map((e) => e.message).join('; '));

  const want = [
    { ts: 'infinity', tsl: 'infinity', d: 'infinity' },
    { ts: '-infinity', tsl: '-infinity', d: '-infinity' },
    { ts: '0001-01-01 00:00:00', tsl: '9999-12-31 23:59:59.999999', d: '0001-01-01' },
    { ts: null, tsl: null, d: null },
  ];
  const pq = await duckdb(
    `SET TimeZone = 'UTC'; SELECT ts::TIMESTAMP::VARCHAR AS ts, tsl::TIMESTAMP::VARCHAR AS tsl, d::VARCHAR AS d
     FROM read_parquet('${dir}/parquet/ev/*.parquet') ORDER BY id`,
  );
  t.same(pq, want, 'Parquet: DuckDB reads infinity');

  const ndFile = path.join(dir, 'ndjson/ev', (await readdir(path.join(dir, 'ndjson/ev')))[0]!);
  const nd = (await readFile(ndFile, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .sort((a, b) => Number(a.id) - Number(b.id))
    .map((r) => [r.ts, r.tsl, r.d]);
  t.same(nd, [
    ['infinity', 'infinity', 'infinity'],
    ['-infinity', '-infinity', '-infinity'],
    ['0001-01-01T00:00:00.000000Z', '9999-12-31T23:59:59.999999Z', '0001-01-01'],
    [null, null, null],
  ]);
  const csv = await duckdb(`SELECT ts, d FROM read_csv('${dir}/csv/ev/*.csv', all_varchar = true) ORDER BY id::INT`);
  t.same(
    csv.map((r) => [r.ts, r.d]),
    [
      ['infinity', 'infinity'],
      ['-infinity', '-infinity'],
      ['0001-01-01T00:00:00.000000Z', '0001-01-01'],
      [null, null],
    ],
  );

  const back = await query<{ ts: string | null; tsl: string | null; d: string | null }>(
    dst,
    'SELECT ts::text AS ts, tsl::text AS tsl, d::text AS d FROM ev ORDER BY id',
  );
  t.same(back, [
    { ts: 'infinity', tsl: 'infinity', d: 'infinity' },
    { ts: '-infinity', tsl: '-infinity', d: '-infinity' },
    { ts: '0001-01-01 00:00:00+00', tsl: '9999-12-31 23:59:59.999999+00', d: '0001-01-01' },
    { ts: null, tsl: null, d: null },
  ]);

  // the file written as NDJSON reads back through the file source and lands in Postgres as infinity
  const again = await runSync({
    config: config(
      [
        sourceSpec({
          name: 'files',
          path: 'file',
          destinations: ['pg'],
          spec: {
            tables: [
              {
                name: 'ev2',
                files: ndFile,
                columns: [
                  { name: 'id', type: 'int32' },
                  { name: 'ts', type: 'timestamp' },
                  { name: 'd', type: 'date32' },
                ],
              },
            ],
          },
        }),
      ],
      [destSpec({ name: 'pg', path: 'postgresql', spec: { connection_string: dst } })],
    ),
  });
  t.equal(again.status, 'succeeded', again.errors.map((e) => e.message).join('; '));
  const ev2 = await query<{ ts: string | null; d: string | null }>(dst, 'SELECT ts::text AS ts, d::text AS d FROM ev2 ORDER BY id');
  t.same(
    ev2.map((r) => [r.ts, r.d]),
    [
      ['infinity', 'infinity'],
      ['-infinity', '-infinity'],
      ['0001-01-01 00:00:00+00', '0001-01-01'],
      [null, null],
    ],
  );
});
