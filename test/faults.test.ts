/**
 * Fault tolerance against a real Postgres that is stopped and started mid-sync: the destination
 * reconnects with backoff and replays the uncommitted transaction, so every row lands exactly once.
 */
import pg from 'pg';
import t, { type Test } from 'tap';
import { runSync } from '../lib/pipeline.js';
import { createLogger } from '../lib/logger.js';
import type { WriteMode } from '../lib/messages.js';
import { isTransient } from '../connectors/postgresql/destination.js';
import { config, destSpec, sourceSpec } from './helpers/index.js';
import { startEmbeddedPostgres, type PgServer } from './helpers/pg-server.js';
import { exitCodeOfSync } from '../bin/exit-codes.js';

let server: PgServer;
t.before(async () => {
  server = await startEmbeddedPostgres(['-c', 'fsync=off', '-c', 'synchronous_commit=off']);
});
t.teardown(() => server?.stop());

async function q<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

let dbs = 0;
async function db(): Promise<string> {
  const name = `faults_${++dbs}`;
  await q(server.url, `CREATE DATABASE ${name}`);
  const u = new URL(server.url);
  u.pathname = `/${name}`;
  return u.toString();
}

const ROWS = 120_000;

// overwrite + incremental: a commit at every checkpoint, so the restart falls between commits;
// append: one long transaction, so the restart rolls back many rows that must be replayed
for (const [mode, incremental] of [
  ['overwrite', true],
  ['append', false],
] as [WriteMode, boolean][]) {
  t.test(`${mode}${incremental ? ' (checkpoints)' : ''}: Postgres restarted mid-sync → retried, every row exactly once`, async (t) => {
    const url = await db();
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', write: (l) => lines.push(l) });
    let stats: { resources: number } | undefined;
    const sync = runSync({
      logger,
      onStats: (_s, st) => {
        stats = st;
      },
      config: config(
        [
          sourceSpec({
            path: 'test',
            destinations: ['pg'],
            deterministic_cq_id: true,
            spec: { num_rows: ROWS, batch_rows: 2000, preset: 'all-types', incremental },
          }),
        ],
        [destSpec({ name: 'pg', path: 'postgresql', write_mode: mode, spec: { connection_string: url, batch_size: 2000 } })],
      ),
    });
    let done = false;
    void sync.finally(() => {
      done = true;
    });
    // restart once a third of the rows went into the destination, while the sync is loading
    let restarted = false;
    while (!done) {
      if ((stats?.resources ?? 0) >= ROWS / 3) {
        await server.restart(300);
        restarted = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    const res = await sync;
    t.ok(restarted, 'the server was restarted while the sync ran');
    t.equal(exitCodeOfSync(res), 0, res.errors.map((e) => e.message).join('\n'));
    t.ok(
      lines.some((l) => /transient Postgres error|reconnecting to Postgres failed/.test(l)),
      'the retry was logged',
    );
    const [r] = await q<{ n: string; d: string }>(url, 'SELECT count(*)::text AS n, count(DISTINCT id)::text AS d FROM test_table_0');
    t.same(r, { n: String(ROWS), d: String(ROWS) }, 'no row lost, none duplicated');
  });
}

t.test('what counts as transient', async (t) => {
  t.ok(isTransient({ code: '57P01', message: 'terminating connection due to administrator command' }));
  t.ok(isTransient({ code: 'ECONNREFUSED' }));
  t.ok(isTransient({ message: 'Connection terminated unexpectedly' }));
  t.ok(isTransient({ code: '40P01' }));
  t.notOk(isTransient({ code: '23505', message: 'duplicate key' }));
  t.notOk(isTransient({ code: '22P02', message: 'invalid input syntax' }));
});

// --- the postgresql source: a lost connection mid-read -----------------------------------------

async function sourceTable(url: string, rows: number): Promise<void> {
  // updated_at has ties (10 rows per second) so resuming must order by (cursor, key)
  await q(url, `CREATE TABLE events (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, payload text NOT NULL)`);
  await q(
    url,
    `INSERT INTO events SELECT i, timestamptz '2024-01-01' + (i / 10) * interval '1 second', repeat(md5(i::text), 4) FROM generate_series(1, ${rows}) i`,
  );
}

async function readWithRestart(t: Test, url: string, table: Record<string, unknown>, rows: number) {
  const { memoryTables } = await import('../connectors/memory.js');
  const lines: string[] = [];
  let stats: { resources: number } | undefined;
  const dest = `mem_${++dbs}`;
  const sync = runSync({
    logger: createLogger({ level: 'warn', write: (l) => lines.push(l) }),
    onStats: (_s, st) => {
      stats = st;
    },
    config: config(
      [sourceSpec({ path: 'postgresql', destinations: [dest], spec: { connection_string: url, batch_rows: 2000, tables: [{ name: 'events', ...table }] } })],
      [destSpec({ name: dest, path: 'memory', write_mode: 'append', spec: { batch_size: 2000 } })],
    ),
  });
  let done = false;
  void sync.finally(() => {
    done = true;
  });
  let restartedAt = -1;
  while (!done) {
    if ((stats?.resources ?? 0) >= rows / 3) {
      restartedAt = stats!.resources;
      await server.restart(300);
      break;
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  const res = await sync;
  t.ok(restartedAt >= 0 && restartedAt < rows, `the server was stopped mid-read (after ${restartedAt} of ${rows} rows)`);
  const got = memoryTables(dest).get('events')?.rows ?? [];
  return { res, lines, ids: got.map((r) => String(r.id)) };
}

for (const [what, table] of [
  ['resumable full read (key order)', { resumable: true }],
  ['incremental read (cursor with ties, then key)', { incremental: { cursor: 'updated_at' } }],
] as const) {
  t.test(`postgresql source, ${what}: Postgres restarted mid-read → reconnects and goes on after the last row emitted, every row once`, async (t) => {
    const url = await db();
    const ROWS_ = 150_000;
    await sourceTable(url, ROWS_);
    const { res, lines, ids } = await readWithRestart(t, url, table, ROWS_);
    t.equal(exitCodeOfSync(res), 0, res.errors.map((e) => e.message).join('\n'));
    t.ok(
      lines.some((l) => /lost the connection reading public\.events/.test(l) && /after the last row emitted/.test(l)),
      'the retry was logged',
    );
    t.equal(ids.length, ROWS_, 'no row lost, none read twice');
    t.equal(new Set(ids).size, ROWS_);
  });
}

t.test('postgresql source, a full read in no key order: a lost connection after rows were emitted fails the table with a hint', async (t) => {
  const url = await db();
  const ROWS_ = 150_000;
  await sourceTable(url, ROWS_);
  const { res } = await readWithRestart(t, url, {}, ROWS_);
  t.equal(exitCodeOfSync(res), 1);
  t.equal(res.errors.length, 1);
  const e = res.errors[0]!;
  t.equal(e.code, 'CQ_ERR_SOURCE_READ');
  t.equal(e.context.table, 'events');
  t.match(e.message, /failed after \d+ rows: .*cannot go on where it stopped/);
  t.match(e.hint, /resumable: true/);
});

t.test('postgresql source: the server down at start → connecting is retried until it is back', async (t) => {
  const url = await db();
  await sourceTable(url, 1000);
  const { memoryTables } = await import('../connectors/memory.js');
  const lines: string[] = [];
  const down = server.restart(1500); // stops now, starts again 1.5 s later
  await new Promise((r) => setTimeout(r, 300));
  const res = await runSync({
    logger: createLogger({ level: 'warn', write: (l) => lines.push(l) }),
    config: config(
      [sourceSpec({ path: 'postgresql', destinations: ['mem_start'], spec: { connection_string: url } })],
      [destSpec({ name: 'mem_start', path: 'memory', write_mode: 'append', spec: {} })],
    ),
  });
  await down;
  t.equal(exitCodeOfSync(res), 0, res.errors.map((e) => e.message).join('\n'));
  t.ok(
    lines.some((l) => /connecting to Postgres for the catalog failed/.test(l)),
    'the retries were logged',
  );
  t.equal(memoryTables('mem_start').get('events')?.rows.length, 1000);
});
