/** CSV with csv-parse (streaming, RFC 4180 quoting); the header row names the columns. */
import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { CqPipeError, SourceDataError } from '../../../lib/errors.js';
import { openText } from './open-text.js';
import type { RawRecord, ReadContext, RowChunk, RowFormat } from './index.js';
import type { InputFile } from '../inputs.js';

const CHUNK = 2000;

export const csvFormat: RowFormat = {
  kind: 'rows',
  text: true,
  position: 'line',
  read: (file: InputFile, ctx: ReadContext): AsyncIterable<RowChunk> => csvRows(openText(file), file.name, ctx),
  async *raw(file: InputFile, ctx: ReadContext): AsyncIterable<RawRecord> {
    const o = ctx.csv;
    const input = openText(file);
    const parser = parse({ delimiter: o.delimiter, quote: o.quote, escape: o.escape, bom: true, skip_empty_lines: true, info: true, raw: true });
    input.on('error', (e) => parser.destroy(e));
    input.pipe(parser);
    try {
      // a record's raw text carries the empty lines before it and its line break: trimmed off
      for await (const rec of parser as AsyncIterable<{ raw: string; info: { lines: number } }>)
        yield { pos: rec.info.lines, raw: rec.raw.replace(/^[\r\n]+|[\r\n]+$/g, '') };
    } finally {
      input.destroy();
      parser.destroy();
    }
  },
};

/**
 * The rows of CSV bytes (`input`, already gunzipped), named `name` in errors: what read() yields,
 * also run on bytes handed to the row worker (./row-worker.ts). `input` is destroyed when done.
 */
export async function* csvRows(input: Readable, name: string, ctx: ReadContext): AsyncIterable<RowChunk> {
  const o = ctx.csv;
  const parser = parse({
    delimiter: o.delimiter,
    quote: o.quote,
    escape: o.escape,
    bom: true,
    skip_empty_lines: true,
    info: true,
    relax_column_count: false,
  });
  input.on('error', (e) => parser.destroy(e));
  input.pipe(parser);
  let header: string[] | undefined = o.header ? undefined : o.column_names;
  const limit = ctx.limit ?? Infinity;
  let chunk: RowChunk = { rows: [], lines: [] };
  let count = 0;
  try {
    for await (const rec of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      const cells = rec.record;
      if (!header) {
        header = cells.map((c) => c.trim());
        const dup = header.find((h, i) => header!.indexOf(h) !== i);
        if (dup !== undefined) throw new SourceDataError(`the header names column "${dup}" twice`, { file: name, line: rec.info.lines });
        continue;
      }
      if (cells.length !== header.length) {
        throw new SourceDataError(`expected ${header.length} fields, got ${cells.length}`, { file: name, line: rec.info.lines });
      }
      const row: Record<string, unknown> = {};
      for (let i = 0; i < header.length; i++) row[header[i]!] = cells[i];
      chunk.rows.push(row);
      chunk.lines.push(rec.info.lines);
      if (++count >= limit) break;
      if (chunk.rows.length >= CHUNK) {
        yield chunk;
        chunk = { rows: [], lines: [] };
        if (ctx.signal.aborted) return;
      }
    }
  } catch (err) {
    if (err instanceof CqPipeError) throw err; // typed already (bad data, or a failed read of the input)
    const e = err as Error & { lines?: number; code?: string };
    throw new SourceDataError(`malformed CSV: ${e.message}`, { file: name, line: e.lines }, err);
  } finally {
    input.destroy();
    parser.destroy();
  }
  if (chunk.rows.length) yield chunk;
}
