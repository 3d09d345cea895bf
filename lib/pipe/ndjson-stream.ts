/**
 * The `ndjson` pipe format: one JSON object a line. `{"kind":"migrate-table","table":…,"columns":
 * [{name,type,primary_key,not_null}]}` declares a table; `{"table":…,"row":{…}}` is a row; other
 * control messages are `{"kind":"checkpoint"|"delete-stale"|"delete-record"|"table-error"|"sync-start"|"sync-end",…}`.
 * A delete-record's values are JSON values rendered as row values are, typed by their `type` or by
 * the table's migrate-table (delete-record.ts); the rows of its tables before it are flushed first.
 */
import { SourceDataError } from '../errors.js';
import { defineTable, isPrimaryKey, tableName } from '../schema.js';
import { RowBatchBuilder, ValueError } from '../row-builder.js';
import { parseColumnType, typeName } from '../types.js';
import { batchToJsonObjects } from '../arrow-json.js';
import { linesOf } from './lines.js';
import { parseJsonExact } from '../json-exact.js';
import { syncStartFrom, tableErrorFromPipe, type PipeMessage } from './arrow-stream.js';
import { isObject, jsonKind } from './json-kind.js';
import { deleteRecordFromJson, deleteRecordJson, ndjsonValue, ndjsonValueFrom } from './delete-record.js';

export function encodeNdjson(msg: PipeMessage): string | undefined {
  switch (msg.kind) {
    case 'migrate-table':
      return (
        JSON.stringify({
          kind: 'migrate-table',
          table: tableName(msg.table),
          columns: msg.table.fields.map((f) => ({ name: f.name, type: typeName(f), primary_key: isPrimaryKey(f), not_null: !f.nullable })),
        }) + '\n'
      );
    case 'insert':
      return (
        batchToJsonObjects(msg.batch)
          .map((row) => JSON.stringify({ table: msg.table, row }))
          .join('\n') + '\n'
      );
    case 'checkpoint':
      return JSON.stringify({ kind: 'checkpoint', id: msg.id, state: msg.state, ...(msg.table !== undefined ? { table: msg.table } : {}) }) + '\n';
    case 'delete-stale':
      return JSON.stringify({ kind: 'delete-stale', table: msg.table, source_name: msg.sourceName, sync_time: msg.syncTime.toISOString() }) + '\n';
    case 'delete-record':
      return JSON.stringify({ kind: 'delete-record', ...deleteRecordJson(msg, ndjsonValue) }) + '\n';
    case 'table-error':
      return JSON.stringify({ kind: 'table-error', table: msg.table, code: msg.error.code, message: msg.error.message }) + '\n';
    case 'sync-start':
      return JSON.stringify({ kind: 'sync-start', source_name: msg.sourceName, sync_time: msg.syncTime }) + '\n';
    case 'sync-end':
      return JSON.stringify({ kind: 'sync-end' }) + '\n';
  }
}

type ColumnLine = { name: string; type: string; primary_key?: boolean; not_null?: boolean };

/** the table name and columns of a migrate-table line, checked: a bad one names its line and what is wrong */
function checkColumns(m: Record<string, unknown>, line: number): ColumnLine[] {
  const bad = (why: string) => new SourceDataError(`migrate-table: ${why}`, { file: 'stdin', line });
  if (typeof m.table !== 'string' || m.table === '') throw bad('"table" must be a non-empty string');
  if (!Array.isArray(m.columns) || m.columns.length === 0) throw bad(`table "${m.table}": "columns" must be a non-empty array`);
  return m.columns.map((c: unknown, i) => {
    const col = c as Partial<ColumnLine> | null;
    if (col === null || typeof col !== 'object' || typeof col.name !== 'string' || col.name === '')
      throw bad(`table "${m.table}": column ${i + 1} has no name`);
    if (typeof col.type !== 'string') throw bad(`table "${m.table}": column "${col.name}" has no type`);
    try {
      parseColumnType(col.type);
    } catch (err) {
      throw bad(`table "${m.table}": column "${col.name}": ${(err as Error).message}`);
    }
    return col as ColumnLine;
  });
}

export async function* decodeNdjson(input: AsyncIterable<Uint8Array | string>, batchRows = 10000): AsyncGenerator<PipeMessage> {
  const builders = new Map<string, { builder: RowBatchBuilder; lines: number[] }>();
  function* flush(which?: string): Generator<PipeMessage> {
    for (const [table, b] of builders) {
      if ((which !== undefined && which !== table) || b.builder.length === 0) continue;
      try {
        yield { kind: 'insert', table, batch: b.builder.finish() };
      } catch (err) {
        if (err instanceof ValueError) throw new SourceDataError(err.message, { file: 'stdin', line: b.lines[err.index], table, column: err.column });
        throw err;
      }
      b.lines = [];
    }
  }
  for await (const { line, text } of linesOf(input)) {
    let m: Record<string, unknown>;
    try {
      m = parseJsonExact(text) as Record<string, unknown>;
    } catch (err) {
      throw new SourceDataError(`malformed JSON: ${(err as Error).message}`, { file: 'stdin', line });
    }
    if (!isObject(m)) throw new SourceDataError(`a line must be a JSON object, not ${jsonKind(m)}`, { file: 'stdin', line });
    if (m.kind === undefined) {
      const b = builders.get(String(m.table));
      if (!b) throw new SourceDataError(`row for table "${String(m.table)}" before its migrate-table line`, { file: 'stdin', line });
      if (!isObject(m.row)) {
        throw new SourceDataError(`the row of table "${String(m.table)}" must be a JSON object of column values, not ${jsonKind(m.row)}`, {
          file: 'stdin',
          line,
          table: String(m.table),
        });
      }
      b.builder.push(m.row);
      b.lines.push(line);
      if (b.builder.length >= batchRows) yield* flush(String(m.table));
      continue;
    }
    switch (m.kind) {
      case 'migrate-table': {
        const columns = checkColumns(m, line);
        const table = defineTable({ name: m.table as string, columns });
        yield* flush(String(m.table));
        builders.set(String(m.table), { builder: new RowBatchBuilder(table), lines: [] });
        yield { kind: 'migrate-table', table };
        break;
      }
      case 'checkpoint':
        if (m.state === null || typeof m.state !== 'object' || Object.values(m.state).some((v) => typeof v !== 'string'))
          throw new SourceDataError('a checkpoint\'s "state" must be an object of strings', { file: 'stdin', line });
        yield* flush();
        yield { kind: 'checkpoint', id: String(m.id), state: m.state as Record<string, string>, ...(typeof m.table === 'string' ? { table: m.table } : {}) };
        break;
      case 'delete-record': {
        const context = { file: 'stdin', line };
        const columnOf = (table: string, column: string) => builders.get(table)?.builder.schema.fields.find((f) => f.name === column);
        const msg = deleteRecordFromJson(m, context, ndjsonValueFrom(context, columnOf));
        // a barrier: every row before it goes first
        yield* flush();
        yield msg;
        break;
      }
      case 'table-error':
        yield* flush();
        yield { kind: 'table-error', table: String(m.table), error: tableErrorFromPipe(m.code, m.message) };
        break;
      case 'sync-start':
        yield syncStartFrom(m, undefined, { file: 'stdin', line });
        break;
      case 'sync-end':
        yield* flush();
        yield { kind: 'sync-end' };
        break;
      case 'delete-stale':
        break; // `write` decides delete-stale itself
      default:
        throw new SourceDataError(`unknown message kind "${String(m.kind)}"`, { file: 'stdin', line });
    }
  }
  yield* flush();
}
