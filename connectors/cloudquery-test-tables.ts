/**
 * CloudQuery's test source tables, offered by `path: cloudquery/test` so CloudQuery's own example
 * configs run unchanged (docs/cloudquery.md). Shapes and values follow CloudQuery's test plugin
 * (cloudquery/cloudquery plugins/source/test/resources/services/{test_some_table,test_sub_table,
 * paid_table}.go, client/{spec,client}.go):
 *
 *   test_some_table  _cq_id, _cq_parent_id, resource_id int64 PK, column2 utf8, client_id int64 PK
 *     test_sub_table _cq_id, _cq_parent_id, parent_resource_id int64 PK, sub_resource_id int64 PK,
 *                    data_column utf8, extra_column_0 … int64            (a relation of test_some_table)
 *   test_paid_table  as test_some_table, marked paid
 *
 * Every client (`num_clients`, ids 1…n) yields `num_rows` rows (resource_id 1…n, column2
 * `test_column_data_<i mod 3>`); every row of test_some_table has `num_sub_rows` children whose
 * `_cq_parent_id` is the parent's `_cq_id`. The extra columns are pseudo-random per parent (seeded, so
 * runs repeat). `_cq_id` is UUIDv5 of the key with `deterministic_cq_id`, else random.
 * `delete_records` adds CloudQuery's delete of test_some_table after every row (deleteRecordsMessage).
 */
import * as A from 'apache-arrow';
import type { ReadOptions } from '../lib/connector.js';
import { deterministicCqIds, randomCqIds } from '../lib/cq-id.js';
import type { DeleteRecordMessage, SyncMessage } from '../lib/messages.js';
import { CQ_ID, CQ_PARENT_ID, MD_TABLE_NAME, batchFromColumns, defineTable, primaryKeys, tableName, withSchemaMetadata } from '../lib/schema.js';
import { nullData, utf8Data } from '../lib/arrow/index.js';

export const SOME_TABLE = 'test_some_table';
export const SUB_TABLE = 'test_sub_table';
export const PAID_TABLE = 'test_paid_table';
/** CloudQuery's schema metadata: the parent of a relation, a paid table */
const MD_DEPENDS_ON = 'cq:table_depends_on';
const MD_PAID = 'cq:table_paid';

export interface CloudQueryTestSpec {
  num_clients: number;
  num_rows: number;
  num_sub_rows: number;
  num_sub_cols: number;
  seed: number;
  batch_rows: number;
}

const idColumns = [
  { name: CQ_ID, type: 'uuid', not_null: true, unique: true },
  { name: CQ_PARENT_ID, type: 'uuid' },
];

function someTable(name: string, description: string): A.Schema {
  return defineTable({
    name,
    description,
    columns: [
      ...idColumns,
      { name: 'resource_id', type: 'int64', primary_key: true },
      { name: 'column2', type: 'utf8' },
      { name: 'client_id', type: 'int64', primary_key: true },
    ],
  });
}

/** The tables, parents before their relations. */
export function cloudqueryTestTables(spec: Pick<CloudQueryTestSpec, 'num_sub_cols'>): A.Schema[] {
  const sub = defineTable({
    name: SUB_TABLE,
    description: 'Sub table of test_some_table',
    columns: [
      ...idColumns,
      { name: 'parent_resource_id', type: 'int64', primary_key: true },
      { name: 'sub_resource_id', type: 'int64', primary_key: true },
      { name: 'data_column', type: 'utf8' },
      ...Array.from({ length: spec.num_sub_cols }, (_, i) => ({ name: `extra_column_${i}`, type: 'int64' })),
    ],
  });
  return [
    someTable(SOME_TABLE, 'Test table'),
    withSchemaMetadata(sub, { [MD_DEPENDS_ON]: SOME_TABLE }),
    withSchemaMetadata(someTable(PAID_TABLE, 'Test Paid table'), { [MD_PAID]: 'true' }),
  ];
}

export function isCloudQueryTestTable(name: string): boolean {
  return name === SOME_TABLE || name === SUB_TABLE || name === PAID_TABLE;
}

function int64Data(values: ArrayLike<number | bigint>): A.Data<A.Int64> {
  const v = BigInt64Array.from(values, (x) => BigInt(x));
  return A.makeData({ type: new A.Int64(), length: v.length, nullCount: 0, data: v });
}

function ids(batchWithoutIds: A.RecordBatch, pk: string[], deterministic: boolean): A.Data<A.FixedSizeBinary> {
  return deterministic ? deterministicCqIds(batchWithoutIds, pk) : randomCqIds(batchWithoutIds.numRows);
}

/** A batch of `schema` whose first two columns (`_cq_id`, `_cq_parent_id`) are made here. */
function withIds(schema: A.Schema, columns: A.Data[], parentIds: A.Data | undefined, deterministic: boolean): A.RecordBatch {
  const n = columns[0]!.length;
  const rest = new A.Schema(schema.fields.slice(2), schema.metadata);
  const id = ids(batchFromColumns(rest, n, columns), primaryKeys(schema), deterministic);
  return batchFromColumns(schema, n, [id, parentIds ?? nullData(new A.FixedSizeBinary(16), n), ...columns]);
}

/** 64-bit pseudo-random values from a seed (splitmix64) */
function splitmix(seed: bigint): () => bigint {
  let s = BigInt.asUintN(64, seed);
  return () => {
    s = BigInt.asUintN(64, s + 0x9e3779b97f4a7c15n);
    let z = s;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    return BigInt.asIntN(64, (z ^ (z >> 31n)) >> 1n);
  };
}

/**
 * The rows of the selected CloudQuery test tables (`selected` holds their schemas). Children are
 * made with their parents, so test_sub_table alone still names real parent ids.
 */
export async function* readCloudQueryTestTables(selected: A.Schema[], spec: CloudQueryTestSpec, opts: ReadOptions): AsyncGenerator<SyncMessage> {
  const byName = new Map(selected.map((s) => [tableName(s), s]));
  const deterministic = opts.deterministicCqId ?? false;
  for (const name of [SOME_TABLE, PAID_TABLE]) {
    const parent = byName.get(name) ?? (name === SOME_TABLE && byName.has(SUB_TABLE) ? cloudqueryTestTables(spec)[0] : undefined);
    if (!parent) continue;
    const sub = name === SOME_TABLE ? byName.get(SUB_TABLE) : undefined;
    for (let client = 1; client <= spec.num_clients; client++) {
      for (let start = 0; start < spec.num_rows; start += spec.batch_rows) {
        if (opts.signal.aborted) return;
        const n = Math.min(spec.batch_rows, spec.num_rows - start);
        const resourceIds = Array.from({ length: n }, (_, i) => start + i + 1);
        const batch = withIds(
          parent,
          [int64Data(resourceIds), utf8Data(resourceIds.map((r) => `test_column_data_${(r - 1) % 3}`)), int64Data(new Array(n).fill(client))],
          undefined,
          deterministic,
        );
        if (byName.has(name)) yield { kind: 'insert', table: name, batch };
        if (sub) yield* subRows(sub, batch, spec, client, deterministic);
      }
    }
  }
}

function* subRows(sub: A.Schema, parents: A.RecordBatch, spec: CloudQueryTestSpec, client: number, deterministic: boolean): Generator<SyncMessage> {
  const m = spec.num_sub_rows;
  if (m === 0) return;
  const parentIds = parents.getChildAt(0)!.data[0]!;
  const resourceIds = parents.getChildAt(2)!.data[0]!.values as BigInt64Array;
  for (let p = 0; p < parents.numRows; p++) {
    const rand = splitmix(BigInt(spec.seed) * 1_000_003n + BigInt(client) * 7919n + resourceIds[p]!);
    const extras = Array.from({ length: spec.num_sub_cols }, () => int64Data(new Array(m).fill(rand())));
    const subIds = Array.from({ length: m }, (_, i) => i);
    const parentId = parentIds.values.subarray(p * 16, p * 16 + 16);
    const repeated = new Uint8Array(16 * m);
    for (let i = 0; i < m; i++) repeated.set(parentId, i * 16);
    const batch = withIds(
      sub,
      [int64Data(new Array(m).fill(resourceIds[p]!)), int64Data(subIds), utf8Data(subIds.map((i) => `sub_data_${i % 3}`)), ...extras],
      A.makeData({ type: new A.FixedSizeBinary(16), length: m, nullCount: 0, data: repeated }),
      deterministic,
    );
    yield { kind: 'insert', table: SUB_TABLE, batch };
  }
}

/**
 * `delete_records: [ids]`, as CloudQuery's test source sends it at the end of its Sync (client.go
 * `deleteRecords`): one delete of test_some_table whose one OR group holds `resource_id = id` per
 * id, each value a one-row batch of an int64 `resource_id` (schema `cq:table_name`
 * test_some_table), and no table relations (its test_sub_table rows stay).
 */
export function deleteRecordsMessage(ids: readonly number[]): DeleteRecordMessage {
  const field = new A.Field('resource_id', new A.Int64(), true);
  const schema = new A.Schema([field], new Map([[MD_TABLE_NAME, SOME_TABLE]]));
  const predicates = ids.map((id) => {
    const data = A.makeData({ type: field.type, length: 1, nullCount: 0, data: BigInt64Array.of(BigInt(id)) });
    return { operator: 'eq' as const, column: 'resource_id', value: batchFromColumns(schema, 1, [data]) };
  });
  return { kind: 'delete-record', table: SOME_TABLE, where: [{ grouping: 'or', predicates }], relations: [] };
}
