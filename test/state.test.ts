/** Incremental state: backends, checkpoint-after-commit, several destinations, the state command. */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { runSync } from '../lib/pipeline.js';
import { memoryTables } from '../connectors/memory.js';
import { CheckpointTracker, MemoryState, createLogger, openState } from '../index.js';
import { config, destSpec, sourceSpec, tmpDir } from './helpers/index.js';
import { cliSync } from './helpers/cli.js';
import { FAILING_DESTINATION_PATH } from './helpers/failing-destination.js';
import { freshDatabase, query } from './helpers/postgres.js';
import { exitCodeOfSync } from '../bin/exit-codes.js';

const incremental = (rows: number) => ({ num_tables: 1, num_rows: rows, batch_rows: 10, preset: 'all-types', incremental: true });
const cursorAt = (row: number) => new Date(Date.UTC(2024, 0, 1) + row * 1000).toISOString().replace('.000Z', '.000000Z');

let n = 0;

t.test('file backend: the cursor is saved after commit and the next sync reads only from it', async (t) => {
  const dir = await tmpDir(t);
  const dest = `mem_state_${++n}`;
  const backend = { table_name: 'cq_state', connection: `file://${dir}` };
  const src = (rows: number) => sourceSpec({ path: 'test', destinations: [dest], spec: incremental(rows), backend_options: backend });
  const dst = destSpec({ name: dest, path: 'memory', write_mode: 'overwrite-delete-stale' });
  const r1 = await runSync({ config: config([src(95)], [dst]) });
  t.equal(exitCodeOfSync(r1), 0);
  const saved = JSON.parse(await readFile(path.join(dir, 'cq_state.json'), 'utf8')) as Record<string, { value: string; version: string }>;
  t.equal(saved.test_table_0!.value.slice(0, 19), cursorAt(94).slice(0, 19), 'cursor = the last committed row');
  t.equal(memoryTables(dest).get('test_table_0')!.rows.length, 95);
  const r2 = await runSync({ config: config([src(130)], [dst]) });
  t.equal(exitCodeOfSync(r2), 0);
  t.equal(r2.resources, 36, 'only rows at or past the cursor are read (the tie row again: at-least-once)');
  t.equal(memoryTables(dest).get('test_table_0')!.rows.length, 130, 'incremental tables are not delete-staled; the tie is absorbed by the upsert');
});

t.test('two destinations, one failing: the state does not advance', async (t) => {
  const dir = await tmpDir(t);
  const dest = `mem_state_${++n}`;
  const backend = { table_name: 'cq_state', connection: `file://${dir}` };
  const res = await runSync({
    config: config(
      [sourceSpec({ path: 'test', destinations: [dest, 'bad'], spec: incremental(50), backend_options: backend })],
      [destSpec({ name: dest, path: 'memory' }), destSpec({ name: 'bad', path: FAILING_DESTINATION_PATH, spec: { fail_after: 2 } })],
    ),
  });
  t.equal(exitCodeOfSync(res), 1);
  const state = await openState(backend, 'src');
  const saved = state.get('test_table_0');
  await state.close();
  // the failing destination committed 2 batches (rows 0..19) at most: no cursor past row 19
  t.ok(saved === undefined || saved <= cursorAt(19), `cursor ${saved} not past the failing destination's commits`);
});

t.test('a state backend that cannot be read or saved fails the sync with CQ_ERR_STATE', async (t) => {
  const dir = await tmpDir(t);
  const dest = `mem_state_${++n}`;
  const src = (connection: string) =>
    sourceSpec({ path: 'test', destinations: [dest], spec: incremental(20), backend_options: { table_name: 'cq_state', connection } });
  const dst = destSpec({ name: dest, path: 'memory' });
  // unreadable: the state file is not JSON
  await writeFile(path.join(dir, 'cq_state.json'), '{ not json');
  const unreadable = await runSync({ config: config([src(`file://${dir}`)], [dst]) });
  t.equal(exitCodeOfSync(unreadable), 1);
  t.equal(unreadable.fatal?.code, 'CQ_ERR_STATE');
  t.match(unreadable.fatal?.message, /^cannot open the state backend of source src: /);
  t.match(unreadable.fatal?.context, { connector: 'src', phase: 'state' });
  // unsaveable: the backend's flush fails at the first checkpoint
  class Unsaveable extends MemoryState {
    override readonly description = 'file /nowhere/cq_state.json';
    override async flush(): Promise<void> {
      throw new Error('EROFS: read-only file system');
    }
  }
  const tracker = new CheckpointTracker(1, new Unsaveable(), createLogger({ level: 'error' }));
  await t.rejects(tracker.ack({ kind: 'checkpoint', id: 'c1', state: { k: 'v' } }), {
    code: 'CQ_ERR_STATE',
    message: 'cannot save the state to file /nowhere/cq_state.json: EROFS: read-only file system',
    context: { phase: 'state' },
  });
});

t.test('postgres backend: CloudQuery layout, versions, highest version wins', async (t) => {
  const url = await freshDatabase();
  const s = await openState({ table_name: 'cq_state_shop', connection: url }, 'shop');
  s.set('orders', '2024-01-01T00:00:00Z');
  await s.flush();
  s.set('orders', '2024-01-02T00:00:00Z');
  s.set('items', '42');
  await s.flush();
  s.set('items', '42'); // unchanged: no new version
  await s.flush();
  await s.close();
  const cols = await query<{ column_name: string; data_type: string; p: string | null }>(
    url,
    "SELECT column_name, data_type, numeric_precision::text AS p FROM information_schema.columns WHERE table_name = 'cq_state_shop' ORDER BY ordinal_position",
  );
  t.same(
    cols.map((c) => `${c.column_name} ${c.data_type}${c.p ? `(${c.p})` : ''}`),
    ['key text', 'value text', 'version numeric(20)'],
  );
  const pk = await query<{ col: string }>(
    url,
    'SELECT a.attname AS col FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = ' +
      "'cq_state_shop'::regclass AND i.indisprimary",
  );
  t.same(
    pk.map((r) => r.col),
    ['key'],
  );
  const rows = await query<{ key: string; value: string; version: string }>(url, 'SELECT key, value, version::text FROM cq_state_shop ORDER BY key');
  t.same(rows, [
    { key: 'items', value: '42', version: '1' },
    { key: 'orders', value: '2024-01-02T00:00:00Z', version: '2' },
  ]);
  const again = await openState({ table_name: 'cq_state_shop', connection: url }, 'shop');
  t.equal(again.get('orders'), '2024-01-02T00:00:00Z');
  await again.close();
});

t.test('CLI: state get, set and reset', async (t) => {
  const dir = await tmpDir(t);
  const cfg = path.join(dir, 'c.yml');
  await writeFile(
    cfg,
    `kind: source
spec:
  name: shop
  path: test
  destinations: [m]
  backend_options: { table_name: st, connection: "file://${dir}/state" }
---
kind: destination
spec: { name: m, path: memory }
`,
  );
  const run = (...a: string[]) => cliSync(['state', ...a]);
  t.equal(run('set', cfg, '--source', 'shop', 'items', '2024-05-01T00:00:00Z').status, 0);
  t.equal(run('set', cfg, '--source', 'shop', 'orders', '7').status, 0);
  const all = run('get', cfg, '--source', 'shop');
  t.equal(all.stdout, 'items\t2024-05-01T00:00:00Z\norders\t7\n');
  t.equal(run('get', cfg, '--source', 'shop', 'orders').stdout, '7\n');
  t.equal(run('reset', cfg, '--source', 'shop', 'orders').status, 0);
  t.equal(run('get', cfg, '--source', 'shop').stdout, 'items\t2024-05-01T00:00:00Z\n');
  t.equal(run('reset', cfg, '--source', 'shop').status, 0);
  t.equal(run('get', cfg, '--source', 'shop').stdout, '');
  const bad = run('frob', cfg);
  t.equal(bad.status, 2);
  t.match(bad.stderr, 'get, set or reset');
});

t.test('config: half a backend_options and unknown schemes are load-time errors', async (t) => {
  const dir = await tmpDir(t);
  const cfg = path.join(dir, 'c.yml');
  await writeFile(
    cfg,
    `kind: source
spec: { name: a, path: test, destinations: [m], backend_options: { connection: "file://x" } }
---
kind: source
spec: { name: b, path: test, destinations: [m], backend_options: { table_name: t, connection: "redis://x" } }
---
kind: destination
spec: { name: m, path: memory }
`,
  );
  const r = cliSync(['validate-config', cfg]);
  t.equal(r.status, 2);
  t.match(r.stderr, 'spec.backend_options: missing required key "table_name"');
  t.match(r.stderr, 'spec.backend_options.connection: "redis" is not a state backend');
});
