/**
 * Exact timestamps inside list and struct columns built from rows (lib/row-builder.ts). Arrow's
 * builders take a timestamp as a JS number of milliseconds, which drops µs and ns; after the
 * builder has laid out the column, this walks the column's own offsets alongside the JS values and
 * writes each timestamp leaf exactly, as top-level timestamp columns get it (lib/time.ts).
 */
import * as A from 'apache-arrow';
import { toMicros } from './time.js';

/** the type holds a timestamp at some depth under lists and structs */
export function hasNestedTimestamp(t: A.DataType): boolean {
  if (t.typeId === A.Type.Timestamp) return true;
  if (t.typeId !== A.Type.List && t.typeId !== A.Type.Struct) return false;
  return (t.children ?? []).some((c) => hasNestedTimestamp(c.type));
}

/** µs since the epoch of a row value: ISO-8601 text (exact, lib/time.ts) or Unix epoch seconds */
export function valueToMicros(v: unknown): bigint {
  return typeof v === 'string' ? toMicros(v) : BigInt(Math.round((v as number) * 1e6));
}

/** µs → the column's unit (s and ms truncate toward negative infinity, as a floor of the instant) */
function inUnit(us: bigint, unit: A.TimeUnit): bigint {
  switch (unit) {
    case A.TimeUnit.NANOSECOND:
      return us * 1000n;
    case A.TimeUnit.MICROSECOND:
      return us;
    default: {
      const per = unit === A.TimeUnit.MILLISECOND ? 1000n : 1_000_000n;
      const q = us / per;
      return us < 0n && q * per !== us ? q - 1n : q;
    }
  }
}

function fill(data: A.Data, index: number, v: unknown): void {
  if (v === null || v === undefined) return;
  const t = data.type;
  if (t.typeId === A.Type.Timestamp) {
    (data.values as unknown as BigInt64Array)[data.offset + index] = inUnit(valueToMicros(v), (t as A.Timestamp).unit);
    return;
  }
  if (t.typeId === A.Type.List) {
    if (!Array.isArray(v)) return;
    const child = data.children[0]!;
    if (!hasNestedTimestamp(child.type)) return;
    const start = data.valueOffsets[data.offset + index]!;
    for (let k = 0; k < v.length; k++) fill(child, start + k, v[k]);
    return;
  }
  if (t.typeId === A.Type.Struct) {
    const o = v as Record<string, unknown>;
    (t as A.Struct).children.forEach((f, j) => {
      if (hasNestedTimestamp(f.type)) fill(data.children[j]!, index, o[f.name]);
    });
  }
}

/** rewrite the timestamp leaves of `data` (a list or struct column built from `values`) exactly */
export function exactNestedTimestamps(data: A.Data, values: unknown[]): void {
  for (let i = 0; i < values.length; i++) fill(data, i, values[i]);
}
