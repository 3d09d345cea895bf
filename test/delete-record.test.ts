/**
 * delete-record (CloudQuery's DeleteRecord, docs/semantics.md): the batch writer's barrier and
 * table failures, the Postgres destination's CTE delete (the SDK write suite's cases, AND/OR
 * groups, cascades, exact values, bulk replace), the file destination's refusal, the message
 * through `read | write` in both pipe formats, and table renames. Postgres contents are checked
 * with SQL.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import * as A from 'apache-arrow';
import t from 'tap';
import { exitCodeOfSync } from '../bin/exit-codes.js';
import { BatchWriter } from '../lib/batch-writer.js';
import type { DestinationClient } from '../lib/connector.js';
import type { DeleteRecordMessage, SyncMessage, WriteMode } from '../lib/messages.js';
import { runSync } from '../lib/pipeline.js';
import { defineTable, tableName } from '../lib/schema.js';
import { memoryTables } from '../connectors/memory.js';
import { ITEMS, config, destSpec, itemsBatch, staticSource, tmpDir } from './helpers/index.js';
import { CLI_SHELL, cliSync, shell } from './helpers/cli.js';
import { freshDatabase, query } from './helpers/postgres.js';
import type { StaticData } from './helpers/static-source.js';
import {
  CHILD,
  DELETE_RECORD_SOURCE_PATH,
  GRANDCHILD,
  PARENT,
  SCENARIO_TABLES,
  and,
  chainRows,
  deleteParent1,
  deleteRecord,
  eq,
  insert,
  or,
  scenario,
} from './helpers/delete-record-source.js';
import { encodeMessage } from '../lib/pipe/arrow-stream.js';
import { encodeNdjson } from '../lib/pipe/ndjson-stream.js';

const items = (rows: number[], tag = 'r') =>
  ({ kind: 'insert', table: 'items', batch: itemsBatch(rows.map((id) => ({ id, name: `${tag}${id}`, value: id }))) }) as const;

let seq = 0;
async function syncTo(url: string, tables: A.Schema[], messages: SyncMessage[], o: { writeMode?: WriteMode; source?: string; transformers?: string[] } = {}) {
  const src = staticSource(tables, messages, { name: o.source ?? 'a', destinations: ['pg'] });
  const dest = destSpec({
    name: 'pg',
    path: 'postgresql',
    write_mode: o.writeMode ?? 'overwrite',
    spec: { connection_string: url },
    transformers: o.transformers ?? [],
  });
  return runSync({ config: config([src.spec], [dest]) });
}

const idsOf = async (url: string, table: string) => (await query<{ id: string }>(url, `SELECT id::text FROM "${table}" ORDER BY id`)).map((r) => Number(r.id));

// --- the batch writer ---------------------------------------------------------------------------

/** a client that records the calls it gets, in order */
function recorder(over: Partial<DestinationClient> = {}) {
  const calls: string[] = [];
  const client: DestinationClient = {
    async migrateTables(ts) {
      calls.push(`migrate ${ts.map(tableName).join(',')}`);
      return [];
    },
    async writeBatch(s, bs) {
      calls.push(`write ${tableName(s)} ${bs.reduce((n, b) => n + b.numRows, 0)}`);
    },
    async deleteRecord(m) {
      calls.push(`delete ${m.table} ${m.relations.map((r) => r.table).join(',')}`);
    },
    async close() {},
    ...over,
  };
  return { client, calls };
}

async function drive(client: DestinationClient, messages: SyncMessage[]) {
  const errors: string[] = [];
  const writer = new BatchWriter({
    client,
    destination: 'd',
    caps: { rows: 1000, bytes: 1 << 30, timeoutMs: 0 },
    migrate: { migrateMode: 'safe' },
    onTableError: (table, err) => errors.push(`${table} ${err.code} ${err.scope}`),
  });
  await new Promise<void>((resolve, reject) => {
    Readable.from(messages, { objectMode: true }).pipe(writer).on('finish', resolve).on('error', reject);
  });
  return { writer, errors };
}

const OTHER = defineTable({ name: 'other', columns: [{ name: 'id', type: 'int64', primary_key: true }] });
const other = (n: number): SyncMessage =>
  insert(
    OTHER,
    Array.from({ length: n }, (_, i) => ({ id: i })),
  );

t.test('batch writer: a delete-record is a barrier for its table and its relations’ tables; relations in cascade order', async (t) => {
  const { client, calls } = recorder();
  const { writer, errors } = await drive(client, [
    ...[PARENT, CHILD, GRANDCHILD, OTHER].map((table): SyncMessage => ({ kind: 'migrate-table', table })),
    ...chainRows(),
    other(3),
    deleteParent1(),
    insert(PARENT, [{ id: 3, _cq_id: '00000000-0000-4000-8000-000000000003' }]),
    { kind: 'sync-end' },
  ]);
  t.same(calls, [
    'migrate parent,child,grandchild,other',
    'write parent 2',
    'write grandchild 3',
    'write child 3',
    // other's rows wait for their batch to fill (or the end)
    'delete parent child,grandchild',
    'write parent 1',
    'write other 3',
  ]);
  t.same(errors, []);
  t.same(writer.deleteRecords, { applied: 1, dropped: 0 });
});

t.test('batch writer: no deleteRecord fails the table alone (CQ_ERR_UNSUPPORTED); later deletes of a failed table are dropped', async (t) => {
  const { client, calls } = recorder({ deleteRecord: undefined });
  const { writer, errors } = await drive(client, [
    { kind: 'migrate-table', table: ITEMS },
    { kind: 'migrate-table', table: OTHER },
    items([1]),
    deleteRecord('items'),
    items([2]),
    other(2),
    deleteRecord('items'),
    { kind: 'sync-end' },
  ]);
  t.same(errors, ['items CQ_ERR_UNSUPPORTED table']);
  t.same(calls, ['migrate items,other', 'write items 1', 'write other 2'], 'items rows after the failure are dropped, other goes on');
  t.equal(writer.failedTables.get('items')?.droppedRows, 1);
  t.match(writer.failedTables.get('items')?.error.message, /destination d cannot delete records .*table items/);
  t.same(writer.deleteRecords, { applied: 0, dropped: 1 });
});

t.test('batch writer: a table-scoped client error fails that table only; a delete of a table failed upstream is dropped', async (t) => {
  const { DestinationWriteError, tableFailure, SourceReadError } = await import('../lib/errors.js');
  const { client, calls } = recorder({
    async deleteRecord(m: DeleteRecordMessage) {
      calls.push(`delete ${m.table}`);
      if (m.table === 'items') throw tableFailure(new DestinationWriteError('no such column', { connector: 'd', table: 'items' }));
    },
  });
  const { writer, errors } = await drive(client, [
    { kind: 'migrate-table', table: ITEMS },
    { kind: 'migrate-table', table: OTHER },
    items([1]),
    deleteRecord('items'),
    { kind: 'table-error', table: 'other', error: new SourceReadError('gone', { table: 'other' }) },
    deleteRecord('other'),
    other(1),
    { kind: 'sync-end' },
  ]);
  t.same(errors, ['items CQ_ERR_DEST_WRITE table']);
  t.same(calls, ['migrate items,other', 'write items 1', 'delete items', 'write other 1'], 'the delete of other (failed upstream) never reaches the client');
  t.same(writer.deleteRecords, { applied: 0, dropped: 1 });
});

t.test('batch writer: relations whose parent is never deleted are an error of the message, failing its table', async (t) => {
  const { client, calls } = recorder();
  const { errors, writer } = await drive(client, [
    { kind: 'migrate-table', table: ITEMS },
    deleteRecord('items', [], [{ table: 'child', parent: 'nowhere' }]),
    { kind: 'sync-end' },
  ]);
  t.same(errors, ['items CQ_ERR_SOURCE_DATA table']);
  t.match(writer.failedTables.get('items')?.error.message, /relation child has parent nowhere, which is neither items nor the table of another relation/);
  t.same(calls, ['migrate items']);
});

t.test('memory destination applies a delete-record with its cascade', async (t) => {
  const name = `mem_delrec_${++seq}`;
  const src = staticSource([PARENT, CHILD, GRANDCHILD], [...chainRows(), deleteParent1()], { destinations: [name] });
  const r = await runSync({ config: config([src.spec], [destSpec({ name, path: 'memory', write_mode: 'overwrite' })]) });
  t.equal(exitCodeOfSync(r), 0, r.fatal?.message ?? 'ok');
  const ids = (tbl: string) =>
    memoryTables(name)
      .get(tbl)!
      .rows.map((x) => Number(x.id));
  t.same([ids('parent'), ids('child'), ids('grandchild')], [[2], [12], [22]]);
});

// --- Postgres: the SDK write suite's cases -------------------------------------------------------

t.test('postgres: delete where id = 1 keeps the row of id 0; id = 0 deletes it (SDK testDeleteRecordBasic)', async (t) => {
  const url = await freshDatabase('delrec');
  let r = await syncTo(url, [ITEMS], [items([0]), deleteRecord('items', [and(eq('id', 'int64', 1))])]);
  t.equal(exitCodeOfSync(r), 0, r.fatal?.message ?? 'ok');
  t.same(await idsOf(url, 'items'), [0], 'no match: the row stays');
  r = await syncTo(url, [ITEMS], [deleteRecord('items', [and(eq('id', 'int64', 0))])]);
  t.equal(exitCodeOfSync(r), 0);
  t.same(await idsOf(url, 'items'), [], 'a match: 0 rows');
});

t.test('postgres: an empty where deletes every row; insert again, delete all again (SDK testDeleteAllRecords)', async (t) => {
  const url = await freshDatabase('delrec');
  let r = await syncTo(url, [ITEMS], [items([0])]);
  t.equal(exitCodeOfSync(r), 0);
  t.same(await idsOf(url, 'items'), [0]);
  r = await syncTo(url, [ITEMS], [deleteRecord('items')]);
  t.equal(exitCodeOfSync(r), 0);
  t.same(await idsOf(url, 'items'), []);
  r = await syncTo(url, [ITEMS], [items([1])]);
  t.same(await idsOf(url, 'items'), [1], 'inserted again');
  r = await syncTo(url, [ITEMS], [deleteRecord('items')]);
  t.equal(exitCodeOfSync(r), 0);
  t.same(await idsOf(url, 'items'), []);
});

const PAIRS = defineTable({
  name: 'pairs',
  columns: [
    { name: 'id', type: 'int64', primary_key: true },
    { name: 'a', type: 'int64' },
    { name: 'b', type: 'utf8' },
  ],
});
const pairRows = insert(PAIRS, [
  { id: 1, a: 1, b: 'x' },
  { id: 2, a: 1, b: 'y' },
  { id: 3, a: 2, b: 'x' },
  { id: 4, a: 2, b: 'y' },
]);

t.test('postgres: a group joins its predicates by its grouping; groups are ANDed', async (t) => {
  const cases: [string, DeleteRecordMessage, number[]][] = [
    ['and(a = 1, b = x)', deleteRecord('pairs', [and(eq('a', 'int64', 1), eq('b', 'utf8', 'x'))]), [2, 3, 4]],
    ['or(a = 1, b = x)', deleteRecord('pairs', [or(eq('a', 'int64', 1), eq('b', 'utf8', 'x'))]), [4]],
    ['or(a = 1, a = 2) AND and(b = y)', deleteRecord('pairs', [or(eq('a', 'int64', 1), eq('a', 'int64', 2)), and(eq('b', 'utf8', 'y'))]), [1, 3]],
    [
      'or(id = 1, id = 3) AND or(b = x, b = y) AND and(a = 1)',
      deleteRecord('pairs', [or(eq('id', 'int64', 1), eq('id', 'int64', 3)), or(eq('b', 'utf8', 'x'), eq('b', 'utf8', 'y')), and(eq('a', 'int64', 1))]),
      [2, 3, 4],
    ],
    ['a null value matches nothing', deleteRecord('pairs', [and(eq('b', 'utf8', null))]), [1, 2, 3, 4]],
  ];
  const url = await freshDatabase('delrec');
  for (const [what, del, left] of cases) {
    await query(url, 'DROP TABLE IF EXISTS pairs');
    const r = await syncTo(url, [PAIRS], [pairRows, del]);
    t.equal(exitCodeOfSync(r), 0, r.fatal?.message ?? what);
    t.same(await idsOf(url, 'pairs'), left, what);
  }
});

t.test('postgres: relations cascade parent → child → grandchild by _cq_parent_id; other parents’ children stay', async (t) => {
  const url = await freshDatabase('delrec');
  const r = await syncTo(url, [PARENT, CHILD, GRANDCHILD], [...chainRows(), deleteParent1()]);
  t.equal(exitCodeOfSync(r), 0, r.fatal?.message ?? 'ok');
  t.same(await idsOf(url, 'parent'), [2]);
  t.same(await idsOf(url, 'child'), [12]);
  t.same(await idsOf(url, 'grandchild'), [22]);
});

t.test('postgres: values compare exactly — int64 past 2^53, uuid, µs timestamp, json; rows before the delete go, rows after it stay', async (t) => {
  const url = await freshDatabase('delrec');
  const r = await syncTo(url, SCENARIO_TABLES, scenario());
  t.equal(exitCodeOfSync(r), 0, r.fatal?.message ?? 'ok');
  t.same(await idsOf(url, 'exact'), [2, 4, 6, 8, 9]);
  const [row9] = await query<{ big: string }>(url, 'SELECT big::text FROM exact WHERE id = 9');
  t.equal(row9?.big, '9007199254740993', 'inserted after the delete of the same value: kept');
  t.same([await idsOf(url, 'parent'), await idsOf(url, 'child'), await idsOf(url, 'grandchild')], [[2], [12], [22]]);
});

t.test('postgres: rows in the same batch window before the delete are deleted, rows after it stay (every write mode)', async (t) => {
  for (const writeMode of ['append', 'overwrite', 'overwrite-delete-stale'] as const) {
    const url = await freshDatabase('delrec');
    const r = await syncTo(url, [ITEMS], [items([1, 2, 3]), deleteRecord('items', [or(eq('id', 'int64', 1), eq('id', 'int64', 3))]), items([3, 4])], {
      writeMode,
    });
    t.equal(exitCodeOfSync(r), 0, r.fatal?.message ?? writeMode);
    t.same(await idsOf(url, 'items'), [2, 3, 4], writeMode);
  }
});

t.test('postgres: a table staged for a bulk replace is merged before the delete; the final rows are right', async (t) => {
  const url = await freshDatabase('delrec');
  let r = await syncTo(url, [ITEMS], [items([1, 2, 3, 4, 5], 'old')], { writeMode: 'overwrite-delete-stale' });
  t.equal(exitCodeOfSync(r), 0);
  // the second sync reads in full (staged), deletes id 2 in the middle and writes on
  r = await syncTo(url, [ITEMS], [items([1, 2, 3], 'new'), deleteRecord('items', [and(eq('id', 'int64', 2))]), items([4], 'new')], {
    writeMode: 'overwrite-delete-stale',
  });
  t.equal(exitCodeOfSync(r), 0, r.fatal?.message ?? 'ok');
  const rows = await query<{ id: string; name: string }>(url, 'SELECT id::text, name FROM items ORDER BY id');
  t.same(
    rows.map((x) => `${x.id}:${x.name}`),
    ['1:new1', '3:new3', '4:new4'],
    'id 2 deleted (staged and old), id 5 stale',
  );
  const staging = await query(url, "SELECT relname FROM pg_class WHERE relname LIKE '\\_cq\\_stage\\_%'");
  t.same(staging, [], 'no staging table left');
});

t.test('postgres: a delete-record for a missing column fails that table alone; the other tables are written', async (t) => {
  const url = await freshDatabase('delrec');
  const r = await syncTo(
    url,
    [ITEMS, PAIRS],
    [items([1]), pairRows, deleteRecord('items', [and(eq('nope', 'int64', 1))]), items([2]), insert(PAIRS, [{ id: 5 }])],
  );
  t.equal(exitCodeOfSync(r), 1);
  t.same(
    r.errors.map((e) => `${e.code} ${e.context.table}`),
    ['CQ_ERR_DEST_WRITE items'],
  );
  t.match(r.errors[0]!.message, /has no column "nope"/);
  t.same(await idsOf(url, 'items'), [1], 'rows before the failure stay; after it the table is dropped');
  t.same(await idsOf(url, 'pairs'), [1, 2, 3, 4, 5]);
});

t.test('basic change_table_names renames the table and the relations of a delete-record', async (t) => {
  const url = await freshDatabase('delrec');
  const src = staticSource([PARENT, CHILD, GRANDCHILD], [...chainRows(), deleteParent1()], { name: 'a', destinations: ['pg'] });
  const dest = destSpec({ name: 'pg', path: 'postgresql', write_mode: 'overwrite', spec: { connection_string: url }, transformers: ['rn'] });
  const rn = {
    name: 'rn',
    path: 'basic',
    spec: { transformations: [{ kind: 'change_table_names', tables: ['*'], new_table_name_template: 'cq_{{.OldName}}' }] },
    origin: { file: 'test', document: 1, baseDir: process.cwd() },
  };
  const r = await runSync({ config: { ...config([src.spec], [dest]), transformers: [rn] } });
  t.equal(exitCodeOfSync(r), 0, r.fatal?.message ?? 'ok');
  t.same([await idsOf(url, 'cq_parent'), await idsOf(url, 'cq_child'), await idsOf(url, 'cq_grandchild')], [[2], [12], [22]]);
});

// --- file destination ---------------------------------------------------------------------------

t.test('file destination: a delete-record fails only its table with CQ_ERR_UNSUPPORTED (exit 1); the other table is written', async (t) => {
  const dir = await tmpDir(t);
  const src = staticSource([ITEMS, PAIRS], [items([1]), pairRows, deleteRecord('items'), items([2])], { destinations: ['files'] });
  const dest = destSpec({ name: 'files', path: 'file', write_mode: 'append', spec: { path: `${dir}/{{TABLE}}/{{UUID}}.{{FORMAT}}`, format: 'ndjson' } });
  const r = await runSync({ config: config([src.spec], [dest]) });
  t.equal(exitCodeOfSync(r), 1);
  t.same(
    r.errors.map((e) => `${e.code} ${e.scope} ${e.context.connector} ${e.context.table}`),
    ['CQ_ERR_UNSUPPORTED table files items'],
  );
  t.match(r.errors[0]!.message, /destination files cannot delete records: a source's delete-record for table items \(files are append-only\)/);
  t.match(r.errors[0]!.hint, /postgresql/);
  const lines = (await import('node:fs/promises')).readdir;
  t.equal((await lines(path.join(dir, 'pairs'))).length, 1, 'pairs written');
  t.equal((await lines(path.join(dir, 'items'))).length, 1, 'items: the rows before the delete only');
});

t.test('cq-pipe write into a file destination: CQ_ERR_UNSUPPORTED names the destination and table, exit 1', async (t) => {
  const dir = await tmpDir(t);
  const cfg = path.join(dir, 'f.yml');
  await writeFile(
    cfg,
    `kind: destination\nspec: { name: files, path: file, write_mode: append, spec: { path: "${dir}/out/{{TABLE}}/{{UUID}}.{{FORMAT}}", format: ndjson } }\n`,
  );
  const input = [
    { kind: 'migrate-table', table: 'items', columns: [{ name: 'id', type: 'int64', primary_key: true }] },
    { table: 'items', row: { id: 1 } },
    { kind: 'delete-record', table: 'items', where: [{ grouping: 'and', predicates: [{ operator: 'eq', column: 'id', value: 1 }] }], relations: [] },
  ]
    .map((x) => JSON.stringify(x))
    .join('\n');
  const r = cliSync(['write', cfg], { input });
  t.equal(r.status, 1, r.stderr);
  t.match(r.stderr, /CQ_ERR_UNSUPPORTED/);
  t.match(r.stderr, /destination files cannot delete records: a source's delete-record for table items/);
});

// --- through the pipes ----------------------------------------------------------------------------

async function scenarioConfig(dir: string, url: string, name: string): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(
    p,
    `kind: source
spec: { name: scen, path: "${DELETE_RECORD_SOURCE_PATH}", destinations: [pg], spec: {} }
---
kind: destination
spec: { name: pg, path: postgresql, write_mode: overwrite-delete-stale, spec: { connection_string: "${url}" } }
`,
  );
  return p;
}

/** every table's rows without the per-run columns (and the random `_cq_id` of `exact`), one text per table */
async function contents(url: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const tbl of ['parent', 'child', 'grandchild', 'exact']) {
    const drop = tbl === 'exact' ? " - '_cq_id'" : '';
    const rows = await query<{ r: string }>(url, `SELECT (to_jsonb(x) - '_cq_sync_time' - '_cq_source_name'${drop})::text AS r FROM ${tbl} x ORDER BY id`);
    out[tbl] = rows.map((x) => x.r);
  }
  return out;
}

t.test('read | write carries delete-record exactly in both pipe formats: Postgres holds what sync gives', async (t) => {
  const dir = await tmpDir(t);
  const direct = await freshDatabase('delrec');
  const viaSync = cliSync(['sync', await scenarioConfig(dir, direct, 's.yml'), '--no-progress']);
  t.equal(viaSync.status, 0, viaSync.stderr);
  const expected = await contents(direct);
  t.same(
    Object.values(expected).map((rows) => rows.length),
    [1, 1, 1, 5],
  );
  t.match(expected.exact!.at(-1), /"big": 9007199254740993/);
  for (const format of ['arrow', 'ndjson']) {
    const url = await freshDatabase('delrec');
    const cfg = await scenarioConfig(dir, url, `${format}.yml`);
    const r = shell(`${CLI_SHELL} read "${cfg}" --format ${format} | ${CLI_SHELL} write "${cfg}"`);
    t.equal(r.status, 0, r.stderr);
    t.same(await contents(url), expected, `${format}: same rows`);
  }
  const inspect = shell(`${CLI_SHELL} read "${await scenarioConfig(dir, direct, 'i.yml')}" | ${CLI_SHELL} inspect`);
  t.equal(inspect.status, 0, inspect.stderr);
  t.match(inspect.stdout, /delete-record exact where \(big = "9007199254740993" \(int64\)\)\n/);
  t.match(inspect.stdout, /delete-record parent where \(id = 1 \(int64\)\) cascade grandchild\(child\), child\(parent\)\n/);
});

t.test('pipe encoders write a delete-record as one segment / one line', async (t) => {
  const del = deleteParent1();
  const line = encodeNdjson(del)!;
  t.same(JSON.parse(line), {
    kind: 'delete-record',
    table: 'parent',
    where: [{ grouping: 'and', predicates: [{ operator: 'eq', column: 'id', type: 'int64', value: 1 }] }],
    relations: [
      { table: 'grandchild', parent: 'child' },
      { table: 'child', parent: 'parent' },
    ],
  });
  const seg = encodeMessage(del)!;
  const tbl = A.tableFromIPC(seg);
  t.equal(tbl.schema.metadata.get('cq:message'), 'delete-record');
  t.equal(tbl.numRows, 1);
});

t.test('postgres: every column type compares exactly — each delete takes its row and leaves the row with the nearest value', async (t) => {
  const cases: [string, unknown, unknown][] = [
    ['bool', false, true],
    ['int8', 127, 126],
    ['int16', -32768, -32767],
    ['int32', 2147483647, 2147483646],
    ['int64', -9223372036854775808n, -9223372036854775807n],
    ['uint64', 18446744073709551615n, 18446744073709551614n],
    ['float32', 0.1, 0.2],
    ['float64', 0.30000000000000004, 0.3],
    ['decimal(38,10)', '1234567890123456789012345678.0123456789', '1234567890123456789012345678.0123456788'],
    ['utf8', 'a,"b"\nc', 'a,"b" c'],
    ['large_utf8', '"quoted"', 'quoted'],
    ['binary', Buffer.from([0, 1, 255]).toString('base64'), Buffer.from([0, 1, 254]).toString('base64')],
    ['date32', '1900-03-01', '1900-02-28'],
    ['time64', '12:34:56.123456', '12:34:56.123457'],
    ['timestamp', '1969-12-31T23:59:59.999999Z', '1970-01-01T00:00:00.000000Z'],
    ['uuid', '0190b6b2-1c2d-7e3f-8a4b-5c6d7e8f9a0b', '0190b6b2-1c2d-7e3f-8a4b-5c6d7e8f9a0c'],
    ['json', { k: [1, { z: null }], n: 9007199254740993n }, { k: [1, { z: null }], n: 9007199254740992 }],
    ['inet', '10.0.0.1', '10.0.0.2'],
    ['list<int64>', [1, 2], [2, 1]],
    ['list<utf8>', ['a,b', null], ['a', 'b']],
  ];
  const table = defineTable({
    name: 'typed',
    columns: [{ name: 'id', type: 'int64', primary_key: true }, ...cases.map(([type], i) => ({ name: `c${i}`, type }))],
  });
  const rows = cases.flatMap(([, hit, near], i) => [
    { id: i, [`c${i}`]: hit },
    { id: 100 + i, [`c${i}`]: near },
  ]);
  const deletes = cases.map(([type, hit], i) => deleteRecord('typed', [and(eq(`c${i}`, type, hit))]));
  const url = await freshDatabase('delrec');
  const r = await syncTo(url, [table], [insert(table, rows), ...deletes]);
  t.equal(exitCodeOfSync(r), 0, r.fatal?.message ?? r.errors.map((e) => e.message).join('; '));
  t.same(
    await idsOf(url, 'typed'),
    cases.map((_, i) => 100 + i),
  );
});

t.test('postgres: a table built with timestamp without time zone and json (not jsonb) columns matches exactly', async (t) => {
  const url = await freshDatabase('delrec');
  await query(
    url,
    `CREATE TABLE stamps (id bigint PRIMARY KEY, ts timestamp without time zone, doc json, _cq_sync_time timestamp without time zone,
       _cq_source_name text, _cq_id uuid NOT NULL UNIQUE, _cq_parent_id uuid)`,
  );
  const STAMPS = defineTable({
    name: 'stamps',
    columns: [
      { name: 'id', type: 'int64', primary_key: true },
      { name: 'ts', type: 'timestamp' },
      { name: 'doc', type: 'json' },
    ],
  });
  const r = await syncTo(
    url,
    [STAMPS],
    [
      insert(STAMPS, [
        { id: 1, ts: '2030-06-01T12:00:00.000001Z' },
        { id: 2, ts: '2030-06-01T12:00:00.000002Z' },
        { id: 3, doc: { b: 1, a: [2] } },
        { id: 4, doc: { b: 1, a: [3] } },
      ]),
      deleteRecord('stamps', [and(eq('ts', 'timestamp', '2030-06-01T12:00:00.000001Z'))]),
      deleteRecord('stamps', [and(eq('doc', 'json', { a: [2], b: 1 }))]),
    ],
  );
  t.equal(exitCodeOfSync(r), 0, r.fatal?.message ?? r.errors.map((e) => e.message).join('; '));
  t.same(await idsOf(url, 'stamps'), [2, 4]);
});

t.test('postgres: a connection lost while the delete runs is reconnected and the delete run again', async (t) => {
  const url = await freshDatabase('delrec');
  const pg = (await import('pg')).default;
  const locker = new pg.Client({ connectionString: url });
  await locker.connect();
  t.teardown(() => locker.end());
  let killed = 0;
  let cut: Promise<void> = Promise.resolve();
  const messages: SyncMessage[] = [
    items([1, 2, 3]),
    { kind: 'checkpoint', id: 'c1', state: {} },
    deleteRecord('items', [and(eq('id', 'int64', 2))]),
    items([4]),
  ];
  const src = staticSource([ITEMS], messages, { name: 'a', destinations: ['pg'] });
  (src.data as StaticData).before = async (m) => {
    if (m.kind !== 'delete-record') return;
    // the rows before it are committed (the checkpoint); another session holds row 2, so the delete waits on it
    while ((await query<{ n: number }>(url, "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'items'"))[0]!.n === 0) await sleep(20);
    while ((await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM items'))[0]!.n < 3) await sleep(20);
    await locker.query('BEGIN');
    await locker.query('SELECT id FROM items WHERE id = 2 FOR UPDATE');
    // once cq-pipe's delete waits for the row, its connection is cut; then the row is let go
    cut = (async () => {
      for (;;) {
        const w = await query<{ pid: number }>(
          url,
          "SELECT pid FROM pg_stat_activity WHERE application_name = 'cq-pipe' AND wait_event_type = 'Lock' AND datname = current_database()",
        );
        if (w.length) {
          await query(url, 'SELECT pg_terminate_backend($1)', [w[0]!.pid]);
          killed++;
          break;
        }
        await sleep(20);
      }
      await locker.query('ROLLBACK');
    })();
  };
  const dest = destSpec({ name: 'pg', path: 'postgresql', write_mode: 'overwrite', spec: { connection_string: url } });
  const r = await runSync({ config: config([src.spec], [dest]) });
  await cut;
  t.equal(exitCodeOfSync(r), 0, r.fatal?.message ?? r.errors.map((e) => e.message).join('; '));
  t.equal(killed, 1, 'the delete statement was waiting when its connection was cut');
  t.same(await idsOf(url, 'items'), [1, 3, 4]);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('postgres client: relations handed over out of order (a served plugin Write stream) are put in cascade order', async (t) => {
  const url = await freshDatabase('delrec');
  const r = await syncTo(url, [PARENT, CHILD, GRANDCHILD], chainRows());
  t.equal(exitCodeOfSync(r), 0);
  const { postgresDestination } = await import('../connectors/postgresql/destination.js');
  const { silentLogger } = await import('../lib/logger.js');
  const client = await postgresDestination.create(
    { connection_string: url },
    { name: 'pg', logger: silentLogger, baseDir: process.cwd(), invocationId: 'i', syncTime: new Date() },
  );
  // deleteParent1 lists grandchild before child: the client orders them itself
  await client.deleteRecord!(deleteParent1());
  await client.close();
  t.same([await idsOf(url, 'parent'), await idsOf(url, 'child'), await idsOf(url, 'grandchild')], [[2], [12], [22]]);
});
