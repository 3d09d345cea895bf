/**
 * Arrow on the plugin wire: IPC schemas and records as CloudQuery plugins send them, turned into
 * cq-pipe's own column types (docs/semantics.md). CloudQuery's uuid, json and inet extension types
 * (`ARROW:extension:name` + `…:metadata`) are cq-pipe's uuid, json and inet: uuid stays
 * FixedSizeBinary(16), json and inet become Binary when a plugin sends them as Utf8; timestamps of
 * any unit become µs UTC. Every other type and all `cq:*` metadata pass through unchanged.
 */
import * as A from 'apache-arrow';
import { realignedBitmap } from '../../lib/arrow/bitmap.js';
import { makeDataOf } from '../../lib/arrow/data.js';
import { timestampToMicros } from '../../lib/arrow/time.js';
import { batchFromColumns } from '../../lib/schema.js';
import { EXT_META, EXT_NAME, EXTENSION_TYPES, type ExtensionName } from '../../lib/types.js';

/** The one IPC stream schema of a `GetTables` / `migrate_table` message. */
export function decodeSchema(bytes: Uint8Array): A.Schema {
  return A.tableFromIPC(bytes).schema;
}

/** The batches of one `insert` record (one IPC stream; plugins send one batch, empty ones are dropped). */
export function decodeRecord(bytes: Uint8Array): { schema: A.Schema; batches: A.RecordBatch[] } {
  const t = A.tableFromIPC(bytes);
  return { schema: t.schema, batches: t.batches.filter((b) => b.numRows > 0) };
}

function extensionName(f: A.Field): ExtensionName | undefined {
  const e = f.metadata.get(EXT_NAME);
  return e && (EXTENSION_TYPES as readonly string[]).includes(e) ? (e as ExtensionName) : undefined;
}

/** cq-pipe's type for a plugin field, or undefined when the field is already one. */
function convertedType(f: A.Field): A.DataType | undefined {
  const ext = extensionName(f);
  if ((ext === 'json' || ext === 'inet') && f.type.typeId === A.Type.Utf8) return new A.Binary();
  if (f.type.typeId === A.Type.Timestamp) {
    const t = f.type as A.Timestamp;
    if (t.unit !== A.TimeUnit.MICROSECOND || t.timezone !== 'UTC') return new A.TimestampMicrosecond('UTC');
  }
  return undefined;
}

/** A plugin field as cq-pipe sees it: its type converted, extension metadata in cq-pipe's exact form. */
export function toCqPipeField(f: A.Field): A.Field {
  const ext = extensionName(f);
  const type = convertedType(f) ?? f.type;
  if (!ext && type === f.type) return f;
  const md = new Map(f.metadata);
  if (ext) md.set(EXT_META, `${ext}-serialized`);
  return new A.Field(f.name, type, f.nullable, md);
}

/** A plugin table schema as cq-pipe sees it (schema metadata, `cq:table_name` included, kept). */
export function toCqPipeSchema(s: A.Schema): A.Schema {
  return new A.Schema(s.fields.map(toCqPipeField), s.metadata);
}

/** One column converted from the plugin's type `from` to cq-pipe's `to` (same values). */
function convertColumn(data: A.Data, from: A.DataType, to: A.DataType): A.Data {
  if (from.typeId === A.Type.Utf8 && to.typeId === A.Type.Binary) return data.clone(to);
  if (from.typeId === A.Type.Timestamp && to.typeId === A.Type.Timestamp) {
    const unit = (from as A.Timestamp).unit;
    if (unit === A.TimeUnit.MICROSECOND) return data.clone(to);
    const toMicros = timestampToMicros(unit);
    const src = data.values as unknown as BigInt64Array;
    const out = new BigInt64Array(data.length);
    // fixed-width values are sliced with the Data
    for (let i = 0; i < data.length; i++) out[i] = toMicros(BigInt(src[i]!));
    return makeDataOf({ type: to, length: data.length, nullCount: data.nullCount, nullBitmap: realignedBitmap(data), data: out });
  }
  throw new TypeError(`cannot convert ${from} to ${to}`);
}

/**
 * A plugin batch in the column order and types of its cq-pipe table schema (columns matched by
 * name); throws a message naming the column when the batch lacks one or has an unexpected type.
 */
export function conformBatch(batch: A.RecordBatch, table: A.Schema): A.RecordBatch {
  const byName = new Map(batch.schema.fields.map((f, i) => [f.name, i]));
  const cols = table.fields.map((f) => {
    const i = byName.get(f.name);
    if (i === undefined) throw new TypeError(`the record has no column "${f.name}"`);
    const from = batch.schema.fields[i]!;
    const data = batch.data.children[i]!;
    const fromType = from.type;
    if (A.util.compareTypes(fromType, f.type)) return data;
    const want = convertedType(from);
    if (!want || !A.util.compareTypes(want, f.type)) throw new TypeError(`column "${f.name}" is ${fromType}, the table says ${f.type}`);
    return convertColumn(data, fromType, f.type);
  });
  return batchFromColumns(table, batch.numRows, cols);
}

/**
 * A cq-pipe table schema as the IPC bytes of a `migrate_table` / `GetTables` message: the schema
 * message and end-of-stream, no batch. cq-pipe's uuid, json and inet columns already have
 * CloudQuery's storage and extension metadata, and timestamps are µs UTC, so fields go as they are.
 */
export function encodeSchema(schema: A.Schema): Uint8Array {
  return A.tableToIPC(new A.Table(schema), 'stream');
}

/**
 * One non-empty batch as the IPC bytes of an `insert` / `Read` record: one stream holding exactly
 * that batch, with the table's schema metadata (`cq:table_name`), as Go readers take only the
 * first batch of a stream.
 */
export function encodeRecord(batch: A.RecordBatch): Uint8Array {
  if (batch.numRows === 0) throw new RangeError('an empty batch is not sent to a plugin');
  return A.tableToIPC(new A.Table([batch]), 'stream');
}

/**
 * The value of a delete_record predicate: one IPC stream whose first batch has one row; its first
 * column (what a Go destination reads) becomes a one-row, one-column batch in cq-pipe's type for
 * that field (extension types and timestamps as for rows), the schema metadata kept. Throws a
 * message saying what the record lacks.
 */
export function decodePredicateValue(bytes: Uint8Array): A.RecordBatch {
  let t: A.Table;
  try {
    t = A.tableFromIPC(bytes);
  } catch (err) {
    throw new TypeError(`is not an Arrow IPC stream: ${(err as Error).message}`);
  }
  const wire = t.schema.fields[0];
  if (!wire) throw new TypeError('has no column');
  if (t.schema.fields.length !== 1) throw new TypeError(`has ${t.schema.fields.length} columns, a predicate value has one`);
  const batch = t.batches.find((b) => b.numRows > 0);
  if (!batch || t.numRows !== 1) throw new TypeError(`has ${t.numRows} rows, a predicate value has one`);
  const field = toCqPipeField(wire);
  let data = batch.data.children[0]!;
  if (field.type !== wire.type) data = convertColumn(data, wire.type, field.type);
  return batchFromColumns(new A.Schema([field], t.schema.metadata), 1, [data]);
}

/**
 * A delete_record predicate value (a one-row, one-column batch) as the IPC bytes a Go plugin reads
 * with `NewRecordFromBytes`: one stream, one batch, the field's type and extension metadata.
 */
export function encodePredicateValue(value: A.RecordBatch): Uint8Array {
  if (value.numCols !== 1 || value.numRows !== 1) {
    throw new RangeError(`a predicate value is one column and one row, not ${value.numCols} column(s) and ${value.numRows} row(s)`);
  }
  return A.tableToIPC(new A.Table([value]), 'stream');
}
