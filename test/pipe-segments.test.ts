/**
 * The Arrow pipe format's fast paths (docs/pipes.md): a table segment written as pieces is the
 * bytes apache-arrow's writer gives; a reader handed chunks at any offsets (bodies not 8-byte
 * aligned inside a Buffer) decodes the same rows; a repeated schema decoded once still yields
 * each table's own rows; `write` opens its destination while stdin starts, yet reports its
 * input's error first.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import * as A from 'apache-arrow';
import { decodeArrowStream, encodeMessage, encodeMessageParts, type PipeMessage } from '../lib/pipe/arrow-stream.js';
import { MD_TABLE_NAME } from '../lib/schema.js';
import { cli } from './helpers/cli.js';
import { tmpDir } from './helpers/index.js';
import { freePort } from './helpers/pg-server.js';

function batchOf(table: string, cols: Record<string, A.Vector>, fieldMd: Record<string, string> = {}): A.RecordBatch {
  const t0 = new A.Table(cols);
  const fields = t0.schema.fields.map((f) => new A.Field(f.name, f.type, f.nullable, new Map(Object.entries(fieldMd))));
  const schema = new A.Schema(fields, new Map([[MD_TABLE_NAME, table]]));
  return new A.RecordBatch(schema, A.makeData({ type: new A.Struct(fields), length: t0.numRows, nullCount: 0, children: t0.batches[0]!.data.children }));
}

const people = (n: number, from = 0, md: Record<string, string> = {}) =>
  batchOf(
    'people',
    {
      id: A.vectorFromArray(
        Array.from({ length: n }, (_, i) => from + i),
        new A.Int32(),
      ),
      name: A.vectorFromArray(
        Array.from({ length: n }, (_, i) => ((from + i) % 3 ? `p${from + i}` : null)),
        new A.Utf8(),
      ),
      tags: A.vectorFromArray(
        Array.from({ length: n }, (_, i) => ((from + i) % 4 ? [`t${i}`, 'x'] : null)),
        new A.List(new A.Field('item', new A.Utf8(), true)),
      ),
      ok: A.vectorFromArray(
        Array.from({ length: n }, (_, i) => i % 2 === 0),
        new A.Bool(),
      ),
    },
    md,
  );
const pets = (n: number) =>
  batchOf('pets', {
    legs: A.vectorFromArray(
      Array.from({ length: n }, (_, i) => BigInt(i * 4)),
      new A.Int64(),
    ),
  });

const rows = (b: A.RecordBatch) =>
  JSON.stringify(
    b.toArray().map((r) => r.toJSON()),
    (_, v) => (typeof v === 'bigint' ? `${v}n` : v),
  );

async function decodeAll(chunks: Uint8Array[]): Promise<PipeMessage[]> {
  const out: PipeMessage[] = [];
  for await (const m of decodeArrowStream(
    (async function* () {
      yield* chunks;
    })(),
  ))
    out.push(m);
  return out;
}

t.test('a table segment written as pieces is the bytes of apache-arrow’s writer, its column buffers not copied', async (t) => {
  const batches = [people(50), pets(7), people(30, 50), people(40).slice(5, 33), people(5, 0, { 'cq:extension:x': 'y' }), pets(3)];
  for (const [i, b] of batches.entries()) {
    const parts = encodeMessageParts({ kind: 'insert', table: 'x', batch: b })!;
    const expected = Buffer.from(A.tableToIPC(new A.Table([b]), 'stream'));
    t.ok(Buffer.concat(parts).equals(expected), `batch ${i}: same bytes (${expected.length})`);
    t.ok(Buffer.from(encodeMessage({ kind: 'insert', table: 'x', batch: b })!).equals(expected), `batch ${i}: encodeMessage joins them`);
  }
  const b = people(20);
  const values = b.getChild('id')!.data[0]!.values;
  const parts = encodeMessageParts({ kind: 'insert', table: 'people', batch: b })!;
  t.ok(
    parts.some((p) => p.buffer === values.buffer && p.byteOffset === values.byteOffset),
    'the id column is written from its own buffer',
  );
  t.equal(encodeMessageParts({ kind: 'insert', table: 'people', batch: people(0) }), undefined, 'an empty batch is not sent');

  // a dictionary column goes through apache-arrow's writer, dictionary first
  const dict = A.vectorFromArray(['a', 'b', 'a', null], new A.Dictionary(new A.Utf8(), new A.Int32()));
  const withDict = batchOf('d', { c: dict });
  const dictParts = encodeMessageParts({ kind: 'insert', table: 'd', batch: withDict })!;
  t.equal(dictParts.length, 1);
  const [back] = (await decodeAll(dictParts)) as Extract<PipeMessage, { kind: 'insert' }>[];
  t.same(back!.batch.getChild('c')!.toArray(), ['a', 'b', 'a', null]);
});

t.test('chunks at any offset decode the same rows: a body inside a Buffer at an odd offset is copied to aligned memory', async (t) => {
  const msgs: PipeMessage[] = [
    { kind: 'sync-start', sourceName: 'shop', syncTime: '2024-01-01T00:00:00Z' },
    { kind: 'insert', table: 'people', batch: people(50) },
    { kind: 'insert', table: 'people', batch: people(30, 50) },
    { kind: 'insert', table: 'pets', batch: pets(9) },
    { kind: 'insert', table: 'people', batch: people(4, 80) },
    { kind: 'sync-end' },
  ];
  const stream = Buffer.concat(msgs.map((m) => encodeMessage(m)!));
  const expected = msgs.filter((m) => m.kind === 'insert').map((m) => `${m.table}:${rows(m.batch)}`);
  // one Buffer whose every byte sits one past an aligned address
  const shifted = Buffer.alloc(stream.length + 1);
  stream.copy(shifted, 1);
  for (const [name, chunks] of [
    ['one chunk at offset 1', [shifted.subarray(1)]],
    ['7-byte chunks', Array.from({ length: Math.ceil(stream.length / 7) }, (_, i) => shifted.subarray(1 + i * 7, 1 + Math.min(stream.length, (i + 1) * 7)))],
    ['a 4093-byte chunk, then the rest', [shifted.subarray(1, 4094), shifted.subarray(4094)]],
  ] as const) {
    const got = await decodeAll([...chunks]);
    t.same(
      got.filter((m) => m.kind === 'insert').map((m) => `${m.table}:${rows(m.batch)}`),
      expected,
      `${name}: every table's rows, in order`,
    );
    t.same(
      got.map((m) => m.kind),
      ['sync-start', 'insert', 'insert', 'insert', 'insert', 'sync-end'],
    );
    const pet = got.find((m) => m.kind === 'insert' && m.table === 'pets') as Extract<PipeMessage, { kind: 'insert' }>;
    t.equal(pet.batch.schema.fields[0]!.type.typeId, A.Type.Int, `${name}: the pets schema, not the people one before it`);
  }
});

t.test('write opens its destination while stdin starts, and still reports its input’s error first', async (t) => {
  const dir = await tmpDir(t);
  const cfg = path.join(dir, 'w.yml');
  // nothing listens there: the destination fails to open
  const port = await freePort();
  await writeFile(cfg, `kind: destination\nspec: { name: pg, path: postgresql, spec: { connection_string: "postgres://u:p@127.0.0.1:${port}/db" } }\n`);
  const empty = await cli(['write', cfg], { input: '' });
  t.equal(empty.code, 1, empty.stderr);
  t.match(empty.stderr, /CQ_ERR_SOURCE_DATA: stdin is empty: nothing to write/);
  t.notMatch(empty.stderr, /connect/);
  const garbage = await cli(['write', cfg], { input: 'xx' });
  t.equal(garbage.code, 1, garbage.stderr);
  t.match(garbage.stderr, /stdin is neither an Arrow stream, NDJSON nor Singer \(first byte 0x78\)/);
  // a good start: now the destination's failure is the one reported
  const start = encodeMessage({ kind: 'sync-start', sourceName: 'shop', syncTime: '2024-01-01T00:00:00Z' })!;
  const dead = await cli(['write', cfg], { input: Buffer.concat([start, encodeMessage({ kind: 'sync-end' })!]) });
  t.equal(dead.code, 1, dead.stderr);
  t.match(dead.stderr, /CQ_ERR_DEST_WRITE: cannot connect to Postgres/);
});
