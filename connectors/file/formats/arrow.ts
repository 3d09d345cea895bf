/**
 * Arrow IPC, file or stream format, read batch by batch through lib/arrow/ipc-read.ts: every
 * length in the file is checked against the bytes left before it is used, so a damaged file
 * fails its table (CQ_ERR_SOURCE_DATA naming the file, the byte offset and the batch) and never
 * hangs, exhausts the heap or yields a column that breaks later. The input is read by ranges
 * (a local file, or ranged GETs of an S3 object), one message at a time.
 */
import type * as A from 'apache-arrow';
import { openIpcFile } from '../../../lib/arrow/ipc-read.js';
import type { InputFile } from '../inputs.js';
import type { ColumnarFormat, ReadContext } from './index.js';

const where = (file: InputFile) => ({ file: file.name, what: `${file.name} is not a readable Arrow IPC file or stream` });

export const arrowFormat: ColumnarFormat = {
  kind: 'columnar',
  async schema(file: InputFile): Promise<A.Schema> {
    return (await openIpcFile(await file.blob(), where(file))).schema;
  },
  async *read(file: InputFile, ctx: ReadContext & { batchRows: number }): AsyncIterable<A.RecordBatch> {
    const reader = await openIpcFile(await file.blob(), where(file));
    for (let b = await reader.next(); b; b = await reader.next()) {
      yield b;
      if (ctx.signal.aborted) return;
    }
  },
};
