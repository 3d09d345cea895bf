/** Arrow IPC, file or stream format (detected by apache-arrow), read batch by batch. */
import fs from 'node:fs';
import * as A from 'apache-arrow';
import { SourceDataError } from '../../../lib/errors.js';
import type { ColumnarFormat, ReadContext } from './index.js';

async function reader(file: string) {
  const handle = await fs.promises.open(file, 'r');
  try {
    const r = await A.RecordBatchReader.from(handle);
    await r.open();
    return { r, handle };
  } catch (err) {
    await handle.close();
    throw new SourceDataError(`not a readable Arrow IPC file or stream: ${(err as Error).message}`, { file }, err);
  }
}

export const arrowFormat: ColumnarFormat = {
  kind: 'columnar',
  async schema(file: string): Promise<A.Schema> {
    const { r, handle } = await reader(file);
    try {
      return r.schema;
    } finally {
      await r.cancel();
      await handle.close().catch(() => {});
    }
  },
  async *read(file: string, ctx: ReadContext & { batchRows: number }): AsyncIterable<A.RecordBatch> {
    const { r, handle } = await reader(file);
    try {
      while (true) {
        let next: IteratorResult<A.RecordBatch>;
        try {
          next = await r.next();
        } catch (err) {
          throw new SourceDataError(`corrupt Arrow data: ${(err as Error).message}`, { file }, err);
        }
        if (next.done) break;
        yield next.value;
        if (ctx.signal.aborted) return;
      }
    } finally {
      await r.cancel().catch(() => {});
      await handle.close().catch(() => {});
    }
  },
};
