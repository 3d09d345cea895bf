/**
 * The file source's row worker (connectors/file/formats/row-worker.ts): NDJSON and CSV rows are
 * built on a worker thread for large inputs, with the same batches, errors (class, code, message,
 * file, line, column), dead-letter rows and warnings as on the main thread, and a bounded number
 * of batches and bytes in flight.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { fileSource, type FileSourceSpec } from '../connectors/file/source.js';
import { INPUT_WINDOW, MAX_BATCHES } from '../connectors/file/formats/row-worker.js';
import { rowWorkerStats, SMALL_INPUT_BYTES } from '../connectors/file/formats/row-thread.js';
import { rowObjects } from '../connectors/memory.js';
import { CqPipeError, SourceDataError, SourceReadError } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import type { SyncMessage } from '../lib/messages.js';
import { tmpDir } from './helpers/index.js';
import { items, writeCsv, writeNdjson } from './helpers/files.js';

type Mode = '0' | '1' | '' | 'in-process';

interface Read {
  msgs: SyncMessage[];
  rows: Record<string, unknown>[];
  errors: CqPipeError[];
  warnings: string[];
}

async function read(
  spec: FileSourceSpec,
  dir: string,
  mode: Mode,
  opts: { reject?: boolean; signal?: AbortSignal; each?: (m: SyncMessage) => Promise<void> } = {},
): Promise<Read> {
  const before = process.env.CQ_PIPE_FILE_WORKER;
  process.env.CQ_PIPE_FILE_WORKER = mode;
  const warnings: string[] = [];
  const logger: Logger = { ...silentLogger, warn: (msg: string) => warnings.push(msg) };
  try {
    const client = await fileSource.create(spec, { name: 'files', logger, baseDir: dir, invocationId: 'inv', syncTime: new Date() });
    const tables = await client.tables();
    const msgs: SyncMessage[] = [];
    const signal = opts.signal ?? new AbortController().signal;
    for await (const m of client.read(tables, { signal, state: new Map(), rejectUnconvertible: opts.reject })) {
      msgs.push(m);
      await opts.each?.(m);
    }
    const rows = msgs.flatMap((m) => (m.kind === 'insert' ? rowObjects(m.batch) : []));
    const errors = msgs.flatMap((m) => (m.kind === 'table-error' ? [m.error] : []));
    return { msgs, rows, errors, warnings };
  } finally {
    if (before === undefined) delete process.env.CQ_PIPE_FILE_WORKER;
    else process.env.CQ_PIPE_FILE_WORKER = before;
  }
}

/** rows as text, compared at once (tap's deep comparison of 80,000 objects takes a minute) */
const text = (rows: Record<string, unknown>[]) => rows.map((r) => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))).join('\n');

/** what an error says and where, as a user sees it */
const described = (e: CqPipeError) => ({ name: e.name, code: e.code, message: e.message, context: e.context, scope: e.scope, hint: e.hint });

const COLUMNS = [
  { name: 'id', type: 'int64' },
  { name: 'title', type: 'utf8' },
  { name: 'price', type: 'float64' },
  { name: 'updated_at', type: 'timestamp' },
  { name: 'active', type: 'bool' },
];

t.test('a large NDJSON or CSV file is built on the worker thread, into the same batches as on the main thread', async (t) => {
  const dir = await tmpDir(t);
  const rows = items(80_000); // 7.5 MB of NDJSON, 5 MB of CSV: over SMALL_INPUT_BYTES
  await writeNdjson(path.join(dir, 'big.ndjson'), rows);
  await writeNdjson(path.join(dir, 'big.ndjson.gz'), rows, true);
  await writeCsv(path.join(dir, 'big.csv'), rows as unknown as Record<string, unknown>[]);
  for (const file of ['big.ndjson', 'big.ndjson.gz', 'big.csv']) {
    const spec: FileSourceSpec = { batch_rows: 7000, tables: [{ name: 'items', files: file }] };
    const batches = rowWorkerStats.batches;
    rowWorkerStats.lastThread = -1;
    const worker = await read(spec, dir, '');
    t.equal(rowWorkerStats.batches - batches, 12, `${file}: 12 batches came from the worker`);
    t.not(rowWorkerStats.lastThread, threadId, `${file}: built off the main thread`);
    t.ok(rowWorkerStats.lastThread > 0, `${file}: a worker's thread id`);
    const main = await read(spec, dir, '0');
    t.equal(rowWorkerStats.batches - batches, 12, `${file}: CQ_PIPE_FILE_WORKER=0 sends nothing to the worker`);
    t.equal(worker.rows.length, 80_000);
    t.same(
      worker.msgs.map((m) => (m.kind === 'insert' ? m.batch.numRows : m.kind)),
      main.msgs.map((m) => (m.kind === 'insert' ? m.batch.numRows : m.kind)),
      `${file}: the same batches`,
    );
    t.equal(text(worker.rows), text(main.rows), `${file}: the same values`);
    t.same(worker.rows[79_999], main.rows[79_999]);
    t.equal(worker.rows[79_999]!.title, 'item 79999');
  }
});

t.test('a small file is read on the main thread; CQ_PIPE_FILE_WORKER=1 sends it to the worker', async (t) => {
  const dir = await tmpDir(t);
  await writeNdjson(path.join(dir, 'small.ndjson'), items(3000));
  const spec: FileSourceSpec = { batch_rows: 1000, tables: [{ name: 'items', files: 'small.ndjson' }] };
  const batches = rowWorkerStats.batches;
  const auto = await read(spec, dir, '');
  t.equal(auto.rows.length, 3000);
  t.equal(rowWorkerStats.batches, batches, `under ${SMALL_INPUT_BYTES} bytes: no batch from the worker`);
  const forced = await read(spec, dir, '1');
  t.equal(rowWorkerStats.batches - batches, 3);
  t.not(rowWorkerStats.lastThread, threadId);
  t.same(forced.rows, auto.rows);
});

t.test('every failure of a file keeps its class, code, message, file, line and column through the worker', async (t) => {
  const dir = await tmpDir(t);
  const good = (n: number) => items(n).map((r) => JSON.stringify(r));
  // converted by recursive code: on the worker's stack as on the main thread's, too deep by the same measure
  const deep = `{"id":1,"doc":${'['.repeat(6001)}${']'.repeat(6001)}}`;
  const files: Record<string, string | Buffer> = {
    'malformed.ndjson': [...good(5), '{"id": 6, "title": ', ...good(2)].join('\n'),
    'array-line.ndjson': [...good(3), '[1,2]', ...good(2)].join('\n'),
    'null-line.ndjson': [...good(3), 'null'].join('\n'),
    'utf8.ndjson': Buffer.concat([Buffer.from(`${good(4).join('\n')}\n{"id":5,"title":"`), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]),
    'bad-value.ndjson': [...good(1500), '{"id":"x1"}', ...good(10)].join('\n'),
    'too-big.ndjson': [...good(3), '{"id": 9223372036854775808}'].join('\n'),
    'deep.ndjson': [...good(2), deep, ...good(2)].join('\n'),
    'gz-named.ndjson': gzipSync(good(3).join('\n')),
    'truncated.ndjson.gz': gzipSync(good(3000).join('\n')).subarray(0, 20_000),
    'fields.csv': 'id,title,price,updated_at,active\n1,a,1,2024-01-01T00:00:00Z,true\n2,b,2,2024-01-01T00:00:00Z\n',
    'value.csv': 'id,title,price,updated_at,active\n1,a,1,2024-01-01T00:00:00Z,true\n2,b,zz,2024-01-01T00:00:00Z,false\n',
    'quote.csv': 'id,title,price,updated_at,active\n1,"a,1,2024-01-01T00:00:00Z,true\n',
  };
  const columns = [...COLUMNS, { name: 'doc', type: 'json' }];
  for (const [name, body] of Object.entries(files)) {
    await writeFile(path.join(dir, name), body);
    const spec: FileSourceSpec = { batch_rows: 1000, tables: [{ name: 'bad', files: name, format: name.includes('.csv') ? 'csv' : 'ndjson', columns }] };
    const main = await read(spec, dir, '0');
    const worker = await read(spec, dir, '1');
    t.equal(main.errors.length, 1, `${name}: fails on the main thread`);
    t.same(worker.errors.map(described), main.errors.map(described), `${name}: the same failure through the worker`);
    t.same(worker.rows.length, main.rows.length, `${name}: the same rows before it`);
    const e = worker.errors[0]!;
    t.ok(e instanceof CqPipeError, `${name}: a CqPipeError`);
    t.ok(e instanceof SourceDataError || e instanceof SourceReadError, `${name}: rebuilt as its class`);
  }
  // a few spelled out, not only compared with the main thread's
  const one = async (name: string) =>
    (await read({ batch_rows: 1000, tables: [{ name: 'bad', files: name, format: name.includes('.csv') ? 'csv' : 'ndjson', columns }] }, dir, '1')).errors[0]!;
  const malformed = await one('malformed.ndjson');
  t.equal(malformed.code, 'CQ_ERR_SOURCE_DATA');
  t.match(malformed.message, /^malformed JSON: /);
  t.match(malformed.context, { file: path.join(dir, 'malformed.ndjson'), line: 6, table: 'bad', connector: 'files' });
  const bad = await one('bad-value.ndjson');
  t.ok(bad instanceof SourceDataError);
  t.same(bad.context, { table: 'bad', file: path.join(dir, 'bad-value.ndjson'), line: 1501, column: 'id', connector: 'files' });
  const utf8 = await one('utf8.ndjson');
  t.same([utf8.message, utf8.context.line], ['invalid UTF-8', 5]);
  const deepErr = await one('deep.ndjson');
  t.match(deepErr.message, /^a record nested 6002 levels deep is too deep to convert$/);
  t.equal(deepErr.context.line, 3);
  const gz = await one('gz-named.ndjson');
  t.ok(gz instanceof SourceReadError);
  t.equal(gz.code, 'CQ_ERR_SOURCE_READ');
  t.match(gz.hint, /rename it to gz-named\.ndjson\.gz/);
  const value = await one('value.csv');
  t.same([value.code, value.context.line, value.context.column], ['CQ_ERR_SOURCE_DATA', 3, 'price']);
});

t.test('rows that do not fit go to the dead letter through the worker, with their line and record', async (t) => {
  const dir = await tmpDir(t);
  const lines = items(20_000).map((r) => JSON.stringify(r));
  lines[4] = '{"id":"five","title":"x"}';
  lines[12_345] = '{"id":12345,"price":"cheap"}';
  await writeFile(path.join(dir, 'x.ndjson'), `${lines.join('\n')}\n`);
  const spec: FileSourceSpec = { batch_rows: 5000, tables: [{ name: 'items', files: 'x.ndjson', columns: COLUMNS }] };
  const main = await read(spec, dir, '0', { reject: true });
  const worker = await read(spec, dir, '1', { reject: true });
  const rejected = (r: Read) => r.msgs.flatMap((m) => (m.kind === 'rejected-rows' ? m.rows : []));
  t.same(rejected(worker), rejected(main));
  t.same(
    rejected(worker).map((r) => [r.line, r.column, r.raw]),
    [
      [5, 'id', '{"id":"five","title":"x"}'],
      [12_346, 'price', '{"id":12345,"price":"cheap"}'],
    ],
  );
  t.equal(worker.rows.length, 19_998);
  t.equal(text(worker.rows), text(main.rows));
  t.same(
    worker.msgs.map((m) => m.kind),
    main.msgs.map((m) => m.kind),
    'batches and rejected rows in the same order',
  );
});

t.test('a column not in the table is warned about once, from the worker as on the main thread', async (t) => {
  const dir = await tmpDir(t);
  await writeNdjson(
    path.join(dir, 'a.ndjson'),
    items(50).map((r, i) => (i === 40 ? { ...r, colour: 'red' } : r)),
  );
  await writeNdjson(
    path.join(dir, 'b.ndjson'),
    items(50).map((r) => ({ ...r, size: 1 })),
  );
  const spec: FileSourceSpec = { tables: [{ name: 'items', files: '*.ndjson', columns: COLUMNS }] };
  const main = await read(spec, dir, '0');
  const worker = await read(spec, dir, '1');
  t.same(worker.warnings, main.warnings);
  t.same(worker.warnings, [`table items: ${path.join(dir, 'a.ndjson')} has a column "colour" that is not in the table's columns; it is ignored`]);
});

t.test('a large file keeps at most a few batches and pieces of bytes in flight while its consumer waits', async (t) => {
  const dir = await tmpDir(t);
  await writeNdjson(path.join(dir, 'big.ndjson'), items(300_000));
  const spec: FileSourceSpec = { batch_rows: 2000, tables: [{ name: 'items', files: 'big.ndjson', columns: COLUMNS }] };
  rowWorkerStats.maxAhead = 0;
  rowWorkerStats.maxBytesAhead = 0;
  const sent = rowWorkerStats.bytesSent;
  let afterPause = -1;
  let n = 0;
  const r = await read(spec, dir, '1', {
    each: async () => {
      if (++n !== 1) return;
      // the consumer stalls: the worker may run ahead only as far as its bounds let it
      await new Promise((resolve) => setTimeout(resolve, 500));
      afterPause = rowWorkerStats.bytesSent - sent;
    },
  });
  t.equal(r.rows.length, 300_000);
  t.equal(n, 150);
  t.ok(rowWorkerStats.maxAhead <= MAX_BATCHES, `at most ${MAX_BATCHES} batches received and not taken (${rowWorkerStats.maxAhead})`);
  const piece = 1.5 * 1024 * 1024; // a piece: up to 512 KiB joined, or one read of the file (1 MiB)
  t.ok(rowWorkerStats.maxBytesAhead <= INPUT_WINDOW * piece, `at most ${INPUT_WINDOW} pieces sent ahead of the parser (${rowWorkerStats.maxBytesAhead})`);
  t.ok(afterPause > 0 && afterPause < 8 * 1024 * 1024, `a stalled consumer holds the reading of a ~33 MB file to a few MB (${afterPause})`);
});

t.test('an aborted read stops the worker reading and ends without an error', async (t) => {
  const dir = await tmpDir(t);
  await writeNdjson(path.join(dir, 'big.ndjson'), items(200_000));
  const spec: FileSourceSpec = { batch_rows: 1000, tables: [{ name: 'items', files: 'big.ndjson', columns: COLUMNS }] };
  const ac = new AbortController();
  let n = 0;
  const r = await read(spec, dir, '1', {
    signal: ac.signal,
    each: async () => {
      if (++n === 3) ac.abort();
    },
  });
  t.equal(r.errors.length, 0);
  t.ok(r.rows.length >= 3000 && r.rows.length < 200_000, `stopped early (${r.rows.length} rows)`);
});

t.test('the worker protocol run on this thread (CQ_PIPE_FILE_WORKER=in-process) gives the same batches', async (t) => {
  const dir = await tmpDir(t);
  await writeNdjson(path.join(dir, 'x.ndjson'), items(5000));
  const spec: FileSourceSpec = { batch_rows: 1000, tables: [{ name: 'items', files: 'x.ndjson' }] };
  rowWorkerStats.lastThread = -1;
  const inProcess = await read(spec, dir, 'in-process');
  t.equal(rowWorkerStats.lastThread, threadId, 'built on this thread, through the messages');
  const main = await read(spec, dir, '0');
  t.same(inProcess.rows, main.rows);
});
