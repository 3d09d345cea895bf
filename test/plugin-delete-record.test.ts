/**
 * CloudQuery's DeleteRecord over the plugin protocol (docs/plugins.md, "Source-driven deletes"):
 * a plugin source's Sync `delete_record` becomes a `delete-record` message in stream order (a raw
 * Sync server sends migrate, inserts, a delete_record, more inserts; the SDK-built source sends one
 * first), bad groupings and operators fail that table only; cq-pipe's plugin destination sends
 * Write `delete_record` with one-row IPC values a Go plugin reads (the SDK-built recorder decodes
 * them); the serve Write session writes pending rows, then calls the connector's `deleteRecord`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as A from 'apache-arrow';
import t from 'tap';
import { decodePredicateValue, encodePredicateValue, encodeRecord, encodeSchema } from '../connectors/cloudquery-plugin/arrow-wire.js';
import { pluginDestination } from '../connectors/cloudquery-plugin/destination.js';
import { v3 } from '../connectors/cloudquery-plugin/serve/grpc.js';
import { WriteSession } from '../connectors/cloudquery-plugin/serve/write-session.js';
import { pluginSource } from '../connectors/cloudquery-plugin/source.js';
import { type ConnectorContext, type DestinationClient, defineDestination } from '../lib/connector.js';
import type { CqPipeError } from '../lib/errors.js';
import { createLogger } from '../lib/logger.js';
import type { DeleteRecordMessage, SyncMessage } from '../lib/messages.js';
import { RowBatchBuilder } from '../lib/row-builder.js';
import { batchFromColumns, defineTable, tableName } from '../lib/schema.js';
import { EXT_META, EXT_NAME } from '../lib/types.js';
import type { RecordedEvent } from './fixtures/plugins/sdk-recorder-destination.js';
import { ROOT, tmpDir } from './helpers/index.js';
import { serveRawSync } from './helpers/raw-sync-plugin.js';
import { servePlugin } from './helpers/sdk-plugin.js';

const logger = createLogger({ level: 'error' });
const ctx = (name: string): ConnectorContext => ({ name, logger, baseDir: process.cwd(), invocationId: 'test-invocation', syncTime: new Date(0) });

const THINGS = defineTable({
  name: 'things',
  columns: [
    { name: 'id', type: 'int64', primary_key: true },
    { name: 'name', type: 'utf8' },
    { name: 'ref', type: 'uuid' },
    { name: 'at', type: 'timestamp' },
  ],
});
const OTHER = defineTable({ name: 'other', columns: [{ name: 'n', type: 'int64' }] });
const REF2 = '00000000-0000-4000-8000-000000000002';
const AT2 = '2024-01-02T03:04:05.678Z';

function rows(schema: A.Schema, values: Record<string, unknown>[]): A.RecordBatch {
  const b = new RowBatchBuilder(schema);
  for (const v of values) b.push(v);
  return b.finish();
}

const thing = (id: number) => ({ id, name: `thing ${id}`, ref: `00000000-0000-4000-8000-00000000000${id}`, at: AT2 });
const uuidBytes = (u: string) => Uint8Array.from(Buffer.from(u.replace(/-/g, ''), 'hex'));

/** a one-column one-row IPC record as a Go plugin sends it (a Go field: its type, its extension metadata) */
function goValue(field: A.Field, values: unknown[]): Uint8Array {
  const schema = new A.Schema([field], new Map([['cq:table_name', 'things']]));
  const vec = A.vectorFromArray(values, field.type);
  return A.tableToIPC(
    new A.Table([new A.RecordBatch(schema, A.makeData({ type: new A.Struct([field]), length: values.length, children: [vec.data[0]!] }))]),
    'stream',
  );
}

const insert = (batch: A.RecordBatch) => new v3.Sync.Response({ insert: new v3.Sync.MessageInsert({ record: encodeRecord(batch) }) });
const migrate = (s: A.Schema) => new v3.Sync.Response({ migrate_table: new v3.Sync.MessageMigrateTable({ table: encodeSchema(s) }) });
const deleteRecord = (o: Parameters<typeof v3.Sync.MessageDeleteRecord.fromObject>[0]) =>
  new v3.Sync.Response({ delete_record: v3.Sync.MessageDeleteRecord.fromObject(o) });

async function readAll(address: string, tables: A.Schema[]): Promise<SyncMessage[]> {
  const client = await pluginSource({ address }).create({}, ctx('raw'));
  const out: SyncMessage[] = [];
  try {
    for await (const m of client.read(tables, { signal: new AbortController().signal, state: new Map() })) out.push(m);
  } finally {
    await client.close?.();
  }
  return out;
}

/** kind and table (and rows of an insert) of each message, in order */
const shape = (msgs: SyncMessage[]) =>
  msgs.map((m) => (m.kind === 'insert' ? `insert ${m.table} ${m.batch.numRows}` : `${m.kind} ${'table' in m ? m.table : ''}`));

/** a predicate value as JSON: field name, type, extension metadata and the one value */
function predicateValue(v: A.RecordBatch) {
  const f = v.schema.fields[0]!;
  const raw = v.getChildAt(0)!;
  const x = A.DataType.isTimestamp(f.type) ? (raw.data[0]!.values as BigInt64Array)[raw.data[0]!.offset] : raw.get(0);
  return {
    rows: v.numRows,
    columns: v.numCols,
    name: f.name,
    type: String(f.type),
    ext: [f.metadata.get(EXT_NAME) ?? null, f.metadata.get(EXT_META) ?? null],
    value: x instanceof Uint8Array ? Buffer.from(x).toString('hex') : typeof x === 'bigint' ? String(x) : x,
  };
}

t.test('plugin source: delete_record between inserts becomes a delete-record after the rows before it, values exact', async (t) => {
  const idField = new A.Field('id', new A.Int64(), true);
  const refField = new A.Field(
    'ref',
    new A.FixedSizeBinary(16),
    true,
    new Map([
      [EXT_NAME, 'uuid'],
      [EXT_META, 'uuid-serialized'],
    ]),
  );
  const atField = new A.Field('at', new A.TimestampMillisecond('UTC'), true);
  const plugin = await serveRawSync(
    t,
    [encodeSchema(THINGS), encodeSchema(OTHER)],
    [
      migrate(THINGS),
      migrate(OTHER),
      insert(rows(THINGS, [thing(1), thing(2)])),
      insert(rows(OTHER, [{ n: 1 }])),
      deleteRecord({
        table_name: 'things',
        where_clause: [
          {
            grouping_type: 0,
            predicates: [
              { operator: 0, column: 'id', record: goValue(idField, [2n]) },
              { operator: 0, column: 'ref', record: goValue(refField, [uuidBytes(REF2)]) },
              { operator: 0, column: 'at', record: goValue(atField, [Date.parse(AT2)]) },
            ],
          },
          {
            grouping_type: 1,
            predicates: [
              { operator: 0, column: 'name', record: goValue(new A.Field('name', new A.Utf8(), true), ['thing 2']) },
              { operator: 0, column: 'name', record: goValue(new A.Field('name', new A.Utf8(), true), ['thing 9']) },
            ],
          },
        ],
        table_relations: [{ table_name: 'thing_parts', parent_table: 'things' }],
      }),
      insert(rows(THINGS, [thing(3)])),
      insert(rows(OTHER, [{ n: 2 }])),
    ],
  );
  const msgs = await readAll(plugin.address, [THINGS, OTHER]);
  t.same(shape(msgs), ['insert things 2', 'insert other 1', 'delete-record things', 'insert things 1', 'insert other 1'], 'in stream order');
  const del = msgs[2] as DeleteRecordMessage;
  t.same(del.relations, [{ table: 'thing_parts', parent: 'things' }]);
  t.same(
    del.where.map((g) => ({
      grouping: g.grouping,
      predicates: g.predicates.map((p) => ({ operator: p.operator, column: p.column, ...predicateValue(p.value) })),
    })),
    [
      {
        grouping: 'and',
        predicates: [
          { operator: 'eq', column: 'id', rows: 1, columns: 1, name: 'id', type: 'Int64', ext: [null, null], value: '2' },
          {
            operator: 'eq',
            column: 'ref',
            rows: 1,
            columns: 1,
            name: 'ref',
            type: 'FixedSizeBinary[16]',
            ext: ['uuid', 'uuid-serialized'],
            value: REF2.replace(/-/g, ''),
          },
          {
            operator: 'eq',
            column: 'at',
            rows: 1,
            columns: 1,
            name: 'at',
            type: 'Timestamp<MICROSECOND, UTC>',
            ext: [null, null],
            value: String(BigInt(Date.parse(AT2)) * 1000n),
          },
        ],
      },
      {
        grouping: 'or',
        predicates: [
          { operator: 'eq', column: 'name', rows: 1, columns: 1, name: 'name', type: 'Utf8', ext: [null, null], value: 'thing 2' },
          { operator: 'eq', column: 'name', rows: 1, columns: 1, name: 'name', type: 'Utf8', ext: [null, null], value: 'thing 9' },
        ],
      },
    ],
    'groups, operators, columns and values (ms timestamp as µs, uuid as cq-pipe uuid)',
  );
  t.equal(del.where[0]!.predicates[0]!.value.schema.metadata.get('cq:table_name'), 'things', "the value's schema metadata is kept");
  t.equal(plugin.syncs.length, 1);
});

t.test('plugin source: an unknown operator or grouping, or a value of two rows, fails that table only, naming what is wrong', async (t) => {
  const idValue = goValue(new A.Field('id', new A.Int64(), true), [1n]);
  const plugin = await serveRawSync(
    t,
    [encodeSchema(THINGS), encodeSchema(OTHER)],
    [
      migrate(THINGS),
      migrate(OTHER),
      insert(rows(THINGS, [thing(1)])),
      deleteRecord({ table_name: 'things', where_clause: [{ grouping_type: 0, predicates: [{ operator: 3 as number as 0, column: 'id', record: idValue }] }] }),
      insert(rows(THINGS, [thing(2)])),
      insert(rows(OTHER, [{ n: 1 }])),
      deleteRecord({ table_name: 'other', where_clause: [{ grouping_type: 7 as number as 0, predicates: [] }] }),
      insert(rows(OTHER, [{ n: 2 }])),
    ],
  );
  const msgs = await readAll(plugin.address, [THINGS, OTHER]);
  t.same(shape(msgs), ['insert things 1', 'table-error things', 'insert other 1', 'table-error other'], 'nothing of a failed table after its failure');
  const errs = msgs.filter((m) => m.kind === 'table-error').map((m) => (m as { error: CqPipeError }).error);
  t.same(
    errs.map((e) => [e.code, e.context.table, e.context.connector]),
    [
      ['CQ_ERR_SOURCE_DATA', 'things', 'raw'],
      ['CQ_ERR_SOURCE_DATA', 'other', 'raw'],
    ],
  );
  t.match(
    errs[0]!.message,
    new RegExp(
      '^plugin raw \\(127\\.0\\.0\\.1:\\d+\\): the delete_record of table things cannot be applied: ' +
        'where_clause group 1, predicate 1 \\(column id\\) has operator 3, cq-pipe knows EQ \\(0\\)$',
    ),
  );
  t.match(
    errs[1]!.message,
    /the delete_record of table other cannot be applied: where_clause group 1 has grouping type 7, cq-pipe knows AND \(0\) and OR \(1\)$/,
  );

  t.throws(() => decodePredicateValue(goValue(new A.Field('id', new A.Int64(), true), [1n, 2n])), /has 2 rows, a predicate value has one/);
  t.throws(() => decodePredicateValue(new Uint8Array([1, 2, 3])), /^has no column$/);
  t.throws(() => encodePredicateValue(rows(THINGS, [thing(1)])), /a predicate value is one column and one row, not 4 column\(s\) and 1 row\(s\)/);
});

t.test('plugin source: a delete_record naming no table fails the sync after the stream, the rows before it delivered', async (t) => {
  const plugin = await serveRawSync(t, [encodeSchema(THINGS)], [migrate(THINGS), insert(rows(THINGS, [thing(1)])), deleteRecord({ table_name: '' })]);
  const client = await pluginSource({ address: plugin.address }).create({}, ctx('raw'));
  const got: SyncMessage[] = [];
  const err = await (async () => {
    for await (const m of client.read([THINGS], { signal: new AbortController().signal, state: new Map() })) got.push(m);
  })().catch((e: unknown) => e as CqPipeError);
  await client.close?.();
  t.same(shape(got), ['insert things 1']);
  t.equal(err?.code, 'CQ_ERR_SOURCE_READ');
  t.match(err?.message, /^plugin raw \(127\.0\.0\.1:\d+\) reported an error outside the synced tables: a delete_record that names no table$/);
});

t.test('the SDK-built source: its delete_record (no where clause) comes before every row of that table', async (t) => {
  const { address } = await servePlugin(t);
  const source = await pluginSource({ address }).create({ rows: 2, delete_record: 'events' }, ctx('sdk'));
  const tables = await source.tables();
  const msgs: SyncMessage[] = [];
  for await (const m of source.read(tables, { signal: new AbortController().signal, state: new Map() })) msgs.push(m);
  await source.close?.();
  const events = msgs.filter((m) => 'table' in m && m.table === 'events').map((m) => m.kind);
  t.equal(events[0], 'delete-record', 'first');
  t.ok(events.length > 1 && events.slice(1).every((k) => k === 'insert'), 'then the rows of events');
  t.same(
    msgs.find((m) => m.kind === 'delete-record'),
    { kind: 'delete-record', table: 'events', where: [], relations: [] },
  );
  t.same(
    msgs.filter((m) => m.kind === 'table-error'),
    [],
    'no table fails',
  );
});

t.test('plugin destination: delete_record reaches a plugin in order, values as IPC a Go plugin reads (SDK-built recorder)', async (t) => {
  const dir = await tmpDir(t);
  const record = path.join(dir, 'record.jsonl');
  const { address } = await servePlugin(t, path.join(ROOT, 'dist/test/fixtures/plugins/serve-sdk-recorder.js'));
  const client = await pluginDestination({ address, modes: { writeMode: 'overwrite', pkMode: 'default' } }).create({ record }, ctx('rec'));
  const first = rows(THINGS, [thing(1), thing(2)]);
  await client.migrateTables([THINGS], { migrateMode: 'safe' });
  await client.writeBatch(THINGS, [first]);
  // values as the engine has them: one row and one column of the table's own batch (a slice)
  const col = (name: string, row: number) => {
    const i = first.schema.fields.findIndex((f) => f.name === name);
    return batchFromColumns(new A.Schema([first.schema.fields[i]!], first.schema.metadata), 1, [first.data.children[i]!.slice(row, 1)]);
  };
  await client.deleteRecord!({
    kind: 'delete-record',
    table: 'things',
    where: [
      {
        grouping: 'and',
        predicates: [
          { operator: 'eq', column: 'id', value: col('id', 1) },
          { operator: 'eq', column: 'ref', value: col('ref', 1) },
          { operator: 'eq', column: 'at', value: col('at', 1) },
        ],
      },
      {
        grouping: 'or',
        predicates: [
          { operator: 'eq', column: 'name', value: col('name', 0) },
          { operator: 'eq', column: 'name', value: col('name', 1) },
        ],
      },
    ],
    relations: [{ table: 'thing_parts', parent: 'things' }],
  });
  await client.writeBatch(THINGS, [rows(THINGS, [thing(3)])]);
  await client.close();
  const events = (await readFile(record, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as RecordedEvent);
  t.same(
    events.map((e) => e.event),
    ['init', 'migrate_table', 'insert', 'delete_record', 'insert', 'write_end', 'close'],
    'after the rows before it, before the rows after it',
  );
  const del = events[3] as Extract<RecordedEvent, { event: 'delete_record' }>;
  const tableMd = { 'cq:table_name': 'things' };
  const pk = { 'cq:extension:primary_key': 'true', 'cq:extension:unique': 'false', 'cq:extension:incremental': 'false' };
  const plain = { 'cq:extension:primary_key': 'false', 'cq:extension:unique': 'false', 'cq:extension:incremental': 'false' };
  const md = (f: A.Field) => Object.fromEntries(f.metadata);
  const fieldOf = (n: string) => THINGS.fields.find((f) => f.name === n)!;
  t.same(md(fieldOf('id')), pk, 'the table as cq-pipe defines it');
  t.same(md(fieldOf('name')), plain);
  t.same(del, {
    event: 'delete_record',
    table_name: 'things',
    where_clause: [
      {
        grouping_type: 0,
        predicates: [
          {
            operator: 0,
            column: 'id',
            batches: 1,
            schema_metadata: tableMd,
            fields: [{ name: 'id', type: 'Int64', nullable: false, metadata: pk }],
            rows: [{ id: '2' }],
          },
          {
            operator: 0,
            column: 'ref',
            batches: 1,
            schema_metadata: tableMd,
            fields: [{ name: 'ref', type: 'FixedSizeBinary[16]', nullable: true, metadata: { ...plain, [EXT_NAME]: 'uuid', [EXT_META]: 'uuid-serialized' } }],
            rows: [{ ref: REF2 }],
          },
          {
            operator: 0,
            column: 'at',
            batches: 1,
            schema_metadata: tableMd,
            fields: [{ name: 'at', type: 'timestamp[us, UTC]', nullable: true, metadata: plain }],
            rows: [{ at: String(BigInt(Date.parse(AT2)) * 1000n) }],
          },
        ],
      },
      {
        grouping_type: 1,
        predicates: [
          {
            operator: 0,
            column: 'name',
            batches: 1,
            schema_metadata: tableMd,
            fields: [{ name: 'name', type: 'Utf8', nullable: true, metadata: plain }],
            rows: [{ name: 'thing 1' }],
          },
          {
            operator: 0,
            column: 'name',
            batches: 1,
            schema_metadata: tableMd,
            fields: [{ name: 'name', type: 'Utf8', nullable: true, metadata: plain }],
            rows: [{ name: 'thing 2' }],
          },
        ],
      },
    ],
    table_relations: [{ table_name: 'thing_parts', parent_table: 'things' }],
  });
});

/** a DestinationClient that records its calls */
function recordingDestination(opts: { deleteRecord: boolean }) {
  const calls: string[] = [];
  const deletes: DeleteRecordMessage[] = [];
  const connector = defineDestination({
    name: 'recording',
    configSchema: { type: 'object' },
    capabilities: { writeModes: ['append', 'overwrite', 'overwrite-delete-stale'], batch: { rows: 1000, bytes: 1 << 20, timeoutMs: 1000 } },
    create: async (): Promise<DestinationClient> => ({
      migrateTables: async (tables, o) => {
        calls.push(`migrate ${tables.map(tableName).join(',')} ${o.migrateMode}`);
        return [];
      },
      writeBatch: async (table, batches) => {
        calls.push(`write ${tableName(table)} ${batches.map((b) => [...b.getChild('id')!].join('+')).join(',')}`);
      },
      ...(opts.deleteRecord
        ? {
            deleteRecord: async (m: DeleteRecordMessage) => {
              calls.push(`delete-record ${m.table}`);
              deletes.push(m);
            },
          }
        : {}),
      commit: async () => {
        calls.push('commit');
      },
      close: async (err?: Error) => {
        calls.push(err ? 'rollback' : 'close');
      },
    }),
  });
  return { connector, calls, deletes };
}

const writeReq = {
  migrate: (s: A.Schema) => new v3.Write.Request({ migrate_table: new v3.Write.MessageMigrateTable({ table: encodeSchema(s), migrate_force: false }) }),
  insert: (b: A.RecordBatch) => new v3.Write.Request({ insert: new v3.Write.MessageInsert({ record: encodeRecord(b) }) }),
  deleteRecord: (o: Parameters<typeof v3.Write.MessageDeleteRecord.fromObject>[0]) =>
    new v3.Write.Request({ delete_record: v3.Write.MessageDeleteRecord.fromObject(o) }),
};

t.test('serve: a Write delete_record is applied after the pending rows, decoded for the connector', async (t) => {
  const d = recordingDestination({ deleteRecord: true });
  const session = await WriteSession.open({ connector: d.connector, spec: {}, caps: { rows: 1000, bytes: 1 << 20 }, ctx: ctx('served') });
  const idValue = (id: bigint) => goValue(new A.Field('id', new A.Int64(), true), [id]);
  await session.handle(writeReq.migrate(THINGS));
  await session.handle(writeReq.insert(rows(THINGS, [thing(1), thing(2)])));
  await session.handle(writeReq.insert(rows(THINGS, [thing(3)])));
  t.same(d.calls, ['migrate things safe'], 'rows are batched until something needs them written');
  await session.handle(
    writeReq.deleteRecord({
      table_name: 'things',
      where_clause: [{ grouping_type: 1, predicates: [2n, 3n].map((id) => ({ operator: 0, column: 'id', record: idValue(id) })) }],
      table_relations: [{ table_name: 'thing_parts', parent_table: 'things' }],
    }),
  );
  await session.handle(writeReq.insert(rows(THINGS, [thing(4)])));
  await session.finish();
  t.same(d.calls, ['migrate things safe', 'write things 1+2,3', 'delete-record things', 'write things 4', 'close']);
  const [m] = d.deletes;
  t.same(
    {
      table: m!.table,
      relations: m!.relations,
      where: m!.where.map((g) => ({ grouping: g.grouping, values: g.predicates.map((p) => [p.operator, p.column, predicateValue(p.value).value]) })),
    },
    {
      table: 'things',
      relations: [{ table: 'thing_parts', parent: 'things' }],
      where: [
        {
          grouping: 'or',
          values: [
            ['eq', 'id', '2'],
            ['eq', 'id', '3'],
          ],
        },
      ],
    },
  );
});

t.test('serve: a connector without deleteRecord fails the Write stream naming connector and table; a bad operator is a clear error', async (t) => {
  const d = recordingDestination({ deleteRecord: false });
  const session = await WriteSession.open({ connector: d.connector, spec: {}, caps: { rows: 1000, bytes: 1 << 20 }, ctx: ctx('served') });
  await session.handle(writeReq.migrate(THINGS));
  await session.handle(writeReq.insert(rows(THINGS, [thing(1)])));
  const err = (await session.handle(writeReq.deleteRecord({ table_name: 'things', where_clause: [] })).catch((e: unknown) => e)) as CqPipeError;
  t.equal(err.code, 'CQ_ERR_UNSUPPORTED');
  t.equal(err.message, "cq-pipe's recording destination cannot apply delete_record (table things)");
  t.same([err.context.connector, err.context.table], ['served', 'things']);
  await session.abort(err);
  t.same(d.calls, ['migrate things safe', 'rollback'], 'nothing written: the stream rolls back');

  const d2 = recordingDestination({ deleteRecord: true });
  const s2 = await WriteSession.open({ connector: d2.connector, spec: {}, caps: { rows: 1000, bytes: 1 << 20 }, ctx: ctx('served') });
  const bad = (await s2
    .handle(
      writeReq.deleteRecord({
        table_name: 'things',
        where_clause: [{ grouping_type: 0, predicates: [{ operator: 2 as number as 0, column: 'id', record: new Uint8Array() }] }],
      }),
    )
    .catch((e: unknown) => e)) as CqPipeError;
  t.equal(bad.code, 'CQ_ERR_SCHEMA_INCOMPATIBLE');
  t.equal(
    bad.message,
    'the delete_record of table things cannot be applied: where_clause group 1, predicate 1 (column id) has operator 2, cq-pipe knows EQ (0)',
  );
  await s2.abort(bad);
  t.same(d2.deletes, []);
});
