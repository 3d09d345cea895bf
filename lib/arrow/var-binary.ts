/**
 * Variable-length columns (Utf8, Binary, LargeUtf8, LargeBinary): offsets + values buffers from
 * byte strings and back, per-row byte views that respect sliced Data, constant columns, and the
 * shared UTF-8 encoder/decoder.
 */
import * as A from 'apache-arrow';
import { nullTest, validityBitmap } from './bitmap.js';

export const encoder = new TextEncoder();
export const decoder = new TextDecoder();

export function isVarBinary(t: A.DataType): boolean {
  return t.typeId === A.Type.Utf8 || t.typeId === A.Type.Binary || t.typeId === A.Type.LargeUtf8 || t.typeId === A.Type.LargeBinary;
}

/** Is `t` one of the 64-bit-offset types (LargeUtf8, LargeBinary)? */
export function isLargeVarBinary(t: A.DataType): boolean {
  return t.typeId === A.Type.LargeUtf8 || t.typeId === A.Type.LargeBinary;
}

/**
 * The bytes of row i of a Utf8 / Binary / LargeUtf8 / LargeBinary column (a view, not a copy).
 * apache-arrow slices value offsets with the Data, so `i` is relative to the slice.
 */
export function varBytes(d: A.Data): (i: number) => Uint8Array {
  const values = d.values as Uint8Array;
  const offs = d.valueOffsets as Int32Array | BigInt64Array;
  if (offs instanceof BigInt64Array) return (i) => values.subarray(Number(offs[i]!), Number(offs[i + 1]!));
  return (i) => values.subarray(offs[i]!, offs[i + 1]!);
}

/** `at(i)`: value offset i of a variable-length column or list (32- or 64-bit offsets, as a number). */
export function valueOffsetAt(d: A.Data): (i: number) => number {
  const vo = d.valueOffsets as Int32Array | BigInt64Array;
  if (vo instanceof BigInt64Array) return (i) => Number(vo[i]!);
  return (i) => vo[i]!;
}

/** Offsets and values buffers of per-row byte strings (null and empty rows take no bytes). */
export function varBuffers(rows: readonly (Uint8Array | null)[], large: boolean): { offsets: Int32Array | BigInt64Array; data: Uint8Array } {
  const n = rows.length;
  let total = 0;
  for (let i = 0; i < n; i++) total += rows[i]?.length ?? 0;
  const offsets = large ? new BigInt64Array(n + 1) : new Int32Array(n + 1);
  const data = new Uint8Array(total);
  let p = 0;
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    if (r) {
      data.set(r, p);
      p += r.length;
    }
    if (large) (offsets as BigInt64Array)[i + 1] = BigInt(p);
    else (offsets as Int32Array)[i + 1] = p;
  }
  return { offsets, data };
}

/** A variable-length column of `type` from per-row bytes (null or undefined = null). */
export function varData(type: A.DataType, rows: (Uint8Array | null)[]): A.Data {
  const n = rows.length;
  const { offsets, data } = varBuffers(rows, isLargeVarBinary(type));
  const { bitmap, nullCount } = validityBitmap(n, (i) => rows[i] != null);
  const props = { type, length: n, nullCount, nullBitmap: bitmap, valueOffsets: offsets, data };
  return A.makeData(props);
}

/** Utf8 or Binary column from pre-encoded byte strings (only `null` is null). */
export function varBinaryData<T extends A.Utf8 | A.Binary>(type: T, values: (Uint8Array | null)[]): A.Data<T> {
  const n = values.length;
  const { offsets, data } = varBuffers(values, false);
  const { bitmap, nullCount } = validityBitmap(n, (i) => values[i] !== null);
  const props = { type, length: n, nullCount, nullBitmap: bitmap, valueOffsets: offsets as Int32Array, data };
  return A.makeData<T>(props);
}

/** Utf8 column from JS strings (null allowed). */
export function utf8Data(values: (string | null)[]): A.Data<A.Utf8> {
  return varBinaryData(
    new A.Utf8(),
    values.map((s) => (s === null ? null : encoder.encode(s))),
  );
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

/** Rewrite every non-null value of a variable-length column; nulls stay null; the type is kept. */
export function mapVarColumn(d: A.Data, fn: (bytes: Uint8Array, i: number) => Uint8Array): A.Data {
  const get = varBytes(d);
  const isNull = nullTest(d);
  const out: (Uint8Array | null)[] = new Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = isNull?.(i) ? null : fn(get(i), i);
  return varData(d.type, out);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
