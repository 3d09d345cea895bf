/**
 * Validity bitmaps, one polarity as in Arrow (bit set = valid): build one from a predicate, read
 * and set single bits, count nulls, per-row null tests and flags that respect the `offset` of
 * sliced Data, and an all-null column of any type.
 */
import * as A from 'apache-arrow';

/** Bytes of a bitmap for n rows. */
export function bitmapBytes(n: number): number {
  return (n + 7) >> 3;
}

/** Bit i of a bitmap (0 or 1); `i` counts from the start of the buffer (add `Data.offset` yourself). */
export function getBit(bits: Uint8Array, i: number): number {
  return (bits[i >> 3]! >> (i & 7)) & 1;
}

/** Set bit i of a bitmap. */
export function setBit(bits: Uint8Array, i: number): void {
  bits[i >> 3]! |= 1 << (i & 7);
}

/** Validity bitmap from a per-row "is valid" predicate; no bitmap when every row is valid. */
export function validityBitmap(length: number, isValid: (i: number) => boolean): { bitmap?: Uint8Array; nullCount: number } {
  const bitmap = new Uint8Array((length + 7) >> 3);
  let nullCount = 0;
  for (let i = 0; i < length; i++) {
    if (isValid(i)) bitmap[i >> 3]! |= 1 << (i & 7);
    else nullCount++;
  }
  return nullCount === 0 ? { nullCount } : { bitmap, nullCount };
}

/** Null (unset) bits among bits [offset, offset + length) of a bitmap. */
export function countNulls(bits: Uint8Array, offset: number, length: number): number {
  let nulls = 0;
  const end = offset + length;
  let i = offset;
  for (; i < end && (i & 7) !== 0; i++) nulls += ((bits[i >> 3]! >> (i & 7)) & 1) ^ 1;
  for (; i + 8 <= end; i += 8) {
    let b = bits[i >> 3]!;
    b = b - ((b >> 1) & 0x55);
    b = (b & 0x33) + ((b >> 2) & 0x33);
    nulls += 8 - ((b + (b >> 4)) & 0x0f);
  }
  for (; i < end; i++) nulls += ((bits[i >> 3]! >> (i & 7)) & 1) ^ 1;
  return nulls;
}

/** `isNull(i)` for row i of a column (sliced Data included), or undefined when it has no nulls. */
export function nullTest(d: A.Data): ((i: number) => boolean) | undefined {
  if (d.typeId === A.Type.Null) return () => true;
  if (!d.nullBitmap || d.nullBitmap.length === 0 || d.nullCount <= 0) return undefined;
  const bm = d.nullBitmap;
  const off = d.offset;
  return (i) => ((bm[(off + i) >> 3]! >> ((off + i) & 7)) & 1) === 0;
}

/** `isValid(i)` for row i of a column with nulls (sliced Data included); undefined when `nullCount` is 0. */
export function validTest(d: A.Data): ((i: number) => boolean) | undefined {
  if (!d.nullCount) return undefined;
  const bm = d.nullBitmap!;
  const off = d.offset;
  return (i) => ((bm[(off + i) >> 3]! >> ((off + i) & 7)) & 1) === 1;
}

/** Per-row null flags (1 = null) of a column (sliced Data included), or undefined when no row is null. */
export function nullFlags(d: A.Data): Uint8Array | undefined {
  const n = d.length;
  if (d.typeId === A.Type.Null) return new Uint8Array(n).fill(1);
  const bm = d.nullBitmap;
  if (!bm || bm.length === 0 || d.nullCount === 0) return undefined;
  const off = d.offset;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = ((bm[(off + i) >> 3]! >> ((off + i) & 7)) & 1) ^ 1;
  return out;
}

/** The validity bits of a column re-based to offset 0 (a view when the offset is byte-aligned); undefined without nulls. */
export function realignedBitmap(d: A.Data): Uint8Array | undefined {
  if (!d.nullBitmap || d.nullBitmap.length === 0 || d.nullCount === 0) return undefined;
  const off = d.offset;
  const n = d.length;
  if (off % 8 === 0) return d.nullBitmap.subarray(off >> 3, (off >> 3) + ((n + 7) >> 3));
  const bm = new Uint8Array((n + 7) >> 3);
  const src = d.nullBitmap;
  for (let i = 0; i < n; i++) if ((src[(off + i) >> 3]! >> ((off + i) & 7)) & 1) bm[i >> 3]! |= 1 << (i & 7);
  return bm;
}

/** An all-null column of any type. */
export function nullData(type: A.DataType, length: number): A.Data {
  const b = A.makeBuilder({ type, nullValues: [null] });
  for (let i = 0; i < length; i++) b.append(null);
  return b.finish().flush();
}
