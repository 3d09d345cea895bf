import t from 'tap';
import { runSourceSuite } from './conformance/source.js';
import { testSource, generateBatch, testTableSchemas } from '../connectors/test-source.js';
import { typeName } from '../lib/types.js';
import { prng as mulberry32 } from './helpers/fault-proxy.js';
import { silentLogger } from '../lib/logger.js';
import type { SyncMessage } from '../lib/messages.js';

runSourceSuite(t, {
  connector: testSource,
  spec: async () => ({ num_tables: 2, num_rows: 25_000, batch_rows: 10_000 }),
  expected: { test_table_0: 25_000, test_table_1: 25_000 },
});

const ctx = { name: 'test', logger: silentLogger, baseDir: '.', invocationId: 'x', syncTime: new Date() };
const full = { num_tables: 1, num_rows: 100, seed: 42, batch_rows: 10, preset: 'all-types' as const, incremental: false };

t.test('all-types preset covers every column type', async (t) => {
  const [schema] = testTableSchemas(full);
  const types = schema!.fields.map(typeName);
  for (const ty of [
    'bool',
    'int8',
    'int16',
    'int32',
    'int64',
    'uint8',
    'uint16',
    'uint32',
    'uint64',
    'float32',
    'float64',
    'decimal(12,3)',
    'utf8',
    'large_utf8',
    'binary',
    'date32',
    'time64',
    'timestamp',
    'uuid',
    'json',
    'inet',
    'list<int64>',
    'struct<a: int64, b: utf8>',
  ]) {
    t.ok(types.includes(ty), ty);
  }
});

t.test('bench preset is the benchmark dataset (docs/benchmarks.md)', async (t) => {
  const [schema] = testTableSchemas({ ...full, preset: 'bench' });
  t.same(schema!.fields.map(typeName), ['uuid', 'utf8', 'utf8', 'utf8', 'timestamp', 'int64', 'bool', 'float64', 'json']);
});

t.test('output is deterministic per seed', async (t) => {
  const [schema] = testTableSchemas(full);
  const a = generateBatch(full, schema!, 0, 0, 10);
  const b = generateBatch(full, schema!, 0, 0, 10);
  const c = generateBatch({ ...full, seed: 7 }, schema!, 0, 0, 10);
  const json = (x: typeof a) => JSON.stringify(x.toArray(), (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
  t.equal(json(a), json(b));
  t.not(json(a), json(c));
  t.equal(a.getChild('utf8_col')!.nullCount, 1, 'every 7th row of a nullable column is null');
});

t.test('incremental: checkpoints after each batch, resumes at the saved cursor (ties re-read)', async (t) => {
  const client = await testSource.create({ num_rows: 30, batch_rows: 10, incremental: true }, ctx);
  const tables = await client.tables();
  const msgs: SyncMessage[] = [];
  for await (const m of client.read(tables, { signal: new AbortController().signal, state: new Map() })) msgs.push(m);
  const cps = msgs.filter((m) => m.kind === 'checkpoint');
  t.equal(cps.length, 3);
  const saved = (cps[1] as Extract<SyncMessage, { kind: 'checkpoint' }>).state.test_table_0!;
  t.equal(saved, '2024-01-01T00:00:19.000000Z');
  let rows = 0;
  for await (const m of client.read(tables, { signal: new AbortController().signal, state: new Map([['test_table_0', saved]]) })) {
    if (m.kind === 'insert') rows += m.batch.numRows;
  }
  t.equal(rows, 11, 'rows 19..29: the row at the cursor is read again');
});

t.test('bench preset: values written into the buffers are those of a row-by-row oracle (same PRNG draws)', async (t) => {
  // the first version of the bench columns, value by value: mulberry32, and the columns' draws in schema order
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima'];
  const countries = ['DE', 'FR', 'US', 'GB', 'JP', 'BR', 'IN', 'ZA'];
  const categories = ['books', 'garden', 'toys', 'tools', 'music', 'sports'];
  const oracle = (seed: number, start: number, n: number, batchRows: number) => {
    const rand = mulberry32(seed * 1_000_003 + Math.floor(start / batchRows) * 104_729);
    const draw = <T>(f: (i: number) => T) => Array.from({ length: n }, (_, i) => f(i));
    const uuidBytes = Array.from({ length: 16 * n }, () => (rand() * 256) | 0);
    const id = draw((i) => {
      const b = uuidBytes.slice(16 * i, 16 * i + 16);
      b[6] = (b[6]! & 0x0f) | 0x40;
      b[8] = (b[8]! & 0x3f) | 0x80;
      return b.map((x) => x.toString(16).padStart(2, '0')).join('');
    });
    const name = draw(() => words[(rand() * words.length) | 0]);
    const category = draw(() => categories[(rand() * categories.length) | 0]);
    const country = draw(() => countries[(rand() * countries.length) | 0]);
    const created = draw(() => 1_704_067_200_000_000n + BigInt(Math.floor(rand() * 31_536_000_000_000)));
    const quantity = draw(() => BigInt(Math.floor(rand() * 1_000_000)));
    const active = draw(() => rand() < 0.5);
    const price = draw(() => Math.round(rand() * 100_000) / 100);
    const attrs = draw((i) => `{"rank":${start + i},"tag":"${words[(rand() * words.length) | 0]}","score":${Math.round(rand() * 1000) / 10}}`);
    return { id, name, category, country, created, quantity, active, price, attrs };
  };
  const dec = new TextDecoder();
  const cases: [number, number, number, number][] = [
    [42, 0, 10_000, 10_000],
    [7, 123_450_000, 3_000, 10_000],
    [1, 9_999_999_990, 25, 10],
    [3, 0, 1, 1],
  ];
  for (const [seed, start, n, batchRows] of cases) {
    const spec = { ...full, seed, batch_rows: batchRows, preset: 'bench' as const };
    const [schema] = testTableSchemas(spec);
    const batch = generateBatch(spec, schema!, 0, start, n);
    const want = oracle(seed, start, n, batchRows);
    const col = (name: string) => batch.getChild(name)!;
    const got = {
      id: Array.from({ length: n }, (_, i) => Buffer.from(col('id').get(i) as Uint8Array).toString('hex')),
      name: col('name').toArray() as string[],
      category: Array.from(col('category').toArray() as string[]),
      country: Array.from(col('country').toArray() as string[]),
      created: Array.from(col('created_at').data[0]!.values as BigInt64Array),
      quantity: Array.from(col('quantity').toArray() as BigInt64Array),
      active: Array.from({ length: n }, (_, i) => col('active').get(i) as boolean),
      price: Array.from(col('price').toArray() as Float64Array),
      attrs: Array.from({ length: n }, (_, i) => dec.decode(col('attrs').get(i) as Uint8Array)),
    };
    for (const k of Object.keys(want) as (keyof typeof want)[]) {
      t.same(Array.from(got[k] as unknown[]), want[k], `seed ${seed}, rows ${start}…+${n}: ${k}`);
    }
  }
  // every score k/10 (k = 0…1000) as JS prints it
  const spec = { ...full, num_rows: 50_000, seed: 5, batch_rows: 50_000, preset: 'bench' as const };
  const [schema] = testTableSchemas(spec);
  const attrs = generateBatch(spec, schema!, 0, 0, 50_000).getChild('attrs')!;
  const scores = new Set(Array.from({ length: 50_000 }, (_, i) => dec.decode(attrs.get(i) as Uint8Array).match(/"score":([^}]*)}/)![1]));
  t.equal(scores.size, 1001, 'all 1001 scores drawn');
  t.ok(
    [...scores].every((s) => String(Number(s)) === s),
    'each as String(k/10) prints it',
  );
});
