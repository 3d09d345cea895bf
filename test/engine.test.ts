import t from 'tap';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as A from 'apache-arrow';
import { TableBatcher } from '../lib/batcher.js';
import { BatchWriter } from '../lib/batch-writer.js';
import { internalColumns } from '../lib/stages/internal-columns.js';
import { writeMode, rewriteSchema } from '../lib/stages/write-mode.js';
import { isPrimaryKey, isUnique, primaryKeys, batchByteSize } from '../lib/schema.js';
import type { DestinationClient } from '../lib/connector.js';
import type { SyncMessage } from '../lib/messages.js';
import { ITEMS, itemsBatch } from './helpers/index.js';
import { uuidToString } from '../lib/arrow/index.js';

const rows = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ id: from + i, name: `n${i}`, value: i }));
const collect = async (gen: AsyncIterable<SyncMessage>) => {
  const out: SyncMessage[] = [];
  for await (const m of gen) out.push(m);
  return out;
};

t.test('batcher closes groups at the row cap and slices oversized batches', async (t) => {
  const b = new TableBatcher({ rows: 1000, bytes: 0 });
  t.same(b.add(itemsBatch(rows(400))), []);
  const groups = b.add(itemsBatch(rows(2500)));
  t.same(
    groups.map((g) => g.reduce((n, x) => n + x.numRows, 0)),
    [1000, 1000],
  );
  t.equal(b.rows, 900);
  t.equal(
    b.take().reduce((n, x) => n + x.numRows, 0),
    900,
  );
  t.ok(b.empty);
});

t.test('batcher closes groups at the byte cap', async (t) => {
  const batch = itemsBatch(rows(1000));
  const perRow = batchByteSize(batch) / 1000;
  const b = new TableBatcher({ rows: 0, bytes: Math.floor(perRow * 100) });
  const groups = b.add(batch);
  t.ok(groups.length >= 9 && groups.length <= 11, `about 10 groups (${groups.length})`);
  t.ok(
    groups.every((g) => g.reduce((n, x) => n + x.numRows, 0) <= 100),
    'no group over the byte cap',
  );
  const left = b.take().reduce((n, x) => n + x.numRows, 0);
  t.equal(groups.reduce((n, g) => n + g.reduce((m, x) => m + x.numRows, 0), 0) + left, 1000, 'no row lost');
});

t.test('a batch larger than the byte cap still makes progress one row at a time', async (t) => {
  const b = new TableBatcher({ rows: 0, bytes: 1 });
  const groups = b.add(itemsBatch(rows(5)));
  t.equal(groups.length, 5);
});

t.test('internal columns: reserved columns first, _cq_id key when the table has none, source values kept', async (t) => {
  const syncTime = new Date('2024-05-01T00:00:00Z');
  const noPk = new A.Schema(
    ITEMS.fields.map((f) => new A.Field(f.name, f.type, true, new Map())),
    ITEMS.metadata,
  );
  const out = await collect(
    internalColumns({ sourceName: 'shop', syncTime, deterministicCqId: false })(
      Readable.from([
        { kind: 'migrate-table', table: noPk },
        { kind: 'insert', table: 'items', batch: itemsBatch(rows(3), noPk) },
      ] as SyncMessage[]),
    ),
  );
  const m = out[0] as Extract<SyncMessage, { kind: 'migrate-table' }>;
  t.same(
    m.table.fields.map((f) => f.name),
    ['_cq_sync_time', '_cq_source_name', '_cq_id', '_cq_parent_id', 'id', 'name', 'value'],
  );
  t.same(primaryKeys(m.table), ['_cq_id'], 'no source key → _cq_id is the key');
  const ins = out[1] as Extract<SyncMessage, { kind: 'insert' }>;
  t.equal(ins.batch.numRows, 3);
  t.equal(ins.batch.getChild('_cq_source_name')!.get(2), 'shop');
  t.equal(ins.batch.getChild('_cq_sync_time')!.get(0), syncTime.getTime());
  t.equal(ins.batch.getChild('_cq_parent_id')!.nullCount, 3);
  const ids = new Set([0, 1, 2].map((i) => uuidToString(ins.batch.getChild('_cq_id')!.get(i) as Uint8Array)));
  t.equal(ids.size, 3);
});

t.test('deterministic _cq_id: UUIDv5 over the primary key, equal across runs, different per key', async (t) => {
  const run = async () => {
    const out = await collect(
      internalColumns({ sourceName: 's', syncTime: new Date(), deterministicCqId: true })(
        Readable.from([
          { kind: 'migrate-table', table: ITEMS },
          { kind: 'insert', table: 'items', batch: itemsBatch(rows(3)) },
        ] as SyncMessage[]),
      ),
    );
    const b = (out[1] as Extract<SyncMessage, { kind: 'insert' }>).batch;
    return [0, 1, 2].map((i) => uuidToString(b.getChild('_cq_id')!.get(i) as Uint8Array));
  };
  const a = await run();
  const b = await run();
  t.same(a, b);
  t.equal(new Set(a).size, 3);
  t.match(a[0]!, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a version-5 uuid');
});

t.test('write modes rewrite keys: append strips PK and unique, cq-id-only keeps only _cq_id', async (t) => {
  const [mig] = await collect(
    internalColumns({ sourceName: 's', syncTime: new Date(), deterministicCqId: false })(
      Readable.from([{ kind: 'migrate-table', table: ITEMS }] as SyncMessage[]),
    ),
  );
  const schema = (mig as Extract<SyncMessage, { kind: 'migrate-table' }>).table;
  t.same(primaryKeys(schema), ['id']);
  const app = rewriteSchema(schema, { writeMode: 'append', pkMode: 'default' });
  t.equal(app.fields.filter(isPrimaryKey).length, 0);
  t.equal(app.fields.filter(isUnique).length, 0);
  const cq = rewriteSchema(schema, { writeMode: 'overwrite', pkMode: 'cq-id-only' });
  t.same(primaryKeys(cq), ['_cq_id']);
  t.same(rewriteSchema(schema, { writeMode: 'overwrite', pkMode: 'default' }), schema);
  const out = await collect(
    writeMode({ writeMode: 'append', pkMode: 'default' })(
      Readable.from([
        { kind: 'delete-stale', table: 'items', sourceName: 's', syncTime: new Date() },
        { kind: 'insert', table: 'items', batch: itemsBatch(rows(2)) },
      ] as SyncMessage[]),
    ),
  );
  t.same(
    out.map((m) => m.kind),
    ['insert'],
    'append destinations get no delete-stale',
  );
  t.equal((out[0] as Extract<SyncMessage, { kind: 'insert' }>).batch.schema.fields.filter(isPrimaryKey).length, 0, 'insert relabelled');
});

function recordingClient(delayMs = 0) {
  const calls: string[] = [];
  const client: DestinationClient = {
    async migrateTables(tables) {
      calls.push(`migrate:${tables.length}`);
      return [];
    },
    async writeBatch(_s, batches) {
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      calls.push(`write:${batches.reduce((n, b) => n + b.numRows, 0)}`);
    },
    async deleteStale(msgs) {
      calls.push(`delete:${msgs.length}`);
    },
    async commit() {
      calls.push('commit');
    },
    async close(err) {
      calls.push(err ? 'rollback' : 'close');
    },
  };
  return { client, calls };
}

t.test('batch writer order: migrations before inserts, flush before delete-stale and checkpoints, close commits', async (t) => {
  const { client, calls } = recordingClient();
  const acked: string[] = [];
  const w = new BatchWriter({
    client,
    destination: 'd',
    caps: { rows: 100, bytes: 0, timeoutMs: 0 },
    migrate: { migrateMode: 'safe' },
    onCheckpoint: (m) => {
      acked.push(`${m.id} after ${calls.length} calls`);
    },
  });
  await pipeline(
    Readable.from(
      [
        { kind: 'migrate-table', table: ITEMS },
        { kind: 'migrate-table', table: ITEMS },
        { kind: 'insert', table: 'items', batch: itemsBatch(rows(150)) },
        { kind: 'checkpoint', id: 'cp1', state: { items: '1' } },
        { kind: 'insert', table: 'items', batch: itemsBatch(rows(30)) },
        { kind: 'delete-stale', table: 'items', sourceName: 's', syncTime: new Date() },
        { kind: 'sync-end' },
      ] as SyncMessage[],
      { objectMode: true },
    ),
    w,
  );
  t.same(calls, ['migrate:2', 'write:100', 'write:50', 'commit', 'write:30', 'delete:1', 'close']);
  t.same(acked, ['cp1 after 4 calls'], 'checkpoint acknowledged after its rows were committed');
});

t.test('batch writer flushes on timeout', async (t) => {
  const { client, calls } = recordingClient();
  const w = new BatchWriter({ client, destination: 'd', caps: { rows: 1000, bytes: 0, timeoutMs: 50 }, migrate: false });
  w.write({ kind: 'insert', table: 'items', batch: itemsBatch(rows(10)) });
  await new Promise((r) => setTimeout(r, 150));
  t.same(calls, ['write:10'], 'flushed by the timer, without further input');
  w.end();
  await new Promise((r) => w.on('finish', r));
  t.same(calls, ['write:10', 'close']);
});

t.test('a failing destination rolls back and fails the stream', async (t) => {
  const { client, calls } = recordingClient();
  client.writeBatch = async () => {
    throw new Error('disk full');
  };
  const w = new BatchWriter({ client, destination: 'd', caps: { rows: 5, bytes: 0, timeoutMs: 0 }, migrate: false });
  await t.rejects(
    pipeline(Readable.from([{ kind: 'insert', table: 'items', batch: itemsBatch(rows(10)) }] as SyncMessage[], { objectMode: true }), w),
    /disk full/,
  );
  t.same(calls, ['rollback']);
});

t.test('backpressure: a slow destination bounds what the source has produced ahead', async (t) => {
  // 200 batches into a fast and a slow destination; count batches produced but not yet written
  let produced = 0;
  let slowWritten = 0;
  let maxAhead = 0;
  async function* source(): AsyncGenerator<SyncMessage> {
    yield { kind: 'migrate-table', table: ITEMS };
    for (let i = 0; i < 200; i++) {
      produced++;
      maxAhead = Math.max(maxAhead, produced - slowWritten);
      yield { kind: 'insert', table: 'items', batch: itemsBatch(rows(100, i * 100)) };
    }
  }
  const fast = recordingClient();
  const slow = recordingClient(2);
  const origWrite = slow.client.writeBatch;
  slow.client.writeBatch = async (s, b) => {
    await origWrite(s, b);
    slowWritten += b.length;
  };
  const { FanOut } = await import('../lib/fan-out.js');
  const { PassThrough } = await import('node:stream');
  const branches = [fast, slow].map(({ client }) => {
    const input = new PassThrough({ objectMode: true, highWaterMark: 1 });
    const done = pipeline(
      input,
      writeMode({ writeMode: 'append', pkMode: 'default' }),
      new BatchWriter({ client, destination: 'd', caps: { rows: 100, bytes: 0, timeoutMs: 0 }, migrate: false }),
    );
    return { input, done };
  });
  await Promise.all([
    pipeline(Readable.from(source(), { objectMode: true, highWaterMark: 1 }), new FanOut(branches.map((b) => b.input))),
    ...branches.map((b) => b.done),
  ]);
  t.equal(slowWritten, 200, 'every batch written');
  t.equal(fast.calls.filter((c) => c.startsWith('write')).length, 200);
  t.ok(maxAhead <= 10, `at most 10 batches in flight (saw ${maxAhead}), not 200`);
});

t.test('batch writer: a table-scoped client error fails that table only', async (t) => {
  const { DestinationWriteError, tableFailure } = await import('../lib/errors.js');
  const OTHER = new A.Schema(ITEMS.fields, new Map([...ITEMS.metadata, ['cq:table_name', 'other']]));
  const written: string[] = [];
  const deleted: string[] = [];
  let failOther = true;
  const client: DestinationClient = {
    async migrateTables() {
      return [];
    },
    async writeBatch(s, batches) {
      const table = s.metadata.get('cq:table_name')!;
      if (table === 'other' && failOther) {
        failOther = false;
        throw tableFailure(new DestinationWriteError('value too long', { table: 'other' }));
      }
      written.push(`${table}:${batches.reduce((n, b) => n + b.numRows, 0)}`);
    },
    async deleteStale(msgs) {
      deleted.push(...msgs.map((m) => m.table));
    },
    async close() {},
  };
  const acks: [string, boolean][] = [];
  const failures: string[] = [];
  const w = new BatchWriter({
    client,
    destination: 'd',
    caps: { rows: 10, bytes: 0, timeoutMs: 0 },
    migrate: { migrateMode: 'safe' },
    onCheckpoint: (m, committed) => {
      acks.push([m.id, committed]);
    },
    onTableError: (table, err) => {
      failures.push(`${table}: ${err.code}`);
    },
  });
  const now = new Date();
  await pipeline(
    Readable.from(
      [
        { kind: 'migrate-table', table: ITEMS },
        { kind: 'migrate-table', table: OTHER },
        { kind: 'insert', table: 'items', batch: itemsBatch(rows(10)) },
        { kind: 'insert', table: 'other', batch: itemsBatch(rows(10), OTHER) },
        { kind: 'checkpoint', id: 'items-1', table: 'items', state: { items: '1' } },
        { kind: 'checkpoint', id: 'other-1', table: 'other', state: { other: '1' } },
        { kind: 'checkpoint', id: 'global', state: { g: '1' } },
        { kind: 'insert', table: 'other', batch: itemsBatch(rows(7), OTHER) },
        { kind: 'insert', table: 'items', batch: itemsBatch(rows(5)) },
        { kind: 'delete-stale', table: 'items', sourceName: 's', syncTime: now },
        { kind: 'delete-stale', table: 'other', sourceName: 's', syncTime: now },
        { kind: 'sync-end' },
      ] as SyncMessage[],
      { objectMode: true },
    ),
    w,
  );
  t.same(failures, ['other: CQ_ERR_DEST_WRITE'], 'reported once');
  t.same(written, ['items:10', 'items:5'], "the failed table's later rows are dropped; the other table goes on");
  t.same(
    acks,
    [
      ['items-1', true],
      ['other-1', false],
      ['global', false],
    ],
    'its checkpoints, and those naming no table, are refused',
  );
  t.same(deleted, ['items'], 'no delete-stale for the failed table');
  t.equal(w.failedTables.get('other')?.droppedRows, 17);
});

t.test('batch writer: an error without the table-scoped mark still fails the branch', async (t) => {
  const { DestinationWriteError } = await import('../lib/errors.js');
  const client: DestinationClient = {
    async migrateTables() {
      return [];
    },
    async writeBatch() {
      throw new DestinationWriteError('disk full', { table: 'items' });
    },
    async close() {},
  };
  const w = new BatchWriter({ client, destination: 'd', caps: { rows: 10, bytes: 0, timeoutMs: 0 }, migrate: false });
  await t.rejects(
    pipeline(Readable.from([{ kind: 'insert', table: 'items', batch: itemsBatch(rows(10)) }, { kind: 'sync-end' }] as SyncMessage[], { objectMode: true }), w),
    { code: 'CQ_ERR_DEST_WRITE', message: 'disk full' },
  );
});

t.test('checkpoint tracker: a checkpoint one destination refuses is dropped once all answered', async (t) => {
  const { CheckpointTracker } = await import('../lib/checkpoints.js');
  const { MemoryState } = await import('../lib/state/types.js');
  const { createLogger } = await import('../lib/logger.js');
  const state = new MemoryState();
  const tracker = new CheckpointTracker(2, state, createLogger({ level: 'error' }));
  await tracker.ack({ kind: 'checkpoint', id: 'a', table: 'x', state: { x: '1' } }, false);
  await tracker.ack({ kind: 'checkpoint', id: 'a', table: 'x', state: { x: '1' } }, true);
  await tracker.ack({ kind: 'checkpoint', id: 'b', table: 'y', state: { y: '2' } }, true);
  await tracker.ack({ kind: 'checkpoint', id: 'b', table: 'y', state: { y: '2' } }, true);
  t.same([...state.entries()], [['y', '2']]);
  t.equal(tracker.refused, 1);
  t.equal(tracker.persisted, 1);
});
