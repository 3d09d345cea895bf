/**
 * Property test: random mutations of a valid config and of valid NDJSON / CSV never crash with an
 * unhandled or internal error — a config either loads or fails with a config error (exit 2); data
 * either reads or fails its table with a typed error naming the file. The same for byte mutations
 * of Parquet and Arrow IPC files (a damaged Parquet page included) and of NDJSON and Arrow pipe
 * streams on stdin.
 */
import { readFile, writeFile } from 'node:fs/promises';
import * as A from 'apache-arrow';
import path from 'node:path';
import t from 'tap';
import { loadConfig } from '../index.js';
import { CqPipeError } from '../lib/errors.js';
import { fileSource } from '../connectors/file/source.js';
import { silentLogger } from '../lib/logger.js';
import { tmpDir } from './helpers/index.js';
import { exitCodeOf } from '../bin/exit-codes.js';
import { items, itemsTable, writeParquet } from './helpers/files.js';
import { defineTable, MD_TABLE_NAME, relabel } from '../lib/schema.js';
import { encodeMessage, type PipeMessage } from '../lib/pipe/arrow-stream.js';
import { encodeNdjson } from '../lib/pipe/ndjson-stream.js';
import { openPipeInput } from '../lib/pipe/detect.js';
import { batchToNdjson } from '../lib/arrow-json.js';
// mulberry32, seeded: failures are reproducible
import { prng } from './helpers/fault-proxy.js';

const PIECES = [
  '{',
  '}',
  '[',
  ']',
  ':',
  ',',
  '"',
  "'",
  '\n',
  ' ',
  '-',
  '#',
  '${X}',
  '${file:nope}',
  '@@plugins.x.connection',
  '---',
  '\u0000',
  '\uFFFD',
  '9999999999999999999999',
  'null',
  'true',
  '&a',
  '*a',
  '!!binary',
  '\t',
];

function mutate(text: string, rand: () => number): string {
  let s = text;
  const n = 1 + Math.floor(rand() * 4);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(rand() * (s.length + 1));
    const op = rand();
    if (op < 0.35) s = s.slice(0, at) + PIECES[Math.floor(rand() * PIECES.length)] + s.slice(at);
    else if (op < 0.7) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 6));
    else {
      const len = Math.floor(rand() * 12);
      s = s.slice(0, at) + s.slice(at, at + len) + s.slice(at);
    }
  }
  return s;
}

const CONFIG = `kind: source
spec:
  name: shop
  path: file
  tables: ["*"]
  destinations: [lake]
  backend_options: { table_name: st, connection: "file://./state" }
  spec:
    tables:
      - name: items
        files: ./items.ndjson
        primary_key: [id]
        columns:
          - { name: id, type: int64 }
          - { name: price, type: "decimal(10,2)" }
---
kind: destination
spec:
  name: lake
  path: file
  write_mode: append
  spec: { path: "./out/{{TABLE}}/{{UUID}}.{{FORMAT}}", format: parquet }
`;

t.test('mutated configs load or fail with a config error — never anything else', async (t) => {
  const dir = await tmpDir(t);
  const rand = prng(20261125);
  const outcomes = { loaded: 0, configError: 0 };
  for (let i = 0; i < 300; i++) {
    const p = path.join(dir, `c${i}.yml`);
    await writeFile(p, mutate(CONFIG, rand));
    try {
      await loadConfig([p], { requireDestinations: true, env: {} });
      outcomes.loaded++;
    } catch (err) {
      if (!(err instanceof CqPipeError) || exitCodeOf(err) !== 2 || err.code === 'CQ_ERR_INTERNAL') {
        t.fail(`mutation ${i} gave ${(err as Error).stack}`);
        continue;
      }
      outcomes.configError++;
    }
  }
  t.equal(outcomes.loaded + outcomes.configError, 300, JSON.stringify(outcomes));
  t.ok(outcomes.configError > 100, 'most mutations are caught');
});

const NDJSON = Array.from({ length: 20 }, (_, i) => JSON.stringify({ id: i, price: `${i}.5`, name: `n${i}`, at: '2024-01-01T00:00:00Z' })).join('\n') + '\n';
const CSV = 'id,price,name,at\n' + Array.from({ length: 20 }, (_, i) => `${i},${i}.5,"n,${i}",2024-01-01T00:00:00Z`).join('\n') + '\n';

t.test('mutated NDJSON and CSV read or fail their table with a typed error naming the file', async (t) => {
  const dir = await tmpDir(t);
  const rand = prng(7);
  let ok = 0;
  let failed = 0;
  for (let i = 0; i < 200; i++) {
    const nd = path.join(dir, `d${i}.ndjson`);
    const cs = path.join(dir, `d${i}.csv`);
    await writeFile(nd, mutate(NDJSON, rand));
    await writeFile(cs, mutate(CSV, rand));
    const explicit = [
      { name: 'id', type: 'int64' },
      { name: 'price', type: 'decimal(10,2)' },
      { name: 'name', type: 'utf8' },
      { name: 'at', type: 'timestamp' },
    ];
    for (const spec of [
      { tables: [{ name: 'a', files: nd, columns: explicit }] },
      { tables: [{ name: 'b', files: nd }] },
      { tables: [{ name: 'c', files: cs, columns: explicit }] },
      { tables: [{ name: 'd', files: cs }] },
    ]) {
      try {
        const client = await fileSource.create(spec, { name: 'fuzz', logger: silentLogger, baseDir: dir, invocationId: 'f', syncTime: new Date() });
        const tables = await client.tables();
        let tableError = false;
        for await (const m of client.read(tables, { signal: new AbortController().signal, state: new Map() })) {
          if (m.kind === 'table-error') {
            tableError = true;
            if (m.error.code === 'CQ_ERR_INTERNAL' || !m.error.context.file)
              t.fail(`mutation ${i} (${spec.tables[0]!.name}): ${m.error.code} ${m.error.message} ${m.error.stack}`);
          }
        }
        if (tableError) failed++;
        else ok++;
      } catch (err) {
        // schema inference can fail before reading: must still be a typed source error
        if (!(err instanceof CqPipeError) || err.code === 'CQ_ERR_INTERNAL') t.fail(`mutation ${i}: ${(err as Error).stack}`);
        else failed++;
      }
    }
  }
  t.equal(ok + failed, 800, `${ok} read, ${failed} failed cleanly`);
});

/** byte mutations: flipped bytes, an overwritten run, a cut, an inserted run */
function mutateBytes(bytes: Uint8Array, rand: () => number, keepTail = 0): Uint8Array {
  let b: Uint8Array = new Uint8Array(bytes);
  const body = Math.max(1, b.length - keepTail);
  const op = rand();
  if (op < 0.4) {
    for (let k = 0; k < 1 + Math.floor(rand() * 8); k++) b[Math.floor(rand() * body)] = Math.floor(rand() * 256);
  } else if (op < 0.7) {
    const at = Math.floor(rand() * body);
    for (let k = at; k < Math.min(body, at + 64); k++) b[k] = Math.floor(rand() * 256);
  } else if (op < 0.85) {
    b = b.subarray(0, Math.floor(rand() * b.length));
  } else {
    const at = Math.floor(rand() * b.length);
    const run = Uint8Array.from({ length: 1 + Math.floor(rand() * 32) }, () => Math.floor(rand() * 256));
    b = new Uint8Array([...b.subarray(0, at), ...run, ...b.subarray(at)]);
  }
  return b;
}

/** items with a dictionary column, in batches of 20: the Arrow inputs of the mutations below */
function arrowItems(): A.Table {
  const table = itemsTable(items(60));
  const tag = A.vectorFromArray(
    Array.from({ length: 60 }, (_, i) => ['x', 'y', 'z'][i % 3]!),
    new A.Dictionary(new A.Utf8(), new A.Int32()),
  );
  const all = table.assign(new A.Table({ tag }));
  return new A.Table([0, 20, 40].flatMap((i) => all.slice(i, i + 20).batches));
}

// Arrow IPC files (file and stream format) read through lib/arrow/ipc-read.ts: before it, some of
// these mutations made apache-arrow loop without end or exhaust the heap
t.test('mutated Arrow IPC files read or fail their table with a typed error naming the file', async (t) => {
  const dir = await tmpDir(t);
  const rand = prng(29);
  const table = arrowItems();
  const outcomes = { read: 0, failed: 0 };
  for (const kind of ['file', 'stream'] as const) {
    const good = A.tableToIPC(table, kind);
    for (let i = 0; i < 100; i++) {
      const name = `a${i}.${kind === 'file' ? 'arrow' : 'arrows'}`;
      await writeFile(path.join(dir, name), mutateBytes(good, rand, i % 2 ? 0 : 400));
      const client = await fileSource.create(
        { tables: [{ name: 'x', files: name }] },
        { name: 'fuzz', logger: silentLogger, baseDir: dir, invocationId: 'f', syncTime: new Date() },
      );
      let failed = false;
      for await (const m of client.read(await client.tables(), { signal: new AbortController().signal, state: new Map() })) {
        if (m.kind === 'insert') {
          // a batch that is let through can be read whole (rendered as the NDJSON destination does)
          batchToNdjson(m.batch);
          continue;
        }
        if (m.kind !== 'table-error') continue;
        failed = true;
        if (m.error.code !== 'CQ_ERR_SOURCE_DATA' || !m.error.context.file) t.fail(`${name}: ${m.error.code} ${m.error.message} ${m.error.stack}`);
      }
      outcomes[failed ? 'failed' : 'read']++;
    }
  }
  t.equal(outcomes.read + outcomes.failed, 200, JSON.stringify(outcomes));
  t.ok(outcomes.failed > 120, 'most mutations are caught');
});

t.test('mutated Parquet files read or fail their table with a typed error naming the file', async (t) => {
  const dir = await tmpDir(t);
  const rand = prng(13);
  const table = itemsTable(items(60));
  await writeParquet(path.join(dir, 'good.parquet'), table, 20);
  const parquet = new Uint8Array(await readFile(path.join(dir, 'good.parquet')));
  const outcomes = { read: 0, failed: 0 };
  const inputs: [string, Uint8Array][] = [];
  for (let i = 0; i < 30; i++) {
    // half the Parquet mutations keep the footer, so the damage reaches the page decoder
    inputs.push([`p${i}.parquet`, mutateBytes(parquet, rand, i % 2 ? 0 : 600)]);
  }
  for (const [name, bytes] of inputs) {
    await writeFile(path.join(dir, name), bytes);
    const client = await fileSource.create(
      { tables: [{ name: 'x', files: name }] },
      { name: 'fuzz', logger: silentLogger, baseDir: dir, invocationId: 'f', syncTime: new Date() },
    );
    let failed = false;
    for await (const m of client.read(await client.tables(), { signal: new AbortController().signal, state: new Map() })) {
      if (m.kind !== 'table-error') continue;
      failed = true;
      if (m.error.code === 'CQ_ERR_INTERNAL' || !m.error.context.file) t.fail(`${name}: ${m.error.code} ${m.error.message} ${m.error.stack}`);
    }
    outcomes[failed ? 'failed' : 'read']++;
  }
  t.equal(outcomes.read + outcomes.failed, 30, JSON.stringify(outcomes));
  t.ok(outcomes.failed > 10, 'most mutations are caught');
});

t.test('mutated Arrow pipe streams decode or fail with a typed error on stdin', async (t) => {
  const rand = prng(2027);
  const table = arrowItems();
  const schema = new A.Schema(table.schema.fields, new Map([[MD_TABLE_NAME, 'items']]));
  const segments: PipeMessage[] = [
    { kind: 'sync-start', sourceName: 's', syncTime: '2024-01-01T00:00:00Z' },
    { kind: 'migrate-table', table: schema },
    ...table.batches.map((b) => ({ kind: 'insert' as const, table: 'items', batch: new A.RecordBatch(schema, b.data) })),
    { kind: 'checkpoint', id: '1', state: { items: 'x' } },
    { kind: 'sync-end' },
  ];
  const good = Buffer.concat(segments.map((m) => encodeMessage(m) ?? new Uint8Array(0)));
  const outcomes = { decoded: 0, failed: 0 };
  for (let i = 0; i < 150; i++) {
    const input = mutateBytes(good, rand);
    // delivered in small chunks, as a pipe does
    const chunks = Array.from({ length: Math.ceil(input.length / 997) }, (_, k) => input.subarray(k * 997, (k + 1) * 997));
    try {
      const { messages: out } = await openPipeInput(
        (async function* () {
          yield* chunks;
        })(),
      );
      for await (const m of out) if (m.kind === 'insert') batchToNdjson(m.batch);
      outcomes.decoded++;
    } catch (err) {
      if (!(err instanceof CqPipeError) || err.code === 'CQ_ERR_INTERNAL') t.fail(`mutation ${i}: ${(err as Error).stack}`);
      else if (err.context.file !== 'stdin' && !/segment \d+/.test(err.message)) t.fail(`mutation ${i}: ${err.message} names neither stdin nor the segment`);
      outcomes.failed++;
    }
  }
  t.equal(outcomes.decoded + outcomes.failed, 150, JSON.stringify(outcomes));
  t.ok(outcomes.failed > 90, 'most mutations are caught');
});

t.test('mutated NDJSON pipe streams decode or fail with a typed error on stdin', async (t) => {
  const rand = prng(1913);
  const schema = defineTable({
    name: 'items',
    columns: [
      { name: 'id', type: 'int64', primary_key: true },
      { name: 'name', type: 'utf8' },
    ],
  });
  const batch = new A.Table({ id: A.vectorFromArray([1n, 2n, 3n], new A.Int64()), name: A.vectorFromArray(['a', 'b', 'c'], new A.Utf8()) }).batches[0]!;
  const messages: PipeMessage[] = [
    { kind: 'migrate-table', table: schema },
    { kind: 'insert', table: 'items', batch: relabel(batch, schema) },
    { kind: 'checkpoint', id: '1', state: { items: 'x' } },
    { kind: 'sync-end' },
  ];
  const ndjson = messages.map((m) => encodeNdjson(m) ?? '').join('');
  const outcomes = { decoded: 0, failed: 0 };
  for (let i = 0; i < 150; i++) {
    const input = Buffer.from(mutate(ndjson, rand));
    try {
      const { messages: out } = await openPipeInput(
        (async function* () {
          yield input;
        })(),
      );
      for await (const _m of out);
      outcomes.decoded++;
    } catch (err) {
      if (!(err instanceof CqPipeError) || err.code === 'CQ_ERR_INTERNAL') t.fail(`mutation ${i}: ${(err as Error).stack}`);
      outcomes.failed++;
    }
  }
  t.equal(outcomes.decoded + outcomes.failed, 150, JSON.stringify(outcomes));
});
