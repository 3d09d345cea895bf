/**
 * Parquet with parquet-wasm, one row group at a time (never the whole file in memory): the input
 * is opened as a Blob (a local file, or ranged GETs of an S3 object), so only the footer and the
 * requested row group's column chunks are read.
 */
import * as A from 'apache-arrow';
import * as pw from 'parquet-wasm';
import { CqPipeError, SourceDataError } from '../../../lib/errors.js';
import type { InputFile } from '../inputs.js';
import type { ColumnarFormat, ReadContext } from './index.js';

async function open(file: InputFile): Promise<pw.ParquetFile> {
  const blob = await file.blob();
  try {
    return await pw.ParquetFile.fromFile(blob as Blob);
  } catch (err) {
    if (err instanceof CqPipeError) throw err; // a read failure of the input, already typed
    throw new SourceDataError(`not a readable Parquet file: ${String((err as Error).message ?? err)}`, { file: file.name }, err);
  }
}

export const parquetFormat: ColumnarFormat = {
  kind: 'columnar',
  async schema(file: InputFile): Promise<A.Schema> {
    const pf = await open(file);
    try {
      return A.tableFromIPC(pf.schema().intoIPCStream()).schema;
    } finally {
      pf.free();
    }
  },
  async *read(file: InputFile, ctx: ReadContext & { batchRows: number }): AsyncIterable<A.RecordBatch> {
    const pf = await open(file);
    try {
      const groups = pf.metadata().numRowGroups();
      for (let g = 0; g < groups; g++) {
        if (ctx.signal.aborted) return;
        let table: A.Table;
        try {
          const t = await pf.read({ rowGroups: [g], batchSize: ctx.batchRows });
          table = A.tableFromIPC(t.intoIPCStream());
        } catch (err) {
          if (err instanceof CqPipeError) throw err;
          throw new SourceDataError(`cannot decode row group ${g}: ${String((err as Error).message ?? err)}`, { file: file.name }, err);
        }
        for (const b of table.batches) yield b;
      }
    } finally {
      pf.free();
    }
  },
};
