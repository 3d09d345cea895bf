/**
 * The Parquet writer reuses its memory from batch to batch (connectors/file/writers/parquet.ts,
 * docs/benchmarks.md "Where the time and memory go"): the uuid text of a batch is written into
 * scratch buffers that the next batch overwrites, and the IPC bytes go to the encoder in buffers
 * it hands back. These tests check that no batch's values are overwritten by a later one, with
 * batches that grow (a new, larger buffer), shrink (a reused one), and several in one write, on
 * the encoder thread and in-process; DuckDB reads the files back.
 */
import path from 'node:path';
import * as A from 'apache-arrow';
import t from 'tap';
import { ParquetWriter, parquetSchema } from '../connectors/file/writers/parquet.js';
import { uuidData, uuidToString } from '../lib/arrow/uuid.js';
import { batchFromColumns, defineTable } from '../lib/schema.js';
import { duckdb, tmpDir } from './helpers/index.js';

const TABLE = defineTable({
  name: 'reuse',
  columns: [
    { name: 'id', type: 'uuid' },
    { name: 'n', type: 'int64' },
    { name: 'label', type: 'utf8' },
  ],
});

/** rows [start, start + count): uuid bytes from the row number (every 11th null, all from 7200), n = row number, label `r<n>` */
function batch(start: number, count: number): { batch: A.RecordBatch; ids: (string | null)[] } {
  const bytes = new Uint8Array(16 * count);
  const v = new DataView(bytes.buffer);
  for (let i = 0; i < count; i++) {
    v.setUint32(i * 16, start + i);
    v.setUint32(i * 16 + 8, (start + i) * 2654435761);
    bytes[i * 16 + 6] = 0x40;
    bytes[i * 16 + 8] = 0x80;
  }
  // every 11th row null, and the whole batch from row 7200 on (a column of nulls only gets no text)
  const valid = (i: number) => (start + i) % 11 !== 5 && start < 7200;
  const id = uuidData(bytes, count, valid);
  const n = A.makeData({ type: new A.Int64(), length: count, data: BigInt64Array.from({ length: count }, (_, i) => BigInt(start + i)) });
  const labels = A.vectorFromArray(
    Array.from({ length: count }, (_, i) => `r${start + i}`),
    new A.Utf8(),
  ).data[0]!;
  const ids = Array.from({ length: count }, (_, i) => (valid(i) ? uuidToString(bytes, i * 16) : null));
  return { batch: batchFromColumns(TABLE, count, [id, n, labels]), ids };
}

for (const mode of ['worker', 'in-process'] as const) {
  t.test(`parquet writer (${mode}): batches of 1000, 3000, 500 + 700 in one write, 2000 and 10 rows keep their own values`, async (t) => {
    const before = process.env.CQ_PIPE_PARQUET_WORKER;
    process.env.CQ_PIPE_PARQUET_WORKER = mode === 'worker' ? '1' : '0';
    t.teardown(() => {
      if (before === undefined) delete process.env.CQ_PIPE_PARQUET_WORKER;
      else process.env.CQ_PIPE_PARQUET_WORKER = before;
    });
    const dir = await tmpDir(t);
    const file = path.join(dir, 'reuse.parquet');
    const w = await ParquetWriter.open(file, TABLE);
    const expected: (string | null)[] = [];
    let start = 0;
    for (const sizes of [[1000], [3000], [500, 700], [2000], [10]]) {
      const parts = sizes.map((count) => {
        const b = batch(start, count);
        start += count;
        expected.push(...b.ids);
        return b.batch;
      });
      await w.write(parts);
    }
    await w.finish();
    t.equal(w.rows, 7210);
    const rows = await duckdb(`SELECT id::VARCHAR AS id, n::INTEGER AS n, label FROM read_parquet('${file}') ORDER BY n`);
    t.equal(rows.length, 7210);
    const wrong = rows.filter((r, i) => r.n !== i || r.id !== expected[i] || r.label !== `r${i}`);
    t.same(wrong.slice(0, 3), [], 'every row has its own uuid, number and label');
    t.equal(rows.filter((r) => r.id === null).length, expected.filter((x) => x === null).length, 'nulls kept (every 11th row, and the last batch)');
  });
}

t.test('the files of a table share one Parquet-side schema (one schema message), a changed schema gets its own', async (t) => {
  // apache-arrow gives each batch its own copy of the schema: fields cloned, types shared
  const copy = (s: A.Schema) =>
    new A.Schema(
      s.fields.map((f) => f.clone()),
      new Map(s.metadata),
    );
  const first = parquetSchema(copy(TABLE));
  t.not(first, TABLE, 'uuid columns become text');
  t.equal(first.fields[0]!.type.typeId, A.Type.Utf8);
  t.equal(parquetSchema(copy(TABLE)), first, 'a copy of the same schema: the same target');
  const wider = defineTable({
    name: 'reuse',
    columns: [
      { name: 'id', type: 'uuid' },
      { name: 'n', type: 'int64' },
      { name: 'label', type: 'utf8' },
      { name: 'x', type: 'bool' },
    ],
  });
  const changed = parquetSchema(wider);
  t.not(changed, first, 'a column more: a new target');
  t.same(
    changed.fields.map((f) => f.name),
    ['id', 'n', 'label', 'x'],
  );
  const other = defineTable({ name: 'other', columns: [{ name: 'id', type: 'uuid' }] });
  t.not(parquetSchema(other), changed, 'another table: its own');
  t.equal(parquetSchema(copy(wider)), changed, "the table's last schema is remembered");
});
