/**
 * Real faults between the real AWS SDK and a real S3 API: the connectors talk to s3rver through a
 * fault-injecting HTTP proxy (test/helpers/fault-proxy.ts) that answers 500/503, drops connections
 * before or after forwarding, cuts responses mid-body and delays. Data is read back directly from
 * s3rver (not through the proxy); every test asserts how many faults were really injected.
 */
import t, { type Test } from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { config, destSpec, duckdb, sourceSpec, tmpDir } from './helpers/index.js';
import { items, itemsTable, writeParquet } from './helpers/files.js';
import { createBucket, getObject, listObjects, putObject, s3Server, s3Spec } from './helpers/s3.js';
import { conditionalS3 } from './helpers/s3-conditional.js';
import { prng, startFaultProxy, type ActiveRule, type FaultProxy, type ProxiedRequest } from './helpers/fault-proxy.js';
import { memoryTables } from '../connectors/memory.js';
import { PARQUET_READ } from '../connectors/file/formats/parquet.js';
import { runSync } from '../lib/pipeline.js';
import { openState } from '../index.js';
import { createLogger } from '../lib/logger.js';
import { exitCodeOfSync } from '../bin/exit-codes.js';

// a small footer read-ahead, so these small Parquet files are read by row group as large ones are
PARQUET_READ.tailBytes = 16 * 1024;

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}';
const quiet = createLogger({ level: 'error', write: () => {} });

async function proxyFor(t: Test, target?: string): Promise<FaultProxy> {
  const proxy = await startFaultProxy(target ?? (await s3Server()).endpoint);
  t.teardown(() => proxy.close());
  return proxy;
}

const fired = (rules: ActiveRule[]) => rules.map((r) => r.fired);
const count = (reqs: ProxiedRequest[], pred: (r: ProxiedRequest) => boolean) => reqs.filter(pred).length;

/** the test source (all-types, ~700 B of NDJSON / ~200 B of Parquet a row) into the s3 destination through the proxy */
async function syncToS3(bucket: string, proxy: FaultProxy, format: 'ndjson' | 'parquet', rows: number, batch: number, maxAttempts: number) {
  return runSync({
    logger: quiet,
    config: config(
      [sourceSpec({ path: 'test', spec: { num_tables: 1, num_rows: rows, batch_rows: 5000 } })],
      [
        destSpec({
          path: 's3',
          write_mode: 'append',
          spec: {
            ...(await s3Spec(bucket)),
            endpoint: proxy.endpoint,
            format,
            path: 'out/{{TABLE}}/{{UUID}}.{{FORMAT}}',
            batch_size: batch,
            max_attempts: maxAttempts,
          },
        }),
      ],
    ),
  });
}

/** the _cq_id of every row of every object under out/, read straight from s3rver */
async function cqIds(t: Test, bucket: string, format: 'ndjson' | 'parquet'): Promise<string[]> {
  const objects = await listObjects(bucket, 'out/');
  if (format === 'ndjson') {
    const ids: string[] = [];
    for (const o of objects)
      for (const l of (await getObject(bucket, o.key)).toString('utf8').split('\n').filter(Boolean)) ids.push((JSON.parse(l) as { _cq_id: string })._cq_id);
    return ids;
  }
  const dir = await tmpDir(t);
  for (const [i, o] of objects.entries()) await writeFile(path.join(dir, `${i}.parquet`), await getObject(bucket, o.key));
  return (await duckdb(`SELECT _cq_id::VARCHAR AS id FROM read_parquet('${dir}/*.parquet')`)).map((r) => r.id as string);
}

/** every multipart upload the client knows of was completed (200) or aborted */
function uploadsSettled(reqs: ProxiedRequest[]): { used: number; open: string[] } {
  const ids = new Set(reqs.filter((r) => r.uploadId).map((r) => r.uploadId!));
  const open = [...ids].filter(
    (id) => !reqs.some((r) => r.uploadId === id && ((r.op === 'CompleteMultipartUpload' && r.status === 200) || r.op === 'AbortMultipartUpload')),
  );
  return { used: ids.size, open };
}

t.test('destination: 500, 503 and dropped connections on every upload request; every row lands once', async (t) => {
  t.test('ndjson: 40,000 rows as 2 multipart objects (2 parts each) and 1 PutObject', async (t) => {
    const proxy = await proxyFor(t);
    const bucket = await createBucket('fault-nd');
    const rules = [
      proxy.inject({ bucket, op: 'PutObject', fault: 503 }),
      proxy.inject({ bucket, op: 'PutObject', fault: 'drop-after', skip: 1 }), // the retry is stored, its answer lost
      proxy.inject({ bucket, op: 'CreateMultipartUpload', fault: 500 }),
      proxy.inject({ bucket, op: 'CreateMultipartUpload', fault: 'drop', skip: 1 }),
      proxy.inject({ bucket, op: 'UploadPart', part: 1, fault: 'drop' }),
      proxy.inject({ bucket, op: 'UploadPart', part: 1, fault: 'drop-after', skip: 1 }),
      proxy.inject({ bucket, op: 'UploadPart', part: 2, fault: 503, times: 2 }),
      proxy.inject({ bucket, op: 'CompleteMultipartUpload', fault: 503 }),
      proxy.inject({ bucket, op: 'CompleteMultipartUpload', fault: 'drop', skip: 1 }),
    ];
    const res = await syncToS3(bucket, proxy, 'ndjson', 40_000, 15_000, 4);
    t.same(
      res.errors.map((e) => e.message),
      [],
    );
    t.equal(exitCodeOfSync(res), 0);
    t.equal(res.resources, 40_000);
    t.same(fired(rules), [1, 1, 1, 1, 1, 1, 2, 1, 1], 'every rule fired as often as it asked');
    t.equal(proxy.faults.length, 10, '10 faults injected');
    const reqs = proxy.requests;
    t.same(
      ['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload'].map((op) => count(reqs, (r) => r.op === op)),
      [1 + 2, 2 + 2, 4 + 4, 2 + 2],
      "requests: the objects' own plus one retry per fault",
    );
    t.same(uploadsSettled(reqs), { used: 2, open: [] }, 'both multipart uploads completed');
    const objects = await listObjects(bucket, 'out/');
    t.equal(objects.length, 3);
    t.ok(objects.every((o) => new RegExp(`^out/test_table_0/${UUID}\\.ndjson$`).test(o.key)));
    const ids = await cqIds(t, bucket, 'ndjson');
    t.equal(ids.length, 40_000, 'rows read back from s3rver');
    t.equal(new Set(ids).size, 40_000, 'distinct _cq_id: no row twice');
  });

  t.test('parquet: 110,000 rows, random 503s (seeded), a lost CreateMultipartUpload answer, a delay', async (t) => {
    const proxy = await proxyFor(t);
    const bucket = await createBucket('fault-pq');
    const chance = { p: 0.4, seed: 7 };
    const random = proxy.inject({ bucket, op: ['PutObject', 'UploadPart'], fault: 503, chance, times: 3 });
    const lostCreate = proxy.inject({ bucket, op: 'CreateMultipartUpload', fault: 'drop-after' });
    const complete = proxy.inject({ bucket, op: 'CompleteMultipartUpload', fault: 500, every: 2 });
    const slow = proxy.inject({ bucket, op: 'UploadPart', fault: { delay: 300 } });
    const res = await syncToS3(bucket, proxy, 'parquet', 110_000, 50_000, 4);
    t.same(
      res.errors.map((e) => e.message),
      [],
    );
    t.equal(exitCodeOfSync(res), 0);
    // 50k + 50k rows (two parts each) and 10k rows (one PutObject): 5 data requests before retries
    const draws = prng(chance.seed);
    let expected = 0;
    for (let i = 0; i < random.matched && expected < 3; i++) if (draws() < chance.p) expected++;
    t.ok(random.fired > 0, `the seeded rule fired ${random.fired} times`);
    t.equal(random.fired, expected, 'as the seeded PRNG says');
    t.equal(random.matched, 5 + random.fired, 'each 503 retried once');
    t.same([lostCreate.fired, complete.matched, complete.fired, slow.fired], [1, 3, 1, 1]);
    t.equal(proxy.faults.length, random.fired + 3);
    const reqs = proxy.requests;
    t.equal(
      count(reqs, (r) => r.op === 'CreateMultipartUpload'),
      3,
      'two uploads, one created twice (its first answer lost)',
    );
    // the upload whose creation answer was lost is unknown to the client: S3 keeps it until a
    // lifecycle rule (AbortIncompleteMultipartUpload) removes it; it holds no parts
    t.same(uploadsSettled(reqs), { used: 2, open: [] }, 'the two uploads the client knows of completed');
    const objects = await listObjects(bucket, 'out/');
    t.equal(objects.length, 3);
    const ids = await cqIds(t, bucket, 'parquet');
    t.equal(ids.length, 110_000);
    t.equal(new Set(ids).size, 110_000);
  });
});

t.test('source: 503s on listing and reads, a body cut mid-object and a dropped connection; every row once', async (t) => {
  const proxy = await proxyFor(t);
  const bucket = await createBucket('fault-src');
  const dir = await tmpDir(t);
  const ndjson = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
  await putObject(bucket, 'in/a.ndjson', ndjson(items(3000)));
  await putObject(bucket, 'in/b.ndjson', ndjson(items(2000, 3000)));
  await writeParquet(path.join(dir, 'c.parquet'), itemsTable(items(5000, 10_000)), 1000);
  await putObject(bucket, 'pq/c.parquet', await readFile(path.join(dir, 'c.parquet')));
  const pqSize = (await readFile(path.join(dir, 'c.parquet'))).length;
  const rangeEnd = (r: ProxiedRequest) => Number(/-(\d+)$/.exec(r.range ?? '')?.[1] ?? pqSize);
  const span = (r: ProxiedRequest) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(r.range ?? '');
    return m ? Number(m[2]) - Number(m[1]) + 1 : 0;
  };
  const rules = [
    proxy.inject({ bucket, op: 'ListObjectsV2', fault: 503, times: 2 }),
    proxy.inject({ bucket, op: 'GetObject', key: 'in/a.ndjson', fault: 503 }),
    proxy.inject({ bucket, op: 'GetObject', key: 'in/a.ndjson', fault: { cutAfter: 50_000 }, skip: 1 }),
    proxy.inject({ bucket, op: 'GetObject', key: 'in/b.ndjson', fault: 'drop' }),
    proxy.inject({ bucket, op: 'GetObject', key: 'in/b.ndjson', fault: { delay: 200 }, skip: 1 }),
    // a row group's ranged read (parquet-wasm's Blob.slice) breaks after 1000 bytes
    proxy.inject({ bucket, op: 'GetObject', key: 'pq/c.parquet', match: (r) => span(r) > 10_000 && rangeEnd(r) < pqSize - 1, fault: { cutAfter: 1000 } }),
  ];
  const dest = `m_s3faults_${process.pid}`;
  const res = await runSync({
    logger: quiet,
    config: config(
      [
        sourceSpec({
          path: 's3',
          destinations: [dest],
          spec: {
            ...(await s3Spec(bucket)),
            endpoint: proxy.endpoint,
            max_attempts: 4,
            batch_rows: 1000,
            tables: [
              { name: 'nd', files: 'in/*.ndjson' },
              { name: 'pq', files: 'pq/*.parquet' },
            ],
          },
        }),
      ],
      [destSpec({ name: dest, path: 'memory', write_mode: 'append' })], // append: a repeated row would show
    ),
  });
  t.same(
    res.errors.map((e) => e.message),
    [],
  );
  t.equal(exitCodeOfSync(res), 0);
  t.same(fired(rules), [2, 1, 1, 1, 1, 1]);
  t.equal(proxy.faults.length, 7);
  const reqs = proxy.requests.filter((r) => r.key === 'in/a.ndjson');
  // schema inference reads the head of a.ndjson (503, then cut after 50,000 bytes and resumed from
  // there), then the table reads it whole; no other request (an early stop is not a broken body)
  t.same(
    reqs.map((r) => [r.fault ?? 'ok', r.range ?? 'whole']),
    [
      ['503', 'whole'],
      ['cut-after-50000', 'whole'],
      ['ok', 'bytes=50000-'],
      ['ok', 'whole'],
    ],
    'a.ndjson: 503, cut after 50,000 bytes, resumed from byte 50,000; then read once',
  );
  const pq = proxy.requests.filter((r) => r.key === 'pq/c.parquet' && r.fault);
  t.equal(pq.length, 1);
  t.same(
    proxy.requests.filter((r) => r.key === 'pq/c.parquet' && r.range === pq[0]!.range).map((r) => r.fault ?? 'ok'),
    ['cut-after-1000', 'ok'],
    'the cut row-group range is asked for again',
  );
  const tables = memoryTables(dest);
  for (const [table, first] of [
    ['nd', 0],
    ['pq', 10_000],
  ] as const) {
    const ids = tables.get(table)!.rows.map((r) => Number(r.id));
    t.equal(ids.length, 5000, `${table}: 5000 rows`);
    t.same(
      [...ids].sort((a, b) => a - b),
      Array.from({ length: 5000 }, (_, i) => first + i),
      `${table}: every id exactly once`,
    );
  }
});

t.test('S3 state backend: its snapshot PUT is retried through a 503 and a lost answer', async (t) => {
  process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
  const store = await conditionalS3(); // s3rver honouring If-Match / If-None-Match, with bucket state-bucket
  const proxy = await proxyFor(t, store.endpoint);
  const direct = new S3Client({
    endpoint: store.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  t.teardown(() => direct.destroy());
  const snapshot = async (key: string) =>
    JSON.parse(await (await direct.send(new GetObjectCommand({ Bucket: 'state-bucket', Key: key }))).Body!.transformToString()) as Record<
      string,
      { value: string }
    >;
  const connection = `s3://state-bucket/faults?endpoint=${encodeURIComponent(proxy.endpoint)}&path_style=true&region=us-east-1`;

  t.test('a sync whose first checkpoint save gets a 503', async (t) => {
    const rule = proxy.inject({ op: 'PutObject', bucket: 'state-bucket', key: 'faults/cq_state_sync.json', fault: 503 });
    const dest = `m_s3faults_state_${process.pid}`;
    const res = await runSync({
      logger: quiet,
      config: config(
        [
          sourceSpec({
            path: 'test',
            destinations: [dest],
            backend_options: { table_name: 'cq_state_sync', connection },
            spec: { num_tables: 1, num_rows: 300, batch_rows: 100, incremental: true },
          }),
        ],
        [destSpec({ name: dest, path: 'memory', write_mode: 'append' })],
      ),
    });
    t.same(
      res.errors.map((e) => e.message),
      [],
    );
    t.equal(exitCodeOfSync(res), 0);
    t.equal(rule.fired, 1);
    const puts = proxy.requests.filter((r) => r.op === 'PutObject' && r.key === 'faults/cq_state_sync.json');
    t.same(
      puts.map((r) => r.status),
      [503, ...Array<number>(puts.length - 1).fill(200)],
      'the 503, then every save succeeds',
    );
    const saved = await snapshot('faults/cq_state_sync.json');
    t.same(Object.keys(saved), ['test_table_0'], 'the state is saved');
    const state = await openState({ table_name: 'cq_state_sync', connection }, 'src');
    t.equal(state.get('test_table_0'), saved.test_table_0!.value);
    await state.close();
  });

  t.test('a save whose answer is lost after S3 stored it is not a false conflict', async (t) => {
    const key = 'faults/cq_state_lost.json';
    const lost = proxy.inject({ op: 'PutObject', bucket: 'state-bucket', key, fault: 'drop-after', times: 2 });
    const state = await openState({ table_name: 'cq_state_lost', connection }, 'src');
    state.set('orders', '2024-01-01'); // first save: If-None-Match: *
    await state.flush();
    state.set('orders', '2024-01-02'); // second save: If-Match the first's ETag
    await state.flush();
    await state.close();
    t.equal(lost.fired, 2);
    t.same((await snapshot(key)).orders?.value, '2024-01-02');
    const again = await openState({ table_name: 'cq_state_lost', connection }, 'src');
    again.set('orders', '2024-01-03'); // and the ETag it holds is the stored one
    await again.flush();
    await again.close();
    t.same((await snapshot(key)).orders?.value, '2024-01-03');
  });
});

t.test('faults beyond max_attempts: the sync fails naming object and status, nothing half-committed', async (t) => {
  t.test('every PutObject answers 503', async (t) => {
    const proxy = await proxyFor(t);
    const bucket = await createBucket('fault-max');
    const rule = proxy.inject({ bucket, op: 'PutObject', fault: 503, every: 1 });
    const res = await syncToS3(bucket, proxy, 'ndjson', 3000, 1000, 2);
    t.equal(exitCodeOfSync(res), 1);
    t.ok(res.errors.length >= 1);
    const err = res.errors[0]!;
    t.equal(err.code, 'CQ_ERR_DEST_WRITE');
    t.match(err.message, new RegExp(`^(uploading|completing) s3://${bucket}/out/test_table_0/${UUID}\\.ndjson failed: SlowDown \\(HTTP 503\\)`));
    t.notMatch(err.message, /\n|\bat .*\.js:\d+/, 'one line, no stack trace');
    const puts = proxy.requests.filter((r) => r.op === 'PutObject');
    const perKey = new Map<string, number>();
    for (const r of puts) perKey.set(r.key, (perKey.get(r.key) ?? 0) + 1);
    t.ok(perKey.size >= 1);
    t.same([...perKey.values()], Array<number>(perKey.size).fill(2), 'each object tried exactly max_attempts (2) times');
    t.equal(rule.fired, puts.length, 'every PutObject got its 503');
    t.equal(proxy.faults.length, puts.length);
    t.same(await listObjects(bucket), [], 'no object in the bucket');
  });

  t.test('every UploadPart answers 500: the multipart upload is aborted', async (t) => {
    const proxy = await proxyFor(t);
    const bucket = await createBucket('fault-max');
    const rule = proxy.inject({ bucket, op: 'UploadPart', fault: 500, every: 1 });
    const res = await syncToS3(bucket, proxy, 'ndjson', 15_000, 15_000, 2);
    t.equal(exitCodeOfSync(res), 1);
    const err = res.errors[0]!;
    t.equal(err.code, 'CQ_ERR_DEST_WRITE');
    t.match(err.message, new RegExp(`^(uploading|completing) s3://${bucket}/out/test_table_0/${UUID}\\.ndjson failed: InternalError \\(HTTP 500\\)`));
    t.notMatch(err.message, /\n|\bat .*\.js:\d+/);
    const reqs = proxy.requests;
    const parts = reqs.filter((r) => r.op === 'UploadPart');
    t.same([count(reqs, (r) => r.op === 'CreateMultipartUpload'), parts.length, rule.fired], [1, 4, 4], 'parts 1 and 2, twice each, all failed');
    t.equal(
      count(reqs, (r) => r.op === 'CompleteMultipartUpload'),
      0,
      'never completed',
    );
    t.equal(
      count(reqs, (r) => r.op === 'AbortMultipartUpload' && r.uploadId === parts[0]!.uploadId),
      1,
      'aborted',
    );
    // s3rver does not implement AbortMultipartUpload (405): the message keeps the cause and says so
    t.match(err.message, /; aborting the multipart upload failed too, so its parts stay .*: MethodNotAllowed \(HTTP 405\)/);
    t.same(await listObjects(bucket), [], 'no object in the bucket');
  });

  t.test('every GetObject of one object answers 503: its table fails naming it, the other table is read', async (t) => {
    const proxy = await proxyFor(t);
    const bucket = await createBucket('fault-max-src');
    await putObject(bucket, 'bad/x.ndjson', '{"id":1}\n{"id":2}\n');
    await putObject(bucket, 'good/y.ndjson', '{"id":3}\n{"id":4}\n');
    const rule = proxy.inject({ bucket, op: 'GetObject', key: 'bad/x.ndjson', fault: 503, every: 1 });
    const dest = `m_s3faults_max_${process.pid}`;
    const columns = [{ name: 'id', type: 'int64' }];
    const res = await runSync({
      logger: quiet,
      config: config(
        [
          sourceSpec({
            path: 's3',
            destinations: [dest],
            spec: {
              ...(await s3Spec(bucket)),
              endpoint: proxy.endpoint,
              max_attempts: 2,
              tables: [
                { name: 'bad', files: 'bad/*.ndjson', columns },
                { name: 'good', files: 'good/*.ndjson', columns },
              ],
            },
          }),
        ],
        [destSpec({ name: dest, path: 'memory', write_mode: 'append' })],
      ),
    });
    t.equal(exitCodeOfSync(res), 1);
    t.same(
      res.errors.map((e) => [e.code, e.context.table, e.context.file]),
      [['CQ_ERR_SOURCE_READ', 'bad', `s3://${bucket}/bad/x.ndjson`]],
    );
    t.match(res.errors[0]!.message, new RegExp(`^reading s3://${bucket}/bad/x\\.ndjson failed: SlowDown \\(HTTP 503\\)`));
    t.notMatch(res.errors[0]!.message, /\n|\bat .*\.js:\d+/);
    t.same([rule.matched, rule.fired], [2, 2], 'tried max_attempts (2) times, every try got its 503');
    t.same(
      memoryTables(dest)
        .get('good')!
        .rows.map((r) => Number(r.id)),
      [3, 4],
      'the other table is read',
    );
    t.equal(memoryTables(dest).get('bad')?.rows.length ?? 0, 0);
  });
});

// AWS S3 answers a repeated CompleteMultipartUpload with 200, but s3rver (500), MinIO and Ceph RGW
// (NoSuchUpload) do not: when the first answer is lost, the sink checks the key for an object of
// exactly the bytes it uploaded, written since the upload started, and counts the upload as done.
t.test('a lost CompleteMultipartUpload answer: the retry fails, the object is found complete, the sync succeeds', async (t) => {
  const proxy = await proxyFor(t);
  const bucket = await createBucket('fault-cmu');
  const lost = proxy.inject({ bucket, op: 'CompleteMultipartUpload', fault: 'drop-after' });
  const res = await syncToS3(bucket, proxy, 'ndjson', 15_000, 15_000, 2);
  t.equal(lost.fired, 1);
  t.same(
    proxy.requests.filter((r) => r.op === 'CompleteMultipartUpload').map((r) => r.status),
    [undefined, 500],
    'the retry: s3rver no longer knows the upload',
  );
  t.equal(
    count(proxy.requests, (r) => r.op === 'HeadObject'),
    1,
    'the object was checked',
  );
  t.equal(exitCodeOfSync(res), 0, res.errors.map((e) => e.message).join('\n'));
  const ids = await cqIds(t, bucket, 'ndjson');
  t.same([ids.length, new Set(ids).size], [15_000, 15_000], 'the object is there, complete, once');
});

t.test('a failed CompleteMultipartUpload with no object behind it still fails the sync', async (t) => {
  const proxy = await proxyFor(t);
  const bucket = await createBucket('fault-cmu2');
  const refused = proxy.inject({ bucket, op: 'CompleteMultipartUpload', fault: 500, every: 1 });
  const res = await syncToS3(bucket, proxy, 'ndjson', 15_000, 15_000, 2);
  t.equal(refused.fired, 2);
  t.equal(exitCodeOfSync(res), 1);
  t.match(res.errors[0]?.message, /InternalError \(HTTP 500\)/);
  t.same(await listObjects(bucket), [], 'nothing visible');
});

t.test('Parquet reads that keep failing past max_attempts fail their table (parquet-wasm never sees a failed read)', async (t) => {
  const bucket = await createBucket('fault-pq-max');
  const dir = await tmpDir(t);
  await writeParquet(path.join(dir, 'c.parquet'), itemsTable(items(5000)), 1000);
  const bytes = await readFile(path.join(dir, 'c.parquet'));
  await putObject(bucket, 'pq/c.parquet', bytes);
  await putObject(bucket, 'good/y.ndjson', '{"id":3}\n{"id":4}\n');
  const columns = [{ name: 'id', type: 'int64' }];
  const footerStart = bytes.length - 8 - bytes.readUInt32LE(bytes.length - 8);
  // a range that ends before the footer: a row group's, not the read-ahead with the footer
  const footerRead = (r: ProxiedRequest) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(r.range ?? '');
    return m !== null && Number(m[2]) >= footerStart;
  };
  for (const [what, match] of [
    ['row-group reads', (r: ProxiedRequest) => r.range !== undefined && !footerRead(r)],
    ['every read, the footer too', () => true],
  ] as const) {
    t.test(what, async (t) => {
      const proxy = await proxyFor(t);
      const rule = proxy.inject({ bucket, op: 'GetObject', key: 'pq/c.parquet', match, fault: 503, every: 1 });
      const dest = `m_s3faults_pqmax_${process.pid}_${what.length}`;
      const res = await runSync({
        logger: quiet,
        config: config(
          [
            sourceSpec({
              path: 's3',
              destinations: [dest],
              spec: {
                ...(await s3Spec(bucket)),
                endpoint: proxy.endpoint,
                max_attempts: 2,
                tables: [
                  { name: 'pq', files: 'pq/*.parquet' },
                  { name: 'good', files: 'good/*.ndjson', columns },
                ],
              },
            }),
          ],
          [destSpec({ name: dest, path: 'memory', write_mode: 'append' })],
        ),
      });
      t.ok(rule.fired >= 2, `faults injected: ${rule.fired}`);
      t.equal(exitCodeOfSync(res), 1, 'an error, not a crash');
      if (what === 'row-group reads') {
        t.same(
          res.errors.map((e) => [e.code, e.context.table, e.context.file]),
          [['CQ_ERR_SOURCE_READ', 'pq', `s3://${bucket}/pq/c.parquet`]],
        );
        t.same(
          memoryTables(dest)
            .get('good')!
            .rows.map((r) => Number(r.id)),
          [3, 4],
          'the other table is read',
        );
        t.equal(memoryTables(dest).get('pq')?.rows.length ?? 0, 0);
      } else {
        // the footer is where the table's columns come from: without it the source cannot list its tables
        t.same(
          res.errors.map((e) => [e.code, e.context.file]),
          [['CQ_ERR_SOURCE_READ', `s3://${bucket}/pq/c.parquet`]],
        );
      }
      t.match(res.errors[0]!.message, /SlowDown \(HTTP 503\)/);
      t.notMatch(res.errors[0]!.message, /\n|\bat .*\.js:\d+/);
    });
  }
});
