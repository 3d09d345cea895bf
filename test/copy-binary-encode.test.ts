/**
 * Binary COPY encoding of int64, µs timestamps, uuid, text and jsonb read straight from the column
 * buffers (no bigint or view per value): the bytes equal those of a bigint / DataView oracle written
 * here, for boundary values, nulls and sliced columns; and real Postgres reads the same values back.
 */
import * as A from 'apache-arrow';
import pg from 'pg';
import t from 'tap';
import { COPY_HEADER, COPY_TRAILER, encodeBatch } from '../connectors/postgresql/copy-binary.js';
import { freshDatabase } from './helpers/postgres.js';

const PG_EPOCH_US = 946_684_800_000_000n;
const TWO52 = 2n ** 52n;
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);
/** values around every edge of the number path: the ±2^52 cut, 32-bit carries, Postgres' epoch, int64 extremes */
const EDGES = [
  0n,
  1n,
  -1n,
  PG_EPOCH_US,
  PG_EPOCH_US - 1n,
  PG_EPOCH_US + 1n,
  2n ** 32n,
  2n ** 32n - 1n,
  -(2n ** 32n),
  -(2n ** 32n) - 1n,
  TWO52 - 1n,
  TWO52,
  -TWO52,
  -TWO52 - 1n,
  1_715_695_602_407_268n,
  -5_000_000_000_000_000n,
  9_000_000_000_000_000n,
  INT64_MAX,
  INT64_MIN,
];

function int64Data(type: A.Int64 | A.TimestampMicrosecond, values: bigint[], nulls: Set<number>): A.Data {
  const bitmap = new Uint8Array(Math.ceil(values.length / 8));
  values.forEach((_, i) => {
    if (!nulls.has(i)) bitmap[i >> 3]! |= 1 << (i & 7);
  });
  const nullBitmap = nulls.size ? bitmap : undefined;
  const data = BigInt64Array.from(values);
  return type instanceof A.Int64
    ? A.makeData({ type, length: values.length, nullCount: nulls.size, nullBitmap, data })
    : A.makeData({ type, length: values.length, nullCount: nulls.size, nullBitmap, data });
}

/** the oracle: one tuple per row of a single int8 / timestamp column, written with bigint and DataView */
function oracle(values: bigint[], nulls: Set<number>, shift: bigint): Buffer {
  const out = Buffer.alloc(values.length * 14);
  let p = 0;
  values.forEach((v, i) => {
    out.writeInt16BE(1, p);
    p += 2;
    if (nulls.has(i)) {
      out.writeInt32BE(-1, p);
      p += 4;
      return;
    }
    out.writeInt32BE(8, p);
    out.writeBigInt64BE(v - shift, p + 4);
    p += 12;
  });
  return out.subarray(0, p);
}

function encodeColumn(data: A.Data, name: string, pgType: string): Buffer {
  const field = new A.Field(name, data.type, true);
  const batch = new A.RecordBatch(new A.Schema([field]), A.makeData({ type: new A.Struct([field]), length: data.length, children: [data] }));
  return Buffer.concat([...encodeBatch(batch, [{ field, pgType }])]);
}

t.test('int64 and µs timestamps: the same bytes as bigint arithmetic, for every edge, with nulls and slices', async (t) => {
  // the int64 extremes are ±infinity as timestamps (test/pg-infinity.test.ts)
  const tsValues = EDGES.filter((v) => v !== INT64_MAX && v !== INT64_MIN);
  const nulls = new Set([2, 5]);
  const bigint = int64Data(new A.Int64(), EDGES, nulls);
  t.same(encodeColumn(bigint, 'q', 'bigint'), oracle(EDGES, nulls, 0n), 'bigint: every value exact');
  const ts = int64Data(new A.TimestampMicrosecond('UTC'), tsValues, nulls);
  t.same(encodeColumn(ts, 'at', 'timestamp with time zone'), oracle(tsValues, nulls, PG_EPOCH_US), 'timestamptz: shifted to 2000-01-01 exactly');
  // a slice starts mid-buffer: values are read relative to the slice
  const sliced = ts.slice(3, 6); // Data.slice(offset, length)
  t.same(encodeColumn(sliced, 'at', 'timestamp without time zone'), oracle(tsValues.slice(3, 9), new Set([2]), PG_EPOCH_US), 'sliced column');
  const slicedInt = bigint.slice(10, 7);
  t.same(encodeColumn(slicedInt, 'q', 'bigint'), oracle(EDGES.slice(10, 17), new Set(), 0n), 'sliced int64 column');
});

t.test('text, jsonb and uuid: the bytes of each value, short and long, sliced', async (t) => {
  const texts = ['', 'a', 'héllo', 'x'.repeat(64), 'y'.repeat(65), 'z'.repeat(1000), 'ünï🙂'];
  const utf8 = A.vectorFromArray(texts, new A.Utf8()).data[0]!;
  const enc = new TextEncoder();
  const want = (vals: string[], jsonb: boolean) =>
    Buffer.concat(
      vals.map((v) => {
        const b = Buffer.from(enc.encode(v));
        const head = Buffer.alloc(jsonb ? 7 : 6);
        head.writeInt16BE(1, 0);
        head.writeInt32BE(b.length + (jsonb ? 1 : 0), 2);
        if (jsonb) head[6] = 1;
        return Buffer.concat([head, b]);
      }),
    );
  t.same(encodeColumn(utf8, 's', 'text'), want(texts, false), 'text');
  t.same(encodeColumn(utf8.slice(2, 4), 's', 'text'), want(texts.slice(2, 6), false), 'sliced text');
  const json = A.vectorFromArray(['{"a":1}', '[]', `{"k":"${'v'.repeat(100)}"}`], new A.Utf8()).data[0]!;
  t.same(encodeColumn(json, 'j', 'jsonb'), want(['{"a":1}', '[]', `{"k":"${'v'.repeat(100)}"}`], true), 'jsonb: version byte then the text');
  const raw = Uint8Array.from({ length: 48 }, (_, i) => i * 5);
  const uuid = A.makeData({ type: new A.FixedSizeBinary(16), length: 3, data: raw });
  const wantUuid = Buffer.concat(
    [0, 1, 2].map((r) => {
      const head = Buffer.alloc(6);
      head.writeInt16BE(1, 0);
      head.writeInt32BE(16, 2);
      return Buffer.concat([head, Buffer.from(raw.subarray(r * 16, r * 16 + 16))]);
    }),
  );
  t.same(encodeColumn(uuid, 'u', 'uuid'), wantUuid, 'uuid: 16 bytes per value');
});

t.test('real Postgres reads back every edge timestamp and int64 exactly', async (t) => {
  const url = await freshDatabase('cb');
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  t.teardown(() => c.end());
  const tsValues = EDGES.filter((v) => v !== INT64_MAX && v !== INT64_MIN);
  await c.query('CREATE TABLE edges (q bigint, at timestamptz)');
  const q = int64Data(new A.Int64(), tsValues, new Set());
  const at = int64Data(new A.TimestampMicrosecond('UTC'), tsValues, new Set());
  const fields = [new A.Field('q', q.type, true), new A.Field('at', at.type, true)];
  const batch = new A.RecordBatch(new A.Schema(fields), A.makeData({ type: new A.Struct(fields), length: q.length, children: [q, at] }));
  const { from } = await import('pg-copy-streams');
  const stream = c.query(from('COPY edges FROM STDIN (FORMAT binary)'));
  const done = new Promise((resolve, reject) => {
    stream.on('finish', resolve);
    stream.on('error', reject);
  });
  stream.write(COPY_HEADER);
  for (const chunk of encodeBatch(batch, [
    { field: fields[0]!, pgType: 'bigint' },
    { field: fields[1]!, pgType: 'timestamp with time zone' },
  ]))
    stream.write(chunk);
  stream.end(COPY_TRAILER);
  await done;
  // Postgres' own arithmetic: µs since 1970 of each stored timestamp
  const r = await c.query("SELECT q::text, (extract(epoch from at - timestamptz '1970-01-01 00:00:00+00') * 1000000)::numeric(30,0)::text AS us FROM edges");
  t.equal(r.rows.length, tsValues.length, 'every row stored');
  t.same(
    r.rows.map((x) => x.q),
    tsValues.map(String),
    'bigint values exact',
  );
  t.same(
    r.rows.map((x) => x.us),
    tsValues.map(String),
    'timestamps exact to the µs',
  );
});
