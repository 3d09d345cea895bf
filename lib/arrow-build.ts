/**
 * Low-level constructors of Arrow column Data from typed arrays, for sources that generate or
 * decode whole columns at once (no per-value builder calls on the hot path).
 */
import * as A from 'apache-arrow';

const encoder = new TextEncoder();

/** Validity bitmap from a per-row "is valid" predicate; undefined when every row is valid. */
export function validityBitmap(length: number, isValid: (i: number) => boolean): { bitmap?: Uint8Array; nullCount: number } {
  const bitmap = new Uint8Array((length + 7) >> 3);
  let nullCount = 0;
  for (let i = 0; i < length; i++) {
    if (isValid(i)) bitmap[i >> 3]! |= 1 << (i & 7);
    else nullCount++;
  }
  return nullCount === 0 ? { nullCount } : { bitmap, nullCount };
}

/** Variable-length column (Utf8 or Binary) from pre-encoded byte strings. */
export function varBinaryData<T extends A.Utf8 | A.Binary>(type: T, values: (Uint8Array | null)[]): A.Data<T> {
  const n = values.length;
  const offsets = new Int32Array(n + 1);
  let total = 0;
  for (let i = 0; i < n; i++) {
    total += values[i]?.length ?? 0;
    offsets[i + 1] = total;
  }
  const data = new Uint8Array(total);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v) data.set(v, offsets[i]!);
  }
  const { bitmap, nullCount } = validityBitmap(n, (i) => values[i] !== null);
  return A.makeData({ type, length: n, nullCount, nullBitmap: bitmap, valueOffsets: offsets, data } as never) as unknown as A.Data<T>;
}

/** Utf8 column from JS strings (null allowed). */
export function utf8Data(values: (string | null)[]): A.Data<A.Utf8> {
  return varBinaryData(new A.Utf8(), values.map((s) => (s === null ? null : encoder.encode(s))));
}

/** The same string repeated `length` times, built by byte copies. */
export function constantUtf8Data(value: string, length: number): A.Data<A.Utf8> {
  const bytes = encoder.encode(value);
  const offsets = new Int32Array(length + 1);
  const data = new Uint8Array(bytes.length * length);
  for (let i = 0; i < length; i++) {
    offsets[i + 1] = (i + 1) * bytes.length;
    data.set(bytes, i * bytes.length);
  }
  return A.makeData({ type: new A.Utf8(), length, nullCount: 0, valueOffsets: offsets, data });
}

/** The same timestamp (µs since epoch) repeated `length` times. */
export function constantTimestampData(micros: bigint, length: number): A.Data<A.TimestampMicrosecond> {
  const values = new BigInt64Array(length).fill(micros);
  return A.makeData({ type: new A.TimestampMicrosecond('UTC'), length, nullCount: 0, data: values });
}

/** An all-null column of any type. */
export function nullData(type: A.DataType, length: number): A.Data {
  const b = A.makeBuilder({ type, nullValues: [null] });
  for (let i = 0; i < length; i++) b.append(null);
  return b.finish().flush();
}

/** FixedSizeBinary(16) column (uuid storage) from 16·n bytes; `valid` marks non-null rows. */
export function uuidData(bytes: Uint8Array, length: number, valid?: (i: number) => boolean): A.Data<A.FixedSizeBinary> {
  const { bitmap, nullCount } = valid ? validityBitmap(length, valid) : { bitmap: undefined, nullCount: 0 };
  return A.makeData({ type: new A.FixedSizeBinary(16), length, nullCount, nullBitmap: bitmap, data: bytes });
}

/** Random UUIDv4 bytes for n rows. */
export function randomUuidBytes(n: number, fill: (buf: Uint8Array) => void): Uint8Array {
  const out = new Uint8Array(16 * n);
  fill(out);
  for (let i = 0; i < n; i++) {
    out[i * 16 + 6] = (out[i * 16 + 6]! & 0x0f) | 0x40;
    out[i * 16 + 8] = (out[i * 16 + 8]! & 0x3f) | 0x80;
  }
  return out;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Canonical string of the uuid at `offset` in `bytes`. */
export function uuidToString(bytes: Uint8Array, offset = 0): string {
  let s = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += '-';
    s += HEX[bytes[offset + i]!];
  }
  return s;
}

/** hex digit value by char code, -1 for anything else */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i;
for (let i = 0; i < 6; i++) { HEX_VALUE[65 + i] = 10 + i; HEX_VALUE[97 + i] = 10 + i; }

/**
 * 16 bytes of a uuid string (canonical 8-4-4-4-12, or 32 bare hex digits), or undefined when it is
 * not one. Parsed by char codes: this runs once per value on the hot path of text sources.
 */
export function uuidFromString(s: string, out = new Uint8Array(16), offset = 0): Uint8Array | undefined {
  const dashed = s.length === 36;
  if (!dashed && s.length !== 32) return undefined;
  if (dashed && (s.charCodeAt(8) !== 45 || s.charCodeAt(13) !== 45 || s.charCodeAt(18) !== 45 || s.charCodeAt(23) !== 45)) return undefined;
  let p = 0;
  for (let i = 0; i < 16; i++) {
    if (dashed && (p === 8 || p === 13 || p === 18 || p === 23)) p++;
    const a = s.charCodeAt(p);
    const b = s.charCodeAt(p + 1);
    const hi = a < 128 ? HEX_VALUE[a]! : -1;
    const lo = b < 128 ? HEX_VALUE[b]! : -1;
    if (hi < 0 || lo < 0) return undefined;
    out[offset + i] = (hi << 4) | lo;
    p += 2;
  }
  return out;
}
