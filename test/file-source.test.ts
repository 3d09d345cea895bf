/** The file source: every format, globs, explicit and inferred columns, and bad input with file:line. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import type * as A from 'apache-arrow';
import { fileSource, type FileSourceSpec } from '../connectors/file/source.js';
import { rowObjects } from '../connectors/memory.js';
import { ConfigProblems } from '../lib/config/index.js';
import { loadConfig } from '../index.js';
import { silentLogger } from '../lib/logger.js';
import type { SyncMessage } from '../lib/messages.js';
import { isPrimaryKey, tableName } from '../lib/schema.js';
import { typeName } from '../lib/types.js';
import { runSourceSuite } from './conformance/source.js';
import { tmpDir } from './helpers/index.js';
import { items, itemsTable, writeArrow, writeCsv, writeJsonArray, writeNdjson, writeParquet } from './helpers/files.js';

const ctx = (baseDir: string) => ({ name: 'files', logger: silentLogger, baseDir, invocationId: 'inv', syncTime: new Date() });

async function read(spec: FileSourceSpec, baseDir: string) {
  const client = await fileSource.create(spec, ctx(baseDir));
  const tables = await client.tables();
  const msgs: SyncMessage[] = [];
  for await (const m of client.read(tables, { signal: new AbortController().signal, state: new Map() })) msgs.push(m);
  const rows: Record<string, Record<string, unknown>[]> = {};
  const batches: Record<string, A.RecordBatch[]> = {};
  for (const m of msgs) {
    if (m.kind !== 'insert') continue;
    (rows[m.table] ??= []).push(...rowObjects(m.batch));
    (batches[m.table] ??= []).push(m.batch);
  }
  const errors = msgs.filter((m) => m.kind === 'table-error');
  return { tables, rows, batches, errors };
}

const types = (s: A.Schema) => Object.fromEntries(s.fields.map((f) => [f.name, typeName(f)]));

runSourceSuite(t, {
  connector: fileSource,
  async spec(t: Test) {
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
    return {
      batch_rows: 1000,
      tables: [
        { name: 'ndjson_items', files: [path.join(dir, 'a-*.ndjson'), path.join(dir, 'a-*.ndjson.gz')], primary_key: ['id'] },
        { name: 'json_items', files: path.join(dir, 'b.json') },
        { name: 'csv_items', files: path.join(dir, '*.csv') },
        { name: 'parquet_items', files: path.join(dir, '*.parquet'), primary_key: ['id'] },
        { name: 'arrow_items', files: path.join(dir, '*.arrow') },
      ],
    };
  },
  expected: { ndjson_items: 2500, json_items: 700, csv_items: 900, parquet_items: 3000, arrow_items: 1200 },
});

t.test('explicit columns convert every value to its type', async (t) => {
  const dir = await tmpDir(t);
  await writeNdjson(path.join(dir, 'x.ndjson'), [
    {
      id: '9007199254740993',
      amount: '12.34',
      at: '2024-05-06T07:08:09.123456+02:00',
      u: '0190c0de-0000-7000-8000-000000000001',
      doc: { a: [1, 2] },
      ok: 'yes',
      day: '2024-02-29',
      small: 7,
      tags: ['a', 'b'],
    },
    { id: -5, amount: 0.5, at: 1700000000.25, u: null, doc: 'text', ok: false, day: null, small: null, tags: null },
  ]);
  const { tables, rows, batches, errors } = await read(
    {
      tables: [
        {
          name: 'x',
          files: 'x.ndjson',
          primary_key: ['id'],
          columns: [
            { name: 'id', type: 'int64' },
            { name: 'amount', type: 'decimal(10,2)' },
            { name: 'at', type: 'timestamp' },
            { name: 'u', type: 'uuid' },
            { name: 'doc', type: 'json' },
            { name: 'ok', type: 'bool' },
            { name: 'day', type: 'date32' },
            { name: 'small', type: 'int16' },
            { name: 'tags', type: 'list<utf8>' },
          ],
        },
      ],
    },
    dir,
  );
  t.equal(errors.length, 0);
  t.ok(isPrimaryKey(tables[0]!.fields[0]!), 'id is the primary key');
  const [a, b] = rows.x!;
  t.equal(a!.id, 9007199254740993n, 'int64 beyond 2^53 from a string keeps every digit');
  t.equal(b!.id, -5n);
  const amount = batches.x![0]!.getChild('amount')!;
  t.equal(String(amount.get(0)), '1234', 'decimal 12.34 stored as 1234 at scale 2');
  t.equal(String(amount.get(1)), '50', 'decimal 0.5 stored as 50');
  t.equal(a!.at, Date.UTC(2024, 4, 6, 5, 8, 9, 123) + 0.456, 'offset applied, µs kept');
  t.equal(b!.at, 1700000000250, 'epoch seconds');
  t.equal(a!.u, '0190c0de-0000-7000-8000-000000000001');
  t.same(a!.doc, { a: [1, 2] });
  t.equal(b!.doc, 'text');
  t.equal(a!.ok, true);
  t.equal(b!.ok, false);
  t.equal(a!.day, Date.UTC(2024, 1, 29));
  t.equal(a!.small, 7);
  t.equal(b!.small, null);
  t.same(a!.tags, ['a', 'b']);
});

t.test('inference widens int → float → string and maps objects to json, ISO strings to timestamp', async (t) => {
  const dir = await tmpDir(t);
  await writeNdjson(path.join(dir, 'w.ndjson'), [
    { n: 1, f: 1, s: 1, o: { a: 1 }, ts: '2024-01-01T00:00:00Z', b: true, z: null },
    { n: 2, f: 1.5, s: 'x', o: [1], ts: '2024-01-02T00:00:00.5Z', b: false, z: null },
  ]);
  const { tables, rows } = await read({ tables: [{ name: 'w', files: 'w.ndjson' }] }, dir);
  t.same(types(tables[0]!), { n: 'int64', f: 'float64', s: 'utf8', o: 'json', ts: 'timestamp', b: 'bool', z: 'utf8' });
  t.same(
    rows.w!.map((r) => r.s),
    ['1', 'x'],
    'numbers in a string column become text',
  );
});

t.test('CSV inference reads kinds from the text; empty cells are null', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'c.csv'), 'id,price,name,when,flag\n1,2.5,"a, b",2024-01-01T00:00:00Z,true\n2,,plain,,false\n');
  const { tables, rows } = await read({ tables: [{ name: 'c', files: 'c.csv', primary_key: ['id'] }] }, dir);
  t.same(types(tables[0]!), { id: 'int64', price: 'float64', name: 'utf8', when: 'timestamp', flag: 'bool' });
  t.same(
    rows.c!.map((r) => [r.id, r.price, r.name, r.flag]),
    [
      [1n, 2.5, 'a, b', true],
      [2n, null, 'plain', false],
    ],
  );
});

t.test('Parquet and Arrow keep their own schema; timestamps become µs UTC; row groups stream', async (t) => {
  const dir = await tmpDir(t);
  await writeParquet(path.join(dir, 'p.parquet'), itemsTable(items(5000)), 1000);
  await writeArrow(path.join(dir, 's.arrows'), itemsTable(items(10)), 'stream');
  const { tables, rows, batches } = await read(
    {
      batch_rows: 400,
      tables: [
        { name: 'p', files: 'p.parquet', primary_key: ['id'] },
        { name: 's', files: 's.arrows' },
      ],
    },
    dir,
  );
  const p = tables.find((s) => tableName(s) === 'p')!;
  t.same(types(p), { id: 'int64', title: 'utf8', price: 'float64', updated_at: 'timestamp', active: 'bool' });
  t.ok(isPrimaryKey(p.fields[0]!));
  t.equal(rows.p!.length, 5000);
  t.ok(
    batches.p!.every((b) => b.numRows <= 400),
    'batches no larger than batch_rows',
  );
  t.equal(rows.p![4999]!.updated_at, Date.UTC(2024, 0, 1) + 4999 * 1000, 'ms timestamps converted exactly');
  t.equal(rows.s!.length, 10);
});

t.test('a malformed NDJSON line fails its table naming file and line; other tables continue', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'bad.ndjson'), '{"id":1}\n{"id":2}\n{"id":3,\n{"id":4}\n');
  await writeNdjson(path.join(dir, 'good.ndjson'), [{ id: 1 }]);
  const { rows, errors } = await read(
    {
      tables: [
        { name: 'bad', files: 'bad.ndjson', columns: [{ name: 'id', type: 'int64' }] },
        { name: 'good', files: 'good.ndjson' },
      ],
    },
    dir,
  );
  t.equal(errors.length, 1);
  const e = (errors[0] as { error: { code: string; context: { file: string; line: number; table: string } } }).error;
  t.equal(e.code, 'CQ_ERR_SOURCE_DATA');
  t.equal(e.context.file, path.join(dir, 'bad.ndjson'));
  t.equal(e.context.line, 3);
  t.equal(e.context.table, 'bad');
  t.equal(rows.good!.length, 1, 'the other table is read');
});

t.test('a value that does not fit its column names file, line and column', async (t) => {
  const dir = await tmpDir(t);
  await writeNdjson(path.join(dir, 'v.ndjson'), [
    { id: 1, n: 5 },
    { id: 2, n: 70000 },
  ]);
  const { errors } = await read(
    {
      tables: [
        {
          name: 'v',
          files: 'v.ndjson',
          columns: [
            { name: 'id', type: 'int64' },
            { name: 'n', type: 'int16' },
          ],
        },
      ],
    },
    dir,
  );
  const e = (errors[0] as { error: { message: string; context: { line: number; column: string } } }).error;
  t.equal(e.context.line, 2);
  t.equal(e.context.column, 'n');
  t.match(e.message, 'in range for int16');
});

t.test('CSV with a wrong field count and bad quoting name the line', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'n.csv'), 'a,b\n1,2\n3\n');
  await writeFile(path.join(dir, 'q.csv'), 'a,b\n1,2\n"x"y,3\n');
  const { errors } = await read(
    {
      tables: [
        {
          name: 'n',
          files: 'n.csv',
          columns: [
            { name: 'a', type: 'int64' },
            { name: 'b', type: 'int64' },
          ],
        },
        {
          name: 'q',
          files: 'q.csv',
          columns: [
            { name: 'a', type: 'utf8' },
            { name: 'b', type: 'int64' },
          ],
        },
      ],
    },
    dir,
  );
  t.equal(errors.length, 2);
  const [n, q] = errors.map((m) => (m as { error: { message: string; context: { line: number } } }).error);
  t.equal(n!.context.line, 3);
  t.match(n!.message, 'expect 2, got 1');
  t.equal(q!.context.line, 3);
  t.match(q!.message, 'malformed CSV');
});

t.test('corrupt Parquet and non-Arrow files fail their table with the file named', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'x.parquet'), 'PAR1 this is not parquet');
  await writeFile(path.join(dir, 'y.arrow'), 'not arrow at all');
  await writeNdjson(path.join(dir, 'z.ndjson'), items(3));
  // a file whose schema cannot be read fails its table only (a table-error before any row)
  const r = await read(
    {
      tables: [
        { name: 'x', files: 'x.parquet' },
        { name: 'y', files: 'y.arrow' },
        { name: 'z', files: 'z.ndjson' },
      ],
    },
    dir,
  );
  t.same(
    r.errors.map((m) => m.kind === 'table-error' && [m.table, m.error.code, m.error.context.file, m.error.scope]),
    [
      ['x', 'CQ_ERR_SOURCE_DATA', path.join(dir, 'x.parquet'), 'table'],
      ['y', 'CQ_ERR_SOURCE_DATA', path.join(dir, 'y.arrow'), 'table'],
    ],
  );
  t.equal(r.rows.z?.length, 3, 'the other table reads every row');
});

t.test('config: unknown column types and formats are load-time errors with key paths', async (t) => {
  const dir = await tmpDir(t);
  const p = path.join(dir, 'c.yml');
  await writeFile(
    p,
    `kind: source
spec:
  name: s
  path: file
  destinations: [m]
  spec:
    tables:
      - name: t
        files: ./data.txt
        columns:
          - { name: id, type: int64 }
          - { name: x, type: strng }
---
kind: destination
spec: { name: m, path: memory }
`,
  );
  const err = await loadConfig([p], { requireDestinations: true, env: {} }).catch((e: unknown) => e);
  t.ok(err instanceof ConfigProblems);
  const keys = (err as ConfigProblems).problems.map((x) => x.keyPath);
  t.same(keys.sort(), ['spec.spec.tables[0].columns[1].type', 'spec.spec.tables[0].format']);
  t.equal((err as ConfigProblems).problems.find((x) => x.keyPath!.endsWith('type'))!.line, 12);
});
