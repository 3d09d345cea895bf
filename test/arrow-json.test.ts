import t from 'tap';
import * as A from 'apache-arrow';
import { parse as parseCsv } from 'csv-parse/sync';
import { batchToCsv, batchToJsonObjects, batchToNdjson, csvHeader, dayToDateString, formatDecimal, renderData } from '../lib/arrow-json.js';
import { defineTable, batchFromColumns } from '../lib/schema.js';
import { uuidData, varBinaryData } from '../lib/arrow/index.js';
import { fieldFor, parseColumnType } from '../lib/types.js';
import { generateBatch, testTableSchemas } from '../connectors/test-source.js';

const enc = new TextEncoder();

function column(type: string, values: unknown[]): { field: A.Field; data: A.Data } {
  const ct = parseColumnType(type);
  const field = fieldFor('c', ct, true);
  const b = A.makeBuilder({ type: ct.type, nullValues: [null] });
  for (const v of values) b.append(v);
  return { field, data: b.finish().flush() };
}

function json(type: string, values: unknown[]): unknown[] {
  const { field, data } = column(type, values);
  const schema = new A.Schema([field]);
  return batchToJsonObjects(batchFromColumns(schema, data.length, [data])).map((r) => r.c);
}

function text(field: A.Field, data: A.Data): (string | null)[] {
  const r = renderData(data, field, 'csv');
  return Array.from({ length: data.length }, (_, i) => Buffer.from(r.bytes.subarray(r.offsets[i]!, r.offsets[i + 1]!)).toString('utf8'));
}

t.test('integers: numbers when safe, strings beyond 2^53', async (t) => {
  t.same(json('int64', [0n, -1n, 9007199254740991n, 9007199254740992n, -9007199254740992n, -9223372036854775808n, null]), [
    0,
    -1,
    9007199254740991,
    '9007199254740992',
    '-9007199254740992',
    '-9223372036854775808',
    null,
  ]);
  t.same(json('uint64', [18446744073709551615n, 42n]), ['18446744073709551615', 42]);
  t.same(json('int8', [-128, 127, null]), [-128, 127, null]);
  t.same(json('uint32', [4294967295]), [4294967295]);
});

t.test('floats, NaN and infinities', async (t) => {
  t.same(json('float64', [1.5, -0, 1e21, 123456789.125, NaN, Infinity, -Infinity, null]), [1.5, 0, 1e21, 123456789.125, 'NaN', 'Infinity', '-Infinity', null]);
  t.same(json('float32', [0.5, -2]), [0.5, -2]);
});

t.test('decimals are exact strings', async (t) => {
  const words = (v: bigint) => {
    const u = BigInt.asUintN(128, v);
    return Uint32Array.from({ length: 4 }, (_, k) => Number((u >> BigInt(32 * k)) & 0xffffffffn));
  };
  t.same(json('decimal(38,3)', [words(12345n), words(-5n), words(0n), words(123456789012345678901234567890n), words(-123456789012345678901234567890n), null]), [
    '12.345',
    '-0.005',
    '0.000',
    '123456789012345678901234567.890',
    '-123456789012345678901234567.890',
    null,
  ]);
  t.same(json('decimal(10,0)', [words(-42n)]), ['-42']);
  t.equal(formatDecimal(5n, 4), '0.0005');
  t.equal(formatDecimal(-12, -2), '-1200');
});

t.test('dates, times and timestamps', async (t) => {
  t.equal(dayToDateString(0), '1970-01-01');
  t.equal(dayToDateString(-1), '1969-12-31');
  t.equal(dayToDateString(19783), '2024-03-01');
  t.equal(dayToDateString(11016), '2000-02-29');
  t.same(json('date32', [Date.UTC(2024, 1, 29), Date.UTC(1900, 0, 1), null]), ['2024-02-29', '1900-01-01', null]);
  t.same(json('time64', [0n, 86_399_999_999n, 3_723_000_001n]), ['00:00:00.000000', '23:59:59.999999', '01:02:03.000001']);
  // timestamps as raw µs
  const us = new BigInt64Array([1_704_067_200_123_456n, -1n, 0n, 253_402_300_799_999_999n]);
  const tsField = fieldFor('c', parseColumnType('timestamp'), true);
  const ts = A.makeData({ type: new A.TimestampMicrosecond('UTC'), length: 4, nullCount: 0, data: us });
  t.same(text(tsField, ts), ['2024-01-01T00:00:00.123456Z', '1969-12-31T23:59:59.999999Z', '1970-01-01T00:00:00.000000Z', '9999-12-31T23:59:59.999999Z']);
  const ns = A.makeData({ type: new A.TimestampNanosecond(), length: 2, nullCount: 0, data: new BigInt64Array([1_704_067_200_123_456_789n, -1n]) });
  t.same(text(new A.Field('c', ns.type), ns), ['2024-01-01T00:00:00.123456789', '1969-12-31T23:59:59.999999999'], 'ns precision; no Z without a time zone');
  const sec = A.makeData({ type: new A.TimestampSecond('UTC'), length: 1, nullCount: 0, data: new BigInt64Array([86_400n]) });
  t.same(text(new A.Field('c', sec.type), sec), ['1970-01-02T00:00:00Z']);
});

t.test('strings are escaped, multi-byte text passes through', async (t) => {
  const vals = ['plain', 'quote " and \\ backslash', 'line\nbreak\ttab\u0001', 'ünïcødé ✓ 𝄞', '', null];
  t.same(json('utf8', vals), vals);
  t.same(json('large_utf8', ['a', null]), ['a', null]);
});

t.test('extension columns: uuid, json, inet', async (t) => {
  const bytes = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
  const uuidField = fieldFor('u', parseColumnType('uuid'), true);
  const jsonField = fieldFor('j', parseColumnType('json'), true);
  const inetField = fieldFor('i', parseColumnType('inet'), true);
  const schema = new A.Schema([uuidField, jsonField, inetField]);
  const batch = batchFromColumns(schema, 2, [
    uuidData(bytes, 2, (i) => i === 0),
    varBinaryData(new A.Binary(), [enc.encode('{\n  "a": [1, 2],\r\n  "b": "x\\ny"\n}'), enc.encode('   ')]),
    varBinaryData(new A.Binary(), [enc.encode('10.0.0.1'), null]),
  ]);
  const rows = batchToJsonObjects(batch);
  t.same(rows[0], { u: '00070e15-1c23-2a31-383f-464d545b6269', j: { a: [1, 2], b: 'x\ny' }, i: '10.0.0.1' });
  t.same(rows[1], { u: null, j: null, i: null }, 'blank json text is null');
  t.equal(batchToNdjson(batch).toString().split('\n').length, 3, 'embedded JSON keeps one row per line');
});

t.test('binary is base64', async (t) => {
  t.same(json('binary', [Uint8Array.from([0, 255]), Uint8Array.from([1, 2, 3]), Uint8Array.from([4, 5, 6, 7]), new Uint8Array(0), null]), [
    'AP8=',
    'AQID',
    'BAUGBw==',
    '',
    null,
  ]);
});

t.test('lists, structs, maps and dictionaries', async (t) => {
  t.same(json('list<int64>', [[1n, null, 3n], [], null]), [[1, null, 3], [], null]);
  t.same(json('list<utf8>', [['a', 'b"c']]), [['a', 'b"c']]);
  t.same(json('struct<a: int64, b: utf8>', [{ a: 1n, b: 'x' }, { a: null, b: null }, null]), [{ a: 1, b: 'x' }, { a: null, b: null }, null]);
  t.same(json('list<struct<x: bool>>', [[{ x: true }, { x: false }]]), [[{ x: true }, { x: false }]]);

  const entries: A.Field[] = [new A.Field('key', new A.Utf8(), false), new A.Field('value', new A.Int32(), true)];
  const mapType = new A.Map_(new A.Field('entries', new A.Struct<{ key: A.Utf8; value: A.Int32 }>(entries), false));
  const mb = A.makeBuilder({ type: mapType, nullValues: [null] });
  mb.append(
    new Map([
      ['k1', 1],
      ['k2', null],
    ]) as unknown as A.MapRow<A.Utf8, A.Int32>,
  );
  mb.append(null);
  const map = mb.finish().flush();
  const mapSchema = new A.Schema([new A.Field('c', mapType, true)]);
  t.same(
    batchToJsonObjects(batchFromColumns(mapSchema, 2, [map])).map((r) => r.c),
    [{ k1: 1, k2: null }, null],
  );

  const dict = A.vectorFromArray(['red', 'green', 'red', null], new A.Dictionary(new A.Utf8(), new A.Int32()));
  const dictSchema = new A.Schema([new A.Field('c', dict.type, true)]);
  t.same(
    batchToJsonObjects(batchFromColumns(dictSchema, 4, [dict.data[0]!])).map((r) => r.c),
    ['red', 'green', 'red', null],
  );
});

t.test('sliced batches (offsets in bitmaps and buffers) render the right rows', async (t) => {
  const spec = { num_tables: 1, num_rows: 40, seed: 7, batch_rows: 40, preset: 'all-types' as const, incremental: false };
  const [schema] = testTableSchemas(spec);
  const batch = generateBatch(spec, schema!, 0, 0, 40);
  const whole = batchToJsonObjects(batch);
  for (const [a, b] of [
    [3, 17],
    [13, 40],
    [0, 1],
  ] as const) {
    t.same(batchToJsonObjects(batch.slice(a, b)), whole.slice(a, b), `slice ${a}..${b}`);
  }
  t.equal(whole.length, 40);
  t.equal(whole[6]!.utf8_col, null, 'every 7th row is null');
  t.equal(whole[6]!.id, 6, 'except the primary key');
  t.same(whole[1], {
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
    float64_col: whole[1]!.float64_col,
    decimal_col: '-1.006',
    utf8_col: 'bravo 1',
    large_utf8_col: 'large 1',
    binary_col: 'AQAA/w==',
    date32_col: '2024-01-02',
    time64_col: '00:00:01.123456',
    timestamp_col: '2024-01-01T00:00:01.000000Z',
    uuid_col: whole[1]!.uuid_col,
    json_col: { row: 1, tags: ['a', 'b'], nested: { ok: false } },
    inet_col: '10.0.0.1',
    list_col: [1, 2, -1],
    struct_col: { a: 1, b: 's1' },
  });
  t.match(whole[1]!.uuid_col, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

t.test('CSV: header, RFC 4180 quoting, null vs empty string', async (t) => {
  const schema = defineTable({
    name: 't',
    columns: [
      { name: 'id', type: 'int64' },
      { name: 'a,b', type: 'utf8' },
      { name: 'l', type: 'list<int32>' },
      { name: 'j', type: 'json' },
    ],
  });
  t.equal(csvHeader(schema), 'id,"a,b",l,j\n');
  const ib = A.makeBuilder({ type: new A.Int64(), nullValues: [null] });
  const sb = A.makeBuilder({ type: new A.Utf8(), nullValues: [null] });
  const lb = A.makeBuilder({ type: schema.fields[2]!.type, nullValues: [null] });
  for (const [i, s, l] of [
    [1n, 'plain', [1, 2]],
    [2n, 'say "hi", ok', null],
    [3n, '', []],
    [null, null, [3]],
    [5n, 'two\nlines', null],
  ] as const) {
    ib.append(i);
    sb.append(s);
    lb.append(l);
  }
  const j = varBinaryData(new A.Binary(), [enc.encode('{"x":1}'), null, enc.encode('"s"'), null, null]);
  const batch = batchFromColumns(schema, 5, [ib.finish().flush(), sb.finish().flush(), lb.finish().flush(), j]);
  const csv = batchToCsv(batch).toString();
  t.equal(csv.split('\n')[0], '1,plain,"[1,2]","{""x"":1}"');
  t.equal(csv.split('\n')[1], '2,"say ""hi"", ok",,');
  t.equal(csv.split('\n')[2], '3,"",[],"""s"""');
  t.equal(csv.split('\n')[3], ',,[3],');
  const rows = parseCsv(csvHeader(schema) + csv, {
    columns: true,
    cast: (v: string, ctx: { quoting: boolean }) => (v === '' && !ctx.quoting ? null : v),
  }) as Record<string, unknown>[];
  t.equal(rows.length, 5);
  t.same(
    rows.map((r) => r['a,b']),
    ['plain', 'say "hi", ok', '', null, 'two\nlines'],
  );
  t.same(
    rows.map((r) => r.id),
    ['1', '2', '3', null, '5'],
  );
});
