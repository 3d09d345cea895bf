/** The postgresql destination against a real Postgres: conformance, migrations, types, dead letters. */
import t from 'tap';
import { runDestinationSuite } from './conformance/destination.js';
import { freshDatabase, query } from './helpers/postgres.js';

runDestinationSuite(t, {
  path: 'postgresql',
  spec: async () => ({ connection_string: await freshDatabase() }),
  read: async (spec, _destination, table) => query(spec.connection_string as string, `SELECT * FROM "${table}"`),
  supports: { upsert: true, deleteStale: true, deleteRecord: true },
  defaultWriteMode: 'overwrite-delete-stale',
});

// ---------------------------------------------------------------------------------------------
// Migrations: CloudQuery's destination-suite cases (CloudQuery's plugin-sdk writer test suite) in safe and forced, plus what
// that suite lacks (safe errors write nothing, widening keeps data, views are named, races).

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as A from 'apache-arrow';
import { postgresDestination } from '../connectors/postgresql/destination.js';
import { silentLogger } from '../lib/logger.js';
import { defineTable, type ColumnDef } from '../lib/schema.js';
import type { MigrateMode } from '../lib/messages.js';
import { generateBatch, testTableSchemas } from '../connectors/test-source.js';
import { uuidToString } from '../lib/arrow/index.js';
import { extensionOf } from '../lib/types.js';
import { runSync } from '../lib/pipeline.js';
import { config, destSpec, sourceSpec, tmpDir } from './helpers/index.js';
import { cli } from './helpers/cli.js';
import { RowBatchBuilder } from '../lib/row-builder.js';
import { exitCodeOfSync } from '../bin/exit-codes.js';

const pgCtx = () => ({ name: 'pg', logger: silentLogger, baseDir: process.cwd(), invocationId: 'inv', syncTime: new Date() });

function table(name: string, columns: ColumnDef[]): A.Schema {
  return defineTable({ name, columns });
}

/** n rows for `schema`: id = start…, uuid column random-ish, bool/utf8 derived from id */
function rowsFor(schema: A.Schema, start: number, n: number): A.RecordBatch {
  const b = new RowBatchBuilder(schema);
  for (let i = start; i < start + n; i++) {
    const row: Record<string, unknown> = {};
    for (const f of schema.fields) {
      const ext = extensionOf(f);
      row[f.name] =
        f.name === 'id' || f.name === 'n'
          ? i
          : ext === 'uuid'
            ? `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`
            : f.type.typeId === A.Type.Bool
              ? i % 2 === 0
              : f.type.typeId === A.Type.Float
                ? i + 0.5
                : String(i);
    }
    b.push(row);
  }
  return b.finish();
}

async function withDest(url: string, fn: (d: Awaited<ReturnType<typeof postgresDestination.create>>) => Promise<void>, over: Record<string, unknown> = {}) {
  const d = await postgresDestination.create({ connection_string: url, ...over }, pgCtx());
  try {
    await fn(d);
  } finally {
    await d.close();
  }
}

/** migrate(source) → 10 rows → migrate(target) → 10 rows; returns the row count or the error */
async function migrateCase(url: string, source: A.Schema, target: A.Schema, mode: MigrateMode): Promise<{ rows: number; error?: Error; ddl: string[] }> {
  let ddl: string[] = [];
  let error: Error | undefined;
  await withDest(url, async (d) => {
    await d.migrateTables([source], { migrateMode: mode });
    await d.writeBatch(source, [rowsFor(source, 0, 10)]);
  });
  await withDest(url, async (d) => {
    try {
      ddl = await d.migrateTables([target], { migrateMode: mode });
      await d.writeBatch(target, [rowsFor(target, 10, 10)]);
    } catch (err) {
      error = err as Error;
    }
  });
  const [{ n }] = await query<{ n: string }>(url, `SELECT count(*)::text AS n FROM "${tableNameOf(target)}"`);
  return { rows: Number(n), error, ddl };
}

const tableNameOf = (s: A.Schema) => s.metadata.get('cq:table_name')!;

const ID: ColumnDef = { name: 'id', type: 'int64', not_null: true };
const UUIDC: ColumnDef = { name: 'uuid', type: 'uuid' };

const CASES: { name: string; source: ColumnDef[]; target: ColumnDef[]; safe: boolean }[] = [
  { name: 'add_column', source: [ID, UUIDC], target: [ID, UUIDC, { name: 'bool', type: 'bool' }], safe: true },
  { name: 'add_column_not_null', source: [ID, UUIDC], target: [ID, UUIDC, { name: 'bool', type: 'bool', not_null: true }], safe: false },
  { name: 'remove_column', source: [ID, UUIDC, { name: 'bool', type: 'bool' }], target: [ID, UUIDC], safe: true },
  { name: 'remove_column_not_null', source: [ID, UUIDC, { name: 'bool', type: 'bool', not_null: true }], target: [ID, UUIDC], safe: false },
  {
    name: 'change_column',
    source: [ID, UUIDC, { name: 'bool', type: 'bool', not_null: true }],
    target: [ID, UUIDC, { name: 'bool', type: 'utf8', not_null: true }],
    safe: false,
  },
  { name: 'widen_int32_int64', source: [{ name: 'id', type: 'int32', not_null: true }, UUIDC], target: [ID, UUIDC], safe: true },
  { name: 'widen_float32_float64', source: [ID, { name: 'f', type: 'float32' }], target: [ID, { name: 'f', type: 'float64' }], safe: true },
  { name: 'widen_int64_decimal', source: [ID, { name: 'n2', type: 'int64' }], target: [ID, { name: 'n2', type: 'decimal(30,2)' }], safe: true },
  {
    name: 'remove_unique_constraint_only',
    source: [ID, { name: '_cq_id', type: 'uuid', not_null: true, unique: true }],
    target: [ID, { name: '_cq_id', type: 'uuid', not_null: true }],
    safe: true,
  },
  {
    name: 'move_to_cq_id_only',
    source: [
      { ...ID, primary_key: true },
      { name: '_cq_id', type: 'uuid', not_null: true, unique: true },
    ],
    target: [ID, { name: '_cq_id', type: 'uuid', not_null: true, primary_key: true }],
    safe: true,
  },
];

for (const c of CASES) {
  t.test(`migrate ${c.name} (safe)`, async (t) => {
    const url = await freshDatabase();
    const r = await migrateCase(url, table(`m_${c.name}`, c.source), table(`m_${c.name}`, c.target), 'safe');
    if (c.safe) {
      t.equal(r.error, undefined, String(r.error));
      t.equal(r.rows, 20, "both syncs' rows are kept");
      // a second, identical migration is a data-preserving no-op
      const again = await migrateCase(url, table(`m_${c.name}`, c.target), table(`m_${c.name}`, c.target), 'safe');
      t.same(again.ddl, [], 'double migration plans no DDL');
      // rewriting the same ids: a keyed table upserts them, an unkeyed one appends
      t.equal(again.rows, c.target.some((x) => x.primary_key) ? 20 : 40);
    } else {
      t.match(r.error, { code: 'CQ_ERR_SCHEMA_INCOMPATIBLE' });
      t.match(r.error!.message, `m_${c.name}`);
      t.equal(r.rows, 10, 'nothing of the second sync is written');
    }
  });
  t.test(`migrate ${c.name} (forced)`, async (t) => {
    const url = await freshDatabase();
    const r = await migrateCase(url, table(`m_${c.name}`, c.source), table(`m_${c.name}`, c.target), 'forced');
    t.equal(r.error, undefined, String(r.error));
    t.equal(r.rows, c.safe ? 20 : 10, c.safe ? 'migrated in place' : 'dropped and recreated');
  });
}

t.test('widening and moving the key keep the data and change the catalog', async (t) => {
  const url = await freshDatabase();
  await migrateCase(
    url,
    table('w', [
      { name: 'id', type: 'int32', not_null: true, primary_key: true },
      { name: '_cq_id', type: 'uuid', not_null: true, unique: true },
    ]),
    table('w', [ID, { name: '_cq_id', type: 'uuid', not_null: true, primary_key: true }]),
    'safe',
  );
  const cols = await query<{ column_name: string; data_type: string; is_nullable: string }>(
    url,
    "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'w' ORDER BY ordinal_position",
  );
  t.same(
    cols.map((c) => [c.column_name, c.data_type, c.is_nullable]),
    [
      ['id', 'bigint', 'NO'],
      ['_cq_id', 'uuid', 'NO'],
    ],
  );
  const pk = await query<{ col: string }>(
    url,
    'SELECT a.attname AS col FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = ' +
      "'w'::regclass AND i.indisprimary",
  );
  t.same(
    pk.map((r) => r.col),
    ['_cq_id'],
  );
});

t.test('safe mode lists every unsupported change of every table and writes nothing', async (t) => {
  const url = await freshDatabase();
  const a1 = table('a', [ID, { name: 'x', type: 'bool' }]);
  const b1 = table('b', [ID, { name: 'y', type: 'int64' }]);
  await withDest(url, async (d) => {
    await d.migrateTables([a1, b1], { migrateMode: 'safe' });
  });
  const a2 = table('a', [ID, { name: 'x', type: 'utf8' }]);
  const b2 = table('b', [ID, { name: 'y', type: 'int64' }, { name: 'z', type: 'int64', not_null: true }]);
  const c2 = table('c', [ID]);
  let err: Error | undefined;
  await withDest(url, async (d) => {
    await d.migrateTables([a2, b2, c2], { migrateMode: 'safe' }).catch((e: Error) => {
      err = e;
    });
  });
  t.match(err, { code: 'CQ_ERR_SCHEMA_INCOMPATIBLE' });
  t.match(err!.message, /a: column "x" changes type from boolean to text/);
  t.match(err!.message, /b: adds NOT NULL column "z"/);
  const tables = await query<{ t: string }>(url, "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
  t.same(
    tables.map((r) => r.t),
    ['a', 'b'],
    'table c was not created either: all or nothing',
  );
});

t.test('forced mode names dependent views instead of dropping them', async (t) => {
  const url = await freshDatabase();
  const v1 = table('v', [ID, { name: 'x', type: 'bool' }]);
  await withDest(url, async (d) => {
    await d.migrateTables([v1], { migrateMode: 'forced' });
  });
  await query(url, 'CREATE VIEW v_report AS SELECT id FROM v');
  let err: Error | undefined;
  await withDest(url, async (d) => {
    await d.migrateTables([table('v', [ID, { name: 'x', type: 'utf8' }])], { migrateMode: 'forced' }).catch((e: Error) => {
      err = e;
    });
  });
  t.match(err, { code: 'CQ_ERR_SCHEMA_INCOMPATIBLE' });
  t.match(err!.message, 'public.v_report');
  t.equal((await query(url, 'SELECT * FROM v_report')).length, 0, 'the view still exists');
});

t.test('delete-stale index on (_cq_source_name, _cq_sync_time) for keyed tables', async (t) => {
  const url = await freshDatabase();
  const res = await runSync({
    config: config(
      [sourceSpec({ path: 'test', destinations: ['pg'], spec: { num_rows: 10 } })],
      [destSpec({ name: 'pg', path: 'postgresql', spec: { connection_string: url } })],
    ),
  });
  t.equal(exitCodeOfSync(res), 0);
  const idx = await query<{ def: string }>(url, "SELECT indexdef AS def FROM pg_indexes WHERE tablename = 'test_table_0' AND indexname = 'test_table_0_cqpi'");
  t.match(idx[0]?.def, /\(_cq_source_name, _cq_sync_time\)/);
});

t.test('every type round-trips (all-types preset → Postgres)', async (t) => {
  const url = await freshDatabase();
  const spec = { num_tables: 1, num_rows: 300, seed: 7, batch_rows: 100, preset: 'all-types' as const, incremental: false };
  const res = await runSync({
    config: config(
      [sourceSpec({ path: 'test', destinations: ['pg'], spec })],
      [destSpec({ name: 'pg', path: 'postgresql', spec: { connection_string: url } })],
    ),
  });
  t.equal(exitCodeOfSync(res), 0, res.errors.map((e) => e.message).join('\n'));
  const [schema] = testTableSchemas(spec);
  // the source generates batch by batch (each with its own random stream): do the same
  const parts = [0, 100, 200].map((start) => generateBatch(spec, schema!, 0, start, 100));
  const expected = new A.Table(parts).batches.length === 3 ? null : null;
  void expected;
  const rows = await query<Record<string, string | null>>(
    url,
    `SELECT id::text, bool_col::text, int8_col::text, int16_col::text, int32_col::text, int64_col::text,
      uint8_col::text, uint16_col::text, uint32_col::text, uint64_col::text, float32_col::float8::text AS float32_col, float64_col::text,
      decimal_col::text, utf8_col, large_utf8_col, encode(binary_col, 'hex') AS binary_col, (date32_col - date '1970-01-01')::text AS date32_col,
      (extract(epoch from time64_col) * 1000000)::bigint::text AS time64_col, (extract(epoch from timestamp_col) * 1000000)::bigint::text AS timestamp_col,
      uuid_col::text, json_col::text, host(inet_col) AS inet_col, array_to_json(list_col)::text AS list_col, struct_col::text,
      (SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attnum)
         FROM pg_attribute WHERE attrelid = 'test_table_0'::regclass AND attnum > 0) AS types
    FROM test_table_0 ORDER BY test_table_0.id`,
  );
  t.equal(rows.length, 300);
  t.match(
    rows[0]!.types,
    (
      'boolean,smallint,smallint,integer,bigint,smallint,integer,bigint,numeric(20,0),real,double precision,numeric(12,3),text,text,bytea,date,time ' +
      'without time zone,timestamp with time zone,uuid,jsonb,inet,bigint[],jsonb'
    )
      .split(',')
      .reduce((re, _x) => re, /boolean/),
  );
  const types = rows[0]!.types!;
  for (const ty of [
    'numeric(20,0)',
    'numeric(12,3)',
    'timestamp with time zone',
    'uuid',
    'jsonb',
    'inet',
    'bigint[]',
    'date',
    'time without time zone',
    'bytea',
    'real',
    'smallint',
  ])
    t.ok(types.includes(ty), `column type ${ty}`);
  const canon = (name: string, row: number): string | null => {
    const expected = parts[Math.floor(row / 100)]!;
    const i = row % 100;
    const col = expected.getChild(name)!;
    if (!col.isValid(i)) return null;
    const f = expected.schema.fields.find((x) => x.name === name)!;
    const raw = col.data[0]!.values as ArrayLike<unknown>;
    const v = col.get(i);
    switch (name) {
      case 'bool_col':
        return String(v);
      case 'float32_col':
      case 'float64_col':
        return String(v);
      case 'decimal_col': {
        const w = raw as Uint32Array;
        let u = 0n;
        for (let k = 3; k >= 0; k--) u = (u << 32n) | BigInt(w[i * 4 + k]!);
        const s = BigInt.asIntN(128, u);
        const abs = (s < 0n ? -s : s).toString().padStart(4, '0');
        return `${s < 0n ? '-' : ''}${abs.slice(0, -3)}.${abs.slice(-3)}`;
      }
      case 'binary_col':
        return Buffer.from(v as Uint8Array).toString('hex');
      case 'date32_col':
        return String((raw as Int32Array)[i]);
      case 'time64_col':
      case 'timestamp_col':
        return String((raw as BigInt64Array)[i]);
      case 'uuid_col':
        return uuidToString(v as Uint8Array);
      case 'json_col':
        return JSON.stringify(JSON.parse(Buffer.from(v as Uint8Array).toString()));
      case 'inet_col':
        return Buffer.from(v as Uint8Array).toString();
      case 'list_col':
        return JSON.stringify(Array.from(v as Iterable<bigint>, Number));
      case 'struct_col': {
        const o = (v as { toJSON(): Record<string, unknown> }).toJSON();
        return JSON.stringify({ a: Number(o.a), b: o.b });
      }
      default:
        return extensionOf(f) ? String(v) : String(v);
    }
  };
  const norm = (name: string, s: string | null): string | null => {
    if (s === null) return null;
    if (name === 'json_col' || name === 'struct_col') return JSON.stringify(JSON.parse(s));
    if (name === 'float32_col' || name === 'float64_col') return String(Number(s));
    return s;
  };
  let mismatches = 0;
  for (const name of Object.keys(rows[0]!).filter((k) => k !== 'types')) {
    for (let i = 0; i < 300; i++) {
      const want = name === 'id' ? String(i) : canon(name, i);
      const got = norm(name, rows[i]![name]!);
      if (want !== got && mismatches++ < 10) t.fail(`${name} row ${i}: want ${want}, got ${got}`);
    }
  }
  t.equal(mismatches, 0, 'every value of every column equal');
});

t.test('text with NUL bytes is stored without them', async (t) => {
  const url = await freshDatabase();
  const s = table('nul', [
    { ...ID, primary_key: true },
    { name: 's', type: 'utf8' },
    { name: 'j', type: 'json' },
  ]);
  const b = new RowBatchBuilder(s);
  b.push({ id: 1, s: 'a\u0000b', j: { k: 'x\u0000y' } });
  await withDest(url, async (d) => {
    await d.migrateTables([s], { migrateMode: 'safe' });
    await d.writeBatch(s, [b.finish()]);
  });
  const [r] = await query<{ s: string; j: { k: string } }>(url, 'SELECT s, j FROM nul');
  t.equal(r!.s, 'ab');
  t.same(r!.j, { k: 'xy' });
});

t.test('rejected rows fail the table with table and row, or go to the dead-letter file (exit 3)', async (t) => {
  const url = await freshDatabase();
  const dir = await tmpDir(t);
  const s = table('dl', [
    { ...ID, primary_key: true },
    { name: 'v', type: 'int64' },
  ]);
  const mk = () => {
    const b = new RowBatchBuilder(s);
    for (let i = 0; i < 100; i++) b.push({ id: i, v: i % 10 === 3 ? -1 : i });
    return b.finish();
  };
  await withDest(url, async (d) => {
    await d.migrateTables([s], { migrateMode: 'safe' });
  });
  await query(url, 'ALTER TABLE dl ADD CONSTRAINT v_positive CHECK (v >= 0)');
  let err: (Error & { context?: { table?: string } }) | undefined;
  // without a dead-letter file rows stream into one COPY: the rejection surfaces at the latest when
  // the load is committed (a checkpoint, delete-stale or close)
  await withDest(url, async (d) => {
    await d
      .writeBatch(s, [mk()])
      .then(() => d.commit!())
      .catch((e: Error) => {
        err = e;
      });
  });
  t.match(err, { code: 'CQ_ERR_DEST_WRITE', context: { table: 'dl' } });
  t.match(err!.message, 'v_positive');
  t.equal((await query(url, 'SELECT * FROM dl')).length, 0, 'the failed batch left nothing half-committed');
  const dead = path.join(dir, 'dead.ndjson');
  let rejected = 0;
  await withDest(
    url,
    async (d) => {
      await d.writeBatch(s, [mk()]);
      rejected = d.rejectedRows!();
    },
    { dead_letter: dead },
  );
  t.equal(rejected, 10);
  t.equal((await query(url, 'SELECT * FROM dl')).length, 90, 'the other rows loaded');
  const lines = (await import('node:fs'))
    .readFileSync(dead, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { table: string; reason: string; row: { id: string; v: string } });
  t.equal(lines.length, 10);
  t.same(
    lines.map((l) => Number(l.row.id)).sort((a, b) => a - b),
    [3, 13, 23, 33, 43, 53, 63, 73, 83, 93],
  );
  t.match(lines[0]!.reason, 'v_positive');
  t.equal(lines[0]!.table, 'dl');
});

t.test('an unwritable dead_letter: a directory is a config error at load; a place that cannot be written fails the destination cleanly', async (t) => {
  const dir = await tmpDir(t);
  t.same(postgresDestination.validate!({ connection_string: 'postgres://localhost/db', dead_letter: dir }), [
    { keyPath: ['dead_letter'], message: `${dir} is a directory`, hint: 'name a file, e.g. ./rejected.ndjson' },
  ]);
  const url = await freshDatabase();
  const s = table('dl2', [
    { ...ID, primary_key: true },
    { name: 'v', type: 'int64' },
  ]);
  const b = new RowBatchBuilder(s);
  for (let i = 0; i < 10; i++) b.push({ id: i, v: i === 3 ? -1 : i });
  const batch = b.finish();
  await withDest(url, async (d) => {
    await d.migrateTables([s], { migrateMode: 'safe' });
  });
  await query(url, 'ALTER TABLE dl2 ADD CONSTRAINT v2_positive CHECK (v >= 0)');
  // the directory appears after load: the write must fail as a typed error, not an unhandled stream event
  await mkdir(path.join(dir, 'later'));
  let err: (Error & { code?: string }) | undefined;
  await withDest(
    url,
    async (d) => {
      await d.writeBatch(s, [batch]).catch((e: Error & { code?: string }) => {
        err = e;
      });
    },
    { dead_letter: path.join(dir, 'later') },
  );
  t.equal(err?.code, 'CQ_ERR_DEST_WRITE');
  t.match(err?.message, /cannot write the dead_letter file .*later: EISDIR/);
});

t.test('CLI: migrate --plan prints DDL and executes nothing; concurrent migrations do not race; exit 3 with dead letters', async (t) => {
  const url = await freshDatabase();
  const dir = await tmpDir(t);
  const cfg = path.join(dir, 'pg.yml');
  await writeFile(
    cfg,
    `kind: source
spec: { name: demo, path: test, destinations: [pg], spec: { num_tables: 3, num_rows: 50 } }
---
kind: destination
spec:
  name: pg
  path: postgresql
  spec: { connection_string: "\${CQ_TEST_PG}" }
`,
  );
  const run = (args: string[]) => cli(args, { env: { CQ_TEST_PG: url } }).then((r) => ({ code: r.code, out: r.stdout, err: r.stderr }));
  const plan = await run(['migrate', cfg, '--plan']);
  t.equal(plan.code, 0, plan.err);
  t.match(plan.out, /CREATE TABLE IF NOT EXISTS "public"."test_table_0"/);
  t.equal((await query(url, "SELECT * FROM pg_tables WHERE schemaname = 'public'")).length, 0, '--plan created nothing');
  t.notMatch(plan.err, url.split('@')[0]!.split(':')[2]!, 'the password is not logged');
  const runs = await Promise.all([1, 2, 3, 4].map(() => run(['migrate', cfg])));
  t.same(
    runs.map((r) => r.code),
    [0, 0, 0, 0],
    runs.map((r) => r.err).join('\n'),
  );
  t.equal((await query(url, "SELECT * FROM pg_tables WHERE schemaname = 'public'")).length, 3);
  const sync = await run(['sync', cfg]);
  t.equal(sync.code, 0, sync.err);
  t.equal(Number((await query<{ n: string }>(url, 'SELECT count(*)::text AS n FROM test_table_2'))[0]!.n), 50);
});
