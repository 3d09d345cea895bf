/** The Arrow kernels of lib/arrow/, each checked with numbers (sliced Data, odd offsets, nulls, edges). */
import t from 'tap';
import * as A from 'apache-arrow';
import { bitmapBytes, countNulls, getBit, nullData, nullFlags, nullTest, realignedBitmap, setBit, validityBitmap, validTest } from '../lib/arrow/bitmap.js';
import {
  bytesEqual,
  constantUtf8Data,
  decoder,
  encoder,
  isVarBinary,
  mapVarColumn,
  utf8Data,
  valueOffsetAt,
  varBinaryData,
  varBuffers,
  varBytes,
  varData,
} from '../lib/arrow/var-binary.js';
import { takeData, takeRows } from '../lib/arrow/take.js';
import { randomUuidBytes, uuidData, uuidFromString, uuidToString, writeUuidText } from '../lib/arrow/uuid.js';
import {
  MS_PER_DAY,
  PG_EPOCH_DAYS,
  PG_EPOCH_US,
  UNIT_DIGITS,
  UNIT_PER_SEC,
  civilFromDays,
  constantTimestampData,
  dateToMicros,
  dayToDateString,
  microsToIso,
  timeToMicros,
  timestampToMicros,
} from '../lib/arrow/time.js';
import { decimalToBigInt, decimalToSafeInteger, formatDecimal, parseDecimal, writeDecimal } from '../lib/arrow/decimal.js';
import * as kernels from '../lib/arrow/index.js';

/** A column built by Arrow's own builder (the reference the kernels must agree with). */
function built(type: A.DataType, values: unknown[]): A.Data {
  const b = A.makeBuilder({ type, nullValues: [null] });
  for (const v of values) b.append(v);
  return b.finish().flush();
}

const ints = (n: number, nullEvery: number) => Array.from({ length: n }, (_, i) => (i % nullEvery === 0 ? null : i * 10));

t.test('bitmap: bytes, bits, build (bit set = valid)', async (t) => {
  t.same([0, 1, 7, 8, 9, 16, 17].map(bitmapBytes), [0, 1, 1, 1, 2, 2, 3]);
  const bits = new Uint8Array(2);
  for (const i of [0, 3, 7, 8, 13]) setBit(bits, i);
  t.same(Array.from(bits), [0b10001001, 0b00100001]);
  t.same(
    Array.from({ length: 16 }, (_, i) => getBit(bits, i)),
    [1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0],
  );

  const v = validityBitmap(11, (i) => i % 3 !== 0); // rows 0, 3, 6, 9 null
  t.equal(v.nullCount, 4);
  t.same(Array.from(v.bitmap!), [0b10110110, 0b00000101]);
  t.same(
    validityBitmap(9, () => true),
    { nullCount: 0 },
    'no bitmap when every row is valid',
  );
  t.same(
    validityBitmap(0, () => false),
    { nullCount: 0 },
  );
  const all = validityBitmap(3, () => false);
  t.equal(all.nullCount, 3);
  t.same(Array.from(all.bitmap!), [0]);
});

t.test('bitmap: countNulls over any bit range agrees with a bit-by-bit count', async (t) => {
  const bits = new Uint8Array([0b10110110, 0xff, 0x00, 0b01010101, 0b11100001]);
  const naive = (off: number, len: number) => {
    let n = 0;
    for (let i = off; i < off + len; i++) n += getBit(bits, i) ^ 1;
    return n;
  };
  for (const [off, len] of [
    [0, 40],
    [0, 0],
    [3, 0],
    [3, 5],
    [3, 13],
    [5, 30],
    [7, 33],
    [8, 8],
    [16, 8],
    [1, 39],
    [13, 19],
  ] as const) {
    t.equal(countNulls(bits, off, len), naive(off, len), `offset ${off}, length ${len}`);
  }
  t.equal(countNulls(bits, 0, 40), 19);
  t.equal(countNulls(bits, 16, 8), 8);
  t.equal(countNulls(bits, 8, 8), 0);
});

t.test('bitmap: null tests and flags of sliced columns read at the slice offset', async (t) => {
  const values = ints(40, 3); // rows 0, 3, 6, … null
  const data = built(new A.Int32(), values);
  for (const [off, len] of [
    [0, 40],
    [1, 20],
    [3, 13],
    [5, 30],
    [13, 27],
    [8, 16],
  ] as const) {
    const s = data.slice(off, len);
    const want = values.slice(off, off + len).map((x) => (x === null ? 1 : 0));
    const isNull = nullTest(s)!;
    const isValid = validTest(s)!;
    t.same(
      Array.from({ length: len }, (_, i) => (isNull(i) ? 1 : 0)),
      want,
      `nullTest at offset ${off}`,
    );
    t.same(
      Array.from({ length: len }, (_, i) => (isValid(i) ? 0 : 1)),
      want,
      `validTest at offset ${off}`,
    );
    t.same(Array.from(nullFlags(s)!), want, `nullFlags at offset ${off}`);
    t.equal(countNulls(s.nullBitmap!, s.offset, s.length), want.filter(Boolean).length, `countNulls = ${want.filter(Boolean).length} at offset ${off}`);
    t.equal(s.nullCount, want.filter(Boolean).length);
  }
  const clean = built(new A.Int32(), [1, 2, 3]);
  t.equal(nullTest(clean), undefined, 'no nulls: no test');
  t.equal(validTest(clean), undefined);
  t.equal(nullFlags(clean), undefined);
  const nul = built(new A.Null(), [null, null]);
  t.equal(nullTest(nul)!(1), true, 'a Null column: every row null');
  t.same(Array.from(nullFlags(nul)!), [1, 1]);
  const noNullsInSlice = data.slice(1, 2); // rows 1, 2: both valid
  t.equal(nullTest(noNullsInSlice), undefined, 'a slice without nulls has no test');
});

t.test('bitmap: realignedBitmap re-bases a slice to bit 0', async (t) => {
  const values = ints(40, 3);
  const data = built(new A.Int32(), values);
  const aligned = data.slice(16, 10);
  const a = realignedBitmap(aligned)!;
  t.equal(a.buffer, data.nullBitmap!.buffer, 'byte-aligned offset: a view');
  t.equal(a.length, 2);
  const odd = data.slice(5, 11);
  const b = realignedBitmap(odd)!;
  t.equal(b.length, 2);
  t.same(
    Array.from({ length: 11 }, (_, i) => getBit(b, i)),
    values.slice(5, 16).map((x) => (x === null ? 0 : 1)),
  );
  t.equal(getBit(b, 11), 0, 'bits past the length stay clear');
  t.equal(realignedBitmap(built(new A.Int32(), [1, 2])), undefined);
  const n = nullData(new A.Utf8(), 5);
  t.equal(n.length, 5);
  t.equal(n.nullCount, 5);
  t.same(A.makeVector(n).toArray(), [null, null, null, null, null]);
});

t.test('var-binary: offsets and values with empty strings and nulls', async (t) => {
  const rows = [encoder.encode('ab'), null, new Uint8Array(0), encoder.encode('é'), null, encoder.encode('xyz')];
  const { offsets, data } = varBuffers(rows, false);
  t.ok(offsets instanceof Int32Array);
  t.same(Array.from(offsets as Int32Array), [0, 2, 2, 2, 4, 4, 7]);
  t.equal(decoder.decode(data), 'abéxyz');
  const big = varBuffers(rows, true).offsets;
  t.ok(big instanceof BigInt64Array);
  t.same(Array.from(big as BigInt64Array), [0n, 2n, 2n, 2n, 4n, 4n, 7n]);

  const d = varData(new A.Utf8(), rows);
  t.equal(d.nullCount, 2);
  t.same(A.makeVector(d).toArray(), ['ab', null, '', 'é', null, 'xyz'], 'empty string stays empty, null stays null');
  const large = varData(new A.LargeUtf8(), rows);
  t.same(A.makeVector(large).toArray(), ['ab', null, '', 'é', null, 'xyz']);
  t.same(varData(new A.Binary(), [undefined as unknown as null, encoder.encode('q')]).nullCount, 1, 'varData: undefined is null');

  const vb = varBinaryData(new A.Binary(), [encoder.encode('a'), null, new Uint8Array(0)]);
  t.equal(vb.nullCount, 1);
  t.same(Array.from(vb.valueOffsets as Int32Array), [0, 1, 1, 1]);
  t.same(A.makeVector(utf8Data(['', null, 'z'])).toArray(), ['', null, 'z']);
  t.same(varBinaryData(new A.Utf8(), []).length, 0);

  const c = constantUtf8Data('ab', 3);
  t.same(Array.from(c.valueOffsets as Int32Array), [0, 2, 4, 6]);
  t.equal(c.nullCount, 0);
  const empty = constantUtf8Data('', 4);
  t.same(Array.from(empty.valueOffsets as Int32Array), [0, 0, 0, 0, 0]);
  t.same(A.makeVector(empty).toArray(), ['', '', '', '']);
});

t.test('var-binary: byte views of sliced columns, mapVarColumn, bytesEqual', async (t) => {
  const strs = ['a', null, '', 'dddd', 'ee', null, 'g'];
  for (const type of [new A.Utf8(), new A.LargeUtf8()]) {
    const d = built(type, strs);
    const s = d.slice(3, 4); // 'dddd', 'ee', null, 'g'
    const get = varBytes(s);
    t.same(
      [0, 1, 3].map((i) => decoder.decode(get(i))),
      ['dddd', 'ee', 'g'],
      `${type} slice`,
    );
    const at = valueOffsetAt(s);
    t.same(
      [0, 1, 2, 3, 4].map((i) => at(i) - at(0)),
      [0, 4, 6, 6, 7],
    );
    const up = mapVarColumn(s, (b) => encoder.encode(decoder.decode(b).toUpperCase()));
    t.equal(up.type.typeId, type.typeId, 'type kept');
    t.same(A.makeVector(up).toArray(), ['DDDD', 'EE', null, 'G']);
  }
  t.ok(isVarBinary(new A.LargeBinary()));
  t.notOk(isVarBinary(new A.FixedSizeBinary(16)));
  t.ok(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])));
  t.notOk(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])));
  t.notOk(bytesEqual(new Uint8Array([1]), new Uint8Array([1, 0])));
  t.ok(bytesEqual(new Uint8Array(0), new Uint8Array(0)));
});

t.test('take: rows by index with nulls, from sliced columns', async (t) => {
  const keep = Int32Array.from([0, 2, 3, 7]);
  const intVals = ints(20, 3);
  const ints32 = built(new A.Int32(), intVals).slice(5, 10); // rows 5..14: 50, null, 70, 80, null, 100, 110, null, 130, 140
  const ti = takeData(ints32, keep);
  t.same(Array.from(A.makeVector(ti)), [50, 70, 80, null]);
  t.equal(ti.nullCount, 1);

  const boolVals = [true, null, false, true, true, null, false, false, true, true, null, true];
  const bools = built(new A.Bool(), boolVals).slice(3, 9); // true, true, null, false, false, true
  t.same(Array.from(A.makeVector(takeData(bools, Int32Array.from([0, 2, 3, 5])))), [true, null, false, true]);

  const strs = built(new A.Utf8(), ['a', null, '', 'dddd', 'ee', null, 'g']).slice(1, 6); // null, '', 'dddd', 'ee', null
  t.same(Array.from(A.makeVector(takeData(strs, Int32Array.from([0, 1, 3, 4])))), [null, '', 'ee', null]);

  const i64 = built(new A.Int64(), [1n, -2n, null, 4n, 9007199254740993n]).slice(1, 4);
  t.same(Array.from(A.makeVector(takeData(i64, Int32Array.from([0, 2])))), [-2n, 4n]);

  const uuids = uuidData(
    Uint8Array.from({ length: 48 }, (_, i) => i),
    3,
    (i) => i !== 1,
  );
  const tu = takeData(uuids, Int32Array.from([1, 2]));
  t.equal(tu.nullCount, 1);
  t.equal(uuidToString(tu.values as Uint8Array, 16), uuidToString(uuids.values as Uint8Array, 32));

  const listType = new A.List(new A.Field('item', new A.Int32(), true));
  const lists = built(listType, [[1, 2], null, [], [3, null, 4], [5]]);
  const tl = A.makeVector(takeData(lists, Int32Array.from([0, 1, 3])));
  t.same(
    Array.from(tl, (x: unknown) => (x ? Array.from(x as Iterable<unknown>) : x)),
    [[1, 2], null, [3, null, 4]],
  );

  const structType = new A.Struct([new A.Field('a', new A.Int32(), true), new A.Field('b', new A.Utf8(), true)]);
  const structs = built(structType, [{ a: 1, b: 'x' }, null, { a: null, b: 'z' }]);
  const ts = takeData(structs, Int32Array.from([1, 2]));
  t.equal(ts.nullCount, 1);
  t.same((A.makeVector(ts).get(1) as { toJSON(): unknown }).toJSON(), { a: null, b: 'z' });

  const nulls = takeData(built(new A.Null(), [null, null, null]), Int32Array.from([2]));
  t.equal(nulls.length, 1);
  t.equal(nulls.nullCount, 1);
});

t.test('take: takeRows keeps all, none, one run (zero-copy) or a gather', async (t) => {
  const a = built(new A.Int32(), [1, null, 3, 4, 5]);
  const b = built(new A.Utf8(), ['a', 'b', null, 'd', 'e']);
  const all = takeRows([a, b], 5, Uint8Array.from([1, 1, 1, 1, 1]));
  t.equal(all.cols[0], a, 'all kept: the same Data');
  t.equal(takeRows([a, b], 5, new Uint8Array(5)).length, 0);
  const run = takeRows([a, b], 5, Uint8Array.from([0, 1, 1, 1, 0]));
  t.equal(run.length, 3);
  t.equal(run.cols[0]!.offset, 1, 'one run: a slice');
  t.equal(run.cols[0]!.values.buffer, a.values.buffer);
  t.same(Array.from(A.makeVector(run.cols[1]!)), ['b', null, 'd']);
  const gather = takeRows([a, b], 5, Uint8Array.from([1, 1, 0, 0, 1]));
  t.equal(gather.length, 3);
  t.same(Array.from(A.makeVector(gather.cols[0]!)), [1, null, 5]);
  t.same(Array.from(A.makeVector(gather.cols[1]!)), ['a', 'b', 'e']);
});

t.test('uuid: text ↔ bytes round trip', async (t) => {
  const s = '0123abcd-4567-89ef-fedc-ba9876543210';
  const bytes = uuidFromString(s)!;
  t.same(Array.from(bytes), [0x01, 0x23, 0xab, 0xcd, 0x45, 0x67, 0x89, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10]);
  t.equal(uuidToString(bytes), s);
  t.same(uuidFromString('0123ABCD456789EFFEDCBA9876543210'), bytes, '32 bare hex digits, upper case');
  t.equal(uuidFromString('0123abcd-4567-89ef-fedc-ba987654321'), undefined, 'too short');
  t.equal(uuidFromString('0123abcd-4567-89ef-fedc_ba9876543210'), undefined, 'dash misplaced');
  t.equal(uuidFromString('0123abcd-4567-89ef-fedc-ba987654321g'), undefined, 'not hex');
  t.equal(uuidFromString('0123abcd-4567-89ef-fedc-ba98765432é0'), undefined, 'not ASCII');
  const into = new Uint8Array(40);
  t.equal(uuidFromString(s, into, 20), into);
  t.equal(uuidToString(into, 20), s, 'at an offset');

  const text = new Uint8Array(40);
  t.equal(writeUuidText(text, 2, into, 20), 38);
  t.equal(decoder.decode(text.subarray(2, 38)), s);

  const rnd = randomUuidBytes(3, (b) => b.fill(0xff));
  for (let i = 0; i < 3; i++) {
    t.equal(rnd[i * 16 + 6]! >> 4, 4, 'version 4');
    t.equal(rnd[i * 16 + 8]! >> 6, 2, 'variant 10');
    t.match(uuidToString(rnd, i * 16), /^ffffffff-ffff-4fff-bfff-ffffffffffff$/);
  }
  const col = uuidData(rnd, 3, (i) => i !== 2);
  t.equal(col.nullCount, 1);
  t.equal((col.type as A.FixedSizeBinary).byteWidth, 16);
  t.equal(uuidData(rnd, 3).nullCount, 0);
});

t.test('uuid: writeUuidText (unrolled) writes what uuidToString gives, every byte value, only its 36 bytes', async (t) => {
  let seed = 7;
  const src = new Uint8Array(16 * 300);
  for (let i = 0; i < src.length; i++) src[i] = i < 256 * 2 ? i >> 1 : (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  const out = new Uint8Array(36 * 300 + 5).fill(0x21);
  let p = 3;
  let bad = 0;
  for (let i = 0; i < 300; i++) {
    const next = writeUuidText(out, p, src, i * 16);
    if (next !== p + 36 || decoder.decode(out.subarray(p, next)) !== uuidToString(src, i * 16)) bad++;
    p = next;
  }
  t.equal(bad, 0, '300 uuids, each byte value 0…255 in every position of the first 32');
  t.same([...out.subarray(0, 3), ...out.subarray(p)], [0x21, 0x21, 0x21, 0x21, 0x21], 'nothing written outside');
});

t.test('time: civil dates and day numbers at the edges', async (t) => {
  const out = new Int32Array(3);
  const civil = (d: number) => {
    civilFromDays(d, out);
    return Array.from(out);
  };
  t.same(civil(0), [1970, 1, 1]);
  t.same(civil(-1), [1969, 12, 31]);
  t.same(civil(59), [1970, 3, 1]);
  t.same(civil(11016), [2000, 2, 29]);
  t.same(civil(PG_EPOCH_DAYS), [2000, 1, 1]);
  t.same(civil(-719468), [0, 3, 1]);
  t.same(civil(-719469), [0, 2, 29], 'year 0 is a leap year');
  t.same(civil(2932896), [9999, 12, 31]);
  for (const d of [-1_000_000, -719529, -1, 0, 1, 365, 10_000, 2_932_897]) {
    const iso = new Date(d * MS_PER_DAY).toISOString();
    t.equal(dayToDateString(d), iso.slice(0, iso.indexOf('T')), `day ${d}`);
  }
  t.equal(dayToDateString(2_932_897), '+010000-01-01');
  t.equal(dayToDateString(-719529), '-000001-12-31');
});

t.test('time: units, µs conversions, text', async (t) => {
  t.same(UNIT_PER_SEC, [1, 1000, 1_000_000, 1_000_000_000]);
  t.same(UNIT_DIGITS, [0, 3, 6, 9]);
  t.equal(PG_EPOCH_US, BigInt(Date.UTC(2000, 0, 1)) * 1000n);
  t.equal(PG_EPOCH_DAYS * MS_PER_DAY, Date.UTC(2000, 0, 1));
  const units = [A.TimeUnit.SECOND, A.TimeUnit.MILLISECOND, A.TimeUnit.MICROSECOND, A.TimeUnit.NANOSECOND];
  t.same(
    units.map((u) => timestampToMicros(u)(-3n)),
    [-3_000_000n, -3000n, -3n, 0n],
  );
  t.equal(timestampToMicros(A.TimeUnit.NANOSECOND)(-1999n), -1n, 'ns → µs truncates toward zero');
  t.equal(timestampToMicros(A.TimeUnit.NANOSECOND)(1_700_000_000_123_456_789n), 1_700_000_000_123_456n);
  t.same(
    [A.TimeUnit.SECOND, A.TimeUnit.MILLISECOND].map((u) => timeToMicros(u)(86399)),
    [86_399_000_000n, 86_399_000n],
  );
  t.same(
    [A.TimeUnit.MICROSECOND, A.TimeUnit.NANOSECOND].map((u) => timeToMicros(u)(86_399_999_999n)),
    [86_399_999_999n, 86_399_999n],
  );
  t.equal(microsToIso(0n), '1970-01-01T00:00:00.000000Z');
  t.equal(microsToIso(-1n), '1969-12-31T23:59:59.999999Z');
  t.equal(microsToIso(-1000n), '1969-12-31T23:59:59.999000Z');
  t.equal(microsToIso(-1001n), '1969-12-31T23:59:59.998999Z');
  t.equal(microsToIso(1_000_001n), '1970-01-01T00:00:01.000001Z');
  t.equal(microsToIso(PG_EPOCH_US), '2000-01-01T00:00:00.000000Z');
  t.equal(dateToMicros(new Date(-1)), -1000n);
  const c = constantTimestampData(-1n, 3);
  t.same(Array.from(c.values as BigInt64Array), [-1n, -1n, -1n]);
  t.equal((c.type as A.Timestamp).timezone, 'UTC');
  t.equal((c.type as A.Timestamp).unit, A.TimeUnit.MICROSECOND);
});

t.test('decimal: formatting, words, safe-number fast path, parsing', async (t) => {
  t.equal(formatDecimal(12345n, 2), '123.45');
  t.equal(formatDecimal(-12345n, 2), '-123.45');
  t.equal(formatDecimal(-5n, 3), '-0.005');
  t.equal(formatDecimal(0n, 2), '0.00');
  t.equal(formatDecimal(-7, 0), '-7', 'scale 0');
  t.equal(formatDecimal(0, 0), '0');
  t.equal(formatDecimal(12, -3), '12000', 'negative scale');
  t.equal(formatDecimal(0n, -3), '0');
  const max = 10n ** 38n - 1n; // 38 nines
  t.equal(formatDecimal(max, 0), '9'.repeat(38));
  t.equal(formatDecimal(-max, 10), `-${'9'.repeat(28)}.${'9'.repeat(10)}`);
  t.equal(formatDecimal(1n, 38), `0.${'0'.repeat(37)}1`);

  const words = new Uint32Array(4 * 5);
  const vals = [max, -max, -1n, 9007199254740991n, -9007199254740993n];
  for (const [i, v] of vals.entries()) writeDecimal(words, i, 4, v);
  t.same(Array.from(words.subarray(8, 12)), [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], '-1 is all ones');
  t.same(
    vals.map((_, i) => decimalToBigInt(words, i, 4)),
    vals,
    '128-bit round trip',
  );
  t.same(
    vals.map((_, i) => decimalToSafeInteger(words, i, 4)),
    [NaN, NaN, -1, 9007199254740991, NaN],
  );
  const w64 = new Uint32Array(4);
  writeDecimal(w64, 0, 2, -(2n ** 40n));
  writeDecimal(w64, 1, 2, 2n ** 63n - 1n);
  t.equal(decimalToSafeInteger(w64, 0, 2), -(2 ** 40));
  t.equal(decimalToBigInt(w64, 1, 2), 2n ** 63n - 1n);
  t.ok(Number.isNaN(decimalToSafeInteger(w64, 1, 2)));
  t.equal(decimalToSafeInteger(Uint32Array.of(0xfffffffe), 0, 1), -2, 'decimal32: one signed word');
  const w256 = new Uint32Array(8);
  writeDecimal(w256, 0, 8, -(10n ** 70n));
  t.equal(decimalToBigInt(w256, 0, 8), -(10n ** 70n));

  t.equal(parseDecimal('123.45', 2), 12345n);
  t.equal(parseDecimal('-0.5', 3), -500n);
  t.equal(parseDecimal('1.5e2', 0), 150n);
  t.equal(parseDecimal(12.5, 2), 1250n);
  t.equal(parseDecimal('1.234', 2), undefined, 'too many fraction digits');
  t.equal(parseDecimal('abc', 2), undefined);
  t.equal(parseDecimal(`${'9'.repeat(38)}`, 0), max);
});

t.test('lib/arrow/index re-exports every kernel module', async (t) => {
  const names = ['getBit', 'validityBitmap', 'nullTest', 'varData', 'varBytes', 'takeRows', 'uuidToString', 'civilFromDays', 'formatDecimal', 'nullData'];
  for (const name of names) {
    t.type((kernels as Record<string, unknown>)[name], 'function', name);
  }
});
