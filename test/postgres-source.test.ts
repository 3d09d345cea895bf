/** The postgresql source against a real Postgres: conformance, every type back from the destination, incremental reads. */
import t from 'tap';
import { runSourceSuite } from './conformance/source.js';
import { postgresSource } from '../connectors/postgresql/source.js';
import { memoryTables, rowObjects } from '../connectors/memory.js';
import { generateBatch, testTableSchemas } from '../connectors/test-source.js';
import { runSync } from '../lib/pipeline.js';
import { silentLogger } from '../lib/logger.js';
import { tableName } from '../lib/schema.js';
import { typeName } from '../lib/types.js';
import type { SyncMessage } from '../lib/messages.js';
import { config, destSpec, sourceSpec, tmpDir } from './helpers/index.js';
import { freshDatabase, query } from './helpers/postgres.js';
import { exitCodeOfSync } from '../bin/exit-codes.js';

const ctx = () => ({ name: 'pgsrc', logger: silentLogger, baseDir: process.cwd(), invocationId: 'i', syncTime: new Date() });

runSourceSuite(t, {
  connector: postgresSource,
  async spec() {
    const url = await freshDatabase();
    await query(url, "CREATE TABLE a (id bigint PRIMARY KEY, name text); INSERT INTO a SELECT g, 'n' || g FROM generate_series(1, 2500) g");
    await query(url, 'CREATE SCHEMA other; CREATE TABLE other.b (id int, at timestamptz); INSERT INTO other.b SELECT g, now() FROM generate_series(1, 1200) g');
    return { connection_string: url, batch_rows: 1000 };
  },
  expected: { a: 2500, other_b: 1200 },
});

t.test('every type written by the destination reads back with its type and value', async (t) => {
  const url = await freshDatabase();
  const spec = { num_tables: 1, num_rows: 200, seed: 3, batch_rows: 200, preset: 'all-types' as const, incremental: false };
  const w = await runSync({
    config: config(
      [sourceSpec({ path: 'test', destinations: ['pg'], spec })],
      [destSpec({ name: 'pg', path: 'postgresql', spec: { connection_string: url } })],
    ),
  });
  t.equal(exitCodeOfSync(w), 0);
  const client = await postgresSource.create({ connection_string: url, batch_rows: 64 }, ctx());
  const [schema] = await client.tables();
  const types = Object.fromEntries(schema!.fields.map((f) => [f.name, typeName(f)]));
  t.same(types, {
    id: 'int64',
    bool_col: 'bool',
    int8_col: 'int16',
    int16_col: 'int16',
    int32_col: 'int32',
    int64_col: 'int64',
    uint8_col: 'int16',
    uint16_col: 'int32',
    uint32_col: 'int64',
    uint64_col: 'decimal(20,0)',
    float32_col: 'float32',
    float64_col: 'float64',
    decimal_col: 'decimal(12,3)',
    utf8_col: 'utf8',
    large_utf8_col: 'utf8',
    binary_col: 'binary',
    date32_col: 'date32',
    time64_col: 'time64',
    timestamp_col: 'timestamp',
    uuid_col: 'uuid',
    json_col: 'json',
    inet_col: 'inet',
    list_col: 'list<int64>',
    struct_col: 'json',
    _cq_sync_time: 'timestamp',
    _cq_source_name: 'utf8',
    _cq_id: 'uuid',
    _cq_parent_id: 'uuid',
  });
  t.ok(schema!.fields.find((f) => f.name === 'id')!.metadata.get('cq:extension:primary_key') === 'true', 'primary key read from the catalog');
  const rows: Record<string, unknown>[] = [];
  let batches = 0;
  for await (const m of client.read([schema!], { signal: new AbortController().signal, state: new Map() })) {
    if (m.kind === 'insert') {
      rows.push(...rowObjects(m.batch));
      batches++;
    }
    if (m.kind === 'table-error') t.fail(m.error.message);
  }
  await client.close?.();
  t.equal(rows.length, 200);
  t.equal(batches, 4, 'batches of batch_rows');
  rows.sort((a, b) => Number(a.id) - Number(b.id));
  const expected = rowObjects(generateBatch(spec, testTableSchemas(spec)[0]!, 0, 0, 200));
  const canon = (v: unknown): string =>
    JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x));
  let mismatches = 0;
  for (const col of [
    'bool_col',
    'int8_col',
    'int16_col',
    'int32_col',
    'int64_col',
    'uint8_col',
    'uint16_col',
    'uint32_col',
    'float32_col',
    'float64_col',
    'utf8_col',
    'large_utf8_col',
    'binary_col',
    'date32_col',
    'time64_col',
    'timestamp_col',
    'uuid_col',
    'json_col',
    'inet_col',
  ]) {
    for (let i = 0; i < 200; i++) {
      let want = expected[i]![col];
      let got = rows[i]![col];
      if (typeof want === 'number' && typeof got === 'bigint') got = Number(got);
      if (typeof want === 'bigint' && typeof got === 'number') want = Number(want);
      if (canon(want) !== canon(got) && mismatches++ < 5) t.fail(`${col} row ${i}: ${canon(want)} vs ${canon(got)}`);
    }
  }
  t.equal(mismatches, 0, 'values equal');
  t.same(
    (rows[1]!.list_col as unknown as { toArray(): BigInt64Array }).toArray?.()
      ? Array.from((rows[1]!.list_col as { toArray(): BigInt64Array }).toArray(), Number)
      : rows[1]!.list_col,
    [1, 2, -1],
  );
  t.same(rows[1]!.struct_col, { a: 1, b: 's1' });
});

t.test('incremental: reads from the saved cursor (>=, ties kept) and checkpoints each batch', async (t) => {
  const url = await freshDatabase();
  const dir = await tmpDir(t);
  await query(
    url,
    `CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz NOT NULL, v text);
    INSERT INTO events SELECT g, timestamp '2024-01-01' + (g / 10) * interval '1 minute', 'v' || g FROM generate_series(1, 95) g`,
  );
  const dest = 'mem_pgsrc_inc';
  const src = sourceSpec({
    path: 'postgresql',
    destinations: [dest],
    tables: ['public.events'],
    backend_options: { table_name: 'cq_state', connection: `file://${dir}` },
    spec: { connection_string: url, batch_rows: 20, tables: [{ name: 'public.events', incremental: { cursor: 'at' } }] },
  });
  const dst = destSpec({ name: dest, path: 'memory', write_mode: 'overwrite' });
  const r1 = await runSync({ config: config([src], [dst]) });
  t.equal(exitCodeOfSync(r1), 0, r1.errors.map((e) => e.message).join());
  t.equal(r1.resources, 95);
  // rows 90..95 share the last cursor value (minute 9); add a tie and 10 new rows
  await query(
    url,
    `INSERT INTO events VALUES (96, timestamp '2024-01-01' + interval '9 minutes', 'tie');
    INSERT INTO events SELECT g, timestamp '2024-01-01' + (g / 10) * interval '1 minute', 'v' || g FROM generate_series(97, 106) g`,
  );
  const r2 = await runSync({ config: config([src], [dst]) });
  t.equal(exitCodeOfSync(r2), 0);
  t.equal(r2.resources, 6 + 1 + 10, 'the 6 rows at the saved cursor, the tie, and the 10 new rows');
  t.equal(memoryTables(dest).get('events')!.rows.length, 106, 'every row exactly once after upserts');
});

t.test('table names: public.x → x, s.y → s_y; unknown per-table settings are errors', async (t) => {
  const url = await freshDatabase();
  await query(url, 'CREATE TABLE x (id int); CREATE SCHEMA s; CREATE TABLE s.y (id int)');
  const c = await postgresSource.create({ connection_string: url }, ctx());
  t.same((await c.tables()).map(tableName).sort(), ['s_y', 'x']);
  await c.close?.();
  const bad = await postgresSource.create({ connection_string: url, tables: [{ name: 'public.nope' }] }, ctx());
  await t.rejects(bad.tables(), /public\.nope/);
  await bad.close?.();
  const msgs: SyncMessage[] = [];
  void msgs;
});

t.test('--shard n/t splits a table into disjoint hash ranges whose union is the table', async (t) => {
  const url = await freshDatabase();
  await query(
    url,
    "CREATE TABLE big (id bigint PRIMARY KEY, v text); INSERT INTO big SELECT g, 'v' || g FROM generate_series(1, 3000) g; CREATE TABLE nokey (x " +
      'int); INSERT INTO nokey SELECT g FROM generate_series(1, 300) g',
  );
  const seen = new Map<string, number>();
  const perShard: number[] = [];
  for (const num of [1, 2, 3]) {
    const dest = `mem_shard_${num}`;
    const r = await runSync({
      shard: { num, total: 3 },
      config: config(
        [sourceSpec({ path: 'postgresql', destinations: [dest], spec: { connection_string: url } })],
        [destSpec({ name: dest, path: 'memory', write_mode: 'append' })],
      ),
    });
    t.equal(exitCodeOfSync(r), 0, r.errors.map((e) => e.message).join());
    const rows = memoryTables(dest).get('big')!.rows;
    perShard.push(rows.length);
    for (const row of rows) seen.set(String(row.id), (seen.get(String(row.id)) ?? 0) + 1);
    t.same([...new Set(rows.map((x) => x._cq_source_name))], [`src_${num}_3`]);
    t.ok(memoryTables(dest).get('nokey')!.rows.length > 0, 'a table without a key is split by row hash');
  }
  t.equal(seen.size, 3000, 'every row in some shard');
  t.ok(
    [...seen.values()].every((n) => n === 1),
    'no row in two shards',
  );
  t.ok(
    perShard.every((n) => n > 700 && n < 1300),
    `ranges are balanced: ${perShard.join(', ')}`,
  );
  const nokey = [1, 2, 3].reduce((n, num) => n + memoryTables(`mem_shard_${num}`).get('nokey')!.rows.length, 0);
  t.equal(nokey, 300);
});
