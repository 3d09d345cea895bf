/**
 * Incremental file tables (docs/semantics.md): the state of a table is JSON `{files: {path: "mtimeMs:size"},
 * cursor?}`. Files loaded by an earlier sync and unchanged since are skipped; with a cursor column
 * only rows at or past the saved cursor are kept (>=: ties are re-read, at-least-once).
 */
import { stat } from 'node:fs/promises';
import * as A from 'apache-arrow';
import { microsToIso, toMicros } from '../../lib/time.js';
import { SourceDataError, StateError } from '../../lib/errors.js';

export interface FileTableState {
  files: Record<string, string>;
  cursor?: string;
}

/** what is wrong with a saved file-table state, or undefined when it reads back */
export function fileStateProblem(v: string): string | undefined {
  let o: unknown;
  try {
    o = JSON.parse(v);
  } catch (err) {
    return `it is not JSON (${(err as Error).message})`;
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return 'it is not a JSON object {"files": {…}, "cursor": "…"}';
  const { files, cursor } = o as Record<string, unknown>;
  if (files !== undefined && (files === null || typeof files !== 'object' || Array.isArray(files))) return '"files" is not an object of path → signature';
  const bad = files ? Object.entries(files).find(([, sig]) => typeof sig !== 'string') : undefined;
  if (bad) return `the signature of "${bad[0]}" is not a string`;
  if (cursor !== undefined && typeof cursor !== 'string') return '"cursor" is not a string';
  return undefined;
}

/** a table's saved state; a value that does not read back is a state error naming the key */
export function parseFileState(v: string | undefined, key = 'the table'): FileTableState {
  if (!v) return { files: {} };
  const problem = fileStateProblem(v);
  if (problem) throw new StateError(`the saved state of ${key} cannot be read back: ${problem}`, { table: key }, undefined);
  const o = JSON.parse(v) as FileTableState;
  return { files: { ...(o.files ?? {}) }, ...(o.cursor !== undefined ? { cursor: o.cursor } : {}) };
}

export async function fileSignature(file: string): Promise<string> {
  const s = await stat(file);
  return `${Math.trunc(s.mtimeMs)}:${s.size}`;
}

type Native = bigint | number | string;

function nativeOf(type: A.DataType, text: string): Native {
  switch (type.typeId) {
    case A.Type.Timestamp:
      return toMicros(text);
    case A.Type.Int:
      return BigInt(text);
    case A.Type.Float:
      return Number(text);
    case A.Type.Date:
      return Math.floor(Date.parse(`${text}T00:00:00Z`) / 86_400_000);
    default:
      return text;
  }
}

function textOf(type: A.DataType, v: Native): string {
  switch (type.typeId) {
    case A.Type.Timestamp:
      return microsToIso(v as bigint);
    case A.Type.Date:
      return new Date(Number(v) * 86_400_000).toISOString().slice(0, 10);
    default:
      return String(v);
  }
}

function valueAt(vec: A.Vector, type: A.DataType, i: number): Native | null {
  if (!vec.isValid(i)) return null;
  if (type.typeId === A.Type.Timestamp) {
    const unit = (type as A.Timestamp).unit;
    const raw = (vec.data[0]!.values as BigInt64Array)[i]!;
    return unit === A.TimeUnit.MICROSECOND
      ? raw
      : unit === A.TimeUnit.NANOSECOND
        ? raw / 1000n
        : unit === A.TimeUnit.MILLISECOND
          ? raw * 1000n
          : raw * 1_000_000n;
  }
  if (type.typeId === A.Type.Date) return (vec.data[0]!.values as Int32Array)[i]!;
  const v = vec.get(i) as Native;
  return typeof v === 'number' && type.typeId === A.Type.Int ? BigInt(v) : v;
}

/** the parts of `batch` whose cursor is at or past `saved`, each with its largest cursor (as state text) */
export function* atOrPast(batch: A.RecordBatch, cursor: string, saved: string | undefined): Generator<{ batch: A.RecordBatch; max?: string }> {
  const vec = batch.getChild(cursor);
  // the file source adds the file, table and connector
  if (!vec) throw new SourceDataError(`cursor column "${cursor}" is not in the table`, { column: cursor });
  const type = vec.type as A.DataType;
  let min: Native | undefined;
  try {
    min = saved !== undefined ? nativeOf(type, saved) : undefined;
  } catch (err) {
    throw new StateError(`the saved cursor "${saved}" of column ${cursor} cannot be read: ${(err as Error).message}`, { column: cursor }, err);
  }
  let runStart = -1;
  let max: Native | undefined;
  for (let i = 0; i <= batch.numRows; i++) {
    const v = i < batch.numRows ? valueAt(vec, type, i) : null;
    const keep = i < batch.numRows && (min === undefined || (v !== null && v >= min));
    if (keep && v !== null && (max === undefined || v > max)) max = v;
    if (keep && runStart < 0) runStart = i;
    if (!keep && runStart >= 0) {
      const part = runStart === 0 && i === batch.numRows ? batch : batch.slice(runStart, i);
      yield { batch: part, ...(max !== undefined ? { max: textOf(type, max) } : {}) };
      runStart = -1;
    }
  }
}

/** the larger of two cursor texts (integers and timestamps compared by value) */
export function maxOf(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  if (/^-?\d+$/.test(a) && /^-?\d+$/.test(b)) return BigInt(a) >= BigInt(b) ? a : b;
  try {
    return toMicros(a) >= toMicros(b) ? a : b;
  } catch {
    return a >= b ? a : b;
  }
}
