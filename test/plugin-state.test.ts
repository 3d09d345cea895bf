/**
 * State for CloudQuery plugin sources (docs/plugins.md "State for plugin sources", docs/incremental.md):
 * the gRPC state service driven call by call as the Go SDK's state client drives it; syncs of the
 * SDK-built plugin that keep a cursor per table in a file and a Postgres backend and resume from it;
 * state written mid-sync held until the Sync stream ends; the plugin killed mid-sync and cq-pipe
 * killed while the plugin flushes (the cursor never passes committed rows); `deterministic_cq_id`
 * passed to the plugin (its `delete_record`: test/plugin-delete-record.test.ts).
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import type * as grpcTypes from '@grpc/grpc-js';
import * as A from 'apache-arrow';
import t, { type Test } from 'tap';
import { exitCodeOfSync } from '../bin/exit-codes.js';
import { pluginSource } from '../connectors/cloudquery-plugin/source.js';
import { MAX_SOCKET_PATH, StateService } from '../connectors/cloudquery-plugin/state-service.js';
import { v3 } from '../connectors/cloudquery-plugin/grpc-client.js';
import { memoryTables } from '../connectors/memory.js';
import { withRegistry } from '../lib/config/index.js';
import type { DestinationSpec, SourceSpec } from '../lib/config/types.js';
import { createLogger } from '../lib/logger.js';
import type { SyncMessage } from '../lib/messages.js';
import { runSync } from '../lib/pipeline.js';
import type { Registry } from '../lib/registry.js';
import { GoStateClient, stateRecord, stateTableSchema } from './fixtures/plugins/state-client.js';
import { destSpec, sourceSpec, tmpDir } from './helpers/index.js';
import { cliSpawn, cli } from './helpers/cli.js';
import { freshDatabase, query } from './helpers/postgres.js';
import { PLUGIN_PATH, registryWith, servePlugin } from './helpers/sdk-plugin.js';

const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js') as typeof grpcTypes;

const lines: string[] = [];
const logger = createLogger({ level: 'debug', write: (l) => lines.push(l) });
const heldWrites = () => lines.filter((l) => /state write of \d+ key\(s\), held until its Sync stream ends/.test(l)).length;

function grpcCode(err: unknown): number | undefined {
  return (err as grpcTypes.ServiceError).code;
}

t.test('the state service, driven call by call as the Go SDK state client drives it', async (t) => {
  for (const network of ['unix', 'tcp'] as const) {
    const service = await StateService.start({ tableName: 'cq_state_x', saved: new Map([['a', '1']]), plugin: 'plugin p', logger, network });
    t.teardown(() => service.stop());
    if (network === 'unix') {
      t.match(service.address, /^unix:\/\/\/.*cq-pipe-state-[0-9a-f]{12}\.sock$/, 'a unix socket address');
      t.ok(service.address.length - 'unix://'.length <= MAX_SOCKET_PATH, `the socket path fits sun_path (${service.address.length - 7} bytes)`);
    } else t.match(service.address, /^127\.0\.0\.1:\d+$/, 'a TCP address');

    // migrate_table + close, then Read: the saved state, read by column position
    const first = (await GoStateClient.connect({ connection: service.address, tableName: 'cq_state_x' }))!;
    t.same([...first.mem], [['a', { value: '1', version: 0n }]], `${network}: Read gives the saved state`);
    first.setKey('a', '2');
    first.setKey('b', 'x');
    first.setKey('c', 'unchanged-then-removed');
    await first.flush();
    first.setKey('c', '');
    await first.flush();
    t.equal(service.writes, 2, 'two Write streams with an insert');

    // a second client sees this sync's writes with the plugin's versions
    const second = (await GoStateClient.connect({ connection: service.address, tableName: 'cq_state_x' }))!;
    t.same(
      [...second.mem].sort(),
      [
        ['a', { value: '2', version: 1n }],
        ['b', { value: 'x', version: 1n }],
      ],
      'Read again: the new values at version 1, the emptied key gone',
    );
    // an older version does not replace a newer one; a higher one does
    const insert = (rows: Parameters<typeof stateRecord>[1]) =>
      second.write([new v3.Write.Request({ insert: new v3.Write.MessageInsert({ record: stateRecord('cq_state_x', rows) }) })]);
    await insert([{ key: 'a', value: 'stale', version: 0n }]);
    await insert([{ key: 'b', value: 'newer', version: 7n }]);
    const third = (await GoStateClient.connect({ connection: service.address, tableName: 'cq_state_x' }))!;
    t.same(third.getKey('a'), '2', 'version 0 after version 1: ignored');
    t.same(third.mem.get('b'), { value: 'newer', version: 7n }, 'version 7: kept');

    // another table, and calls the service does not serve
    await t.rejects(
      second.write([new v3.Write.Request({ migrate_table: new v3.Write.MessageMigrateTable({ table: tableBytes('other_table') }) })]),
      { code: grpc.status.INVALID_ARGUMENT, details: /keeps one table, cq_state_x .*names other_table/ },
      'a migrate of another table: INVALID_ARGUMENT naming both',
    );
    const tablesErr = await new Promise<unknown>((resolve) => second.stub.GetTables(new v3.GetTables.Request(), (err: unknown) => resolve(err)));
    t.equal(grpcCode(tablesErr), grpc.status.UNIMPLEMENTED, 'GetTables: UNIMPLEMENTED');

    // the end of the Sync stream seals it: the keys written, then no more writes
    t.same(await service.seal(), { a: '2', b: 'newer', c: '' }, 'seal: every key this sync wrote (an emptied key as "")');
    third.setKey('a', 'late');
    await t.rejects(third.flush(), { code: grpc.status.FAILED_PRECONDITION }, 'a write after the end: FAILED_PRECONDITION');
    for (const c of [first, second, third]) c.close();
    await service.stop();
    if (network === 'unix') t.notOk(existsSync(service.address.slice('unix://'.length)), 'the socket is removed');
  }
});

function tableBytes(name: string): Uint8Array {
  return A.tableToIPC(new A.Table(stateTableSchema(name)), 'stream');
}

let seq = 0;
function cfg(registry: Registry, source: Partial<SourceSpec>, dest: DestinationSpec) {
  return withRegistry(
    {
      sources: [sourceSpec({ name: 'sdk', path: PLUGIN_PATH, spec: {}, destinations: [dest.name], ...source })],
      destinations: [dest],
      transformers: [],
      secrets: [],
    },
    registry,
  );
}

/** one sync of a freshly served plugin (a Go plugin takes one sync at a time) */
async function syncOnce(t: Test, source: Partial<SourceSpec>, dest: DestinationSpec) {
  const { address } = await servePlugin(t);
  return runSync({ logger, config: cfg(registryWith(pluginSource({ address })), source, dest) });
}

const backends = [
  {
    name: 'file',
    async setup(t: Test) {
      const dir = await tmpDir(t);
      const dest = destSpec({ name: `mem_state_${process.pid}_${++seq}`, path: 'memory' });
      return {
        dest,
        connection: `file://${dir}`,
        saved: async (): Promise<Record<string, string>> => {
          const file = path.join(dir, 'cq_state_sdk.json');
          if (!existsSync(file)) return {};
          const doc = JSON.parse(await readFile(file, 'utf8')) as Record<string, { value: string }>;
          return Object.fromEntries(Object.entries(doc).map(([k, v]) => [k, v.value]));
        },
        count: async (table: string) => memoryTables(dest.name).get(table)?.rows.length ?? 0,
      };
    },
  },
  {
    name: 'postgres',
    async setup() {
      const url = await freshDatabase('pstate');
      const dest = destSpec({ name: 'pg', path: 'postgresql', spec: { connection_string: url } });
      return {
        dest,
        connection: url,
        saved: async (): Promise<Record<string, string>> => {
          const rows = await query<{ key: string; value: string }>(url, 'SELECT key, value FROM cq_state_sdk').catch(() => []);
          return Object.fromEntries(rows.map((r) => [r.key, r.value]));
        },
        count: async (table: string) => {
          const r = await query<{ n: string }>(url, `SELECT count(*)::text AS n FROM ${table}`).catch(() => [{ n: '0' }]);
          return Number(r[0]!.n);
        },
      };
    },
  },
];

for (const b of backends) {
  t.test(`${b.name} backend: the plugin saves a cursor per table; the second sync resumes from it`, async (t) => {
    const { dest, connection, saved, count } = await b.setup(t);
    const source = (rows: number) => ({ backend_options: { table_name: 'cq_state_sdk', connection }, spec: { rows, incremental: true } });
    const first = await syncOnce(t, source(5), dest);
    t.equal(exitCodeOfSync(first), 0, first.fatal?.message ?? 'first sync');
    t.equal(first.resources, 5 + 10 + 2, 'first sync: 5 items, 10 tags, 2 events');
    t.same(await saved(), { items: '5', events: '2' }, 'a cursor per table, saved after the rows');

    const second = await syncOnce(t, source(8), dest);
    t.equal(exitCodeOfSync(second), 0, second.fatal?.message ?? 'second sync');
    t.equal(second.resources, 3 + 6, 'second sync: only the 3 new items and their 6 tags');
    t.same(await saved(), { items: '8', events: '2' }, 'the items cursor moved');
    t.same([await count('items'), await count('item_tags'), await count('events')], [8, 16, 2], 'incremental tables keep their rows (no delete-stale)');
  });
}

t.test('state the plugin writes mid-sync is held: one checkpoint after the last row', async (t) => {
  const { address } = await servePlugin(t);
  const ctx = { name: 'sdk', logger, baseDir: process.cwd(), invocationId: 'inv', syncTime: new Date() };
  const client = await pluginSource({ address }).create({ rows: 6, flush_every: 2, incremental: true }, ctx);
  t.teardown(() => client.close!());
  const tables = await client.tables();
  const before = heldWrites();
  const messages: SyncMessage[] = [];
  const signal = new AbortController().signal;
  for await (const m of client.read(tables, { signal, state: new Map([['events', '1']]), stateTable: 'cq_state_sdk' })) messages.push(m);
  t.equal(heldWrites() - before, 4, 'the plugin flushed 4 times (every 2 rows inside its resolver, and at the end)');
  const kinds = messages.map((m) => m.kind);
  t.equal(kinds.filter((k) => k === 'checkpoint').length, 1, 'one checkpoint');
  t.equal(kinds.lastIndexOf('insert') < kinds.indexOf('checkpoint'), true, 'after every insert');
  const cp = messages.find((m) => m.kind === 'checkpoint');
  t.same(cp?.kind === 'checkpoint' && cp.state, { items: '6', events: '2' }, 'holding the last value of each key');
  const events = messages.filter((m) => m.kind === 'insert' && m.table === 'events');
  t.equal(
    events.reduce((n, m) => n + (m.kind === 'insert' ? m.batch.numRows : 0), 0),
    1,
    'Read gave the plugin the saved events cursor (1): it sent only event 2',
  );
});

t.test('the plugin killed mid-sync after writing state: exit 1 naming it, no cursor saved', async (t) => {
  const dir = await tmpDir(t);
  const dest = destSpec({ name: `mem_kill_${process.pid}`, path: 'memory' });
  const { address, exit } = await servePlugin(t);
  const before = heldWrites();
  const res = await runSync({
    logger,
    config: cfg(
      registryWith(pluginSource({ address })),
      { backend_options: { table_name: 'cq_state_sdk', connection: `file://${dir}` }, spec: { rows: 50, incremental: true, flush_every: 2, exit_after: 6 } },
      dest,
    ),
  });
  t.equal(await exit, 3, 'the plugin exited');
  t.equal(exitCodeOfSync(res), 1);
  t.equal(res.fatal?.code, 'CQ_ERR_SOURCE_READ');
  t.match(res.fatal?.message, new RegExp(`plugin sdk \\(${address}\\): Sync failed`));
  t.equal(heldWrites() - before, 3, 'the plugin had written the items cursor 3 times (up to 6)');
  t.equal(memoryTables(dest.name).get('items')?.rows.length ?? 0, 0, 'while none of those rows had left it');
  t.notOk(existsSync(path.join(dir, 'cq_state_sdk.json')), 'no state saved');
});

t.test('a table that fails keeps the plugin state from being saved (a key cannot be tied to a table)', async (t) => {
  const dir = await tmpDir(t);
  const dest = destSpec({ name: `mem_fail_${process.pid}`, path: 'memory' });
  lines.length = 0;
  const source = { backend_options: { table_name: 'cq_state_sdk', connection: `file://${dir}` }, spec: { rows: 3, incremental: true, fail_table: 'events' } };
  const res = await syncOnce(t, source, dest);
  t.equal(exitCodeOfSync(res), 1);
  t.same(
    res.errors.map((e) => e.context.table),
    ['events'],
  );
  t.equal(memoryTables(dest.name).get('items')!.rows.length, 3, 'the other tables are written');
  t.notOk(existsSync(path.join(dir, 'cq_state_sdk.json')), 'no state saved');
  t.ok(
    lines.some((l) => /its state \(1 key\(s\)\) is not saved because table\(s\) events failed/.test(l)),
    'a warning says why',
  );
});

t.test('deterministic_cq_id is passed to the plugin: UUIDv5 ids, the same on two syncs', async (t) => {
  const ids = async (deterministic: boolean) => {
    const dest = destSpec({ name: `mem_ids_${process.pid}_${++seq}`, path: 'memory' });
    const res = await syncOnce(t, { deterministic_cq_id: deterministic, tables: ['events'], spec: {} }, dest);
    t.equal(exitCodeOfSync(res), 0, res.fatal?.message ?? 'synced');
    return memoryTables(dest.name)
      .get('events')!
      .rows.map((r) => String(r._cq_id))
      .sort();
  };
  const [a, b] = [await ids(true), await ids(true)];
  t.equal(a.length, 2);
  t.same(
    a.map((id) => id[14]),
    ['5', '5'],
    'version 5 ids',
  );
  t.same(a, b, 'the same ids on the second sync');
  const random = await ids(false);
  t.same(
    random.map((id) => id[14]),
    ['4', '4'],
    'without it: version 4',
  );
  t.notSame(random, a);
});

t.test('cq-pipe SIGKILLed while the plugin flushes its state: no row lost, the cursor never ahead (CLI, both config forms)', async (t) => {
  for (const connection of ['"@@plugins.pg.connection"', 'file://./state']) {
    const dir = await tmpDir(t);
    const url = await freshDatabase('pkill');
    const marker = path.join(dir, 'flushing');
    const config = async (rows: number, hold: boolean) => {
      const { address } = await servePlugin(t);
      const spec = JSON.stringify({ rows, incremental: true, ...(hold ? { hold_flush: marker } : {}) });
      await writeFile(
        path.join(dir, 'c.yml'),
        `kind: source\nspec:\n  name: sdk\n  registry: grpc\n  path: "${address}"\n  destinations: [pg]\n` +
          `  backend_options: { table_name: cq_state_sdk, connection: ${connection} }\n  spec: ${spec}\n---\n` +
          `kind: destination\nspec:\n  name: pg\n  path: postgresql\n  spec: { connection_string: "${url}", batch_size: 2 }\n`,
      );
    };
    // the socket of the state service lives in TMPDIR: the killed run's is removed with the test's directory
    const env = { TMPDIR: dir };
    const cursor = async () => (await cli(['state', 'get', 'c.yml', '--source', 'sdk', 'items'], { cwd: dir, env })).stdout.trim();
    const items = async () => Number((await query<{ n: string }>(url, 'SELECT count(*)::text AS n FROM items'))[0]!.n);

    await config(5, false);
    const first = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir, env });
    t.equal(first.code, 0, first.stderr);
    t.equal(await cursor(), '5', `${connection}: the first sync saved items = 5`);

    await config(8, true);
    const { child, done } = cliSpawn(['sync', 'c.yml', '--no-progress'], { cwd: dir, env });
    let exited = false;
    void done.then(() => {
      exited = true;
    });
    while (!existsSync(marker) && !exited) await new Promise((r) => setTimeout(r, 20));
    t.ok(existsSync(marker), 'the plugin is in the middle of its state flush');
    child.kill('SIGKILL');
    t.equal((await done).signal, 'SIGKILL');
    const saved = Number(await cursor());
    t.equal(saved, 5, 'the cursor did not move to the rows of the killed sync');
    const [covered] = await query<{ n: string }>(url, 'SELECT count(*)::text AS n FROM items WHERE id <= $1', [saved]);
    t.equal(Number(covered!.n), saved, 'every row the cursor covers is in the destination');

    await config(8, false);
    const third = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir, env });
    t.equal(third.code, 0, third.stderr);
    t.match(third.stderr, /Resources: 9,/, 'the rerun reads from the saved cursor: 3 items and their 6 tags');
    t.equal(await cursor(), '8');
    t.equal(await items(), 8, 'every row is in the destination');
    await import('node:fs/promises').then((fs) => fs.rm(marker, { force: true }));
  }
});

t.test('a socket path longer than a unix socket allows falls back to TCP on 127.0.0.1', async (t) => {
  const prior = process.env.TMPDIR;
  const long = path.join(os.tmpdir(), 'x'.repeat(120));
  process.env.TMPDIR = long;
  t.teardown(() => {
    if (prior === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = prior;
  });
  const service = await StateService.start({ tableName: 'cq_state_x', saved: new Map(), plugin: 'plugin p', logger });
  t.teardown(() => service.stop());
  t.match(service.address, /^127\.0\.0\.1:\d+$/);
  const c = (await GoStateClient.connect({ connection: service.address, tableName: 'cq_state_x' }))!;
  t.same([...c.mem], [], 'an empty state');
  c.close();
});
