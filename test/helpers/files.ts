/** Writers of source fixture files in every format, for file-source tests. */
import { writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import * as A from 'apache-arrow';
import * as pw from 'parquet-wasm';

export interface Item {
  id: number;
  title: string;
  price: number;
  updated_at: string;
  active: boolean;
}

export function items(n: number, start = 0): Item[] {
  return Array.from({ length: n }, (_, k) => {
    const i = start + k;
    return { id: i, title: `item ${i}`, price: i + 0.5, updated_at: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString(), active: i % 2 === 0 };
  });
}

export async function writeNdjson(file: string, rows: object[], gzip = false): Promise<void> {
  const text = rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
  await writeFile(file, gzip ? gzipSync(text) : text);
}

export async function writeJsonArray(file: string, rows: object[]): Promise<void> {
  await writeFile(file, JSON.stringify(rows, null, 1));
}

export async function writeCsv(file: string, rows: Record<string, unknown>[]): Promise<void> {
  const cols = Object.keys(rows[0] ?? {});
  const q = (v: unknown) => {
    const s = String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  await writeFile(file, [cols.join(','), ...rows.map((r) => cols.map((c) => q(r[c])).join(','))].join('\n') + '\n');
}

/** an Arrow table of items with a nanosecond, zone-less timestamp (as pandas writes them) */
export function itemsTable(rows: Item[]): A.Table {
  return new A.Table({
    id: A.vectorFromArray(
      rows.map((r) => BigInt(r.id)),
      new A.Int64(),
    ),
    title: A.vectorFromArray(
      rows.map((r) => r.title),
      new A.Utf8(),
    ),
    price: A.vectorFromArray(
      rows.map((r) => r.price),
      new A.Float64(),
    ),
    updated_at: A.vectorFromArray(
      rows.map((r) => Date.parse(r.updated_at)),
      new A.TimestampMillisecond(),
    ),
    active: A.vectorFromArray(
      rows.map((r) => r.active),
      new A.Bool(),
    ),
  });
}

export async function writeParquet(file: string, table: A.Table, rowGroupSize = 1024): Promise<void> {
  const wasm = pw.Table.fromIPCStream(A.tableToIPC(table, 'stream'));
  const props = new pw.WriterPropertiesBuilder().setMaxRowGroupSize(rowGroupSize).setCompression(pw.Compression.SNAPPY).build();
  await writeFile(file, pw.writeParquet(wasm, props));
}

export async function writeArrow(file: string, table: A.Table, kind: 'file' | 'stream'): Promise<void> {
  await writeFile(file, A.tableToIPC(table, kind));
}
