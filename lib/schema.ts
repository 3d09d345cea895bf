/**
 * The table model: a table IS an Arrow Schema carrying CloudQuery's metadata keys
 * (docs/semantics.md). Helpers here read and rewrite that metadata without copying data.
 */
import * as A from 'apache-arrow';
import { type ColumnType, fieldFor, parseColumnType } from './types.js';
import { SchemaIncompatibleError } from './errors.js';

export const MD_TABLE_NAME = 'cq:table_name';
export const MD_TABLE_DESCRIPTION = 'cq:table_description';
export const MD_TABLE_INCREMENTAL = 'cq:extension:incremental';
export const MD_PRIMARY_KEY = 'cq:extension:primary_key';
export const MD_UNIQUE = 'cq:extension:unique';
export const MD_INCREMENTAL = 'cq:extension:incremental';

export const CQ_SYNC_TIME = '_cq_sync_time';
export const CQ_SOURCE_NAME = '_cq_source_name';
export const CQ_ID = '_cq_id';
export const CQ_PARENT_ID = '_cq_parent_id';

export type TableSchema = A.Schema;

export interface ColumnDef {
  name: string;
  type: string | ColumnType;
  not_null?: boolean;
  primary_key?: boolean;
  unique?: boolean;
  incremental?: boolean;
}

export interface TableDef {
  name: string;
  columns: ColumnDef[];
  description?: string;
  incremental?: boolean;
}

function flag(b: boolean | undefined): string {
  return b ? 'true' : 'false';
}

export function columnField(c: ColumnDef): A.Field {
  const t = typeof c.type === 'string' ? parseColumnType(c.type) : c.type;
  const md = new Map<string, string>([
    [MD_PRIMARY_KEY, flag(c.primary_key)],
    [MD_UNIQUE, flag(c.unique)],
    [MD_INCREMENTAL, flag(c.incremental)],
  ]);
  return fieldFor(c.name, t, !(c.not_null || c.primary_key), md);
}

/** Build a table schema from a plain definition. */
export function defineTable(def: TableDef): TableSchema {
  const md = new Map<string, string>([[MD_TABLE_NAME, def.name]]);
  if (def.description) md.set(MD_TABLE_DESCRIPTION, def.description);
  if (def.incremental) md.set(MD_TABLE_INCREMENTAL, 'true');
  return new A.Schema(def.columns.map(columnField), md);
}

export function tableName(schema: A.Schema): string {
  const n = schema.metadata.get(MD_TABLE_NAME);
  if (!n) {
    throw new SchemaIncompatibleError('schema has no cq:table_name metadata', {}, 'define tables with defineTable(), or set the cq:table_name schema metadata');
  }
  return n;
}

export function isPrimaryKey(f: A.Field): boolean {
  return f.metadata.get(MD_PRIMARY_KEY) === 'true';
}
export function isUnique(f: A.Field): boolean {
  return f.metadata.get(MD_UNIQUE) === 'true';
}
export function isIncrementalTable(schema: A.Schema): boolean {
  return schema.metadata.get(MD_TABLE_INCREMENTAL) === 'true';
}
export function primaryKeys(schema: A.Schema): string[] {
  return schema.fields.filter(isPrimaryKey).map((f) => f.name);
}

/** A copy of a field with some metadata keys changed (data type and name kept). */
export function withFieldMetadata(f: A.Field, changes: Record<string, string>, nullable = f.nullable): A.Field {
  const md = new Map(f.metadata);
  for (const [k, v] of Object.entries(changes)) md.set(k, v);
  return new A.Field(f.name, f.type, nullable, md);
}

export function withSchemaMetadata(schema: A.Schema, changes: Record<string, string>): A.Schema {
  const md = new Map(schema.metadata);
  for (const [k, v] of Object.entries(changes)) md.set(k, v);
  return new A.Schema(schema.fields, md);
}

/** Set the table name on a schema (keeps all other metadata). */
export function withTableName(schema: A.Schema, name: string): A.Schema {
  return withSchemaMetadata(schema, { [MD_TABLE_NAME]: name });
}

/**
 * Re-label a batch with a schema of the same shape (field names, types and order equal;
 * metadata and nullability may differ). Zero-copy: the column data is reused.
 */
export function relabel(batch: A.RecordBatch, schema: A.Schema): A.RecordBatch {
  const data = A.makeData({
    type: new A.Struct(schema.fields),
    length: batch.numRows,
    nullCount: 0,
    children: batch.data.children,
  });
  return new A.RecordBatch(schema, data);
}

/** Build a batch from column Data in schema order. */
export function batchFromColumns(schema: A.Schema, length: number, columns: A.Data[]): A.RecordBatch {
  return new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length, nullCount: 0, children: columns }));
}

/** In-memory size of a batch's buffers, in bytes (what `batch_size_bytes` counts). */
export function batchByteSize(batch: A.RecordBatch): number {
  return dataByteSize(batch.data);
}

function dataByteSize(d: A.Data): number {
  let n = 0;
  if (d.values) n += (d.values as ArrayBufferView).byteLength;
  if (d.valueOffsets) n += d.valueOffsets.byteLength;
  if (d.nullBitmap) n += d.nullBitmap.byteLength;
  if (d.typeIds) n += d.typeIds.byteLength;
  for (const c of d.children) n += dataByteSize(c);
  return n;
}
