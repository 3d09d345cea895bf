/**
 * `_cq_id` values (docs/semantics.md): UUIDv5 over the sorted primary-key names and values when the table
 * has a primary key and `deterministic_cq_id` is on, else random UUIDv4.
 */
import { createHash, randomFillSync } from 'node:crypto';
import type * as A from 'apache-arrow';
import { v5 as uuidv5 } from 'uuid';
import { randomUuidBytes, uuidData, uuidToString } from './arrow/index.js';
import { extensionOf } from './types.js';

const NIL_NAMESPACE = '00000000-0000-0000-0000-000000000000';

export function randomCqIds(n: number): A.Data<A.FixedSizeBinary> {
  return uuidData(
    randomUuidBytes(n, (b) => randomFillSync(b)),
    n,
  );
}

/** String form of one value, for hashing (stable across runs). */
function valueString(field: A.Field, vec: A.Vector, i: number): string {
  const v = vec.get(i);
  if (v === null || v === undefined) return '';
  if (extensionOf(field) === 'uuid' && v instanceof Uint8Array) return uuidToString(v);
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  return String(v);
}

export function deterministicCqIds(batch: A.RecordBatch, pkNames: string[]): A.Data<A.FixedSizeBinary> {
  const sorted = [...pkNames].sort();
  const cols = sorted.map((name) => {
    const idx = batch.schema.fields.findIndex((f) => f.name === name);
    return { name, field: batch.schema.fields[idx]!, vec: batch.getChildAt(idx)! };
  });
  const n = batch.numRows;
  const out = new Uint8Array(16 * n);
  for (let i = 0; i < n; i++) {
    const h = createHash('sha256');
    for (const c of cols) {
      h.update(c.name);
      h.update(valueString(c.field, c.vec, i));
    }
    uuidv5(h.digest(), NIL_NAMESPACE, out, i * 16);
  }
  return uuidData(out, n);
}
