/**
 * The `test` source: deterministic synthetic tables for demos, tests and benchmarks.
 *
 *   spec: { num_tables: 1, num_rows: 1000, seed: 42, batch_rows: 10000,
 *           preset: all-types | bench, incremental: false }
 *
 * Tables are `test_table_0 … test_table_<n-1>`. `all-types` has one column of every column type (docs/config.md)
 * (nulls on every 7th row of nullable columns); `bench` is the benchmark dataset (docs/benchmarks.md) (uuid, 3 short
 * strings, timestamp, int64, bool, float64, json). Every batch is generated from (seed, table,
 * batch index) alone, so output is identical across runs and shards. With `incremental: true`
 * tables are incremental on `updated_at` and a checkpoint follows every batch.
 */
import * as A from 'apache-arrow';
import { defineSource, type SourceClient } from '../lib/connector.js';
import type { SyncMessage } from '../lib/messages.js';
import { defineTable, MD_TABLE_INCREMENTAL, tableName, batchFromColumns, type ColumnDef } from '../lib/schema.js';
import { randomUuidBytes, uuidData, varBinaryData, validityBitmap } from '../lib/arrow/index.js';
import { toMicros, microsToIso } from '../lib/time.js';
import { ConfigError, InternalError, SourceReadError, StateError } from '../lib/errors.js';
import {
  SOME_TABLE,
  cloudqueryTestTables,
  deleteRecordsMessage,
  isCloudQueryTestTable,
  readCloudQueryTestTables,
  type CloudQueryTestSpec,
} from './cloudquery-test-tables.js';

export const TEST_PRESETS = ['all-types', 'bench'] as const;
export interface TestSourceSpec {
  num_tables?: number;
  num_rows?: number;
  seed?: number;
  batch_rows?: number;
  preset?: (typeof TEST_PRESETS)[number];
  incremental?: boolean;
}

/** The keys of CloudQuery's test source (`path: cloudquery/test`, its plugins/source/test/client/spec.go). */
export interface CloudQueryTestSourceSpec extends TestSourceSpec {
  num_clients?: number;
  num_sub_rows?: number;
  num_sub_cols?: number;
  required_env?: string[];
  fail_immediately?: boolean;
  exit_immediately?: boolean;
  delete_records?: number[];
}

const testProperties = {
  num_tables: { type: 'integer', minimum: 1, default: 1 },
  num_rows: { type: 'integer', minimum: 0, default: 1000 },
  seed: { type: 'integer', default: 42 },
  batch_rows: { type: 'integer', minimum: 1, default: 10000 },
  preset: { type: 'string', enum: [...TEST_PRESETS], default: 'all-types' },
  incremental: { type: 'boolean', default: false },
};

const configSchema = { type: 'object', additionalProperties: false, properties: testProperties };

const cloudqueryConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...testProperties,
    num_tables: { type: 'integer', minimum: 1 },
    num_rows: { type: 'integer', minimum: 0, default: 1 },
    num_clients: { type: 'integer', minimum: 1, default: 1 },
    num_sub_rows: { type: 'integer', minimum: 0, default: 10 },
    num_sub_cols: { type: 'integer', minimum: 0, default: 1 },
    required_env: { type: 'array', items: { type: 'string', pattern: '^\\w+=\\w*$' }, default: [] },
    fail_immediately: { type: 'boolean', default: false },
    exit_immediately: { type: 'boolean', default: false },
    delete_records: { type: 'array', items: { type: 'integer' }, default: [] },
  },
};

const BASE_TIME_US = 1_704_067_200_000_000n; // 2024-01-01T00:00:00Z
const BASE_TIME_US_NUMBER = Number(BASE_TIME_US);
const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima'];
const COUNTRIES = ['DE', 'FR', 'US', 'GB', 'JP', 'BR', 'IN', 'ZA'];
const CATEGORIES = ['books', 'garden', 'toys', 'tools', 'music', 'sports'];
const enc = new TextEncoder();
const WORD_BYTES = WORDS.map((w) => enc.encode(w));
const COUNTRY_BYTES = COUNTRIES.map((w) => enc.encode(w));
const CATEGORY_BYTES = CATEGORIES.map((w) => enc.encode(w));

/**
 * draws in [0, 1); `fill` draws a byte per element, ⌊draw·256⌋; `draws(n)` the next n draws, in a
 * scratch array the next call overwrites
 */
type Rand = (() => number) & { fill(buf: Uint8Array): void; draws(n: number): Float64Array };

/** the scratch of `draws` (generateBatch runs synchronously: one batch at a time) */
let drawScratch = new Float64Array(0);

const MULBERRY_STEP = 0x6d2b79f5;

/** mulberry32's output (a uint32) for state `s` */
function mulberry(s: number): number {
  let t = Math.imul(s ^ (s >>> 15), s | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (t ^ (t >>> 14)) >>> 0;
}

/**
 * mulberry32: a small, fast, seedable PRNG. `fill` and `draws` run the state in a local, so that
 * their draws allocate nothing (a number returned by a call, or held in a context slot above
 * 2^30, is a heap number per draw: those were most of the bench preset's garbage)
 */
function prng(seed: number): Rand {
  let a = seed >>> 0;
  const next = () => {
    a = (a + MULBERRY_STEP) >>> 0;
    return mulberry(a) / 4294967296;
  };
  const fill = (buf: Uint8Array) => {
    let s = a;
    for (let i = 0; i < buf.length; i++) {
      s = (s + MULBERRY_STEP) >>> 0;
      buf[i] = mulberry(s) >>> 24; // = ⌊next()·256⌋
    }
    a = s;
  };
  const draws = (n: number): Float64Array => {
    if (drawScratch.length < n) drawScratch = new Float64Array(n);
    const out = drawScratch;
    let s = a;
    for (let i = 0; i < n; i++) {
      s = (s + MULBERRY_STEP) >>> 0;
      out[i] = mulberry(s) / 4294967296;
    }
    a = s;
    return out;
  };
  return Object.assign(next, { fill, draws });
}

const ALL_TYPES_COLUMNS: ColumnDef[] = [
  { name: 'id', type: 'int64', primary_key: true },
  { name: 'bool_col', type: 'bool' },
  { name: 'int8_col', type: 'int8' },
  { name: 'int16_col', type: 'int16' },
  { name: 'int32_col', type: 'int32' },
  { name: 'int64_col', type: 'int64' },
  { name: 'uint8_col', type: 'uint8' },
  { name: 'uint16_col', type: 'uint16' },
  { name: 'uint32_col', type: 'uint32' },
  { name: 'uint64_col', type: 'uint64' },
  { name: 'float32_col', type: 'float32' },
  { name: 'float64_col', type: 'float64' },
  { name: 'decimal_col', type: 'decimal(12,3)' },
  { name: 'utf8_col', type: 'utf8' },
  { name: 'large_utf8_col', type: 'large_utf8' },
  { name: 'binary_col', type: 'binary' },
  { name: 'date32_col', type: 'date32' },
  { name: 'time64_col', type: 'time64' },
  { name: 'timestamp_col', type: 'timestamp' },
  { name: 'uuid_col', type: 'uuid' },
  { name: 'json_col', type: 'json' },
  { name: 'inet_col', type: 'inet' },
  { name: 'list_col', type: 'list<int64>' },
  { name: 'struct_col', type: 'struct<a: int64, b: utf8>' },
];

const BENCH_COLUMNS: ColumnDef[] = [
  { name: 'id', type: 'uuid', primary_key: true },
  { name: 'name', type: 'utf8' },
  { name: 'category', type: 'utf8' },
  { name: 'country', type: 'utf8' },
  { name: 'created_at', type: 'timestamp' },
  { name: 'quantity', type: 'int64' },
  { name: 'active', type: 'bool' },
  { name: 'price', type: 'float64' },
  { name: 'attrs', type: 'json' },
];

const CURSOR: ColumnDef = { name: 'updated_at', type: 'timestamp', not_null: true, incremental: true };

export function testTableSchemas(spec: Required<TestSourceSpec>): A.Schema[] {
  const cols = spec.preset === 'bench' ? BENCH_COLUMNS : ALL_TYPES_COLUMNS;
  return Array.from({ length: spec.num_tables }, (_, i) =>
    defineTable({
      name: `test_table_${i}`,
      columns: spec.incremental ? [...cols, CURSOR] : cols,
      incremental: spec.incremental,
    }),
  );
}

/** Generate rows [start, start+n) of table `tableIndex` as one batch of `schema`. */
export function generateBatch(spec: Required<TestSourceSpec>, schema: A.Schema, tableIndex: number, start: number, n: number): A.RecordBatch {
  const rand = prng(spec.seed * 1_000_003 + tableIndex * 7919 + Math.floor(start / spec.batch_rows) * 104_729);
  const cols: A.Data[] = [];
  for (const f of schema.fields) {
    cols.push(spec.preset === 'bench' || f.name === 'updated_at' ? benchColumn(f.name, start, n, rand) : allTypesColumn(f, start, n, rand));
  }
  return batchFromColumns(schema, n, cols);
}

/*
 * The bench preset's columns are written straight into their Arrow buffers: no JS string, BigInt,
 * array or view per value. A source that made ~700 bytes of JS garbage per row was most of the
 * main thread's allocation in every bench run (1.4 GB per 2M rows, sampled), and so most of its
 * heap growth. Values, and the order in which they take `rand`, are those of the first
 * version (test/test-source.test.ts compares the two).
 */

/** copies the (short) `src` into `out` at `at`; returns the position after it (a loop: faster than `set` for a few bytes) */
function copyBytes(out: Uint8Array, at: number, src: Uint8Array): number {
  for (let j = 0; j < src.length; j++) out[at + j] = src[j]!;
  return at + src.length;
}

/** a Utf8 column of n words of `words` (ASCII, < 256 of them), each picked by `rand` */
function pickedWordsData(words: Uint8Array[], n: number, rand: Rand): A.Data<A.Utf8> {
  const picks = new Uint8Array(n);
  const offsets = new Int32Array(n + 1);
  let size = 0;
  const r = rand.draws(n);
  for (let i = 0; i < n; i++) {
    const k = (r[i]! * words.length) | 0;
    picks[i] = k;
    offsets[i + 1] = size += words[k]!.length;
  }
  const data = new Uint8Array(size);
  for (let i = 0; i < n; i++) copyBytes(data, offsets[i]!, words[picks[i]!]!);
  return A.makeData({ type: new A.Utf8(), length: n, nullCount: 0, valueOffsets: offsets, data });
}

/**
 * an int64-wide column of `base + ⌊draw·scale⌋` per draw (non-negative, below 2^53), written as
 * 32-bit halves (little-endian, as Arrow): no BigInt, and no number leaves the loop
 */
function int64FromDraws(draws: Float64Array, n: number, base: number, scale: number): BigInt64Array {
  const out = new BigInt64Array(n);
  const halves = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) {
    const v = base + Math.floor(draws[i]! * scale);
    halves[2 * i] = v >>> 0;
    halves[2 * i + 1] = Math.floor(v / 4294967296);
  }
  return out;
}

const ASCII_0 = 48;

/** decimal digits of a non-negative integer below 2^53 (< 10^16) */
function digitCount(v: number): number {
  let d = 1;
  for (let p = 10; d < 16 && v >= p; p *= 10) d++;
  return d;
}

/** writes the digits of a non-negative integer below 2^53 ending before `end` */
function writeDigits(out: Uint8Array, end: number, v: number): void {
  while (v >= 2147483648) {
    const q = Math.floor(v / 10);
    out[--end] = ASCII_0 + (v - q * 10);
    v = q;
  }
  do {
    const q = (v / 10) | 0;
    out[--end] = ASCII_0 + (v - q * 10);
    v = q;
  } while (v > 0);
}

const ATTRS_RANK = enc.encode('{"rank":');
const ATTRS_TAG = enc.encode(',"tag":"');
const ATTRS_SCORE = enc.encode('","score":');
/** the text of each score k/10, k = 0…1000, as JS prints it (`JSON.stringify`) */
const SCORE_TEXT = Array.from({ length: 1001 }, (_, k) => enc.encode(String(k / 10)));

/** `{"rank":<start+i>,"tag":"<word>","score":<k/10>}` per row, k = round(rand·1000) */
function benchAttrsData(start: number, n: number, rand: Rand): A.Data<A.Binary> {
  const tags = new Uint8Array(n);
  const scores = new Uint16Array(n);
  const offsets = new Int32Array(n + 1);
  const fixed = ATTRS_RANK.length + ATTRS_TAG.length + ATTRS_SCORE.length + 1;
  let size = 0;
  const r = rand.draws(2 * n);
  for (let i = 0; i < n; i++) {
    const tag = (r[2 * i]! * WORDS.length) | 0;
    const k = Math.round(r[2 * i + 1]! * 1000);
    tags[i] = tag;
    scores[i] = k;
    offsets[i + 1] = size += fixed + digitCount(start + i) + WORD_BYTES[tag]!.length + SCORE_TEXT[k]!.length;
  }
  const data = new Uint8Array(size);
  for (let i = 0; i < n; i++) {
    let at = copyBytes(data, offsets[i]!, ATTRS_RANK);
    at += digitCount(start + i);
    writeDigits(data, at, start + i);
    at = copyBytes(data, at, ATTRS_TAG);
    at = copyBytes(data, at, WORD_BYTES[tags[i]!]!);
    at = copyBytes(data, at, ATTRS_SCORE);
    at = copyBytes(data, at, SCORE_TEXT[scores[i]!]!);
    data[at] = 0x7d; // '}'
  }
  return A.makeData({ type: new A.Binary(), length: n, nullCount: 0, valueOffsets: offsets, data });
}

function benchColumn(name: string, start: number, n: number, rand: Rand): A.Data {
  switch (name) {
    case 'id':
      return uuidData(randomUuidBytes(n, rand.fill), n);
    case 'name':
      return pickedWordsData(WORD_BYTES, n, rand);
    case 'category':
      return pickedWordsData(CATEGORY_BYTES, n, rand);
    case 'country':
      return pickedWordsData(COUNTRY_BYTES, n, rand);
    case 'created_at': {
      const v = int64FromDraws(rand.draws(n), n, BASE_TIME_US_NUMBER, 31_536_000_000_000);
      return A.makeData({ type: new A.TimestampMicrosecond('UTC'), length: n, nullCount: 0, data: v });
    }
    case 'updated_at': {
      const v = new BigInt64Array(n);
      for (let i = 0; i < n; i++) v[i] = BASE_TIME_US + BigInt(start + i) * 1_000_000n;
      return A.makeData({ type: new A.TimestampMicrosecond('UTC'), length: n, nullCount: 0, data: v });
    }
    case 'quantity': {
      const v = int64FromDraws(rand.draws(n), n, 0, 1_000_000);
      return A.makeData({ type: new A.Int64(), length: n, nullCount: 0, data: v });
    }
    case 'active': {
      const bits = new Uint8Array((n + 7) >> 3);
      const r = rand.draws(n);
      for (let i = 0; i < n; i++) if (r[i]! < 0.5) bits[i >> 3]! |= 1 << (i & 7);
      return A.makeData({ type: new A.Bool(), length: n, nullCount: 0, data: bits });
    }
    case 'price': {
      const v = new Float64Array(n);
      const r = rand.draws(n);
      for (let i = 0; i < n; i++) v[i] = Math.round(r[i]! * 100_000) / 100;
      return A.makeData({ type: new A.Float64(), length: n, nullCount: 0, data: v });
    }
    case 'attrs':
      return benchAttrsData(start, n, rand);
    default:
      // the preset's columns are fixed (BENCH_COLUMNS)
      throw new InternalError(`bench preset has no column ${name}`);
  }
}

function allTypesColumn(f: A.Field, start: number, n: number, rand: Rand): A.Data {
  const isNull = (i: number) => f.nullable && (start + i) % 7 === 6;
  if (f.name === 'id') {
    const v = new BigInt64Array(n);
    for (let i = 0; i < n; i++) v[i] = BigInt(start + i);
    return A.makeData({ type: new A.Int64(), length: n, nullCount: 0, data: v });
  }
  if (f.name === 'uuid_col') {
    return uuidData(randomUuidBytes(n, rand.fill), n, (i) => !isNull(i));
  }
  if (f.name === 'json_col' || f.name === 'inet_col') {
    const vals = Array.from({ length: n }, (_, i) => {
      if (isNull(i)) return null;
      const r = start + i;
      return enc.encode(
        f.name === 'json_col' ? `{"row":${r},"tags":["a","b"],"nested":{"ok":${r % 2 === 0}}}` : `10.${(r >> 16) & 255}.${(r >> 8) & 255}.${r & 255}`,
      );
    });
    return varBinaryData(new A.Binary(), vals);
  }
  const b = A.makeBuilder({ type: f.type, nullValues: [null, undefined] });
  for (let i = 0; i < n; i++) b.append(isNull(i) ? null : allTypesValue(f.name, start + i, rand));
  return b.finish().flush();
}

function allTypesValue(name: string, r: number, rand: Rand): unknown {
  const sign = r % 2 === 0 ? 1 : -1;
  switch (name) {
    case 'bool_col':
      return r % 3 === 0;
    case 'int8_col':
      return sign * (r % 128);
    case 'int16_col':
      return sign * (r % 32768);
    case 'int32_col':
      return sign * r;
    case 'int64_col':
      return BigInt(sign) * (BigInt(r) * 1_000_000_007n);
    case 'uint8_col':
      return r % 256;
    case 'uint16_col':
      return r % 65536;
    case 'uint32_col':
      return r % 4294967296;
    case 'uint64_col':
      return 18_000_000_000_000_000_000n + BigInt(r);
    case 'float32_col':
      return Math.fround(sign * r * 0.5);
    case 'float64_col':
      return sign * r * 0.25 + rand() / 1000;
    case 'decimal_col': {
      const unscaled = BigInt(sign) * BigInt(r * 1001 + 5);
      const u = BigInt.asUintN(128, unscaled);
      return Uint32Array.from({ length: 4 }, (_, k) => Number((u >> BigInt(32 * k)) & 0xffffffffn));
    }
    case 'utf8_col':
      return `${WORDS[r % WORDS.length]} ${r}${r % 5 === 0 ? ' ünïcødé "quoted", comma' : ''}`;
    case 'large_utf8_col':
      return `large ${r}`;
    case 'binary_col':
      return Uint8Array.from([r & 255, (r >> 8) & 255, 0, 255]);
    case 'date32_col':
      return Date.UTC(2024, 0, 1) + (r % 3650) * 86_400_000;
    case 'time64_col':
      return BigInt(r % 86_400) * 1_000_000n + 123_456n;
    case 'timestamp_col':
      return Number((BASE_TIME_US + BigInt(r) * 1_000_123n) / 1000n);
    case 'list_col':
      return [BigInt(r), BigInt(r + 1), BigInt(-r)];
    case 'struct_col':
      return { a: BigInt(r), b: `s${r}` };
    default:
      throw new InternalError(`all-types preset has no column ${name}`);
  }
}

export const testSource = defineSource<TestSourceSpec>({
  name: 'test',
  configSchema,
  create: (rawSpec) => testClient(rawSpec),
});

function testClient(rawSpec: TestSourceSpec | undefined, cloudquery?: { tables: A.Schema[]; spec: CloudQueryTestSpec }): SourceClient {
  const spec: Required<TestSourceSpec> = {
    num_tables: 1,
    num_rows: 1000,
    seed: 42,
    batch_rows: 10000,
    preset: 'all-types',
    incremental: false,
    ...rawSpec,
  };
  // under cloudquery/test, cq-pipe's own tables are there when num_tables asks for them
  const schemas = cloudquery && rawSpec?.num_tables === undefined ? [] : testTableSchemas(spec);
  return {
    async tables() {
      return [...(cloudquery?.tables ?? []), ...schemas];
    },
    async *read(tables, opts): AsyncIterable<SyncMessage> {
      if (cloudquery) {
        const theirs = tables.filter((t) => isCloudQueryTestTable(tableName(t)));
        if (theirs.length) yield* readCloudQueryTestTables(theirs, cloudquery.spec, opts);
        tables = tables.filter((t) => !isCloudQueryTestTable(tableName(t)));
      }
      for (const table of tables) {
        const name = tableName(table);
        const index = schemas.findIndex((s) => tableName(s) === name);
        const incremental = table.metadata.get(MD_TABLE_INCREMENTAL) === 'true';
        // incremental: resume at the row whose cursor equals the saved cursor (>=, so ties are re-read)
        let first = 0;
        const saved = incremental ? opts.state.get(name) : undefined;
        if (saved !== undefined) {
          let savedUs: bigint;
          try {
            savedUs = toMicros(saved);
          } catch (err) {
            throw new StateError(`the saved cursor "${saved}" of table ${name} cannot be read: ${(err as Error).message}`, { table: name }, err);
          }
          first = Math.max(0, Math.min(spec.num_rows, Number((savedUs - BASE_TIME_US) / 1_000_000n)));
        }
        for (let start = first - (first % spec.batch_rows); start < spec.num_rows; start += spec.batch_rows) {
          if (opts.signal.aborted) return;
          const n = Math.min(spec.batch_rows, spec.num_rows - start);
          let batch = generateBatch(spec, table, index, start, n);
          if (start < first) batch = batch.slice(first - start);
          yield { kind: 'insert', table: name, batch };
          if (incremental) {
            const lastUs = BASE_TIME_US + BigInt(start + n - 1) * 1_000_000n;
            yield { kind: 'checkpoint', id: `${name}:${start + n}`, table: name, state: { [name]: microsToIso(lastUs) } };
          }
        }
      }
    },
  };
}

/**
 * `path: cloudquery/test`: CloudQuery's test source (its tables and spec keys, docs/cloudquery.md),
 * plus cq-pipe's `test_table_*` when `num_tables` is set.
 */
export const cloudqueryTestSource = defineSource<CloudQueryTestSourceSpec>({
  name: 'cloudquery/test',
  configSchema: cloudqueryConfigSchema,
  create(rawSpec, ctx): SourceClient {
    const s = rawSpec ?? {};
    for (const kv of s.required_env ?? []) {
      const [k, v] = kv.split('=') as [string, string];
      if ((process.env[k] ?? '') !== v) {
        throw new ConfigError(`required_env: environment variable ${k} must be ${v === '' ? 'unset or empty' : `"${v}"`}`, {
          connector: ctx.name,
          keyPath: 'spec.spec.required_env',
        });
      }
    }
    const spec: CloudQueryTestSpec = {
      num_clients: s.num_clients ?? 1,
      num_rows: s.num_rows ?? 1,
      num_sub_rows: s.num_sub_rows ?? 10,
      num_sub_cols: s.num_sub_cols ?? 1,
      seed: s.seed ?? 42,
      batch_rows: s.batch_rows ?? 10000,
    };
    const inner = testClient({ ...s, num_rows: spec.num_rows }, { tables: cloudqueryTestTables(spec), spec });
    const deletes = s.delete_records ?? [];
    if (!s.fail_immediately && !s.exit_immediately && !deletes.length) return inner;
    return {
      tables: () => inner.tables(),
      async *read(tables, opts): AsyncIterable<SyncMessage> {
        if (s.exit_immediately) {
          throw new SourceReadError('exit_immediately: the test source stops the sync before any row', { connector: ctx.name });
        }
        if (s.fail_immediately) {
          for (const t of tables) {
            const table = tableName(t);
            yield { kind: 'table-error', table, error: new SourceReadError('fail_immediately: failing immediately', { connector: ctx.name, table }) };
          }
        } else {
          yield* inner.read(tables, opts);
        }
        // CloudQuery's test source sends its delete after the whole sync; cq-pipe only when test_some_table is synced
        if (deletes.length && !s.fail_immediately && tables.some((t) => tableName(t) === SOME_TABLE)) yield deleteRecordsMessage(deletes);
      },
    };
  },
});

export { validityBitmap };
