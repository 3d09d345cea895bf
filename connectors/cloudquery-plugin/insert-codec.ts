/**
 * The hot message of the plugin wire without protobuf's copies (docs/plugins.md, "Performance of
 * the plugin wire"): `Sync.Response` and `Write.Request` are each one oneof whose `insert` (field
 * 2) holds a `MessageInsert` whose `record` (field 1) is one Arrow IPC stream. The generated code
 * copies a record twice to write it (the writer's result, `Buffer.from`) and twice to read it
 * (`new Uint8Array(buffer)`, the reader's slice); these write the two protobuf headers around one
 * copy of the record, and read the record as a view of the received buffer (copied once when it is
 * not 8-byte aligned, as Arrow's typed arrays need — grpc-framing.ts receives inserts aligned and
 * frames these without grpc-js's copy). Any other message goes through the generated code unchanged.
 */
import type * as grpcTypes from '@grpc/grpc-js';
import { pluginV3 } from '@cloudquery/plugin-pb-javascript';
import { installFraming, withHeadroom } from './grpc-framing.js';
import { INSERT_TAG, insertHeader, RECORD_TAG, varintLength, writeVarint } from './insert-header.js';

const v3 = pluginV3.cloudquery.plugin.v3;

/** an empty `{ insert: { record } }` message for a record of `length` bytes, with room for gRPC's prefix; where the record goes */
function insertFrame(length: number): { out: Buffer; start: number } {
  const inner = 1 + varintLength(length) + length;
  // room for gRPC's prefix before it: grpc-framing.ts frames it without another copy
  const out = withHeadroom(1 + varintLength(inner) + inner);
  let p = 0;
  out[p++] = INSERT_TAG;
  p = writeVarint(out, p, inner);
  out[p++] = RECORD_TAG;
  return { out, start: writeVarint(out, p, length) };
}

/** records laid out inside their whole message by insertRecord, and that message */
const messages = new WeakMap<Uint8Array, Buffer>();

/**
 * A record (as the pieces of lib/arrow/ipc-write.ts `ipcStreamPieces`) copied once, into the message that
 * will carry it: the serializers below send that message as it is.
 */
export function insertRecord(pieces: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const piece of pieces) length += piece.length;
  const { out, start } = insertFrame(length);
  let p = start;
  for (const piece of pieces) {
    out.set(piece, p);
    p += piece.length;
  }
  const record = out.subarray(start);
  messages.set(record, out);
  return record;
}

/** The protobuf bytes of `{ insert: { record } }` (a non-empty record), as the generated serializer writes them. */
export function encodeInsertMessage(record: Uint8Array): Buffer {
  const whole = messages.get(record);
  if (whole) return whole;
  const { out, start } = insertFrame(record.length);
  out.set(record, start);
  return out;
}

/**
 * The record of a message that is exactly `{ insert: { record } }` with a non-empty record, or
 * undefined for any other message (the caller decodes it with the generated code). The record is a
 * view of `buf` when it starts 8-byte aligned, else one aligned copy.
 */
export function decodeInsertMessage(buf: Uint8Array): Uint8Array | undefined {
  const end = buf.length;
  const h = insertHeader(buf, end);
  if (!h || h.innerEnd !== end || h.length === 0 || h.start + h.length !== end) return undefined;
  const { length, start } = h;
  const offset = buf.byteOffset + start;
  if (offset % 8 === 0) return new Uint8Array(buf.buffer, offset, length);
  const copy = new Uint8Array(length);
  copy.set(buf.subarray(start, end));
  return copy;
}

type Method = grpcTypes.MethodDefinition<unknown, unknown>;

/** a Sync response or Write request: a oneof that may hold an insert */
interface InsertCarrier {
  has_insert: boolean;
  insert: { record: Uint8Array };
}

/**
 * `def` with the messages of its `side` that carry an insert (de)serialized by the functions above;
 * `make` builds the generated message of a decoded record. Every other message as generated.
 */
function withInsertCodec(def: Method, side: 'request' | 'response', make: (record: Uint8Array) => unknown): Method {
  const serialize = side === 'request' ? def.requestSerialize : def.responseSerialize;
  const deserialize = side === 'request' ? def.requestDeserialize : def.responseDeserialize;
  const ser = (value: unknown) => {
    const m = value as InsertCarrier;
    return m.has_insert && m.insert.record.length > 0 ? encodeInsertMessage(m.insert.record) : serialize(m);
  };
  const de = (b: Buffer) => {
    const record = decodeInsertMessage(b);
    return record ? make(record) : deserialize(b);
  };
  return side === 'request' ? { ...def, requestSerialize: ser, requestDeserialize: de } : { ...def, responseSerialize: ser, responseDeserialize: de };
}

/**
 * The plugin service definition with the Sync responses and Write requests that carry an insert
 * (de)serialized by the functions above; every other message, and every other method, as generated.
 * Used by the client (grpc-client.ts) and the server (serve/server.ts) alike.
 */
export function pluginServiceDefinition(): grpcTypes.ServiceDefinition {
  installFraming();
  const generated = v3.UnimplementedPluginService.definition as unknown as Record<string, Method>;
  return {
    ...generated,
    Sync: withInsertCodec(generated.Sync!, 'response', (record) => new v3.Sync.Response({ insert: new v3.Sync.MessageInsert({ record }) })),
    Write: withInsertCodec(generated.Write!, 'request', (record) => new v3.Write.Request({ insert: new v3.Write.MessageInsert({ record }) })),
  };
}
