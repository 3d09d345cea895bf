/**
 * The replay log of the postgresql destination (connectors/postgresql/replay-log.ts): COPY bytes
 * written to an unlinked temp file and read back by range, reset at a commit; in memory when no
 * temp file can be made; LoggedChunks logs every chunk, also those a failed send did not take.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { LoggedChunks, ReplayLog } from '../connectors/postgresql/replay-log.js';
import { tmpDir } from './helpers/index.js';

const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255));

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of it) parts.push(b);
  return Buffer.concat(parts);
}

async function roundTrip(t: Test, log: ReplayLog): Promise<void> {
  const a = bytes(3_000_000, 1); // larger than a read-back chunk (1 MiB)
  const b = bytes(10, 2);
  const c = bytes(70_000, 3);
  for (const x of [a, b, c]) await log.append(x);
  t.equal(log.size, a.length + b.length + c.length);
  t.same(await collect(log.read(0, a.length)), a, 'the first chunk');
  t.same(await collect(log.read(a.length, a.length + b.length + c.length)), Buffer.concat([b, c]), 'a range of two chunks');
  t.same(await collect(log.read(a.length - 5, a.length + 3)), Buffer.concat([a.subarray(-5), b.subarray(0, 3)]), 'a range across a chunk boundary');
  await log.reset();
  t.equal(log.size, 0, 'a reset forgets the logged bytes');
  const d = bytes(1000, 4);
  await log.append(d);
  t.same(await collect(log.read(0, 1000)), d, 'later bytes overwrite the file from its start');
}

function withTmpdir(t: Test, dir: string): void {
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  t.teardown(() => {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  });
}

t.test('a temp file, unlinked at once: bytes read back by range, reset at commit', async (t) => {
  const dir = await tmpDir(t);
  withTmpdir(t, dir);
  const log = new ReplayLog('pg');
  t.teardown(() => log.close());
  await log.append(bytes(1, 0));
  t.same(await readdir(dir), [], 'nothing left behind in TMPDIR, whatever ends the process');
  await log.reset();
  await roundTrip(t, log);
});

t.test('no temp file can be made (TMPDIR missing): the bytes are kept in memory, same results', async (t) => {
  const dir = await tmpDir(t);
  withTmpdir(t, path.join(dir, 'missing'));
  const log = new ReplayLog('pg');
  t.teardown(() => log.close());
  await roundTrip(t, log);
});

t.test('LoggedChunks: chunks are logged as they are taken; rest() logs the ones a failed send left', async (t) => {
  const log = new ReplayLog('pg');
  t.teardown(() => log.close());
  const chunks = [bytes(5, 1), bytes(6, 2), bytes(7, 3)];
  const logged = new LoggedChunks(log, chunks);
  const sent: Buffer[] = [];
  await t.rejects(
    (async () => {
      for await (const c of logged) {
        sent.push(c);
        throw new Error('connection lost');
      }
    })(),
    { message: 'connection lost' },
  );
  t.equal(sent.length, 1);
  t.equal(log.size, 5, 'only the chunk taken is logged so far');
  await logged.rest();
  t.equal(log.size, 18);
  t.same(await collect(log.read(0, 18)), Buffer.concat(chunks), 'the whole batch is in the log, in order');
});
