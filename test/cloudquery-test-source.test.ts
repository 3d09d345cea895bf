/**
 * `path: cloudquery/test` is CloudQuery's test source (docs/cloudquery.md): its tables, keys and
 * values, so CloudQuery's example configs run; and `tables` writes CloudQuery's documentation files.
 * Expected shapes are the facts of CloudQuery's test plugin (cloudquery/cloudquery
 * plugins/source/test/resources/services/*.go) and of the docs its CLI generated for it
 * (plugins/source/test/docs/tables/*.md).
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { type CloudQueryTestSourceSpec, cloudqueryTestSource } from '../connectors/test-source.js';
import { createLogger } from '../lib/logger.js';
import type { SyncMessage } from '../lib/messages.js';
import { tableName } from '../lib/schema.js';
import { cli } from './helpers/cli.js';
import { tmpDir } from './helpers/index.js';

interface Row {
  _cq_id: string;
  _cq_parent_id: string | null;
  [k: string]: unknown;
}

// CloudQuery's own test-plugin config (plugins/source/test/testdata/config.yml), its local path
// replaced by the hub name, and a file destination to look at the rows
const config = (out: string, spec = '', extra = '') => `kind: source
spec:
  name: test
  version: v1.0.0
  destinations: [files]
  path: cloudquery/test
  registry: cloudquery
  tables: ["*"]
${extra}  spec:
${spec}
---
kind: destination
spec:
  name: files
  path: cloudquery/file
  version: v5.0.0
  spec: { path: "${out}/{{TABLE}}.ndjson", format: ndjson, no_rotate: true }
`;

async function rows(dir: string, table: string): Promise<Row[]> {
  const text = await readFile(path.join(dir, `${table}.ndjson`), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Row);
}

t.test("CloudQuery's test tables: counts per client, values, and children that name their parents", async (t) => {
  const dir = await tmpDir(t);
  const out = path.join(dir, 'out');
  await writeFile(path.join(dir, 'c.yml'), config(out, '    num_clients: 2\n    num_rows: 3\n    num_sub_rows: 4\n    num_sub_cols: 2'));
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  // 2 clients × 3 rows, ×4 children each, and the paid table as test_some_table
  t.match(r.stderr, /Resources: 36, Errors: 0/);
  t.same((await readdir(out)).sort(), ['test_paid_table.ndjson', 'test_some_table.ndjson', 'test_sub_table.ndjson']);
  const some = await rows(out, 'test_some_table');
  t.same(
    some.map((x) => [x.client_id, x.resource_id, x.column2]),
    [1, 2].flatMap((c) => [1, 2, 3].map((i) => [c, i, `test_column_data_${(i - 1) % 3}`])),
  );
  t.ok(
    some.every((x) => x._cq_parent_id === null),
    'top-level rows have no parent',
  );
  const sub = await rows(out, 'test_sub_table');
  t.equal(sub.length, 24);
  t.same(Object.keys(sub[0]!).slice(2), [
    '_cq_id',
    '_cq_parent_id',
    'parent_resource_id',
    'sub_resource_id',
    'data_column',
    'extra_column_0',
    'extra_column_1',
  ]);
  const ids = new Map(some.map((x) => [x._cq_id, x]));
  t.equal(ids.size, 6, 'every parent has its own _cq_id');
  for (const child of sub) {
    const parent = ids.get(child._cq_parent_id!);
    t.ok(parent, `child ${child._cq_id} names an existing parent`);
    t.equal(child.parent_resource_id, parent?.resource_id);
  }
  t.same(
    sub.slice(0, 4).map((x) => [x.sub_resource_id, x.data_column]),
    [
      [0, 'sub_data_0'],
      [1, 'sub_data_1'],
      [2, 'sub_data_2'],
      [3, 'sub_data_0'],
    ],
  );
  t.equal(new Set(sub.slice(0, 4).map((x) => x.extra_column_0)).size, 1, 'extra columns are the same for the children of one parent');
});

t.test('defaults are CloudQuery’s (1 client, 1 row, 10 children); num_tables adds cq-pipe’s own tables', async (t) => {
  const dir = await tmpDir(t);
  const out = path.join(dir, 'out');
  await writeFile(path.join(dir, 'c.yml'), config(out));
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /Resources: 12, Errors: 0/);
  await writeFile(path.join(dir, 'c.yml'), config(out, '    num_tables: 1\n    num_rows: 5'));
  const r2 = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r2.code, 0, r2.stderr);
  t.match(r2.stderr, /Resources: 65, Errors: 0/);
  t.equal((await rows(out, 'test_table_0')).length, 5);
});

t.test('deterministic_cq_id: the same ids on every sync, and children still name their parents', async (t) => {
  const dir = await tmpDir(t);
  const out = path.join(dir, 'out');
  await writeFile(path.join(dir, 'c.yml'), config(out, '    num_rows: 2\n    num_sub_rows: 2', '  deterministic_cq_id: true\n'));
  const runs: Row[][] = [];
  for (let i = 0; i < 2; i++) {
    const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
    t.equal(r.code, 0, r.stderr);
    runs.push([...(await rows(out, 'test_some_table')), ...(await rows(out, 'test_sub_table'))]);
  }
  t.same(
    runs[0]!.map((x) => x._cq_id),
    runs[1]!.map((x) => x._cq_id),
  );
  t.match(runs[0]![0]!._cq_id, /^[0-9a-f]{8}-[0-9a-f]{4}-5/, 'UUIDv5');
  const parents = new Set(runs[0]!.slice(0, 2).map((x) => x._cq_id));
  t.ok(runs[0]!.slice(2).every((x) => parents.has(x._cq_parent_id!)));
});

t.test('fail_immediately fails every table (exit 1); required_env is a clear error', async (t) => {
  const dir = await tmpDir(t);
  const out = path.join(dir, 'out');
  await writeFile(path.join(dir, 'c.yml'), config(out, '    fail_immediately: true'));
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 1, r.stderr);
  t.match(r.stderr, /table test_some_table failed: fail_immediately/);
  t.match(r.stderr, /Errors: 3/);

  await writeFile(path.join(dir, 'c.yml'), config(out, '    required_env: ["CQ_PIPE_TEST_REQUIRED=yes"]'));
  const missing = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(missing.code, 2, missing.stderr);
  t.match(missing.stderr, /CQ_PIPE_TEST_REQUIRED must be "yes" \(key spec\.spec\.required_env/);
  const present = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir, env: { CQ_PIPE_TEST_REQUIRED: 'yes' } });
  t.equal(present.code, 0, present.stderr);

  await writeFile(path.join(dir, 'c.yml'), config(out, '    required_env: ["no equals sign"]'));
  const bad = await cli(['validate-config', 'c.yml'], { cwd: dir });
  t.equal(bad.code, 2);
  t.match(bad.stderr, /spec\.spec\.required_env/);
});

/** every message of one read of the cloudquery/test source with this spec, of the tables named (all by default) */
async function messages(spec: CloudQueryTestSourceSpec, names?: string[]): Promise<SyncMessage[]> {
  const client = await cloudqueryTestSource.create(spec, {
    name: 'test',
    logger: createLogger({ level: 'error' }),
    baseDir: process.cwd(),
    invocationId: 'i',
    syncTime: new Date(0),
  });
  const tables = (await client.tables()).filter((s) => !names || names.includes(tableName(s)));
  const out: SyncMessage[] = [];
  for await (const m of client.read(tables, { signal: new AbortController().signal, state: new Map() })) out.push(m);
  return out;
}

t.test('delete_records: one delete of test_some_table after every row, resource_id = each id in one OR group, no relations', async (t) => {
  const msgs = await messages({ num_rows: 3, num_clients: 2, delete_records: [1, 3] });
  const last = msgs.at(-1)!;
  t.same(
    msgs.slice(0, -1).map((m) => m.kind),
    msgs.slice(0, -1).map(() => 'insert'),
    'the rows of every table first',
  );
  t.same([...new Set(msgs.slice(0, -1).map((m) => (m as { table: string }).table))].sort(), ['test_paid_table', 'test_some_table', 'test_sub_table']);
  t.equal(
    msgs.filter((m) => m.kind === 'insert' && m.table === 'test_some_table').reduce((n, m) => n + (m as { batch: { numRows: number } }).batch.numRows, 0),
    6,
  );
  if (last.kind !== 'delete-record') throw new Error(`the last message is ${last.kind}`);
  t.same(
    { table: last.table, relations: last.relations, groups: last.where.length, grouping: last.where[0]!.grouping },
    { table: 'test_some_table', relations: [], groups: 1, grouping: 'or' },
  );
  t.same(
    last.where[0]!.predicates.map((p) => ({
      operator: p.operator,
      column: p.column,
      rows: p.value.numRows,
      fields: p.value.schema.fields.map((f) => `${f.name} ${f.type} ${f.nullable}`),
      tableName: p.value.schema.metadata.get('cq:table_name'),
      value: p.value.getChildAt(0)!.get(0) as bigint,
    })),
    [
      { operator: 'eq', column: 'resource_id', rows: 1, fields: ['resource_id Int64 true'], tableName: 'test_some_table', value: 1n },
      { operator: 'eq', column: 'resource_id', rows: 1, fields: ['resource_id Int64 true'], tableName: 'test_some_table', value: 3n },
    ],
  );

  t.same(
    (await messages({ delete_records: [1] }, ['test_paid_table'])).map((m) => m.kind),
    ['insert'],
    'no delete when test_some_table is not synced',
  );
  t.same(
    (await messages({ delete_records: [1], fail_immediately: true })).map((m) => m.kind),
    ['table-error', 'table-error', 'table-error'],
    'none after fail_immediately failed the tables',
  );
  t.same(
    (await messages({ num_rows: 1 })).map((m) => m.kind),
    ['insert', 'insert', 'insert'],
    'none without delete_records',
  );
});

t.test("tables --format markdown writes CloudQuery's docs: README tree and one page per table", async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'c.yml'), config(path.join(dir, 'out')));
  const r = await cli(['tables', 'c.yml', '--format', 'markdown'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  const docs = path.join(dir, 'cq-docs', 'test');
  t.same((await readdir(docs)).sort(), ['README.md', 'test_paid_table.md', 'test_some_table.md', 'test_sub_table.md']);
  t.equal(
    await readFile(path.join(docs, 'README.md'), 'utf8'),
    [
      '# Source Plugin: test',
      '',
      '## Tables',
      '',
      '- [test_paid_table](test_paid_table.md)',
      '- [test_some_table](test_some_table.md)',
      '  - [test_sub_table](test_sub_table.md)',
    ].join('\n'),
  );
  const sub = (await readFile(path.join(docs, 'test_sub_table.md'), 'utf8')).split('\n');
  t.same(sub.slice(0, 9), [
    '# Table: test_sub_table',
    '',
    'Sub table of test_some_table',
    '',
    'The composite primary key for this table is (**parent_resource_id**, **sub_resource_id**).',
    '',
    '## Relations',
    '',
    'This table depends on [test_some_table](test_some_table.md).',
  ]);
  t.same(sub.slice(-6), [
    '|_cq_id|`uuid`|',
    '|_cq_parent_id|`uuid`|',
    '|parent_resource_id (PK)|`int64`|',
    '|sub_resource_id (PK)|`int64`|',
    '|data_column|`utf8`|',
    '|extra_column_0|`int64`|',
  ]);
  const some = await readFile(path.join(docs, 'test_some_table.md'), 'utf8');
  t.match(some, '\nThe following tables depend on test_some_table:\n  - [test_sub_table](test_sub_table.md)\n\n## Columns\n');
  const paid = await readFile(path.join(docs, 'test_paid_table.md'), 'utf8');
  t.match(paid, /^# Table: test_paid_table\n\nThis is a premium table\./);
});

t.test('tables --output-dir writes __tables.json (relations nested, arrow-go type names); --filter spec keeps the selection', async (t) => {
  const dir = await tmpDir(t);
  const body = config(path.join(dir, 'out'), '    num_tables: 1').replace('tables: ["*"]', 'tables: ["test_some_table", "test_sub_table", "test_table_0"]');
  await writeFile(path.join(dir, 'c.yml'), body);
  const all = await cli(['tables', 'c.yml', '--output-dir', 'docs'], { cwd: dir });
  t.equal(all.code, 0, all.stderr);
  type J = { name: string; columns: { name: string; type: string; is_primary_key?: boolean }[]; relations: J[] };
  const json = JSON.parse(await readFile(path.join(dir, 'docs', 'test', '__tables.json'), 'utf8')) as J[];
  t.same(
    json.map((x) => x.name),
    ['test_paid_table', 'test_some_table', 'test_table_0'],
    'every table by default, children nested',
  );
  t.same(
    json[1]!.relations.map((x) => x.name),
    ['test_sub_table'],
  );
  const cols = new Map(json[2]!.columns.map((c) => [c.name, c]));
  t.same(
    ['timestamp_col', 'time64_col', 'decimal_col', 'list_col', 'struct_col', 'uuid_col', 'date32_col'].map((n) => cols.get(n)?.type),
    ['timestamp[us, tz=UTC]', 'time64[us]', 'decimal(12, 3)', 'list<item: int64, nullable>', 'struct<a: int64, b: utf8>', 'uuid', 'date32'],
  );
  t.equal(cols.get('id')?.is_primary_key, true);
  const spec = await cli(['tables', 'c.yml', '--output-dir', 'docs2', '--filter', 'spec'], { cwd: dir });
  t.equal(spec.code, 0, spec.stderr);
  const selected = JSON.parse(await readFile(path.join(dir, 'docs2', 'test', '__tables.json'), 'utf8')) as J[];
  t.same(
    selected.map((x) => x.name),
    ['test_some_table', 'test_table_0'],
  );
  for (const [args, message] of [
    [['--format', 'yaml'], /--format "yaml" is not one of text, json, markdown/],
    [['--filter', 'some'], /--filter "some" is not one of all, spec/],
    [['--format', 'text', '--output-dir', 'x'], /--output-dir writes json or markdown files/],
  ] as const) {
    const bad = await cli(['tables', 'c.yml', ...args], { cwd: dir });
    t.equal(bad.code, 2, args.join(' '));
    t.match(bad.stderr, message);
  }
});
