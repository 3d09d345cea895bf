/**
 * The file and s3 destinations take CloudQuery's keys (docs/file-destination.md, docs/s3.md):
 * `format: json`, `format_spec`, `compression: ""`, a `path` without {{TABLE}}, and the s3 keys
 * (test_write, part_size, acl, content_type, max_retries, …) — honoured, or accepted with one notice.
 * Files are read back with DuckDB, not with cq-pipe.
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { cli } from './helpers/cli.js';
import { duckdb, tmpDir } from './helpers/index.js';
import { createBucket, getObject, listObjects, s3Spec } from './helpers/s3.js';

const source = `kind: source
spec: { name: demo, path: test, tables: ["*"], destinations: [out], spec: { num_tables: 1, num_rows: 25, preset: bench } }
`;
const destination = (spec: string, path = 'cloudquery/file') => `---
kind: destination
spec:
  name: out
  path: ${path}
  version: v5.4.0
  write_mode: append
  spec:
${spec}
`;

t.test('format json + compression "" + a path without {{TABLE}} (no_rotate): <dir>/<table>.json, JSON lines', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(
    path.join(dir, 'c.yml'),
    source + destination('    path: ./out\n    format: json\n    compression: ""\n    no_rotate: true\n    format_spec: {}'),
  );
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  t.same(await readdir(path.join(dir, 'out')), ['test_table_0.json']);
  const rows = await duckdb(
    `select count(*)::int as n, count(distinct id)::int as ids from read_json('${dir}/out/test_table_0.json', format = 'newline_delimited')`,
  );
  t.same(rows, [{ n: 25, ids: 25 }]);
});

t.test('a path without {{TABLE}} that rotates needs {{UUID}}, as in CloudQuery', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'c.yml'), source + destination('    path: ./out\n    format: json'));
  const r = await cli(['validate-config', 'c.yml'], { cwd: dir });
  t.equal(r.code, 2);
  t.match(r.stderr, /spec\.spec\.path: path template "out\/\{\{TABLE\}\}\.json" has no \{\{UUID\}\}/);
});

t.test('format_spec for csv: delimiter and skip_header are applied (DuckDB reads the file back)', async (t) => {
  const dir = await tmpDir(t);
  const spec = '    path: "./out/{{TABLE}}.{{FORMAT}}"\n    format: csv\n    no_rotate: true\n    format_spec: { delimiter: ";", skip_header: true }';
  await writeFile(path.join(dir, 'c.yml'), source + destination(spec));
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  const text = await readFile(path.join(dir, 'out', 'test_table_0.csv'), 'utf8');
  const first = text.split('\n')[0]!;
  t.notMatch(first, /_cq_id/, 'no header line');
  // the bench table's json column holds commas, which need no quoting with ";"
  t.equal(first.split(';').length, 13, '13 columns split by ";"');
  const file = path.join(dir, 'out', 'test_table_0.csv');
  const rows = await duckdb(`select count(*)::int as n, count(distinct column02)::int as ids from read_csv('${file}', delim = ';', header = false)`);
  t.same(rows, [{ n: 25, ids: 25 }]);
});

t.test('format_spec for parquet is checked and accepted with a notice; wrong keys name the key', async (t) => {
  const dir = await tmpDir(t);
  const ok = '    path: "./out/{{TABLE}}/{{UUID}}.{{FORMAT}}"\n    format: parquet\n    format_spec: { version: v2.6, max_row_group_length: 1000 }';
  await writeFile(path.join(dir, 'c.yml'), source + destination(ok));
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /format_spec\.version is accepted and not applied/);
  t.match(r.stderr, /format_spec\.max_row_group_length is accepted and not applied/);
  const cases: [string, RegExp][] = [
    ['format: parquet\n    format_spec: { delimiter: "," }', /spec\.spec\.format_spec\.delimiter: unknown format_spec key "delimiter" for format parquet/],
    ['format: csv\n    format_spec: { delimiter: ":" }', /spec\.spec\.format_spec\.delimiter: delimiter ":" is not one cq-pipe writes/],
    ['format: parquet\n    format_spec: { version: v3 }', /spec\.spec\.format_spec\.version: unknown parquet version "v3"/],
    ['format: xml', /spec\.spec\.format/],
  ];
  for (const [line, message] of cases) {
    await writeFile(path.join(dir, 'c.yml'), source + destination(`    path: "./out/{{TABLE}}/{{UUID}}.{{FORMAT}}"\n    ${line}`));
    const bad = await cli(['validate-config', 'c.yml'], { cwd: dir });
    t.equal(bad.code, 2, line);
    t.match(bad.stderr, message);
  }
});

t.test("s3: CloudQuery's keys — path without {{TABLE}}, test_write, part_size, acl, content_type, max_retries, notices", async (t) => {
  const dir = await tmpDir(t);
  const bucket = await createBucket('cqopt');
  const conn = await s3Spec(bucket);
  const keys = Object.entries(conn)
    .map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`)
    .join('\n');
  const spec = [
    keys,
    '    path: exports',
    '    format: json',
    '    compression: gzip',
    '    test_write: true',
    '    part_size: 5242880',
    '    acl: private',
    '    content_type: application/x-ndjson',
    '    max_retries: 2',
    '    athena: true',
  ].join('\n');
  await writeFile(path.join(dir, 'c.yml'), source + destination(spec, 'cloudquery/s3'));
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /athena is accepted and not applied/);
  const objects = (await listObjects(bucket)).map((o) => o.key).sort();
  t.equal(objects.length, 2, objects.join(', '));
  t.equal(objects[0], 'exports/TEST_TABLE.json.TEST_UUID', 'test_write wrote its empty object where a table file would go');
  t.match(objects[1], /^exports\/test_table_0\.json\.[0-9a-f-]{36}$/);
  const body = await getObject(bucket, objects[1]!);
  t.equal(body[0], 0x1f, 'gzip');
  t.equal((await getObject(bucket, objects[0]!)).byteLength, 0);

  const roleArn = source + destination(`${keys}\n    credentials: { role_arn: "arn:aws:iam::123456789012:role/x" }`, 'cloudquery/s3');
  await writeFile(path.join(dir, 'c.yml'), roleArn);
  const bad = await cli(['validate-config', 'c.yml'], { cwd: dir });
  t.equal(bad.code, 2);
  t.match(bad.stderr, /spec\.spec\.credentials\.role_arn: cq-pipe does not assume roles itself/);
});
