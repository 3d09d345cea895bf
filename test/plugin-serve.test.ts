/**
 * cq-pipe's connectors served as CloudQuery plugins (connectors/cloudquery-plugin/serve/,
 * docs/plugins.md): each launcher written by `cq-pipe plugin <name> install` is started exactly as
 * the CloudQuery CLI starts a `registry: local` plugin, and a gRPC client makes the CLI's calls in
 * the CLI's order — discovery, Init, a Write stream of migrate_table + 10k-row inserts +
 * delete-stale, CloseAndRecv, Close — against a real Postgres; a Go source's state-table round
 * trip (migrate, insert, positional Read, a higher version winning) beside an open Write stream;
 * the test source's GetTables and Sync; UNIMPLEMENTED for Transform; JSON log lines; exit 0 and the
 * socket removed on SIGINT.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';
import type * as A from 'apache-arrow';
import t, { type Test } from 'tap';
import type * as grpcTypes from '@grpc/grpc-js';
import { pluginV3 } from '@cloudquery/plugin-pb-javascript';
import { decodeVersions } from '../connectors/cloudquery-plugin/grpc-client.js';
import { decodeRecord, decodeSchema, encodeRecord, encodeSchema } from '../connectors/cloudquery-plugin/arrow-wire.js';
import { RowBatchBuilder } from '../lib/row-builder.js';
import { defineTable, type ColumnDef } from '../lib/schema.js';
import { cliSpawn, cliSync } from './helpers/cli.js';
import { ROOT, tmpDir } from './helpers/index.js';
import { freshDatabase, query } from './helpers/postgres.js';

const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js') as typeof grpcTypes;
const v3 = pluginV3.cloudquery.plugin.v3;
type Client = InstanceType<typeof v3.PluginClient>;
const MAX = 200 * 1024 * 1024;
const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

interface Plugin {
  client: Client;
  socket: string;
  child: ChildProcess;
  exit: Promise<number | null>;
  /** stdout lines so far */
  lines: string[];
}

/** `cq-pipe plugin <name> install <dir> [--kind k]`, then `<launcher> serve …` exactly as the CloudQuery CLI runs it. */
async function startPlugin(t: Test, name: string, kind?: string): Promise<Plugin> {
  const dir = await tmpDir(t, 'cq-serve-');
  const installed = cliSync(['plugin', name, 'install', dir, ...(kind ? ['--kind', kind] : [])]);
  t.equal(installed.code, 0, installed.stderr);
  const launcher = installed.stdout.trim();
  t.equal(path.basename(launcher), `cq-pipe-${name}${kind ? `-${kind}` : ''}`);
  const socket = path.join(dir, 'cq-test.sock');
  const child = spawn(launcher, ['serve', '--log-level', 'info', '--log-format', 'json', '--network', 'unix', '--address', socket, '--no-sentry'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines: string[] = [];
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const client = new v3.PluginClient(`unix:${socket}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': MAX,
    'grpc.max_send_message_length': MAX,
  });
  t.teardown(() => client.close());
  // as the CLI: dial with a 5 s deadline, 3 attempts (the CLI starts a new process for each; on a busy machine start-up is slower)
  for (let attempt = 1; ; attempt++) {
    const err = await new Promise<Error | undefined>((resolve) => client.waitForReady(Date.now() + 5000, (e?: Error) => resolve(e)));
    if (!err) break;
    if (attempt === 3) throw err;
  }
  return { client, socket, child, exit, lines };
}

function unary<Res>(c: Client, rpc: string, req: unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    (c as unknown as Record<string, (r: unknown, cb: (e: grpcTypes.ServiceError | null, r?: Res) => void) => void>)[rpc]!.call(c, req, (e, r) =>
      e ? reject(e) : resolve(r!),
    );
  });
}

function versions(c: Client): Promise<number[]> {
  return new Promise((resolve, reject) =>
    c.makeUnaryRequest(
      '/cloudquery.discovery.v1.Discovery/GetVersions',
      () => Buffer.alloc(0),
      (b: Buffer) => decodeVersions(b),
      {},
      (e: grpcTypes.ServiceError | null, r?: number[]) => (e ? reject(e) : resolve(r!)),
    ),
  );
}

/** The CLI's discovery and Init (spec JSON, or `null`). */
async function discoverAndInit(t: Test, c: Client, spec: unknown, noConnection = false): Promise<void> {
  t.same(await versions(c), [3], 'discovery v1 answers [3]');
  await unary(c, 'Init', new v3.Init.Request({ spec: spec === null ? new TextEncoder().encode('null') : enc(spec), no_connection: noConnection }));
}

type WriteReq = InstanceType<typeof v3.Write.Request>;

/** One Write stream: send every message (honouring flow control), then CloseAndRecv. */
async function write(c: Client, msgs: Iterable<WriteReq>): Promise<void> {
  let done!: Promise<void>;
  const call = (() => {
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return c.Write((err: grpcTypes.ServiceError | null) => (err ? reject(err) : resolve()));
  })();
  for (const m of msgs) if (!call.write(m)) await Promise.race([once(call, 'drain'), done]);
  call.end();
  await done;
}

/** A client process that sends `msgs` on a Write stream without ending it, then is killed (SIGKILL). */
async function dyingWriter(t: Test, socket: string, msgs: WriteReq[]): Promise<NodeJS.Signals | null> {
  const dir = await tmpDir(t, 'cq-serve-dying-');
  const frames = path.join(dir, 'frames.bin');
  const parts: Buffer[] = [];
  for (const m of msgs) {
    const b = Buffer.from(m.serialize());
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    parts.push(len, b);
  }
  await writeFile(frames, Buffer.concat(parts));
  const code = `
    import { readFileSync } from 'node:fs';
    import grpc from '@grpc/grpc-js';
    const buf = readFileSync(${JSON.stringify(frames)});
    const client = new grpc.Client('unix:${socket}', grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': ${MAX} });
    const call = client.makeClientStreamRequest('/cloudquery.plugin.v3.Plugin/Write', (b) => b, (b) => b, () => {});
    let sent = 0;
    const frames = [];
    for (let p = 0; p < buf.length; ) { const n = buf.readUInt32BE(p); frames.push(buf.subarray(p + 4, p + 4 + n)); p += 4 + n; }
    for (const f of frames) call.write(f, () => { if (++sent === frames.length) process.stdout.write('sent\\n'); });
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  await once(child.stdout!, 'data');
  child.kill('SIGKILL');
  const [, signal] = (await exited) as [number | null, NodeJS.Signals | null];
  return signal;
}

/** Resolves when the plugin has written a stdout line matching `re`. */
async function logLine(p: Plugin, re: RegExp): Promise<string> {
  for (;;) {
    const hit = p.lines.find((l) => re.test(l));
    if (hit) return hit;
    await once(p.child.stdout!, 'data');
  }
}

const migrate = (schema: A.Schema, force = false) =>
  new v3.Write.Request({ migrate_table: new v3.Write.MessageMigrateTable({ table: encodeSchema(schema), migrate_force: force }) });
const insert = (batch: A.RecordBatch) => new v3.Write.Request({ insert: new v3.Write.MessageInsert({ record: encodeRecord(batch) }) });
const deleteStale = (table: string, source: string, at: Date) =>
  new v3.Write.Request({
    delete: v3.Write.MessageDeleteStale.fromObject({
      table_name: table,
      source_name: source,
      sync_time: { seconds: Math.floor(at.getTime() / 1000), nanos: (at.getTime() % 1000) * 1e6 },
    }),
  });

function batchOf(schema: A.Schema, rows: Record<string, unknown>[]): A.RecordBatch {
  const b = new RowBatchBuilder(schema);
  for (const r of rows) b.push(r);
  return b.finish();
}

/** A table as the CLI sends it: `_cq_sync_time` and `_cq_source_name` prepended to a Go source's table. */
const CLI_COLUMNS: ColumnDef[] = [
  { name: '_cq_sync_time', type: 'timestamp' },
  { name: '_cq_source_name', type: 'utf8' },
  { name: '_cq_id', type: 'uuid', not_null: true, unique: true },
  { name: '_cq_parent_id', type: 'uuid' },
];
const ORDERS = defineTable({
  name: 'orders',
  columns: [...CLI_COLUMNS, { name: 'id', type: 'int64', primary_key: true }, { name: 'title', type: 'utf8' }, { name: 'amount', type: 'float64' }],
});

function uuidOf(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

/** `count` order rows from `from`, in 10k-row records (the CLI's batch), synced by `source` at `at`. */
function orderRecords(from: number, count: number, source: string, at: Date): WriteReq[] {
  const out: WriteReq[] = [];
  for (let start = from; start < from + count; start += 10_000) {
    const rows = [];
    for (let id = start; id < Math.min(from + count, start + 10_000); id++) {
      rows.push({ _cq_sync_time: at.toISOString(), _cq_source_name: source, _cq_id: uuidOf(id), id, title: `order ${id}`, amount: id / 4 });
    }
    out.push(insert(batchOf(ORDERS, rows)));
  }
  return out;
}

t.test('postgresql destination: the CLI sync calls, then SIGINT exits 0 and removes the socket', async (t) => {
  const url = await freshDatabase('serve');
  const p = await startPlugin(t, 'postgresql', 'destination');
  const c = p.client;
  t.same(await versions(c), [3]);
  t.equal((await unary<{ name: string }>(c, 'GetName', new v3.GetName.Request())).name, 'postgresql');
  t.match((await unary<{ version: string }>(c, 'GetVersion', new v3.GetVersion.Request())).version, /^v\d+\.\d+\.\d+/);
  const schema = JSON.parse((await unary<{ json_schema: string }>(c, 'GetSpecSchema', new v3.GetSpecSchema.Request())).json_schema);
  t.same(schema.required, ['connection_string'], 'GetSpecSchema is the destination schema');
  t.ok(schema.properties.batch_size, 'with the batch keys');

  // a bad spec: a clear INVALID_ARGUMENT naming the key
  const bad = await unary(c, 'Init', new v3.Init.Request({ spec: enc({ connection_strin: url }) })).catch((e: grpcTypes.ServiceError) => e);
  t.equal((bad as grpcTypes.ServiceError).code, grpc.status.INVALID_ARGUMENT);
  t.match((bad as grpcTypes.ServiceError).details, /CQ_ERR_CONFIG_INVALID.*unknown key "connection_strin" \(did you mean "connection_string"\?\)/);

  type TestConn = { success: boolean; failure_code: string; failure_description: string };
  const badSpec = await unary<TestConn>(c, 'TestConnection', new v3.TestConnection.Request({ spec: enc({ connection_string: 5 }) }));
  t.same([badSpec.success, badSpec.failure_code], [false, 'INVALID_SPEC']);
  t.match(badSpec.failure_description, /spec\.connection_string: must be string/);
  const unreachable = await unary<TestConn>(
    c,
    'TestConnection',
    new v3.TestConnection.Request({ spec: enc({ connection_string: 'postgres://127.0.0.1:1/x' }) }),
  );
  t.same([unreachable.success, unreachable.failure_code], [false, 'CONNECTION_FAILED']);
  t.same((await unary<TestConn>(c, 'TestConnection', new v3.TestConnection.Request({ spec: enc({ connection_string: url }) }))).success, true);

  await unary(c, 'Init', new v3.Init.Request({ spec: enc({ connection_string: url }), invocation_id: 'b6a4f1f0-0000-4000-8000-000000000001' }));
  const t1 = new Date('2024-05-01T10:00:00.000Z');
  const t2 = new Date('2024-05-02T10:00:00.000Z');
  // first sync: 25,000 rows of source "shop" in three records, 5 rows of source "other"
  await write(c, [migrate(ORDERS), ...orderRecords(0, 25_000, 'shop', t1), ...orderRecords(100_000, 5, 'other', t1)]);
  t.same(await query(url, 'SELECT count(*)::int AS n, count(DISTINCT _cq_source_name)::int AS s FROM orders'), [{ n: 25_005, s: 2 }]);
  // second sync: 10,000 rows again (upserted), then delete-stale for "shop"
  await write(c, [migrate(ORDERS), ...orderRecords(0, 10_000, 'shop', t2), deleteStale('orders', 'shop', t2)]);
  t.same(
    await query(
      url,
      `SELECT _cq_source_name AS source, count(*)::int AS n, min(id)::int AS lo, max(id)::int AS hi, max(_cq_sync_time) AS at
         FROM orders GROUP BY 1 ORDER BY 1`,
    ),
    [
      { source: 'other', n: 5, lo: 100_000, hi: 100_004, at: t1 },
      { source: 'shop', n: 10_000, lo: 0, hi: 9_999, at: t2 },
    ],
    'rows of the stale sync deleted, the other source kept',
  );
  t.same(await query(url, 'SELECT title, amount, _cq_id::text AS id FROM orders WHERE id = 4242'), [{ title: 'order 4242', amount: 1060.5, id: uuidOf(4242) }]);
  const cols = await query(url, "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders' ORDER BY ordinal_position");
  t.same(
    cols.map((r) => r.column_name),
    ['_cq_sync_time', '_cq_source_name', '_cq_id', '_cq_parent_id', 'id', 'title', 'amount'],
    'the table has exactly the columns sent: no cq-pipe columns added',
  );

  // a record that does not fit its table fails the stream with a clear status, nothing committed
  const wrong = defineTable({ name: 'orders', columns: [...CLI_COLUMNS, { name: 'id', type: 'int64', primary_key: true }] });
  const failed = await write(c, [migrate(ORDERS), insert(batchOf(wrong, [{ _cq_id: uuidOf(1), id: 1 }]))]).catch((e: grpcTypes.ServiceError) => e);
  t.equal((failed as grpcTypes.ServiceError).code, grpc.status.INVALID_ARGUMENT);
  t.match((failed as grpcTypes.ServiceError).details, /CQ_ERR_SCHEMA_INCOMPATIBLE: a record of table orders does not fit.*no column "title"/);

  // Sync on the destination-only plugin and Transform: UNIMPLEMENTED
  const sync = c.Sync(new v3.Sync.Request({ tables: ['*'] }));
  const [syncErr] = (await once(sync, 'error')) as [grpcTypes.ServiceError];
  t.equal(syncErr.code, grpc.status.UNIMPLEMENTED);
  const tr = c.Transform();
  const [trErr] = (await once(tr, 'error')) as [grpcTypes.ServiceError];
  t.equal(trErr.code, 12, 'Transform: UNIMPLEMENTED (12)');

  await unary(c, 'Close', new v3.Close.Request());
  c.close();
  p.child.kill('SIGINT');
  t.equal(await p.exit, 0, 'exit 0 on SIGINT');
  t.equal(await stat(p.socket).catch(() => 'gone'), 'gone', 'socket removed');
  t.ok(p.lines.length >= 4, `${p.lines.length} log lines`);
  const parsed = p.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.same(
    parsed.filter((l) => typeof l.level !== 'string' || typeof l.message !== 'string' || l.module !== 'cq-pipe-postgresql'),
    [],
    'every stdout line is JSON with level, message and module',
  );
  t.ok(
    p.lines.every((l) => Buffer.byteLength(l) < 4096),
    'every line under 4 KiB',
  );
  t.ok(
    parsed.some((l) => l.level === 'error' && /connection_strin/.test(String(l.message))),
    'the failed Init is logged as an error',
  );
});

const STATE = defineTable({
  name: 'cq_state_shop',
  columns: [
    { name: 'key', type: 'utf8', primary_key: true },
    { name: 'value', type: 'utf8' },
    { name: 'version', type: 'uint64' },
  ],
});

/** `Read(table)` as a Go state client does: every record's columns taken positionally. */
async function readState(c: Client): Promise<[string, string, bigint][]> {
  const call = c.Read(new v3.Read.Request({ table: encodeSchema(STATE) }));
  const out: [string, string, bigint][] = [];
  for await (const res of call as AsyncIterable<InstanceType<typeof v3.Read.Response>>) {
    const { schema, batches } = decodeRecord(res.record);
    if (schema.fields.map((f) => String(f.type)).join(',') !== 'Utf8,Utf8,Uint64') throw new Error(`unexpected types ${schema.fields.map(String)}`);
    for (const b of batches) {
      for (let i = 0; i < b.numRows; i++) out.push([b.getChildAt(0)!.get(i), b.getChildAt(1)!.get(i), b.getChildAt(2)!.get(i)]);
    }
  }
  return out.sort((a, b) => a[0].localeCompare(b[0]));
}

t.test("postgresql destination as a Go source's state backend: migrate, insert, Read positionally, beside an open Write stream", async (t) => {
  const url = await freshDatabase('state');
  const p = await startPlugin(t, 'postgresql');
  const c = p.client;
  await discoverAndInit(t, c, { connection_string: url });

  // the CLI's own Write stream is open for the whole sync
  let mainDone!: (e?: Error) => void;
  const main = new Promise<void>((resolve, reject) => {
    mainDone = (e) => (e ? reject(e) : resolve());
  });
  const mainCall = c.Write((err: grpcTypes.ServiceError | null) => mainDone(err ?? undefined));
  mainCall.write(migrate(ORDERS));
  for (const r of orderRecords(0, 3, 'shop', new Date('2024-05-01T00:00:00Z'))) mainCall.write(r);

  // the state client: migrate through its own stream, Read, then flush changed keys
  await write(c, [migrate(STATE)]);
  t.same(await readState(c), [], 'an empty state table reads as no records');
  await write(c, [
    insert(
      batchOf(STATE, [
        { key: 'orders', value: '2024-05-01T00:00:00Z', version: 1 },
        { key: 'items', value: 'a', version: 1 },
      ]),
    ),
  ]);
  t.same(await readState(c), [
    ['items', 'a', 1n],
    ['orders', '2024-05-01T00:00:00Z', 1n],
  ]);
  await write(c, [insert(batchOf(STATE, [{ key: 'orders', value: '2024-05-02T00:00:00Z', version: 2 }]))]);
  t.same(
    await readState(c),
    [
      ['items', 'a', 1n],
      ['orders', '2024-05-02T00:00:00Z', 2n],
    ],
    'the insert with the higher version replaced the key',
  );
  t.same(await query(url, 'SELECT count(*)::int AS n FROM cq_state_shop'), [{ n: 2 }]);

  mainCall.end();
  await main;
  t.same(await query(url, 'SELECT count(*)::int AS n FROM orders'), [{ n: 3 }], 'the open stream committed at its end');

  // a CloudQuery CLI that dies mid-stream (its connection reset, no end of stream): nothing of the stream is committed
  const died = await dyingWriter(t, p.socket, [migrate(ORDERS), ...orderRecords(1000, 20_000, 'shop', new Date('2024-05-03T00:00:00Z'))]);
  t.equal(died, 'SIGKILL');
  await logLine(p, /Write failed: CQ_ERR_ABORTED/);
  t.same(await query(url, 'SELECT count(*)::int AS n FROM orders'), [{ n: 3 }], 'the broken stream rolled back');

  // Read of a table the database does not have: a clear error
  const missing = c.Read(new v3.Read.Request({ table: encodeSchema(defineTable({ name: 'nope', columns: [{ name: 'key', type: 'utf8' }] })) }));
  const [err] = (await once(missing, 'error')) as [grpcTypes.ServiceError];
  t.match(err.details, /table public\.nope does not exist/);
  await unary(c, 'Close', new v3.Close.Request());
});

t.test('test source: GetTables after Init(no_connection), Sync with migrate first, skip_tables, shard and deterministic _cq_id', async (t) => {
  const p = await startPlugin(t, 'test');
  const c = p.client;
  await discoverAndInit(t, c, { num_tables: 2, num_rows: 2500, batch_rows: 1000 }, true);
  const got = await unary<{ tables: Uint8Array[] }>(c, 'GetTables', new v3.GetTables.Request({ tables: ['*'], skip_tables: [], skip_dependent_tables: true }));
  const schemas = got.tables.map(decodeSchema);
  t.same(
    schemas.map((s) => s.metadata.get('cq:table_name')),
    ['test_table_0', 'test_table_1'],
  );
  const s0 = schemas[0]!;
  t.same(
    s0.fields.slice(0, 3).map((f) => [f.name, f.metadata.get('cq:extension:primary_key'), f.metadata.get('cq:extension:unique')]),
    [
      ['_cq_id', 'false', 'true'],
      ['_cq_parent_id', 'false', 'false'],
      ['id', 'true', 'false'],
    ],
    '_cq_id and _cq_parent_id first; the table keeps its key; no _cq_sync_time / _cq_source_name',
  );
  t.equal(s0.fields[0]!.metadata.get('ARROW:extension:name'), 'uuid');

  const sync = async (req: Record<string, unknown>) => {
    const call = c.Sync(new v3.Sync.Request({ tables: ['*'], skip_tables: [], withErrorMessages: true, ...req }));
    const kinds: string[] = [];
    const migrations: A.Schema[] = [];
    const rows = new Map<string, A.RecordBatch[]>();
    for await (const r of call as AsyncIterable<InstanceType<typeof v3.Sync.Response>>) {
      if (r.has_migrate_table) {
        const schema = decodeSchema(r.migrate_table.table);
        kinds.push(`migrate:${schema.metadata.get('cq:table_name')}`);
        migrations.push(schema);
      }
      if (r.has_insert) {
        const { schema, batches } = decodeRecord(r.insert.record);
        t.equal(batches.length, 1, 'one batch per record');
        const name = schema.metadata.get('cq:table_name')!;
        kinds.push('insert');
        rows.set(name, [...(rows.get(name) ?? []), ...batches]);
      }
    }
    return { kinds, rows, migrations };
  };
  const full = await sync({ skip_tables: ['test_table_1'] });
  t.same(full.kinds.slice(0, 1), ['migrate:test_table_0'], 'the migrate comes first');
  t.equal(full.kinds.filter((k) => k === 'insert').length, 3, '2500 rows in batches of 1000');
  const batches = full.rows.get('test_table_0')!;
  t.equal(
    batches.reduce((n, b) => n + b.numRows, 0),
    2500,
  );
  t.equal(Number(batches[2]!.getChild('id')!.get(499)), 2499, 'the last id');
  t.same([...full.rows.keys()], ['test_table_0'], 'skip_tables honoured');

  const shard = await sync({ shard: new v3.Sync.Request.Shard({ num: 2, total: 2 }) });
  t.same([...shard.rows.keys()], ['test_table_1'], 'shard 2/2 gets the second table');

  const ids = async () => {
    const r = await sync({ tables: ['test_table_0'], deterministic_cq_id: true });
    t.same(
      r.migrations[0]!.fields.filter((f) => f.metadata.get('cq:extension:primary_key') === 'true').map((f) => f.name),
      ['_cq_id'],
      'deterministic_cq_id: _cq_id is the only key of the migrate schema',
    );
    return r.rows.get('test_table_0')![0]!.getChild('_cq_id')!.get(7) as Uint8Array;
  };
  t.same(Buffer.from(await ids()), Buffer.from(await ids()), 'deterministic_cq_id: the same _cq_id twice');

  const badPattern = c.Sync(new v3.Sync.Request({ tables: ['test_tabel_0'] }));
  const [err] = (await once(badPattern, 'error')) as [grpcTypes.ServiceError];
  t.equal(err.code, grpc.status.INVALID_ARGUMENT);
  t.match(err.details, /CQ_ERR_TABLE_PATTERN: tables pattern "test_tabel_0" .* matches no table/);
  p.child.kill('SIGTERM');
  t.equal(await p.exit, 0, 'exit 0 on SIGTERM');
});

t.test('file source: a malformed record fails its table with a MessageError, the other table goes on', async (t) => {
  const dir = await tmpDir(t, 'cq-serve-files-');
  await writeFile(path.join(dir, 'good.ndjson'), '{"id": 1}\n{"id": 2}\n');
  await writeFile(path.join(dir, 'bad.ndjson'), '{"id": 1}\n{"id": "one"}\n');
  const p = await startPlugin(t, 'file', 'source');
  const column = [{ name: 'id', type: 'int64' }];
  await discoverAndInit(t, p.client, {
    tables: [
      { name: 'good', files: path.join(dir, 'good.ndjson'), columns: column },
      { name: 'bad', files: path.join(dir, 'bad.ndjson'), columns: column },
    ],
  });
  const call = p.client.Sync(new v3.Sync.Request({ tables: ['*'], withErrorMessages: true }));
  const errors: [string, string][] = [];
  let rows = 0;
  for await (const r of call as AsyncIterable<InstanceType<typeof v3.Sync.Response>>) {
    if (r.has_error) errors.push([r.error.table_name, r.error.error]);
    if (r.has_insert && decodeSchema(r.insert.record).metadata.get('cq:table_name') === 'good') rows += decodeRecord(r.insert.record).batches[0]!.numRows;
  }
  t.equal(rows, 2, 'the good table synced');
  t.equal(errors.length, 1);
  t.equal(errors[0]![0], 'bad');
  t.match(errors[0]![1], /CQ_ERR_SOURCE_DATA: .*bad\.ndjson:2/);
  const logged = JSON.parse(await logLine(p, /"level":"error"/)) as { message: string };
  t.match(logged.message, /table bad failed: CQ_ERR_SOURCE_DATA/, 'and an error log line the CLI counts');
});

t.test('file destination: a Write stream lands as files of exactly the rows and columns sent', async (t) => {
  const dir = await tmpDir(t, 'cq-serve-out-');
  const p = await startPlugin(t, 'file', 'destination');
  await discoverAndInit(t, p.client, { path: path.join(dir, '{{TABLE}}/{{UUID}}.{{FORMAT}}'), format: 'ndjson', batch_size: 5000 });
  await write(p.client, [migrate(ORDERS), ...orderRecords(0, 12_000, 'shop', new Date('2024-05-01T00:00:00Z'))]);
  const files = (await readdir(path.join(dir, 'orders'))).sort();
  t.equal(files.length, 3, '12,000 rows in files of at most 5,000 (batch_size)');
  const lines = (await Promise.all(files.map((f) => readFile(path.join(dir, 'orders', f), 'utf8')))).flatMap((x) => x.split('\n').filter(Boolean));
  t.equal(lines.length, 12_000);
  const row = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.id === 4242 || r.id === '4242')!;
  t.same(Object.keys(row), ['_cq_sync_time', '_cq_source_name', '_cq_id', '_cq_parent_id', 'id', 'title', 'amount'], 'no columns added');
  t.same([row._cq_source_name, row.title, row._cq_id], ['shop', 'order 4242', uuidOf(4242)]);
  // delete-stale on an append-only store: a clear UNIMPLEMENTED
  const err = await write(p.client, [deleteStale('orders', 'shop', new Date())]).catch((e: grpcTypes.ServiceError) => e);
  t.equal((err as grpcTypes.ServiceError | undefined)?.code, grpc.status.UNIMPLEMENTED);
  t.match((err as grpcTypes.ServiceError).details, /cannot delete stale rows/);
});

t.test('serve --network tcp: the bound address is logged, the plugin answers there, SIGTERM exits 0', async (t) => {
  const { child, done } = cliSpawn(['plugin', 'test', 'serve', '--network', 'tcp', '--address', '127.0.0.1:0', '--log-format', 'json'], {
    collectStdout: false,
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let buf = '';
  let address: string | undefined;
  while (!address) {
    const [d] = (await once(child.stdout!, 'data')) as [Buffer];
    buf += d.toString('utf8');
    const line = buf.split('\n').find((l) => l.includes('"serving'));
    if (line) address = (JSON.parse(line) as { address: string }).address;
  }
  t.match(address, /^127\.0\.0\.1:[1-9]\d*$/);
  const client = new v3.PluginClient(address, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  t.equal((await unary<{ name: string }>(client, 'GetName', new v3.GetName.Request())).name, 'test');
  t.same(await versions(client), [3]);
  child.kill('SIGTERM');
  t.equal((await done).code, 0);
});
