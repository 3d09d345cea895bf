/**
 * A CloudQuery plugin as a cq-pipe source (connectors/cloudquery-plugin/, docs/architecture.md),
 * tested against a plugin built with the official JavaScript SDK (test/fixtures/plugins/): served
 * over TCP (`registry: grpc`) and spawned on a unix socket (`registry: local`), synced into the
 * memory destination and Postgres; table errors, a plugin that dies, backpressure, clean shutdown.
 */
import { execFileSync } from 'node:child_process';
import { chmod, readdir } from 'node:fs/promises';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { exitCodeOfSync } from '../bin/exit-codes.js';
import { pluginSource } from '../connectors/cloudquery-plugin/source.js';
import { localPluginSource } from '../connectors/cloudquery-plugin/spawn.js';
import { memoryDestination, memoryTables } from '../connectors/memory.js';
import { defineDestination, defineSource } from '../lib/connector.js';
import { withRegistry } from '../lib/config/index.js';
import type { DestinationSpec, SourceSpec } from '../lib/config/types.js';
import { createLogger } from '../lib/logger.js';
import { runSync } from '../lib/pipeline.js';
import type { Registry } from '../lib/registry.js';
import { itemRow, tagRows } from './fixtures/plugins/sdk-source.js';
import { destSpec, sourceSpec } from './helpers/index.js';
import { freshDatabase, query } from './helpers/postgres.js';
import { PLUGIN_ENTRY, PLUGIN_PATH, registryWith, servePlugin } from './helpers/sdk-plugin.js';

function cfg(registry: Registry, source: Partial<SourceSpec>, dest: DestinationSpec) {
  return withRegistry(
    { sources: [sourceSpec({ path: PLUGIN_PATH, spec: {}, destinations: [dest.name], ...source })], destinations: [dest], transformers: [], secrets: [] },
    registry,
  );
}

const lines: string[] = [];
const logger = createLogger({ level: 'info', write: (l) => lines.push(l) });

let seq = 0;
const memDest = () => destSpec({ name: `mem_${process.pid}_${++seq}`, path: 'memory' });

/** The memory destination's rows checked against the fixture's values, parents included. */
function checkMemory(t: Test, dest: string, rows: number) {
  const tables = memoryTables(dest);
  const items = tables.get('items')!.rows;
  t.equal(items.length, rows, 'every items row');
  for (const r of items) {
    const { id, created_at, ...want } = itemRow(Number(r.id));
    t.same(
      { id: Number(r.id), name: r.name, price: r.price, active: r.active, created_at: r.created_at, payload: r.payload, ref: r.ref },
      { id, ...want, created_at: created_at.getTime() },
      `items row ${r.id}`,
    );
  }
  const tags = tables.get('item_tags')!.rows;
  t.equal(tags.length, rows * 2, 'every relation row');
  const idOf = new Map(items.map((r) => [String(r.id), r._cq_id]));
  for (const tag of tags) {
    t.equal(tag._cq_parent_id, idOf.get(String(tag.item_id)), `tag ${tag.tag} keeps the _cq_parent_id of item ${tag.item_id}`);
    t.ok(tagRows(Number(tag.item_id)).some((x) => x.tag === tag.tag));
  }
  t.equal(tables.get('events')!.rows.length, 2, 'the other table');
}

t.test('registry grpc: every table into the memory destination, values and parent ids kept', async (t) => {
  const { address } = await servePlugin(t);
  const dest = memDest();
  const res = await runSync({ logger, config: cfg(registryWith(pluginSource({ address })), { spec: { rows: 5 } }, dest) });
  t.equal(exitCodeOfSync(res), 0, res.fatal?.message ?? 'synced');
  checkMemory(t, dest.name, 5);
  const schema = memoryTables(dest.name).get('items')!.schema;
  const ext = (n: string) => schema.fields.find((f) => f.name === n)!.metadata.get('ARROW:extension:name');
  t.same([ext('payload'), ext('ref'), ext('_cq_id')], ['json', 'uuid', 'uuid'], 'json and uuid columns are cq-pipe json and uuid');
});

t.test('registry grpc: into Postgres, values and parent ids compared', async (t) => {
  const { address } = await servePlugin(t);
  const url = await freshDatabase('plugin');
  const dest = destSpec({ name: 'pg', path: 'postgresql', spec: { connection_string: url } });
  const res = await runSync({ logger, config: cfg(registryWith(pluginSource({ address })), { spec: { rows: 4 } }, dest) });
  t.equal(exitCodeOfSync(res), 0, res.fatal?.message ?? 'synced');
  const items = await query(url, 'SELECT id, name, price, active, created_at, payload, ref::text AS ref FROM items ORDER BY id');
  t.same(
    items.map((r) => ({ ...r, id: Number(r.id) })),
    [1, 2, 3, 4].map((i) => ({ ...itemRow(i), created_at: itemRow(i).created_at })),
    'items values',
  );
  const [joined] = await query<{ n: string }>(
    url,
    'SELECT count(*)::text AS n FROM item_tags t JOIN items i ON t._cq_parent_id = i._cq_id AND t.item_id = i.id',
  );
  t.equal(joined!.n, '8', 'every relation row points at its parent by _cq_parent_id');
  const [ev] = await query<{ n: string }>(url, 'SELECT count(*)::text AS n FROM events');
  t.equal(ev!.n, '2');
});

t.test('a plugin table error fails that table only: exit 1, the other tables written', async (t) => {
  const { address } = await servePlugin(t);
  const dest = memDest();
  const res = await runSync({ logger, config: cfg(registryWith(pluginSource({ address })), { spec: { rows: 3, fail_table: 'events' } }, dest) });
  t.equal(exitCodeOfSync(res), 1);
  t.notOk(res.fatal, 'the sync itself did not fail');
  t.equal(res.errors.length, 1);
  t.equal(res.errors[0]!.context.table, 'events');
  t.equal(res.errors[0]!.scope, 'table');
  t.match(res.errors[0]!.message, /plugin src .*table events failed: resolver of events failed on purpose/);
  const tables = memoryTables(dest.name);
  t.equal(tables.get('items')!.rows.length, 3);
  t.equal(tables.get('item_tags')!.rows.length, 6);
  t.equal(tables.get('events')?.rows.length ?? 0, 0);
});

t.test('a plugin that dies mid-sync fails the sync naming it, and nothing stale is deleted', async (t) => {
  const dest = memDest();
  const first = await servePlugin(t);
  const ok = await runSync({ logger, config: cfg(registryWith(pluginSource({ address: first.address })), { spec: { rows: 3 } }, dest) });
  t.equal(exitCodeOfSync(ok), 0, 'a first full sync');
  const crashing = await servePlugin(t);
  const res = await runSync({ logger, config: cfg(registryWith(pluginSource({ address: crashing.address })), { spec: { rows: 50, exit_after: 2 } }, dest) });
  t.equal(await crashing.exit, 3, 'the plugin exited');
  t.equal(exitCodeOfSync(res), 1);
  t.ok(res.fatal, 'the sync failed');
  t.equal(res.fatal!.code, 'CQ_ERR_SOURCE_READ');
  t.match(res.fatal!.message, new RegExp(`plugin src \\(${crashing.address}\\): Sync failed`));
  const tables = memoryTables(dest.name);
  t.equal(tables.get('events')!.rows.length, 2, 'the first sync’s events rows are not deleted as stale');
  t.ok(tables.get('item_tags')!.rows.length >= 6, 'nor its relation rows');
});

t.test('backpressure: records pulled from the plugin but not yet written stay few with a slow destination', async (t) => {
  const { address } = await servePlugin(t);
  let pulled = 0;
  let written = 0;
  let maxAhead = 0;
  const inner = pluginSource({ address });
  const counting = defineSource<Record<string, unknown>>({
    name: 'counting',
    configSchema: inner.configSchema,
    async create(spec, ctx) {
      const c = await inner.create(spec, ctx);
      return {
        shardsItself: c.shardsItself,
        tables: () => c.tables(),
        close: () => c.close!(),
        async *read(tables, opts) {
          for await (const m of c.read(tables, opts)) {
            if (m.kind === 'insert') {
              pulled += m.batch.numRows;
              maxAhead = Math.max(maxAhead, pulled - written);
            }
            yield m;
          }
        },
      };
    },
  });
  const slow = defineDestination({
    ...memoryDestination,
    async create(spec, ctx) {
      const c = await memoryDestination.create(spec, ctx);
      return {
        ...c,
        async writeBatch(schema, batches) {
          await new Promise((r) => setTimeout(r, 5));
          await c.writeBatch(schema, batches);
          written += batches.reduce((n, b) => n + b.numRows, 0);
        },
      };
    },
  });
  const dest = destSpec({ name: `slow_${process.pid}`, path: 'slow-memory', spec: { batch_size: 10 } });
  const rows = 1500;
  const res = await runSync({ logger, config: cfg(registryWith(counting, { 'slow-memory': slow }), { tables: ['items'], spec: { rows } }, dest) });
  t.equal(exitCodeOfSync(res), 0, res.fatal?.message ?? 'synced');
  t.equal(written, rows, 'every row written');
  t.ok(maxAhead <= 60, `at most ${maxAhead} rows pulled ahead of the destination (of ${rows})`);
});

// this file's plugins put their sockets in a directory of their own (os.tmpdir() follows TMPDIR),
// so other test processes on the machine cannot make these checks pass or fail
const PRIVATE_TMP = mkdtempSync(path.join(os.tmpdir(), 'cq-pipe-plugin-src-'));
chmodSync(PRIVATE_TMP, 0o755); // embedded Postgres (its own user) keeps files there too
process.env.TMPDIR = PRIVATE_TMP;
t.teardown(() => rmSync(PRIVATE_TMP, { recursive: true, force: true }));

async function sockets(): Promise<string[]> {
  return (await readdir(os.tmpdir())).filter((f) => /^cq-[a-z]{16}\.sock$/.test(f));
}

function pluginProcesses(): string[] {
  const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return ps.split('\n').filter((l) => l.includes('serve-sdk-source.js serve') && l.includes('--network unix') && l.includes(PRIVATE_TMP));
}

t.test('registry local: spawns the plugin on a unix socket, forwards its logs, leaves no process or socket', async (t) => {
  await chmod(PLUGIN_ENTRY, 0o755);
  const before = await sockets();
  const dest = memDest();
  lines.length = 0;
  const res = await runSync({
    logger,
    config: cfg(registryWith(localPluginSource(PLUGIN_ENTRY, { killGraceMs: 2000 })), { spec: { rows: 3, log_marker: 'marker-from-the-plugin' } }, dest),
  });
  t.equal(exitCodeOfSync(res), 0, res.fatal?.message ?? 'synced');
  checkMemory(t, dest.name, 3);
  t.ok(
    lines.some((l) => /WARN +marker-from-the-plugin .*plugin_process=src/.test(l)),
    'the plugin’s warn line is forwarded at warn level',
  );
  t.same(await sockets(), before, 'the socket is removed');
  t.same(pluginProcesses(), [], 'the plugin process is gone');
});

t.test('registry local: a plugin that dies mid-sync fails the sync naming it and its exit code', async (t) => {
  await chmod(PLUGIN_ENTRY, 0o755);
  const before = await sockets();
  const res = await runSync({ logger, config: cfg(registryWith(localPluginSource(PLUGIN_ENTRY)), { spec: { rows: 50, exit_after: 2 } }, memDest()) });
  t.equal(exitCodeOfSync(res), 1);
  t.match(res.fatal?.message, /plugin src \(.*serve-sdk-source\.js\): Sync failed.*exited with code 3/);
  t.same(await sockets(), before, 'the socket is removed');
  t.same(pluginProcesses(), [], 'no plugin process left');
});

t.test('registry local: a path that is not an executable is a config error naming the plugin', async (t) => {
  const res = await runSync({ logger, config: cfg(registryWith(localPluginSource('/nonexistent/plugin')), {}, memDest()) });
  t.equal(exitCodeOfSync(res), 2);
  t.match(res.fatal?.message, /plugin src \(\/nonexistent\/plugin\): not an executable file/);
});

t.test('from a config file through the CLI: registry grpc dials the running plugin, registry local spawns it', async (t) => {
  const { writeFile } = await import('node:fs/promises');
  const { cli } = await import('./helpers/cli.js');
  const { tmpDir } = await import('./helpers/index.js');
  const dir = await tmpDir(t);
  const out = (name: string) =>
    `---\nkind: destination\nspec:\n  name: out\n  path: cloudquery/file\n  write_mode: append\n` +
    `  spec: { path: "${dir}/${name}/{{TABLE}}/{{UUID}}.{{FORMAT}}", format: ndjson }\n`;
  const { address } = await servePlugin(t);
  await writeFile(
    path.join(dir, 'grpc.yml'),
    `kind: source\nspec:\n  name: sdk\n  registry: grpc\n  path: "${address}"\n  destinations: [out]\n  spec: { rows: 4 }\n${out('grpc')}`,
  );
  const viaGrpc = await cli(['sync', 'grpc.yml', '--no-progress'], { cwd: dir });
  t.equal(viaGrpc.code, 0, viaGrpc.stderr);
  // an executable as the CLI expects one (a Go plugin binary in real use): a shell script starting the SDK plugin
  const binary = path.join(dir, 'sdk-plugin');
  await writeFile(binary, `#!/bin/sh\nexec "${process.execPath}" "${PLUGIN_ENTRY}" "$@"\n`);
  await chmod(binary, 0o755);
  await writeFile(
    path.join(dir, 'local.yml'),
    `kind: source\nspec:\n  name: sdk\n  registry: local\n  path: ./sdk-plugin\n  version: v1.0.0\n  destinations: [out]\n  spec: { rows: 4 }\n${out('local')}`,
  );
  const viaLocal = await cli(['sync', 'local.yml', '--no-progress'], { cwd: dir });
  t.equal(viaLocal.code, 0, viaLocal.stderr);
  const resources = (stderr: string) => Number(/Resources: (\d+)/.exec(stderr)?.[1]);
  t.ok(resources(viaGrpc.stderr) > 0, `rows through grpc: ${resources(viaGrpc.stderr)}`);
  t.equal(resources(viaLocal.stderr), resources(viaGrpc.stderr), 'the same rows through local');
  t.same((await readdir(path.join(dir, 'grpc'))).sort(), (await readdir(path.join(dir, 'local'))).sort(), 'the same tables');
});
