/**
 * Fault tolerance against a real Postgres that is stopped and started mid-sync: the destination
 * reconnects with backoff and replays the uncommitted transaction, so every row lands exactly once.
 */
import pg from 'pg';
import t from 'tap';
import { runSync } from '../lib/pipeline.js';
import { createLogger } from '../lib/logger.js';
import type { WriteMode } from '../lib/messages.js';
import { isTransient } from '../connectors/postgresql/destination.js';
import { config, destSpec, sourceSpec } from './helpers/index.js';
import { startEmbeddedPostgres, type PgServer } from './helpers/pg-server.js';

let server: PgServer;
t.before(async () => {
  server = await startEmbeddedPostgres(['-c', 'fsync=off', '-c', 'synchronous_commit=off']);
});
t.teardown(() => server?.stop());

async function q<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try { return (await c.query<T>(sql)).rows; } finally { await c.end(); }
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
for (const [mode, incremental] of [['overwrite', true], ['append', false]] as [WriteMode, boolean][]) {
  t.test(`${mode}${incremental ? ' (checkpoints)' : ''}: Postgres restarted mid-sync → retried, every row exactly once`, async (t) => {
    const url = await db();
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', write: (l) => lines.push(l) });
    let stats: { resources: number } | undefined;
    const sync = runSync({
      logger,
      onStats: (_s, st) => { stats = st; },
      config: config(
        [sourceSpec({ path: 'test', destinations: ['pg'], deterministic_cq_id: true, spec: { num_rows: ROWS, batch_rows: 2000, preset: 'all-types', incremental } })],
        [destSpec({ name: 'pg', path: 'postgresql', write_mode: mode, spec: { connection_string: url, batch_size: 2000 } })],
      ),
    });
    let done = false;
    void sync.finally(() => { done = true; });
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
    t.equal(res.exitCode, 0, res.errors.map((e) => e.message).join('\n'));
    t.ok(lines.some((l) => /transient Postgres error|reconnecting to Postgres failed/.test(l)), 'the retry was logged');
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
