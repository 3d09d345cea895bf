/** Bounded slices of a batch group, so text writers render a limited number of rows at a time. */
import type * as A from 'apache-arrow';

/** The batches cut into slices of at most `rows` rows (zero-copy). */
export function* slices(batches: A.RecordBatch[], rows: number): Iterable<A.RecordBatch> {
  for (const b of batches) {
    if (b.numRows <= rows) yield b;
    else for (let off = 0; off < b.numRows; off += rows) yield b.slice(off, Math.min(b.numRows, off + rows));
  }
}
