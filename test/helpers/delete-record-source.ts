/**
 * A module source for delete-record tests (usable from a config file, so `cq-pipe read` in a child
 * process runs it too): a parent → child → grandchild chain linked by `_cq_id` / `_cq_parent_id`
 * and a table of values that only an exact comparison tells apart, then delete-records on them.
 * After a sync the tables hold: parent 2, child 2, grandchild 2, exact 2, 4, 6, 8, 9.
 */
import * as A from 'apache-arrow';
import { defineSource } from '../../lib/connector.js';
import type { DeleteRecordMessage, Predicate, PredicateGroup, SyncMessage, TableRelation } from '../../lib/messages.js';
import { RowBatchBuilder } from '../../lib/row-builder.js';
import { defineTable, tableName } from '../../lib/schema.js';
import { fieldFor, parseColumnType } from '../../lib/types.js';

/** a one-row, one-column batch of `type` holding `v` (a predicate's value) */
export function predicateValue(type: string, v: unknown): A.RecordBatch {
  const b = new RowBatchBuilder(new A.Schema([fieldFor('value', parseColumnType(type), true)]));
  b.push({ value: v });
  return b.finish();
}

export const eq = (column: string, type: string, v: unknown): Predicate => ({ operator: 'eq', column, value: predicateValue(type, v) });
export const and = (...predicates: Predicate[]): PredicateGroup => ({ grouping: 'and', predicates });
export const or = (...predicates: Predicate[]): PredicateGroup => ({ grouping: 'or', predicates });
export const deleteRecord = (table: string, where: PredicateGroup[] = [], relations: TableRelation[] = []): DeleteRecordMessage => ({
  kind: 'delete-record',
  table,
  where,
  relations,
});

/** rows → one insert of `schema` */
export function insert(schema: A.Schema, rows: Record<string, unknown>[]): SyncMessage {
  const b = new RowBatchBuilder(schema);
  for (const r of rows) b.push(r);
  return { kind: 'insert', table: tableName(schema), batch: b.finish() };
}

const linked = (name: string) =>
  defineTable({
    name,
    columns: [
      { name: 'id', type: 'int64', primary_key: true },
      { name: '_cq_id', type: 'uuid', not_null: true },
      { name: '_cq_parent_id', type: 'uuid' },
    ],
  });
export const PARENT = linked('parent');
export const CHILD = linked('child');
export const GRANDCHILD = linked('grandchild');
export const EXACT = defineTable({
  name: 'exact',
  columns: [
    { name: 'id', type: 'int64', primary_key: true },
    { name: 'big', type: 'int64' },
    { name: 'u', type: 'uuid' },
    { name: 'ts', type: 'timestamp' },
    { name: 'doc', type: 'json' },
  ],
});

export const uuid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
export const TWO_53 = 9007199254740992n;

/** the chain: parents 1, 2; children 11 (of 1), 12 (of 2), 13 (of 1); grandchildren 21 (of 11), 22 (of 12), 23 (of 13) */
export function chainRows(): SyncMessage[] {
  return [
    insert(PARENT, [
      { id: 1, _cq_id: uuid(1) },
      { id: 2, _cq_id: uuid(2) },
    ]),
    insert(CHILD, [
      { id: 11, _cq_id: uuid(11), _cq_parent_id: uuid(1) },
      { id: 12, _cq_id: uuid(12), _cq_parent_id: uuid(2) },
      { id: 13, _cq_id: uuid(13), _cq_parent_id: uuid(1) },
    ]),
    insert(GRANDCHILD, [
      { id: 21, _cq_id: uuid(21), _cq_parent_id: uuid(11) },
      { id: 22, _cq_id: uuid(22), _cq_parent_id: uuid(12) },
      { id: 23, _cq_id: uuid(23), _cq_parent_id: uuid(13) },
    ]),
  ];
}

/** parent 1 and its descendants (relations listed grandchild first: the engine orders them) */
export const deleteParent1 = (): DeleteRecordMessage =>
  deleteRecord(
    'parent',
    [and(eq('id', 'int64', 1))],
    [
      { table: 'grandchild', parent: 'child' },
      { table: 'child', parent: 'parent' },
    ],
  );

/** pairs of rows that differ only past 2^53, in a uuid's last digit, by 1 µs, in json; each delete takes the first of a pair */
export function exactRows(): SyncMessage[] {
  return [
    insert(EXACT, [
      { id: 1, big: TWO_53 + 1n },
      { id: 2, big: TWO_53 },
      { id: 3, u: uuid(0xabc1) },
      { id: 4, u: uuid(0xabc2) },
      { id: 5, ts: '2024-02-29T23:59:59.000001Z' },
      { id: 6, ts: '2024-02-29T23:59:59.000002Z' },
      { id: 7, doc: { a: 1, b: [1, 2] } },
      { id: 8, doc: { a: 2 } },
    ]),
  ];
}

export function exactDeletes(): DeleteRecordMessage[] {
  return [
    deleteRecord('exact', [and(eq('big', 'int64', TWO_53 + 1n))]),
    deleteRecord('exact', [and(eq('u', 'uuid', uuid(0xabc1)))]),
    deleteRecord('exact', [and(eq('ts', 'timestamp', '2024-02-29T23:59:59.000001Z'))]),
    deleteRecord('exact', [and(eq('doc', 'json', { b: [1, 2], a: 1 }))]),
  ];
}

export const SCENARIO_TABLES = [PARENT, CHILD, GRANDCHILD, EXACT];

export function scenario(): SyncMessage[] {
  return [...chainRows(), ...exactRows(), ...exactDeletes(), deleteParent1(), insert(EXACT, [{ id: 9, big: TWO_53 + 1n }])];
}

export const DELETE_RECORD_SOURCE_PATH = new URL(import.meta.url).pathname;

export default defineSource<Record<string, never>>({
  name: 'delete-record-scenario',
  configSchema: { type: 'object', additionalProperties: false, properties: {} },
  create() {
    return {
      async tables() {
        return SCENARIO_TABLES;
      },
      async *read(tables) {
        const wanted = new Set(tables.map(tableName));
        for (const m of scenario()) if (m.kind !== 'insert' || wanted.has(m.table)) yield m;
      },
    };
  },
});
