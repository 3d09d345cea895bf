/**
 * How many batches a sync holds between its source and a stalled destination (lib/pipeline.ts,
 * lib/batcher.ts QUEUED_BATCHES, docs/benchmarks.md "Where the time and memory go"): the streams
 * between the stages buffer none and no stage asks for a batch before the next one has taken its
 * last, so a destination that stops taking batches stops the source at the one it is writing,
 * whatever their size (with high-water marks of 1 it was 3).
 */
import type * as A from 'apache-arrow';
import t from 'tap';
import { builtinRegistry } from '../bin/registry.js';
import { withRegistry } from '../lib/config/index.js';
import type { Registry } from '../lib/registry.js';
import { defineDestination, defineSource, type DestinationConnector, type SourceConnector } from '../lib/connector.js';
import { runSync } from '../lib/pipeline.js';
import { batchByteSize } from '../lib/schema.js';
import { ITEMS, destSpec, itemsBatch, sourceSpec } from './helpers/index.js';

const BATCHES = 30;

function stalledSync(rowsPerBatch: number) {
  const state = { produced: 0, writes: 0, rows: 0, firstBytes: 0 };
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let firstWrite!: () => void;
  const writing = new Promise<void>((r) => (firstWrite = r));
  const source: SourceConnector = defineSource({
    name: 'counting',
    configSchema: { type: 'object' },
    create: () => ({
      tables: async () => [ITEMS],
      async *read() {
        for (let i = 0; i < BATCHES; i++) {
          state.produced++;
          yield {
            kind: 'insert',
            table: 'items',
            batch: itemsBatch(Array.from({ length: rowsPerBatch }, (_, r) => ({ id: i * rowsPerBatch + r, name: 'x', value: r }))),
          };
        }
      },
    }),
  });
  const destination: DestinationConnector = defineDestination({
    name: 'stalled',
    configSchema: { type: 'object' },
    capabilities: { writeModes: ['append'], batch: { rows: rowsPerBatch, bytes: 0, timeoutMs: 0 } },
    create: () => ({
      migrateTables: async () => [],
      async writeBatch(_s: A.Schema, batches: A.RecordBatch[]) {
        state.writes++;
        if (state.writes === 1) state.firstBytes = batches.reduce((n, b) => n + batchByteSize(b), 0);
        firstWrite();
        await released;
        state.rows += batches.reduce((n, b) => n + b.numRows, 0);
      },
      close: async () => {},
    }),
  });
  const registry: Registry = {
    names: builtinRegistry.names,
    source: (p, dir, ref) => (p === 'counting' ? Promise.resolve(source) : builtinRegistry.source(p, dir, ref)),
    destination: (p, dir, ref) => (p === 'stalled' ? Promise.resolve(destination) : builtinRegistry.destination(p, dir, ref)),
    transformer: (p, dir) => builtinRegistry.transformer(p, dir),
    stateBackend: (c) => builtinRegistry.stateBackend(c),
  };
  const config = withRegistry(
    {
      sources: [sourceSpec({ path: 'counting', spec: {} })],
      destinations: [destSpec({ path: 'stalled', write_mode: 'append' })],
      transformers: [],
      secrets: [],
    },
    registry,
  );
  return { state, release, writing, run: () => runSync({ config }) };
}

/** let every stage run until nothing moves (no I/O is involved: only promise and stream callbacks) */
async function settle(): Promise<void> {
  for (let i = 0; i < 200; i++) await new Promise((r) => setImmediate(r));
}

t.test('a stalled destination: the source has produced only the batch being written, whatever its size', async (t) => {
  for (const rows of [100, 5000, 10_000]) {
    const s = stalledSync(rows);
    const done = s.run();
    await s.writing;
    await settle();
    t.equal(s.state.writes, 1, `${rows} rows a batch: one write, stalled`);
    // a batch as the destination gets it (the engine's columns added)
    t.ok(s.state.firstBytes > rows * 60, `${rows} rows a batch: ${s.state.firstBytes} bytes`);
    t.equal(s.state.produced, 1, `${rows} rows a batch: only the batch being written was produced (of ${BATCHES})`);
    s.release();
    const r = await done;
    t.equal(r.status, 'succeeded');
    t.equal(s.state.writes, BATCHES);
    t.equal(s.state.rows, BATCHES * rows);
  }
});
