/** Arrow IPC, file or stream format (detected by apache-arrow), read batch by batch. */
import type { FileHandle } from 'node:fs/promises';
import * as A from 'apache-arrow';
import { CqPipeError, SourceDataError } from '../../../lib/errors.js';
import type { InputFile } from '../inputs.js';
import type { ColumnarFormat, ReadContext } from './index.js';

async function reader(file: InputFile) {
  // a random-access handle (a file, or ranged reads of an object): the IPC file format's footer
  // is read first, then one batch at a time; the stream format is read front to back
  const handle = await file.handle();
  try {
    const r = await A.RecordBatchReader.from(handle as FileHandle);
    await r.open();
    return { r, handle };
  } catch (err) {
    await handle.close();
    if (err instanceof CqPipeError) throw err;
    throw new SourceDataError(`not a readable Arrow IPC file or stream: ${(err as Error).message}`, { file: file.name }, err);
  }
}

export const arrowFormat: ColumnarFormat = {
  kind: 'columnar',
  async schema(file: InputFile): Promise<A.Schema> {
    const { r, handle } = await reader(file);
    try {
      return r.schema;
    } finally {
      await r.cancel();
      await handle.close().catch(() => {});
    }
  },
  async *read(file: InputFile, ctx: ReadContext & { batchRows: number }): AsyncIterable<A.RecordBatch> {
    const { r, handle } = await reader(file);
    try {
      while (true) {
        let next: IteratorResult<A.RecordBatch>;
        try {
          next = await r.next();
        } catch (err) {
          if (err instanceof CqPipeError) throw err;
          throw new SourceDataError(`corrupt Arrow data: ${(err as Error).message}`, { file: file.name }, err);
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
