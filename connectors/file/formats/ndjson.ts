/** NDJSON / JSON Lines: one JSON object per line; blank lines are skipped; integers beyond 2^53 stay exact (bigint). */
import { SourceDataError } from '../../../lib/errors.js';
import { parseJsonExact } from '../../../lib/json-exact.js';
import type { Readable } from 'node:stream';
import { openText } from './open-text.js';
import type { RawRecord, ReadContext, RowChunk, RowFormat } from './index.js';
import type { InputFile } from '../inputs.js';

/** bytes decoded to text at a time */
const DECODE_PIECE = 512 * 1024;

export const ndjsonFormat: RowFormat = {
  kind: 'rows',
  text: false,
  position: 'line',
  read: (file: InputFile, ctx: ReadContext): AsyncIterable<RowChunk> => ndjsonRows(openText(file), file.name, ctx),
  /** every line (numbered as read() numbers them), without its line break */
  async *raw(file: InputFile, _ctx: ReadContext): AsyncIterable<RawRecord> {
    const input = openText(file);
    const decoder = new TextDecoder();
    let tail = '';
    let line = 0;
    const cut = (text: string) => (text.charCodeAt(text.length - 1) === 13 ? text.slice(0, -1) : text);
    try {
      for await (const buf of input) {
        const text = tail + decoder.decode(buf as Uint8Array, { stream: true });
        let start = 0;
        for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
          yield { pos: ++line, raw: cut(text.slice(start, nl)) };
          start = nl + 1;
        }
        tail = text.slice(start);
      }
      const rest = tail + decoder.decode();
      if (rest !== '') yield { pos: ++line, raw: cut(rest) };
    } finally {
      input.destroy();
    }
  },
};

/** One line of NDJSON (without its line break), line `line` of file `name`: its object, or undefined for a blank line. */
export function parseNdjsonLine(text: string, name: string, line: number): Record<string, unknown> | undefined {
  if (text.length === 0 || (text.length < 8 && text.trim() === '')) return undefined;
  let v: unknown;
  try {
    v = parseJsonExact(text);
  } catch (err) {
    throw new SourceDataError(`malformed JSON: ${(err as Error).message}`, { file: name, line });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new SourceDataError(`expected a JSON object, got ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}`, { file: name, line });
  }
  return v as Record<string, unknown>;
}

/**
 * The rows of NDJSON bytes (`input`, already gunzipped), named `name` in errors: what read() yields,
 * also run on bytes handed to the row worker (./row-worker.ts). `input` is destroyed when done.
 */
export async function* ndjsonRows(input: Readable, name: string, ctx: ReadContext): AsyncIterable<RowChunk> {
  // fatal: invalid UTF-8 is an error naming the line, not silently replaced by U+FFFD
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const decode = (b?: Uint8Array): string => {
    try {
      if (!b) return decoder.decode();
      // pieces below Node's external-string size (~1 MB): a longer decoded string lives outside
      // the V8 heap until a full collection, and tens of MB of them piled up in the process
      if (b.length <= DECODE_PIECE) return decoder.decode(b, { stream: true });
      let s = '';
      for (let o = 0; o < b.length; o += DECODE_PIECE) s += decoder.decode(b.subarray(o, o + DECODE_PIECE), { stream: true });
      return s;
    } catch {
      // the line: newlines before the first replacement character of a lenient decode
      const lenient = (tail + (b ? new TextDecoder().decode(b) : '')).split('\uFFFD')[0]!;
      throw new SourceDataError('invalid UTF-8', { file: name, line: line + lenient.split('\n').length });
    }
  };
  let tail = '';
  let line = 0;
  let count = 0;
  const limit = ctx.limit ?? Infinity;
  const parse = (text: string, chunk: RowChunk): void => {
    line++;
    const row = parseNdjsonLine(text, name, line);
    if (!row) return;
    chunk.rows.push(row);
    chunk.lines.push(line);
    count++;
  };
  try {
    for await (const buf of input) {
      if (ctx.signal.aborted) return;
      const text = tail + decode(buf as Uint8Array);
      const chunk: RowChunk = { rows: [], lines: [] };
      let start = 0;
      const last = text.lastIndexOf('\n');
      if (last > 0 && count + 5000 < limit) {
        // fast path: the chunk's complete lines parsed as one JSON array (one call instead of
        // thousands); anything unusual (blank lines, two values on a line, a non-object) falls
        // back to line by line, which names the offending line
        const body = text.slice(0, text.charCodeAt(last - 1) === 13 ? last - 1 : last);
        let parsed: unknown;
        try {
          parsed = parseJsonExact(`[${body.replaceAll('\n', ',')}]`);
        } catch {
          parsed = undefined;
        }
        let lineCount = 1;
        for (let k = body.indexOf('\n'); k !== -1; k = body.indexOf('\n', k + 1)) lineCount++;
        if (Array.isArray(parsed) && parsed.length === lineCount && parsed.every((v) => v !== null && typeof v === 'object' && !Array.isArray(v))) {
          for (let k = 0; k < parsed.length; k++) {
            chunk.rows.push(parsed[k] as Record<string, unknown>);
            chunk.lines.push(line + k + 1);
          }
          line += parsed.length;
          count += parsed.length;
          start = last + 1;
        }
      }
      for (let nl = text.indexOf('\n', start); nl !== -1; nl = text.indexOf('\n', start)) {
        parse(text.charCodeAt(nl - 1) === 13 ? text.slice(start, nl - 1) : text.slice(start, nl), chunk);
        start = nl + 1;
        if (count >= limit) break;
      }
      tail = text.slice(start);
      if (chunk.rows.length) yield chunk;
      if (count >= limit) return;
    }
    const rest = tail + decode();
    if (rest.trim() !== '') {
      const chunk: RowChunk = { rows: [], lines: [] };
      parse(rest, chunk);
      if (chunk.rows.length) yield chunk;
    }
  } finally {
    input.destroy();
  }
}
