/**
 * Column-wise Arrow helpers shared by the transformers (transforms/basic.ts, jsonflattener.ts):
 * null masks, byte access to variable-length columns, rebuilding them, and `takeRows` (keep a
 * subset of rows, e.g. after `drop_rows`). They read Arrow buffers directly — no per-row JS
 * objects — and respect sliced Data (offsets of sliced batches).
 */
import * as A from 'apache-arrow';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export { encoder, decoder };

/** `isNull(i)` for a column, or undefined when it has no nulls. */
export function nullTest(d: A.Data): ((i: number) => boolean) | undefined {
  if (d.typeId === A.Type.Null) return () => true;
  if (!d.nullBitmap || d.nullBitmap.length === 0 || d.nullCount <= 0) return undefined;
  const bm = d.nullBitmap;
  const off = d.offset;
  return (i) => ((bm[(off + i) >> 3]! >> ((off + i) & 7)) & 1) === 0;
}

/** Validity bitmap (bit set = valid) for n rows from a predicate; undefined when all are valid. */
export function bitmapOf(n: number, isNull: (i: number) => boolean): { bitmap?: Uint8Array; nullCount: number } {
  const bitmap = new Uint8Array((n + 7) >> 3);
  let nullCount = 0;
  for (let i = 0; i < n; i++) {
    if (isNull(i)) nullCount++;
    else bitmap[i >> 3]! |= 1 << (i & 7);
  }
  return nullCount ? { bitmap, nullCount } : { nullCount: 0 };
}

export function isVarBinary(t: A.DataType): boolean {
  return t.typeId === A.Type.Utf8 || t.typeId === A.Type.Binary || t.typeId === A.Type.LargeUtf8 || t.typeId === A.Type.LargeBinary;
}

/** The bytes of row i of a Utf8 / Binary / LargeUtf8 / LargeBinary column (a view, not a copy). */
export function varBytes(d: A.Data): (i: number) => Uint8Array {
  const values = d.values as Uint8Array;
  const offs = d.valueOffsets as Int32Array | BigInt64Array;
  if (offs instanceof BigInt64Array) return (i) => values.subarray(Number(offs[i]!), Number(offs[i + 1]!));
  return (i) => values.subarray(offs[i]!, offs[i + 1]!);
}

/** A variable-length column of `type` from per-row bytes (null = null). */
export function varData(type: A.DataType, rows: (Uint8Array | null)[]): A.Data {
  const n = rows.length;
  let total = 0;
  for (const r of rows) total += r?.length ?? 0;
  const large = type.typeId === A.Type.LargeUtf8 || type.typeId === A.Type.LargeBinary;
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
  const { bitmap, nullCount } = bitmapOf(n, (i) => rows[i] == null);
  return A.makeData({ type, length: n, nullCount, nullBitmap: bitmap, valueOffsets: offsets, data } as never) as unknown as A.Data;
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

/**
 * Keep the rows listed in `keep` (ascending indices) of a column. Fixed-width, boolean and
 * variable-length columns are gathered from their buffers; structs, lists and maps recurse into
 * their children; anything else falls back to an Arrow builder.
 */
export function takeData(d: A.Data, keep: Int32Array): A.Data {
  const m = keep.length;
  const isNull = nullTest(d);
  const validity = () => (isNull ? bitmapOf(m, (j) => isNull(keep[j]!)) : { bitmap: undefined, nullCount: 0 });
  const t = d.type;
  switch (t.typeId) {
    case A.Type.Null:
      return A.makeData({ type: t as A.Null, length: m, nullCount: m });
    case A.Type.Bool: {
      const src = d.values as Uint8Array;
      const out = new Uint8Array((m + 7) >> 3);
      for (let j = 0; j < m; j++) {
        const pos = d.offset + keep[j]!;
        if ((src[pos >> 3]! >> (pos & 7)) & 1) out[j >> 3]! |= 1 << (j & 7);
      }
      const { bitmap, nullCount } = validity();
      return A.makeData({ type: t as A.Bool, length: m, nullCount, nullBitmap: bitmap, data: out });
    }
    case A.Type.Int:
    case A.Type.Float:
    case A.Type.Date:
    case A.Type.Time:
    case A.Type.Timestamp:
    case A.Type.Interval:
    case A.Type.Duration:
    case A.Type.Decimal:
    case A.Type.FixedSizeBinary: {
      const src = d.values as unknown as { length: number; subarray(a: number, b: number): ArrayLike<unknown>; constructor: new (n: number) => { set(a: ArrayLike<unknown>, o: number): void } };
      const stride = d.stride;
      const out = new (src.constructor as new (n: number) => { [k: number]: unknown; set(a: ArrayLike<unknown>, o: number): void })(m * stride);
      if (stride === 1) {
        const s = src as unknown as { [k: number]: unknown };
        for (let j = 0; j < m; j++) out[j] = s[keep[j]!];
      } else {
        for (let j = 0; j < m; j++) out.set(src.subarray(keep[j]! * stride, (keep[j]! + 1) * stride), j * stride);
      }
      const { bitmap, nullCount } = validity();
      return A.makeData({ type: t, length: m, nullCount, nullBitmap: bitmap, data: out } as never) as unknown as A.Data;
    }
    case A.Type.Utf8:
    case A.Type.Binary:
    case A.Type.LargeUtf8:
    case A.Type.LargeBinary: {
      const get = varBytes(d);
      const rows: (Uint8Array | null)[] = new Array(m);
      for (let j = 0; j < m; j++) rows[j] = isNull?.(keep[j]!) ? null : get(keep[j]!);
      return varData(t, rows);
    }
    case A.Type.Struct: {
      const children = d.children.map((c) => takeData(c, keep));
      const { bitmap, nullCount } = validity();
      return A.makeData({ type: t as A.Struct, length: m, nullCount, nullBitmap: bitmap, children });
    }
    case A.Type.List:
    case A.Type.Map: {
      const offs = d.valueOffsets as Int32Array;
      const newOffs = new Int32Array(m + 1);
      let total = 0;
      for (let j = 0; j < m; j++) {
        total += offs[keep[j]! + 1]! - offs[keep[j]!]!;
        newOffs[j + 1] = total;
      }
      const childIdx = new Int32Array(total);
      let p = 0;
      for (let j = 0; j < m; j++) for (let k = offs[keep[j]!]!; k < offs[keep[j]! + 1]!; k++) childIdx[p++] = k;
      const child = takeData(d.children[0]!, childIdx);
      const { bitmap, nullCount } = validity();
      return A.makeData({ type: t, length: m, nullCount, nullBitmap: bitmap, valueOffsets: newOffs, child } as never) as unknown as A.Data;
    }
    default: {
      const vec = A.makeVector(d);
      const b = A.makeBuilder({ type: t, nullValues: [null, undefined] });
      for (let j = 0; j < m; j++) b.append(vec.get(keep[j]!));
      return b.finish().flush();
    }
  }
}

/** Columns of a batch reduced to the rows where `keepRow[i]` is 1; zero-copy when the kept rows are one run. */
export function takeRows(cols: A.Data[], length: number, keepRow: Uint8Array): { cols: A.Data[]; length: number } {
  let m = 0;
  let first = -1;
  let last = -1;
  for (let i = 0; i < length; i++) {
    if (keepRow[i]) {
      m++;
      if (first < 0) first = i;
      last = i;
    }
  }
  if (m === length) return { cols, length };
  if (m === 0) return { cols: cols.map((c) => c.slice(0, 0)), length: 0 };
  if (last - first + 1 === m) return { cols: cols.map((c) => c.slice(first, m)), length: m };
  const keep = new Int32Array(m);
  let p = 0;
  for (let i = 0; i < length; i++) if (keepRow[i]) keep[p++] = i;
  return { cols: cols.map((c) => takeData(c, keep)), length: m };
}
