/**
 * The Postgres destination against a hostile server (issue 13, items 9, 14, 15, 16), each case set
 * up on the real server with a second role: names that collide once cut to 63 bytes, a table owned
 * by another role, a table over 1600 columns, a schema the role owns without CREATE on the
 * database, a read-only database, a statement timeout, a server that goes away. Each fails only
 * what it must, names the table and the real cause, and says "rejected rows" only for rows.
 */
import net from 'node:net';
import * as A from 'apache-arrow';
import pg from 'pg';
import t from 'tap';
import { runSync, type SyncResult } from '../lib/pipeline.js';
import { createLogger } from '../lib/logger.js';
import { defineTable, type ColumnDef } from '../lib/schema.js';
import type { SyncMessage, WriteMode } from '../lib/messages.js';
import { exitCodeOfSync } from '../bin/exit-codes.js';
import { config, destSpec, inserts, sourceSpec, staticSource } from './helpers/index.js';
import { freshDatabase, query } from './helpers/postgres.js';

let roles = 0;
const rand = () => `${process.pid}_${++roles}_${Math.floor(Math.random() * 1e6)}`;

/** a login role (not a superuser) and its URL for the database of `url` */
async function loginRole(url: string, prefix = 'sync'): Promise<{ role: string; url: string }> {
  const role = `${prefix}_${rand()}`;
  await query(url, `CREATE ROLE ${role} LOGIN PASSWORD 'pw'`);
  const u = new URL(url);
  u.username = role;
  u.password = 'pw';
  return { role, url: u.toString() };
}

const dbName = (url: string) => new URL(url).pathname.slice(1);

/** a fresh database owned by a new login role (it may create tables in public, as an application role) */
async function ownedDatabase(prefix: string): Promise<{ admin: string; url: string; role: string }> {
  const admin = await freshDatabase(prefix);
  const r = await loginRole(admin);
  await query(admin, `ALTER DATABASE "${dbName(admin)}" OWNER TO ${r.role}`);
  return { admin, ...r };
}

const cols = (...names: string[]): ColumnDef[] => names.map((name) => ({ name, type: name === 'id' ? 'int64' : 'utf8', primary_key: name === 'id' }));
const table = (name: string, columns: ColumnDef[]) => defineTable({ name, columns });

/** `n` rows of `schema`: ids 1…n, text `v<id>` */
function rows(schema: A.Schema, n: number): A.RecordBatch {
  const children = schema.fields.map((f) => {
    const b = A.makeBuilder({ type: f.type, nullValues: [null] });
    for (let i = 1; i <= n; i++) b.append(A.DataType.isInt(f.type) ? BigInt(i) : `v${i}`);
    return b.finish().flush();
  });
  return new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length: n, nullCount: 0, children }));
}

function sync(url: string, tables: A.Schema[], messages: SyncMessage[], o: { writeMode?: WriteMode; noMigrate?: boolean; spec?: object } = {}) {
  const src = staticSource(tables, messages, { destinations: ['pg'] });
  const dest = destSpec({ name: 'pg', path: 'postgresql', write_mode: o.writeMode ?? 'overwrite-delete-stale', spec: { connection_string: url, ...o.spec } });
  return runSync({ logger: createLogger({ level: 'error', write: () => {} }), noMigrate: o.noMigrate, config: config([src.spec], [dest]) });
}

const allErrors = (r: SyncResult) => [...r.errors, ...(r.fatal && !r.errors.includes(r.fatal) ? [r.fatal] : [])];
const count = async (url: string, tb: string) => Number((await query<{ n: string }>(url, `SELECT count(*)::text AS n FROM ${tb}`))[0]!.n);

t.test('migration failures stay with their table: another role owns it, > 1600 columns, names colliding at 63 bytes', async (t) => {
  const db = await ownedDatabase('hostile');
  const other = `other_${rand()}`;
  await query(db.admin, `CREATE ROLE ${other} NOLOGIN`);
  const fine = table('fine', cols('id', 'name'));
  const owned1 = table('owned', cols('id', 'name'));
  t.equal(exitCodeOfSync(await sync(db.url, [fine, owned1], [...inserts('fine', rows(fine, 2)), ...inserts('owned', rows(owned1, 2))])), 0);
  await query(db.admin, `ALTER TABLE owned OWNER TO ${other}`);

  const owned = table('owned', cols('id', 'name', 'added')); // ADD COLUMN needs the table's owner
  const wide = table('wide', cols('id', ...Array.from({ length: 1700 }, (_, i) => `c${i}`)));
  const prefix = 't'.repeat(60) + 'abc'; // 63 bytes
  const longA = table(`${prefix}_one`, cols('id', 'name'));
  const longB = table(`${prefix}_two`, cols('id', 'name'));
  const colPrefix = 'c'.repeat(63);
  const twins = table('twins', cols('id', `${colPrefix}_x`, `${colPrefix}_y`));
  const all = [fine, owned, wide, longA, longB, twins];
  const res = await sync(
    db.url,
    all,
    all.flatMap((s) => inserts(s.metadata.get('cq:table_name')!, rows(s, 3))),
  );
  t.equal(exitCodeOfSync(res), 1, 'failed tables make the sync exit 1');
  t.notOk(res.fatal, 'no error stopped the sync');
  const byTable = new Map(res.errors.map((e) => [e.context.table, e]));
  t.same([...byTable.keys()].sort(), ['owned', 'twins', 'wide', `${prefix}_one`, `${prefix}_two`].sort(), 'one error per refused table');
  for (const e of res.errors) t.equal(e.scope, 'table', `${e.context.table}: scope table`);
  t.equal(byTable.get('owned')!.code, 'CQ_ERR_DEST_WRITE');
  t.match(byTable.get('owned')!.message, /^migration of table owned failed: permission denied: must be owner of table owned \[SQLSTATE 42501\]/);
  t.equal(byTable.get('wide')!.code, 'CQ_ERR_SCHEMA_INCOMPATIBLE');
  t.match(byTable.get('wide')!.message, /^migration of table wide failed: tables can have at most 1600 columns \[SQLSTATE 54011\]/);
  for (const [me, them] of [
    ['one', 'two'],
    ['two', 'one'],
  ]) {
    const e = byTable.get(`${prefix}_${me}`)!;
    t.equal(e.code, 'CQ_ERR_SCHEMA_INCOMPATIBLE');
    t.match(e.message, `table ${prefix}_${me} and table ${prefix}_${them} would both be Postgres table "${prefix}"`, 'names both tables');
  }
  t.match(byTable.get('twins')!.message, `columns "${colPrefix}_x" and "${colPrefix}_y" would both be Postgres column "${colPrefix}"`);
  t.equal(await count(db.url, 'fine'), 3, 'the other table has every row of this sync (and its stale rows deleted)');
  t.same(await query(db.url, 'SELECT to_regclass($1) IS NULL AS none', [prefix]), [{ none: true }], 'no merged table was created');
  t.same(await query(db.url, "SELECT to_regclass('wide') IS NULL AS none, to_regclass('twins') IS NULL AS none2"), [{ none: true, none2: true }]);
  t.equal(await count(db.admin, 'owned'), 2, "the owned table keeps its rows, and gets none of this sync's");
  const ownedCols = await query<{ n: string }>(
    db.url,
    "SELECT count(*)::text AS n FROM information_schema.columns WHERE table_name = 'owned' AND column_name = 'added'",
  );
  t.equal(ownedCols[0]!.n, '0');

  // without migrations, the second long name is refused before a row of it reaches the first's table
  await query(db.url, `CREATE TABLE "${prefix}" (LIKE fine)`);
  const noMigrate = await sync(db.url, [longA, longB], [...inserts(`${prefix}_one`, rows(longA, 2)), ...inserts(`${prefix}_two`, rows(longB, 4))], {
    noMigrate: true,
    writeMode: 'append',
  });
  t.same(
    noMigrate.errors.map((e) => [e.code, e.context.table]),
    [['CQ_ERR_SCHEMA_INCOMPATIBLE', `${prefix}_two`]],
  );
  t.equal(await count(db.url, `"${prefix}"`), 2, 'only the first table wrote into it');
});

t.test('a role that owns its schema without CREATE on the database syncs into it (destination and state)', async (t) => {
  const admin = await freshDatabase('schema');
  const r = await loginRole(admin);
  await query(admin, `CREATE SCHEMA app AUTHORIZATION ${r.role}`);
  const refused = await query(r.url, 'CREATE SCHEMA IF NOT EXISTS app').then(
    () => '',
    (err: { code?: string }) => err.code,
  );
  t.equal(refused, '42501', 'the role may not run CREATE SCHEMA IF NOT EXISTS, even for its own schema');
  const inApp = `${r.url}?search_path=app`;
  const src = sourceSpec({
    path: 'test',
    destinations: ['pg'],
    backend_options: { table_name: 'cq_state', connection: inApp },
    spec: { num_tables: 1, num_rows: 50, incremental: true },
  });
  const dests = [
    destSpec({ name: 'pg', path: 'postgresql', write_mode: 'overwrite', spec: { connection_string: inApp } }),
    destSpec({ name: 'pg2', path: 'postgresql', spec: { connection_string: r.url, schema: 'app' } }),
  ];
  const res = await runSync({ logger: createLogger({ level: 'error', write: () => {} }), config: config([{ ...src, destinations: ['pg', 'pg2'] }], dests) });
  t.equal(
    exitCodeOfSync(res),
    0,
    allErrors(res)
      .map((e) => e.message)
      .join('\n'),
  );
  t.equal(await count(admin, 'app.test_table_0'), 50);
  t.ok((await count(admin, 'app.cq_state')) > 0, 'the state table is in the schema');
});

t.test('a read-only database: the cause and the table are named, not "rejected rows"', async (t) => {
  const items = table('items', cols('id', 'name'));
  for (const writeMode of ['overwrite', 'append'] as WriteMode[]) {
    const db = await ownedDatabase('ro');
    t.equal(exitCodeOfSync(await sync(db.url, [items], inserts('items', rows(items, 2)), { writeMode })), 0);
    await query(db.admin, `ALTER DATABASE "${dbName(db.admin)}" SET default_transaction_read_only = on`);
    const res = await sync(db.url, [items], inserts('items', rows(items, 5)), { writeMode });
    t.equal(exitCodeOfSync(res), 1, writeMode);
    const [e, ...more] = allErrors(res);
    t.same(more, []);
    t.equal(e!.code, 'CQ_ERR_DEST_WRITE');
    t.equal(e!.context.table, 'items', `${writeMode}: the table is in the context`);
    t.match(e!.message, /^writing table items failed: the database is read-only .*\[SQLSTATE 25006\]/, writeMode);
    t.notMatch(e!.message, /rejected rows|\?/);
    t.equal(await count(db.admin, 'items'), 2, 'the committed rows are kept');
  }
  // the first sync into a read-only database: its migration names the table
  const db = await ownedDatabase('ro');
  await query(db.admin, `ALTER DATABASE "${dbName(db.admin)}" SET default_transaction_read_only = on`);
  const res = await sync(db.url, [items], inserts('items', rows(items, 5)));
  const [e] = allErrors(res);
  t.equal(exitCodeOfSync(res), 1);
  t.equal(e!.context.table, 'items');
  t.match(e!.message, /^migration of table items failed: the database is read-only/);
});

t.test("a role's statement_timeout cancels the load: named as such, with the table", async (t) => {
  const db = await ownedDatabase('timeout');
  const items = table('items', cols('id', 'name'));
  t.equal(exitCodeOfSync(await sync(db.url, [items], inserts('items', rows(items, 2)), { writeMode: 'append' })), 0);
  await query(db.admin, `ALTER ROLE ${db.role} SET statement_timeout = '300ms'`);
  // another session holds the table: the COPY waits until the timeout cancels it
  const holder = new pg.Client({ connectionString: db.admin });
  await holder.connect();
  t.teardown(() => holder.end());
  await holder.query('BEGIN');
  await holder.query('LOCK TABLE items IN ACCESS EXCLUSIVE MODE');
  const res = await sync(db.url, [items], inserts('items', rows(items, 5)), { writeMode: 'append' });
  await holder.query('ROLLBACK');
  t.equal(exitCodeOfSync(res), 1);
  const [e, ...more] = allErrors(res);
  t.same(more, []);
  t.equal(e!.code, 'CQ_ERR_DEST_WRITE');
  t.equal(e!.context.table, 'items');
  t.match(e!.message, /^writing table items failed: the server's statement_timeout canceled the statement: .*\[SQLSTATE 57014\]/);
  t.notMatch(e!.message, /rejected rows/);
  t.equal(await count(db.admin, 'items'), 2);
});

/** a TCP proxy to Postgres that cuts itself (open connections dropped, new ones refused) when a client first sends COPY data */
async function cutAtCopy(target: string): Promise<string> {
  const to = new URL(target);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((c) => {
    const up = net.connect(Number(to.port), to.hostname);
    sockets.add(c).add(up);
    c.on('data', (chunk: Buffer) => {
      // a CopyData message ('d'): the load is under way in its transaction
      if (chunk[0] === 0x64) {
        server.close();
        for (const s of sockets) s.destroy();
      } else up.write(chunk);
    });
    up.pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const u = new URL(target);
  u.port = String((server.address() as net.AddressInfo).port);
  return u.toString();
}

t.test('the server goes away mid-load: after the retries, "unreachable", naming the table', async (t) => {
  const db = await ownedDatabase('gone');
  const items = table('items', cols('id', 'name'));
  const res = await sync(await cutAtCopy(db.url), [items], inserts('items', rows(items, 10), rows(items, 10)), {
    writeMode: 'append',
    spec: { batch_size: 10 },
  });
  t.equal(exitCodeOfSync(res), 1);
  const [e] = allErrors(res);
  t.equal(e!.code, 'CQ_ERR_DEST_WRITE');
  t.equal(e!.context.table, 'items');
  t.match(e!.message, /^writing table items failed: the Postgres server is unreachable \(gave up after 8 retries\): .*ECONNREFUSED/);
  t.notMatch(e!.message, /rejected rows/);
  t.equal(await count(db.admin, 'items'), 0, 'the table was created, and nothing half committed');
});
