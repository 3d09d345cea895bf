/**
 * A destination that will write Parquet starts the encoder's thread when it is made
 * (connectors/file/writers/parquet.ts warmParquetEncoder): that thread must keep no process
 * alive, stop after its idle time when no file comes, and serve the files that do come.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const writer = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../connectors/file/writers/parquet.js');
/**
 * runs `script` as a module file in this directory, so that it resolves the project's packages (a
 * worker inherits node's flags: `--input-type` would fail it)
 */
const scripts = mkdtempSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '.warm-'));
t.teardown(() => rmSync(scripts, { recursive: true, force: true }));
const node = (script: string) => {
  const file = path.join(scripts, `s${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, script);
  return spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, CQ_PIPE_PARQUET_WORKER: '' } });
};

t.test('a warmed encoder thread nobody uses keeps no process alive', async (t) => {
  const r = node(`import { warmParquetEncoder } from ${JSON.stringify(writer)};
    import { setTimeout as sleep } from 'node:timers/promises';
    warmParquetEncoder(); warmParquetEncoder();
    const t0 = Date.now();
    await sleep(300); // the thread is up
    process.on('exit', () => console.log('exit after', Date.now() - t0 < 4000 ? 'less than the idle time' : 'the idle time'));`);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /exit after less than the idle time/);
});

t.test('files written after warming are whole, and the thread then lets the process exit', async (t) => {
  const r = node(`import { warmParquetEncoder, ParquetWriter } from ${JSON.stringify(writer)};
    import { defineTable, batchFromColumns } from ${JSON.stringify(path.resolve(path.dirname(writer), '../../../lib/schema.js'))};
    import * as A from 'apache-arrow';
    import { mkdtempSync, readFileSync } from 'node:fs';
    import os from 'node:os';
    warmParquetEncoder();
    await new Promise((r) => setTimeout(r, 200));
    const schema = defineTable({ name: 'w', columns: [{ name: 'n', type: 'int64' }] });
    const file = mkdtempSync(os.tmpdir() + '/cq-warm-') + '/w.parquet';
    const w = await ParquetWriter.open(file, schema);
    const v = BigInt64Array.from({ length: 1000 }, (_, i) => BigInt(i));
    await w.write([batchFromColumns(schema, 1000, [A.makeData({ type: new A.Int64(), length: 1000, nullCount: 0, data: v })])]);
    await w.finish();
    const bytes = readFileSync(file);
    console.log(JSON.stringify({ rows: w.rows, magic: bytes.subarray(0, 4).toString() + bytes.subarray(-4).toString(), file }));`);
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { rows: number; magic: string; file: string };
  t.equal(out.rows, 1000);
  t.equal(out.magic, 'PAR1PAR1');
});
