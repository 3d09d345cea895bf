/**
 * Reserved columns a source supplies on some rows only (docs/semantics.md, "Reserved columns"):
 * the null slots of a source's `_cq_source_name`, `_cq_sync_time` or `_cq_id` get the engine's
 * value for that row, so no row lands with a NULL source name or sync time (such a row would
 * escape delete-stale forever) or a NULL id. Values the source set are kept; the column keeps
 * the source's type. Columns of a type the engine cannot fill (not a string, timestamp or uuid)
 * are returned unchanged.
 */
import * as A from 'apache-arrow';
import { encoder, microsToIso, nullTest, uuidToString, varBytes, varData } from '../arrow/index.js';

/** `d` with its null rows set to `value` (a Utf8 or LargeUtf8 column), or `d` itself. */
export function fillStrings(d: A.Data, value: (i: number) => string): A.Data {
  const isNull = nullTest(d);
  if (!isNull || (d.typeId !== A.Type.Utf8 && d.typeId !== A.Type.LargeUtf8)) return d;
  const get = varBytes(d);
  const rows: Uint8Array[] = new Array(d.length);
  for (let i = 0; i < d.length; i++) rows[i] = isNull(i) ? encoder.encode(value(i)) : get(i);
  return varData(d.type, rows);
}

const PER_MICRO: Record<number, (us: bigint) => bigint> = {
  [A.TimeUnit.SECOND]: (us) => us / 1_000_000n,
  [A.TimeUnit.MILLISECOND]: (us) => us / 1000n,
  [A.TimeUnit.MICROSECOND]: (us) => us,
  [A.TimeUnit.NANOSECOND]: (us) => us * 1000n,
};

/** `d` (a timestamp of any unit, or a string column) with its null rows set to `micros`, or `d` itself. */
export function fillTimestamp(d: A.Data, micros: bigint): A.Data {
  const isNull = nullTest(d);
  if (!isNull) return d;
  if (d.typeId === A.Type.Utf8 || d.typeId === A.Type.LargeUtf8) {
    const iso = microsToIso(micros);
    return fillStrings(d, () => iso);
  }
  if (d.typeId !== A.Type.Timestamp) return d;
  const v = PER_MICRO[(d.type as A.Timestamp).unit]!(micros);
  const src = d.values as BigInt64Array;
  const values = new BigInt64Array(d.length);
  for (let i = 0; i < d.length; i++) values[i] = isNull(i) ? v : src[i]!;
  return A.makeData({ type: d.type as A.Timestamp, length: d.length, nullCount: 0, data: values });
}

/**
 * `d` (a uuid column, FixedSizeBinary(16), or a string column) with its null rows taken from
 * `ids()` (a FixedSizeBinary(16) column of the same length, made only when needed), or `d` itself.
 */
export function fillUuids(d: A.Data, ids: () => A.Data<A.FixedSizeBinary>): A.Data {
  const isNull = nullTest(d);
  if (!isNull) return d;
  const made = ids().values as Uint8Array;
  if (d.typeId === A.Type.Utf8 || d.typeId === A.Type.LargeUtf8) return fillStrings(d, (i) => uuidToString(made, i * 16));
  if (d.typeId !== A.Type.FixedSizeBinary || (d.type as A.FixedSizeBinary).byteWidth !== 16) return d;
  const src = d.values as Uint8Array;
  const out = new Uint8Array(16 * d.length);
  for (let i = 0; i < d.length; i++) out.set((isNull(i) ? made : src).subarray(i * 16, i * 16 + 16), i * 16);
  return A.makeData({ type: d.type as A.FixedSizeBinary, length: d.length, nullCount: 0, data: out });
}
