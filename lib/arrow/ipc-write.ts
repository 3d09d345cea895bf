/**
 * Arrow IPC stream bytes of one batch without joining them: the pipe's segments
 * (lib/pipe/arrow-stream.ts, written with one writev) and the plugin wire's insert records
 * (connectors/cloudquery-plugin, copied once into their message) both send the pieces as they are.
 */
import * as A from 'apache-arrow';
import { Message, RecordBatch as BatchHeader } from 'apache-arrow/ipc/metadata/message';
import { VectorAssembler } from 'apache-arrow/visitor/vectorassembler';
import { MD_TABLE_NAME } from '../schema.js';

/** an IPC message as the stream format frames it: continuation marker, length, flatbuffer padded to 8 bytes */
function framed(message: Message): Uint8Array {
  const fb = Message.encode(message);
  const size = (8 + fb.byteLength + 7) & ~7;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setInt32(0, -1, true);
  v.setInt32(4, size - 8, true);
  out.set(fb, 8);
  return out;
}

const END_OF_STREAM = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0);
const PADDING = new Uint8Array(8);
const sameMap = (a: Map<string, string>, b: Map<string, string>) => a === b || (a.size === b.size && [...a].every(([k, v]) => b.get(k) === v));

/**
 * The same schema message: apache-arrow gives every batch its own copy of the schema (fields
 * cloned, metadata maps copied), but their types are shared objects, and a shared type has the
 * same children. Anything else is encoded anew.
 */
export function sameSchema(a: A.Schema, b: A.Schema): boolean {
  return (
    a === b ||
    (a.fields.length === b.fields.length &&
      sameMap(a.metadata, b.metadata) &&
      a.fields.every((f, i) => {
        const g = b.fields[i]!;
        return f.type === g.type && f.name === g.name && f.nullable === g.nullable && sameMap(f.metadata, g.metadata);
      }))
  );
}

/** each table's last schema and its framed message: the schema is encoded once, not once a batch */
const schemaMessages = new Map<string, { schema: A.Schema; bytes: Uint8Array }>();

/**
 * One batch as an Arrow IPC stream (schema, the batch, end-of-stream) in pieces to be written or
 * copied one after the other: the column buffers themselves, not copied; the bytes are those
 * `tableToIPC(new Table([batch]), 'stream')` gives. A schema with dictionaries goes through
 * apache-arrow's writer, which writes them before the batch.
 */
export function ipcStreamPieces(batch: A.RecordBatch): Uint8Array[] {
  if (batch.schema.dictionaries.size > 0) return [A.tableToIPC(new A.Table([batch]), 'stream')];
  const table = batch.schema.metadata.get(MD_TABLE_NAME) ?? '';
  let known = schemaMessages.get(table);
  if (!known || !sameSchema(known.schema, batch.schema)) {
    known = { schema: batch.schema, bytes: framed(Message.from(batch.schema)) };
    schemaMessages.set(table, known);
  }
  const schema = known.bytes;
  const { byteLength, nodes, bufferRegions, buffers, variadicBufferCounts } = VectorAssembler.assemble(batch);
  const header = new BatchHeader(batch.numRows, nodes, bufferRegions, null, variadicBufferCounts, batch.metadata);
  const parts = [schema, framed(Message.from(header, byteLength))];
  for (const b of buffers) {
    if (b.byteLength === 0) continue;
    parts.push(b instanceof Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    const pad = ((b.byteLength + 7) & ~7) - b.byteLength;
    if (pad) parts.push(PADDING.subarray(0, pad));
  }
  parts.push(END_OF_STREAM);
  return parts;
}

/** the pieces of ipcStreamPieces as one buffer (the one piece itself when there is only one) */
export function joinPieces(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
