/**
 * A non-transient destination error fails its table only (issue 6): the destination rolls back
 * that table's uncommitted rows, replays the other tables' uncommitted rows, and the sync goes on;
 * the summary names the table, its state does not advance, its delete-stale does not run.
 */
import * as A from 'apache-arrow';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { runSync } from '../lib/pipeline.js';
import { createLogger } from '../lib/logger.js';
import { config, destSpec, duckdb, inserts, itemsBatch, ITEMS, sourceSpec, staticSource, tmpDir } from './helpers/index.js';
import { freshDatabase, query } from './helpers/postgres.js';
import { exitCodeOfSync } from '../bin/exit-codes.js';

const BASE_US = 1_704_067_200_000_000n; // the test source's first updated_at
const cursorOf = (row: number) => new Date(Number((BASE_US + BigInt(row) * 1_000_000n) / 1000n)).toISOString().replace('Z', '000Z'); // µs

async function counts(url: string, tables: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const tb of tables) {
    const [r] = await query<{ n: string; d: string }>(url, `SELECT count(*)::text AS n, count(DISTINCT id)::text AS d FROM ${tb}`);
    if (r!.n !== r!.d) throw new Error(`${tb}: ${r!.n} rows but ${r!.d} distinct ids`);
    out[tb] = Number(r!.n);
  }
  return out;
}

const TABLES = ['test_table_0', 'test_table_1', 'test_table_2'];

t.test('Postgres, append in one transaction: a constraint violation fails one table, the others commit every row', async (t) => {
  const url = await freshDatabase('iso');
  const lines: string[] = [];
  const run = (rows: number) =>
    runSync({
      logger: createLogger({ level: 'warn', write: (l) => lines.push(l) }),
      config: config(
        [sourceSpec({ path: 'test', destinations: ['pg'], spec: { num_tables: 3, num_rows: rows, batch_rows: 1000, preset: 'all-types' } })],
        [destSpec({ name: 'pg', path: 'postgresql', write_mode: 'append', spec: { connection_string: url, batch_size: 1000 } })],
      ),
    });
  const first = await run(0);
  t.equal(exitCodeOfSync(first), 0, 'tables created');
  // rows 3500.. of test_table_1 break a constraint the sync knows nothing of
  await query(url, 'ALTER TABLE test_table_1 ADD CONSTRAINT below_3500 CHECK (id < 3500)');
  const res = await run(5000);
  t.equal(exitCodeOfSync(res), 1, 'a failed table makes the sync exit 1');
  t.notOk(res.fatal, 'the sync itself did not fail');
  t.equal(res.errors.length, 1);
  const e = res.errors[0]!;
  t.equal(e.code, 'CQ_ERR_DEST_WRITE');
  t.equal(e.context.table, 'test_table_1');
  t.match(e.message, /below_3500/);
  t.same(
    await counts(url, TABLES),
    { test_table_0: 5000, test_table_1: 0, test_table_2: 5000 },
    'the other tables have every row once; the failed table keeps only committed rows (none: one transaction)',
  );
  const s = res.summaries[0]!;
  t.equal(s.destination_errors, 1);
  t.equal(s.errors_per_table.test_table_1, 1);
  t.equal(s.errors_per_table.test_table_0, 0);
  t.ok(
    lines.some((l) => /table test_table_1 failed in destination pg/.test(l)),
    'the failure is logged with table and destination',
  );
});

t.test('Postgres, incremental overwrite: the failed table keeps its cursor at its committed rows, the others advance; a rerun completes it', async (t) => {
  const url = await freshDatabase('iso');
  const dir = await tmpDir(t);
  const stateDir = path.join(dir, 'state');
  const lines: string[] = [];
  const run = (rows: number) =>
    runSync({
      logger: createLogger({ level: 'warn', write: (l) => lines.push(l) }),
      config: config(
        [
          sourceSpec({
            path: 'test',
            destinations: ['pg'],
            backend_options: { table_name: 'cq_state', connection: `file://${stateDir}` },
            spec: { num_tables: 3, num_rows: rows, batch_rows: 1000, preset: 'all-types', incremental: true },
          }),
        ],
        [destSpec({ name: 'pg', path: 'postgresql', write_mode: 'overwrite', spec: { connection_string: url, batch_size: 1000 } })],
      ),
    });
  t.equal(exitCodeOfSync(await run(4000)), 0);
  await query(url, 'ALTER TABLE test_table_1 ADD CONSTRAINT below_7000 CHECK (id < 7000)');
  const res = await run(10_000);
  t.equal(exitCodeOfSync(res), 1);
  t.same(
    res.errors.map((e) => [e.code, e.context.table]),
    [['CQ_ERR_DEST_WRITE', 'test_table_1']],
  );
  t.same(
    await counts(url, TABLES),
    { test_table_0: 10_000, test_table_1: 7000, test_table_2: 10_000 },
    'the failed table keeps the batches committed before its failure',
  );
  const state = JSON.parse(await readFile(path.join(stateDir, 'cq_state.json'), 'utf8')) as Record<string, { value: string }>;
  const saved = (k: string) => Object.entries(state).find(([key]) => key.endsWith(k))?.[1].value;
  t.equal(saved('test_table_0'), cursorOf(9999), 'a healthy table advanced to its last row');
  t.equal(saved('test_table_2'), cursorOf(9999));
  t.equal(saved('test_table_1'), cursorOf(6999), 'the failed table stays at its last committed checkpoint');

  await query(url, 'ALTER TABLE test_table_1 DROP CONSTRAINT below_7000');
  const again = await run(10_000);
  t.equal(exitCodeOfSync(again), 0, again.errors.map((e) => e.message).join('\n'));
  t.equal(again.summaries[0]!.resources_per_table.test_table_1, 3001, "only the failed table's missing rows (and the tie at its cursor) are read again");
  t.same(await counts(url, TABLES), { test_table_0: 10_000, test_table_1: 10_000, test_table_2: 10_000 }, 'every row exactly once');
});

t.test('Postgres, overwrite-delete-stale: the failed table keeps its stale rows, the others are cleaned', async (t) => {
  const url = await freshDatabase('iso');
  const messagesFor = (names: string[]) => [
    ...inserts('a', itemsBatch(names.map((n, i) => ({ id: i, name: n, value: i })))),
    ...inserts('b', itemsBatch(names.map((n, i) => ({ id: i, name: n, value: i })))),
  ];
  const A_ = new A.Schema(ITEMS.fields, new Map([...ITEMS.metadata, ['cq:table_name', 'a']]));
  const B_ = new A.Schema(ITEMS.fields, new Map([...ITEMS.metadata, ['cq:table_name', 'b']]));
  const run = (names: string[]) => {
    const src = staticSource([A_, B_], messagesFor(names), { destinations: ['pg'] });
    return runSync({ config: config([src.spec], [destSpec({ name: 'pg', path: 'postgresql', spec: { connection_string: url } })]) });
  };
  t.equal(exitCodeOfSync(await run(['x', 'y', 'z'])), 0);
  // the second sync has two rows per table; table b refuses one of them
  await query(url, "ALTER TABLE b ADD CONSTRAINT no_q CHECK (name <> 'q')");
  const res = await run(['p', 'q']);
  t.equal(exitCodeOfSync(res), 1);
  t.same(
    res.errors.map((e) => e.context.table),
    ['b'],
  );
  const a = await query<{ id: string; name: string }>(url, 'SELECT id::text, name FROM a ORDER BY id');
  t.same(
    a.map((r) => r.name),
    ['p', 'q'],
    'a: rewritten, and its stale row (id 2) deleted',
  );
  const b = await query<{ id: string; name: string }>(url, 'SELECT id::text, name FROM b ORDER BY id');
  t.same(
    b.map((r) => r.name),
    ['x', 'y', 'z'],
    'b: nothing of this sync committed, no delete-stale',
  );
});

t.test('file destination: a table Parquet cannot store fails alone; the other tables are written', async (t) => {
  const dir = await tmpDir(t);
  const unionType = new A.DenseUnion([0, 1], [new A.Field('i', new A.Int32(), true), new A.Field('s', new A.Utf8(), true)]);
  const bad = new A.Schema([new A.Field('u', unionType, true)], new Map([['cq:table_name', 'unions']]));
  const unionData = A.makeData({
    type: unionType,
    length: 2,
    nullCount: 0,
    typeIds: Int8Array.from([0, 1]),
    valueOffsets: Int32Array.from([0, 0]),
    children: [
      A.makeData({ type: new A.Int32(), length: 1, data: Int32Array.from([7]) }),
      A.makeData({ type: new A.Utf8(), length: 1, valueOffsets: Int32Array.from([0, 1]), data: Uint8Array.from([0x61]) }),
    ],
  });
  const badBatch = new A.RecordBatch(bad, A.makeData({ type: new A.Struct(bad.fields), length: 2, nullCount: 0, children: [unionData] }));
  const src = staticSource(
    [ITEMS, bad],
    [
      ...inserts('items', itemsBatch([{ id: 1, name: 'a', value: 1 }])),
      { kind: 'insert', table: 'unions', batch: badBatch },
      ...inserts('items', itemsBatch([{ id: 2, name: 'b', value: 2 }])),
    ],
    { destinations: ['lake'] },
  );
  const res = await runSync({
    config: config(
      [src.spec],
      [
        destSpec({
          name: 'lake',
          path: 'file',
          write_mode: 'append',
          spec: { path: `${dir}/{{TABLE}}/{{UUID}}.{{FORMAT}}`, format: 'parquet', batch_size: 1 },
        }),
      ],
    ),
  });
  t.equal(exitCodeOfSync(res), 1);
  t.same(
    res.errors.map((e) => [e.code, e.context.table]),
    [['CQ_ERR_SCHEMA_INCOMPATIBLE', 'unions']],
  );
  t.match(res.errors[0]!.message, /union/);
  const rows = await duckdb(`SELECT id FROM read_parquet('${dir}/items/*.parquet') ORDER BY id`);
  t.same(
    rows.map((r) => Number(r.id)),
    [1, 2],
    'items: both batches, including the one after the failure',
  );
});

t.test('two destinations: a table one of them fails does not advance its state; the others do', async (t) => {
  const url = await freshDatabase('iso');
  const dir = await tmpDir(t);
  const stateDir = path.join(dir, 'state');
  const run = (rows: number) =>
    runSync({
      config: config(
        [
          sourceSpec({
            path: 'test',
            destinations: ['pg', 'mem'],
            backend_options: { table_name: 'cq_state', connection: `file://${stateDir}` },
            spec: { num_tables: 2, num_rows: rows, batch_rows: 500, preset: 'all-types', incremental: true },
          }),
        ],
        [
          destSpec({ name: 'pg', path: 'postgresql', write_mode: 'overwrite', spec: { connection_string: url, batch_size: 500 } }),
          destSpec({ name: 'mem', path: 'memory', write_mode: 'overwrite', spec: { batch_size: 500 } }),
        ],
      ),
    });
  t.equal(exitCodeOfSync(await run(0)), 0);
  await query(url, 'ALTER TABLE test_table_0 ADD CONSTRAINT below_1200 CHECK (id < 1200)');
  const res = await run(3000);
  t.equal(exitCodeOfSync(res), 1);
  t.same(
    res.errors.map((e) => e.context.table),
    ['test_table_0'],
  );
  t.same(
    res.summaries.map((s) => [s.destination_name, s.destination_errors]),
    [
      ['pg', 1],
      ['mem', 0],
    ],
    'the summary names the destination that failed',
  );
  const state = JSON.parse(await readFile(path.join(stateDir, 'cq_state.json'), 'utf8')) as Record<string, { value: string }>;
  const saved = (k: string) => Object.entries(state).find(([key]) => key.endsWith(k))?.[1].value;
  t.equal(saved('test_table_1'), cursorOf(2999), 'both destinations committed test_table_1');
  t.equal(saved('test_table_0'), cursorOf(999), 'test_table_0: the last checkpoint pg committed (rows 0..999), though mem has all 3000');
  t.same(await counts(url, ['test_table_0', 'test_table_1']), { test_table_0: 1000, test_table_1: 3000 });
});

t.test("read | write: a table the destination fails exits 1 naming it; the other table is written, the failed table's state stays", async (t) => {
  const { writeFile } = await import('node:fs/promises');
  const { CLI_SHELL, shell } = await import('./helpers/cli.js');
  const url = await freshDatabase('iso');
  const dir = await tmpDir(t);
  const cfg = path.join(dir, 'pipe.yml');
  const stateDir = path.join(dir, 'state');
  const write = (rows: number) =>
    writeFile(
      cfg,
      `kind: source
spec:
  name: src
  path: test
  destinations: [pg]
  backend_options: { table_name: cq_state, connection: "file://${stateDir}" }
  spec: { num_tables: 2, num_rows: ${rows}, batch_rows: 500, preset: all-types, incremental: true }
---
kind: destination
spec: { name: pg, path: postgresql, write_mode: overwrite, spec: { connection_string: "${url}", batch_size: 500 } }
`,
    );
  const pipe = () => shell(`${CLI_SHELL} read "${cfg}" --log-level error | ${CLI_SHELL} write "${cfg}" --log-level error`);
  await write(0);
  t.equal(pipe().status, 0, 'tables created');
  await query(url, 'ALTER TABLE test_table_1 ADD CONSTRAINT below_1200 CHECK (id < 1200)');
  await write(2000);
  const r = pipe();
  t.equal(r.status, 1, r.stderr);
  t.match(r.stderr, /table test_table_1 failed in destination pg: .*below_1200/);
  t.match(r.stderr, /Sync completed with errors.*Errors: 1/);
  t.same(await counts(url, ['test_table_0', 'test_table_1']), { test_table_0: 2000, test_table_1: 1000 });
  const state = JSON.parse(await readFile(path.join(stateDir, 'cq_state.json'), 'utf8')) as Record<string, { value: string }>;
  const saved = (k: string) => Object.entries(state).find(([key]) => key.endsWith(k))?.[1].value;
  t.equal(saved('test_table_0'), cursorOf(1999));
  t.equal(saved('test_table_1'), cursorOf(999), 'the failed table stays at its last committed checkpoint');
});
