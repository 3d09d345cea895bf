/**
 * `send_sync_summary: true` (docs/cloudquery.md): one row per sync of a source in the destination's
 * `cloudquery_sync_summaries`, with CloudQuery's columns and types (cli/cmd/summary.go through the
 * SDK's struct transformer, plus the CLI's `_cq_sync_time` / `_cq_source_name`), written after
 * delete-stale and before the destination closes — also when tables failed.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { loadConfig } from '../bin/config.js';
import { exitCodeOfSync } from '../bin/exit-codes.js';
import { runSync } from '../lib/pipeline.js';
import { VERSION } from '../lib/version.js';
import { CLI_SHELL, shell } from './helpers/cli.js';
import { tmpDir } from './helpers/index.js';
import { freshDatabase, query } from './helpers/postgres.js';

/** CloudQuery's column names and the Postgres types they land as (text[] for list<utf8>, jsonb for json) */
const COLUMNS: [string, string][] = [
  ['_cq_sync_time', 'timestamp with time zone'],
  ['_cq_source_name', 'text'],
  ['cli_version', 'text'],
  ['destination_errors', 'bigint'],
  ['destination_name', 'text'],
  ['destination_path', 'text'],
  ['destination_version', 'text'],
  ['destination_warnings', 'bigint'],
  ['resources', 'bigint'],
  ['source_errors', 'bigint'],
  ['source_name', 'text'],
  ['source_path', 'text'],
  ['source_version', 'text'],
  ['source_warnings', 'bigint'],
  ['source_tables', 'ARRAY'],
  ['sync_id', 'text'],
  ['sync_duration_ms', 'bigint'],
  ['shard_num', 'bigint'],
  ['shard_total', 'bigint'],
  ['resources_per_table', 'jsonb'],
  ['errors_per_table', 'jsonb'],
  ['durations_per_table_ms', 'jsonb'],
];

async function configFile(dir: string, yaml: string): Promise<string> {
  const file = path.join(dir, 'c.yml');
  await writeFile(file, yaml);
  return file;
}

const pg = (name: string, url: string, extra = '') =>
  `---\nkind: destination\nspec:\n  name: ${name}\n  path: postgresql\n${extra}  spec: { connection_string: "${url}" }\n`;

t.test('one summary row per destination, with CloudQuery columns, types and numbers', async (t) => {
  const dir = await tmpDir(t);
  const [a, b, c] = [await freshDatabase(), await freshDatabase(), await freshDatabase()];
  const file = await configFile(
    dir,
    `kind: source
spec: { name: shop, path: test, version: v1.2.3, destinations: [a, b, c], spec: { num_tables: 2, num_rows: 7 } }
${pg('a', a, '  send_sync_summary: true\n')}${pg('b', b, '  send_sync_summary: true\n  write_mode: append\n')}${pg('c', c)}`,
  );
  const config = await loadConfig([file]);
  const invocationId = '11111111-2222-4333-8444-555555555555';
  const res = await runSync({ config, invocationId });
  t.equal(exitCodeOfSync(res), 0);

  const cols = await query<{ column_name: string; data_type: string; is_nullable: string }>(
    a,
    "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = 'cloudquery_sync_summaries' ORDER BY ordinal_position",
  );
  t.same(
    cols.map((r) => [r.column_name, r.data_type]),
    COLUMNS,
    "CloudQuery's columns in its order, no _cq_id",
  );
  t.ok(
    cols.every((r) => r.is_nullable === 'YES'),
    'every column nullable',
  );
  const pk = await query(a, "SELECT 1 FROM pg_index WHERE indrelid = 'cloudquery_sync_summaries'::regclass AND indisprimary");
  t.equal(pk.length, 0, 'no primary key without a sync group');

  for (const [name, url] of [
    ['a', a],
    ['b', b],
  ] as const) {
    const rows = await query<Record<string, unknown>>(url, 'SELECT * FROM cloudquery_sync_summaries');
    t.equal(rows.length, 1, `one row in destination ${name}`);
    const r = rows[0]!;
    t.match(r, {
      _cq_source_name: 'shop',
      cli_version: VERSION,
      destination_errors: '0',
      destination_name: name,
      destination_path: 'postgresql',
      destination_version: '',
      destination_warnings: '0',
      resources: '14',
      source_errors: '0',
      source_name: 'shop',
      source_path: 'test',
      source_version: 'v1.2.3',
      source_warnings: '0',
      source_tables: ['test_table_0', 'test_table_1'],
      sync_id: invocationId,
      shard_num: null,
      shard_total: null,
      resources_per_table: { test_table_0: 7, test_table_1: 7 },
      errors_per_table: { test_table_0: 0, test_table_1: 0 },
    });
    t.equal((r._cq_sync_time as Date).toISOString(), res.summaries[0]!.sync_time, '_cq_sync_time is the sync time of the rows');
    t.same(Object.keys(r.durations_per_table_ms as object).sort(), ['test_table_0', 'test_table_1']);
  }
  const none = await query(c, "SELECT 1 FROM information_schema.tables WHERE table_name = 'cloudquery_sync_summaries'");
  t.equal(none.length, 0, 'a destination without send_sync_summary gets no summary table');
  const [rows] = await query<{ n: string }>(a, "SELECT count(*)::text AS n FROM test_table_0 WHERE _cq_source_name = 'shop'");
  t.equal(rows!.n, '7');

  // a second sync adds a second row (the table has no key)
  t.equal(exitCodeOfSync(await runSync({ config })), 0);
  const [n] = await query<{ n: string; ids: string }>(a, 'SELECT count(*)::text AS n, count(DISTINCT sync_id)::text AS ids FROM cloudquery_sync_summaries');
  t.same(n, { n: '2', ids: '2' });
});

t.test('a sync whose tables failed still writes its summary, with the errors; sharded runs name their shard', async (t) => {
  const dir = await tmpDir(t);
  const url = await freshDatabase();
  const failing = await configFile(
    dir,
    `kind: source
spec: { name: cq, path: cloudquery/test, destinations: [pg], spec: { fail_immediately: true } }
${pg('pg', url, '  send_sync_summary: true\n')}`,
  );
  const res = await runSync({ config: await loadConfig([failing]) });
  t.equal(exitCodeOfSync(res), 1, 'the sync fails');
  const [r] = await query<Record<string, unknown>>(url, 'SELECT resources, source_errors, destination_errors, errors_per_table FROM cloudquery_sync_summaries');
  t.same(r, {
    resources: '0',
    source_errors: '3',
    destination_errors: '0',
    errors_per_table: { test_paid_table: 1, test_some_table: 1, test_sub_table: 1 },
  });

  const sharded = await configFile(
    dir,
    `kind: source
spec: { name: shop, path: test, destinations: [pg], spec: { num_tables: 2, num_rows: 3 } }
${pg('pg', url, '  send_sync_summary: true\n')}`,
  );
  const s = await runSync({ config: await loadConfig([sharded]), shard: { num: 1, total: 2 } });
  t.equal(exitCodeOfSync(s), 0);
  const rows = await query<Record<string, unknown>>(
    url,
    "SELECT _cq_source_name, source_name, shard_num, shard_total, resources FROM cloudquery_sync_summaries WHERE source_name = 'shop'",
  );
  t.same(rows, [{ _cq_source_name: 'shop_1_2', source_name: 'shop', shard_num: '1', shard_total: '2', resources: '3' }]);
});

t.test('--no-migrate: the summary row is inserted into the table an earlier sync created', async (t) => {
  const dir = await tmpDir(t);
  const url = await freshDatabase();
  const file = await configFile(
    dir,
    `kind: source
spec: { name: shop, path: test, destinations: [pg], spec: { num_tables: 1, num_rows: 2 } }
${pg('pg', url, '  send_sync_summary: true\n')}`,
  );
  const config = await loadConfig([file]);
  t.equal(exitCodeOfSync(await runSync({ config })), 0);
  t.equal(exitCodeOfSync(await runSync({ config, noMigrate: true })), 0);
  const [n] = await query<{ n: string }>(url, 'SELECT count(*)::text AS n FROM cloudquery_sync_summaries');
  t.equal(n!.n, '2');
});

t.test('read | write writes the same summary row as sync', async (t) => {
  const dir = await tmpDir(t);
  const url = await freshDatabase();
  const file = await configFile(
    dir,
    `kind: source
spec: { name: shop, path: test, destinations: [pg], spec: { num_tables: 2, num_rows: 5 } }
${pg('pg', url, '  send_sync_summary: true\n  write_mode: overwrite\n')}`,
  );
  const r = shell(`${CLI_SHELL} read "${file}" | ${CLI_SHELL} write "${file}" --invocation-id piped`);
  t.equal(r.status, 0, r.stderr);
  const rows = await query<Record<string, unknown>>(
    url,
    'SELECT _cq_source_name, source_name, source_path, destination_name, resources, source_errors, sync_id, resources_per_table FROM cloudquery_sync_summaries',
  );
  t.same(rows, [
    {
      _cq_source_name: 'shop',
      source_name: 'shop',
      source_path: 'test',
      destination_name: 'pg',
      resources: '10',
      source_errors: '0',
      sync_id: 'piped',
      resources_per_table: { test_table_0: 5, test_table_1: 5 },
    },
  ]);
});
