/**
 * Groups one table's record batches until a cap is reached: rows, in-memory bytes (docs/semantics.md).
 * Oversized batches are sliced (zero-copy) so a flushed group never exceeds a cap; time-based
 * closing is the caller's (lib/batch-writer.ts) because it needs a timer and a serial queue.
 */
import type * as A from 'apache-arrow';
import { batchByteSize } from './schema.js';

/**
 * The high-water mark of every object stream between a source and its destinations' batch writers
 * (lib/pipeline.ts, lib/fan-out.ts, lib/batch-writer.ts): 0, so that no batch is made before a
 * stage asks for it and none waits in a stream. With 1, batches were made ahead and waited through
 * more young collections, so most batches' Arrow buffers were promoted and piled up (60–70 MB)
 * until a full collection (docs/benchmarks.md). Taking batches ahead in the batch writer (one, or
 * up to 1 MiB) was measured too: 15–20% slower into Parquet, as the main thread made the next batch
 * while the encoder's acknowledgement waited for it.
 */
export const QUEUED_BATCHES = 0;

export interface BatchCaps {
  rows: number;
  bytes: number;
}

export class TableBatcher {
  #batches: A.RecordBatch[] = [];
  #rows = 0;
  #bytes = 0;

  constructor(readonly caps: BatchCaps) {}

  get rows(): number {
    return this.#rows;
  }
  get bytes(): number {
    return this.#bytes;
  }
  get empty(): boolean {
    return this.#rows === 0;
  }

  /**
   * Add a batch; returns the groups that became full (each ≤ caps), in order.
   * A cap of 0 means "no limit" on that dimension.
   */
  add(batch: A.RecordBatch): A.RecordBatch[][] {
    const full: A.RecordBatch[][] = [];
    const n = batch.numRows;
    if (n === 0) return full;
    const bytesPerRow = batchByteSize(batch) / n;
    let offset = 0;
    while (offset < n) {
      const roomRows = this.caps.rows > 0 ? this.caps.rows - this.#rows : Infinity;
      const roomBytes = this.caps.bytes > 0 ? Math.floor((this.caps.bytes - this.#bytes) / Math.max(bytesPerRow, 1)) : Infinity;
      // at least one row always fits into an empty group, so progress is guaranteed
      const take = Math.min(n - offset, roomRows, Math.max(roomBytes, this.#rows === 0 ? 1 : 0));
      if (take > 0) {
        this.#batches.push(offset === 0 && take === n ? batch : batch.slice(offset, offset + take));
        this.#rows += take;
        this.#bytes += take * bytesPerRow;
        offset += take;
      }
      if (this.#isFull() || take === 0) {
        const group = this.take();
        if (group.length) full.push(group);
      }
    }
    return full;
  }

  #isFull(): boolean {
    return (this.caps.rows > 0 && this.#rows >= this.caps.rows) || (this.caps.bytes > 0 && this.#bytes >= this.caps.bytes);
  }

  /** Remove and return everything buffered. */
  take(): A.RecordBatch[] {
    const out = this.#batches;
    this.#batches = [];
    this.#rows = 0;
    this.#bytes = 0;
    return out;
  }
}
