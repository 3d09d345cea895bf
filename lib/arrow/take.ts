/**
 * Keep a subset of a column's rows: `takeData` gathers rows by ascending index straight from the
 * Arrow buffers (recursing into structs, lists and maps), `takeRows` filters a batch's columns by
 * a per-row keep mask, zero-copy when the kept rows are one run. Sliced Data is respected.
 */
import * as A from 'apache-arrow';
import { nullTest, validityBitmap } from './bitmap.js';
import { varBytes, varData } from './var-binary.js';

type FixedArray = { [k: number]: unknown; set(a: ArrayLike<unknown>, o: number): void };
type FixedValues = { length: number; subarray(a: number, b: number): ArrayLike<unknown>; constructor: new (n: number) => FixedArray };

/**
 * Keep the rows listed in `keep` (ascending indices) of a column. Fixed-width, boolean and
 * variable-length columns are gathered from their buffers; structs, lists and maps recurse into
 * their children; anything else falls back to an Arrow builder.
 */
export function takeData(d: A.Data, keep: Int32Array): A.Data {
  const m = keep.length;
  const isNull = nullTest(d);
  const validity = () => (isNull ? validityBitmap(m, (j) => !isNull(keep[j]!)) : { bitmap: undefined, nullCount: 0 });
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
      const src = d.values as unknown as FixedValues;
      const stride = d.stride;
      const out = new src.constructor(m * stride);
      if (stride === 1) {
        const s = src as unknown as { [k: number]: unknown };
        for (let j = 0; j < m; j++) out[j] = s[keep[j]!];
      } else {
        for (let j = 0; j < m; j++) out.set(src.subarray(keep[j]! * stride, (keep[j]! + 1) * stride), j * stride);
      }
      const { bitmap, nullCount } = validity();
      const props = { type: t, length: m, nullCount, nullBitmap: bitmap, data: out };
      return A.makeData(props);
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
      const props = { type: t, length: m, nullCount, nullBitmap: bitmap, valueOffsets: newOffs, child };
      return A.makeData(props);
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
