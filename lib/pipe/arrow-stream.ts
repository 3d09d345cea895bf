/**
 * The pipe format (docs/pipes.md): a sequence of Arrow IPC streams ("segments"). A table segment is
 * the table's schema (with cq:table_name and the column flags) and one batch of its rows. Control
 * messages are segments whose schema metadata holds `cq:message` (migrate-table, delete-stale,
 * delete-record, checkpoint, table-error, sync-start, sync-end); migrate-table carries the table
 * schema with one empty batch, the others one row with a JSON `payload` (a delete-record's values
 * as base64 Arrow IPC, delete-record.ts). Every segment is a complete, standalone
 * Arrow IPC stream, readable by any Arrow reader.
 */
import type { Readable } from 'node:stream';
import * as A from 'apache-arrow';
import { utf8Data } from '../arrow/index.js';
import { ipcStreams } from '../arrow/ipc-read.js';
import { ipcStreamPieces, joinPieces } from '../arrow/ipc-write.js';
import { CqPipeError, SourceDataError, isErrorCode, type ErrorContext } from '../errors.js';
import type { SyncMessage } from '../messages.js';
import { MD_TABLE_NAME, tableName, withSchemaMetadata } from '../schema.js';
import { arrowValue, arrowValueFrom, deleteRecordFromJson, deleteRecordJson } from './delete-record.js';

export const MD_MESSAGE = 'cq:message';

const CONTEXT_STRINGS = ['connector', 'table', 'column', 'file', 'keyPath', 'phase'] as const;
const CONTEXT_NUMBERS = ['line', 'document', 'row'] as const;

/**
 * The error of a `table-error` read from a pipe (docs/pipes.md). Pipe input cannot invent codes: a
 * code that is not one of ERROR_CODES (lib/errors.ts) becomes CQ_ERR_SOURCE_READ, its text kept at
 * the start of the message; a missing code is CQ_ERR_SOURCE_READ. Only known context keys of the
 * right type are kept. The error fails its table (`scope: 'table'`).
 */
export function tableErrorFromPipe(code: unknown, message: unknown, context?: unknown): CqPipeError {
  const text = String(message);
  const known = isErrorCode(code);
  const msg = known || code === undefined || code === null ? text : `${String(code)}: ${text}`;
  const ctx: ErrorContext = {};
  if (context && typeof context === 'object') {
    const c = context as Record<string, unknown>;
    for (const k of CONTEXT_STRINGS) if (typeof c[k] === 'string') ctx[k] = c[k];
    for (const k of CONTEXT_NUMBERS) if (typeof c[k] === 'number') ctx[k] = c[k];
  }
  return new CqPipeError(known ? code : 'CQ_ERR_SOURCE_READ', msg, { context: ctx, scope: 'table' });
}

/** first message of a `read` stream: who produced it */
export interface SyncStartMessage {
  kind: 'sync-start';
  sourceName: string;
  syncTime: string;
  /** source path (connector), for messages */
  source?: string;
}

export type PipeMessage = SyncMessage | SyncStartMessage;

function payloadSegment(kind: string, payload: unknown): Uint8Array {
  const schema = new A.Schema([new A.Field('payload', new A.Utf8(), false)], new Map([[MD_MESSAGE, kind]]));
  const batch = new A.RecordBatch(
    schema,
    A.makeData({ type: new A.Struct(schema.fields), length: 1, nullCount: 0, children: [utf8Data([JSON.stringify(payload)])] }),
  );
  return A.tableToIPC(new A.Table([batch]), 'stream');
}

/**
 * A message as the pieces of its segment, to be written in order (`read` hands them to one
 * writev); undefined for a batch without rows, which is not sent.
 */
export function encodeMessageParts(msg: PipeMessage): Uint8Array[] | undefined {
  if (msg.kind === 'insert') return msg.batch.numRows === 0 ? undefined : ipcStreamPieces(msg.batch);
  const one = encodeMessage(msg);
  return one && [one];
}

/** A message as one segment (the bytes of `encodeMessageParts`, joined). */
export function encodeMessage(msg: PipeMessage): Uint8Array | undefined {
  switch (msg.kind) {
    case 'insert':
      if (msg.batch.numRows === 0) return undefined;
      return joinPieces(ipcStreamPieces(msg.batch));
    case 'migrate-table': {
      const schema = withSchemaMetadata(msg.table, { [MD_MESSAGE]: 'migrate-table' });
      // one empty batch: a stream without any batch would not end cleanly for readers
      const children = schema.fields.map((f) => A.makeBuilder({ type: f.type }).finish().flush());
      const empty = new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length: 0, nullCount: 0, children }));
      return A.tableToIPC(new A.Table([empty]), 'stream');
    }
    case 'delete-stale':
      return payloadSegment('delete-stale', { table: msg.table, source_name: msg.sourceName, sync_time: msg.syncTime.toISOString() });
    case 'delete-record':
      return payloadSegment('delete-record', deleteRecordJson(msg, arrowValue));
    case 'checkpoint':
      return payloadSegment('checkpoint', { id: msg.id, state: msg.state, ...(msg.table !== undefined ? { table: msg.table } : {}) });
    case 'table-error':
      return payloadSegment('table-error', { table: msg.table, code: msg.error.code, message: msg.error.message, context: msg.error.context });
    case 'sync-start':
      return payloadSegment('sync-start', { source_name: msg.sourceName, sync_time: msg.syncTime, source: msg.source });
    case 'sync-end':
      return payloadSegment('sync-end', {});
  }
}

/**
 * The `sync-start` of a pipe (docs/pipes.md): its `source_name` scopes delete-stale, so one that is
 * missing or not a non-empty string is an error, not the text "undefined". `where` (e.g. the segment)
 * starts the message when the context does not say it.
 */
export function syncStartFrom(p: Record<string, unknown>, where: string | undefined, context: ErrorContext): SyncStartMessage {
  const at = where ? `${where}: ` : '';
  if (typeof p.source_name !== 'string' || p.source_name === '') {
    const got = p.source_name === undefined ? 'none' : JSON.stringify(p.source_name);
    throw new SourceDataError(
      `${at}sync-start needs source_name, a non-empty string (got ${got}); it names the source whose stale rows are deleted — ` +
        'give it one, or leave the sync-start out and name the source with --source-name',
      context,
    );
  }
  if (p.sync_time !== undefined && typeof p.sync_time !== 'string') {
    throw new SourceDataError(`${at}sync-start's sync_time must be an RFC 3339 string (got ${JSON.stringify(p.sync_time)})`, context);
  }
  return {
    kind: 'sync-start',
    sourceName: p.source_name,
    syncTime: (p.sync_time as string | undefined) ?? '',
    ...(typeof p.source === 'string' ? { source: p.source } : {}),
  };
}

function payloadOf(batch: A.RecordBatch): Record<string, unknown> {
  const v = batch.getChild('payload')?.get(0);
  if (typeof v !== 'string') throw new SourceDataError('a cq:message segment has no payload');
  return JSON.parse(v) as Record<string, unknown>;
}

/** Decode a byte stream of segments (already detected as Arrow) into messages. */
export async function* decodeArrowStream(input: Readable | AsyncIterable<Uint8Array>): AsyncGenerator<PipeMessage> {
  let segment = 0;
  try {
    // each segment's messages checked before they are decoded (lib/arrow/ipc-read.ts): damaged bytes fail here, naming the byte and segment
    for await (const reader of ipcStreams(input as AsyncIterable<Uint8Array>, { file: 'stdin', what: 'stdin is not a valid cq-pipe Arrow stream' })) {
      segment++;
      const kind = reader.schema.metadata.get(MD_MESSAGE);
      if (kind === undefined) {
        const table = reader.schema.metadata.get(MD_TABLE_NAME);
        if (!table) throw new SourceDataError(`segment ${segment} names no table (schema metadata ${MD_TABLE_NAME})`);
        for await (const batch of reader) if (batch.numRows > 0) yield { kind: 'insert', table, batch };
        continue;
      }
      const batches: A.RecordBatch[] = [];
      for await (const b of reader) batches.push(b);
      switch (kind) {
        case 'migrate-table': {
          const md = new Map<string, string>(reader.schema.metadata);
          md.delete(MD_MESSAGE);
          yield { kind: 'migrate-table', table: new A.Schema(reader.schema.fields, md) };
          break;
        }
        case 'delete-stale': {
          const p = payloadOf(batches[0]!);
          yield { kind: 'delete-stale', table: String(p.table), sourceName: String(p.source_name), syncTime: new Date(String(p.sync_time)) };
          break;
        }
        case 'delete-record': {
          const context = { file: 'stdin' };
          yield deleteRecordFromJson(payloadOf(batches[0]!), context, arrowValueFrom(context));
          break;
        }
        case 'checkpoint': {
          const p = payloadOf(batches[0]!);
          yield { kind: 'checkpoint', id: String(p.id), state: p.state as Record<string, string>, ...(typeof p.table === 'string' ? { table: p.table } : {}) };
          break;
        }
        case 'table-error': {
          const p = payloadOf(batches[0]!);
          yield { kind: 'table-error', table: String(p.table), error: tableErrorFromPipe(p.code, p.message, p.context) };
          break;
        }
        case 'sync-start': {
          const p = payloadOf(batches[0]!);
          yield syncStartFrom(p, `segment ${segment}`, { file: 'stdin' });
          break;
        }
        case 'sync-end':
          yield { kind: 'sync-end' };
          break;
        default:
          throw new SourceDataError(`segment ${segment}: unknown cq:message "${kind}"`);
      }
    }
  } catch (err) {
    if (err instanceof CqPipeError) throw err;
    throw new SourceDataError(`stdin is not a valid cq-pipe Arrow stream (segment ${segment + 1}): ${(err as Error).message}`, { file: 'stdin' }, err);
  }
}

export { tableName };
