/** NDJSON: one JSON object per row and line (value rendering: lib/arrow-json.ts). */
import type * as A from 'apache-arrow';
import { batchToNdjson } from '../../../lib/arrow-json.js';
import type { ByteSink } from './byte-sink.js';
import type { FormatWriter } from './index.js';
import { slices } from './slices.js';

export class NdjsonWriter implements FormatWriter {
  rows = 0;
  constructor(readonly sink: ByteSink) {}
  get path(): string {
    return this.sink.path;
  }
  async write(batches: A.RecordBatch[]): Promise<void> {
    for (const b of slices(batches, 16384)) {
      await this.sink.write(batchToNdjson(b));
      this.rows += b.numRows;
    }
  }
  finish(): Promise<void> {
    return this.sink.end();
  }
  discard(): Promise<void> {
    return this.sink.discard();
  }
}
