/**
 * `delete-record` in the pipe formats (docs/pipes.md, "delete-record"): the message's shape as JSON
 * (`table`, `where: [{grouping, predicates: [{operator, column, value}]}]`, `relations: [{table,
 * parent}]`) and each predicate's value, exactly. In the Arrow pipe a value is the base64 of the
 * Arrow IPC stream of its one-row batch (any Arrow type, extension metadata included); in NDJSON it
 * is a JSON value rendered as a row value is, typed back by `type` (the column type name) or, when
 * absent, by the column's type in the table's preceding migrate-table.
 */
import * as A from 'apache-arrow';
import { batchToJsonObjects } from '../arrow-json.js';
import { SourceDataError, type ErrorContext } from '../errors.js';
import type { DeleteRecordMessage, Predicate, PredicateGroup, TableRelation } from '../messages.js';
import { RowBatchBuilder, ValueError } from '../row-builder.js';
import { parseColumnType, fieldFor, typeName } from '../types.js';
import { CQ_ID, CQ_PARENT_ID, CQ_SOURCE_NAME, CQ_SYNC_TIME } from '../schema.js';

/** the JSON shape of a delete-record, with each value rendered by `value` */
export function deleteRecordJson(msg: DeleteRecordMessage, value: (p: Predicate) => Record<string, unknown>): Record<string, unknown> {
  return {
    table: msg.table,
    where: msg.where.map((g) => ({ grouping: g.grouping, predicates: g.predicates.map((p) => ({ operator: p.operator, column: p.column, ...value(p) })) })),
    relations: msg.relations.map((r) => ({ table: r.table, parent: r.parent })),
  };
}

/** read a delete-record's JSON shape back; a bad one is a SourceDataError naming `where` and what is wrong */
export function deleteRecordFromJson(
  p: Record<string, unknown>,
  context: ErrorContext,
  value: (p: Record<string, unknown>, table: string, column: string) => A.RecordBatch,
): DeleteRecordMessage {
  const bad = (why: string) => new SourceDataError(`delete-record: ${why}`, context);
  if (typeof p.table !== 'string' || p.table === '') throw bad('"table" must be a non-empty string');
  const table = p.table;
  const where = p.where;
  const relations = p.relations ?? [];
  // never defaulted: a missing (or misspelt) "where" must not delete every row
  if (!Array.isArray(where)) throw bad(`table "${table}": "where" must be an array of predicate groups ([] deletes every row of the table)`);
  if (!Array.isArray(relations)) throw bad(`table "${table}": "relations" must be an array of {table, parent}`);
  const groups = where.map((g: unknown, i): PredicateGroup => {
    const o = g as Record<string, unknown> | null;
    if (o === null || typeof o !== 'object') throw bad(`table "${table}": where[${i}] must be an object`);
    if (o.grouping !== 'and' && o.grouping !== 'or')
      throw bad(`table "${table}": where[${i}].grouping must be "and" or "or" (got ${JSON.stringify(o.grouping)})`);
    if (!Array.isArray(o.predicates)) throw bad(`table "${table}": where[${i}].predicates must be an array`);
    const predicates = o.predicates.map((x: unknown, j): Predicate => {
      const q = x as Record<string, unknown> | null;
      const at = `where[${i}].predicates[${j}]`;
      if (q === null || typeof q !== 'object') throw bad(`table "${table}": ${at} must be an object`);
      if (q.operator !== 'eq') throw bad(`table "${table}": ${at}.operator must be "eq" (got ${JSON.stringify(q.operator)})`);
      if (typeof q.column !== 'string' || q.column === '') throw bad(`table "${table}": ${at}.column must be a non-empty string`);
      return { operator: 'eq', column: q.column, value: value(q, table, q.column) };
    });
    return { grouping: o.grouping, predicates };
  });
  const rels = relations.map((r: unknown, i): TableRelation => {
    const o = r as Record<string, unknown> | null;
    if (o === null || typeof o !== 'object' || typeof o.table !== 'string' || o.table === '' || typeof o.parent !== 'string' || o.parent === '')
      throw bad(`table "${table}": relations[${i}] must be {"table": …, "parent": …}, two non-empty strings`);
    return { table: o.table, parent: o.parent };
  });
  return { kind: 'delete-record', table, where: groups, relations: rels };
}

// --- Arrow pipe: base64 of the IPC stream of the one-row batch ----------------------------------

export function arrowValue(p: Predicate): { value: string } {
  return { value: Buffer.from(A.tableToIPC(new A.Table([p.value]), 'stream')).toString('base64') };
}

export function arrowValueFrom(context: ErrorContext) {
  return (q: Record<string, unknown>, table: string, column: string): A.RecordBatch => {
    const bad = (why: string) => new SourceDataError(`delete-record: table "${table}", column "${column}": ${why}`, context);
    if (typeof q.value !== 'string') throw bad('"value" must be the base64 of an Arrow IPC stream of one row');
    let batches: A.RecordBatch[];
    try {
      batches = A.tableFromIPC(Buffer.from(q.value, 'base64')).batches;
    } catch (err) {
      throw bad(`"value" is not an Arrow IPC stream: ${(err as Error).message}`);
    }
    return oneValue(batches, bad);
  };
}

function oneValue(batches: A.RecordBatch[], bad: (why: string) => Error): A.RecordBatch {
  const rows = batches.reduce((n, b) => n + b.numRows, 0);
  const b = batches.find((x) => x.numRows > 0);
  if (rows !== 1 || !b || b.schema.fields.length !== 1) {
    throw bad(`a value is one row of one column (got ${rows} rows of ${batches[0]?.schema.fields.length ?? 0} columns)`);
  }
  return b;
}

// --- NDJSON pipe: a JSON value typed by the table's column --------------------------------------

export function ndjsonValue(p: Predicate): { type: string; value: unknown } {
  const f = p.value.schema.fields[0]!;
  return { type: typeName(f), value: batchToJsonObjects(p.value)[0]![f.name] ?? null };
}

/** the reserved columns a source's stream does not declare (the engine adds them) */
const RESERVED: Record<string, string> = { [CQ_ID]: 'uuid', [CQ_PARENT_ID]: 'uuid', [CQ_SOURCE_NAME]: 'utf8', [CQ_SYNC_TIME]: 'timestamp' };

/** `columnOf(table, column)`: the column's field in the table's migrate-table, when known */
export function ndjsonValueFrom(context: ErrorContext, columnOf: (table: string, column: string) => A.Field | undefined) {
  return (q: Record<string, unknown>, table: string, column: string): A.RecordBatch => {
    const bad = (why: string) => new SourceDataError(`delete-record: table "${table}", column "${column}": ${why}`, { ...context, table, column });
    let field: A.Field;
    if (q.type !== undefined) {
      if (typeof q.type !== 'string') throw bad('"type" must be a column type name (e.g. "int64")');
      try {
        field = fieldFor(column, parseColumnType(q.type), true);
      } catch (err) {
        throw bad((err as Error).message);
      }
    } else {
      const known = columnOf(table, column);
      const reserved = RESERVED[column];
      if (known) field = new A.Field(column, known.type, true, known.metadata);
      else if (reserved) field = fieldFor(column, parseColumnType(reserved), true);
      else throw bad('the column is not in the table\'s migrate-table: give the value a "type" (e.g. "int64"), or declare the table before');
    }
    if (!('value' in q)) throw bad('"value" is missing (null compares equal to nothing)');
    const builder = new RowBatchBuilder(new A.Schema([field]));
    builder.push({ [column]: q.value });
    try {
      return builder.finish();
    } catch (err) {
      if (err instanceof ValueError) throw bad(err.message);
      throw err;
    }
  };
}
