/** CSV: a header row (unless skipped), then one row per record, RFC 4180 quoting (rendering: lib/arrow-json.ts). */
import type * as A from 'apache-arrow';
import { batchToCsv, csvHeader } from '../../../lib/arrow-json.js';
import type { ByteSink } from './byte-sink.js';
import type { CsvDelimiter, FormatWriter } from './index.js';
import { slices } from './slices.js';

export class CsvWriter implements FormatWriter {
  rows = 0;
  private constructor(
    readonly sink: ByteSink,
    private readonly delimiter: CsvDelimiter,
  ) {}
  static async open(sink: ByteSink, schema: A.Schema, o: { delimiter: CsvDelimiter; skipHeader: boolean }): Promise<CsvWriter> {
    if (!o.skipHeader) await sink.write(csvHeader(schema, o.delimiter));
    return new CsvWriter(sink, o.delimiter);
  }
  get path(): string {
    return this.sink.path;
  }
  async write(batches: A.RecordBatch[]): Promise<void> {
    for (const b of slices(batches, 16384)) {
      await this.sink.write(batchToCsv(b, this.delimiter));
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
