/**
 * The last hostile-input gaps of issue 13 in the file formats: `.json` arrays keep int64 exactly,
 * timestamps inside struct and list columns keep their µs, and a table whose schema cannot be
 * inferred fails alone with a typed error naming the file. Inputs are written by DuckDB where it
 * can; values are checked in Postgres with SQL and against DuckDB's reading of the same file.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as A from 'apache-arrow';
import t from 'tap';
import { config, destSpec, duckdb, ROOT, sourceSpec, tmpDir } from './helpers/index.js';
import { freshDatabase, query } from './helpers/postgres.js';
import { runSync } from '../lib/pipeline.js';
import { createLogger } from '../lib/logger.js';
import { ipcStreams, openIpcFile } from '../lib/arrow/ipc-read.js';

const quiet = createLogger({ level: 'error', write: () => {} });
const BIG = ['9007199254740993', '-9223372036854775808', '9223372036854775807', '1234567890123456789', '42'];

t.test('a .json array keeps every int64 exactly (written by DuckDB, checked in Postgres)', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'ids.json');
  await duckdb(
    `COPY (SELECT i::INTEGER AS id, v::BIGINT AS snowflake FROM (VALUES ${BIG.map((v, i) => `(${i}, ${v})`).join(', ')}) AS x(i, v) ORDER BY i)
     TO '${file}' (FORMAT JSON, ARRAY true)`,
  );
  const url = await freshDatabase('jsonarr');
  const src = sourceSpec({ path: 'file', destinations: ['pg'], spec: { tables: [{ name: 'ids', files: file }] } });
  const dst = destSpec({ name: 'pg', path: 'postgresql', write_mode: 'append', spec: { connection_string: url } });
  const res = await runSync({ logger: quiet, config: config([src], [dst]) });
  t.equal(res.status, 'succeeded', res.errors.map((e) => e.message).join('; '));
  const rows = await query<{ v: string; t: string }>(url, 'SELECT snowflake::text AS v, pg_typeof(snowflake)::text AS t FROM ids ORDER BY id');
  t.same(
    rows.map((r) => r.v),
    BIG,
    'every value exact',
  );
  t.equal(rows[0]!.t, 'bigint', 'inferred int64');
  const [dk] = await duckdb(`SELECT string_agg(snowflake::VARCHAR, ',' ORDER BY id) AS v FROM read_json('${file}')`);
  t.equal(dk!.v, BIG.join(','), "DuckDB's reading of the source agrees");
});

const STAMPS = ['2024-01-02 03:04:05.123456', '1969-12-31 23:59:59.999999', '2300-01-01 00:00:00.000001', '0001-01-01 00:00:00.000001'];

t.test('timestamps inside struct and list columns keep their µs (NDJSON, JSON, CSV → Postgres)', async (t) => {
  const dir = await tmpDir(t);
  const sel = `SELECT i::INTEGER AS id, {'at': ts, 'n': 9007199254740993 + i} AS s, [ts, ts + INTERVAL 1 MICROSECOND] AS l
     FROM (VALUES ${STAMPS.map((v, i) => `(${i}, TIMESTAMP '${v}')`).join(', ')}) AS x(i, ts) ORDER BY i`;
  await duckdb(`COPY (${sel}) TO '${dir}/n.ndjson' (FORMAT JSON)`);
  await duckdb(`COPY (${sel}) TO '${dir}/a.json' (FORMAT JSON, ARRAY true)`);
  // CSV cells of nested columns hold JSON (docs/file-source.md)
  const nd = await duckdb(`SELECT to_json(s)::VARCHAR AS s, to_json(l)::VARCHAR AS l FROM (${sel})`);
  const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
  await writeFile(path.join(dir, 'c.csv'), `id,s,l\n${nd.map((r, i) => `${i},${q(String(r.s))},${q(String(r.l))}`).join('\n')}\n`);
  const columns = [
    { name: 'id', type: 'int64', primary_key: true },
    { name: 's', type: 'struct<at: timestamp, n: int64>' },
    { name: 'l', type: 'list<timestamp>' },
  ];
  const url = await freshDatabase('nestedts');
  const src = sourceSpec({
    path: 'file',
    destinations: ['pg'],
    spec: {
      tables: [
        { name: 'n', files: `${dir}/n.ndjson`, columns },
        { name: 'a', files: `${dir}/a.json`, columns },
        { name: 'c', files: `${dir}/c.csv`, columns },
      ],
    },
  });
  const dst = destSpec({ name: 'pg', path: 'postgresql', write_mode: 'append', spec: { connection_string: url } });
  const res = await runSync({ logger: quiet, config: config([src], [dst]) });
  t.equal(res.status, 'succeeded', res.errors.map((e) => e.message).join('; '));
  const fmt = "'YYYY-MM-DD HH24:MI:SS.US'";
  // DuckDB's reading of the same source: the expected text of every nested timestamp
  const expected = await duckdb(
    `SELECT strftime(s.at, '%Y-%m-%d %H:%M:%S.%f') AS s, strftime(l[1], '%Y-%m-%d %H:%M:%S.%f') AS l1, strftime(l[2], '%Y-%m-%d %H:%M:%S.%f') AS l2,
       s.n::VARCHAR AS n
     FROM read_json('${dir}/n.ndjson', columns = {id: 'INTEGER', s: 'STRUCT("at" TIMESTAMP, n BIGINT)', l: 'TIMESTAMP[]'}) ORDER BY id`,
  );
  t.same(
    expected.map((r) => r.s),
    STAMPS,
    'DuckDB reads back what it wrote',
  );
  for (const table of ['n', 'a', 'c']) {
    const rows = await query<{ s: string; l1: string; l2: string; n: string }>(
      url,
      `SELECT to_char((s->>'at')::timestamptz, ${fmt}) AS s, to_char(l[1], ${fmt}) AS l1, to_char(l[2], ${fmt}) AS l2, s->>'n' AS n FROM ${table} ORDER BY id`,
    );
    t.same(rows, expected, `${table}: struct and list timestamps exact to the µs, the struct's int64 exact`);
  }
});

t.test('a damaged schema-inference sample fails only its table, typed and naming the file; the others sync', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'good.ndjson'), '{"id":1}\n{"id":2}\n{"id":3}\n');
  // bytes that are not gzip under a .gz name (zlib's "incorrect header check" was CQ_ERR_INTERNAL naming no file)
  await writeFile(path.join(dir, 'bad.ndjson.gz'), Buffer.from('not gzip at all, but named so'));
  // an Arrow IPC file whose footer length points before the file's start
  const arrow = Buffer.from(await readFile(path.join(ROOT, 'test/fixtures/hostile/arrow-truncated.arrow')));
  const footer = Buffer.concat([arrow, Buffer.from([0xff, 0xff, 0xff, 0x7f]), Buffer.from('ARROW1')]);
  await writeFile(path.join(dir, 'bad.arrow'), footer);
  const src = sourceSpec({
    path: 'file',
    destinations: ['lake'],
    spec: {
      tables: [
        { name: 'good', files: `${dir}/good.ndjson` },
        { name: 'gz', files: `${dir}/bad.ndjson.gz` },
        { name: 'arrow', files: `${dir}/bad.arrow` },
      ],
    },
  });
  const dst = destSpec({ name: 'lake', path: 'file', write_mode: 'append', spec: { path: `${dir}/out/{{TABLE}}/{{UUID}}.{{FORMAT}}`, format: 'ndjson' } });
  const res = await runSync({ logger: quiet, config: config([src], [dst]) });
  t.equal(res.status, 'failed');
  const byTable = Object.fromEntries(res.errors.map((e) => [e.context.table, e]));
  t.same(Object.keys(byTable).sort(), ['arrow', 'gz'], 'only the two damaged tables fail');
  t.equal(byTable.gz!.code, 'CQ_ERR_SOURCE_DATA');
  t.equal(byTable.gz!.context.file, `${dir}/bad.ndjson.gz`);
  t.match(byTable.gz!.message, /bad\.ndjson\.gz cannot be gunzipped: incorrect header check/);
  t.equal(byTable.arrow!.code, 'CQ_ERR_SOURCE_DATA');
  t.equal(byTable.arrow!.context.file, `${dir}/bad.arrow`);
  t.match(byTable.arrow!.message, /a footer length of 2147483647 bytes does not fit the file/);
  const [n] = await duckdb(`SELECT count(*)::INTEGER AS n FROM read_ndjson_auto('${dir}/out/good/*.ndjson')`);
  t.equal(n!.n, 3, 'the good table arrives whole');
});

t.test('the checked Arrow IPC reader gives what apache-arrow reads from valid input, whatever the chunking', async (t) => {
  const rows = 50;
  const table = new A.Table({
    id: A.vectorFromArray(
      Array.from({ length: rows }, (_, i) => BigInt(i)),
      new A.Int64(),
    ),
    name: A.vectorFromArray(
      Array.from({ length: rows }, (_, i) => (i % 7 ? `n${i}` : null)),
      new A.Utf8(),
    ),
    tag: A.vectorFromArray(
      Array.from({ length: rows }, (_, i) => ['x', 'y', null][i % 3]!),
      new A.Dictionary(new A.Utf8(), new A.Int32()),
    ),
    l: A.vectorFromArray(
      Array.from({ length: rows }, (_, i) => (i % 5 ? [i, i + 1] : null)),
      new A.List(new A.Field('item', new A.Int32(), true)),
    ),
  });
  const batched = new A.Table([0, 20, 40].flatMap((i) => table.slice(i, i + 20).batches));
  const expected = JSON.stringify(batched.toArray(), (_k, v) => (typeof v === 'bigint' ? String(v) : v));
  const text = (batches: A.RecordBatch[]) => JSON.stringify(new A.Table(batches).toArray(), (_k, v) => (typeof v === 'bigint' ? String(v) : v));
  for (const kind of ['file', 'stream'] as const) {
    const reader = await openIpcFile(new Blob([A.tableToIPC(batched, kind)]), { file: 'x', what: 'x' });
    const got: A.RecordBatch[] = [];
    for (let b = await reader.next(); b; b = await reader.next()) got.push(b);
    t.equal(got.length, 3, `${kind}: three batches`);
    t.equal(text(got), expected, `${kind}: the same values`);
  }
  // two streams back to back (pipe segments), delivered in chunks of 1 and 997 bytes
  const bytes = Buffer.concat([A.tableToIPC(batched, 'stream'), A.tableToIPC(batched, 'stream')]);
  for (const size of [1, 997]) {
    const chunks = (async function* () {
      for (let k = 0; k < bytes.length; k += size) yield bytes.subarray(k, k + size);
    })();
    const segments: string[] = [];
    for await (const reader of ipcStreams(chunks, { file: 'stdin', what: 'stdin' })) {
      const got: A.RecordBatch[] = [];
      for await (const b of reader) got.push(b);
      segments.push(text(got));
    }
    t.same(segments, [expected, expected], `chunks of ${size} bytes: both segments whole`);
  }
});
