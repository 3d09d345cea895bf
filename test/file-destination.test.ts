import { withEngineKeys } from '../lib/config/engine-keys.js';
import t from 'tap';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as A from 'apache-arrow';
import * as pw from 'parquet-wasm';
import { parse as parseCsv } from 'csv-parse/sync';
import { runDestinationSuite } from './conformance/destination.js';
import { duckdb, tmpDir, config, destSpec, sourceSpec, staticSource, itemsBatch, ITEMS, inserts } from './helpers/index.js';
import { fileDestination, DEFAULT_FILE_PATH } from '../connectors/file/destination.js';
import { rowObjects } from '../connectors/memory.js';
import { generateBatch, testTableSchemas } from '../connectors/test-source.js';
import { ROW_GROUP_ROWS, rowGroupRows } from '../connectors/file/writers/parquet.js';
import { batchToJsonObjects } from '../lib/arrow-json.js';
import { uuidToString } from '../lib/arrow/index.js';
import { createLogger } from '../lib/logger.js';
import { runSync } from '../lib/pipeline.js';
import { defineTable, withTableName } from '../lib/schema.js';
import { extensionOf } from '../lib/types.js';
import type { ConnectorContext, DestinationClient } from '../lib/connector.js';
import type { CqPipeError } from '../lib/errors.js';
import { exitCodeOf, exitCodeOfSync } from '../bin/exit-codes.js';

type Format = 'parquet' | 'ndjson' | 'csv' | 'arrow';
const FORMATS: Format[] = ['parquet', 'ndjson', 'csv', 'arrow'];
const UUID_FILE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\./;
const SYNC_TIME = new Date(Date.UTC(2024, 2, 5, 7, 9, 30));

function ctx(baseDir: string, over: Partial<ConnectorContext> = {}): ConnectorContext {
  return { name: 'files', logger: createLogger({ level: 'error', write: () => {} }), baseDir, invocationId: 'inv-7', syncTime: SYNC_TIME, ...over };
}

async function client(spec: Record<string, unknown>, baseDir: string): Promise<DestinationClient> {
  return fileDestination.create(spec, ctx(baseDir));
}

/** every file under dir (relative paths, sorted) */
async function listFiles(dir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(dir, { recursive: true });
  } catch {
    return [];
  }
  const files: string[] = [];
  for (const e of entries) {
    const st = await import('node:fs/promises').then((fs) => fs.stat(path.join(dir, e)));
    if (st.isFile()) files.push(e);
  }
  return files.sort();
}

const allTypesSpec = (rows: number) => ({ num_tables: 1, num_rows: rows, seed: 42, batch_rows: rows, preset: 'all-types' as const, incremental: false });
function allTypesBatch(rows = 30): A.RecordBatch {
  const spec = allTypesSpec(rows);
  const [schema] = testTableSchemas(spec);
  return generateBatch(spec, schema!, 0, 0, rows);
}

async function fileBytes(file: string): Promise<Buffer> {
  const raw = await readFile(file);
  return file.endsWith('.gz') ? gunzipSync(raw) : raw;
}

function readParquetTable(bytes: Uint8Array): A.Table {
  return A.tableFromIPC(pw.readParquet(bytes).intoIPCStream());
}

function csvRows(text: string): Record<string, unknown>[] {
  return parseCsv(text, { columns: true, cast: (v: string, c: { quoting: boolean }) => (v === '' && !c.quoting ? null : v) }) as Record<string, unknown>[];
}

/** rows of every file of one table, as plain values, by format */
async function readTable(dir: string, table: string, format: Format): Promise<Record<string, unknown>[]> {
  const tdir = path.join(dir, table);
  const files = (await listFiles(tdir)).map((f) => path.join(tdir, f));
  if (files.some((f) => f.includes('.tmp-'))) throw new Error(`temp file left in ${tdir}`);
  if (!files.length) return [];
  if (format === 'parquet') return duckdb(`SELECT * FROM read_parquet('${tdir}/*.parquet')`);
  const rows: Record<string, unknown>[] = [];
  for (const f of files) {
    const bytes = await fileBytes(f);
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
        path: 'file',
        spec: async (tt) => ({ path: path.join(await tmpDir(tt), '{{TABLE}}/{{UUID}}.{{FORMAT}}'), format, compression }),
        read: async (spec, _dest, table) => readTable(path.dirname(path.dirname(spec.path as string)), table, format),
        supports: { upsert: false, deleteStale: false, deleteRecord: false },
        defaultWriteMode: 'append',
      });
    });
  }
});

t.test('connector descriptor: append only, batch defaults, strict schema', async (t) => {
  t.same(fileDestination.capabilities.writeModes, ['append']);
  t.same(fileDestination.capabilities.batch, { rows: 10000, bytes: 50 * 1024 * 1024, timeoutMs: 30000 });
  // the connector declares its own keys; the engine adds the batch keys at load
  t.notOk(Object.keys((fileDestination.configSchema as { properties: object }).properties).some((k) => k.startsWith('batch_')));
  const schema = withEngineKeys(fileDestination.configSchema) as {
    additionalProperties: boolean;
    properties: Record<string, { default?: unknown; enum?: unknown[] }>;
  };
  t.equal(schema.additionalProperties, false);
  t.same(Object.keys(schema.properties).sort(), [
    'batch_size',
    'batch_size_bytes',
    'batch_timeout',
    'compression',
    'format',
    'format_spec',
    'no_rotate',
    'path',
  ]);
  t.equal(schema.properties.path!.default, DEFAULT_FILE_PATH);
  // CloudQuery's json (JSON lines) and "" (no compression) as well
  t.same(schema.properties.format!.enum, ['parquet', 'ndjson', 'csv', 'arrow', 'json']);
  t.same(schema.properties.compression!.enum, ['none', 'gzip', '']);
  const dir = await tmpDir(t);
  t.same(await (await client({}, dir)).migrateTables([ITEMS], { migrateMode: 'safe' }), [], 'no DDL');
  t.same(await listFiles(dir), [], 'migrate creates nothing');
});

t.test('config errors at create()', async (t) => {
  const dir = await tmpDir(t);
  const err = async (spec: Record<string, unknown>) => {
    try {
      await client(spec, dir);
    } catch (e) {
      return e as CqPipeError;
    }
    throw new Error('expected a config error');
  };
  const unknown = await err({ path: 'out/{{TABLE}}/{{UUID}}.{{FROMAT}}' });
  t.equal(unknown.code, 'CQ_ERR_CONFIG_INVALID');
  t.equal(exitCodeOf(unknown), 2);
  t.match(unknown.message, /\{\{FROMAT\}\}/);
  t.match(unknown.hint, /did you mean \{\{FORMAT\}\}/);
  t.same([unknown.context.connector, unknown.context.keyPath], ['files', 'spec.path']);

  const noUuid = await err({ path: 'out/{{TABLE}}.{{FORMAT}}' });
  t.equal(noUuid.code, 'CQ_ERR_CONFIG_INVALID');
  t.match(noUuid.message, /\{\{UUID\}\}/);
  t.match(noUuid.hint, /no_rotate/);
  await t.resolves(client({ path: 'out/{{TABLE}}.{{FORMAT}}', no_rotate: true }, dir), 'no {{UUID}} is fine with no_rotate');

  for (const format of ['parquet', 'arrow']) {
    const gz = await err({ format, compression: 'gzip' });
    t.equal(gz.code, 'CQ_ERR_CONFIG_INVALID', `gzip + ${format}`);
    t.equal(gz.context.keyPath, 'spec.compression');
    t.match(gz.message, new RegExp(`gzip is not available for format ${format}`));
  }
  t.equal((await err({ format: 'xlsx' })).context.keyPath, 'spec.format');
  t.same(await listFiles(dir), [], 'nothing written');
});

t.test('round trip of every column type', async (t) => {
  const batch = allTypesBatch(30);
  const schema = batch.schema;
  const expectedJson = batchToJsonObjects(batch);
  const source = rowObjects(batch);

  t.test('arrow: lossless, extension metadata kept', async (t) => {
    const dir = await tmpDir(t);
    const c = await client({ path: '{{TABLE}}/{{UUID}}.{{FORMAT}}', format: 'arrow' }, dir);
    await c.writeBatch(schema, [batch.slice(0, 10), batch.slice(10, 30)]);
    await c.close();
    const files = await listFiles(dir);
    t.equal(files.length, 1);
    t.match(path.basename(files[0]!), UUID_FILE);
    t.ok(files[0]!.endsWith('.arrow'));
    const table = A.tableFromIPC(await readFile(path.join(dir, files[0]!)));
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
  });

  t.test('parquet: DuckDB reads the right types and values', async (t) => {
    const dir = await tmpDir(t);
    const c = await client({ path: '{{TABLE}}/{{UUID}}.{{FORMAT}}' }, dir);
    await c.writeBatch(schema, [batch]);
    await c.close();
    const files = await listFiles(dir);
    t.equal(files.length, 1);
    t.ok(files[0]!.endsWith('.parquet'), 'parquet is the default format');
    const file = path.join(dir, files[0]!);
    const types = Object.fromEntries((await duckdb(`DESCRIBE SELECT * FROM read_parquet('${file}')`)).map((r) => [r.column_name, r.column_type]));
    t.same(types, {
      id: 'BIGINT',
      bool_col: 'BOOLEAN',
      int8_col: 'TINYINT',
      int16_col: 'SMALLINT',
      int32_col: 'INTEGER',
      int64_col: 'BIGINT',
      uint8_col: 'UTINYINT',
      uint16_col: 'USMALLINT',
      uint32_col: 'UINTEGER',
      uint64_col: 'UBIGINT',
      float32_col: 'FLOAT',
      float64_col: 'DOUBLE',
      decimal_col: 'DECIMAL(12,3)',
      utf8_col: 'VARCHAR',
      large_utf8_col: 'VARCHAR',
      binary_col: 'BLOB',
      date32_col: 'DATE',
      time64_col: 'TIME',
      timestamp_col: 'TIMESTAMP WITH TIME ZONE',
      uuid_col: 'VARCHAR',
      json_col: 'VARCHAR',
      inet_col: 'VARCHAR',
      list_col: 'BIGINT[]',
      struct_col: 'STRUCT(a BIGINT, b VARCHAR)',
    });
    const [row] = await duckdb(`SELECT count(*) AS n, sum(int64_col)::VARCHAR AS s, count(utf8_col) AS nn,
      max(CASE WHEN id = 1 THEN decimal_col::VARCHAR END) AS d,
      max(CASE WHEN id = 1 THEN strftime(timestamp_col AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%f') END) AS ts,
      max(CASE WHEN id = 1 THEN date32_col::VARCHAR END) AS dt, max(CASE WHEN id = 1 THEN uuid_col END) AS u,
      max(CASE WHEN id = 1 THEN json_extract(json_col, '$.nested.ok')::VARCHAR END) AS j, max(CASE WHEN id = 1 THEN list_col[3] END) AS l,
      max(CASE WHEN id = 1 THEN struct_col.b END) AS sb, max(CASE WHEN id = 1 THEN uint64_col::VARCHAR END) AS u64
      FROM read_parquet('${file}')`);
    t.equal(Number(row!.n), 30);
    const int64Sum = source.reduce((s, r) => s + (r.int64_col === null ? 0n : (r.int64_col as bigint)), 0n);
    t.equal(row!.s, String(int64Sum));
    t.equal(Number(row!.nn), 30 - 4, 'rows 6, 13, 20, 27 are null');
    t.equal(row!.d, '-1.006');
    t.equal(row!.ts, '2024-01-01T00:00:01.000000');
    t.equal(row!.dt, '2024-01-02');
    t.equal(row!.u, expectedJson[1]!.uuid_col);
    t.equal(row!.j, 'false');
    t.equal(Number(row!.l), -1);
    t.equal(row!.sb, 's1');
    t.equal(row!.u64, '18000000000000000001');

    // and through parquet-wasm back to Arrow: types survive, uuids as canonical strings, metadata kept
    const back = readParquetTable(await readFile(file));
    const f = (n: string) => back.schema.fields.find((x) => x.name === n)!;
    t.equal(String(f('timestamp_col').type), 'Timestamp<MICROSECOND, UTC>');
    t.same([(f('decimal_col').type as A.Decimal).precision, (f('decimal_col').type as A.Decimal).scale], [12, 3]);
    t.equal(String(f('uuid_col').type), 'Utf8');
    t.equal(f('uuid_col').metadata.get('ARROW:extension:name'), 'uuid', 'field metadata kept');
    t.equal(back.schema.metadata.get('cq:table_name'), 'test_table_0');
    const uuids = back.getChild('uuid_col')!.toArray() as (string | null)[];
    t.same(
      uuids,
      source.map((r) => r.uuid_col),
    );
    t.same(
      Array.from({ length: 30 }, (_, i) => back.getChild('json_col')!.get(i)),
      source.map((r) => (r.json_col === null ? null : JSON.stringify(r.json_col))),
    );
  });

  t.test('ndjson: one object per line, value rendering', async (t) => {
    const dir = await tmpDir(t);
    const c = await client({ path: '{{TABLE}}/{{UUID}}.{{FORMAT}}', format: 'ndjson' }, dir);
    await c.writeBatch(schema, [batch]);
    await c.close();
    const files = await listFiles(dir);
    t.equal(files.length, 1);
    t.ok(files[0]!.endsWith('.ndjson'));
    const text = await readFile(path.join(dir, files[0]!), 'utf8');
    const lines = text.split('\n');
    t.equal(lines.length, 31, '30 lines and a final newline');
    t.equal(lines[30], '');
    const rows = lines.slice(0, 30).map((l) => JSON.parse(l) as Record<string, unknown>);
    t.same(rows, expectedJson);
    t.same(rows[1], {
      id: 1,
      bool_col: false,
      int8_col: -1,
      int16_col: -1,
      int32_col: -1,
      int64_col: -1000000007,
      uint8_col: 1,
      uint16_col: 1,
      uint32_col: 1,
      uint64_col: '18000000000000000001',
      float32_col: -0.5,
      float64_col: source[1]!.float64_col,
      decimal_col: '-1.006',
      utf8_col: 'bravo 1',
      large_utf8_col: 'large 1',
      binary_col: 'AQAA/w==',
      date32_col: '2024-01-02',
      time64_col: '00:00:01.123456',
      timestamp_col: '2024-01-01T00:00:01.000000Z',
      uuid_col: uuidToString(batch.getChild('uuid_col')!.get(1) as Uint8Array),
      json_col: { row: 1, tags: ['a', 'b'], nested: { ok: false } },
      inet_col: '10.0.0.1',
      list_col: [1, 2, -1],
      struct_col: { a: 1, b: 's1' },
    });
    t.same(
      Object.entries(rows[6]!)
        .filter(([, v]) => v !== null)
        .map(([k]) => k),
      ['id'],
      'a null row has only its key',
    );
    const [n] = await duckdb(`SELECT count(*) AS n, count(json_col) AS j FROM read_json_auto('${path.join(dir, files[0]!)}', format = 'newline_delimited')`);
    t.same([Number(n!.n), Number(n!.j)], [30, 26], 'DuckDB reads it');
  });

  t.test('csv: header, quoting, nulls', async (t) => {
    const dir = await tmpDir(t);
    const c = await client({ path: '{{TABLE}}/{{UUID}}.{{FORMAT}}', format: 'csv' }, dir);
    await c.writeBatch(schema, [batch]);
    await c.close();
    const files = await listFiles(dir);
    t.equal(files.length, 1);
    t.ok(files[0]!.endsWith('.csv'));
    const text = await readFile(path.join(dir, files[0]!), 'utf8');
    t.equal(text.split('\n')[0], schema.fields.map((f) => f.name).join(','));
    const rows = csvRows(text);
    t.equal(rows.length, 30);
    t.equal(rows[0]!.utf8_col, 'alpha 0 ünïcødé "quoted", comma');
    t.equal(rows[1]!.decimal_col, '-1.006');
    t.equal(rows[1]!.timestamp_col, '2024-01-01T00:00:01.000000Z');
    t.equal(rows[1]!.json_col, '{"row":1,"tags":["a","b"],"nested":{"ok":false}}');
    t.equal(rows[1]!.list_col, '[1,2,-1]');
    t.equal(rows[1]!.uint64_col, '18000000000000000001');
    t.same(
      Object.entries(rows[6]!)
        .filter(([, v]) => v !== null)
        .map(([k]) => k),
      ['id'],
    );
    const [n] = await duckdb(`SELECT count(*) AS n, count(utf8_col) AS s FROM read_csv('${path.join(dir, files[0]!)}', header = true)`);
    t.same([Number(n!.n), Number(n!.s)], [30, 26], 'DuckDB reads it');
  });
});

t.test('gzip for ndjson and csv', async (t) => {
  const batch = allTypesBatch(50);
  for (const format of ['ndjson', 'csv'] as const) {
    const dir = await tmpDir(t);
    const c = await client({ path: 'out/{{TABLE}}/{{UUID}}.{{FORMAT}}', format, compression: 'gzip' }, dir);
    await c.writeBatch(batch.schema, [batch]);
    await c.close();
    const files = await listFiles(dir);
    t.equal(files.length, 1);
    t.ok(files[0]!.endsWith(`.${format}.gz`), `${format}: {{FORMAT}} is ${format}.gz`);
    const raw = await readFile(path.join(dir, files[0]!));
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
    const reader = format === 'ndjson' ? `read_json_auto('${path.join(dir, files[0]!)}')` : `read_csv('${path.join(dir, files[0]!)}', header = true)`;
    t.equal(Number((await duckdb(`SELECT count(*) AS n FROM ${reader}`))[0]!.n), 50, `DuckDB reads ${format}.gz`);
  }
});

t.test('one file per batch (rotation), unique names', async (t) => {
  const dir = await tmpDir(t);
  const c = await client({ format: 'ndjson' }, dir);
  for (let k = 0; k < 3; k++) await c.writeBatch(ITEMS, [itemsBatch([{ id: k, name: `n${k}`, value: k }])]);
  await c.writeBatch(ITEMS, [itemsBatch([])]);
  await c.commit!();
  const committed = await listFiles(dir);
  t.equal(committed.length, 3, 'commit() waits until every accepted file is published');
  t.notOk(
    committed.some((f) => f.includes('.tmp-')),
    'no temp file after commit',
  );
  await c.close();
  const files = await listFiles(dir);
  t.equal(files.length, 3, 'one file per non-empty batch');
  t.ok(
    files.every((f) => f.startsWith('cq-output/items/') && UUID_FILE.test(path.basename(f)) && f.endsWith('.ndjson')),
    'default path ./cq-output/{{TABLE}}/{{UUID}}.{{FORMAT}} under baseDir',
  );
  t.equal(new Set(files).size, 3);
});

t.test('no_rotate: one streamed file per table, published at close', async (t) => {
  for (const format of FORMATS) {
    t.test(format, async (t) => {
      const dir = await tmpDir(t);
      const c = await client({ path: 'out/{{TABLE}}.{{FORMAT}}', format, no_rotate: true }, dir);
      const other = withTableName(ITEMS, 'other');
      for (let k = 0; k < 4; k++) {
        await c.writeBatch(ITEMS, [itemsBatch(Array.from({ length: 25 }, (_, i) => ({ id: k * 25 + i, name: `n${i}`, value: i })))]);
        await c.writeBatch(other, [itemsBatch([{ id: k, name: 'o', value: null }], other)]);
      }
      const before = await listFiles(dir);
      t.equal(before.length, 2, 'two open files');
      t.ok(
        before.every((f) => /\.tmp-[0-9a-f]+$/.test(f)),
        'still temp files before close',
      );
      await c.close();
      t.same(await listFiles(dir), [`out/items.${format}`, `out/other.${format}`]);
      const read = async (name: string): Promise<Record<string, unknown>[]> => {
        const file = path.join(dir, 'out', `${name}.${format}`);
        if (format === 'parquet') return duckdb(`SELECT * FROM read_parquet('${file}')`);
        const bytes = await readFile(file);
        if (format === 'ndjson')
          return bytes
            .toString()
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Record<string, unknown>);
        if (format === 'csv') return csvRows(bytes.toString());
        return A.tableFromIPC(bytes).batches.flatMap((b) => rowObjects(b));
      };
      const items = await read('items');
      t.equal(items.length, 100);
      t.same(
        items.map((r) => Number(r.id)),
        Array.from({ length: 100 }, (_, i) => i),
        'rows in write order',
      );
      t.same(
        (await read('other')).map((r) => Number(r.id)),
        [0, 1, 2, 3],
      );
    });
  }
});

t.test('no_rotate parquet streams row groups bounded by bytes (bounded memory) across many batches', async (t) => {
  const dir = await tmpDir(t);
  const c = await client({ path: '{{TABLE}}.parquet', no_rotate: true }, dir);
  const spec = { num_tables: 1, num_rows: 150_000, seed: 3, batch_rows: 10_000, preset: 'bench' as const, incremental: false };
  const [schema] = testTableSchemas(spec);
  for (let k = 0; k < 15; k++) await c.writeBatch(schema!, [generateBatch(spec, schema!, 0, k * 10_000, 10_000)]);
  await c.close();
  const file = path.join(dir, 'test_table_0.parquet');
  const [row] = await duckdb(`SELECT count(*) AS n, count(DISTINCT id) AS ids FROM read_parquet('${file}')`);
  t.same([Number(row!.n), Number(row!.ids)], [150_000, 150_000]);
  const [meta] = await duckdb(`SELECT count(DISTINCT row_group_id) AS groups, max(row_group_num_rows) AS maxrows FROM parquet_metadata('${file}')`);
  // the bench rows take 132.06 bytes each in Arrow memory (uuids as text): 4 MiB hold 31,761 of them
  t.equal(Number(meta!.groups), 5, 'row groups of ROW_GROUP_BYTES: 4 × 31761 + 22956');
  t.equal(Number(meta!.maxrows), 31761);
  t.equal(rowGroupRows(132.0583), 31761);
  t.equal(rowGroupRows(20), ROW_GROUP_ROWS, 'narrow rows: at most ROW_GROUP_ROWS');
  t.equal(rowGroupRows(1 << 20), 1024, 'rows of a MiB: groups of 1024 rows');
});

t.test('path templates: date parts, sync id, relative to baseDir', async (t) => {
  const dir = await tmpDir(t);
  const c = await fileDestination.create(
    { path: 'lake/{{SYNC_ID}}/{{YEAR}}/{{MONTH}}/{{DAY}}/{{HOUR}}{{MINUTE}}/{{TABLE}}-{{UUID}}.{{FORMAT}}', format: 'csv', compression: 'gzip' },
    ctx(dir, { invocationId: 'run-1' }),
  );
  await c.writeBatch(ITEMS, [itemsBatch([{ id: 1, name: 'a', value: 1 }])]);
  await c.close();
  const files = await listFiles(dir);
  t.equal(files.length, 1);
  t.match(files[0]!, /^lake\/run-1\/2024\/03\/05\/0709\/items-[0-9a-f-]{36}\.csv\.gz$/);
});

t.test('failures leave no partial files', async (t) => {
  t.test('close(err) discards open no_rotate files', async (t) => {
    for (const format of FORMATS) {
      const dir = await tmpDir(t);
      const c = await client({ path: '{{TABLE}}.{{FORMAT}}', format, no_rotate: true }, dir);
      await c.writeBatch(ITEMS, [itemsBatch([{ id: 1, name: 'a', value: 1 }])]);
      await c.writeBatch(ITEMS, [itemsBatch([{ id: 2, name: 'b', value: 2 }])]);
      t.equal((await listFiles(dir)).length, 1, `${format}: temp file while open`);
      await c.close(new Error('boom'));
      t.same(await listFiles(dir), [], `${format}: nothing left after close(err)`);
    }
  });

  t.test('a batch that fails mid-file removes its temp file', async (t) => {
    const wide = defineTable({
      name: 'items',
      columns: [
        { name: 'id', type: 'utf8' },
        { name: 'name', type: 'utf8' },
        { name: 'value', type: 'float64' },
      ],
    });
    const sb = A.makeBuilder({ type: new A.Utf8() });
    sb.append('x');
    const bad = itemsBatch([{ id: 1, name: 'n', value: 1 }]);
    const changed = new A.RecordBatch(
      wide,
      A.makeData({ type: new A.Struct(wide.fields), length: 1, nullCount: 0, children: [sb.finish().flush(), bad.data.children[1]!, bad.data.children[2]!] }),
    );
    for (const format of ['parquet', 'arrow'] as const) {
      const dir = await tmpDir(t);
      const c = await client({ path: '{{TABLE}}/{{UUID}}.{{FORMAT}}', format }, dir);
      const err = await c.writeBatch(ITEMS, [itemsBatch([{ id: 1, name: 'a', value: 1 }]), changed]).then(
        () => undefined,
        (e: CqPipeError) => e,
      );
      t.equal(err?.code, 'CQ_ERR_SCHEMA_INCOMPATIBLE', `${format}: column types changed inside one file`);
      t.equal(err?.context.table, 'items');
      t.same(await listFiles(dir), [], `${format}: temp file removed`);

      const nr = await client({ path: '{{TABLE}}.{{FORMAT}}', format, no_rotate: true }, dir);
      await nr.writeBatch(ITEMS, [itemsBatch([{ id: 1, name: 'a', value: 1 }])]);
      const err2 = await nr.writeBatch(ITEMS, [changed]).then(
        () => undefined,
        (e: CqPipeError) => e,
      );
      t.equal(err2?.code, 'CQ_ERR_SCHEMA_INCOMPATIBLE', `${format} no_rotate`);
      await nr.close();
      t.same(await listFiles(dir), [], `${format} no_rotate: the failed file is gone`);
    }
  });

  t.test('a union column is refused before parquet-wasm sees it', async (t) => {
    const dir = await tmpDir(t);
    const type = new A.DenseUnion([0, 1], [new A.Field('a', new A.Int32()), new A.Field('b', new A.Utf8())]);
    const options: Parameters<typeof A.makeBuilder<A.DenseUnion, null>>[0] & { valueToChildTypeId: () => number } = {
      type,
      nullValues: [null],
      valueToChildTypeId: () => 0,
    };
    const b = A.makeBuilder(options) as A.Builder;
    b.append(null);
    const schema = new A.Schema([new A.Field('u', type, true)], new Map([['cq:table_name', 'unions']]));
    const batch = new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length: 1, nullCount: 0, children: [b.finish().flush()] }));
    const c = await client({}, dir);
    const err = await c.writeBatch(schema, [batch]).then(
      () => undefined,
      (e: CqPipeError) => e,
    );
    t.equal(err?.code, 'CQ_ERR_SCHEMA_INCOMPATIBLE');
    t.match(err?.message, /column u is a union/);
    t.match(err?.hint, /arrow or ndjson/);
    t.same(await listFiles(dir), []);
    const nd = await client({ format: 'ndjson' }, dir);
    await t.resolves(nd.writeBatch(schema, [batch]), 'ndjson writes unions');
  });

  t.test('a failed publish at close removes the temp file and names the file', async (t) => {
    const dir = await tmpDir(t);
    await mkdir(path.join(dir, 'items.ndjson', 'blocker'), { recursive: true });
    const c = await client({ path: '{{TABLE}}.{{FORMAT}}', format: 'ndjson', no_rotate: true }, dir);
    await c.writeBatch(ITEMS, [itemsBatch([{ id: 1, name: 'a', value: 1 }])]);
    const err = await c.close().then(
      () => undefined,
      (e: CqPipeError) => e,
    );
    t.equal(err?.code, 'CQ_ERR_DEST_WRITE');
    t.equal(err?.context.file, path.join(dir, 'items.ndjson'));
    t.same(await listFiles(dir), [], 'only the blocking directory remains, no temp file');
  });

  t.test('a directory that cannot be created fails the batch cleanly', async (t) => {
    const dir = await tmpDir(t);
    await writeFile(path.join(dir, 'items'), 'a file where a directory should be');
    const c = await client({ format: 'csv', path: '{{TABLE}}/{{UUID}}.{{FORMAT}}' }, dir);
    const err = await c.writeBatch(ITEMS, [itemsBatch([{ id: 1, name: 'a', value: 1 }])]).then(
      () => undefined,
      (e: CqPipeError) => e,
    );
    t.equal(err?.code, 'CQ_ERR_DEST_WRITE');
    t.equal(err?.context.table, 'items');
    t.same(await listFiles(dir), ['items']);
  });

  t.test('two tables on one no_rotate path fail the sync and leave nothing', async (t) => {
    const dir = await tmpDir(t);
    // names are made safe for paths: "x\\y" and "x_y" render to the same file
    const [a, b] = [withTableName(ITEMS, 'x\\y'), withTableName(ITEMS, 'x_y')];
    const { spec: src } = staticSource(
      [a, b],
      [...inserts('x\\y', itemsBatch([{ id: 1, name: 'a', value: 1 }], a)), ...inserts('x_y', itemsBatch([{ id: 2, name: 'b', value: 2 }], b))],
    );
    const spec = { path: path.join(dir, '{{TABLE}}.ndjson'), format: 'ndjson', no_rotate: true };
    const res = await runSync({ config: config([src], [destSpec({ path: 'file', write_mode: 'append', spec })]) });
    t.equal(exitCodeOfSync(res), 2);
    t.match(String(res.errors.map((e) => e.message)), /tables x\\y and x_y would both be written/);
    t.same(await listFiles(dir), []);
  });
});

t.test('a whole sync: test source to parquet, read by DuckDB', async (t) => {
  const dir = await tmpDir(t);
  const res = await runSync({
    config: config(
      [sourceSpec({ path: 'test', spec: { num_tables: 2, num_rows: 2500, batch_rows: 500 } })],
      [destSpec({ path: 'file', write_mode: 'append', spec: { path: path.join(dir, '{{TABLE}}/{{UUID}}.{{FORMAT}}'), batch_size: 1000 } })],
    ),
  });
  t.equal(exitCodeOfSync(res), 0);
  t.equal(res.resources, 5000);
  for (const table of ['test_table_0', 'test_table_1']) {
    const files = await listFiles(path.join(dir, table));
    t.equal(files.length, 3, `${table}: 1000 + 1000 + 500 rows`);
    const [row] = await duckdb(
      `SELECT count(*) AS n, count(DISTINCT _cq_id) AS ids, count(DISTINCT _cq_sync_time) AS times FROM read_parquet('${dir}/${table}/*.parquet')`,
    );
    t.same([Number(row!.n), Number(row!.ids), Number(row!.times)], [2500, 2500, 1]);
  }
  const types = Object.fromEntries(
    (await duckdb(`DESCRIBE SELECT * FROM read_parquet('${dir}/test_table_0/*.parquet')`)).map((r) => [r.column_name, r.column_type]),
  );
  t.same(
    [types._cq_sync_time, types._cq_source_name, types._cq_id, types._cq_parent_id, types.timestamp_col, types.decimal_col, types.int64_col],
    ['TIMESTAMP WITH TIME ZONE', 'VARCHAR', 'VARCHAR', 'VARCHAR', 'TIMESTAMP WITH TIME ZONE', 'DECIMAL(12,3)', 'BIGINT'],
  );
});

t.test('Parquet encoder thread: concurrent files, encoder errors, in-process fallback', async (t) => {
  const { ParquetWriter } = await import('../connectors/file/writers/parquet.js');
  const schema = new A.Schema([new A.Field('id', new A.Int32(), false), new A.Field('tag', new A.Utf8(), true)]);
  /** `n` rows with ids from `from`, tagged `tag` (or null ids in a non-null column: parquet-wasm refuses those) */
  const batch = (from: number, n: number, tag: string, nullIds = false): A.RecordBatch => {
    const ids = A.vectorFromArray(
      Array.from({ length: n }, (_, i) => (nullIds && i % 2 ? null : from + i)),
      new A.Int32(),
    );
    const tags = A.vectorFromArray(
      Array.from({ length: n }, () => tag),
      new A.Utf8(),
    );
    return new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length: n, nullCount: 0, children: [ids.data[0]!, tags.data[0]!] }));
  };
  const summary = async (file: string) => {
    const [r] = await duckdb(`SELECT count(*) AS n, coalesce(sum(id), 0) AS s, count(DISTINCT tag) AS tags, min(tag) AS tag FROM read_parquet('${file}')`);
    return { n: Number(r!.n), s: Number(r!.s), tags: Number(r!.tags), tag: r!.tag };
  };
  const sumTo = (n: number) => (n * (n - 1)) / 2;

  t.test('files in flight at once each get their own rows, in order, across row groups', async (t) => {
    const dir = await tmpDir(t);
    const names = ['a', 'b', 'c'];
    const writers = await Promise.all(names.map((n) => ParquetWriter.open(path.join(dir, `${n}.parquet`), schema)));
    const empty = await ParquetWriter.open(path.join(dir, 'empty.parquet'), schema);
    // interleaved: 4 × 25,000 rows per file (two row groups of up to 65,536), all writes in flight together
    for (let k = 0; k < 4; k++) await Promise.all(writers.map((w, i) => w.write([batch(k * 25000, 25000, names[i]!)])));
    await Promise.all([...writers.map((w) => w.finish()), empty.finish()]);
    for (const [i, n] of names.entries()) {
      t.same(await summary(path.join(dir, `${n}.parquet`)), { n: 100000, s: sumTo(100000), tags: 1, tag: n }, `${n}: its own rows`);
      t.equal(writers[i]!.rows, 100000);
    }
    const [groups] = await duckdb(`SELECT count(DISTINCT row_group_id) AS g FROM parquet_metadata('${path.join(dir, 'a.parquet')}')`);
    t.equal(Number(groups!.g), 2, 'row groups flushed mid-file');
    t.same(await summary(path.join(dir, 'empty.parquet')), { n: 0, s: 0, tags: 0, tag: null }, 'no rows: a valid file with the schema');
    const cols = (await duckdb(`DESCRIBE SELECT * FROM read_parquet('${path.join(dir, 'empty.parquet')}')`)).map((r) => r.column_name);
    t.same(cols, ['id', 'tag']);
  });

  t.test('an encoder error rejects the write or finish, discard removes the file, other files go on', async (t) => {
    const dir = await tmpDir(t);
    const good = await ParquetWriter.open(path.join(dir, 'good.parquet'), schema);
    const bad = await ParquetWriter.open(path.join(dir, 'bad.parquet'), schema);
    await good.write([batch(0, 1000, 'g')]);
    const err = await bad
      .write([batch(0, 10, 'x', true)])
      .then(() => bad.finish())
      .then(
        () => undefined,
        (e: Error) => e,
      );
    t.match(err?.message, /non-nullable but contains null values/);
    await t.rejects(bad.write([batch(0, 10, 'x')]), 'the failed file stays failed');
    await bad.discard();
    await good.write([batch(1000, 1000, 'g')]);
    await good.finish();
    t.same(await listFiles(dir), ['good.parquet']);
    t.same(await summary(path.join(dir, 'good.parquet')), { n: 2000, s: sumTo(2000), tags: 1, tag: 'g' });
    const later = await ParquetWriter.open(path.join(dir, 'later.parquet'), schema);
    await later.write([batch(0, 5, 'l')]);
    await later.discard();
    t.same(await listFiles(dir), ['good.parquet'], 'a discarded file is removed');
  });

  t.test('CQ_PIPE_PARQUET_WORKER=0 encodes on the main thread, same files', async (t) => {
    const dir = await tmpDir(t);
    process.env.CQ_PIPE_PARQUET_WORKER = '0';
    t.teardown(() => {
      delete process.env.CQ_PIPE_PARQUET_WORKER;
    });
    const w = await ParquetWriter.open(path.join(dir, 'main.parquet'), schema);
    for (let k = 0; k < 3; k++) await w.write([batch(k * 30000, 30000, 'm')]);
    await w.finish();
    t.same(await summary(path.join(dir, 'main.parquet')), { n: 90000, s: sumTo(90000), tags: 1, tag: 'm' });
    const bad = await ParquetWriter.open(path.join(dir, 'bad.parquet'), schema);
    const err = await bad
      .write([batch(0, 10, 'x', true)])
      .then(() => bad.finish())
      .then(
        () => undefined,
        (e: Error) => e,
      );
    t.match(err?.message, /non-nullable but contains null values/);
    await bad.discard();
    t.same(await listFiles(dir), ['main.parquet']);
  });
});
