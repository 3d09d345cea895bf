/**
 * The parts of the postgresql destination on their own: error classes, the dead-letter file, the
 * upsert SQL, COPY loads and upserts against a real Postgres, and the session's retry and replay.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type * as A from 'apache-arrow';
import t from 'tap';
import { CopyLoad, copyBatches, encodeBatches, type CopyColumn } from '../connectors/postgresql/copy-load.js';
import { EncodeError } from '../connectors/postgresql/copy-binary.js';
import { DeadLetterFile, rowValues } from '../connectors/postgresql/dead-letter.js';
import { copyRow, isRowError, isTableError, loadError, rejectReason } from '../connectors/postgresql/load-errors.js';
import { LOAD_ROWS, PgSession } from '../connectors/postgresql/session.js';
import { clearStaging, createStaging, stagingName, upsertFromStaging, upsertSql, type UpsertTable } from '../connectors/postgresql/upsert.js';
import { DestinationWriteError, SchemaIncompatibleError } from '../lib/errors.js';
import { silentLogger } from '../lib/logger.js';
import { defineTable } from '../lib/schema.js';
import { RowBatchBuilder } from '../lib/row-builder.js';
import { tmpDir } from './helpers/index.js';
import { freshDatabase, query } from './helpers/postgres.js';

const ITEMS = defineTable({
  name: 'items',
  columns: [
    { name: 'id', type: 'int64', primary_key: true },
    { name: 'name', type: 'utf8' },
  ],
});

function batch(rows: { id: number; name: string | null }[], schema: A.Schema = ITEMS): A.RecordBatch {
  const b = new RowBatchBuilder(schema);
  for (const r of rows) b.push(r);
  return b.finish();
}

const columns = (schema: A.Schema, types: string[]): CopyColumn[] => schema.fields.map((f, i) => ({ field: f, name: f.name, pgType: types[i]! }));

const items: UpsertTable & { columns: CopyColumn[] } = {
  qualified: '"public"."items"',
  staging: stagingName('items'),
  columns: columns(ITEMS, ['bigint', 'text']),
  extra: [],
  pk: ['id'],
};

// --- load-errors --------------------------------------------------------------------------

t.test('load-errors: row and table errors, the COPY row, the message', async (t) => {
  t.ok(isRowError(new EncodeError('bad')));
  t.ok(isRowError({ code: '22P02' }));
  t.ok(isRowError({ code: '23505' }));
  t.notOk(isRowError({ code: '42P01' }));
  t.notOk(isRowError({ code: '53100' }));
  t.ok(isTableError({ code: '42703' }));
  t.ok(isTableError(new SchemaIncompatibleError('x', { table: 'a' })));
  t.notOk(isTableError({ code: '57P01' }));
  t.notOk(isTableError(new Error('plain')));
  t.equal(copyRow({ where: 'COPY items, line 3, column id: "x"' }), 2);
  t.equal(copyRow({ message: 'no where' }), undefined);
  t.equal(rejectReason(new EncodeError('value too big')), 'value too big');
  t.equal(rejectReason({ message: 'duplicate key', detail: 'Key (id)=(1)', code: '23505' }), 'duplicate key (Key (id)=(1)) [SQLSTATE 23505]');

  const e = loadError('pg', 'items', { message: 'invalid input', code: '22P02', where: 'COPY items, line 4' });
  t.type(e, DestinationWriteError);
  t.equal(
    e.message,
    'Postgres rejected rows for table items: invalid input [SQLSTATE 22P02] (row 4 of the load); ' + "the table's uncommitted rows were rolled back",
  );
  t.same(e.context, { connector: 'pg', table: 'items', row: 4 });
  const typed = new DestinationWriteError('already typed', { table: 'x' });
  t.equal(loadError('pg', 'items', typed), typed, 'typed errors are kept');
  t.match(loadError('pg', undefined, { message: 'boom' }).message, /^writing to Postgres failed: boom;/, 'no table known: no "rejected rows", no "?"');
});

// --- dead-letter ----------------------------------------------------------------------------

t.test('dead-letter: rows as NDJSON, directory created on first use, rows counted', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'nested', 'rejected.ndjson');
  const dl = new DeadLetterFile(file);
  t.equal(dl.rows, 0);
  await dl.close(); // nothing opened: nothing to close, no file
  await dl.write(
    'items',
    'bad value',
    batch([
      { id: 1, name: 'a' },
      { id: 2, name: null },
    ]),
  );
  await dl.write('items', 'again', batch([{ id: 3, name: 'c' }]));
  t.equal(dl.rows, 3);
  await dl.close();
  const lines = (await readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as unknown);
  t.same(lines, [
    { table: 'items', reason: 'bad value', row: { id: '1', name: 'a' } },
    { table: 'items', reason: 'bad value', row: { id: '2', name: null } },
    { table: 'items', reason: 'again', row: { id: '3', name: 'c' } },
  ]);
});

t.test('dead-letter: uuid and json values are readable', async (t) => {
  const s = defineTable({
    name: 'x',
    columns: [
      { name: 'u', type: 'uuid' },
      { name: 'j', type: 'json' },
    ],
  });
  const b = new RowBatchBuilder(s);
  b.push({ u: '00000000-0000-4000-8000-000000000001', j: { a: [1, 2] } });
  b.push({ u: null, j: null });
  t.same(rowValues(b.finish()), [
    { u: '00000000-0000-4000-8000-000000000001', j: { a: [1, 2] } },
    { u: null, j: null },
  ]);
});

// --- upsert SQL -----------------------------------------------------------------------------

t.test('upsert: SQL for updates, extra columns, key-only tables and deduplication', async (t) => {
  t.equal(stagingName('items'), '"cq_stage_items"');
  t.equal(
    upsertSql(items, false),
    'INSERT INTO "public"."items" ("id", "name") SELECT "id", "name" FROM "cq_stage_items" ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name"',
  );
  t.equal(
    upsertSql({ ...items, extra: ['gone'] }, true),
    'INSERT INTO "public"."items" ("id", "name") SELECT DISTINCT ON ("id") "id", "name" FROM "cq_stage_items" ORDER BY "id", ctid DESC ' +
      'ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "gone" = NULL',
  );
  t.equal(
    upsertSql({ ...items, columns: [{ name: 'id' }] }, false),
    'INSERT INTO "public"."items" ("id") SELECT "id" FROM "cq_stage_items" ON CONFLICT ("id") DO NOTHING',
  );
});

// --- against Postgres ------------------------------------------------------------------------

async function session(
  url: string,
  over: { replay?: (table: string, chunks: AsyncIterable<Buffer>, rows: number) => Promise<void>; onReconnect?: () => void } = {},
) {
  const s = new PgSession<string>({
    connectionString: url,
    connector: 'pg',
    logger: silentLogger,
    onReconnect: over.onReconnect ?? (() => {}),
    replay: over.replay ?? (async () => {}),
  });
  await s.connect();
  return s;
}

async function itemsDb(): Promise<string> {
  const url = await freshDatabase('parts');
  await query(url, 'CREATE TABLE items (id bigint PRIMARY KEY, name text)');
  return url;
}

t.test('session: connects with UTC and application_name; a failed connect is a DestinationWriteError', async (t) => {
  const url = await itemsDb();
  const s = await session(url);
  t.teardown(() => s.close());
  const r = await s.client.query<{ tz: string; app: string }>("SELECT current_setting('TimeZone') AS tz, current_setting('application_name') AS app");
  t.same(r.rows[0], { tz: 'UTC', app: 'cq-pipe' });

  const bad = new URL(url);
  bad.port = '1';
  const err = await session(bad.toString()).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.type(err, DestinationWriteError);
  t.match((err as DestinationWriteError).message, /^cannot connect to Postgres: /);
  t.same((err as DestinationWriteError).context, { connector: 'pg', phase: 'connect' });
});

t.test('copy-load + upsert: a streaming load into staging, upserted, last duplicate wins', async (t) => {
  const url = await itemsDb();
  const s = await session(url);
  t.teardown(() => s.close());
  await s.begin();
  await createStaging(s.client, items);
  const load = new CopyLoad(s.client, items.staging, items.columns);
  await load.write(
    encodeBatches(
      [
        batch([
          { id: 1, name: 'a' },
          { id: 2, name: 'b' },
        ]),
      ],
      items.columns,
    ),
  );
  await load.write(encodeBatches([batch([{ id: 1, name: 'a2' }])], items.columns));
  await load.end();
  await upsertFromStaging(s.client, items);
  await clearStaging(s.client, items);
  t.same((await s.client.query('SELECT count(*)::int AS n FROM cq_stage_items')).rows, [{ n: 0 }], 'staging emptied for the next load');
  await s.commit();
  t.same(await query(url, 'SELECT id::int, name FROM items ORDER BY id'), [
    { id: 1, name: 'a2' },
    { id: 2, name: 'b' },
  ]);
});

t.test('copy-load: one-shot COPY; a rejected row surfaces with its COPY line; an aborted load leaves nothing', async (t) => {
  const url = await freshDatabase('parts');
  await query(url, 'CREATE TABLE plain (id bigint CHECK (id < 100), name text)');
  const s = await session(url);
  t.teardown(() => s.close());
  const plain = { qualified: '"public"."plain"', columns: items.columns };
  await s.transaction((c) => copyBatches(c, plain.qualified, plain.columns, [batch([{ id: 1, name: 'a' }]), batch([{ id: 2, name: 'b' }])]));
  t.same(await query(url, 'SELECT id::int, name FROM plain ORDER BY id'), [
    { id: 1, name: 'a' },
    { id: 2, name: 'b' },
  ]);

  const err = await s
    .transaction((c) =>
      copyBatches(c, plain.qualified, plain.columns, [
        batch([
          { id: 3, name: 'c' },
          { id: 100, name: 'x' },
        ]),
      ]),
    )
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  t.equal((err as { code?: string }).code, '23514');
  t.equal(copyRow(err), 1);

  await s.begin();
  const load = new CopyLoad(s.client, plain.qualified, plain.columns);
  await load.write(encodeBatches([batch([{ id: 5, name: 'e' }])], items.columns));
  load.abort(new Error('give up'));
  await load.end().catch(() => {});
  await s.rollback();
  t.same(await query(url, 'SELECT id::int FROM plain ORDER BY id'), [{ id: 1 }, { id: 2 }], 'the failed and the aborted load left nothing');
});

t.test('session: kept batches, full at LOAD_ROWS, discard by table', async (t) => {
  const url = await itemsDb();
  const s = await session(url);
  t.teardown(() => s.close());
  const b = batch([
    { id: 1, name: 'a' },
    { id: 2, name: 'b' },
  ]);
  s.keep('a', [b]);
  s.keep('b', [b, b]);
  t.equal(s.pendingRows, 6);
  t.notOk(s.full);
  s.discard('b');
  t.equal(s.pendingRows, 2);
  await s.commit();
  t.equal(s.pendingRows, 0, 'a commit forgets the kept batches');
  const big = batch(Array.from({ length: LOAD_ROWS }, (_, i) => ({ id: i, name: null })));
  s.keep('a', [big]);
  t.ok(s.full);
  s.discard();
  t.equal(s.pendingRows, 0);
});

t.test('session: a transient error reconnects and replays the kept batches from the replay log, once', async (t) => {
  const url = await itemsDb();
  const replayed: string[] = [];
  let resets = 0;
  const s = await session(url, {
    onReconnect: () => {
      resets++;
    },
    replay: async (table, chunks, rows) => {
      let bytes = 0;
      await s.begin();
      const load = new CopyLoad(s.client, `"public"."${table}"`, items.columns);
      await load.write(
        (async function* () {
          for await (const c of chunks) {
            bytes += c.length;
            yield c;
          }
        })(),
      );
      await load.end();
      replayed.push(`${table}:${rows} rows, ${bytes} bytes`);
    },
  });
  t.teardown(() => s.close());
  const first = s.client;
  const b = batch([
    { id: 7, name: 'g' },
    { id: 8, name: null },
  ]);
  const c = batch([{ id: 9, name: 'i' }]);
  let calls = 0;
  const sent: number[] = [];
  for (const [i, x] of [b, c].entries()) {
    s.keep('items', [x]);
    await s.retryingOnce('load', async () => {
      calls++;
      await s.begin();
      const load = new CopyLoad(s.client, '"public"."items"', items.columns);
      const chunks = s.logged(encodeBatches([x], items.columns));
      let n = 0;
      try {
        await load.write(
          (async function* () {
            for await (const ch of chunks) {
              n += ch.length;
              yield ch;
            }
          })(),
        );
        sent.push(n);
        await load.end();
        if (i === 0) return;
        // the server drops the connection: the transaction is gone
        await query(
          url,
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity ' +
            "WHERE application_name = 'cq-pipe' AND datname = current_database() AND pid <> pg_backend_pid()",
        );
        await s.client.query('SELECT 1');
      } catch (err) {
        await chunks.rest();
        throw err;
      }
    });
  }
  t.equal(calls, 2, 'the work is not run again: the replay redid it');
  t.equal(resets, 1);
  // 2 bytes of column count, then per column a 4-byte length and the value: bigint 8, text 1 or NULL (-1, no bytes)
  t.same(sent, [2 + (4 + 8 + 4 + 1) + 2 + (4 + 8 + 4), 2 + (4 + 8 + 4 + 1)]);
  t.same(replayed, ['items:2 rows, 37 bytes', 'items:1 rows, 19 bytes'], 'each kept batch replayed with its own COPY bytes, in order');
  t.not(s.client, first, 'a new connection');
  await s.commit();
  t.same(
    await query(url, 'SELECT id::int, name FROM items ORDER BY id'),
    [
      { id: 7, name: 'g' },
      { id: 8, name: null },
      { id: 9, name: 'i' },
    ],
    'written exactly once',
  );
});

t.test('session: non-transient errors are not retried; a one-off transaction rolls back', async (t) => {
  const url = await itemsDb();
  let resets = 0;
  const s = await session(url, {
    onReconnect: () => {
      resets++;
    },
  });
  t.teardown(() => s.close());
  const err = await s
    .retrying('catalog', () =>
      s.transaction(async (c) => {
        await c.query("INSERT INTO items VALUES (1, 'a')");
        await c.query("INSERT INTO items VALUES (1, 'again')");
      }),
    )
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  t.equal((err as { code?: string }).code, '23505');
  t.equal(resets, 0);
  t.same(await query(url, 'SELECT * FROM items'), [], 'rolled back');
  t.equal(await s.retrying('x', async () => 42), 42);
});
