/**
 * Bulk replace (docs/postgresql.md, "Bulk replace"): a table read in full in
 * `overwrite-delete-stale` is staged and replaced in one short transaction. Its identity, the
 * other sources' rows and the catalog migrations compare survive; a failed sync or a failed final
 * step leaves it as it was; readers see the old rows or the new ones; tables that do not qualify
 * keep the row path (their relfilenode does not change, a replaced table's does).
 */
import t from 'tap';
import type * as A from 'apache-arrow';
import pg from 'pg';
import { exitCodeOfSync } from '../bin/exit-codes.js';
import type { SyncMessage, WriteMode } from '../lib/messages.js';
import { runSync } from '../lib/pipeline.js';
import { defineTable } from '../lib/schema.js';
import { ITEMS, config, destSpec, inserts, itemsBatch, staticSource } from './helpers/index.js';
import type { StaticData } from './helpers/static-source.js';
import { freshDatabase, query } from './helpers/postgres.js';

const OTHER = defineTable({
  name: 'other',
  columns: ITEMS.fields.map((f) => ({ name: f.name, type: f.name === 'id' ? 'int64' : f.name === 'name' ? 'utf8' : 'float64', primary_key: f.name === 'id' })),
});
const INC = defineTable({
  name: 'inc',
  incremental: true,
  columns: [
    { name: 'id', type: 'int64', primary_key: true },
    { name: 'name', type: 'utf8' },
    { name: 'value', type: 'float64' },
  ],
});

const rows = (ids: number[], tag: string) => ids.map((id) => ({ id, name: `${tag}-${id}`, value: id }));
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

interface SyncOpts {
  source?: string;
  writeMode?: WriteMode;
  signal?: AbortSignal;
  delayMs?: number;
  batchSize?: number;
}

function syncOf(url: string, tables: A.Schema[], messages: SyncMessage[], o: SyncOpts = {}) {
  const src = staticSource(tables, messages, { name: o.source ?? 'a', destinations: ['pg'] });
  const data: StaticData = src.data;
  if (o.delayMs) data.delayMs = o.delayMs;
  const spec = { connection_string: url, ...(o.batchSize ? { batch_size: o.batchSize } : {}) };
  const dest = destSpec({ name: 'pg', path: 'postgresql', write_mode: o.writeMode ?? 'overwrite-delete-stale', spec });
  return { run: runSync({ config: config([src.spec], [dest]), signal: o.signal }), data };
}

async function sync(url: string, tables: A.Schema[], messages: SyncMessage[], o: SyncOpts = {}) {
  return syncOf(url, tables, messages, o).run;
}

const ids = async (url: string, table = 'items') =>
  (await query<{ id: string; name: string; src: string }>(url, `SELECT id::text, name, _cq_source_name AS src FROM ${table} ORDER BY ${table}.id`)).map(
    (r) => `${r.id}:${r.name}:${r.src}`,
  );
const fileOf = async (url: string, table = 'items') =>
  (await query<{ oid: string; file: string }>(url, `SELECT oid::text, relfilenode::text AS file FROM pg_class WHERE oid = '${table}'::regclass`))[0]!;
const stagingTables = async (url: string) =>
  (await query<{ n: string }>(url, "SELECT relname AS n FROM pg_class WHERE relname LIKE '\\_cq\\_stage\\_%' ORDER BY 1")).map((r) => r.n);

/** what migrations compare and users added: columns, constraints, indexes, grants, comments, views */
async function catalog(url: string) {
  return {
    columns: await query(
      url,
      "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'items' ORDER BY ordinal_position",
    ),
    constraints: await query(url, "SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'items'::regclass ORDER BY 1"),
    indexes: await query(url, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'items' ORDER BY 1"),
    grants: await query(url, "SELECT grantee, privilege_type FROM information_schema.role_table_grants WHERE table_name = 'items' ORDER BY 1, 2"),
    comment: await query(url, "SELECT obj_description('items'::regclass, 'pg_class') AS c, col_description('items'::regclass, 3) AS col"),
  };
}

t.test('a table read in full is replaced: this sync rows (last per key) plus the rows of other sources it did not overwrite', async (t) => {
  const url = await freshDatabase('bulk');
  let res = await sync(url, [ITEMS], inserts('items', itemsBatch(rows([1, 2, 3, 4], 'old'))));
  t.equal(exitCodeOfSync(res), 0);
  // another source's rows, one of them under a key this sync writes; and what a user adds
  await query(url, "INSERT INTO items (_cq_source_name, _cq_sync_time, _cq_id, id, name) VALUES ('b', now(), gen_random_uuid(), 100, 'b-100')");
  await query(url, "INSERT INTO items (_cq_source_name, _cq_sync_time, _cq_id, id, name) VALUES ('b', now(), gen_random_uuid(), 101, 'b-101')");
  await query(url, "UPDATE items SET _cq_source_name = 'b', name = 'b-4' WHERE id = 4");
  for (const s of [
    'CREATE ROLE bulk_reader',
    'GRANT SELECT ON items TO bulk_reader',
    "COMMENT ON TABLE items IS 'synced by cq-pipe'",
    "COMMENT ON COLUMN items.id IS 'the key'",
    'CREATE INDEX items_by_name ON items (name)',
    'CREATE VIEW items_named AS SELECT id, name FROM items',
  ]) {
    await query(url, s).catch((e) => (s.startsWith('CREATE ROLE') ? undefined : Promise.reject(e)));
  }
  const before = await catalog(url);
  const file = await fileOf(url);

  res = await sync(url, [ITEMS], inserts('items', itemsBatch(rows([2, 5, 4], 'v1')), itemsBatch([{ id: 2, name: 'v2-2', value: 2 }])));
  t.equal(exitCodeOfSync(res), 0, JSON.stringify(res.errors.map((e) => e.message)));
  t.same(
    await ids(url),
    ['2:v2-2:a', '4:v1-4:a', '5:v1-5:a', '100:b-100:b', '101:b-101:b'],
    "1 and 3 stale; 2's last row won; b's 4 overwritten; b's others kept",
  );
  const after = await fileOf(url);
  t.equal(after.oid, file.oid, 'same table (OID)');
  t.not(after.file, file.file, 'replaced in bulk (the table was truncated: new relfilenode)');
  t.same(await catalog(url), before, 'columns, constraints, indexes (also the user one), grants and comments are as they were');
  t.same(await query(url, 'SELECT count(*)::int AS n FROM items_named'), [{ n: 5 }], 'the dependent view reads the new rows');
  t.same(await stagingTables(url), [], 'no staging table is left');

  // the next sync migrates nothing and replaces again
  res = await sync(url, [ITEMS], inserts('items', itemsBatch(rows([5], 'v3'))));
  t.equal(exitCodeOfSync(res), 0, JSON.stringify(res.errors.map((e) => e.message)));
  t.same(await ids(url), ['5:v3-5:a', '100:b-100:b', '101:b-101:b']);
});

t.test('the rows the delete-stale keeps are found by the probes of the (_cq_source_name, _cq_sync_time) index, and by a scan without it', async (t) => {
  const kinds: [src: string, time: string, what: string][] = [
    ["'0'", 'now()', 'another source whose name sorts before this one'],
    ["'z'", 'now()', 'another source whose name sorts after this one'],
    ['NULL', 'now()', 'no source name'],
    ["'a'", "now() + interval '1 day'", 'this source, a sync time after this sync'],
    ["'a'", 'NULL', 'this source, no sync time'],
  ];
  const kept = (i: number) => `${100 + i}:kept:${kinds[i]![0] === 'NULL' ? 'null' : kinds[i]![0].replaceAll("'", '')}`;
  const replace = async (which: number[], index: boolean) => {
    const url = await freshDatabase('bulkkeep');
    let res = await sync(url, [ITEMS], inserts('items', itemsBatch(rows([1, 2, 3], 'old'))));
    t.equal(exitCodeOfSync(res), 0);
    for (const i of which) {
      const [src, time] = kinds[i]!;
      await query(url, `INSERT INTO items (_cq_source_name, _cq_sync_time, _cq_id, id, name) VALUES (${src}, ${time}, gen_random_uuid(), ${100 + i}, 'kept')`);
    }
    // an index of that name stops the migration from creating it again; without _cq_sync_time the probes cannot use it
    if (!index) await query(url, 'DROP INDEX items_cqpi; CREATE INDEX items_cqpi ON items (_cq_source_name)');
    const file = await fileOf(url);
    res = await sync(url, [ITEMS], inserts('items', itemsBatch(rows([2, 3], 'new'))));
    t.equal(exitCodeOfSync(res), 0, JSON.stringify(res.errors.map((e) => e.message)));
    t.not((await fileOf(url)).file, file.file, 'replaced in bulk');
    return ids(url);
  };
  for (const [i, [, , what]] of kinds.entries()) t.same(await replace([i], true), ['2:new-2:a', '3:new-3:a', kept(i)], what);
  t.same(await replace([0, 1, 2, 3, 4], false), ['2:new-2:a', '3:new-3:a', ...kinds.map((_, i) => kept(i))], 'every kind, without the index');
  t.same(await replace([], true), ['2:new-2:a', '3:new-3:a'], 'none kept: 1 is stale');
});

t.test('a concurrent reader sees the old rows or the new ones, and no exclusive lock while the source is read', async (t) => {
  const url = await freshDatabase('bulk');
  t.equal(exitCodeOfSync(await sync(url, [ITEMS], inserts('items', itemsBatch(rows(range(0, 1000), 'old'))))), 0);
  const batches = Array.from({ length: 25 }, (_, i) => itemsBatch(rows(range(500 + i * 100, 600 + i * 100), 'new')));
  const { run, data } = syncOf(url, [ITEMS], inserts('items', ...batches), { delayMs: 15, batchSize: 100 });
  const reader = new pg.Client({ connectionString: url });
  await reader.connect();
  const counts = new Set<number>();
  let reads = 0;
  let lockedWhileReading = 0;
  let finished = false;
  const done = run.finally(() => {
    finished = true;
  });
  while (!finished) {
    const locks = await reader.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'items'::regclass AND mode IN ('ShareRowExclusiveLock', 'AccessExclusiveLock')",
    );
    // still reading once the locks were seen: the source was read while they were (the final step needs every batch)
    const reading = (data.pulled ?? 0) < batches.length;
    if (reading && locks.rows[0]!.n > 0) lockedWhileReading++;
    counts.add((await reader.query<{ n: number }>('SELECT count(*)::int AS n FROM items')).rows[0]!.n);
    reads++;
  }
  counts.add((await reader.query<{ n: number }>('SELECT count(*)::int AS n FROM items')).rows[0]!.n);
  await reader.end();
  const res = await done;
  t.equal(exitCodeOfSync(res), 0, JSON.stringify(res.errors.map((e) => e.message)));
  t.ok(reads >= 10, `the reader counted ${reads} times`);
  t.same(
    [...counts].sort((a, b) => a - b),
    [1000, 2500],
    'every count is the old table (1000 rows) or the new one (2500)',
  );
  t.equal(lockedWhileReading, 0, 'no lock that blocks writers or readers is held while the source is read');
});

t.test('a failed sync (aborted while reading) leaves the table as it was and drops its staged rows', async (t) => {
  const url = await freshDatabase('bulk');
  t.equal(exitCodeOfSync(await sync(url, [ITEMS], inserts('items', itemsBatch(rows(range(0, 50), 'old'))))), 0);
  const before = await ids(url);
  const file = await fileOf(url);
  const ac = new AbortController();
  const batches = Array.from({ length: 20 }, (_, i) => itemsBatch(rows(range(i * 10, i * 10 + 10), 'new')));
  const { run, data } = syncOf(url, [ITEMS], inserts('items', ...batches), { delayMs: 10, batchSize: 10, signal: ac.signal });
  while ((data.pulled ?? 0) < 10) await new Promise((r) => setTimeout(r, 5));
  ac.abort();
  const res = await run;
  t.equal(exitCodeOfSync(res), 1);
  t.same(await ids(url), before, 'the rows are the old ones');
  t.same(await fileOf(url), file, 'the table was not touched');
  t.same(await stagingTables(url), [], 'the staging table was dropped');
});

t.test('a failure in the final step leaves that table as it was; the other table is replaced', async (t) => {
  const url = await freshDatabase('bulk');
  let res = await sync(
    url,
    [ITEMS, OTHER],
    [...inserts('items', itemsBatch(rows([1, 2, 3], 'old'))), ...inserts('other', itemsBatch(rows([1, 2], 'old'), OTHER))],
  );
  t.equal(exitCodeOfSync(res), 0);
  // the staging table does not copy CHECK constraints: this one fails the final INSERT, after the TRUNCATE
  await query(url, "ALTER TABLE items ADD CONSTRAINT no_boom CHECK (name <> 'boom')");
  const before = await ids(url);
  const file = await fileOf(url);
  res = await sync(
    url,
    [ITEMS, OTHER],
    [...inserts('items', itemsBatch([...rows([2, 4], 'new'), { id: 5, name: 'boom', value: 5 }])), ...inserts('other', itemsBatch(rows([2, 3], 'new'), OTHER))],
  );
  t.equal(exitCodeOfSync(res), 1);
  t.equal(res.errors.length, 1, 'one error');
  t.equal(res.errors[0]!.context.table, 'items', 'naming the table');
  t.equal(res.errors[0]!.code, 'CQ_ERR_DEST_WRITE');
  t.match(res.errors[0]!.message, /bulk replace of table items failed: .*no_boom.*SQLSTATE 23514.*left as it was/);
  t.same(await ids(url), before, 'items holds its old rows');
  t.same(await fileOf(url), file, 'items was not touched');
  t.same(await ids(url, 'other'), ['2:new-2:a', '3:new-3:a'], 'the other table was replaced');
  t.same(await stagingTables(url), [], 'no staging table is left');
});

t.test('a lost connection in the final step is retried from the staged rows', async (t) => {
  const url = await freshDatabase('bulk');
  t.equal(exitCodeOfSync(await sync(url, [ITEMS], inserts('items', itemsBatch(rows([1, 2, 3], 'old'))))), 0);
  // a reader's open transaction holds the table: the final step waits for its exclusive lock
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query('SELECT count(*) FROM items');
  const run = sync(url, [ITEMS], inserts('items', itemsBatch(rows([3, 4], 'new'))));
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  let killed = 0;
  while (!killed) {
    const r = await admin.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE application_name = 'cq-pipe' AND wait_event_type = 'Lock' " +
        "AND query LIKE 'LOCK TABLE%ACCESS EXCLUSIVE%' AND datname = current_database()",
    );
    for (const { pid } of r.rows) killed += (await admin.query('SELECT pg_terminate_backend($1)', [pid])).rowCount ?? 0;
    if (!killed) await new Promise((r) => setTimeout(r, 20));
  }
  await holder.query('COMMIT');
  await holder.end();
  await admin.end();
  const res = await run;
  t.equal(exitCodeOfSync(res), 0, JSON.stringify(res.errors.map((e) => e.message)));
  t.same(await ids(url), ['3:new-3:a', '4:new-4:a'], 'replaced after the reconnect');
  t.same(await stagingTables(url), []);
});

t.test('tables that do not qualify keep the row path', async (t) => {
  t.test('overwrite: upserted, nothing deleted', async (t) => {
    const url = await freshDatabase('bulk');
    t.equal(exitCodeOfSync(await sync(url, [ITEMS], inserts('items', itemsBatch(rows([1, 2], 'old'))), { writeMode: 'overwrite' })), 0);
    const file = await fileOf(url);
    t.equal(exitCodeOfSync(await sync(url, [ITEMS], inserts('items', itemsBatch(rows([2, 3], 'new'))), { writeMode: 'overwrite' })), 0);
    t.same(await ids(url), ['1:old-1:a', '2:new-2:a', '3:new-3:a']);
    t.same(await fileOf(url), file, 'not truncated');
  });
  t.test('an incremental table', async (t) => {
    const url = await freshDatabase('bulk');
    t.equal(exitCodeOfSync(await sync(url, [INC], inserts('inc', itemsBatch(rows([1, 2], 'old'), INC)))), 0);
    const file = await fileOf(url, 'inc');
    t.equal(exitCodeOfSync(await sync(url, [INC], inserts('inc', itemsBatch(rows([2, 3], 'new'), INC)))), 0);
    t.same(await ids(url, 'inc'), ['2:new-2:a', '3:new-3:a'], 'delete-stale ran (no state backend)');
    t.same(await fileOf(url, 'inc'), file, 'not truncated');
  });
  t.test('a table with checkpoints: its staged rows are merged at the first one, delete-stale then deletes', async (t) => {
    const url = await freshDatabase('bulk');
    t.equal(exitCodeOfSync(await sync(url, [ITEMS], inserts('items', itemsBatch(rows([1, 2, 3], 'old'))))), 0);
    const file = await fileOf(url);
    const cp: SyncMessage = { kind: 'checkpoint', id: 'c1', table: 'items', state: {} };
    const res = await sync(url, [ITEMS], [...inserts('items', itemsBatch(rows([2], 'new'))), cp, ...inserts('items', itemsBatch(rows([4, 2], 'newer')))]);
    t.equal(exitCodeOfSync(res), 0, JSON.stringify(res.errors.map((e) => e.message)));
    t.same(await ids(url), ['2:newer-2:a', '4:newer-4:a']);
    t.same(await fileOf(url), file, 'not truncated');
    t.same(await stagingTables(url), []);
  });
  t.test('a table with a user trigger is merged (its row triggers fire as before)', async (t) => {
    const url = await freshDatabase('bulk');
    t.equal(exitCodeOfSync(await sync(url, [ITEMS], inserts('items', itemsBatch(rows([1, 2], 'old'))))), 0);
    await query(url, 'CREATE TABLE audit (op text, id bigint)');
    await query(
      url,
      `CREATE FUNCTION audit_items() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      INSERT INTO audit VALUES (TG_OP, CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END); RETURN NULL; END $$`,
    );
    await query(url, 'CREATE TRIGGER items_audit AFTER INSERT OR UPDATE OR DELETE ON items FOR EACH ROW EXECUTE FUNCTION audit_items()');
    const file = await fileOf(url);
    t.equal(exitCodeOfSync(await sync(url, [ITEMS], inserts('items', itemsBatch(rows([2, 3], 'new'))))), 0);
    t.same(await ids(url), ['2:new-2:a', '3:new-3:a']);
    t.same(await fileOf(url), file, 'not truncated');
    t.same(await query(url, 'SELECT op, id::int FROM audit ORDER BY op, id'), [
      { op: 'DELETE', id: 1 },
      { op: 'INSERT', id: 3 },
      { op: 'UPDATE', id: 2 },
    ]);
  });
  t.end();
});
