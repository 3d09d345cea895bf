/**
 * Which columns of a Parquet file are written without a dictionary (docs/file-destination.md,
 * Parquet). The encoder tries a dictionary for every column and falls back to plain pages once
 * a row group's dictionary outgrows its page limit; for a column of (nearly) unique values — ids,
 * timestamps, prices, JSON documents — that fallback comes after hashing thousands of values per
 * row group, for nothing. Sampling the first rows of a table's first batch tells such columns
 * apart: a column whose sampled values are nearly all distinct, and whose dictionary would then
 * overflow the page limit within a row group, is written plain from the start. Columns of few or
 * repeated values keep their dictionary. Output is a valid file either way; the choice only saves
 * the encoder's work (and the few dictionary pages written before the fallback).
 */
import * as A from 'apache-arrow';
import { validTest } from '../../../lib/arrow/bitmap.js';

/** the rows sampled from the top of the first batch */
export const SAMPLE_ROWS = 4096;
/** fewer sampled (non-null) values than this decide nothing: every column keeps its dictionary */
export const MIN_SAMPLE = 1024;
/** the share of distinct values among the sampled ones from which a column counts as unique */
export const UNIQUE_SHARE = 0.9;

/** FNV-1a (32-bit) of bytes [a, b) of `bytes` */
function hashBytes(bytes: Uint8Array, a: number, b: number): number {
  let h = 0x811c9dc5;
  for (let k = a; k < b; k++) h = Math.imul(h ^ bytes[k]!, 0x01000193);
  return h >>> 0;
}

/** distinct values and value bytes among the first `rows` valid values of a flat column; undefined for a column this does not judge */
function sample(data: A.Data, rows: number): { values: number; distinct: number; bytes: number } | undefined {
  const t = data.type;
  const isValid = validTest(data);
  const valid = (i: number) => !isValid || isValid(i);
  const seen = new Set<number>();
  let values = 0;
  let bytes = 0;
  if (A.DataType.isUtf8(t) || A.DataType.isBinary(t) || A.DataType.isLargeUtf8(t) || A.DataType.isLargeBinary(t)) {
    const offsets = data.valueOffsets as Int32Array | BigInt64Array;
    const chars = data.values as Uint8Array;
    for (let i = 0; i < rows; i++) {
      if (!valid(i)) continue;
      const a = Number(offsets[i]!);
      const b = Number(offsets[i + 1]!);
      seen.add(hashBytes(chars, a, b));
      values++;
      bytes += b - a + 4; // PLAIN byte arrays carry a 4-byte length
    }
  } else if (
    A.DataType.isInt(t) ||
    A.DataType.isFloat(t) ||
    A.DataType.isDate(t) ||
    A.DataType.isTime(t) ||
    A.DataType.isTimestamp(t) ||
    A.DataType.isDecimal(t) ||
    A.DataType.isFixedSizeBinary(t) ||
    A.DataType.isDuration(t)
  ) {
    const v = data.values as ArrayLike<unknown> & ArrayBufferView & { BYTES_PER_ELEMENT: number };
    const width = data.stride * v.BYTES_PER_ELEMENT;
    const raw = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    for (let i = 0; i < rows; i++) {
      if (!valid(i)) continue;
      seen.add(hashBytes(raw, i * width, (i + 1) * width));
      values++;
      bytes += width;
    }
  } else {
    return undefined; // booleans (never dictionary-encoded), nested and dictionary columns
  }
  return { values, distinct: seen.size, bytes };
}

/**
 * The top-level columns of `batch` (the Parquet-side batch of a file's first write) to write
 * without a dictionary: nearly unique among the first SAMPLE_ROWS rows, with a dictionary of
 * `rowGroupRows` rows that would outgrow `dictionaryPageBytes`.
 */
export function plainColumns(batch: A.RecordBatch, rowGroupRows: number, dictionaryPageBytes: number): string[] {
  const rows = Math.min(batch.numRows, SAMPLE_ROWS);
  const out: string[] = [];
  batch.schema.fields.forEach((f, i) => {
    const s = sample(batch.data.children[i]!, rows);
    if (!s || s.values < MIN_SAMPLE) return;
    const share = s.distinct / s.values;
    const dictionaryBytes = share * rowGroupRows * (s.bytes / s.values);
    if (share >= UNIQUE_SHARE && dictionaryBytes > dictionaryPageBytes) out.push(f.name);
  });
  return out;
}
