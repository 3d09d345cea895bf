/**
 * The NDJSON byte scanner (connectors/file/formats/ndjson-columns.ts, ndjson-batches.ts) against the
 * general path (ndjsonRows: JSON.parse per line, then RowBatchBuilder): for generated files full of
 * the shapes JSON allows — escapes, non-ASCII text, every number form, nested json with spaces,
 * duplicate and numeric keys, keys in any order, unknown and missing keys, nulls, CRLF, blank lines,
 * a BOM, deep nesting — the batches are byte for byte the same Arrow IPC, cut into pieces at every
 * kind of boundary; a bad line gives the same error (code, message, line) both ways; and clean files
 * are read by the scanner (the count of batches it built is checked, so the fast path cannot
 * silently stop being used).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import * as A from 'apache-arrow';
import t from 'tap';
import { type NdjsonItem, ndjsonBatches } from '../connectors/file/formats/ndjson-batches.js';
import type { ReadContext, RowChunk } from '../connectors/file/formats/index.js';
import { ndjsonRows } from '../connectors/file/formats/ndjson.js';
import { CqPipeError } from '../lib/errors.js';
import { RowBatchBuilder } from '../lib/row-builder.js';
import { defineTable } from '../lib/schema.js';
import { duckdb, tmpDir } from './helpers/index.js';

const ITEMS = defineTable({
  name: 'items',
  columns: [
    { name: 'id', type: 'uuid' },
    { name: 'name', type: 'utf8' },
    { name: 'created_at', type: 'timestamp' },
    { name: 'quantity', type: 'int64' },
    { name: 'active', type: 'bool' },
    { name: 'price', type: 'float64' },
    { name: 'attrs', type: 'json' },
  ],
});

/** columns the scanner hands to the builder's conversion (JS values) */
const OTHER = defineTable({
  name: 'other',
  columns: [
    { name: 'n32', type: 'int32' },
    { name: 'day', type: 'date32' },
    { name: 'tags', type: 'list<utf8>' },
    { name: 'big', type: 'large_utf8' },
    { name: 'f32', type: 'float32' },
    { name: 'ip', type: 'inet' },
    { name: 'u64', type: 'uint64' },
    { name: 'flag', type: 'bool' },
  ],
});

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

const UUIDS = ['"442fe709-ed5b-4916-af0e-94b4eda07161"', '"442FE709-ED5B-4916-AF0E-94B4EDA07161"', '"442fe709ed5b4916af0e94b4eda07161"', 'null'];
const NAMES = [
  '"alpha"',
  '""',
  '"héllo wörld"',
  '"emoji 🙂 raw"',
  '"tab\\tquote\\"back\\\\slash\\n"',
  '"\\u00e9t\\u00E9"',
  '"a\\/b"',
  '"pair \\ud83d\\ude00"',
  '"\\b\\f\\r"',
  `"${'long '.repeat(40)}"`,
  'null',
];
const TIMES = [
  '"2024-05-14T14:13:22.407268Z"',
  '"2024-05-14T14:13:22Z"',
  '"2024-05-14 14:13:22.4Z"',
  '"2024-05-14T14:13:22.123456789Z"',
  '"2024-05-14T14:13:22+05:30"',
  '"2024-05-14T14:13:22.5-08:00"',
  '"1969-12-31T23:59:59.999999Z"',
  '"2024-02-29T00:00:00z"',
  '"2024-05-14"',
  '1715695602',
  '1715695602.25',
  '"1600-01-01T00:00:00Z"',
  'null',
];
const INTS = [
  '0',
  '-0',
  '1',
  '-1',
  '152155',
  '999999999999999',
  '-999999999999999',
  '1234567890123456',
  '9007199254740993',
  '-9223372036854775808',
  '9223372036854775807',
  '1.0',
  '1e3',
  '"42"',
  'null',
];
const BOOLS = ['true', 'false', 'null', '"yes"', '1', '0'];
const FLOATS = [
  '0',
  '-0',
  '929.11',
  '-0.5',
  '1e-7',
  '1.5E+300',
  '0.000001',
  '123456789012345678',
  '3.14159265358979323846',
  '1e400',
  '"2.5"',
  '"NaN"',
  '7',
  'null',
];
const JSONS = [
  '{"rank":0,"tag":"delta","score":84.3}',
  '{ "rank" : 1 , "tag":"alpha" }',
  '{"a":{"b":[1,2,{"c":null}]},"d":true}',
  '{"dup":1,"dup":2}',
  '{"2":"b","1":"a","x":0}',
  '{"s":"\\u00e9\\n"}',
  '{"n":1.0,"m":1E2,"z":-0,"big":12345678901234567890}',
  '{"f":0.0000005,"g":1.5e300,"h":100.25}',
  '[1,"two",null,false]',
  '"just a string"',
  '42',
  '{"k":"a\\/b"}',
  '{}',
  '[]',
  'null',
];

/** one generated line: the columns' keys in a random order, some left out, sometimes an unknown one */
function line(r: () => number, i: number, columns: [string, readonly string[]][], opts: { extra: boolean; ws: boolean }): string {
  const parts = columns.filter(() => r() > 0.05).map(([k, vs]) => [k, pick(r, vs)] as const);
  if (r() < 0.3) parts.sort(() => r() - 0.5);
  if (opts.extra && r() < 0.02) parts.splice(Math.floor(r() * parts.length), 0, ['extra_col', `${i}`]);
  const sep = opts.ws && r() < 0.1 ? ' , ' : ',';
  const colon = opts.ws && r() < 0.1 ? ' : ' : ':';
  const body = `{${parts.map(([k, v]) => `"${k}"${colon}${v}`).join(sep)}}`;
  return opts.ws && r() < 0.05 ? `  ${body} ` : body;
}

const ITEM_VALUES: [string, readonly string[]][] = [
  ['id', UUIDS],
  ['name', NAMES],
  ['created_at', TIMES],
  ['quantity', INTS],
  ['active', BOOLS],
  ['price', FLOATS],
  ['attrs', JSONS],
];

/** the values the scanner reads itself (the others are the builder's coercions: their batch is read the general way) */
const SCANNED_VALUES: [string, readonly string[]][] = [
  ['id', UUIDS],
  ['name', NAMES],
  ['created_at', TIMES.filter((v) => v.startsWith('"') && v.length > 14 && !v.startsWith('"1600'))],
  ['quantity', INTS.filter((v) => !/[."e]/.test(v))],
  ['active', ['true', 'false', 'null']],
  ['price', FLOATS.filter((v) => !v.startsWith('"'))],
  ['attrs', JSONS],
];

/** the lines of values every path reads without an error (the builder's coercions included unless `scanned`) */
function cleanFile(seed: number, rows: number, opts: { extra: boolean; ws: boolean; crlf: boolean; blank: boolean; bom: boolean; scanned?: boolean }): Buffer {
  const r = prng(seed);
  const out: string[] = [];
  for (let i = 0; i < rows; i++) {
    out.push(line(r, i, opts.scanned ? SCANNED_VALUES : ITEM_VALUES, opts));
    if (opts.blank && r() < 0.001) out.push('');
  }
  const text = out.join(opts.crlf ? '\r\n' : '\n') + (r() < 0.5 ? '\n' : '');
  return Buffer.from((opts.bom ? '\uFEFF' : '') + text, 'utf8');
}

/** a file's bytes as pieces of `size` bytes (a line, a character, a CRLF may be cut anywhere) */
async function* pieces(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let o = 0; o < bytes.length; o += size) yield bytes.subarray(o, Math.min(bytes.length, o + size));
}

interface Out {
  batches: A.RecordBatch[];
  /** batches built by the scanner */
  scanned: number;
  error?: CqPipeError;
}

/** batches of what a reader yields: rows go into a RowBatchBuilder closed every `batchRows` rows, a scanned batch as it is */
async function collect(items: AsyncIterable<NdjsonItem | RowChunk>, schema: A.Schema, batchRows: number): Promise<Out> {
  const builder = new RowBatchBuilder(schema);
  const out: Out = { batches: [], scanned: 0 };
  try {
    for await (const item of items) {
      if ('batch' in item) {
        if (builder.length !== 0) throw new Error('a scanned batch while the builder holds rows');
        out.batches.push(item.batch);
        out.scanned++;
        continue;
      }
      for (const row of ('chunk' in item ? item.chunk : item).rows) {
        builder.push(row);
        if (builder.length >= batchRows) out.batches.push(builder.finish());
      }
    }
    if (builder.length) out.batches.push(builder.finish());
  } catch (err) {
    if (!(err instanceof CqPipeError)) throw err;
    out.error = err;
  }
  return out;
}

const viaScanner = (bytes: Buffer, schema: A.Schema, batchRows: number, size: number): Promise<Out> =>
  collect(ndjsonBatches(pieces(bytes, size), 'f.ndjson', schema, batchRows), schema, batchRows);

const viaLines = (bytes: Buffer, schema: A.Schema, batchRows: number): Promise<Out> =>
  collect(ndjsonRows(Readable.from([bytes]), 'f.ndjson', { signal: new AbortController().signal, csv: {} as ReadContext['csv'] }), schema, batchRows);

const ipc = (batches: A.RecordBatch[]): Buffer => Buffer.from(A.tableToIPC(new A.Table(batches[0]!.schema, batches), 'stream'));
const errorOf = (e?: CqPipeError) => e && { code: e.code, message: e.message, context: e.context };

t.test('generated files: the same Arrow bytes by the scanner and by JSON.parse, cut every way', async (t) => {
  const cases = [
    { seed: 1, rows: 5000, extra: false, ws: false, crlf: false, blank: false, bom: false },
    { seed: 2, rows: 5000, extra: false, ws: true, crlf: false, blank: false, bom: false },
    { seed: 3, rows: 5000, extra: false, ws: false, crlf: true, blank: false, bom: true },
    { seed: 4, rows: 5000, extra: true, ws: true, crlf: true, blank: true, bom: false },
    { seed: 5, rows: 5000, extra: false, ws: true, crlf: false, blank: false, bom: false, scanned: true },
    { seed: 6, rows: 5000, extra: false, ws: false, crlf: true, blank: false, bom: true, scanned: true },
  ];
  for (const c of cases) {
    const bytes = cleanFile(c.seed, c.rows, c);
    const want = await viaLines(bytes, ITEMS, 100);
    t.equal(want.error, undefined, `seed ${c.seed}: the general path reads it`);
    t.equal(
      want.batches.reduce((n, b) => n + b.numRows, 0),
      c.rows,
      `seed ${c.seed}: ${c.rows} rows`,
    );
    for (const size of [1, 7, 4096, 65536, bytes.length]) {
      if (size === 1 && c.seed !== 1) continue; // byte by byte once: slow
      const got = await viaScanner(bytes, ITEMS, 100, size);
      t.equal(errorOf(got.error), undefined, `seed ${c.seed}, pieces of ${size}: no error`);
      t.same(
        got.batches.map((b) => b.numRows),
        want.batches.map((b) => b.numRows),
        `seed ${c.seed}, pieces of ${size}: the same batch sizes`,
      );
      t.ok(ipc(got.batches).equals(ipc(want.batches)), `seed ${c.seed}, pieces of ${size}: the same Arrow IPC bytes`);
      // values the scanner reads itself: every batch is its own (a CRLF file's last line and a BOM's first batch too)
      if (c.scanned) t.equal(got.scanned, c.bom ? want.batches.length - 1 : want.batches.length, `seed ${c.seed}, pieces of ${size}: batches by the scanner`);
    }
  }
});

t.test('a file of the usual shape is read by the scanner, batch for batch', async (t) => {
  const UUID = '01234567-89ab-cdef-0123-456789abcdef';
  const r = prng(9);
  const lines = Array.from(
    { length: 3000 },
    (_, i) =>
      `{"id":"${UUID}","name":"n${i}","created_at":"2024-05-14T14:13:22.${String(i).padStart(6, '0')}Z",` +
      `"quantity":${Math.floor(r() * 1e6)},"active":${r() < 0.5},"price":${(r() * 1000).toFixed(2)},` +
      `"attrs":{"rank":${i},"tag":"t${i % 7}","score":${(r() * 100).toFixed(1)}}}`,
  );
  const bytes = Buffer.from(`${lines.join('\n')}\n`);
  const want = await viaLines(bytes, ITEMS, 1000);
  const got = await viaScanner(bytes, ITEMS, 1000, 65536);
  t.equal(got.scanned, 3, 'all 3 batches built by the scanner');
  t.ok(ipc(got.batches).equals(ipc(want.batches)), 'the same Arrow IPC bytes');
  // one odd line: only its batch is read the general way
  lines[1500] = lines[1500]!.replace('"quantity":', '"quantity":"7","q2":');
  const odd = Buffer.from(`${lines.join('\n')}\n`);
  const got2 = await viaScanner(odd, ITEMS, 1000, 65536);
  const want2 = await viaLines(odd, ITEMS, 1000);
  t.equal(got2.scanned, 2, 'the batch with the odd line is read the general way, the other two by the scanner');
  t.ok(ipc(got2.batches).equals(ipc(want2.batches)), 'the same Arrow IPC bytes with the odd line');
});

t.test('columns of other types go through the builder: the same bytes', async (t) => {
  const values: [string, readonly string[]][] = [
    ['n32', ['0', '-5', '2147483647', '"12"', '1.0', 'null']],
    ['day', ['"2024-05-14"', '"1970-01-01"', '19000', 'null']],
    ['tags', ['["a","b"]', '[]', '[null,"c"]', 'null']],
    ['big', ['"x"', '"ünï"', '"a\\nb"', '12', '{"o":1}', 'null']],
    ['f32', ['1.5', '-0', '3.4e38', '"2"', 'null']],
    ['ip', ['"10.0.0.1"', '"::1"', 'null']],
    ['u64', ['0', '18446744073709551615', '9007199254740993', '1234567890123456', '12345678901234.0', 'null']],
    ['flag', ['true', 'false', 'null']],
  ];
  const r = prng(5);
  const bytes = Buffer.from(`${Array.from({ length: 3000 }, (_, i) => line(r, i, values, { extra: false, ws: true })).join('\n')}\n`);
  const want = await viaLines(bytes, OTHER, 500);
  t.equal(want.error, undefined, 'the general path reads it');
  const got = await viaScanner(bytes, OTHER, 500, 4096);
  t.equal(errorOf(got.error), undefined, 'no error');
  t.equal(got.scanned, 6, 'every batch by the scanner');
  t.ok(ipc(got.batches).equals(ipc(want.batches)), 'the same Arrow IPC bytes');
});

t.test('a bad line: the same error, code, message and line both ways, wherever it is', async (t) => {
  const bad = [
    '{"id":"not-a-uuid"}',
    '{"quantity":1.5}',
    '{"quantity":9223372036854775808}',
    '{"created_at":"yesterday"}',
    '{"active":"maybe"}',
    '{"price":"cheap"}',
    '{"name":"unterminated}',
    '{"name":"x",}',
    '[1,2]',
    '"a string"',
    '{"attrs":' + '['.repeat(80) + ']'.repeat(80) + '}',
    '{"name":"a"} {"name":"b"}',
    '{"price":NaN}',
    '{"quantity":01}',
  ];
  const base = cleanFile(7, 2500, { extra: false, ws: false, crlf: false, blank: false, bom: false }).toString('utf8').split('\n');
  for (const [k, b] of bad.entries()) {
    for (const at of [0, 999, 1000, 2400]) {
      const lines = [...base];
      lines[at] = b;
      const bytes = Buffer.from(lines.join('\n'));
      const want = await viaLines(bytes, ITEMS, 1000);
      const got = await viaScanner(bytes, ITEMS, 1000, 65536);
      if (want.error) t.same(errorOf(got.error), errorOf(want.error), `bad line ${k} at ${at + 1}: ${want.error.message.slice(0, 60)}`);
      else t.ok(got.error === undefined && ipc(got.batches).equals(ipc(want.batches)), `bad line ${k} at ${at + 1}: read the same way both ways`);
    }
  }
  // invalid UTF-8 on line 1200
  const lines = [...base];
  const bytes = Buffer.concat([
    Buffer.from(lines.slice(0, 1199).join('\n') + '\n{"name":"'),
    Buffer.from([0xff, 0xfe]),
    Buffer.from('"}\n' + lines.slice(1200).join('\n')),
  ]);
  const want = await viaLines(bytes, ITEMS, 1000);
  const got = await viaScanner(bytes, ITEMS, 1000, 65536);
  t.match(errorOf(want.error), { code: 'CQ_ERR_SOURCE_DATA', message: /invalid UTF-8/, context: { line: 1200 } }, 'invalid UTF-8 named on line 1200');
  t.same(errorOf(got.error), errorOf(want.error), 'the same invalid UTF-8 error by the scanner');
});

t.test('edges: empty input, a BOM alone, blank lines only, one line without a newline, a line longer than every piece', async (t) => {
  const long = `{"name":"${'x'.repeat(200_000)}","quantity":5}`;
  const inputs: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['a BOM alone', Buffer.from('\uFEFF')],
    ['blank lines only', Buffer.from('\n\n  \n\r\n')],
    ['one line, no newline', Buffer.from('{"quantity":1}')],
    ['one line after a BOM, no newline', Buffer.from('\uFEFF{"quantity":1}')],
    ['a long line', Buffer.from(`{"quantity":1}\n${long}\n{"quantity":2}`)],
  ];
  for (const [what, bytes] of inputs) {
    const want = await viaLines(bytes, ITEMS, 2);
    for (const size of [1, 3, 65536]) {
      const got = await viaScanner(bytes, ITEMS, 2, size);
      t.same(errorOf(got.error), errorOf(want.error), `${what}, pieces of ${size}: the same error or none`);
      t.same(
        got.batches.map((b) => b.numRows),
        want.batches.map((b) => b.numRows),
        `${what}, pieces of ${size}: the same batches`,
      );
      if (want.batches.length) t.ok(ipc(got.batches).equals(ipc(want.batches)), `${what}, pieces of ${size}: the same Arrow IPC bytes`);
    }
  }
});

t.test('NDJSON written by DuckDB (an independent writer): the scanner reads it, the same bytes as JSON.parse, and the values DuckDB wrote', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'duck.ndjson');
  await duckdb(`COPY (
      SELECT uuid() AS id,
             CASE i % 4 WHEN 0 THEN 'plain ' || i WHEN 1 THEN 'ünï "quoted" \\ back' WHEN 2 THEN 'tab' || chr(9) || 'nl' || chr(10) ELSE NULL END AS name,
             TIMESTAMPTZ '2024-05-14 14:13:22.407268+00' + to_microseconds(i * 1234567) AS created_at,
             (i * 7919 - 2500000)::BIGINT AS quantity,
             i % 3 = 0 AS active,
             i / 7.0 AS price,
             {'rank': i, 'tag': 't' || (i % 5), 'nested': [i, i + 1]} AS attrs
      FROM range(5000) t(i)
    ) TO '${file}' (FORMAT json)`);
  const bytes = await readFile(file);
  const want = await viaLines(bytes, ITEMS, 1000);
  t.equal(want.error, undefined, 'the line reader reads it');
  const got = await viaScanner(bytes, ITEMS, 1000, 65536);
  t.equal(errorOf(got.error), undefined, 'the scanner reads it');
  t.equal(got.scanned, 5, 'all 5 batches by the scanner');
  t.ok(ipc(got.batches).equals(ipc(want.batches)), 'the same Arrow IPC bytes');
  // DuckDB's own reading of its file, against the scanner's values
  const duck = await duckdb(`SELECT name, epoch_us(created_at)::VARCHAR AS us, quantity::VARCHAR AS q, active, price, attrs::VARCHAR AS attrs
    FROM read_json('${file}', columns = {id: 'UUID', name: 'VARCHAR', created_at: 'TIMESTAMPTZ', quantity: 'BIGINT',
                                         active: 'BOOLEAN', price: 'DOUBLE', attrs: 'JSON'})`);
  const rows = got.batches.flatMap((b) => b.toArray());
  // the timestamps' µs as stored (toArray gives milliseconds)
  const micros = got.batches.flatMap((b) => [...(b.getChild('created_at')!.data[0]!.values as BigInt64Array)]);
  t.equal(rows.length, duck.length, '5000 rows both');
  const dec = new TextDecoder();
  let same = 0;
  rows.forEach((r, i) => {
    const d = duck[i]!;
    const ok =
      r.name === d.name &&
      String(micros[i]) === d.us &&
      String(r.quantity) === d.q &&
      r.active === d.active &&
      r.price === d.price &&
      JSON.stringify(JSON.parse(dec.decode(r.attrs))) === JSON.stringify(JSON.parse(String(d.attrs)));
    if (ok) same++;
  });
  t.equal(same, 5000, 'every value as DuckDB reads its own file');
});
