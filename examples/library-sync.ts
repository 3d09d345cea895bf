/**
 * A sync built in plain TypeScript from cq-pipe's building blocks, inside `stream.pipeline()`:
 * a custom source written as an async generator → reserved columns → write-mode rewriting →
 * batching writer into the `file` destination (Parquet).
 *
 *   npm run build && node dist/examples/library-sync.js ./out
 *
 * In your own project import from 'cq-pipe' and 'cq-pipe/connectors' instead of '../index.js' and
 * '../connectors/all.js'.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BatchWriter, RowBatchBuilder, createLogger, defineTable, internalColumns, writeMode, type SyncMessage } from '../index.js';
import { fileDestination } from '../connectors/all.js';

const orders = defineTable({
  name: 'orders',
  columns: [
    { name: 'id', type: 'int64', primary_key: true },
    { name: 'customer', type: 'utf8' },
    { name: 'total', type: 'decimal(10,2)' },
    { name: 'placed_at', type: 'timestamp' },
  ],
});

/** A custom source: any async generator of sync messages (here: three "API pages" of orders). */
async function* ordersFromApi(pages: number, perPage: number): AsyncGenerator<SyncMessage> {
  yield { kind: 'migrate-table', table: orders };
  for (let page = 0; page < pages; page++) {
    const rows = new RowBatchBuilder(orders);
    for (let i = 0; i < perPage; i++) {
      const id = page * perPage + i;
      rows.push({ id, customer: `c${id % 7}`, total: (id * 1.25).toFixed(2), placed_at: new Date(Date.UTC(2024, 0, 1) + id * 60_000).toISOString() });
    }
    yield { kind: 'insert', table: 'orders', batch: rows.finish() };
    // a checkpoint would go here: { kind: 'checkpoint', id: `page-${page}`, state: { orders: String(page) } }
  }
  yield { kind: 'sync-end' };
}

export async function main(outDir: string): Promise<number> {
  const syncTime = new Date();
  const logger = createLogger({ level: 'warn' });
  const client = await fileDestination.create(
    { path: `${outDir}/{{TABLE}}/{{UUID}}.{{FORMAT}}`, format: 'parquet' },
    { name: 'lake', logger, baseDir: process.cwd(), invocationId: 'library-example', syncTime },
  );
  let written = 0;
  const writer = new BatchWriter({
    client,
    destination: 'lake',
    caps: { rows: 2500, bytes: 64 * 1024 * 1024, timeoutMs: 10_000 },
    migrate: { migrateMode: 'safe' },
    onFlush: (_table, rows) => {
      written += rows;
    },
  });
  await pipeline(
    Readable.from(ordersFromApi(3, 1000), { objectMode: true, highWaterMark: 1 }),
    internalColumns({ sourceName: 'orders-api', syncTime, deterministicCqId: true }),
    writeMode({ writeMode: 'append', pkMode: 'default' }),
    writer,
  );
  return written;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await main(process.argv[2] ?? './cq-output');
  process.stdout.write(`wrote ${rows} rows\n`);
}
