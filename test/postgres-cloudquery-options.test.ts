/**
 * The keys of CloudQuery's postgresql destination and source specs (issue 12 item 6, see
 * docs/postgresql.md "CloudQuery's keys"): every one accepted by validate-config; the honoured ones
 * checked on the server (create_performance_indexes builds CloudQuery's index, batch_timeout takes a
 * Go duration, rows_per_record sizes the source's batches); the others print one notice each, or
 * are a config error when ignoring them would lose what the user asked for.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { durationMs } from '../lib/config/engine-keys.js';
import { createLogger } from '../lib/logger.js';
import { postgresSource } from '../connectors/postgresql/source.js';
import { cli } from './helpers/cli.js';
import { writeNdjson } from './helpers/files.js';
import { tmpDir } from './helpers/index.js';
import { freshDatabase, query } from './helpers/postgres.js';

const LONG = `orders_${'x'.repeat(55)}`; // 62 bytes: over 58, so CloudQuery hashes its index name

const source = `kind: source
spec:
  name: shop
  path: file
  tables: ["*"]
  destinations: [pg]
  spec:
    tables:
      - { name: items, files: ./items.ndjson, format: ndjson, primary_key: [id] }
      - { name: ${LONG}, files: ./items.ndjson, format: ndjson, primary_key: [id] }
`;
const destination = (url: string, keys: string, writeMode = 'overwrite-delete-stale') => `---
kind: destination
spec:
  name: pg
  path: cloudquery/postgresql
  registry: cloudquery
  version: v8.0.0
  write_mode: ${writeMode}
  spec:
    connection_string: "${url}"
${keys}
`;

const ALL_KEYS = `    pgx_log_level: debug
    batch_size: 5000
    batch_size_bytes: 4194304
    batch_timeout: 1m30s
    create_performance_indexes: true
    retry_on_deadlock: 3`;

async function setup(t: Test, yaml: string): Promise<string> {
  const dir = await tmpDir(t);
  await writeNdjson(
    path.join(dir, 'items.ndjson'),
    [1, 2, 3].map((id) => ({ id, name: `n${id}` })),
  );
  await writeFile(path.join(dir, 'c.yml'), yaml);
  return dir;
}

const occurrences = (s: string, re: RegExp) => s.split('\n').filter((l) => re.test(l)).length;

t.test('batch_timeout takes a Go duration, as CloudQuery', async (t) => {
  t.equal(durationMs('1m30s'), 90_000);
  t.equal(durationMs('2m3.5s'), 123_500);
  t.equal(durationMs('1.5h'), 5_400_000);
  t.equal(durationMs('500ms'), 500);
  t.equal(durationMs('1500us'), 1.5);
  t.equal(durationMs('60s'), 60_000);
  t.equal(durationMs('90'), 90_000, 'a bare number is seconds');
  t.equal(durationMs(90), 90_000);
  t.equal(durationMs('1m 30s'), undefined);
  t.equal(durationMs('1x'), undefined);
  t.equal(durationMs('m'), undefined);
  const dir = await setup(t, source + destination('postgres://u@h/db', '    batch_timeout: 1 minute'));
  const r = await cli(['validate-config', 'c.yml'], { cwd: dir });
  t.equal(r.code, 2);
  t.match(r.stderr, /spec\.spec\.batch_timeout/);
});

t.test("every key of CloudQuery's postgresql destination and source is accepted by validate-config", async (t) => {
  const pgSource = `---
kind: source
spec:
  name: other
  path: cloudquery/postgresql
  registry: cloudquery
  version: v6.0.0
  tables: ["*"]
  destinations: [pg]
  spec:
    connection_string: postgres://u@h/db
    pgx_log_level: trace
    cdc_id: cq_cdc
    rows_per_record: 5000
`;
  const dir = await setup(t, source + destination('postgres://u@h/db', ALL_KEYS) + pgSource);
  const r = await cli(['validate-config', 'c.yml'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
});

t.test('lakebase, aws_iam_auth and pgvector_config: a config error naming the key (cq-pipe cannot honour them)', async (t) => {
  for (const [key, value] of [
    ['lakebase', '{ endpoint: projects/p/branches/b/endpoints/e }'],
    ['aws_iam_auth', '{ region: us-east-1 }'],
    ['pgvector_config', '{ tables: [] }'],
  ]) {
    const dir = await setup(t, source + destination('postgres://u@h/db', `    ${key}: ${value}`));
    const r = await cli(['validate-config', 'c.yml'], { cwd: dir });
    t.equal(r.code, 2, key);
    t.match(r.stderr, new RegExp(`spec\\.spec\\.${key}: ${key} is not supported by cq-pipe`), key);
  }
});

t.test("create_performance_indexes builds CloudQuery's index (its name, its columns); notices print once", async (t) => {
  const url = await freshDatabase('cqopt');
  const dir = await setup(t, source + destination(url, ALL_KEYS));
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  t.equal(occurrences(r.stderr, /pgx_log_level is accepted and not applied/), 1, 'the pgx_log_level notice, once');
  t.equal(occurrences(r.stderr, /retry_on_deadlock is accepted and not applied/), 1, 'the retry_on_deadlock notice, once');
  const hashed = `${createHash('sha256').update(LONG).digest('hex').slice(0, 32)}_cqpi`;
  const idx = await query<{ table: string; name: string; def: string }>(
    url,
    "SELECT tablename AS table, indexname AS name, indexdef AS def FROM pg_indexes WHERE indexname LIKE '%cqpi' ORDER BY tablename",
  );
  t.same(
    idx.map((i) => [i.table, i.name]),
    [
      ['items', 'items_cqpi'],
      [LONG, hashed],
    ],
  );
  for (const i of idx) t.match(i.def, /USING btree \(_cq_source_name, _cq_sync_time\)$/, `${i.name} on (_cq_source_name, _cq_sync_time)`);
  t.equal(Number((await query<{ n: string }>(url, `SELECT count(*)::text AS n FROM "${LONG}"`))[0]!.n), 3);

  // a second sync finds the indexes and creates no other
  const again = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(again.code, 0, again.stderr);
  const n = await query<{ n: string }>(url, "SELECT count(*)::text AS n FROM pg_indexes WHERE schemaname = 'public' AND indexdef LIKE '%_cq_sync_time%'");
  t.equal(n[0]!.n, '2');
});

t.test('create_performance_indexes: false creates no index; append creates none either (no primary key)', async (t) => {
  for (const [keys, mode] of [
    ['    create_performance_indexes: false', 'overwrite-delete-stale'],
    ['    create_performance_indexes: true', 'append'],
  ]) {
    const url = await freshDatabase('cqopt');
    const dir = await setup(t, source + destination(url, keys!, mode));
    const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
    t.equal(r.code, 0, r.stderr);
    t.notMatch(r.stderr, /accepted and not applied/, 'no notice for keys that are honoured');
    const n = await query<{ n: string }>(url, "SELECT count(*)::text AS n FROM pg_indexes WHERE indexname LIKE '%cqpi'");
    t.equal(n[0]!.n, '0', `${keys!.trim()}, ${mode}`);
  }
});

t.test("the source's rows_per_record sizes its batches; pgx_log_level and cdc_id print one notice each", async (t) => {
  const url = await freshDatabase('cqopt');
  await query(url, 'CREATE TABLE a (id bigint PRIMARY KEY); INSERT INTO a SELECT generate_series(1, 100)');
  const lines: string[] = [];
  const ctx = { name: 'pgsrc', logger: createLogger({ level: 'info', write: (l) => lines.push(l) }), baseDir: '.', invocationId: 'i', syncTime: new Date() };
  const client = await postgresSource.create({ connection_string: url, rows_per_record: 30, pgx_log_level: 'debug', cdc_id: 'x' }, ctx);
  const sizes: number[] = [];
  for await (const m of client.read(await client.tables(), { signal: new AbortController().signal, state: new Map() })) {
    if (m.kind === 'insert') sizes.push(m.batch.numRows);
  }
  await client.close?.();
  t.same(sizes, [30, 30, 30, 10]);
  t.equal(occurrences(lines.join('\n'), /pgx_log_level is accepted and not applied/), 1);
  t.equal(occurrences(lines.join('\n'), /cdc_id is accepted and not applied/), 1);
});
