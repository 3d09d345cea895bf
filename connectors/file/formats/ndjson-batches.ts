/**
 * NDJSON bytes → batches, by the byte scanner (./ndjson-columns.ts) where it can and by lines
 * (JSON.parse, ./ndjson.ts) where it cannot (docs/file-source.md, "fast path").
 *
 * Yields either a whole batch of `batchRows` rows (the last may be shorter) built by the scanner, or
 * rows read the general way, which the caller pushes into its RowBatchBuilder and closes as a batch
 * every `batchRows` rows, as it does for ndjsonRows. When the scanner stops at a line it does not
 * read, or its batch cannot be built (a value that does not fit), the batch is read again from its
 * first line the general way — so errors, dead-letter rows and the first unknown column are found
 * and named exactly as before — and the scanner takes over again at the next batch. The bytes of
 * the batch being scanned are held (views of the pieces read, about one batch of bytes) until then.
 */
import type * as A from 'apache-arrow';
import { SourceDataError } from '../../../lib/errors.js';
import type { RowChunk } from './index.js';
import { NdjsonColumns } from './ndjson-columns.js';
import { parseNdjsonLine } from './ndjson.js';

const NL = 10;
const EMPTY = Buffer.alloc(0);
/** rows among which the first unknown column is reported (./row-worker.ts) */
export const STRICT_ROWS = 100;

export type NdjsonItem = { batch: A.RecordBatch } | { chunk: RowChunk };

export async function* ndjsonBatches(input: AsyncIterable<Uint8Array>, name: string, schema: A.Schema, batchRows: number): AsyncGenerator<NdjsonItem> {
  const fast = new NdjsonColumns(schema, batchRows);
  /** lines before the batch in progress (scanner) or read so far (general) */
  let line = 0;
  /** rows yielded so far */
  let rows = 0;
  /** rows still to read the general way before the scanner takes over (the rest of a batch) */
  let slowLeft = 0;
  /** lines of the batch being scanned, in pieces read before the current one */
  let held: Buffer[] = [];
  /** the start of the file has not been decoded yet (a BOM is dropped there, as TextDecoder does) */
  let atStart = true;

  /** up to `want` rows from whole lines of `bytes` at `pos`, the general way: the rows and the end */
  const slowLines = (bytes: Buffer, pos: number, want: number): { chunk: RowChunk; end: number } => {
    let end = pos;
    for (let k = 0; k < want && end < bytes.length; k++) {
      const nl = bytes.indexOf(NL, end);
      end = nl < 0 ? bytes.length : nl + 1;
    }
    const text = decode(bytes.subarray(pos, end), pos === 0 && atStart, name, line);
    atStart &&= pos !== 0;
    const chunk: RowChunk = { rows: [], lines: [] };
    let start = 0;
    while (start < text.length) {
      let nl = text.indexOf('\n', start);
      if (nl < 0) nl = text.length;
      const cut = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      line++;
      const row = parseNdjsonLine(text.slice(start, cut), name, line);
      if (row) {
        chunk.rows.push(row);
        chunk.lines.push(line);
      }
      start = nl + 1;
    }
    // rows may be fewer than lines (blank lines): the caller asks again
    return { chunk, end };
  };

  /** the batch in progress cannot be scanned: its lines in earlier pieces read again the general way (the caller goes on with the rest) */
  function* fallBack(): Generator<NdjsonItem> {
    fast.reset();
    slowLeft = batchRows;
    const before = held;
    held = [];
    for (const h of before) {
      let p = 0;
      while (p < h.length) {
        const { chunk, end } = slowLines(h, p, slowLeft);
        p = end;
        slowLeft -= chunk.rows.length;
        rows += chunk.rows.length;
        if (chunk.rows.length) yield { chunk };
      }
    }
  }

  /** a full or last batch of the scanner; undefined when it cannot be built (the caller falls back) */
  const finish = (): A.RecordBatch | undefined => {
    const n = fast.length;
    try {
      const batch = fast.finish();
      rows += n;
      line += n;
      return batch;
    } catch {
      return undefined;
    }
  };

  /** whole lines `seg` */
  function* segment(seg: Buffer): Generator<NdjsonItem> {
    let pos = 0;
    let batchStart = 0;
    while (pos < seg.length) {
      if (slowLeft > 0) {
        const { chunk, end } = slowLines(seg, pos, slowLeft);
        pos = end;
        slowLeft -= chunk.rows.length;
        rows += chunk.rows.length;
        if (chunk.rows.length) yield { chunk };
        batchStart = pos;
        continue;
      }
      if (fast.length === 0) batchStart = pos;
      fast.strictRows = Math.max(0, STRICT_ROWS - rows);
      // the file's first bytes may hold a BOM: read the first line the general way
      const r = atStart && pos === 0 && seg[0] !== 123 ? { pos, bail: true } : fast.scan(seg, pos, seg.length);
      if (atStart) atStart = r.pos === 0 && r.bail;
      if (!r.bail) {
        pos = r.pos;
        if (fast.length < batchRows) break;
        const batch = finish();
        if (batch) {
          held = [];
          yield { batch };
          continue;
        }
      }
      yield* fallBack();
      pos = batchStart;
    }
    if (fast.length > 0) held.push(seg.subarray(batchStart));
  }

  let carry: Buffer = EMPTY;
  for await (const piece of input) {
    const buf = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    const first = buf.indexOf(NL);
    if (first < 0) {
      carry = carry.length ? Buffer.concat([carry, buf]) : Buffer.from(buf);
      continue;
    }
    // the line across pieces on its own, then the piece's whole lines as they are
    if (carry.length) yield* segment(Buffer.concat([carry, buf.subarray(0, first + 1)]));
    const last = buf.lastIndexOf(NL);
    const from = carry.length ? first + 1 : 0;
    if (last + 1 > from) yield* segment(buf.subarray(from, last + 1));
    carry = last + 1 < buf.length ? Buffer.from(buf.subarray(last + 1)) : EMPTY;
  }
  if (carry.length) yield* segment(Buffer.concat([carry, Buffer.of(NL)]));
  if (fast.length > 0) {
    const batch = finish();
    if (batch) yield { batch };
    else {
      yield* fallBack();
    }
  }
}

/** UTF-8 → text, or the file's error naming the line of the first invalid byte (lines before: `line`) */
function decode(bytes: Uint8Array, fileStart: boolean, name: string, line: number): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: !fileStart }).decode(bytes);
  } catch {
    const lenient = new TextDecoder('utf-8', { ignoreBOM: !fileStart }).decode(bytes).split('\uFFFD')[0]!;
    throw new SourceDataError('invalid UTF-8', { file: name, line: line + lenient.split('\n').length });
  }
}
