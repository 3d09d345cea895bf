/** The s3 destination against a real S3 HTTP API (s3rver on loopback), read back independently. */
import { withEngineKeys } from '../lib/config/engine-keys.js';
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as A from 'apache-arrow';
import { parse as parseCsv } from 'csv-parse/sync';
import { runDestinationSuite } from './conformance/destination.js';
import { duckdb, tmpDir, config, destSpec, staticSource, itemsBatch, ITEMS, inserts } from './helpers/index.js';
import { createBucket, failNext, getObject, listObjects, s3Server, s3Spec } from './helpers/s3.js';
import { s3Destination, DEFAULT_S3_PATH, type S3DestinationSpec, type WrittenObject } from '../connectors/s3/destination.js';
import { PART_SIZE } from '../connectors/s3/sink.js';
import { rowObjects } from '../connectors/memory.js';
import { generateBatch, testTableSchemas } from '../connectors/test-source.js';
import { batchToJsonObjects } from '../lib/arrow-json.js';
import { createLogger } from '../lib/logger.js';
import { runSync } from '../lib/pipeline.js';
import { withTableName } from '../lib/schema.js';
import { extensionOf } from '../lib/types.js';
import type { ConnectorContext, DestinationClient } from '../lib/connector.js';
import type { CqPipeError } from '../lib/errors.js';
import { exitCodeOf, exitCodeOfSync } from '../bin/exit-codes.js';

type Format = 'parquet' | 'ndjson' | 'csv' | 'arrow';
const FORMATS: Format[] = ['parquet', 'ndjson', 'csv', 'arrow'];
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}';
const SYNC_TIME = new Date(Date.UTC(2024, 2, 5, 7, 9, 30));

function ctx(over: Partial<ConnectorContext> = {}): ConnectorContext {
  return {
    name: 'lake',
    logger: createLogger({ level: 'error', write: () => {} }),
    baseDir: '/nonexistent',
    invocationId: 'inv-7',
    syncTime: SYNC_TIME,
    ...over,
  };
}

type S3Client = DestinationClient & { objectsWritten: WrittenObject[] };

async function client(bucket: string, spec: Record<string, unknown> = {}, over: Partial<ConnectorContext> = {}): Promise<S3Client> {
  return (await s3Destination.create({ ...(await s3Spec(bucket)), ...spec } as unknown as S3DestinationSpec, ctx(over))) as S3Client;
}

const allTypesSpec = (rows: number) => ({ num_tables: 1, num_rows: rows, seed: 42, batch_rows: rows, preset: 'all-types' as const, incremental: false });
function allTypesBatch(rows = 30): A.RecordBatch {
  const spec = allTypesSpec(rows);
  const [schema] = testTableSchemas(spec);
  return generateBatch(spec, schema!, 0, 0, rows);
}

function csvRows(text: string): Record<string, unknown>[] {
  return parseCsv(text, { columns: true, cast: (v: string, c: { quoting: boolean }) => (v === '' && !c.quoting ? null : v) }) as Record<string, unknown>[];
}

/** every row of every object under `prefix`, parsed by format (parquet: DuckDB on downloaded copies) */
async function readObjects(t: Parameters<typeof tmpDir>[0], bucket: string, prefix: string, format: Format): Promise<Record<string, unknown>[]> {
  const objects = await listObjects(bucket, prefix);
  if (!objects.length) return [];
  if (format === 'parquet') {
    const dir = await tmpDir(t);
    for (const [i, o] of objects.entries()) await writeFile(path.join(dir, `${i}.parquet`), await getObject(bucket, o.key));
    return duckdb(`SELECT * FROM read_parquet('${dir}/*.parquet')`);
  }
  const rows: Record<string, unknown>[] = [];
  for (const o of objects) {
    const raw = await getObject(bucket, o.key);
    const bytes = o.key.endsWith('.gz') ? gunzipSync(raw) : raw;
    if (format === 'ndjson')
      rows.push(
        ...bytes
          .toString('utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      );
    else if (format === 'csv') rows.push(...csvRows(bytes.toString('utf8')));
    else for (const b of A.tableFromIPC(bytes).batches) rows.push(...rowObjects(b));
  }
  return rows;
}

t.test('conformance', async (t) => {
  for (const [format, compression] of [
    ['parquet', 'none'],
    ['ndjson', 'gzip'],
    ['csv', 'none'],
    ['arrow', 'none'],
  ] as const) {
    t.test(`${format}${compression === 'gzip' ? '.gz' : ''}`, async (t) => {
      runDestinationSuite(t, {
        path: 's3',
        spec: async () => ({ ...(await s3Spec(await createBucket('conf'))), path: 'raw/{{TABLE}}/{{UUID}}.{{FORMAT}}', format, compression }),
        read: async (spec, _dest, table) => readObjects(t, spec.bucket as string, `raw/${table}/`, format),
        supports: { upsert: false, deleteStale: false, deleteRecord: false },
        defaultWriteMode: 'append',
      });
    });
  }
});

t.test('connector descriptor: append only, batch defaults, strict schema', async (t) => {
  t.same(s3Destination.capabilities.writeModes, ['append']);
  t.same(s3Destination.capabilities.batch, { rows: 10000, bytes: 50 * 1024 * 1024, timeoutMs: 30000 });
  t.notOk(
    Object.keys((s3Destination.configSchema as { properties: object }).properties).some((k) => k.startsWith('batch_')),
    "batch keys are the engine's",
  );
  const schema = withEngineKeys(s3Destination.configSchema) as {
    additionalProperties: boolean;
    required: string[];
    properties: Record<string, { default?: unknown; enum?: unknown[] }>;
  };
  t.equal(schema.additionalProperties, false);
  t.same(schema.required, ['bucket']);
  // cq-pipe's keys and CloudQuery's (its s3 destination's spec/schema.json; docs/s3.md)
  t.same(Object.keys(schema.properties).sort(), [
    'access_key_id',
    'acl',
    'athena',
    'aws_debug',
    'batch_size',
    'batch_size_bytes',
    'batch_timeout',
    'bucket',
    'compression',
    'content_type',
    'credentials',
    'endpoint',
    'endpoint_skip_tls_verify',
    'format',
    'format_spec',
    'local_profile',
    'max_attempts',
    'max_backoff',
    'max_retries',
    'no_rotate',
    'part_size',
    'path',
    'region',
    'secret_access_key',
    'server_side_encryption_configuration',
    'session_token',
    'test_write',
    'use_path_style',
    'write_empty_objects_for_empty_tables',
  ]);
  t.equal(schema.properties.path!.default, DEFAULT_S3_PATH);
  t.equal(schema.properties.region!.default, 'us-east-1');
  t.equal(schema.properties.format!.default, 'parquet');
  t.same(schema.properties.format!.enum, ['parquet', 'ndjson', 'csv', 'arrow', 'json']);
});

t.test('validate: config problems at load, by key', async (t) => {
  const problems = (spec: Record<string, unknown>) => s3Destination.validate!({ bucket: 'lake', ...spec }).map((p) => `${p.keyPath.join('.')}: ${p.message}`);
  t.same(problems({}), []);
  t.same(problems({ path: 'raw/{{TABLE}}/{{UUID}}.{{FORMAT}}', format: 'ndjson', compression: 'gzip' }), []);
  t.match(problems({ path: 'raw/{{TABLE}}/{{UUID}}.{{FROMAT}}' }), [/^path: unknown placeholder \{\{FROMAT\}\}/]);
  t.match(problems({ path: 'raw/{{TABLE}}.{{FORMAT}}' }), [/^path: .*has no \{\{UUID\}\}/]);
  t.same(problems({ path: 'raw/{{TABLE}}.{{FORMAT}}', no_rotate: true }), []);
  t.match(problems({ path: '/raw/{{UUID}}.parquet' }), [/^path: .*not start with "\/"/]);
  t.match(problems({ path: 's3://lake/{{UUID}}.parquet' }), [/^path: .*not a URL/]);
  t.match(problems({ format: 'parquet', compression: 'gzip' }), [/^compression: compression gzip is not available for format parquet/]);
  t.match(problems({ access_key_id: 'AK' }), [/^secret_access_key: secret_access_key is missing/]);
  t.match(problems({ bucket: 's3://lake/raw' }), [/^bucket: .*not a URL or path/]);
  t.match(problems({ bucket: 'Lake_Data' }), [/^bucket: "Lake_Data" is not a valid bucket name/]);
  const err = await Promise.resolve()
    .then(() => s3Destination.create({ bucket: 'lake', path: 'x/{{TABLE}}.{{FORMAT}}' }, ctx()))
    .then(
      () => undefined,
      (e: CqPipeError) => e,
    );
  t.equal(err?.code, 'CQ_ERR_CONFIG_INVALID');
  t.equal(exitCodeOf(err), 2);
  t.equal(err?.context.keyPath, 'spec.path');
});

t.test('round trip of every column type, per format', async (t) => {
  const batch = allTypesBatch(30);
  const schema = batch.schema;
  const expectedJson = batchToJsonObjects(batch);
  const source = rowObjects(batch);

  t.test('arrow: lossless, extension metadata kept', async (t) => {
    const bucket = await createBucket();
    const c = await client(bucket, { path: 'a/{{TABLE}}/{{UUID}}.{{FORMAT}}', format: 'arrow' });
    await c.writeBatch(schema, [batch.slice(0, 10), batch.slice(10, 30)]);
    await c.close();
    const objects = await listObjects(bucket);
    t.equal(objects.length, 1);
    t.match(objects[0]!.key, new RegExp(`^a/test_table_0/${UUID}\\.arrow$`));
    const table = A.tableFromIPC(await getObject(bucket, objects[0]!.key));
    t.equal(table.numRows, 30);
    t.equal(table.schema.metadata.get('cq:table_name'), 'test_table_0');
    t.equal(extensionOf(table.schema.fields.find((f) => f.name === 'uuid_col')!), 'uuid');
    t.same(
      table.schema.fields.map((f) => String(f.type)),
      schema.fields.map((f) => String(f.type)),
    );
    t.same(
      table.batches.flatMap((b) => rowObjects(b)),
      source,
    );
    t.same(
      c.objectsWritten.map((o) => [o.key, o.rows, o.parts]),
      [[objects[0]!.key, 30, 1]],
    );
  });

  t.test('parquet (the default): DuckDB reads the right types and values', async (t) => {
    const bucket = await createBucket();
    const c = await client(bucket);
    await c.writeBatch(schema, [batch]);
    await c.close();
    const objects = await listObjects(bucket);
    t.equal(objects.length, 1);
    t.match(objects[0]!.key, new RegExp(`^test_table_0/${UUID}\\.parquet$`), 'default path {{TABLE}}/{{UUID}}.{{FORMAT}}');
    const dir = await tmpDir(t);
    const file = path.join(dir, 'copy.parquet');
    await writeFile(file, await getObject(bucket, objects[0]!.key));
    const types = Object.fromEntries((await duckdb(`DESCRIBE SELECT * FROM read_parquet('${file}')`)).map((r) => [r.column_name, r.column_type]));
    t.same(
      [types.id, types.decimal_col, types.timestamp_col, types.date32_col, types.uuid_col, types.list_col, types.struct_col, types.uint64_col],
      ['BIGINT', 'DECIMAL(12,3)', 'TIMESTAMP WITH TIME ZONE', 'DATE', 'VARCHAR', 'BIGINT[]', 'STRUCT(a BIGINT, b VARCHAR)', 'UBIGINT'],
    );
    const [row] = await duckdb(`SELECT count(*) AS n, sum(int64_col)::VARCHAR AS s, count(utf8_col) AS nn,
      max(CASE WHEN id = 1 THEN decimal_col::VARCHAR END) AS d,
      max(CASE WHEN id = 1 THEN strftime(timestamp_col AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%f') END) AS ts,
      max(CASE WHEN id = 1 THEN uuid_col END) AS u, max(CASE WHEN id = 1 THEN uint64_col::VARCHAR END) AS u64
      FROM read_parquet('${file}')`);
    t.equal(Number(row!.n), 30);
    t.equal(row!.s, String(source.reduce((s, r) => s + (r.int64_col === null ? 0n : (r.int64_col as bigint)), 0n)));
    t.equal(Number(row!.nn), 26, 'rows 6, 13, 20, 27 are null');
    t.equal(row!.d, '-1.006');
    t.equal(row!.ts, '2024-01-01T00:00:01.000000');
    t.equal(row!.u, expectedJson[1]!.uuid_col);
    t.equal(row!.u64, '18000000000000000001');
  });

  t.test('ndjson: one object per line, same rendering as the file destination', async (t) => {
    const bucket = await createBucket();
    const c = await client(bucket, { format: 'ndjson' });
    await c.writeBatch(schema, [batch]);
    await c.close();
    const objects = await listObjects(bucket);
    t.equal(objects.length, 1);
    t.ok(objects[0]!.key.endsWith('.ndjson'));
    const lines = (await getObject(bucket, objects[0]!.key)).toString('utf8').split('\n');
    t.equal(lines.length, 31, '30 lines and a final newline');
    t.same(
      lines.slice(0, 30).map((l) => JSON.parse(l) as unknown),
      expectedJson,
    );
  });

  t.test('csv: header, quoting, nulls', async (t) => {
    const bucket = await createBucket();
    const c = await client(bucket, { format: 'csv' });
    await c.writeBatch(schema, [batch]);
    await c.close();
    const objects = await listObjects(bucket);
    t.equal(objects.length, 1);
    const text = (await getObject(bucket, objects[0]!.key)).toString('utf8');
    t.equal(text.split('\n')[0], schema.fields.map((f) => f.name).join(','));
    const rows = csvRows(text);
    t.equal(rows.length, 30);
    t.equal(rows[0]!.utf8_col, 'alpha 0 ünïcødé "quoted", comma');
    t.equal(rows[1]!.decimal_col, '-1.006');
    t.same(
      Object.entries(rows[6]!)
        .filter(([, v]) => v !== null)
        .map(([k]) => k),
      ['id'],
    );
  });
});

t.test('gzip for ndjson and csv', async (t) => {
  const batch = allTypesBatch(50);
  for (const format of ['ndjson', 'csv'] as const) {
    const bucket = await createBucket();
    const c = await client(bucket, { path: 'out/{{TABLE}}/{{UUID}}.{{FORMAT}}', format, compression: 'gzip' });
    await c.writeBatch(batch.schema, [batch]);
    await c.close();
    const objects = await listObjects(bucket);
    t.equal(objects.length, 1);
    t.ok(objects[0]!.key.endsWith(`.${format}.gz`), `${format}: {{FORMAT}} is ${format}.gz`);
    const raw = await getObject(bucket, objects[0]!.key);
    t.same([raw[0], raw[1]], [0x1f, 0x8b], 'gzip magic');
    const text = gunzipSync(raw).toString('utf8');
    const rows =
      format === 'ndjson'
        ? text
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Record<string, unknown>)
        : csvRows(text);
    t.equal(rows.length, 50);
    t.equal(String(rows[49]!.id), '49');
  }
});

/** rows of `items` with ~1 KB names: n rows ≈ n KB of NDJSON */
function bigItems(n: number, start = 0): A.RecordBatch {
  const pad = 'x'.repeat(1000);
  return itemsBatch(Array.from({ length: n }, (_, i) => ({ id: start + i, name: `${start + i}-${pad}`, value: i })));
}

t.test('an object larger than one part is a multipart upload, streamed part by part', async (t) => {
  const server = await s3Server();
  const bucket = await createBucket('multi');
  const c = await client(bucket, { path: 'big/{{TABLE}}-{{UUID}}.{{FORMAT}}', format: 'ndjson' });
  const before = server.requests.length;
  const rows = 20_000; // ~20.5 MB of NDJSON: parts of 8 MiB, 8 MiB and the rest
  await c.writeBatch(ITEMS, [bigItems(10_000), bigItems(10_000, 10_000)]);
  await c.close();
  const reqs = server.requests.slice(before).filter((r) => r.url.startsWith(`/${bucket}/big/`));
  const uploadParts = reqs.filter((r) => r.method === 'PUT' && /[?&]partNumber=\d+/.test(r.url) && /[?&]uploadId=/.test(r.url));
  const [object] = await listObjects(bucket);
  t.ok(object!.size > 2 * PART_SIZE, `object of ${object!.size} bytes`);
  const parts = Math.ceil(object!.size / PART_SIZE);
  t.equal(parts, 3);
  t.equal(uploadParts.length, parts, 'one UploadPart request per part');
  t.equal(reqs.filter((r) => r.method === 'POST' && /[?&]uploads\b/.test(r.url)).length, 1, 'one CreateMultipartUpload');
  t.equal(reqs.filter((r) => r.method === 'POST' && /[?&]uploadId=/.test(r.url)).length, 1, 'one CompleteMultipartUpload');
  t.equal(reqs.filter((r) => r.method === 'PUT' && !/uploadId=/.test(r.url)).length, 0, 'no single PutObject');
  t.same(
    c.objectsWritten.map((o) => [o.rows, o.parts, o.bytes]),
    [[rows, 3, object!.size]],
  );
  const lines = (await getObject(bucket, object!.key)).toString('utf8').split('\n').filter(Boolean);
  t.equal(lines.length, rows);
  t.same(
    lines.map((l) => (JSON.parse(l) as { id: number }).id),
    Array.from({ length: rows }, (_, i) => i),
    'rows in order across part boundaries',
  );
});

t.test('one object per batch (rotation); nothing visible before the upload completes', async (t) => {
  const bucket = await createBucket();
  const c = await client(bucket, { format: 'csv' });
  for (let k = 0; k < 3; k++) await c.writeBatch(ITEMS, [itemsBatch([{ id: k, name: `n${k}`, value: k }])]);
  await c.writeBatch(ITEMS, [itemsBatch([])]);
  await c.commit!();
  t.equal((await listObjects(bucket)).length, 3, 'commit() waits for every accepted object');
  await c.close();
  const objects = await listObjects(bucket);
  t.equal(objects.length, 3, 'one object per non-empty batch');
  t.ok(objects.every((o) => new RegExp(`^items/${UUID}\\.csv$`).test(o.key)));
  t.same((await readObjects(t, bucket, 'items/', 'csv')).map((r) => Number(r.id)).sort(), [0, 1, 2]);
});

t.test('no_rotate: one streamed object per table, completed at close', async (t) => {
  for (const format of FORMATS) {
    const bucket = await createBucket();
    const c = await client(bucket, { path: 'out/{{TABLE}}.{{FORMAT}}', format, no_rotate: true });
    const other = withTableName(ITEMS, 'other');
    for (let k = 0; k < 4; k++) {
      await c.writeBatch(ITEMS, [itemsBatch(Array.from({ length: 25 }, (_, i) => ({ id: k * 25 + i, name: `n${i}`, value: i })))]);
      await c.writeBatch(other, [itemsBatch([{ id: k, name: 'o', value: null }], other)]);
    }
    t.same(await listObjects(bucket), [], `${format}: no object before close`);
    await c.close();
    t.same(
      (await listObjects(bucket)).map((o) => o.key),
      [`out/items.${format}`, `out/other.${format}`],
    );
    const items = await readObjects(t, bucket, 'out/items.', format);
    t.same(
      items.map((r) => Number(r.id)),
      Array.from({ length: 100 }, (_, i) => i),
      `${format}: 100 rows in write order`,
    );
    t.same(
      (await readObjects(t, bucket, 'out/other.', format)).map((r) => Number(r.id)),
      [0, 1, 2, 3],
    );
  }
});

t.test('path templates: date parts and sync id', async (t) => {
  const bucket = await createBucket();
  const c = await client(
    bucket,
    { path: 'lake/{{SYNC_ID}}/{{YEAR}}/{{MONTH}}/{{DAY}}/{{HOUR}}{{MINUTE}}/{{TABLE}}-{{UUID}}.{{FORMAT}}', format: 'csv', compression: 'gzip' },
    { invocationId: 'run-1' },
  );
  await c.writeBatch(ITEMS, [itemsBatch([{ id: 1, name: 'a', value: 1 }])]);
  await c.close();
  const objects = await listObjects(bucket);
  t.equal(objects.length, 1);
  t.match(objects[0]!.key, new RegExp(`^lake/run-1/2024/03/05/0709/items-${UUID}\\.csv\\.gz$`));
});

t.test('failures leave no object and no open multipart upload', async (t) => {
  t.test('close(err) aborts open no_rotate uploads, small and multipart', async (t) => {
    const server = await s3Server();
    const bucket = await createBucket('abort');
    const c = await client(bucket, { path: '{{TABLE}}.{{FORMAT}}', format: 'ndjson', no_rotate: true });
    const big = withTableName(ITEMS, 'big');
    const before = server.requests.length;
    await c.writeBatch(ITEMS, [itemsBatch([{ id: 1, name: 'a', value: 1 }])]);
    await c.writeBatch(big, [bigItems(10_000)]); // > one part: a multipart upload is open
    await c.close(new Error('boom'));
    const reqs = server.requests.slice(before).filter((r) => r.url.startsWith(`/${bucket}/`));
    t.same(await listObjects(bucket), [], 'no object after close(err)');
    t.equal(reqs.filter((r) => r.method === 'POST' && /[?&]uploads\b/.test(r.url)).length, 1, 'the big table had started a multipart upload');
    t.equal(reqs.filter((r) => r.method === 'DELETE' && /[?&]uploadId=/.test(r.url)).length, 1, 'which was aborted (AbortMultipartUpload)');
    t.equal(reqs.filter((r) => r.method === 'POST' && /[?&]uploadId=/.test(r.url)).length, 0, 'and never completed');
    t.equal(reqs.filter((r) => r.method === 'PUT' && !/uploadId=/.test(r.url)).length, 0, 'the small one was never sent');
    t.same(c.objectsWritten, []);
  });

  t.test('a batch whose columns change inside one object fails with its table and key', async (t) => {
    const bucket = await createBucket();
    const c = await client(bucket, { format: 'arrow' });
    const wide = withTableName(new A.Schema([new A.Field('id', new A.Utf8()), ...ITEMS.fields.slice(1)], ITEMS.metadata), 'items');
    const sb = A.makeBuilder({ type: new A.Utf8() });
    sb.append('x');
    const good = itemsBatch([{ id: 1, name: 'n', value: 1 }]);
    const changed = new A.RecordBatch(
      wide,
      A.makeData({ type: new A.Struct(wide.fields), length: 1, nullCount: 0, children: [sb.finish().flush(), good.data.children[1]!, good.data.children[2]!] }),
    );
    const err = await c.writeBatch(ITEMS, [good, changed]).then(
      () => undefined,
      (e: CqPipeError) => e,
    );
    t.equal(err?.code, 'CQ_ERR_SCHEMA_INCOMPATIBLE');
    t.equal(err?.context.table, 'items');
    t.match(err?.context.file, new RegExp(`^s3://${bucket}/items/${UUID}\\.arrow$`));
    await c.close();
    t.same(await listObjects(bucket), []);
  });
});

t.test('a missing bucket or denied access is a clear error before any data', async (t) => {
  const { endpoint } = await s3Server();
  const missing = `missing-${process.pid}`;
  const c = await client(missing);
  const err = await c.migrateTables([ITEMS], { migrateMode: 'safe' }).then(
    () => undefined,
    (e: CqPipeError) => e,
  );
  t.equal(err?.code, 'CQ_ERR_DEST_WRITE');
  t.equal(err?.context.connector, 'lake');
  t.equal(err?.context.phase, 'connect');
  t.match(err?.message, new RegExp(`bucket s3://${missing} at ${endpoint} does not exist`));
  t.match(err?.message, /HTTP 404/);
  t.same(await c.migrateTables([ITEMS], { migrateMode: 'safe', plan: true }), [], '--plan does not need the bucket');
  const w = await c.writeBatch(ITEMS, [itemsBatch([{ id: 1, name: 'a', value: 1 }])]).then(
    () => undefined,
    (e: CqPipeError) => e,
  );
  t.equal(w?.code, 'CQ_ERR_DEST_WRITE', 'writes fail the same way (--no-migrate)');
  await c.close(new Error('x'));

  const bucket = await createBucket();
  const denied = await client(bucket, { access_key_id: 'WRONG', secret_access_key: 'WRONG' });
  const err2 = await denied.migrateTables([ITEMS], { migrateMode: 'safe' }).then(
    () => undefined,
    (e: CqPipeError) => e,
  );
  t.equal(err2?.code, 'CQ_ERR_DEST_WRITE');
  t.match(err2?.message, /access to bucket .* is denied .*HTTP 403/);
  await denied.close();

  // through the engine: the sync fails at migration, exit 1, the error names the bucket
  const { spec: src } = staticSource([ITEMS], inserts('items', itemsBatch([{ id: 1, name: 'a', value: 1 }])));
  const res = await runSync({ config: config([src], [destSpec({ path: 's3', write_mode: 'append', spec: { ...(await s3Spec(missing)) } })]) });
  t.equal(exitCodeOfSync(res), 1);
  t.match(
    res.errors.map((e) => `${e.code} ${e.message}`),
    [/^CQ_ERR_DEST_WRITE bucket s3:\/\/missing-\d+ .* does not exist/],
  );
});

t.test('a whole sync: test source to parquet objects, read by DuckDB', async (t) => {
  const bucket = await createBucket('sync');
  const res = await runSync({
    config: config(
      [(await import('./helpers/index.js')).sourceSpec({ path: 'test', spec: { num_tables: 2, num_rows: 2500, batch_rows: 500 } })],
      [destSpec({ path: 's3', write_mode: 'append', spec: { ...(await s3Spec(bucket)), path: 'raw/{{TABLE}}/{{UUID}}.{{FORMAT}}', batch_size: 1000 } })],
    ),
  });
  t.equal(exitCodeOfSync(res), 0);
  t.equal(res.resources, 5000);
  for (const table of ['test_table_0', 'test_table_1']) {
    const objects = await listObjects(bucket, `raw/${table}/`);
    t.equal(objects.length, 3, `${table}: 1000 + 1000 + 500 rows`);
    const rows = await readObjects(t, bucket, `raw/${table}/`, 'parquet');
    t.equal(rows.length, 2500);
    t.equal(new Set(rows.map((r) => String(r._cq_id))).size, 2500);
    t.equal(new Set(rows.map((r) => String(r._cq_sync_time))).size, 1);
  }
});

t.test('throttling and 5xx answers are retried with backoff; a persistent failure fails the batch cleanly', async (t) => {
  const server = await s3Server();
  const bucket = await createBucket('retry');
  const isPut = (prefix: string) => (method: string, url: string) => method === 'PUT' && url.startsWith(`/${bucket}/${prefix}`) && !url.includes('uploadId=');
  const isPart = (n: number) => (method: string, url: string) =>
    method === 'PUT' && url.startsWith(`/${bucket}/`) && new RegExp(`[?&]partNumber=${n}(&|$)`).test(url);
  failNext(isPut('small/'), 503, 'SlowDown');
  failNext(isPut('small/'), 500, 'InternalError');
  failNext(isPart(2), 503, 'SlowDown');
  const before = server.requests.length;
  const c = await client(bucket, { path: '{{TABLE}}/{{UUID}}.{{FORMAT}}', format: 'ndjson' });
  await c.writeBatch(withTableName(ITEMS, 'small'), [itemsBatch([{ id: 1, name: 'a', value: 1 }])]);
  await c.writeBatch(withTableName(ITEMS, 'big'), [bigItems(10_000)]);
  await c.close();
  const reqs = server.requests.slice(before);
  t.equal(reqs.filter((r) => isPut('small/')(r.method, r.url)).length, 3, 'PutObject: 503, 500, then 200');
  t.equal(reqs.filter((r) => isPart(2)(r.method, r.url)).length, 2, 'UploadPart 2: 503, then 200');
  t.same(
    (await listObjects(bucket)).map((o) => o.key.split('/')[0]),
    ['big', 'small'],
  );
  t.equal((await readObjects(t, bucket, 'big/', 'ndjson')).length, 10_000, 'the multipart object is whole');
  t.same(
    (await readObjects(t, bucket, 'small/', 'ndjson')).map((r) => r.id),
    [1],
  );

  // max_attempts: 2 and three failures in a row: the batch fails naming the object, nothing is left
  const b2 = await createBucket('retry');
  for (let k = 0; k < 3; k++) failNext((m, u) => m === 'PUT' && u.startsWith(`/${b2}/`), 503, 'SlowDown');
  const c2 = await client(b2, { format: 'csv', max_attempts: 2 });
  const err = await c2
    .writeBatch(ITEMS, [itemsBatch([{ id: 1, name: 'a', value: 1 }])])
    .then(() => c2.commit!())
    .then(
      () => undefined,
      (e: CqPipeError) => e,
    );
  t.equal(err?.code, 'CQ_ERR_DEST_WRITE');
  t.equal(err?.context.table, 'items');
  t.match(err?.context.file, new RegExp(`^s3://${b2}/items/${UUID}\\.csv$`));
  t.match(err?.message, /SlowDown \(HTTP 503\)/);
  await c2.close(err);
  t.same(await listObjects(b2), []);
});
