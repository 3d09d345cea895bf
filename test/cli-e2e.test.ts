/** The CLI end to end: files in, Parquet out (read back by DuckDB), exit codes and messages. */
import { readFileSync } from 'node:fs';
import { writeFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { ROOT, duckdb, tmpDir } from './helpers/index.js';
import { cliSync } from './helpers/cli.js';
import { items, itemsTable, writeNdjson, writeParquet } from './helpers/files.js';

function cli(args: string[], cwd: string) {
  return cliSync(args, { cwd });
}

const dest = (out: string) => `kind: destination
spec:
  name: lake
  path: file
  spec:
    path: "${out}/{{TABLE}}/{{UUID}}.{{FORMAT}}"
    format: parquet
`;

t.test('NDJSON with explicit columns → Parquet that DuckDB reads with the same count and types', async (t) => {
  const dir = await tmpDir(t);
  const rows = items(25_000).map((r) => ({ ...r, amount: (r.id * 1.25).toFixed(2) }));
  await writeNdjson(path.join(dir, 'items.ndjson'), rows);
  await writeFile(
    path.join(dir, 'cfg.yml'),
    `kind: source
spec:
  name: shop
  path: file
  destinations: [lake]
  spec:
    tables:
      - name: items
        files: ./items.ndjson
        primary_key: [id]
        columns:
          - { name: id, type: int64 }
          - { name: title, type: utf8 }
          - { name: price, type: float64 }
          - { name: updated_at, type: timestamp }
          - { name: active, type: bool }
          - { name: amount, type: "decimal(12,2)" }
---
${dest('./out')}`,
  );
  const r = cli(['sync', 'cfg.yml', '--summary-location', 'summary.jsonl'], dir);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stderr.trim().split('\n').pop(), /^Sync completed successfully\. Resources: 25000, Errors: 0, Warnings: 0, Time: /);
  const glob = path.join(dir, 'out/items/*.parquet');
  const [count] = await duckdb(`SELECT count(*)::INTEGER AS n, sum(id)::BIGINT AS s, sum(amount)::DOUBLE AS a FROM read_parquet('${glob}')`);
  t.equal(count!.n, 25_000);
  t.equal(count!.s, BigInt((25_000 * 24_999) / 2));
  t.equal(
    count!.a,
    rows.reduce((s, x) => s + Number(x.amount), 0),
  );
  const types = Object.fromEntries((await duckdb(`DESCRIBE SELECT * FROM read_parquet('${glob}')`)).map((x) => [x.column_name, x.column_type]));
  t.equal(types.id, 'BIGINT');
  t.equal(types.title, 'VARCHAR');
  t.equal(types.price, 'DOUBLE');
  t.match(types.updated_at, /^TIMESTAMP/);
  t.equal(types.active, 'BOOLEAN');
  t.equal(types.amount, 'DECIMAL(12,2)');
  t.match(types._cq_sync_time, /^TIMESTAMP/);
  t.equal(types._cq_source_name, 'VARCHAR');
  const [first] = await duckdb(`SELECT epoch_ms(updated_at)::BIGINT AS ms FROM read_parquet('${glob}') WHERE id = 7`);
  t.equal(first!.ms, BigInt(Date.parse(rows[7]!.updated_at)), 'timestamps keep their instant');
  const summary = JSON.parse(readFileSync(path.join(dir, 'summary.jsonl'), 'utf8').trim().split('\n').pop()!) as Record<string, unknown>;
  t.equal(summary.resources, 25_000);
  t.equal(summary.destination_name, 'lake');
});

t.test('Parquet with inferred columns → Parquet with the same count and types', async (t) => {
  const dir = await tmpDir(t);
  await writeParquet(path.join(dir, 'in.parquet'), itemsTable(items(12_345)), 5000);
  await writeFile(
    path.join(dir, 'cfg.yml'),
    `kind: source
spec:
  name: shop
  path: file
  destinations: [lake]
  spec:
    tables:
      - { name: things, files: ./in.parquet }
---
${dest('./out')}`,
  );
  const r = cli(['sync', 'cfg.yml'], dir);
  t.equal(r.status, 0, r.stderr);
  const inTypes = Object.fromEntries(
    (await duckdb(`DESCRIBE SELECT * FROM read_parquet('${path.join(dir, 'in.parquet')}')`)).map((x) => [x.column_name, x.column_type]),
  );
  const outGlob = path.join(dir, 'out/things/*.parquet');
  const outTypes = Object.fromEntries((await duckdb(`DESCRIBE SELECT * FROM read_parquet('${outGlob}')`)).map((x) => [x.column_name, x.column_type]));
  for (const c of ['id', 'title', 'price', 'active']) t.equal(outTypes[c], inTypes[c], `${c}: ${inTypes[c]}`);
  t.match(outTypes.updated_at, /^TIMESTAMP/, 'timestamps stay timestamps');
  const [a] = await duckdb(`SELECT count(*)::INTEGER AS n, sum(id)::BIGINT AS s FROM read_parquet('${outGlob}')`);
  t.equal(a!.n, 12_345);
  t.equal(a!.s, BigInt((12_345 * 12_344) / 2));
  const [b] = await duckdb(
    `SELECT count(*)::INTEGER AS n FROM read_parquet('${outGlob}') o JOIN read_parquet('${path.join(dir, 'in.parquet')}') i USING (id) WHERE ` +
      `o.updated_at = i.updated_at AND o.title = i.title`,
  );
  t.equal(b!.n, 12_345, 'every row equal to its input');
});

t.test('a malformed NDJSON line exits 1 naming file and line; the other table still lands', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'bad.ndjson'), '{"id": 1}\n{"id": 2}\n\n{"id": 3, oops}\n{"id": 5}\n');
  await writeNdjson(path.join(dir, 'good.ndjson'), [{ id: 1 }, { id: 2 }]);
  await writeFile(
    path.join(dir, 'cfg.yml'),
    `kind: source
spec:
  name: shop
  path: file
  destinations: [lake]
  spec:
    tables:
      - { name: bad, files: ./bad.ndjson, columns: [{ name: id, type: int64 }] }
      - { name: good, files: ./good.ndjson }
---
${dest('./out')}`,
  );
  const r = cli(['sync', 'cfg.yml'], dir);
  t.equal(r.status, 1);
  t.match(r.stderr, `${path.join(dir, 'bad.ndjson')}:4`);
  t.match(r.stderr, 'malformed JSON');
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  t.match(r.stderr.trim().split('\n').pop(), /^Sync completed with errors, see logs for details\. Resources: 2, Errors: 1,/);
  t.equal((await readdir(path.join(dir, 'out/good'))).length, 1);
});

t.test('the README quickstart runs with no server and writes Parquet under ./cq-output', async (t) => {
  const dir = await tmpDir(t);
  const r = cli(['sync', path.join(ROOT, 'examples/quickstart.yml')], dir);
  t.equal(r.status, 0, r.stderr);
  const [a] = await duckdb(`SELECT count(*)::INTEGER AS n FROM read_parquet('${path.join(dir, 'cq-output/*/*.parquet')}')`);
  t.equal(a!.n, 200_000);
});

t.test('tables lists columns, types and keys (text and json)', async (t) => {
  const r = cli(['tables', path.join(ROOT, 'examples/quickstart.yml'), '--format', 'json'], ROOT);
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as
    | { source: string; tables: { name: string; columns: { name: string; type: string; primary_key: boolean }[] }[] }[]
    | Record<string, unknown>;
  t.match(JSON.stringify(out), /"test_table_0"/);
  t.match(JSON.stringify(out), /"_cq_id"/);
});

t.test('--tables-metrics-location writes per-table rows, errors and durations', async (t) => {
  const dir = await tmpDir(t);
  const metrics = path.join(dir, 'm', 'tables.json');
  const r = cli(['sync', path.join(ROOT, 'examples/quickstart.yml'), '--tables-metrics-location', metrics, '--no-progress'], dir);
  t.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(readFileSync(metrics, 'utf8')) as {
    status: string;
    tables: { source: string; table: string; rows: number; errors: number; duration_ms: number }[];
  };
  t.equal(doc.status, 'succeeded');
  t.same(
    doc.tables.map((x) => [x.source, x.table, x.rows, x.errors]),
    [
      ['demo', 'test_table_0', 100000, 0],
      ['demo', 'test_table_1', 100000, 0],
    ],
  );
  t.ok(doc.tables.every((x) => x.duration_ms >= 0));
});
