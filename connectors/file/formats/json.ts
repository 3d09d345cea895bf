/**
 * JSON: a top-level array of objects, streamed element by element with stream-json. Integers
 * beyond ±2^53 stay exact (bigint), as in NDJSON (lib/json-exact.ts): stream-json hands numbers
 * over as text, and those a double would round are kept as bigints instead of parseFloat.
 */
import { streamArray } from 'stream-json/streamers/stream-array.js';
import withParser from 'stream-json/utils/with-parser.js';
import { CqPipeError, SourceDataError } from '../../../lib/errors.js';
import { openText } from './open-text.js';
import type { RawRecord, ReadContext, RowChunk, RowFormat } from './index.js';
import { stringifyExact } from '../../../lib/json-exact.js';
import type { InputFile } from '../inputs.js';

const CHUNK = 2000;

/** an integer token a double would round (magnitude 2^53 or more) */
function unsafeInteger(text: string): boolean {
  return text.length >= 16 && /^-?\d+$/.test(text) && !Number.isSafeInteger(Number(text));
}

/** stream-json's array streamer, with unsafe integer tokens assembled as bigints (saved as they are, like a string token's value) */
const exactArray = (options?: object) => {
  const inner = streamArray(options) as unknown as (chunk: { name: string; value?: unknown }) => unknown;
  return ((chunk: { name: string; value?: unknown }) =>
    inner(
      chunk.name === 'numberValue' && unsafeInteger(chunk.value as string) ? { name: 'stringValue', value: BigInt(chunk.value as string) } : chunk,
    )) as unknown as ReturnType<typeof streamArray>;
};

export const jsonFormat: RowFormat = {
  kind: 'rows',
  text: false,
  position: 'element',
  async *read(file: InputFile, ctx: ReadContext): AsyncIterable<RowChunk> {
    const input = openText(file);
    const items = withParser.asStream(exactArray, { packKeys: true });
    input.on('error', (e) => items.destroy(e));
    input.pipe(items);
    const limit = ctx.limit ?? Infinity;
    let chunk: RowChunk = { rows: [], lines: [] };
    let count = 0;
    try {
      for await (const item of items as AsyncIterable<{ key: number; value: unknown }>) {
        const v = item.value;
        if (v === null || typeof v !== 'object' || Array.isArray(v)) {
          throw new SourceDataError(
            `array element ${item.key}: expected a JSON object, got ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}`,
            { file: file.name },
          );
        }
        chunk.rows.push(v as Record<string, unknown>);
        chunk.lines.push(item.key);
        if (++count >= limit) break;
        if (chunk.rows.length >= CHUNK) {
          yield chunk;
          chunk = { rows: [], lines: [] };
          if (ctx.signal.aborted) return;
        }
      }
    } catch (err) {
      if (err instanceof CqPipeError) throw err; // typed already (bad data, or a failed read of the input)
      throw new SourceDataError(`malformed JSON after element ${count - 1 < 0 ? 'start' : count - 1}: ${(err as Error).message}`, { file: file.name }, err);
    } finally {
      input.destroy();
      items.destroy();
    }
    if (chunk.rows.length) yield chunk;
  },
  /** each array element, written again as JSON (the parser keeps no text) */
  async *raw(file: InputFile, _ctx: ReadContext): AsyncIterable<RawRecord> {
    const input = openText(file);
    const items = streamArray.withParserAsStream();
    input.on('error', (e) => items.destroy(e));
    input.pipe(items);
    try {
      for await (const item of items as AsyncIterable<{ key: number; value: unknown }>) yield { pos: item.key, raw: stringifyExact(item.value) };
    } finally {
      input.destroy();
      items.destroy();
    }
  },
};
