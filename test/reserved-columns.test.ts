/**
 * Reserved columns (docs/semantics.md): with `deterministic_cq_id`, `_cq_id` is the only key of
 * every table, as the CloudQuery SDK's scheduler makes it (`schema.CqIDAsPK`); and reserved
 * columns a source supplies on some rows only are filled per row, so no row escapes delete-stale.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import * as A from 'apache-arrow';
import { exitCodeOfSync } from '../bin/exit-codes.js';
import type { SyncMessage } from '../lib/messages.js';
import { runSync } from '../lib/pipeline.js';
import { MD_UNIQUE, defineTable, isPrimaryKey, primaryKeys } from '../lib/schema.js';
import { internalColumns } from '../lib/stages/internal-columns.js';
import { utf8Data, uuidToString } from '../lib/arrow/index.js';
import { withInternalColumns } from '../lib/destination-plan.js';
import { ITEMS, config, destSpec, itemsBatch, sourceSpec, staticSource, tmpDir } from './helpers/index.js';
import { freshDatabase, query } from './helpers/postgres.js';

async function collect(it: AsyncIterable<SyncMessage>): Promise<SyncMessage[]> {
  const out: SyncMessage[] = [];
  for await (const m of it) out.push(m);
  return out;
}

const rows = (n: number, from = 1) => Array.from({ length: n }, (_, i) => ({ id: from + i, name: `n${from + i}`, value: i }));

async function primaryKeyOf(url: string, table: string): Promise<string[]> {
  const pk = await query<{ col: string }>(
    url,
    'SELECT a.attname AS col FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) ' +
      `WHERE i.indrelid = '${table}'::regclass AND i.indisprimary ORDER BY a.attname`,
  );
  return pk.map((r) => r.col);
}

t.test('deterministic_cq_id: _cq_id is the only key; the source key becomes a plain column, its other flags kept', async (t) => {
  const out = await collect(
    internalColumns({ sourceName: 's', syncTime: new Date(), deterministicCqId: true })(
      Readable.from([
        { kind: 'migrate-table', table: ITEMS },
        { kind: 'insert', table: 'items', batch: itemsBatch(rows(3)) },
      ] as SyncMessage[]),
    ),
  );
  const m = out[0] as Extract<SyncMessage, { kind: 'migrate-table' }>;
  t.same(primaryKeys(m.table), ['_cq_id']);
  const id = m.table.fields.find((f) => f.name === 'id')!;
  t.equal(id.metadata.get('cq:extension:primary_key'), 'false', 'the source key flag is set to false');
  t.equal(id.nullable, ITEMS.fields[0]!.nullable, 'nullability of the source key is kept');
  const cqId = m.table.fields.find((f) => f.name === '_cq_id')!;
  t.equal(cqId.nullable, false);
  t.equal(cqId.metadata.get(MD_UNIQUE), 'true', '_cq_id stays unique');
  const ins = out[1] as Extract<SyncMessage, { kind: 'insert' }>;
  t.same(primaryKeys(ins.batch.schema), ['_cq_id'], 'inserts carry the same schema');
  t.match(uuidToString(ins.batch.getChild('_cq_id')!.get(0) as Uint8Array), /^[0-9a-f]{8}-[0-9a-f]{4}-5/, 'ids are still UUIDv5 of the source key');
  // without the option the source key stays the key; `tables`/`migrate` show the same as sync
  t.same(primaryKeys(withInternalColumns([ITEMS])[0]!), ['id']);
  t.same(primaryKeys(withInternalColumns([ITEMS], { cqIdAsPk: true })[0]!), ['_cq_id']);
});

t.test('constant reserved columns are made once per batch size and shared; values and lengths stay right', async (t) => {
  const syncTime = new Date('2026-01-02T03:04:05.678Z');
  const out = await collect(
    internalColumns({ sourceName: 'src', syncTime, deterministicCqId: false })(
      Readable.from([
        { kind: 'migrate-table', table: ITEMS },
        { kind: 'insert', table: 'items', batch: itemsBatch(rows(4)) },
        { kind: 'insert', table: 'items', batch: itemsBatch(rows(4, 5)) },
        { kind: 'insert', table: 'items', batch: itemsBatch(rows(2, 9)) },
        { kind: 'insert', table: 'items', batch: itemsBatch(rows(4, 11)) },
      ] as SyncMessage[]),
    ),
  );
  const batches = out.slice(1).map((m) => (m as Extract<SyncMessage, { kind: 'insert' }>).batch);
  const data = (i: number, name: string) => batches[i]!.getChild(name)!.data[0]!;
  for (const name of ['_cq_sync_time', '_cq_source_name', '_cq_parent_id']) {
    t.equal(data(1, name), data(0, name), `${name}: one column for two batches of 4 rows`);
    t.not(data(2, name), data(1, name), `${name}: its own for 2 rows`);
  }
  t.not(data(1, '_cq_id'), data(0, '_cq_id'), '_cq_id: new ids for every batch');
  for (const [i, b] of batches.entries()) {
    t.equal(b.numRows, i === 2 ? 2 : 4);
    t.same(
      Array.from({ length: b.numRows }, (_, r) => [
        b.getChild('_cq_source_name')!.get(r),
        Number(b.getChild('_cq_sync_time')!.get(r)),
        b.getChild('_cq_parent_id')!.get(r),
      ]),
      Array.from({ length: b.numRows }, () => ['src', syncTime.getTime(), null]),
      `batch ${i}: values`,
    );
  }
  t.equal(new Set(batches.map((b) => uuidToString(b.getChild('_cq_id')!.get(0) as Uint8Array))).size, 4, 'ids differ');
});

t.test('deterministic_cq_id into Postgres: the primary key is _cq_id only, and two syncs upsert the same ids', async (t) => {
  const url = await freshDatabase();
  const { spec: src } = staticSource([ITEMS], [{ kind: 'insert', table: 'items', batch: itemsBatch(rows(5)) }], { deterministic_cq_id: true });
  const dst = destSpec({ path: 'postgresql', spec: { connection_string: url } });
  for (let run = 1; run <= 2; run++) {
    const res = await runSync({ config: config([src], [dst]) });
    t.equal(exitCodeOfSync(res), 0, `sync ${run} succeeds`);
  }
  t.same(await primaryKeyOf(url, 'items'), ['_cq_id']);
  const [n] = await query<{ n: string; ids: string }>(url, 'SELECT count(*)::text AS n, count(DISTINCT _cq_id)::text AS ids FROM items');
  t.same(n, { n: '5', ids: '5' }, 'the second sync upserted the five rows of the first');
  const notNull = await query<{ is_nullable: string }>(
    url,
    "SELECT is_nullable FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'id'",
  );
  t.same(notNull, [{ is_nullable: 'NO' }], 'the source key column keeps NOT NULL');
});

const PARTIAL = defineTable({
  name: 'people',
  columns: [
    { name: 'id', type: 'int64', primary_key: true },
    { name: '_cq_source_name', type: 'utf8' },
    { name: '_cq_sync_time', type: 'timestamp' },
    { name: '_cq_id', type: 'uuid' },
    { name: 'name', type: 'utf8' },
  ],
});

async function writePeople(file: string, ids: number[], withReserved: (id: number) => boolean) {
  const lines = ids.map((id) =>
    JSON.stringify(
      withReserved(id)
        ? { id, _cq_source_name: 'files', _cq_id: `00000000-0000-4000-8000-${String(id).padStart(12, '0')}`, name: `p${id}` }
        : { id, name: `p${id}` },
    ),
  );
  await writeFile(file, lines.join('\n') + '\n');
}

t.test('reserved columns on some rows only: the others are filled, and delete-stale reaches every stale row', async (t) => {
  const dir = await tmpDir(t);
  const url = await freshDatabase();
  const file = path.join(dir, 'people.ndjson');
  const columns = PARTIAL.fields.map((f) => ({
    name: f.name,
    type: f.name === '_cq_sync_time' ? 'timestamp' : f.name === '_cq_id' ? 'uuid' : f.name === 'id' ? 'int64' : 'utf8',
  }));
  const src = sourceSpec({
    name: 'files',
    path: 'file',
    spec: { tables: [{ name: 'people', files: file, format: 'ndjson', primary_key: ['id'], columns }] },
  });
  const dst = destSpec({ path: 'postgresql', spec: { connection_string: url } });
  // even ids carry _cq_source_name and _cq_id, odd ids do not
  await writePeople(file, [1, 2, 3, 4, 5, 6], (id) => id % 2 === 0);
  const r1 = await runSync({ config: config([src], [dst]) });
  t.equal(exitCodeOfSync(r1), 0);
  const nulls = await query<Record<string, string>>(
    url,
    'SELECT count(*) FILTER (WHERE _cq_source_name IS NULL)::text AS source, count(*) FILTER (WHERE _cq_sync_time IS NULL)::text AS time, ' +
      "count(*) FILTER (WHERE _cq_id IS NULL)::text AS id, count(*) FILTER (WHERE _cq_source_name = 'files')::text AS named, " +
      "count(DISTINCT _cq_sync_time)::text AS times, count(*) FILTER (WHERE _cq_id::text LIKE '00000000-0000-4000-8000-%')::text AS kept FROM people",
  );
  t.same(nulls, [{ source: '0', time: '0', id: '0', named: '6', times: '1', kept: '3' }], 'no NULL reserved value; the source ids are kept');
  // the next sync sees ids 1 and 2 only: 3…6 are stale, with or without a source-supplied name
  await writePeople(file, [1, 2], (id) => id % 2 === 0);
  const r2 = await runSync({ config: config([src], [dst]) });
  t.equal(exitCodeOfSync(r2), 0);
  const left = await query<{ id: string }>(url, 'SELECT id::text FROM people ORDER BY id');
  t.same(
    left.map((r) => r.id),
    ['1', '2'],
    'delete-stale removed the stale rows of every kind',
  );
});

t.test('filling keeps the source type: a timestamp in ms, a string _cq_id, and ids of the key where deterministic', async (t) => {
  const syncTime = new Date('2024-05-01T00:00:00Z');
  const schema = new A.Schema(
    [
      new A.Field('id', new A.Int64(), false, new Map([['cq:extension:primary_key', 'true']])),
      new A.Field('_cq_sync_time', new A.TimestampMillisecond(), true),
      new A.Field('_cq_id', new A.Utf8(), true),
    ],
    new Map([['cq:table_name', 't']]),
  );
  const id = A.makeVector(new BigInt64Array([1n, 2n]));
  const time = A.makeData({ type: new A.TimestampMillisecond(), length: 2, nullCount: 1, nullBitmap: new Uint8Array([1]), data: new BigInt64Array([5n, 0n]) });
  const cqId = utf8Data(['given', null]);
  const batch = new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length: 2, nullCount: 0, children: [id.data[0]!, time, cqId] }));
  const [, ins] = await collect(
    internalColumns({ sourceName: 's', syncTime, deterministicCqId: true })(
      Readable.from([
        { kind: 'migrate-table', table: schema },
        { kind: 'insert', table: 't', batch },
      ] as SyncMessage[]),
    ),
  );
  const b = (ins as Extract<SyncMessage, { kind: 'insert' }>).batch;
  const times = b.getChild('_cq_sync_time')!;
  t.equal(times.nullCount, 0);
  t.same([times.get(0), times.get(1)], [5, syncTime.getTime()], 'the given value kept, the missing one is the sync time (in ms)');
  const ids = b.getChild('_cq_id')!;
  t.equal(ids.get(0), 'given');
  t.match(ids.get(1), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-/, 'a UUIDv5 of the key fills the string column');
  t.same(
    b.schema.fields.filter(isPrimaryKey).map((f) => f.name),
    ['_cq_id'],
  );
});
