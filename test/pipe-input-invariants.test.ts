/**
 * What `cq-pipe write` refuses on its input (docs/pipes.md): a `sync-start` without a
 * `source_name` (it would scope delete-stale to the text "undefined") and a row that is not a
 * JSON object (it would land as an all-NULL row), in each pipe format, with the segment or line.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import * as A from 'apache-arrow';
import { CqPipeError } from '../lib/errors.js';
import { decodeArrowStream, encodeMessage, MD_MESSAGE, type PipeMessage } from '../lib/pipe/arrow-stream.js';
import { decodeNdjson } from '../lib/pipe/ndjson-stream.js';
import { decodeSinger } from '../lib/pipe/singer.js';
import { utf8Data } from '../lib/arrow/index.js';
import { cli } from './helpers/cli.js';
import { tmpDir } from './helpers/index.js';
import { freshDatabase, query } from './helpers/postgres.js';

async function drain(it: AsyncIterable<PipeMessage>): Promise<PipeMessage[]> {
  const out: PipeMessage[] = [];
  for await (const m of it) out.push(m);
  return out;
}

async function failure(it: AsyncIterable<PipeMessage>): Promise<CqPipeError> {
  try {
    await drain(it);
  } catch (err) {
    if (err instanceof CqPipeError) return err;
    throw err;
  }
  throw new Error('the stream was accepted');
}

const text = (...xs: unknown[]) => xs.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join('\n') + '\n';

async function* chunks<T>(...xs: T[]): AsyncGenerator<T> {
  yield* xs;
}

/** JSON lines as a byte stream (a value that is a string is written as the line itself) */
const lines = (...xs: unknown[]) => chunks(text(...xs));

/** an Arrow pipe segment with a `cq:message` payload, as `read` writes them */
function payloadSegment(kind: string, payload: unknown): Uint8Array {
  const schema = new A.Schema([new A.Field('payload', new A.Utf8(), false)], new Map([[MD_MESSAGE, kind]]));
  const data = A.makeData({ type: new A.Struct(schema.fields), length: 1, nullCount: 0, children: [utf8Data([JSON.stringify(payload)])] });
  return A.tableToIPC(new A.Table([new A.RecordBatch(schema, data)]), 'stream');
}

const MIGRATE = { kind: 'migrate-table', table: 't', columns: [{ name: 'id', type: 'int64' }] };

t.test('ndjson: sync-start without source_name, rows that are not objects, lines that are not objects', async (t) => {
  const noName = await failure(decodeNdjson(lines({ kind: 'sync-start', sync_time: '2024-01-01T00:00:00Z' }, MIGRATE)));
  t.equal(noName.code, 'CQ_ERR_SOURCE_DATA');
  t.equal(noName.context.line, 1);
  t.match(noName.message, /sync-start needs source_name, a non-empty string \(got none\)/);
  const empty = await failure(decodeNdjson(lines({ kind: 'sync-start', source_name: '' })));
  t.match(empty.message, /got ""/);
  const numeric = await failure(decodeNdjson(lines({ kind: 'sync-start', source_name: 7 })));
  t.match(numeric.message, /got 7/);

  const arrayRow = await failure(decodeNdjson(lines(MIGRATE, { table: 't', row: { id: 1 } }, { table: 't', row: [2] })));
  t.equal(arrayRow.code, 'CQ_ERR_SOURCE_DATA');
  t.equal(arrayRow.context.line, 3);
  t.equal(arrayRow.context.table, 't');
  t.match(arrayRow.message, /must be a JSON object of column values, not an array/);
  const noRow = await failure(decodeNdjson(lines(MIGRATE, { table: 't' })));
  t.match(noRow.message, /not missing/);
  const nullLine = await failure(decodeNdjson(lines(MIGRATE, 'null')));
  t.equal(nullLine.context.line, 2);
  t.match(nullLine.message, /a line must be a JSON object, not null/);
  const arrayLine = await failure(decodeNdjson(lines('[1, 2]')));
  t.match(arrayLine.message, /not an array/);

  const good = await drain(
    decodeNdjson(lines({ kind: 'sync-start', source_name: 'shop', sync_time: '2024-01-01T00:00:00Z' }, MIGRATE, { table: 't', row: { id: 1 } })),
  );
  t.same(
    good.map((m) => m.kind),
    ['sync-start', 'migrate-table', 'insert'],
  );
  t.equal((good[0] as Extract<PipeMessage, { kind: 'sync-start' }>).sourceName, 'shop');
});

t.test('arrow: a sync-start segment without source_name names its segment', async (t) => {
  const bytes = [payloadSegment('sync-start', { sync_time: '2024-01-01T00:00:00Z' }), encodeMessage({ kind: 'sync-end' })!];
  const err = await failure(decodeArrowStream(chunks(...bytes)));
  t.equal(err.code, 'CQ_ERR_SOURCE_DATA');
  t.match(err.message, /^segment 1: sync-start needs source_name/);
  t.equal(err.context.file, 'stdin');
  const ok = await drain(decodeArrowStream(chunks(encodeMessage({ kind: 'sync-start', sourceName: 'shop', syncTime: '2024-01-01T00:00:00Z' })!)));
  t.same(ok, [{ kind: 'sync-start', sourceName: 'shop', syncTime: '2024-01-01T00:00:00Z' }]);
});

t.test('singer: a RECORD whose record is an array, and a line that is not an object', async (t) => {
  const schema = { type: 'SCHEMA', stream: 'users', schema: { properties: { id: { type: 'integer' } } }, key_properties: ['id'] };
  const err = await failure(
    decodeSinger(lines(schema, { type: 'RECORD', stream: 'users', record: { id: 1 } }, { type: 'RECORD', stream: 'users', record: [2] })),
  );
  t.equal(err.code, 'CQ_ERR_SOURCE_DATA');
  t.equal(err.context.line, 3);
  t.match(err.message, /record of RECORD for stream "users" must be a JSON object, not an array/);
  const line = await failure(decodeSinger(lines(schema, '"RECORD"')));
  t.equal(line.context.line, 2);
  t.match(line.message, /not a string/);
});

t.test('write: a stream header without source_name exits 1 and writes nothing; an array row exits 1 naming its line', async (t) => {
  const dir = await tmpDir(t);
  const url = await freshDatabase();
  const cfg = path.join(dir, 'w.yml');
  await writeFile(cfg, `kind: destination\nspec: { name: pg, path: postgresql, write_mode: overwrite, spec: { connection_string: "${url}" } }\n`);
  const header = await cli(['write', cfg], { input: text({ kind: 'sync-start' }, MIGRATE, { table: 't', row: { id: 1 } }, { kind: 'sync-end' }) });
  t.equal(header.code, 1, header.stderr);
  t.match(header.stderr, /CQ_ERR_SOURCE_DATA/);
  t.match(header.stderr, /CQ_ERR_SOURCE_DATA: sync-start needs source_name.*\(stdin:1\)/);
  const tables = await query<{ n: string }>(url, "SELECT count(*)::text AS n FROM information_schema.tables WHERE table_schema = 'public'");
  t.same(tables, [{ n: '0' }], 'nothing was created or written');

  const arrow = Buffer.concat([payloadSegment('sync-start', {}), encodeMessage({ kind: 'sync-end' })!]);
  const viaArrow = await cli(['write', cfg], { input: arrow });
  t.equal(viaArrow.code, 1, viaArrow.stderr);
  t.match(viaArrow.stderr, /segment 1: sync-start needs source_name/);

  const row = await cli(['write', cfg], {
    input: text({ kind: 'sync-start', source_name: 'shop' }, MIGRATE, { table: 't', row: { id: 1 } }, { table: 't', row: [null] }, { kind: 'sync-end' }),
  });
  t.equal(row.code, 1, row.stderr);
  t.match(row.stderr, /stdin:4/);
  t.match(row.stderr, /not an array/);
  const after = await query<{ n: string }>(url, "SELECT count(*)::text AS n FROM information_schema.tables WHERE table_schema = 'public'");
  t.same(after, [{ n: '0' }], 'the failed stream wrote nothing: no all-NULL row');
});
