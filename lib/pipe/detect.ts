/** What `write` reads: the format of stdin told by its first bytes. */
import { decodeArrowStream, type PipeMessage } from './arrow-stream.js';
import { decodeNdjson } from './ndjson-stream.js';
import { decodeSinger } from './singer.js';
import { SourceDataError } from '../errors.js';

export type PipeFormat = 'arrow' | 'ndjson' | 'singer';

/** put back bytes already read in front of the rest of a stream */
async function* prepend(first: Buffer, rest: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield first;
  while (true) {
    const n = await rest.next();
    if (n.done) return;
    yield n.value;
  }
}

export async function openPipeInput(
  input: AsyncIterable<Uint8Array>,
  batchRows = 10000,
): Promise<{ format: PipeFormat; messages: AsyncGenerator<PipeMessage> }> {
  const it = input[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  // enough bytes to see the first line (or the Arrow continuation marker)
  while (head.length < 4096 && !head.includes(10)) {
    const n = await it.next();
    if (n.done) break;
    head = Buffer.concat([head, Buffer.from(n.value)]);
  }
  const stream = prepend(head, it);
  let i = 0;
  while (i < head.length && (head[i] === 32 || head[i] === 9 || head[i] === 10 || head[i] === 13)) i++;
  if (i >= head.length) throw new SourceDataError('stdin is empty: nothing to write', { file: 'stdin' });
  if (head[i] === 0xff) return { format: 'arrow', messages: decodeArrowStream(stream) };
  if (head[i] === 0x7b) {
    const nl = head.indexOf(10, i);
    const firstLine = head.subarray(i, nl === -1 ? head.length : nl).toString('utf8');
    let type: unknown;
    try {
      type = (JSON.parse(firstLine) as { type?: unknown }).type;
    } catch {
      type = undefined;
    }
    if (typeof type === 'string' && ['SCHEMA', 'RECORD', 'STATE', 'ACTIVATE_VERSION'].includes(type))
      return { format: 'singer', messages: decodeSinger(stream, batchRows) };
    return { format: 'ndjson', messages: decodeNdjson(stream, batchRows) };
  }
  throw new SourceDataError(`stdin is neither an Arrow stream, NDJSON nor Singer (first byte 0x${head[i]!.toString(16)})`, { file: 'stdin' }, undefined);
}
