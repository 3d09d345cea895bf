/**
 * Columns of (nearly) unique values are written without a dictionary, the others keep theirs
 * (connectors/file/writers/parquet-dictionary.ts): the choice from a sample of the first batch,
 * and the files as DuckDB reads them — their encodings in `parquet_metadata` and every value.
 */
import path from 'node:path';
import * as A from 'apache-arrow';
import t from 'tap';
import { MIN_SAMPLE, SAMPLE_ROWS, plainColumns } from '../connectors/file/writers/parquet-dictionary.js';
import { ParquetWriter } from '../connectors/file/writers/parquet.js';
import { utf8Data } from '../lib/arrow/index.js';
import { batchFromColumns, defineTable } from '../lib/schema.js';
import { duckdb, tmpDir } from './helpers/index.js';

const TABLE = defineTable({
  name: 'dict_choice',
  columns: [
    { name: 'unique_int', type: 'int64' },
    { name: 'few_ints', type: 'int64' },
    { name: 'unique_text', type: 'utf8' },
    { name: 'few_text', type: 'utf8' },
    { name: 'half_text', type: 'utf8' },
    { name: 'unique_time', type: 'timestamp' },
    { name: 'flag', type: 'bool' },
    { name: 'sparse_unique', type: 'float64' },
  ],
});

/** rows [start, start + n): unique, few (7 values), half distinct (each value twice), every 3rd sparse_unique null */
function batch(start: number, n: number): A.RecordBatch {
  const int64 = (f: (i: number) => number) =>
    A.makeData({ type: new A.Int64(), length: n, nullCount: 0, data: BigInt64Array.from({ length: n }, (_, i) => BigInt(f(start + i))) });
  const time = A.makeData({
    type: new A.TimestampMicrosecond('UTC'),
    length: n,
    nullCount: 0,
    data: BigInt64Array.from({ length: n }, (_, i) => 1_700_000_000_000_000n + BigInt(start + i) * 1_000_003n),
  });
  const sparse = A.vectorFromArray(
    Array.from({ length: n }, (_, i) => ((start + i) % 3 === 0 ? null : (start + i) * 1.5)),
    new A.Float64(),
  ).data[0]!;
  return batchFromColumns(TABLE, n, [
    int64((r) => r),
    int64((r) => r % 7),
    utf8Data(Array.from({ length: n }, (_, i) => `user-${start + i}-${'x'.repeat((start + i) % 13)}`)),
    utf8Data(Array.from({ length: n }, (_, i) => ['de', 'fr', 'us'][(start + i) % 3]!)),
    utf8Data(Array.from({ length: n }, (_, i) => `v${(start + i) >> 1}`)),
    time,
    A.vectorFromArray(
      Array.from({ length: n }, (_, i) => (start + i) % 2 === 0),
      new A.Bool(),
    ).data[0]!,
    sparse,
  ]);
}

t.test('the sample picks the nearly unique columns whose dictionary would overflow a row group', async (t) => {
  t.same(plainColumns(batch(0, 10_000), 20_000, 128 * 1024), ['unique_int', 'unique_text', 'unique_time', 'sparse_unique']);
  t.same(plainColumns(batch(0, 10_000), 1000, 128 * 1024), [], 'row groups of 1000 rows: every dictionary fits its page');
  t.same(plainColumns(batch(0, 10_000), 20_000, 16 * 1024 * 1024), [], 'a page limit no dictionary reaches: none');
  t.same(plainColumns(batch(0, MIN_SAMPLE - 1), 20_000, 128 * 1024), [], 'too few rows to judge: none');
  t.equal(SAMPLE_ROWS, 4096);
  // a column unique in its first rows only counts the sampled ones
  const tail = batch(0, 10_000);
  t.ok(plainColumns(tail.slice(0, SAMPLE_ROWS), 20_000, 128 * 1024).includes('unique_int'), 'the first 4096 rows decide');
});

t.test('files: unique columns have no dictionary page, the others do; DuckDB reads every value', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'dict.parquet');
  const w = await ParquetWriter.open(file, TABLE);
  for (let start = 0; start < 150_000; start += 10_000) await w.write([batch(start, 10_000)]);
  await w.finish();
  const meta = await duckdb(
    `SELECT path_in_schema AS col, bool_or(dictionary_page_offset IS NOT NULL) AS dict, count(*)::INTEGER AS groups
       FROM parquet_metadata('${file}') GROUP BY col ORDER BY col`,
  );
  const dict = Object.fromEntries(meta.map((r) => [r.col, r.dict]));
  t.same(
    dict,
    { few_ints: true, few_text: true, flag: false, half_text: true, sparse_unique: false, unique_int: false, unique_text: false, unique_time: false },
    'dictionary pages by column (booleans never have one)',
  );
  t.ok((meta[0]!.groups as number) > 1, 'several row groups');
  const rows = await duckdb(
    `SELECT count(*)::INTEGER AS n, count(DISTINCT unique_int)::INTEGER AS u, sum(few_ints)::BIGINT AS few,
            count(DISTINCT unique_text)::INTEGER AS ut, count(DISTINCT half_text)::INTEGER AS ht, count(sparse_unique)::INTEGER AS sparse,
            min(unique_time)::VARCHAR AS t0
       FROM read_parquet('${file}')`,
  );
  const few = Array.from({ length: 150_000 }, (_, r) => r % 7).reduce((a, b) => a + b, 0);
  t.same(rows[0], { n: 150_000, u: 150_000, few: BigInt(few), ut: 150_000, ht: 75_000, sparse: 100_000, t0: '2023-11-14 22:13:20+00' });
});
