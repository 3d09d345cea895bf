/**
 * FileSink's `give` (connectors/file/writers/sink.ts): a chunk handed over is freed only once its
 * bytes are in the file, and only on a plain file; the Parquet encoder hands over its row groups
 * (connectors/file/writers/parquet.ts), through the published file of the file destination.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { tmpDir } from './helpers/index.js';
import { FileSink, SINK_HIGH_WATER_MARK } from '../connectors/file/writers/sink.js';
import { FileObjects } from '../connectors/file/sink.js';
import { createLogger } from '../lib/logger.js';

function chunk(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

t.test('a given chunk is emptied after it is written; the file holds every byte, in order', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'a.bin');
  const sink = await FileSink.open(file, false);
  // more than the high-water mark, so that some chunks wait in the stream's buffer
  const chunks = Array.from({ length: 6 }, (_, i) => chunk(SINK_HIGH_WATER_MARK / 2 + i, i));
  const expected = Buffer.concat(chunks.map((c) => Buffer.from(c)));
  const kept = chunk(1000, 99);
  for (const c of chunks) await sink.write(c, true);
  await sink.write(kept);
  await sink.end();
  t.same(
    chunks.map((c) => c.byteLength),
    [0, 0, 0, 0, 0, 0],
    'every given chunk freed',
  );
  t.equal(kept.byteLength, 1000, 'a chunk not given is left alone');
  const back = await readFile(file);
  t.equal(back.byteLength, expected.byteLength + 1000);
  t.ok(back.subarray(0, expected.byteLength).equals(expected), 'given bytes written before being freed');
  t.ok(back.subarray(expected.byteLength).equals(Buffer.from(chunk(1000, 99))));
});

t.test('through gzip a given chunk is left alone (zlib may still hold it)', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'a.bin.gz');
  const sink = await FileSink.open(file, true);
  const c = chunk(100_000, 7);
  await sink.write(c, true);
  await sink.end();
  t.equal(c.byteLength, 100_000);
  t.ok(gunzipSync(await readFile(file)).equals(Buffer.from(chunk(100_000, 7))));
});

t.test('the published file of the file destination passes `give` on', async (t) => {
  const dir = await tmpDir(t);
  const logs: string[] = [];
  const objects = new FileObjects({
    name: 'f',
    logger: createLogger({ level: 'debug', write: (l) => logs.push(l) }),
    baseDir: dir,
    invocationId: 'run-1',
    syncTime: new Date(),
  });
  const name = objects.name(path.join(dir, 'x.bin'));
  const out = await objects.open(name, { table: 'x', gzip: false, rows: () => 0 });
  const c = chunk(4096, 3);
  await out.write(c, true);
  await out.end();
  t.equal(c.byteLength, 0);
  t.ok((await readFile(path.join(dir, 'x.bin'))).equals(Buffer.from(chunk(4096, 3))));
});
