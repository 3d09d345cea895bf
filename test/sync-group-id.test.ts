/**
 * A destination's `sync_group_id` (docs/cloudquery.md): rendered as the CloudQuery CLI renders it,
 * added as `_cq_sync_group_id` (utf8, not null, part of the key) to every table and to the sync
 * summary, and refused with `overwrite-delete-stale` — the default write mode included — with
 * CloudQuery's message, exit 2.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { loadConfig } from '../bin/config.js';
import { exitCodeOfSync } from '../bin/exit-codes.js';
import { runSync } from '../lib/pipeline.js';
import { renderSyncGroupId } from '../lib/stages/sync-group-id.js';
import { cli } from './helpers/cli.js';
import { tmpDir } from './helpers/index.js';
import { freshDatabase, query } from './helpers/postgres.js';

const pkOf = async (url: string, table: string) =>
  (
    await query<{ col: string }>(
      url,
      'SELECT a.attname AS col FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) ' +
        `WHERE i.indrelid = '${table}'::regclass AND i.indisprimary ORDER BY a.attname`,
    )
  ).map((r) => r.col);

function yaml(url: string, dest: string) {
  return `kind: source
spec: { name: shop, path: test, destinations: [pg], spec: { num_tables: 2, num_rows: 4 } }
---
kind: destination
spec:
  name: pg
  path: postgresql
${dest}  spec: { connection_string: "${url}" }
`;
}

t.test('the template is rendered as the CLI renders it: UTC, zero-padded, {{SYNC_ID}} the invocation id', async (t) => {
  const at = new Date('2024-03-05T07:09:59.123Z');
  t.equal(renderSyncGroupId('{{YEAR}}-{{MONTH}}-{{DAY}}-{{HOUR}}-{{MINUTE}}', at, 'x'), '2024-03-05-07-09');
  t.equal(renderSyncGroupId('run-{{SYNC_ID}}/{{YEAR}}{{YEAR}}', at, 'abc'), 'run-abc/20242024');
  t.equal(renderSyncGroupId('{{year}} {{SECOND}} plain', at, 'abc'), '{{year}} {{SECOND}} plain', 'unknown or lower-case placeholders stay');
});

t.test('sync_group_id with overwrite-delete-stale (explicit or the default) is a config error, exit 2, as in CloudQuery', async (t) => {
  const dir = await tmpDir(t);
  for (const [name, mode] of [
    ['explicit', '  write_mode: overwrite-delete-stale\n'],
    ['default', ''],
  ] as const) {
    const file = path.join(dir, `${name}.yml`);
    await writeFile(file, yaml('postgres://127.0.0.1:1/x', `${mode}  sync_group_id: "{{YEAR}}-{{MONTH}}"\n`));
    const r = await cli(['validate-config', file]);
    t.equal(r.code, 2, `${name}: exit 2`);
    t.match(r.stderr, /destination pg: sync_group_id is not supported with write_mode: overwrite-delete-stale/);
    t.match(r.stderr, /CQ_ERR_CONFIG_INVALID/);
    t.match(r.stderr, /sync_group_id/);
    t.match(r.stderr, /write_mode: overwrite or append/, 'the hint says what to do');
  }
  for (const mode of ['overwrite', 'append']) {
    const file = path.join(dir, `${mode}.yml`);
    await writeFile(file, yaml('postgres://127.0.0.1:1/x', `  write_mode: ${mode}\n  sync_group_id: "g"\n`));
    t.equal((await cli(['validate-config', file])).code, 0, `${mode} with a sync group is valid`);
  }
  const file = path.join(dir, 'file.yml');
  await writeFile(
    file,
    'kind: source\nspec: { name: s, path: test, destinations: [f] }\n---\nkind: destination\n' +
      `spec: { name: f, path: file, sync_group_id: g, spec: { path: "${dir}/{{TABLE}}/{{UUID}}.{{FORMAT}}" } }\n`,
  );
  t.equal((await cli(['validate-config', file])).code, 0, 'an append-only destination defaults to append: valid');
});

t.test('every table gets _cq_sync_group_id with the rendered value, as part of its key; groups keep their own rows', async (t) => {
  const dir = await tmpDir(t);
  const url = await freshDatabase();
  const file = path.join(dir, 'c.yml');
  await writeFile(file, yaml(url, '  write_mode: overwrite\n  send_sync_summary: true\n  sync_group_id: "{{YEAR}}-{{SYNC_ID}}"\n'));
  const config = await loadConfig([file]);
  const r1 = await runSync({ config, invocationId: 'one' });
  t.equal(exitCodeOfSync(r1), 0);
  const year = new Date(r1.summaries[0]!.sync_time).getUTCFullYear();
  t.equal(r1.summaries[0]!.sync_group_id, `${year}-one`, 'the JSON summary names the rendered group');

  const cols = await query<{ column_name: string; is_nullable: string }>(
    url,
    "SELECT column_name, is_nullable FROM information_schema.columns WHERE table_name = 'test_table_0' ORDER BY ordinal_position",
  );
  t.same(
    cols.slice(0, 4).map((c) => [c.column_name, c.is_nullable]),
    [
      ['_cq_sync_time', 'YES'],
      ['_cq_source_name', 'YES'],
      ['_cq_sync_group_id', 'NO'],
      ['_cq_id', 'NO'],
    ],
    'after the CLI columns, before the source columns; not null',
  );
  for (const table of ['test_table_0', 'test_table_1']) {
    t.same(await pkOf(url, table), ['_cq_sync_group_id', 'id'], `${table}: the group is part of the key`);
    const vals = await query<{ g: string; n: string }>(url, `SELECT _cq_sync_group_id AS g, count(*)::text AS n FROM ${table} GROUP BY 1`);
    t.same(vals, [{ g: `${year}-one`, n: '4' }]);
  }
  t.same(await pkOf(url, 'cloudquery_sync_summaries'), ['_cq_sync_group_id'], 'the summary table is keyed by the group alone');

  // the same group again upserts; another group keeps its own copy of the rows
  t.equal(exitCodeOfSync(await runSync({ config, invocationId: 'one' })), 0);
  t.equal(exitCodeOfSync(await runSync({ config, invocationId: 'two' })), 0);
  const groups = await query<{ g: string; n: string }>(url, 'SELECT _cq_sync_group_id AS g, count(*)::text AS n FROM test_table_0 GROUP BY 1 ORDER BY 1');
  t.same(groups, [
    { g: `${year}-one`, n: '4' },
    { g: `${year}-two`, n: '4' },
  ]);
  const summaries = await query<{ g: string; sync_id: string }>(url, 'SELECT _cq_sync_group_id AS g, sync_id FROM cloudquery_sync_summaries ORDER BY 1');
  t.same(
    summaries,
    [
      { g: `${year}-one`, sync_id: 'one' },
      { g: `${year}-two`, sync_id: 'two' },
    ],
    'one summary row per group',
  );
});

t.test('append strips the key flag of _cq_sync_group_id; migrate --plan shows the column', async (t) => {
  const dir = await tmpDir(t);
  const url = await freshDatabase();
  const file = path.join(dir, 'c.yml');
  await writeFile(file, yaml(url, '  write_mode: append\n  sync_group_id: "g-{{SYNC_ID}}"\n'));
  const plan = await cli(['migrate', file, '--plan', '--invocation-id', 'p']);
  t.equal(plan.code, 0, plan.stderr);
  t.match(plan.stdout, /"_cq_sync_group_id" text NOT NULL/);
  t.equal(exitCodeOfSync(await runSync({ config: await loadConfig([file]), invocationId: 'a' })), 0);
  t.same(await pkOf(url, 'test_table_0'), [], 'append: no key');
  const [r] = await query<{ g: string }>(url, 'SELECT DISTINCT _cq_sync_group_id AS g FROM test_table_1');
  t.equal(r!.g, 'g-a');
});
