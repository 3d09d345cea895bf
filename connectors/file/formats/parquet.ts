/**
 * Parquet with parquet-wasm, one row group at a time (never the whole file in memory): the file
 * is opened as a Blob, so only the footer and the requested row group's pages are read.
 */
import fs from 'node:fs';
import * as A from 'apache-arrow';
import * as pw from 'parquet-wasm';
import { SourceDataError } from '../../../lib/errors.js';
import type { ColumnarFormat, ReadContext } from './index.js';

async function open(file: string): Promise<pw.ParquetFile> {
  try {
    return await pw.ParquetFile.fromFile(await fs.openAsBlob(file));
  } catch (err) {
    throw new SourceDataError(`not a readable Parquet file: ${String((err as Error).message ?? err)}`, { file }, err);
  }
}

export const parquetFormat: ColumnarFormat = {
  kind: 'columnar',
  async schema(file: string): Promise<A.Schema> {
    const pf = await open(file);
    try {
      return A.tableFromIPC(pf.schema().intoIPCStream()).schema;
    } finally {
      pf.free();
    }
  },
  async *read(file: string, ctx: ReadContext & { batchRows: number }): AsyncIterable<A.RecordBatch> {
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
          throw new SourceDataError(`cannot decode row group ${g}: ${String((err as Error).message ?? err)}`, { file }, err);
        }
        for (const b of table.batches) yield b;
      }
    } finally {
      pf.free();
    }
  },
};
