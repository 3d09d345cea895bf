/** Incremental file tables: files already loaded are skipped; a cursor keeps rows at or past it. */
import { utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { runSync } from '../lib/pipeline.js';
import { memoryTables } from '../connectors/memory.js';
import { openState } from '../index.js';
import { config, destSpec, sourceSpec, tmpDir } from './helpers/index.js';
import { items, writeNdjson } from './helpers/files.js';
import { exitCodeOfSync } from '../bin/exit-codes.js';

t.test('incremental: true skips files loaded by an earlier sync; a changed file is read again', async (t) => {
  const dir = await tmpDir(t);
  const data = path.join(dir, 'data');
  await writeNdjson(path.join(dir, 'a.ndjson'), items(10));
  await writeNdjson(path.join(dir, 'b.ndjson'), items(5, 10));
  const backend = { table_name: 'st', connection: `file://${dir}/state` };
  const src = sourceSpec({
    path: 'file',
    destinations: ['m_finc'],
    backend_options: backend,
    spec: { tables: [{ name: 'items', files: path.join(dir, '*.ndjson'), primary_key: ['id'], incremental: true }] },
  });
  const dst = destSpec({ name: 'm_finc', path: 'memory', write_mode: 'overwrite-delete-stale' });
  void data;
  const r1 = await runSync({ config: config([src], [dst]) });
  t.equal(exitCodeOfSync(r1), 0);
  t.equal(r1.resources, 15);
  const state = await openState(backend, 'src');
  const saved = JSON.parse(state.get('items')!) as { files: Record<string, string> };
  await state.close();
  t.same(Object.keys(saved.files).sort(), [path.join(dir, 'a.ndjson'), path.join(dir, 'b.ndjson')], 'the checkpoint names the files committed');
  const r2 = await runSync({ config: config([src], [dst]) });
  t.equal(r2.resources, 0, 'nothing new: both files skipped');
  t.equal(memoryTables('m_finc').get('items')!.rows.length, 15, 'no delete-stale for incremental tables with state');
  await writeNdjson(path.join(dir, 'c.ndjson'), items(3, 16));
  await writeNdjson(path.join(dir, 'b.ndjson'), items(6, 10));
  await utimes(path.join(dir, 'b.ndjson'), new Date(), new Date(Date.now() + 5000));
  const r3 = await runSync({ config: config([src], [dst]) });
  t.equal(r3.resources, 6 + 3, 'the changed file and the new file');
  t.equal(memoryTables('m_finc').get('items')!.rows.length, 19);
});

t.test('incremental: {cursor} keeps only rows at or past the saved cursor', async (t) => {
  const dir = await tmpDir(t);
  const backend = { table_name: 'st', connection: `file://${dir}/state` };
  const src = sourceSpec({
    path: 'file',
    destinations: ['m_fcur'],
    backend_options: backend,
    spec: { tables: [{ name: 'items', files: path.join(dir, '*.ndjson'), primary_key: ['id'], incremental: { cursor: 'updated_at' } }] },
  });
  const dst = destSpec({ name: 'm_fcur', path: 'memory', write_mode: 'overwrite' });
  await writeNdjson(path.join(dir, 'a.ndjson'), items(10));
  t.equal((await runSync({ config: config([src], [dst]) })).resources, 10);
  // a new file re-sending old rows 5..9 plus new rows 10..14: only rows at or past row 9's cursor pass
  await writeNdjson(path.join(dir, 'b.ndjson'), items(10, 5));
  const r = await runSync({ config: config([src], [dst]) });
  t.equal(r.resources, 6, 'row 9 (the tie) and rows 10..14');
  t.equal(memoryTables('m_fcur').get('items')!.rows.length, 15);
  const state = await openState(backend, 'src');
  t.match(JSON.parse(state.get('items')!).cursor, /^2024-01-01T00:00:14/);
  await state.close();
});

t.test('a missing cursor column is a clear error', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'a.ndjson'), '{"id":1}\n');
  const src = sourceSpec({
    path: 'file',
    destinations: ['m_fbad'],
    spec: { tables: [{ name: 'items', files: path.join(dir, 'a.ndjson'), incremental: { cursor: 'nope' } }] },
  });
  const r = await runSync({ config: config([src], [destSpec({ name: 'm_fbad', path: 'memory' })]) });
  t.equal(exitCodeOfSync(r), 1);
  t.match(r.fatal?.message ?? r.errors.map((e) => e.message).join(), 'incremental cursor "nope"');
});
