/**
 * Per-destination schema rewriting for write and PK modes (docs/semantics.md):
 *   append      → every primary-key and unique flag is stripped (plain inserts);
 *   cq-id-only  → `_cq_id` is the only key;
 *   delete-stale messages reach only `overwrite-delete-stale` destinations;
 *   delete-record messages reach every destination, in every write mode (as in CloudQuery).
 * Inserts are relabelled with the rewritten schema (zero-copy).
 */
import type * as A from 'apache-arrow';
import * as Arrow from 'apache-arrow';
import type { PkMode, SyncMessage, WriteMode } from '../messages.js';
import { CQ_ID, MD_PRIMARY_KEY, MD_UNIQUE, isPrimaryKey, relabel, tableName, withFieldMetadata } from '../schema.js';

export interface WriteModeOptions {
  writeMode: WriteMode;
  pkMode: PkMode;
}

export function rewriteSchema(schema: A.Schema, opts: WriteModeOptions): A.Schema {
  let fields = schema.fields;
  if (opts.writeMode === 'append') {
    fields = fields.map((f) => withFieldMetadata(f, { [MD_PRIMARY_KEY]: 'false', [MD_UNIQUE]: 'false' }));
  } else if (opts.pkMode === 'cq-id-only') {
    fields = fields.map((f) =>
      f.name === CQ_ID ? withFieldMetadata(f, { [MD_PRIMARY_KEY]: 'true' }, false) : isPrimaryKey(f) ? withFieldMetadata(f, { [MD_PRIMARY_KEY]: 'false' }) : f,
    );
  }
  return fields === schema.fields ? schema : new Arrow.Schema(fields, schema.metadata);
}

export function writeMode(opts: WriteModeOptions) {
  const rewritten = new Map<string, { from: A.Schema; to: A.Schema }>();
  const schemaFor = (name: string, from: A.Schema): A.Schema => {
    const hit = rewritten.get(name);
    if (hit && (hit.from === from || sameShape(hit.from, from))) return hit.to;
    const to = rewriteSchema(from, opts);
    rewritten.set(name, { from, to });
    return to;
  };
  return async function* (source: AsyncIterable<SyncMessage>): AsyncGenerator<SyncMessage> {
    for await (const msg of source) {
      switch (msg.kind) {
        case 'migrate-table':
          yield { kind: 'migrate-table', table: schemaFor(tableName(msg.table), msg.table) };
          break;
        case 'insert': {
          const to = schemaFor(msg.table, msg.batch.schema);
          yield to === msg.batch.schema ? msg : { ...msg, batch: relabel(msg.batch, to) };
          break;
        }
        case 'delete-stale':
          if (opts.writeMode === 'overwrite-delete-stale') yield msg;
          break;
        default:
          yield msg;
      }
    }
  };
}

function sameShape(a: A.Schema, b: A.Schema): boolean {
  if (a.fields.length !== b.fields.length) return false;
  return a.fields.every((f, i) => f.name === b.fields[i]!.name && f.typeId === b.fields[i]!.typeId);
}
