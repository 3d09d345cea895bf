/** The s3 source against a real S3 HTTP API (s3rver on loopback): formats, globs, incremental, errors. */
import t, { type Test } from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type * as A from 'apache-arrow';
import { runSourceSuite } from './conformance/source.js';
import { config, destSpec, sourceSpec, tmpDir } from './helpers/index.js';
import { items, itemsTable, writeArrow, writeCsv, writeJsonArray, writeNdjson, writeParquet } from './helpers/files.js';
import { breakNextGet, createBucket, putObject, s3Server, s3Spec } from './helpers/s3.js';
import { s3Source, listPrefix, type S3SourceSpec } from '../connectors/s3/source.js';
import { fileSource } from '../connectors/file/source.js';
import { memoryTables, rowObjects } from '../connectors/memory.js';
import { silentLogger } from '../lib/logger.js';
import { runSync } from '../lib/pipeline.js';
import { openState } from '../index.js';
import { tableName } from '../lib/schema.js';
import type { SyncMessage } from '../lib/messages.js';
import type { CqPipeError } from '../lib/errors.js';
import { exitCodeOf, exitCodeOfSync } from '../bin/exit-codes.js';

const ctx = (baseDir = '/nonexistent') => ({ name: 'lake', logger: silentLogger, baseDir, invocationId: 'inv', syncTime: new Date() });

async function read(spec: Record<string, unknown>, source = s3Source as typeof s3Source | typeof fileSource, baseDir?: string) {
  // test specs are partial on purpose (the source fills defaults); the config loader checks real ones
  const client = await source.create(spec as unknown as S3SourceSpec, ctx(baseDir));
  const tables = await client.tables();
  const msgs: SyncMessage[] = [];
  for await (const m of client.read(tables, { signal: new AbortController().signal, state: new Map() })) msgs.push(m);
  await client.close?.();
  const rows: Record<string, Record<string, unknown>[]> = {};
  for (const m of msgs) if (m.kind === 'insert') (rows[m.table] ??= []).push(...rowObjects(m.batch));
  const errors = msgs.filter((m) => m.kind === 'table-error').map((m) => (m as { error: CqPipeError }).error);
  return { tables, rows, errors, msgs };
}

/** fixture files of every format in a temp dir (the same as the file source's suite) */
async function fixtures(t: Test): Promise<string> {
  const dir = await tmpDir(t);
  await writeNdjson(path.join(dir, 'a-1.ndjson'), items(1500));
  await writeNdjson(path.join(dir, 'a-2.ndjson.gz'), items(1000, 1500), true);
  await writeJsonArray(path.join(dir, 'b.json'), items(700));
  await writeCsv(
    path.join(dir, 'c.csv'),
    items(900).map((r) => ({ ...r })),
  );
  await writeParquet(path.join(dir, 'd.parquet'), itemsTable(items(3000)), 1000);
  await writeArrow(path.join(dir, 'e.arrow'), itemsTable(items(1200)), 'file');
  await writeArrow(path.join(dir, 'f.arrows'), itemsTable(items(800)), 'stream');
  return dir;
}

const KEYS: Record<string, string> = {
  'a-1.ndjson': 'raw/nd/2024/a-1.ndjson',
  'a-2.ndjson.gz': 'raw/nd/2025/a-2.ndjson.gz',
  'b.json': 'raw/json/b.json',
  'c.csv': 'raw/csv/c.csv',
  'd.parquet': 'pq/items/d.parquet',
  'e.arrow': 'ipc/e.arrow',
  'f.arrows': 'ipc/f.arrows',
};

/** a bucket holding the fixtures under KEYS, plus decoys the globs must not match */
async function fixtureBucket(t: Test): Promise<{ bucket: string; dir: string }> {
  const dir = await fixtures(t);
  const bucket = await createBucket('src');
  for (const [file, key] of Object.entries(KEYS)) await putObject(bucket, key, await readFile(path.join(dir, file)));
  await putObject(bucket, 'raw/nd/2024/notes.txt', 'not data');
  await putObject(bucket, 'raw/nd/', '');
  await putObject(bucket, 'rawx/nd/2024/a-9.ndjson', '{"id":1}\n');
  return { bucket, dir };
}

const TABLES = [
  { name: 'ndjson_items', files: ['raw/nd/*/a-*.ndjson', 'raw/nd/**/*.ndjson.gz'], primary_key: ['id'] },
  { name: 'json_items', files: 'raw/json/b.json' },
  { name: 'csv_items', files: 'raw/csv/*.csv' },
  { name: 'parquet_items', files: 'pq/items/*.parquet', primary_key: ['id'] },
  { name: 'arrow_items', files: 'ipc/*.{arrow,arrows}', format: 'arrow' },
];
const EXPECTED = { ndjson_items: 2500, json_items: 700, csv_items: 900, parquet_items: 3000, arrow_items: 2000 };

runSourceSuite(t, {
  connector: s3Source,
  async spec(t: Test) {
    const { bucket } = await fixtureBucket(t);
    return { ...(await s3Spec(bucket)), batch_rows: 1000, tables: TABLES };
  },
  expected: EXPECTED,
});

t.test('every format reads the same rows and types from S3 as from local files', async (t) => {
  const { bucket, dir } = await fixtureBucket(t);
  const s3 = await read({ ...(await s3Spec(bucket)), batch_rows: 1000, tables: TABLES });
  t.same(s3.errors, []);
  const localFiles: Record<string, string[]> = {
    ndjson_items: ['a-*.ndjson', 'a-*.ndjson.gz'],
    json_items: ['b.json'],
    csv_items: ['*.csv'],
    parquet_items: ['*.parquet'],
    arrow_items: ['{e.arrow,f.arrows}'],
  };
  const localTables = TABLES.map((tb) => ({ ...tb, files: localFiles[tb.name]!.map((f) => path.join(dir, f)) }));
  const local = await read({ batch_rows: 1000, tables: localTables }, fileSource, dir);
  t.same(local.errors, []);
  const fields = (s: A.Schema) => s.fields.map((f) => `${f.name}:${f.type}`);
  for (const tb of TABLES) {
    const a = s3.tables.find((s) => tableName(s) === tb.name)!;
    const b = local.tables.find((s) => tableName(s) === tb.name)!;
    t.same(fields(a), fields(b), `${tb.name}: same columns and types`);
    t.equal(s3.rows[tb.name]!.length, EXPECTED[tb.name as keyof typeof EXPECTED], `${tb.name}: row count`);
    t.same(s3.rows[tb.name], local.rows[tb.name], `${tb.name}: same rows in the same order`);
  }
  t.same(fields(s3.tables.find((s) => tableName(s) === 'parquet_items')!), [
    'id:Int64',
    'title:Utf8',
    'price:Float64',
    'updated_at:Timestamp<MICROSECOND, UTC>',
    'active:Bool',
  ]);
});

t.test('Parquet and Arrow files are read by ranges, never downloaded whole', async (t) => {
  const server = await s3Server();
  const dir = await tmpDir(t);
  const bucket = await createBucket('ranges');
  await writeParquet(path.join(dir, 'big.parquet'), itemsTable(items(20_000)), 5000);
  await putObject(bucket, 'pq/big.parquet', await readFile(path.join(dir, 'big.parquet')));
  await writeArrow(path.join(dir, 'big.arrow'), itemsTable(items(5000)), 'file');
  await putObject(bucket, 'ipc/big.arrow', await readFile(path.join(dir, 'big.arrow')));
  const before = server.requests.length;
  const { rows, errors } = await read({
    ...(await s3Spec(bucket)),
    batch_rows: 5000,
    tables: [
      { name: 'p', files: 'pq/*.parquet' },
      { name: 'a', files: 'ipc/*.arrow' },
    ],
  });
  t.same(errors, []);
  t.equal(rows.p!.length, 20_000);
  t.same([rows.p![0]!.id, rows.p![19_999]!.id], [0n, 19_999n]);
  t.equal(rows.a!.length, 5000);
  const gets = server.requests.slice(before).filter((r) => r.method === 'GET' && !r.url.includes('list-type') && !r.url.endsWith(`/${bucket}`));
  const pq = gets.filter((r) => r.url.includes('/pq/big.parquet'));
  t.ok(pq.length >= 4, `parquet: ${pq.length} GETs (footer, then row groups)`);
  t.equal(pq.filter((r) => !r.range).length, 0, 'parquet: every GET is ranged');
  const ipc = gets.filter((r) => r.url.includes('/ipc/big.arrow'));
  t.ok(ipc.length >= 1);
  t.equal(ipc.filter((r) => !r.range).length, 0, 'arrow: every GET is ranged');
});

t.test('globs: static prefix listing, matching within the bucket, deduplicated', async (t) => {
  t.same(['pq/payments/*.parquet', 'raw/**/x.csv', '*.ndjson', 'exact/key.json', '{a,b}/*.csv', 'a/b?/c.csv'].map(listPrefix), [
    'pq/payments/',
    'raw/',
    '',
    'exact/key.json',
    '',
    'a/',
  ]);
  const { bucket } = await fixtureBucket(t);
  const base = await s3Spec(bucket);
  const one = await read({ ...base, tables: [{ name: 'nd', files: 'raw/nd/2024/*.ndjson' }] });
  t.equal(one.rows.nd!.length, 1500, 'raw/nd/2024/*.ndjson: only a-1 (not rawx/, not .txt)');
  const deep = await read({ ...base, tables: [{ name: 'nd', files: 'raw/**/*.ndjson*', format: 'ndjson' }] });
  t.equal(deep.rows.nd!.length, 2500, '** crosses levels; the folder marker and notes.txt are skipped');
  const dup = await read({ ...base, tables: [{ name: 'nd', files: ['raw/nd/2024/a-1.ndjson', 'raw/nd/*/a-1.ndjson'] }] });
  t.equal(dup.rows.nd!.length, 1500, 'an object matched by two patterns is read once');
  // a table whose files cannot be listed fails alone (a table-error before any row)
  const none = await read({ ...base, tables: [{ name: 'nd', files: 'nothing/*.ndjson' }] });
  const err = none.errors[0];
  t.equal(none.errors.length, 1);
  t.equal(err?.code, 'CQ_ERR_SOURCE_READ');
  t.match(err?.message, new RegExp(`no files match "nothing/\\*\\.ndjson" \\(in s3://${bucket} at http://127\\.0\\.0\\.1:\\d+\\)`));
  const explicit = await read({ ...base, tables: [{ name: 'nd', files: 'nothing/*.ndjson', columns: [{ name: 'id', type: 'int64' }] }] });
  t.same([explicit.rows.nd, explicit.errors], [undefined, []], 'with explicit columns, no match is an empty table');
});

t.test('incremental: true skips objects already loaded, by key and ETag', async (t) => {
  const dir = await tmpDir(t);
  const bucket = await createBucket('inc');
  const text = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
  await putObject(bucket, 'in/a.ndjson', text(items(10)));
  await putObject(bucket, 'in/b.ndjson', text(items(5, 10)));
  const backend = { table_name: 'st', connection: `file://${dir}/state` };
  const src = sourceSpec({
    path: 's3',
    destinations: ['m_s3inc'],
    backend_options: backend,
    spec: { ...(await s3Spec(bucket)), tables: [{ name: 'items', files: 'in/*.ndjson', primary_key: ['id'], incremental: true }] },
  });
  const dst = destSpec({ name: 'm_s3inc', path: 'memory', write_mode: 'overwrite-delete-stale' });
  const r1 = await runSync({ config: config([src], [dst]) });
  t.equal(exitCodeOfSync(r1), 0);
  t.equal(r1.resources, 15);
  const state = await openState(backend, 'src');
  const saved = JSON.parse(state.get('items')!) as { files: Record<string, string> };
  await state.close();
  t.same(Object.keys(saved.files).sort(), [`s3://${bucket}/in/a.ndjson`, `s3://${bucket}/in/b.ndjson`], 'state names the objects');
  t.ok(
    Object.values(saved.files).every((v) => /^"[0-9a-f]{32}"$/.test(v)),
    'and their ETags',
  );
  t.equal((await runSync({ config: config([src], [dst]) })).resources, 0, 'nothing new: both objects skipped');
  await putObject(bucket, 'in/b.ndjson', text(items(6, 10))); // replaced: a new ETag
  await putObject(bucket, 'in/c.ndjson', text(items(3, 16)));
  const r3 = await runSync({ config: config([src], [dst]) });
  t.equal(r3.resources, 6 + 3, 'the replaced object and the new one');
  t.equal(memoryTables('m_s3inc').get('items')!.rows.length, 19);
  t.equal((await runSync({ config: config([src], [dst]) })).resources, 0);
});

t.test('incremental: {cursor} keeps only rows at or past the saved cursor', async (t) => {
  const dir = await tmpDir(t);
  const bucket = await createBucket('cur');
  await putObject(
    bucket,
    'x/a.ndjson',
    items(10)
      .map((r) => JSON.stringify(r))
      .join('\n'),
  );
  const backend = { table_name: 'st', connection: `file://${dir}/state` };
  const src = sourceSpec({
    path: 's3',
    destinations: ['m_s3cur'],
    backend_options: backend,
    spec: { ...(await s3Spec(bucket)), tables: [{ name: 'items', files: 'x/*.ndjson', primary_key: ['id'], incremental: { cursor: 'updated_at' } }] },
  });
  const dst = destSpec({ name: 'm_s3cur', path: 'memory', write_mode: 'overwrite' });
  t.equal((await runSync({ config: config([src], [dst]) })).resources, 10);
  await putObject(
    bucket,
    'x/b.ndjson',
    items(10, 5)
      .map((r) => JSON.stringify(r))
      .join('\n'),
  );
  t.equal((await runSync({ config: config([src], [dst]) })).resources, 6, 'row 9 (the tie) and rows 10..14');
  t.equal(memoryTables('m_s3cur').get('items')!.rows.length, 15);
});

t.test('a malformed NDJSON object fails its table naming the key and line; other tables continue', async (t) => {
  const bucket = await createBucket('bad');
  await putObject(bucket, 'bad/part-1.ndjson', '{"id":1}\n{"id":2}\n');
  await putObject(bucket, 'bad/part-2.ndjson', '{"id":3}\n{"id":4}\n{"id":5,\n{"id":6}\n');
  await putObject(bucket, 'good/x.ndjson.gz', gzipSync('{"id":1}\n{"id":2}\n'));
  const { rows, errors } = await read({
    ...(await s3Spec(bucket)),
    tables: [
      { name: 'bad', files: 'bad/*.ndjson', columns: [{ name: 'id', type: 'int64' }] },
      { name: 'good', files: 'good/*.ndjson.gz' },
    ],
  });
  t.equal(errors.length, 1);
  t.equal(errors[0]!.code, 'CQ_ERR_SOURCE_DATA');
  t.equal(errors[0]!.context.file, `s3://${bucket}/bad/part-2.ndjson`);
  t.equal(errors[0]!.context.line, 3);
  t.equal(errors[0]!.context.table, 'bad');
  t.match(errors[0]!.where(), new RegExp(`^s3://${bucket}/bad/part-2\\.ndjson:3, connector lake, table bad$`));
  t.equal(rows.bad!.length, 2, 'the rows of the object before it');
  t.same(
    rows.good!.map((r) => r.id),
    [1n, 2n],
    'the other table is read (gzip)',
  );

  // and through the engine: exit 1, the error names key and line
  const res = await runSync({
    config: config(
      [
        sourceSpec({
          path: 's3',
          destinations: ['m_s3bad'],
          spec: { ...(await s3Spec(bucket)), tables: [{ name: 'bad', files: 'bad/*.ndjson', columns: [{ name: 'id', type: 'int64' }] }] },
        }),
      ],
      [destSpec({ name: 'm_s3bad', path: 'memory' })],
    ),
  });
  t.equal(exitCodeOfSync(res), 1);
  t.same(
    res.errors.map((e) => [e.code, e.context.file, e.context.line]),
    [['CQ_ERR_SOURCE_DATA', `s3://${bucket}/bad/part-2.ndjson`, 3]],
  );
});

t.test('corrupt Parquet fails its table with the key named', async (t) => {
  const bucket = await createBucket('corrupt');
  await putObject(bucket, 'x.parquet', 'PAR1 this is not parquet PAR1');
  const r = await read({ ...(await s3Spec(bucket)), tables: [{ name: 'x', files: 'x.parquet' }] });
  t.same(
    r.errors.map((e) => [e.code, e.context.file, e.scope]),
    [['CQ_ERR_SOURCE_DATA', `s3://${bucket}/x.parquet`, 'table']],
  );
});

t.test('a missing bucket or denied access is a clear error', async (t) => {
  const missing = `nobucket-${process.pid}`;
  // every table of the source fails with the reason (each a table-error before any row)
  const c = await read({ ...(await s3Spec(missing)), tables: [{ name: 'x', files: 'a/*.ndjson' }] });
  const err = c.errors[0];
  t.equal(c.errors.length, 1);
  t.equal(err?.code, 'CQ_ERR_SOURCE_READ');
  t.equal(err?.context.connector, 'lake');
  t.match(err?.message, new RegExp(`bucket s3://${missing} at .* does not exist .*HTTP 404`));
  const bucket = await createBucket();
  const d = await read({ ...(await s3Spec(bucket)), access_key_id: 'WRONG', secret_access_key: 'WRONG', tables: [{ name: 'x', files: 'a/*.ndjson' }] });
  const err2 = d.errors[0];
  t.equal(err2?.code, 'CQ_ERR_SOURCE_READ');
  t.match(err2?.message, /access to bucket .* is denied .*HTTP 403/);
});

t.test('config: key globs, bucket names and credential pairs are checked at load', async (t) => {
  const problems = (spec: Partial<S3SourceSpec>) =>
    s3Source.validate!({ bucket: 'lake', tables: [{ name: 'x', files: 'a/*.ndjson' }], ...spec } as S3SourceSpec).map(
      (p) => `${p.keyPath.join('.')}: ${p.message}`,
    );
  t.same(problems({}), []);
  t.match(problems({ tables: [{ name: 'x', files: '/a/*.ndjson' }] }), [/^tables\.0\.files: .*do not start with "\/"/]);
  t.match(problems({ tables: [{ name: 'x', files: ['a/*.ndjson', 's3://lake/b/*.ndjson'] }] }), [/^tables\.0\.files\.1: .*not a URL/]);
  t.match(problems({ tables: [{ name: 'x', files: 'a/*.dat' }] }), [/^tables\.0\.format: cannot tell the format/]);
  t.match(problems({ access_key_id: 'AK' }), [/^secret_access_key: /]);
  t.match(problems({ bucket: 'UPPER' }), [/^bucket: /]);
  const schema = s3Source.configSchema as { required: string[]; properties: Record<string, unknown> };
  t.same(schema.required, ['bucket', 'tables']);
  t.same(Object.keys(schema.properties).sort(), [
    'access_key_id',
    'batch_rows',
    'bucket',
    'credentials',
    'endpoint',
    'endpoint_skip_tls_verify',
    'local_profile',
    'max_attempts',
    'max_retries',
    'region',
    'secret_access_key',
    'session_token',
    'tables',
    'use_path_style',
  ]);

  // through the config loader: exit 2 naming the key path
  const { loadConfig } = await import('../index.js');
  const dir = await tmpDir(t);
  const file = path.join(dir, 's3.yml');
  await writeFile(
    file,
    'kind: source\nspec:\n  name: s\n  path: s3\n  destinations: [m]\n  spec:\n    bucket: lake\n    tables: [{ name: x, files: "/a/*.ndjson" ' +
      '}]\n---\nkind: destination\nspec: { name: m, path: memory }\n',
  );
  const e = await loadConfig([file], { requireDestinations: true, env: {} }).then(
    () => undefined,
    (x: CqPipeError) => x,
  );
  t.equal(exitCodeOf(e), 2);
  t.match(e?.message, /do not start with "\/"/);
});

t.test('--shard n/t splits the matched objects between shards', async (t) => {
  const bucket = await createBucket('shard');
  for (let k = 0; k < 5; k++)
    await putObject(
      bucket,
      `s/part-${k}.ndjson`,
      items(10, k * 10)
        .map((r) => JSON.stringify(r))
        .join('\n'),
    );
  const spec = { ...(await s3Spec(bucket)), tables: [{ name: 'items', files: 's/*.ndjson', columns: [{ name: 'id', type: 'int64' }] }] };
  const ids: number[][] = [];
  for (const num of [1, 2]) {
    const client = await s3Source.create(spec as S3SourceSpec, ctx());
    t.equal(client.shardsItself, true);
    const got: number[] = [];
    for await (const m of client.read(await client.tables(), { signal: new AbortController().signal, state: new Map(), shard: { num, total: 2 } })) {
      if (m.kind === 'insert') got.push(...rowObjects(m.batch).map((r) => Number(r.id)));
    }
    await client.close?.();
    ids.push(got);
  }
  t.same(
    ids.map((x) => x.length),
    [30, 20],
    'objects 0, 2, 4 and 1, 3',
  );
  t.same(
    [...ids[0]!, ...ids[1]!].sort((a, b) => a - b),
    Array.from({ length: 50 }, (_, i) => i),
    'together: every row once',
  );
});

t.test('a connection dropped in the middle of an object resumes from the next byte', async (t) => {
  const server = await s3Server();
  const bucket = await createBucket('resume');
  const text =
    items(30_000)
      .map((r) => JSON.stringify(r))
      .join('\n') + '\n'; // ~3.5 MB
  await putObject(bucket, 'r/big.ndjson', text);
  const spec = { ...(await s3Spec(bucket)), tables: [{ name: 'items', files: 'r/*.ndjson', columns: [{ name: 'id', type: 'int64' }] }] };
  breakNextGet((url) => url.startsWith(`/${bucket}/r/big.ndjson`), 1_000_000);
  const before = server.requests.length;
  const { rows, errors } = await read(spec);
  t.same(errors, []);
  t.equal(rows.items!.length, 30_000);
  t.same(
    rows.items!.map((r) => Number(r.id)),
    Array.from({ length: 30_000 }, (_, i) => i),
    'every row once, in order',
  );
  const gets = server.requests.slice(before).filter((r) => r.method === 'GET' && r.url.startsWith(`/${bucket}/r/big.ndjson`));
  t.equal(gets.length, 2, 'the first GET broke, a second one resumed');
  t.equal(gets[0]!.range, undefined);
  t.match(gets[1]!.range, /^bytes=\d+-$/);
  t.ok(Number(/bytes=(\d+)-/.exec(gets[1]!.range!)![1]) >= 1_000_000 - 65536, 'from where the first one stopped');

  // a connection that keeps dropping fails the table after max_attempts, naming the object
  for (let k = 0; k < 2; k++) breakNextGet((url) => url.startsWith(`/${bucket}/r/big.ndjson`), 500_000 * (k + 1));
  const failing = await read({ ...spec, max_attempts: 2 });
  t.equal(failing.errors.length, 1);
  t.equal(failing.errors[0]!.code, 'CQ_ERR_SOURCE_READ');
  t.equal(failing.errors[0]!.context.file, `s3://${bucket}/r/big.ndjson`);
  t.match(failing.errors[0]!.message, /^reading \(at byte \d+\) s3:\/\/resume-\d+-\d+\/r\/big\.ndjson failed/);

  // the same for a CSV object: a read failure stays a read failure, not "malformed CSV"
  await putObject(bucket, 'r/big.csv', 'id\n' + Array.from({ length: 200_000 }, (_, i) => i).join('\n') + '\n');
  for (let k = 0; k < 2; k++) breakNextGet((url) => url.startsWith(`/${bucket}/r/big.csv`), 300_000 * (k + 1));
  const csv = await read({ ...spec, max_attempts: 2, tables: [{ name: 'c', files: 'r/*.csv', columns: [{ name: 'id', type: 'int64' }] }] });
  t.same(
    csv.errors.map((e) => [e.code, e.context.file]),
    [['CQ_ERR_SOURCE_READ', `s3://${bucket}/r/big.csv`]],
  );
});
