/**
 * Taking over tables CloudQuery's Postgres destination built (docs/postgresql.md, "Tables CloudQuery
 * built"): they hold rows of two sources; cq-pipe syncs one of them, in safe and in forced mode,
 * and adopts the tables as they are — same OID, column types and constraint names, the other
 * source's rows untouched.
 */
import t from 'tap';
import type * as A from 'apache-arrow';
import { exitCodeOfSync } from '../bin/exit-codes.js';
import { takes } from '../connectors/postgresql/types.js';
import type { MigrateMode } from '../lib/messages.js';
import { runSync } from '../lib/pipeline.js';
import { RowBatchBuilder } from '../lib/row-builder.js';
import { defineTable } from '../lib/schema.js';
import { fieldFor, parseColumnType } from '../lib/types.js';
import { config, destSpec, inserts, staticSource } from './helpers/index.js';
import { freshDatabase, query } from './helpers/postgres.js';

/*
 * CloudQuery's DDL, as plugins/destination/postgresql/client/migrate.go (createTableIfNotExist)
 * writes it for these source tables: types from pgarrow/to_pg.go (ArrowToPg10), the reserved
 * columns from the CLI (_cq_sync_time, _cq_source_name) and the SDK (_cq_id UNIQUE NOT NULL,
 * _cq_parent_id). `items` has the key constraint named `<table>_cqpk` (CloudQuery before #20438,
 * March 2025), `events` (no source key: _cq_id is the key) the default `<table>_pkey` of later
 * versions; both have the performance index `<table>_cqpi`.
 */
const CQ_DDL = [
  'CREATE TABLE IF NOT EXISTS "items" ("_cq_sync_time" timestamp without time zone,"_cq_source_name" text,"_cq_id" uuid UNIQUE NOT NULL,' +
    '"_cq_parent_id" uuid,"id" bigint NOT NULL,"name" text,"meta" text,"tags" text[],"ip" inet,"price" numeric(10,2),"small" smallint,' +
    '"created_at" timestamp without time zone,"doc" jsonb, CONSTRAINT "items_cqpk" PRIMARY KEY ("id"))',
  'CREATE INDEX IF NOT EXISTS "items_cqpi" ON "items"("_cq_source_name", "_cq_sync_time")',
  'CREATE TABLE IF NOT EXISTS "events" ("_cq_sync_time" timestamp without time zone,"_cq_source_name" text,"_cq_id" uuid UNIQUE NOT NULL,' +
    '"_cq_parent_id" uuid,"kind" text,"at" timestamp without time zone, PRIMARY KEY ("_cq_id"))',
  'CREATE INDEX IF NOT EXISTS "events_cqpi" ON "events"("_cq_source_name", "_cq_sync_time")',
];

/** rows CloudQuery wrote earlier, for sources a and b */
const CQ_ROWS = [
  `INSERT INTO items VALUES
     ('2024-01-01 00:00:00', 'a', gen_random_uuid(), NULL, 1, 'a-one', '{"n":1,"s":"x"}', '{"{\\"k\\":\\"t1\\"}"}', '10.0.0.1', 1.50, 1,
      '2023-05-01 10:00:00', '{"v":1}'),
     ('2024-01-01 00:00:00', 'a', gen_random_uuid(), NULL, 2, 'a-two', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
     ('2024-01-01 00:00:00', 'b', gen_random_uuid(), NULL, 101, 'b-one', '{"n":101,"s":"y"}', '{"{\\"k\\":\\"b\\"}"}', '10.0.0.101', 9.99, 7, ` +
    `'2023-06-01 12:00:00', '{"v":101}'),
     ('2024-01-01 00:00:00', 'b', gen_random_uuid(), NULL, 102, 'b-two', NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
  `INSERT INTO events VALUES
     ('2024-01-01 00:00:00', 'a', gen_random_uuid(), NULL, 'a-old', '2023-01-01 00:00:00'),
     ('2024-01-01 00:00:00', 'b', gen_random_uuid(), NULL, 'b-1', '2023-02-01 00:00:00'),
     ('2024-01-01 00:00:00', 'b', gen_random_uuid(), NULL, 'b-2', '2023-03-01 00:00:00')`,
];

const ITEMS = defineTable({
  name: 'items',
  columns: [
    { name: 'id', type: 'int64', primary_key: true },
    { name: 'name', type: 'utf8' },
    { name: 'meta', type: 'struct<n: int64, s: utf8>' },
    { name: 'tags', type: 'list<struct<k: utf8>>' },
    { name: 'ip', type: 'inet' },
    { name: 'price', type: 'decimal(10,2)' },
    { name: 'small', type: 'int8' },
    { name: 'created_at', type: 'timestamp' },
    { name: 'doc', type: 'json' },
  ],
});
const EVENTS = defineTable({
  name: 'events',
  columns: [
    { name: 'kind', type: 'utf8' },
    { name: 'at', type: 'timestamp' },
  ],
});

function batch(schema: A.Schema, rows: Record<string, unknown>[]): A.RecordBatch {
  const b = new RowBatchBuilder(schema);
  for (const r of rows) b.push(r);
  return b.finish();
}

/** source a's new rows: item 1 is gone, 2 changes, 3 is new; one new event */
const A_ITEMS = [
  {
    id: 2,
    name: 'a-two-new',
    meta: { n: 2, s: 'z' },
    tags: [{ k: 'p' }, { k: 'q' }],
    ip: '192.168.1.2',
    price: '2.25',
    small: -3,
    created_at: '2024-02-02T03:04:05.123456Z',
    doc: { v: [2] },
  },
  { id: 3, name: 'a-three', meta: null, tags: [], ip: null, price: null, small: null, created_at: null, doc: null },
];
const A_EVENTS = [{ kind: 'a-new', at: '2024-03-01T00:00:00Z' }];

const catalog = async (url: string) => ({
  oids: await query<{ t: string; oid: string }>(url, "SELECT relname AS t, oid::text FROM pg_class WHERE relname IN ('items', 'events') ORDER BY 1"),
  columns: await query<{ t: string; c: string; type: string; nullable: string }>(
    url,
    `SELECT table_name AS t, column_name AS c, data_type AS type, is_nullable AS nullable FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name IN ('items', 'events') ORDER BY table_name, ordinal_position`,
  ),
  constraints: await query<{ t: string; name: string; kind: string; cols: string }>(
    url,
    `SELECT conrelid::regclass::text AS t, conname AS name, contype::text AS kind, pg_get_constraintdef(oid) AS cols FROM pg_constraint
      WHERE conrelid IN ('items'::regclass, 'events'::regclass) ORDER BY 1, 2`,
  ),
});

async function cloudQueryDatabase(): Promise<string> {
  const url = await freshDatabase('cq');
  for (const s of [...CQ_DDL, ...CQ_ROWS]) await query(url, s);
  return url;
}

async function syncSourceA(url: string, mode: MigrateMode) {
  const src = staticSource([ITEMS, EVENTS], [...inserts('items', batch(ITEMS, A_ITEMS)), ...inserts('events', batch(EVENTS, A_EVENTS))], {
    name: 'a',
    destinations: ['pg'],
  });
  return runSync({
    config: config(
      [src.spec],
      [destSpec({ name: 'pg', path: 'postgresql', migrate_mode: mode, write_mode: 'overwrite-delete-stale', spec: { connection_string: url } })],
    ),
  });
}

for (const mode of ['safe', 'forced'] as const) {
  t.test(`a sync of source a into CloudQuery's tables (${mode}) adopts them and keeps source b's rows`, async (t) => {
    const url = await cloudQueryDatabase();
    const before = await catalog(url);
    const bItems = await query(url, "SELECT * FROM items WHERE _cq_source_name = 'b' ORDER BY id");
    const bEvents = await query(url, "SELECT * FROM events WHERE _cq_source_name = 'b' ORDER BY kind");
    t.equal(bItems.length, 2);
    t.equal(bEvents.length, 2);

    const res = await syncSourceA(url, mode);
    t.equal(exitCodeOfSync(res), 0, JSON.stringify(res.errors.map((e) => e.message)));

    const after = await catalog(url);
    t.same(after.oids, before.oids, 'the tables were not dropped (same OIDs)');
    t.same(after.columns, before.columns, 'column types and nullability unchanged (timestamp without time zone, text for structs, text[])');
    t.same(after.constraints, before.constraints, 'constraint names unchanged (items_cqpk, events_pkey, <table>__cq_id_key)');

    t.same(await query(url, "SELECT * FROM items WHERE _cq_source_name = 'b' ORDER BY id"), bItems, "source b's items are untouched");
    t.same(await query(url, "SELECT * FROM events WHERE _cq_source_name = 'b' ORDER BY kind"), bEvents, "source b's events are untouched");

    const a = await query<Record<string, string | null>>(
      url,
      `SELECT id::text, name, meta, tags::text AS tags, host(ip) AS ip, price::text, small::text, created_at::text, doc::text, _cq_sync_time::text
         FROM items WHERE _cq_source_name = 'a' ORDER BY id`,
    );
    t.same(
      a.map((r) => r.id),
      ['2', '3'],
      "source a's items replaced: 1 deleted as stale, 2 updated, 3 added",
    );
    t.same(JSON.parse(a[0]!.meta!), { n: 2, s: 'z' }, 'a struct is JSON text in the text column');
    t.equal(a[0]!.tags, '{"{\\"k\\":\\"p\\"}","{\\"k\\":\\"q\\"}"}', 'a list of structs is a text[] of JSON texts');
    t.same([a[0]!.name, a[0]!.ip, a[0]!.price, a[0]!.small, a[0]!.doc], ['a-two-new', '192.168.1.2', '2.25', '-3', '{"v": [2]}']);
    t.equal(a[0]!.created_at, '2024-02-02 03:04:05.123456', 'UTC µs in timestamp without time zone');
    t.equal(a[1]!.tags, '{}');
    const syncTime = res.summaries[0]!.sync_time;
    const [{ n }] = await query<{ n: string }>(url, "SELECT count(*)::text AS n FROM items WHERE _cq_source_name = 'a' AND _cq_sync_time = $1::timestamptz", [
      syncTime,
    ]);
    t.equal(n, '2', "_cq_sync_time is the sync's start, in UTC");

    const events = await query<{ kind: string; src: string }>(url, 'SELECT kind, _cq_source_name AS src FROM events ORDER BY kind');
    t.same(
      events.map((r) => r.kind),
      ['a-new', 'b-1', 'b-2'],
      "a's old event deleted as stale, b's kept",
    );
  });
}

t.test('compatible column types: one table, decided per pair', async (t) => {
  const f = (type: string) => fieldFor('c', parseColumnType(type), true);
  const yes: [string, string][] = [
    ['timestamp without time zone', 'timestamp'],
    ['text', 'json'],
    ['text', 'struct<a: int64>'],
    ['text', 'inet'],
    ['text[]', 'list<struct<a: int64>>'],
    ['jsonb[]', 'list<json>'],
    ['bigint', 'int32'],
    ['integer', 'uint8'],
    ['smallint', 'int8'],
    ['double precision', 'float32'],
    ['numeric(20,0)', 'uint64'],
    ['numeric(12,3)', 'decimal(10,2)'],
    ['numeric', 'int64'],
    ['numeric', 'decimal(38,10)'],
    ['character varying', 'utf8'],
    ['json', 'json'],
    ['bigint[]', 'list<int32>'],
  ];
  const no: [string, string][] = [
    ['timestamp with time zone', 'utf8'],
    ['jsonb', 'utf8'],
    ['integer', 'int64'],
    ['text', 'bool'],
    ['character varying(10)', 'utf8'],
    ['text[]', 'list<int64>'],
    ['real', 'float64'],
    ['numeric(10,2)', 'decimal(12,2)'],
    ['uuid', 'utf8'],
  ];
  t.same(
    yes.filter(([e, w]) => !takes(e, f(w))),
    [],
    'each pair is compatible',
  );
  t.same(
    no.filter(([e, w]) => takes(e, f(w))),
    [],
    'each pair is not',
  );
});

t.test('an incompatible change to a CloudQuery table: safe refuses, forced drops and recreates (as before)', async (t) => {
  const url = await cloudQueryDatabase();
  const changed = defineTable({
    name: 'events',
    columns: [
      { name: 'kind', type: 'int64' },
      { name: 'at', type: 'timestamp' },
    ],
  });
  const run = (mode: MigrateMode) =>
    runSync({
      config: config(
        [staticSource([changed], [], { name: 'a', destinations: ['pg'] }).spec],
        [destSpec({ name: 'pg', path: 'postgresql', migrate_mode: mode, spec: { connection_string: url } })],
      ),
    });
  const safe = await run('safe');
  t.equal(exitCodeOfSync(safe), 1);
  t.match(safe.errors[0], { code: 'CQ_ERR_SCHEMA_INCOMPATIBLE', message: /events: column "kind" changes type from text to bigint/ });
  t.equal((await query(url, 'SELECT * FROM events')).length, 3, 'nothing changed');
  const forced = await run('forced');
  t.equal(exitCodeOfSync(forced), 0);
  const [{ type }] = await query<{ type: string }>(
    url,
    "SELECT data_type AS type FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'kind'",
  );
  t.equal(type, 'bigint', 'recreated with the new type');
});
