/**
 * Postgres connection strings (docs/postgresql.md, "Connection strings"): libpq's keyword/value
 * form works wherever a URL does (source, destination, state backend); `search_path` in a URL or
 * in keywords selects the schema tables land in; a non-Postgres URL is a config error (exit 2)
 * naming the key.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { parseKeywordValue, pgConnection } from '../connectors/postgresql/connection.js';
import { cli } from './helpers/cli.js';
import { tmpDir } from './helpers/index.js';
import { freshDatabase, query } from './helpers/postgres.js';

/** the keyword/value form of a postgres:// URL (the password quoted, as libpq allows) */
function dsnOf(url: string, extra = ''): string {
  const u = new URL(url);
  const pw = decodeURIComponent(u.password).replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  return `host=${u.hostname} port=${u.port} dbname=${u.pathname.slice(1)} user=${decodeURIComponent(u.username)} password='${pw}' sslmode=disable${extra}`;
}

/** a source database with one incremental table of 3 rows */
async function sourceDatabase(): Promise<string> {
  const src = await freshDatabase('src');
  await query(src, 'CREATE TABLE orders (id bigint PRIMARY KEY, total numeric(10,2), updated_at timestamptz NOT NULL)');
  await query(src, "INSERT INTO orders SELECT i, i * 1.5, '2024-01-01'::timestamptz + i * interval '1 hour' FROM generate_series(1, 3) i");
  return src;
}

const config = (src: string, dst: string, destExtra = '') => `kind: source
spec:
  name: shop
  path: postgresql
  tables: ["*"]
  destinations: [pg]
  backend_options: { table_name: cq_state_shop, connection: "@@plugins.pg.connection" }
  spec:
    connection_string: "${src}"
    tables: [{ name: public.orders, incremental: { cursor: updated_at } }]
---
kind: destination
spec:
  name: pg
  path: postgresql
  spec: { connection_string: "${dst}"${destExtra} }
`;

async function syncWith(t: Test, src: string, dst: string, destExtra = '') {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'c.yml'), config(src, dst, destExtra));
  return cli(['sync', 'c.yml'], { cwd: dir });
}

t.test('keyword/value connection strings work for the source, the destination and the state backend', async (t) => {
  const src = await sourceDatabase();
  const dst = await freshDatabase('dst');
  const r = await syncWith(t, dsnOf(src), dsnOf(dst));
  t.equal(r.code, 0, r.stderr);
  const rows = await query<{ id: string; total: string }>(dst, 'SELECT id::text, total::text FROM orders ORDER BY id');
  t.same(
    rows.map((x) => [x.id, x.total]),
    [
      ['1', '1.50'],
      ['2', '3.00'],
      ['3', '4.50'],
    ],
  );
  const state = await query<{ key: string; value: string }>(dst, 'SELECT key, value FROM public.cq_state_shop');
  t.equal(state.length, 1, 'the cursor was saved through the keyword/value connection');
  t.match(state[0]!.value, /2024-01-01/);
});

t.test('search_path in a URL or in keywords selects the schema tables (and state) land in', async (t) => {
  const src = await sourceDatabase();
  for (const [name, dstOf] of [
    ['URL ?search_path=other', (u: string) => `${u}?search_path=other`],
    ['keywords search_path=other', (u: string) => dsnOf(u, ' search_path=other')],
    ['URL, quoted list with $user', (u: string) => `${u}?search_path=%22%24user%22,other,public`],
  ] as const) {
    const dst = await freshDatabase('sp');
    const r = await syncWith(t, src, dstOf(dst));
    t.equal(r.code, 0, `${name}: ${r.stderr}`);
    const tables = await query<{ s: string; t: string }>(
      dst,
      "SELECT schemaname AS s, tablename AS t FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2",
    );
    t.same(
      tables.map((x) => `${x.s}.${x.t}`),
      ['other.cq_state_shop', 'other.orders'],
      `${name}: the table and the state land in schema other`,
    );
    t.equal((await query(dst, 'SELECT * FROM other.orders')).length, 3);
  }
  // an explicit spec.schema wins over the search_path
  const dst = await freshDatabase('sp');
  const r = await syncWith(t, src, `${dst}?search_path=other`, ', schema: mine');
  t.equal(r.code, 0, r.stderr);
  t.equal((await query(dst, 'SELECT * FROM mine.orders')).length, 3, 'spec.schema: mine');
});

t.test('a connection string that is not Postgres: exit 2 naming the key, before connecting', async (t) => {
  const src = await sourceDatabase();
  const dst = await freshDatabase('dst');
  const cases: [string, string, string, RegExp][] = [
    ['mysql URL for the destination', src, 'mysql://root@127.0.0.1:3306/shop', /a mysql:\/\/ URL; a Postgres connection string is expected/],
    ['mysql URL for the source', 'mysql://root@127.0.0.1:3306/shop', dst, /a mysql:\/\/ URL; a Postgres connection string is expected/],
    ['host:port/db', src, '127.0.0.1:5432/shop', /a Postgres connection string is expected/],
    ['a misspelled keyword', src, 'host=127.0.0.1 dbnme=shop', /"dbnme", which is not a Postgres connection keyword \(did you mean "dbname"\?\)/],
    ['an unclosed quote', src, "host=127.0.0.1 password='abc", /the quoted value of "password" has no closing quote/],
  ];
  for (const [name, s, d, message] of cases) {
    const r = await syncWith(t, s, d);
    t.equal(r.code, 2, `${name}: ${r.stderr}`);
    t.match(r.stderr, 'spec.spec.connection_string', `${name}: names the key`);
    t.match(r.stderr, message, name);
    t.notMatch(r.stderr, /ECONNREFUSED|ENOTFOUND/, `${name}: no connection was tried`);
  }
  t.equal((await query(dst, "SELECT * FROM pg_tables WHERE schemaname = 'public'")).length, 0, 'nothing was written');
});

t.test("libpq's keyword/value syntax: quotes, escapes, spaces around =", async (t) => {
  const kv = parseKeywordValue("host = db.example  port=6543 password='it\\'s' user='a b' options='-c x=1' application_name=a\\ b", 'k');
  t.same(Object.fromEntries(kv), { host: 'db.example', port: '6543', password: "it's", user: 'a b', options: '-c x=1', application_name: 'a b' });
  t.same(Object.fromEntries(parseKeywordValue("password='it\\'s \\\\ ok'", 'k')), { password: "it's \\ ok" });
  const c = pgConnection(`host=/var/run/postgresql dbname='my db' search_path='"a b",c'`, 'spec.connection_string');
  t.equal(c.schema, 'a b');
  t.equal(c.where, '/var/run/postgresql:5432/my db');
  const u = new URL(c.connectionString);
  t.equal(u.searchParams.get('options'), '-c search_path="a\\ b",c', 'search_path becomes a startup option, its space escaped');
  t.equal(u.searchParams.get('host'), '/var/run/postgresql');
  t.equal(pgConnection('postgresql://u:p@h:1/d?sslmode=require', 'k').connectionString, 'postgresql://u:p@h:1/d?sslmode=require', 'a URL is kept');
});
