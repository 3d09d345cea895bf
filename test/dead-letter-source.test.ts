/**
 * `dead_letter` for values the source cannot convert (docs/bad-input.md): a row of a file whose
 * value does not fit its explicit column goes to the destination's dead-letter file with its record,
 * file:line, column and reason; the good rows load; the sync exits 3. Without `dead_letter` the table
 * fails as before (exit 1).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as A from 'apache-arrow';
import t from 'tap';
import { gzipSync } from 'node:zlib';
import { config as engineConfig, destSpec, sourceSpec, tmpDir } from './helpers/index.js';
import { createBucket, putObject, s3Server, s3Spec } from './helpers/s3.js';
import { runSync } from '../lib/pipeline.js';
import { exitCodeOfSync } from '../bin/exit-codes.js';
import { CLI_SHELL, cliSync, shell } from './helpers/cli.js';
import { freshDatabase, query } from './helpers/postgres.js';
import { RowBatchBuilder, ValueError } from '../lib/row-builder.js';
import { defineTable } from '../lib/schema.js';
import { RawRecords } from '../connectors/file/raw-records.js';
import { FORMATS, type RowFormat } from '../connectors/file/formats/index.js';
import { localFile } from '../connectors/file/inputs.js';

const cli = (args: string[], cwd: string) => cliSync([...args, '--no-progress'], { cwd });

const COLUMNS = '{ name: id, type: int64 }, { name: n, type: int64 }, { name: at, type: timestamp }, { name: ok, type: bool }';

/** a file source of one table into Postgres destinations (name → dead_letter path or none) */
function config(files: string, dests: Record<string, { url: string; dead?: string }>, table: string = `files: "${files}"`, extra = ''): string {
  const names = Object.keys(dests);
  return (
    `kind: source
spec:
  name: src
  path: file
  destinations: [${names.join(', ')}]
${extra}  spec:
    batch_rows: 3
    tables:
      - { name: items, ${table}, primary_key: [id], columns: [${COLUMNS}] }
` +
    names
      .map(
        (n) => `---
kind: destination
spec:
  name: ${n}
  path: postgresql
  write_mode: append
  spec: { connection_string: "${dests[n]!.url}"${dests[n]!.dead ? `, dead_letter: "${dests[n]!.dead}"` : ''} }
`,
      )
      .join('')
  );
}

const deadLines = async (file: string) =>
  (await readFile(file, 'utf8'))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const ids = async (url: string) => (await query<{ id: string }>(url, 'SELECT id FROM items ORDER BY id')).map((r) => Number(r.id));

// 10 rows: lines 2..11 of the CSV; rows 3, 4 (one batch of 3 holds 3, 4, 5), 8 and 9 do not convert
const CSV = [
  'id,n,at,ok',
  '1,10,2024-01-01T00:00:00Z,true',
  '2,20,2024-01-02T00:00:00Z,false',
  '3,abc,2024-01-03T00:00:00Z,true',
  '4,40,2024-13-45T99:00:00Z,true',
  '5,50,2024-01-05T00:00:00Z,yes',
  '6,60,2024-01-06T00:00:00Z,no',
  '7,70,2024-01-07T00:00:00Z,t',
  '8,80,2024-01-08T00:00:00Z,maybe',
  '9,9.5,2024-01-09T00:00:00Z,"not, a bool"',
  '10,100,2024-01-10T00:00:00Z,f',
].join('\n');

t.test('CSV: rows whose values do not convert go to the dead letter with record, file:line, column and reason; the rest load; exit 3', async (t) => {
  const dir = await tmpDir(t);
  const url = await freshDatabase();
  const file = path.join(dir, 'items.csv');
  await writeFile(file, CSV + '\n');
  const dead = path.join(dir, 'rejected.ndjson');
  await writeFile(path.join(dir, 'c.yml'), config('./items.csv', { pg: { url, dead } }));
  const r = cli(['sync', 'c.yml'], dir);
  t.equal(r.status, 3, r.stderr);
  t.same(await ids(url), [1, 2, 5, 6, 7, 10], 'the good rows, counted by SQL');
  t.same(await deadLines(dead), [
    { table: 'items', reason: 'column "n": "abc" is not a 64-bit integer', column: 'n', file, line: 4, raw: '3,abc,2024-01-03T00:00:00Z,true' },
    {
      table: 'items',
      reason: 'column "at": "2024-13-45T99:00:00Z" is not an ISO-8601 timestamp',
      column: 'at',
      file,
      line: 5,
      raw: '4,40,2024-13-45T99:00:00Z,true',
    },
    { table: 'items', reason: 'column "ok": "maybe" is not a boolean', column: 'ok', file, line: 9, raw: '8,80,2024-01-08T00:00:00Z,maybe' },
    // the first column that does not fit is named (n before ok)
    { table: 'items', reason: 'column "n": "9.5" is not a 64-bit integer', column: 'n', file, line: 10, raw: '9,9.5,2024-01-09T00:00:00Z,"not, a bool"' },
  ]);
});

t.test('NDJSON: the same, the raw record being the line as written; a batch of only bad rows sends no empty insert', async (t) => {
  const dir = await tmpDir(t);
  const url = await freshDatabase();
  const file = path.join(dir, 'items.ndjson');
  const lines = [
    '{"id": 1, "n": 10, "at": "2024-01-01T00:00:00Z", "ok": true}',
    '{"id": 2, "n": "abc", "at": "2024-01-02T00:00:00Z", "ok": true}',
    '{"id": 3, "n": 30, "at": "yesterday", "ok": true}',
    '',
    '{"id": 4, "n": 40, "at": "2024-01-04T00:00:00Z", "ok": "nope"}',
    '{"id": 5, "n": 50, "at": "2024-01-05T00:00:00Z", "ok": false}',
    '{"id": 6, "n": {"x": 1}, "at": "2024-01-06T00:00:00Z", "ok": false}',
    '{"id": 7, "n": 70, "at": 1704067200, "ok": 1}',
  ];
  await writeFile(file, lines.join('\r\n'));
  const dead = path.join(dir, 'out', 'rejected.ndjson');
  await writeFile(path.join(dir, 'c.yml'), config('./items.ndjson', { pg: { url, dead } }));
  const r = cli(['sync', 'c.yml'], dir);
  t.equal(r.status, 3, r.stderr);
  t.same(await ids(url), [1, 5, 7]);
  t.same(
    await query(url, 'SELECT id::int, n::int, at, ok FROM items ORDER BY id'),
    [
      { id: 1, n: 10, at: new Date('2024-01-01T00:00:00Z'), ok: true },
      { id: 5, n: 50, at: new Date('2024-01-05T00:00:00Z'), ok: false },
      { id: 7, n: 70, at: new Date('2024-01-01T00:00:00Z'), ok: true },
    ],
    'the good rows hold their values',
  );
  const got = await deadLines(dead);
  t.same(
    got.map((d) => [d.line, d.column, d.raw]),
    [
      [2, 'n', lines[1]],
      [3, 'at', lines[2]],
      [5, 'ok', lines[4]],
      [7, 'n', lines[6]],
    ],
  );
  t.same(
    got.map((d) => d.reason),
    [
      'column "n": "abc" is not a 64-bit integer',
      'column "at": "yesterday" is not an ISO-8601 timestamp',
      'column "ok": "nope" is not a boolean',
      'column "n": {"x":1} is not a 64-bit integer',
    ],
  );
  t.ok(
    got.every((d) => d.file === file && d.table === 'items'),
    'file and table on every line',
  );
});

t.test('JSON arrays name the element; a NULL in a NOT NULL column is rejected too', async (t) => {
  const dir = await tmpDir(t);
  const url = await freshDatabase();
  const file = path.join(dir, 'items.json');
  await writeFile(
    file,
    JSON.stringify([
      { id: 1, n: 1, at: '2024-01-01T00:00:00Z', ok: true },
      { n: 2, at: '2024-01-01T00:00:00Z', ok: true },
      { id: 3, n: 'x', at: '2024-01-01T00:00:00Z', ok: true },
      { id: 4, n: 4, at: '2024-01-01T00:00:00Z', ok: true },
    ]),
  );
  const dead = path.join(dir, 'rejected.ndjson');
  await writeFile(path.join(dir, 'c.yml'), config('./items.json', { pg: { url, dead } }));
  const r = cli(['sync', 'c.yml'], dir);
  t.equal(r.status, 3, r.stderr);
  t.same(await ids(url), [1, 4]);
  t.same(await deadLines(dead), [
    {
      table: 'items',
      reason: 'column "id" is not nullable but the value is missing or null',
      column: 'id',
      file,
      element: 1,
      raw: '{"n":2,"at":"2024-01-01T00:00:00Z","ok":true}',
    },
    {
      table: 'items',
      reason: 'column "n": "x" is not a 64-bit integer',
      column: 'n',
      file,
      element: 2,
      raw: '{"id":3,"n":"x","at":"2024-01-01T00:00:00Z","ok":true}',
    },
  ]);
});

t.test('without dead_letter the table fails as before: exit 1 naming file:line and column; no dead-letter file', async (t) => {
  const dir = await tmpDir(t);
  const url = await freshDatabase();
  await writeFile(path.join(dir, 'items.csv'), CSV + '\n');
  await writeFile(path.join(dir, 'c.yml'), config('./items.csv', { pg: { url } }));
  const r = cli(['sync', 'c.yml'], dir);
  t.equal(r.status, 1);
  t.match(r.stderr, /CQ_ERR_SOURCE_DATA/);
  t.match(r.stderr, /column "n": "abc" is not a 64-bit integer/);
  t.match(r.stderr, /items\.csv:4/);
  t.same(
    await query(url, "SELECT to_regclass('public.items') AS t"),
    [{ t: null }],
    'the first batch (rows 1..3) failed the table before any row: not even created',
  );
  t.notOk(existsSync(path.join(dir, 'rejected.ndjson')));
});

t.test(
  'two destinations, one with dead_letter: it loads the good rows and dead-letters the bad; the other fails the table (exit 1); no state advances',
  async (t) => {
    const dir = await tmpDir(t);
    const [a, b] = [await freshDatabase(), await freshDatabase()];
    const file = path.join(dir, 'items.csv');
    await writeFile(file, CSV + '\n');
    const dead = path.join(dir, 'rejected.ndjson');
    const state = `  backend_options: { table_name: st, connection: "file://${dir}/state" }\n`;
    await writeFile(
      path.join(dir, 'c.yml'),
      config('./items.csv', { dl: { url: a, dead }, plain: { url: b } }, 'files: "./items.csv", incremental: true', state),
    );
    const r = cli(['sync', 'c.yml'], dir);
    t.equal(r.status, 1, r.stderr);
    t.match(r.stderr, /table items failed in destination plain: column "n": "abc" is not a 64-bit integer/);
    t.match(r.stderr, /items\.csv:4/);
    t.same(await ids(a), [1, 2, 5, 6, 7, 10], 'the destination with dead_letter took every good row');
    t.same(
      (await deadLines(dead)).map((d) => d.line),
      [4, 5, 9, 10],
    );
    t.same(await ids(b), [], 'the other one: the good rows of the failing batch were dropped with the table, as if the source had failed it');
    const saved = cliSync(['state', 'get', 'c.yml', '--source', 'src'], { cwd: dir });
    t.equal(saved.status, 0, saved.stderr);
    t.notMatch(saved.stdout, /items\.csv/, 'no state saved for the table');
    // a rerun reads the file again (its state did not advance): the same rows are dead-lettered again
    const r2 = cli(['sync', 'c.yml'], dir);
    t.equal(r2.status, 1);
    t.equal((await deadLines(dead)).length, 8);
  },
);

t.test('a table renamed by change_table_names: its rejected rows follow the rename', async (t) => {
  const dir = await tmpDir(t);
  const url = await freshDatabase();
  await writeFile(path.join(dir, 'items.csv'), CSV + '\n');
  const dead = path.join(dir, 'rejected.ndjson');
  const yml = config('./items.csv', { pg: { url, dead } }).replace('write_mode: append', 'write_mode: append\n  transformers: [rename]');
  await writeFile(
    path.join(dir, 'c.yml'),
    `${yml}---
kind: transformer
spec:
  name: rename
  path: basic
  spec:
    transformations:
      - { kind: change_table_names, tables: [items], new_table_name_template: "raw_{{.OldName}}" }
`,
  );
  const r = cli(['sync', 'c.yml'], dir);
  t.equal(r.status, 3, r.stderr);
  t.same(
    (await query<{ id: string }>(url, 'SELECT id FROM raw_items ORDER BY id')).map((x) => Number(x.id)),
    [1, 2, 5, 6, 7, 10],
  );
  t.same(
    (await deadLines(dead)).map((d) => [d.table, d.line]),
    [
      ['raw_items', 4],
      ['raw_items', 5],
      ['raw_items', 9],
      ['raw_items', 10],
    ],
  );
});

t.test('read | write: read does not ask for rejected rows, so the table fails as without dead_letter (docs/pipes.md)', async (t) => {
  const dir = await tmpDir(t);
  const url = await freshDatabase();
  await writeFile(path.join(dir, 'items.csv'), CSV + '\n');
  const dead = path.join(dir, 'rejected.ndjson');
  await writeFile(path.join(dir, 'c.yml'), config('./items.csv', { pg: { url, dead } }));
  const r = shell(`${CLI_SHELL} read c.yml | ${CLI_SHELL} write c.yml`, { cwd: dir });
  t.equal(r.status, 1, r.stderr);
  t.match(r.stderr, /column "n": "abc" is not a 64-bit integer/);
  t.notOk(existsSync(dead), 'no dead-letter file');
});

t.test('incremental file table with dead_letter: the file is loaded (state advances past the rejected rows), a rerun skips it', async (t) => {
  const dir = await tmpDir(t);
  const url = await freshDatabase();
  await writeFile(path.join(dir, 'items.csv'), CSV + '\n');
  const dead = path.join(dir, 'rejected.ndjson');
  const state = `  backend_options: { table_name: st, connection: "file://${dir}/state" }\n`;
  await writeFile(path.join(dir, 'c.yml'), config('./items.csv', { pg: { url, dead } }, 'files: "./items.csv", incremental: true', state));
  const r = cli(['sync', 'c.yml'], dir);
  t.equal(r.status, 3, r.stderr);
  const saved = cliSync(['state', 'get', 'c.yml', '--source', 'src', 'items'], { cwd: dir });
  t.equal(saved.status, 0, saved.stderr);
  t.match(saved.stdout, /items\.csv/, 'the file is recorded as loaded');
  const r2 = cli(['sync', 'c.yml'], dir);
  t.equal(r2.status, 0, 'nothing new to read: no rows rejected this time');
  t.same(await ids(url), [1, 2, 5, 6, 7, 10], 'no row twice');
  t.equal((await deadLines(dead)).length, 4, 'no row dead-lettered twice');
});

t.test('the s3 source (the same decoding): a gzipped CSV object, its rejected records read again from the bucket', async (t) => {
  const dir = await tmpDir(t);
  const url = await freshDatabase();
  const bucket = await createBucket('dl');
  await putObject(bucket, 'in/items.csv.gz', gzipSync(CSV + '\n'));
  const dead = path.join(dir, 'rejected.ndjson');
  const src = sourceSpec({
    path: 's3',
    destinations: ['pg'],
    spec: {
      ...(await s3Spec(bucket)),
      batch_rows: 4,
      tables: [
        {
          name: 'items',
          files: 'in/*.csv.gz',
          primary_key: ['id'],
          columns: [
            { name: 'id', type: 'int64' },
            { name: 'n', type: 'int64' },
            { name: 'at', type: 'timestamp' },
            { name: 'ok', type: 'bool' },
          ],
        },
      ],
    },
  });
  const dst = destSpec({ name: 'pg', path: 'postgresql', write_mode: 'append', spec: { connection_string: url, dead_letter: dead } });
  const s3 = await s3Server();
  const gets = () => s3.requests.filter((r) => r.method === 'GET' && r.url.includes('items.csv.gz')).length;
  const before = gets();
  const r = await runSync({ config: engineConfig([src], [dst]) });
  t.equal(exitCodeOfSync(r), 3);
  t.equal(r.rejectedRows, 4);
  t.equal(r.resources, 6);
  t.same(await ids(url), [1, 2, 5, 6, 7, 10]);
  const got = await deadLines(dead);
  t.same(
    got.map((d) => [d.file, d.line, d.raw]),
    [
      [`s3://${bucket}/in/items.csv.gz`, 4, '3,abc,2024-01-03T00:00:00Z,true'],
      [`s3://${bucket}/in/items.csv.gz`, 5, '4,40,2024-13-45T99:00:00Z,true'],
      [`s3://${bucket}/in/items.csv.gz`, 9, '8,80,2024-01-08T00:00:00Z,maybe'],
      [`s3://${bucket}/in/items.csv.gz`, 10, '9,9.5,2024-01-09T00:00:00Z,"not, a bool"'],
    ],
  );
  t.equal(gets() - before, 2, 'the object is read twice: once for the rows, once (forward) for every rejected record');
});

t.test(
  'RowBatchBuilder.finishRejecting: the good rows in order, every bad row named once by its first bad column; whole-column errors still throw',
  async (t) => {
    const schema = defineTable({
      name: 'x',
      columns: [
        { name: 'a', type: 'int32', not_null: true },
        { name: 'b', type: 'bool' },
      ],
    });
    const b = new RowBatchBuilder(schema);
    const rows = [
      { a: 1, b: true },
      { a: 'x', b: 'bad' },
      { a: null, b: false },
      { a: 4, b: 'bad' },
      { a: 5, b: null },
    ];
    for (const r of rows) b.push(r);
    const { batch, rejected } = b.finishRejecting();
    t.same(
      batch.toArray().map((r) => r.toJSON()),
      [
        { a: 1, b: true },
        { a: 5, b: null },
      ],
    );
    t.same(rejected, [
      { index: 1, column: 'a', reason: 'column "a": "x" is not an integer' },
      { index: 2, column: 'a', reason: 'column "a" is not nullable but the value is missing or null' },
      { index: 3, column: 'b', reason: 'column "b": "bad" is not a boolean' },
    ]);
    t.equal(b.length, 0, 'the builder is reset');
    b.push({ a: 7, b: 'yes' });
    t.same(b.finishRejecting().rejected, [], 'and reusable');

    // many rows, bad ones scattered (and adjacent, and first and last): each found once, the rest kept in order
    const badAt = new Set([0, 1, 2, 97, 500, 501, 998, 999]);
    for (let i = 0; i < 1000; i++) b.push({ a: badAt.has(i) ? (i % 2 ? null : 'x') : i, b: i % 3 === 0 ? 'yes' : 'no' });
    const many = b.finishRejecting();
    t.same(
      many.rejected.map((r) => r.index),
      [...badAt],
    );
    t.same(many.batch.getChild('a')!.toArray().length, 992);
    t.equal(Number(many.batch.getChild('a')!.get(0)), 3);
    t.equal(Number(many.batch.getChild('a')!.get(991)), 997);

    const half = new A.Schema([new A.Field('h', new A.Float16(), true)]);
    const hb = new RowBatchBuilder(half);
    hb.push({ h: 1 });
    t.throws(() => hb.finishRejecting(), ValueError, 'float16: the column, not the row');
    t.equal(hb.length, 0);
  },
);

t.test('RawRecords reads a file once, forward, for the positions asked', async (t) => {
  const csvFormat = FORMATS.csv as RowFormat;
  const ndjsonFormat = FORMATS.ndjson as RowFormat;
  const dir = await tmpDir(t);
  const csvFile = path.join(dir, 'a.csv');
  await writeFile(csvFile, 'id,v\r\n1,a\r\n\r\n2,"multi\nline"\r\n3,c\r\n4,d');
  const csv = { delimiter: ',', quote: '"', escape: '"', header: true };
  const signal = new AbortController().signal;
  // the positions read() gives each row
  const lines: number[] = [];
  for await (const c of csvFormat.read(localFile(csvFile), { signal, csv })) lines.push(...c.lines);
  t.same(lines, [2, 5, 6, 7]);
  const raws = new RawRecords(() => csvFormat.raw(localFile(csvFile), { signal, csv }));
  t.same(await raws.get([2, 5]), ['1,a', '2,"multi\nline"']);
  t.same(await raws.get([7, 9]), ['4,d', ''], 'a position past the end: empty');
  await raws.close();

  const ndFile = path.join(dir, 'a.ndjson');
  await writeFile(ndFile, '{"a":1}\n\n{"a":2}\r\n{"a":3}');
  const nd = new RawRecords(() => ndjsonFormat.raw(localFile(ndFile), { signal, csv }));
  t.same(await nd.get([1, 3]), ['{"a":1}', '{"a":2}']);
  t.same(await nd.get([4]), ['{"a":3}']);
  await nd.close();
});
