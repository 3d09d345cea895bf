/**
 * Transformers (docs/transformers.md): every `basic` kind, jsonflattener and custom modules on
 * real batches through runSync, order of application, renames with delete-stale, schema changes
 * as migrations, and config errors.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as A from 'apache-arrow';
import { runSync } from '../lib/pipeline.js';
import { loadConfig } from '../index.js';
import { defineDestination } from '../lib/connector.js';
import type { TransformerSpec } from '../lib/config/types.js';
import type { SyncMessage } from '../lib/messages.js';
import { MD_TABLE_NAME, defineTable, primaryKeys, tableName } from '../lib/schema.js';
import { typeName } from '../lib/types.js';
import { memoryTables, rowObjects } from '../connectors/memory.js';
import { ITEMS, ROOT, config, destSpec, inserts, itemsBatch, staticSource, tmpDir } from './helpers/index.js';
import { validateTransformer, openTransformers, transformerStream } from '../transforms/index.js';
import { basicSpecSchema } from '../transforms/basic/spec.js';
import { takeRows } from '../lib/arrow/index.js';
import { exitCodeOf, exitCodeOfSync } from '../bin/exit-codes.js';

// ---- a destination that records what it is asked to do ----------------------------------------

interface Recording {
  migrations: A.Schema[][];
  writes: { table: string; columns: string[]; rows: Record<string, unknown>[] }[];
  deletes: string[];
}
const recordings = new Map<string, Recording>();
export const RECORDING_PATH = new URL(import.meta.url).pathname;
export const destination = defineDestination<{ key: string }>({
  name: 'recording',
  configSchema: { type: 'object', required: ['key'], properties: { key: { type: 'string' } } },
  capabilities: { writeModes: ['overwrite-delete-stale', 'overwrite', 'append'], batch: { rows: 1000, bytes: 1 << 24, timeoutMs: 0 } },
  create(spec) {
    const rec: Recording = { migrations: [], writes: [], deletes: [] };
    recordings.set(spec.key, rec);
    return {
      async migrateTables(schemas) {
        rec.migrations.push(schemas);
        return [];
      },
      async writeBatch(schema, batches) {
        for (const b of batches) rec.writes.push({ table: tableName(schema), columns: b.schema.fields.map((f) => f.name), rows: rowObjects(b) });
      },
      async deleteStale(msgs) {
        rec.deletes.push(...msgs.map((m) => m.table));
      },
      async close() {},
    };
  },
});

// ---- helpers ------------------------------------------------------------------------------------

const origin = { file: 'test.yml', document: 3, baseDir: ROOT };
const basic = (name: string, transformations: Record<string, unknown>[]): TransformerSpec => ({ name, path: 'basic', spec: { transformations }, origin });

let seq = 0;
/** Run one sync of `messages` into a memory destination with the given transformers. */
async function sync(
  transformers: TransformerSpec[],
  messages: SyncMessage[],
  opts: { tables?: A.Schema[]; dest?: string; write_mode?: 'append' | 'overwrite' | 'overwrite-delete-stale'; names?: string[] } = {},
) {
  const dest = opts.dest ?? `tr_${++seq}`;
  const { spec } = staticSource(opts.tables ?? [ITEMS], messages, { destinations: [dest] });
  const d = destSpec({ name: dest, path: 'memory', write_mode: opts.write_mode ?? 'overwrite', transformers: opts.names ?? transformers.map((x) => x.name) });
  const result = await runSync({ config: { ...config([spec], [d]), transformers } });
  return { result, tables: memoryTables(dest), dest };
}

const ROWS = [
  { id: 1, name: 'val3', value: 1.5 },
  { id: 2, name: 'val4', value: 2 },
  { id: 3, name: null, value: null },
];
const userColumns = (schema: A.Schema) => schema.fields.map((f) => f.name).filter((n) => !n.startsWith('_cq_'));
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

// ---- basic kinds --------------------------------------------------------------------------------

t.test('remove_columns, add_column and add_current_timestamp_column change the table and its rows', async (t) => {
  const before = Date.now();
  const { result, tables } = await sync(
    [
      basic('shape', [
        { kind: 'remove_columns', tables: ['items'], columns: ['value', 'no_such_column'] },
        { kind: 'add_column', tables: ['items'], name: 'origin', value: 'shop' },
        { kind: 'add_current_timestamp_column', name: 'processed_at' },
      ]),
    ],
    inserts('items', itemsBatch(ROWS)),
  );
  t.equal(exitCodeOfSync(result), 0);
  const items = tables.get('items')!;
  t.same(userColumns(items.schema), ['id', 'name', 'origin', 'processed_at']);
  t.equal(typeName(items.schema.fields.find((f) => f.name === 'origin')!), 'utf8');
  t.equal(items.schema.fields.find((f) => f.name === 'origin')!.nullable, false, 'add_column is NOT NULL, as in CloudQuery');
  t.equal(typeName(items.schema.fields.find((f) => f.name === 'processed_at')!), 'timestamp');
  t.equal(items.rows.length, 3);
  t.same(
    items.rows.map((r) => r.origin),
    ['shop', 'shop', 'shop'],
  );
  t.notOk('value' in items.rows[0]!);
  const ts = items.rows.map((r) => r.processed_at as number);
  t.equal(new Set(ts).size, 1, 'one timestamp per batch');
  t.ok(ts[0]! >= before - 1, 'the time the batch was transformed');
});

t.test("obfuscate_columns: CloudQuery's sha256 marker; include_sha: false; nulls stay null; json whole and by path", async (t) => {
  const DOCS = defineTable({
    name: 'docs',
    columns: [
      { name: 'id', type: 'int64', primary_key: true },
      { name: 'secret', type: 'utf8' },
      { name: 'doc', type: 'json' },
      { name: 'blob', type: 'json' },
    ],
  });
  const b = (rows: { id: number; secret: string | null; doc: unknown; blob: unknown }[]) => {
    const enc = new TextEncoder();
    const id = A.makeBuilder({ type: new A.Int64() });
    const secret = A.makeBuilder({ type: new A.Utf8(), nullValues: [null] });
    const doc = A.makeBuilder({ type: new A.Binary(), nullValues: [null] });
    const blob = A.makeBuilder({ type: new A.Binary(), nullValues: [null] });
    for (const r of rows) {
      id.append(BigInt(r.id));
      secret.append(r.secret);
      doc.append(r.doc === null ? null : enc.encode(JSON.stringify(r.doc)));
      blob.append(r.blob === null ? null : enc.encode(JSON.stringify(r.blob)));
    }
    return new A.RecordBatch(
      DOCS,
      A.makeData({ type: new A.Struct(DOCS.fields), length: rows.length, nullCount: 0, children: [id, secret, doc, blob].map((x) => x.finish().flush()) }),
    );
  };
  const { result, tables } = await sync(
    [basic('redact', [{ kind: 'obfuscate_columns', tables: ['docs'], columns: ['secret', 'doc.user.email', 'doc.tags.#.v', 'blob'] }])],
    inserts(
      'docs',
      b([
        { id: 1, secret: 'val3', doc: { user: { email: 'a@b.c', name: 'ann' }, tags: [{ v: 'x' }, { v: 'y' }] }, blob: { k: 1 } },
        { id: 2, secret: 'val4', doc: { user: { name: 'bob' } }, blob: null },
        { id: 3, secret: null, doc: null, blob: [1, 2] },
      ]),
    ),
    { tables: [DOCS] },
  );
  t.equal(exitCodeOfSync(result), 0);
  const rows = tables.get('docs')!.rows;
  // the values of CloudQuery's own test (record_updater_test.go) for "val3" and "val4"
  t.equal(rows[0]!.secret, 'Redacted by CloudQuery | bac8d4414984861d5199b7a97699c728bee36c4084299b2ca905434cf65d8944');
  t.equal(rows[1]!.secret, 'Redacted by CloudQuery | dd0fff6ac351dd46cd26e2d5c61e479ce7c68ef12489e04284c0fd66648723cb');
  t.equal(rows[2]!.secret, null);
  t.same(
    rows[0]!.doc,
    {
      user: { email: `Redacted by CloudQuery | ${sha('"a@b.c"')}`, name: 'ann' },
      tags: [{ v: `Redacted by CloudQuery | ${sha('["x","y"]')}` }, { v: `Redacted by CloudQuery | ${sha('["x","y"]')}` }],
    },
    'json paths: the raw JSON value hashed; `#` paths hash all matches together',
  );
  t.same(rows[1]!.doc, { user: { name: 'bob' } }, 'a path that is absent leaves the row as it was');
  t.same(rows[0]!.blob, { redacted_by_cloudquery: sha('{"k":1}') }, 'a whole json column becomes {"redacted_by_cloudquery": sha}');
  t.equal(rows[1]!.blob, null);
  t.same(rows[2]!.blob, { redacted_by_cloudquery: sha('[1,2]') });

  const bare = await sync([basic('redact2', [{ kind: 'obfuscate_columns', columns: ['name'], include_sha: false }])], inserts('items', itemsBatch(ROWS)));
  t.same(
    bare.tables.get('items')!.rows.map((r) => r.name),
    ['Redacted by CloudQuery', 'Redacted by CloudQuery', null],
  );
});

t.test('JSON paths: remove_columns deletes keys and array elements; case changes strings, not keys', async (t) => {
  const DOCS = defineTable({
    name: 'docs',
    columns: [
      { name: 'id', type: 'int64', primary_key: true },
      { name: 'doc', type: 'json' },
      { name: 'tags', type: 'json' },
    ],
  });
  const enc = new TextEncoder();
  const id = A.makeBuilder({ type: new A.Int64() });
  const doc = A.makeBuilder({ type: new A.Binary(), nullValues: [null] });
  const tags = A.makeBuilder({ type: new A.Binary(), nullValues: [null] });
  const docs = [
    { a: { b: 1, c: 2 }, 'k.x': 'dot', list: ['p', 'q', 'r'], name: 'Ann' },
    { a: { c: 3 }, name: 'Bob' },
  ];
  const raw2 = '{"a": {"c": 3},   "name": "Bob"}';
  docs.forEach((d, i) => {
    id.append(BigInt(i + 1));
    doc.append(enc.encode(i === 1 ? raw2 : JSON.stringify(d)));
    tags.append(enc.encode(JSON.stringify({ Env: 'Prod', list: ['A', true, null] })));
  });
  const batch = new A.RecordBatch(
    DOCS,
    A.makeData({ type: new A.Struct(DOCS.fields), length: 2, nullCount: 0, children: [id, doc, tags].map((b) => b.finish().flush()) }),
  );
  const key = `rec_${++seq}`;
  const tr = basic('paths', [
    { kind: 'remove_columns', columns: ['doc.a.b', 'doc.k\\.x', 'doc.list.1'] },
    { kind: 'lowercase', columns: ['tags'] },
    { kind: 'uppercase', columns: ['doc.name'] },
  ]);
  const { spec } = staticSource([DOCS], inserts('docs', batch), { destinations: ['rec'] });
  const r = await runSync({
    config: { ...config([spec], [destSpec({ name: 'rec', path: RECORDING_PATH, spec: { key }, transformers: ['paths'] })]), transformers: [tr] },
  });
  t.equal(exitCodeOfSync(r), 0, r.fatal?.message ?? 'ok');
  const rows = recordings.get(key)!.writes[0]!.rows;
  t.same(rows[0]!.doc, { a: { c: 2 }, list: ['p', 'r'], name: 'ANN' });
  t.same(rows[1]!.doc, { a: { c: 3 }, name: 'BOB' });
  t.same(
    rows.map((x) => x.tags),
    [
      { Env: 'prod', list: ['a', true, null] },
      { Env: 'prod', list: ['a', true, null] },
    ],
    'object keys and non-strings are kept',
  );
  t.same(userColumns(recordings.get(key)!.migrations[0]![0]!), ['id', 'doc', 'tags'], 'path removals do not change the schema');
});

t.test("obfuscate_sensitive_columns uses the table's cq:table_sensitive_columns", async (t) => {
  const SENSITIVE = new A.Schema(ITEMS.fields, new Map([...ITEMS.metadata, ['cq:table_sensitive_columns', '["name"]']]));
  const { tables } = await sync([basic('s', [{ kind: 'obfuscate_sensitive_columns' }])], inserts('items', itemsBatch(ROWS, SENSITIVE)), {
    tables: [SENSITIVE],
  });
  t.same(
    tables.get('items')!.rows.map((r) => r.name),
    [`Redacted by CloudQuery | ${sha('val3')}`, `Redacted by CloudQuery | ${sha('val4')}`, null],
  );
});

t.test("rename_column (CloudQuery's `value` or `new_name`), uppercase and lowercase", async (t) => {
  const { result, tables } = await sync(
    [
      basic('names', [
        { kind: 'rename_column', name: 'name', value: 'title' },
        { kind: 'rename_column', name: 'value', new_name: 'price' },
        { kind: 'uppercase', columns: ['title'] },
      ]),
    ],
    inserts(
      'items',
      itemsBatch([
        { id: 1, name: 'émile zola', value: 1 },
        { id: 2, name: 'abc', value: 2 },
        { id: 3, name: null, value: 3 },
      ]),
    ),
  );
  t.equal(exitCodeOfSync(result), 0);
  const items = tables.get('items')!;
  t.same(userColumns(items.schema), ['id', 'title', 'price']);
  t.same(
    items.rows.map((r) => r.title),
    ['ÉMILE ZOLA', 'ABC', null],
  );
  t.same(
    items.rows.map((r) => r.price),
    [1, 2, 3],
  );
  const lower = await sync(
    [basic('lower', [{ kind: 'lowercase', columns: ['name'] }])],
    inserts('items', itemsBatch([{ id: 1, name: 'ÉMILE Zola', value: 1 }])),
  );
  t.same(
    lower.tables.get('items')!.rows.map((r) => r.name),
    ['émile zola'],
  );
});

t.test('order of application: each step sees the columns and table names the previous ones left', async (t) => {
  const rows = [{ id: 1, name: 'abc', value: 1 }];
  const renameThenCase = await sync(
    [
      basic('a', [
        { kind: 'rename_column', name: 'name', value: 'title' },
        { kind: 'uppercase', columns: ['title'] },
      ]),
    ],
    inserts('items', itemsBatch(rows)),
  );
  t.same(
    renameThenCase.tables.get('items')!.rows.map((r) => r.title),
    ['ABC'],
  );
  const caseThenRename = await sync(
    [
      basic('b', [
        { kind: 'uppercase', columns: ['title'] },
        { kind: 'rename_column', name: 'name', value: 'title' },
      ]),
    ],
    inserts('items', itemsBatch(rows)),
  );
  t.same(
    caseThenRename.tables.get('items')!.rows.map((r) => r.title),
    ['abc'],
    'no column "title" yet when uppercase ran',
  );

  // after change_table_names, `tables: [items]` no longer matches (as CloudQuery documents)
  const renamedFirst = await sync(
    [
      basic('c', [
        { kind: 'change_table_names', tables: ['items'], new_table_name_template: 'cq_{{.OldName}}' },
        { kind: 'add_column', tables: ['items'], name: 'a', value: '1' },
        { kind: 'add_column', tables: ['cq_items'], name: 'b', value: '2' },
      ]),
    ],
    inserts('items', itemsBatch(rows)),
  );
  t.same([...renamedFirst.tables.keys()], ['cq_items']);
  t.same(userColumns(renamedFirst.tables.get('cq_items')!.schema), ['id', 'name', 'value', 'b']);

  // several transformers run in the destination's list order, not the config's
  const t1 = basic('t1', [{ kind: 'add_column', name: 'step', value: 'one' }]);
  const t2 = basic('t2', [{ kind: 'rename_column', name: 'step', value: 'step_two' }]);
  const listed = await sync([t2, t1], inserts('items', itemsBatch(rows)), { names: ['t1', 't2'] });
  t.same(userColumns(listed.tables.get('items')!.schema), ['id', 'name', 'value', 'step_two']);
  const reversed = await sync([t1, t2], inserts('items', itemsBatch(rows)), { names: ['t2', 't1'] });
  t.same(userColumns(reversed.tables.get('items')!.schema), ['id', 'name', 'value', 'step']);
});

t.test('change_table_names: inserts and delete-stale follow the rename; old-name rows are not touched', async (t) => {
  const dest = `tr_rename_${++seq}`;
  const mem = memoryTables(dest);
  const stale = (id: number) => ({
    _cq_sync_time: 1000,
    _cq_source_name: 'src',
    _cq_id: `00000000-0000-4000-8000-00000000000${id}`,
    _cq_parent_id: null,
    id: BigInt(id),
    name: 'old',
    value: 0,
  });
  mem.set('items', { schema: ITEMS, rows: [stale(7), stale(8)] });
  mem.set('cq_items', { schema: ITEMS, rows: [stale(9)] });
  const rename = basic('rename', [{ kind: 'change_table_names', tables: ['*'], new_table_name_template: 'cq_{{ .OldName }}' }]);
  const { result } = await sync([rename], inserts('items', itemsBatch(ROWS)), { dest, write_mode: 'overwrite-delete-stale' });
  t.equal(exitCodeOfSync(result), 0);
  t.same(
    mem.get('items')!.rows.map((r) => Number(r.id)),
    [7, 8],
    'rows under the old name are not deleted',
  );
  t.same(
    mem.get('cq_items')!.rows.map((r) => Number(r.id)),
    [1, 2, 3],
    "the stale row of the renamed table is deleted, this sync's rows stay",
  );
  t.equal(tableName(mem.get('cq_items')!.schema), 'cq_items');

  // what the destination was asked: migrate cq_items, write cq_items, delete-stale cq_items
  const key = `rec_${++seq}`;
  const { spec } = staticSource([ITEMS], inserts('items', itemsBatch(ROWS)), { destinations: ['rec'] });
  const r = await runSync({
    config: { ...config([spec], [destSpec({ name: 'rec', path: RECORDING_PATH, spec: { key }, transformers: ['rename'] })]), transformers: [rename] },
  });
  t.equal(exitCodeOfSync(r), 0);
  const rec = recordings.get(key)!;
  t.same(rec.migrations.flat().map(tableName), ['cq_items']);
  t.same(
    rec.writes.map((w) => `${w.table}:${w.rows.length}`),
    ['cq_items:3'],
  );
  t.same(rec.deletes, ['cq_items']);
});

t.test('schema changes reach the destination as migrations, before the rows, per destination', async (t) => {
  const key = `rec_${++seq}`;
  const plainKey = `rec_${++seq}`;
  const shape = basic('shape', [
    { kind: 'remove_columns', columns: ['value'] },
    { kind: 'add_column', name: 'origin', value: 'shop' },
    { kind: 'add_primary_keys', columns: ['name'] },
  ]);
  const { spec } = staticSource([ITEMS], inserts('items', itemsBatch(ROWS.slice(0, 2)), itemsBatch(ROWS.slice(2))), { destinations: ['rec', 'plain'] });
  const r = await runSync({
    config: {
      ...config(
        [spec],
        [
          destSpec({ name: 'rec', path: RECORDING_PATH, spec: { key }, write_mode: 'overwrite', transformers: ['shape'] }),
          destSpec({ name: 'plain', path: RECORDING_PATH, spec: { key: plainKey }, write_mode: 'overwrite' }),
        ],
      ),
      transformers: [shape],
    },
  });
  t.equal(exitCodeOfSync(r), 0);
  const rec = recordings.get(key)!;
  t.equal(rec.migrations.length, 1, 'one migration call, before any write');
  const migrated = rec.migrations[0]![0]!;
  t.same(userColumns(migrated), ['id', 'name', 'origin']);
  t.same(primaryKeys(migrated), ['id', 'name'], 'add_primary_keys adds to the key');
  t.same(
    rec.writes.map((w) => w.columns),
    [migrated.fields.map((f) => f.name), migrated.fields.map((f) => f.name)],
    'rows have the migrated columns',
  );
  t.same(
    rec.writes.map((w) => w.rows.length),
    [2, 1],
  );
  const plain = recordings.get(plainKey)!;
  t.same(userColumns(plain.migrations[0]![0]!), ['id', 'name', 'value'], 'a destination without transformers gets the source table');

  // append strips keys after the transformers ran
  const appendKey = `rec_${++seq}`;
  const r2 = await runSync({
    config: {
      ...config(
        [staticSource([ITEMS], inserts('items', itemsBatch(ROWS)), { destinations: ['rec'] }).spec],
        [destSpec({ name: 'rec', path: RECORDING_PATH, spec: { key: appendKey }, write_mode: 'append', transformers: ['shape'] })],
      ),
      transformers: [shape],
    },
  });
  t.equal(exitCodeOfSync(r2), 0);
  t.same(primaryKeys(recordings.get(appendKey)!.migrations[0]![0]!), []);
});

t.test('drop_rows: value match (typed), null match, any listed column, non-contiguous rows, whole batches', async (t) => {
  const rows = Array.from({ length: 10 }, (_, i) => ({ id: i, name: i % 3 === 0 ? 'drop' : i === 4 ? null : `keep${i}`, value: i }));
  const byValue = await sync([basic('d', [{ kind: 'drop_rows', columns: ['name'], value: 'drop' }])], inserts('items', itemsBatch(rows)));
  t.equal(exitCodeOfSync(byValue.result), 0);
  t.same(
    byValue.tables.get('items')!.rows.map((r) => Number(r.id)),
    [1, 2, 4, 5, 7, 8],
  );
  const byNull = await sync([basic('d', [{ kind: 'drop_rows', columns: ['name'] }])], inserts('items', itemsBatch(rows)));
  t.same(
    byNull.tables.get('items')!.rows.map((r) => Number(r.id)),
    [0, 1, 2, 3, 5, 6, 7, 8, 9],
    'no value: rows where the column is null',
  );
  const nullValue = await sync([basic('d', [{ kind: 'drop_rows', columns: ['name'], value: null }])], inserts('items', itemsBatch(rows)));
  t.equal(nullValue.tables.get('items')!.rows.length, 9, 'value: null is the same');
  const anyColumn = await sync([basic('d', [{ kind: 'drop_rows', columns: ['id', 'value'], value: '5' }])], inserts('items', itemsBatch(rows)));
  t.same(
    anyColumn.tables.get('items')!.rows.map((r) => Number(r.id)),
    [0, 1, 2, 3, 4, 6, 7, 8, 9],
    'int64 "5" and float64 "5" match the row with 5',
  );
  const numeric = await sync(
    [
      basic('d', [
        { kind: 'drop_rows', columns: ['id'], value: 7 },
        { kind: 'drop_rows', columns: ['value'], value: '2e+00' },
      ]),
    ],
    inserts('items', itemsBatch(rows)),
  );
  t.same(
    numeric.tables.get('items')!.rows.map((r) => Number(r.id)),
    [0, 1, 3, 4, 5, 6, 8, 9],
  );
  const all = await sync(
    [basic('d', [{ kind: 'drop_rows', columns: ['name'], value: 'gone' }])],
    inserts('items', itemsBatch([{ id: 1, name: 'gone', value: 1 }]), itemsBatch([{ id: 2, name: 'stay', value: 2 }])),
  );
  t.equal(exitCodeOfSync(all.result), 0);
  t.same(
    all.tables.get('items')!.rows.map((r) => Number(r.id)),
    [2],
    'a batch with every row dropped is not sent',
  );
  t.equal(all.result.resources, 2, 'resources count rows read from the source, before drops (as in CloudQuery)');
});

t.test('takeRows gathers every column type from buffers (sliced input too) and is zero-copy for one run', async (t) => {
  const schema = new A.Schema([
    new A.Field('b', new A.Bool(), true),
    new A.Field('l', new A.List(new A.Field('item', new A.Int64(), true)), true),
    new A.Field('s', new A.Struct([new A.Field('x', new A.Utf8(), true), new A.Field('y', new A.Float64(), true)]), true),
    new A.Field('d', new A.Decimal(2, 10, 128), true),
    new A.Field('u', new A.LargeUtf8(), true),
    new A.Field('t', new A.TimestampMicrosecond('UTC'), true),
  ]);
  const n = 12;
  const vec = (type: A.DataType, f: (i: number) => unknown) => {
    const b = A.makeBuilder({ type, nullValues: [null] });
    for (let i = 0; i < n; i++) b.append(f(i));
    return b.finish().flush();
  };
  const cols = [
    vec(schema.fields[0]!.type, (i) => (i % 5 === 0 ? null : i % 2 === 0)),
    vec(schema.fields[1]!.type, (i) => (i === 3 ? null : Array.from({ length: i % 3 }, (_, k) => BigInt(i * 10 + k)))),
    vec(schema.fields[2]!.type, (i) => (i === 4 ? null : { x: `x${i}`, y: i / 2 })),
    vec(schema.fields[3]!.type, (i) => new Uint32Array([i * 100, 0, 0, 0])),
    vec(schema.fields[4]!.type, (i) => (i === 6 ? null : `é${i}`)),
    vec(schema.fields[5]!.type, (i) => i * 1000),
  ];
  const full = new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length: n, nullCount: 0, children: cols }));
  const sliced = full.slice(2, 12); // rows 2..11
  const keep = new Uint8Array(10);
  [0, 1, 2, 4, 7, 9].forEach((i) => {
    keep[i] = 1;
  }); // original rows 2, 3, 4, 6, 9, 11
  const out = takeRows(sliced.data.children as A.Data[], 10, keep);
  t.equal(out.length, 6);
  const got = new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length: 6, nullCount: 0, children: out.cols }));
  const want = [2, 3, 4, 6, 9, 11];
  const json = (b: A.RecordBatch, rows: number[]) =>
    rows.map((r) => JSON.stringify(b.get(r)?.toJSON(), (_k, v) => (typeof v === 'bigint' ? String(v) : v instanceof Uint32Array ? [...v] : v)));
  t.same(json(got, [0, 1, 2, 3, 4, 5]), json(full, want), 'same rows, same values and nulls');
  t.same(got.getChild('b')!.toArray().length, 6);
  const run = new Uint8Array(10);
  run.fill(1, 3, 7);
  const contiguous = takeRows(sliced.data.children as A.Data[], 10, run);
  t.equal(contiguous.length, 4);
  t.equal(contiguous.cols[4]!.values, (sliced.data.children[4] as A.Data).values, 'one run: a slice sharing the buffers');
});

// ---- jsonflattener ------------------------------------------------------------------------------

t.test('jsonflattener: one typed column per top-level key of json columns with a type schema', async (t) => {
  const typeSchema = JSON.stringify({ field_1: 'timestamp[us, tz=UTC]', field_2: 'utf8', field_3: 'bool', field_4: 'int64', nested: { a: 'utf8' } });
  const base = defineTable({
    name: 'regions',
    columns: [
      { name: 'region', type: 'utf8', primary_key: true },
      { name: 'details', type: 'json' },
      { name: 'other', type: 'json' },
    ],
  });
  const fields = base.fields.map((f) =>
    f.name === 'details' ? new A.Field(f.name, f.type, f.nullable, new Map([...f.metadata, ['cq:extension:type_schema', typeSchema]])) : f,
  );
  const REGIONS = new A.Schema(fields, base.metadata);
  const enc = new TextEncoder();
  const region = A.makeBuilder({ type: new A.Utf8() });
  const details = A.makeBuilder({ type: new A.Binary(), nullValues: [null] });
  const other = A.makeBuilder({ type: new A.Binary(), nullValues: [null] });
  const docs = [
    { field_1: '2021-06-10 07:30:00', field_2: 'value_2', field_3: true, field_4: 4, nested: { a: 'x' } },
    { field_1: '2021-07-25T12:40:00Z', field_2: 'value_4', field_3: false, field_4: 5.9 },
    { field_1: 'not a time', field_2: 7, field_3: null },
    null,
  ];
  ['us-west-1', 'ca-central-1', 'sa-east-1', 'eu-west-1'].forEach((r, i) => {
    region.append(r);
    details.append(docs[i] === null ? null : enc.encode(JSON.stringify(docs[i])));
    other.append(enc.encode('{"x": 1}'));
  });
  const batch = new A.RecordBatch(
    REGIONS,
    A.makeData({ type: new A.Struct(REGIONS.fields), length: 4, nullCount: 0, children: [region, details, other].map((b) => b.finish().flush()) }),
  );
  const flat: TransformerSpec = { name: 'flat', path: 'jsonflattener', spec: { tables: ['regions'], type_schemas: { other: { x: 'float64' } } }, origin };
  const { result, tables } = await sync([flat], inserts('regions', batch), { tables: [REGIONS] });
  t.equal(exitCodeOfSync(result), 0, result.fatal?.message ?? result.errors.map((e) => e.message).join('; '));
  const table = tables.get('regions')!;
  t.same(userColumns(table.schema), [
    'region',
    'details',
    'other',
    'details__field_1',
    'details__field_2',
    'details__field_3',
    'details__field_4',
    'details__nested',
    'other__x',
  ]);
  t.same(
    ['details__field_1', 'details__field_2', 'details__field_3', 'details__field_4', 'details__nested', 'other__x'].map((n) =>
      typeName(table.schema.fields.find((f) => f.name === n)!),
    ),
    ['timestamp', 'utf8', 'bool', 'int64', 'json', 'float64'],
  );
  const rows = table.rows;
  t.equal(rows.length, 4);
  t.same(rows[0]!.details, docs[0], 'the original json column is kept');
  t.same(
    rows.map((r) => r.details__field_1),
    [Date.UTC(2021, 5, 10, 7, 30), Date.UTC(2021, 6, 25, 12, 40), null, null],
  );
  t.same(
    rows.map((r) => r.details__field_2),
    ['value_2', 'value_4', null, null],
    'a number under a utf8 key is null',
  );
  t.same(
    rows.map((r) => r.details__field_3),
    [true, false, null, null],
  );
  t.same(
    rows.map((r) => (r.details__field_4 === null ? null : Number(r.details__field_4))),
    [4, 5, null, null],
    'int64 truncates, as CloudQuery',
  );
  t.same(
    rows.map((r) => r.details__nested),
    [{ a: 'x' }, null, null, null],
    'nested objects are not flattened',
  );
  t.same(
    rows.map((r) => r.other__x),
    [1, 1, 1, 1],
    'type_schemas supplies a type schema the source did not publish',
  );

  const untouched = await sync([{ ...flat, spec: { tables: ['other_*'] } }], inserts('regions', batch), { tables: [REGIONS] });
  t.same(userColumns(untouched.tables.get('regions')!.schema), ['region', 'details', 'other'], 'tables not selected are left alone');
});

// ---- custom modules -----------------------------------------------------------------------------

t.test('a custom module transformer, loaded relative to its config file, sees and yields sync messages', async (t) => {
  const dir = await tmpDir(t, 'cq-pipe-transform-');
  await writeFile(
    path.join(dir, 'first-rows.mjs'),
    `
export const seen = [];
export default async function* (messages, ctx) {
  for await (const msg of messages) {
    seen.push(msg.kind);
    if (msg.kind === 'insert') yield msg.batch.slice(0, ctx.spec.keep);   // a bare RecordBatch is an insert
    else yield msg;
  }
  seen.push('end:' + ctx.destination + ':' + ctx.name);
}
`,
  );
  const mod: TransformerSpec = {
    name: 'first',
    path: './first-rows.mjs',
    spec: { keep: 2 },
    origin: { file: path.join(dir, 'sync.yml'), document: 3, baseDir: dir },
  };
  const { result, tables, dest } = await sync(
    [mod],
    [
      ...inserts(
        'items',
        itemsBatch(ROWS),
        itemsBatch([
          { id: 10, name: 'x', value: 1 },
          { id: 11, name: 'y', value: 1 },
          { id: 12, name: 'z', value: 1 },
        ]),
      ),
      { kind: 'checkpoint', id: 'c1', state: { k: 'v' } },
    ],
    { write_mode: 'overwrite-delete-stale' },
  );
  t.equal(exitCodeOfSync(result), 0);
  t.same(
    tables.get('items')!.rows.map((r) => Number(r.id)),
    [1, 2, 10, 11],
  );
  const { seen } = (await import(path.join(dir, 'first-rows.mjs'))) as { seen: string[] };
  t.same(seen, ['migrate-table', 'insert', 'insert', 'checkpoint', 'delete-stale', 'sync-end', `end:${dest}:first`], 'every message of the branch, in order');

  await writeFile(
    path.join(dir, 'broken.mjs'),
    `export default async function* (messages) { for await (const m of messages) { if (m.kind === 'insert') throw new Error('bad row'); yield m; } }`,
  );
  const broken = await sync([{ ...mod, name: 'broken', path: './broken.mjs' }], inserts('items', itemsBatch(ROWS)));
  t.equal(exitCodeOfSync(broken.result), 1);
  t.equal(broken.result.fatal?.code, 'CQ_ERR_TRANSFORM', 'a module that throws is a transformer failure');
  t.match(broken.result.fatal?.message, /transformer broken failed: bad row/);

  await writeFile(path.join(dir, 'wrong.mjs'), `export default async function* (messages) { for await (const m of messages) yield { kind: 'nope' }; }`);
  const wrong = await sync([{ ...mod, name: 'wrong', path: './wrong.mjs' }], inserts('items', itemsBatch(ROWS)));
  t.equal(exitCodeOfSync(wrong.result), 1);
  t.equal(wrong.result.fatal?.code, 'CQ_ERR_TRANSFORM');
  t.match(wrong.result.fatal?.message, /transformer wrong yielded an object with kind "nope"/);

  await writeFile(path.join(dir, 'nofn.mjs'), 'export const x = 1;');
  const problems = await validateTransformer({ path: './nofn.mjs', spec: {}, baseDir: dir });
  t.equal(problems.length, 1);
  t.match(problems[0]!.message, /exports no transform function/);
  t.same(await validateTransformer({ path: './first-rows.mjs', spec: {}, baseDir: dir }), []);
  const missing = await validateTransformer({ path: './missing.mjs', spec: {}, baseDir: dir });
  t.match(missing[0]!.message, /cannot load transformer module "\.\/missing\.mjs"/);
});

t.test('the factory composes stages; transformerStream is an object-mode Duplex', async (t) => {
  const stage = await openTransformers(
    ['a', 'b'],
    [basic('a', [{ kind: 'add_column', name: 'x', value: '1' }]), basic('b', [{ kind: 'change_table_names', new_table_name_template: 'z_{{.OldName}}' }])],
    { destination: 'd' },
  );
  const stream = transformerStream(stage!);
  t.equal(stream.readableObjectMode, true);
  const out: SyncMessage[] = [];
  stream.on('data', (m: SyncMessage) => out.push(m));
  const done = new Promise((r) => stream.on('end', r));
  stream.write({ kind: 'migrate-table', table: ITEMS });
  stream.write({ kind: 'insert', table: 'items', batch: itemsBatch(ROWS) });
  stream.write({ kind: 'delete-stale', table: 'items', sourceName: 's', syncTime: new Date(0) });
  stream.end();
  await done;
  t.same(
    out.map((m) => `${m.kind}:${'table' in m ? (typeof m.table === 'string' ? m.table : m.table?.metadata.get(MD_TABLE_NAME)) : ''}`),
    ['migrate-table:z_items', 'insert:z_items', 'delete-stale:z_items'],
  );
  const ins = out[1] as Extract<SyncMessage, { kind: 'insert' }>;
  t.same(
    ins.batch.schema.fields.map((f) => f.name),
    ['id', 'name', 'value', 'x'],
  );
  t.equal(ins.batch.numRows, 3);
  t.equal(await openTransformers([], [], { destination: 'd' }), undefined);
});

// ---- config errors ------------------------------------------------------------------------------

t.test('config errors at load: unknown kind, unknown key, unknown transformer, all with suggestions (exit 2)', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'sync.yml');
  await writeFile(
    file,
    `kind: source
spec: { name: src, path: test, destinations: [mem], spec: { num_tables: 1, num_rows: 1 } }
---
kind: destination
spec: { name: mem, path: memory, transformers: [redact, flat] }
---
kind: transformer
spec:
  name: redact
  path: basic
  spec:
    transformations:
      - kind: remove_column
        columns: [a]
      - kind: obfuscate_columns
        colums: [b]
---
kind: transformer
spec: { name: flat, path: jsonflatener }
`,
  );
  const err = await loadConfig([file], { requireDestinations: true }).then(
    () => undefined,
    (e: unknown) => e as { code: string; message: string; problems: { keyPath?: string; line?: number; message: string }[] },
  );
  t.ok(err, 'loading fails');
  t.equal(err!.code, 'CQ_ERR_CONFIG_INVALID');
  t.equal(exitCodeOf(err), 2);
  t.equal(err!.problems.length, 4);
  const byKey = Object.fromEntries(err!.problems.map((p) => [p.keyPath, p]));
  t.match(byKey['spec.spec.transformations[0].kind']!.message, /unknown transformation kind "remove_column" \(did you mean "remove_columns"\?\)/);
  t.equal(byKey['spec.spec.transformations[0].kind']!.line, 13);
  t.match(byKey['spec.spec.transformations[1].colums']!.message, /unknown key "colums" \(did you mean "columns"\?\)/);
  t.match(byKey['spec.spec.transformations[1]']!.message, /missing required key "columns"/);
  t.match(byKey['spec.path']!.message, /unknown transformer "jsonflatener" \(did you mean "jsonflattener"\?\)/);

  await writeFile(
    file,
    `kind: source
spec: { name: src, path: test, destinations: [mem], spec: { num_tables: 1, num_rows: 1 } }
---
kind: destination
spec: { name: mem, path: memory, transformers: [redact] }
---
kind: transformer
spec:
  name: redact
  path: cloudquery/basic
  registry: cloudquery
  spec:
    transformations:
      - { kind: change_table_names, new_table_name_template: "x_{{.NewName}}" }
      - { kind: rename_column, name: a }
      - { kind: remove_columns_except, columns: [a] }
`,
  );
  const err2 = await loadConfig([file]).then(
    () => undefined,
    (e: unknown) => e as { problems: { keyPath?: string; message: string }[] },
  );
  t.equal(exitCodeOf(err2), 2);
  t.same(
    err2!.problems.map((p) => p.keyPath),
    ['spec.spec.transformations[2].kind'],
  );
  t.match(err2!.problems[0]!.message, /"remove_columns_except" is not supported by cq-pipe/);
  const semantic = await validateTransformer({
    path: 'basic',
    baseDir: dir,
    spec: {
      transformations: [
        { kind: 'change_table_names', new_table_name_template: 'x_{{.NewName}}' },
        { kind: 'rename_column', name: 'a' },
      ],
    },
  });
  t.same(
    semantic.map((p) => p.keyPath.join('.')),
    ['spec.transformations.0.new_table_name_template', 'spec.transformations.1'],
  );

  await writeFile(
    file,
    `kind: source
spec: { name: src, path: test, destinations: [mem], spec: { num_tables: 1, num_rows: 3 } }
---
kind: destination
spec: { name: mem, path: memory, transformers: [redact] }
---
kind: transformer
spec:
  name: redact
  path: basic
  spec:
    transformations:
      - { kind: drop_rows, tables: ["*"], columns: [id], value: 1 }
`,
  );
  const ok = await loadConfig([file], { requireDestinations: true });
  t.equal(ok.transformers.length, 1);
  t.same(ok.transformers[0]!.spec, { transformations: [{ kind: 'drop_rows', tables: ['*'], columns: ['id'], value: 1 }] }, 'the spec is kept as written');
  t.equal(typeof basicSpecSchema, 'object');
});

t.test('config errors at run time: a hand-built config, an undefined transformer, a transformation that does not fit the table (exit 2)', async (t) => {
  const bad = await sync([basic('b', [{ kind: 'remove_columns', columns: ['a'], extra: 1 }])], inserts('items', itemsBatch(ROWS)));
  t.equal(exitCodeOfSync(bad.result), 2);
  t.equal(bad.result.fatal?.code, 'CQ_ERR_CONFIG_INVALID');
  t.match(bad.result.fatal?.message, /transformer b: spec.transformations\[0\].extra: unknown key "extra"/);

  const undefinedName = await sync([basic('redact', [{ kind: 'remove_columns', columns: ['a'] }])], inserts('items', itemsBatch(ROWS)), { names: ['redcat'] });
  t.equal(exitCodeOfSync(undefinedName.result), 2);
  t.match(undefinedName.result.fatal?.message, /lists transformer "redcat", which the config does not define \(did you mean "redact"\?\)/);

  const unknownPath = await sync([{ name: 'x', path: 'basik', spec: {}, origin }], inserts('items', itemsBatch(ROWS)));
  t.equal(exitCodeOfSync(unknownPath.result), 2);
  t.match(unknownPath.result.fatal?.message, /unknown transformer "basik" \(did you mean "basic"\?\)/);

  const notString = await sync([basic('o', [{ kind: 'obfuscate_columns', columns: ['value'] }])], inserts('items', itemsBatch(ROWS)));
  t.equal(exitCodeOfSync(notString.result), 2);
  t.equal(notString.result.fatal?.code, 'CQ_ERR_CONFIG_INVALID');
  t.match(notString.result.fatal?.message, /obfuscate_columns on table items: column value is float64, not a string, binary or JSON column/);
  t.equal(notString.tables.get('items'), undefined, 'nothing was migrated or written');

  const allGone = await sync(
    [basic('r', [{ kind: 'remove_columns', columns: ['_cq_sync_time', '_cq_source_name', '_cq_id', '_cq_parent_id', 'id', 'name', 'value'] }])],
    inserts('items', itemsBatch(ROWS)),
  );
  t.equal(exitCodeOfSync(allGone.result), 2);
  // the reserved columns cannot be removed at all (docs/transformers.md, invariants), so this fails before "all columns"
  t.match(allGone.result.fatal?.message, /remove_columns cannot change the reserved column _cq_sync_time/);

  const clash = await sync([basic('c', [{ kind: 'rename_column', name: 'name', value: 'value' }])], inserts('items', itemsBatch(ROWS)));
  t.equal(exitCodeOfSync(clash.result), 2);
  t.match(clash.result.fatal?.message, /the table already has a column value/);
});
