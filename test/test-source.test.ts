import t from 'tap';
import { runSourceSuite } from './conformance/source.js';
import { testSource, generateBatch, testTableSchemas } from '../connectors/test-source.js';
import { typeName } from '../lib/types.js';
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
