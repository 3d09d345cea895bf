/**
 * The shared object writer (connectors/object-writer/writer.ts) and its sink contract: one set of
 * behaviour tests run against both sinks — local files (connectors/file/sink.ts) and S3 objects
 * on a real S3 HTTP API (connectors/s3/sink.ts, s3rver on loopback) — reading back what is stored.
 */
import t, { type Test } from 'tap';
import { mkdir, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as A from 'apache-arrow';
import * as pw from 'parquet-wasm';
import { parse as parseCsv } from 'csv-parse/sync';
import { itemsBatch, ITEMS, tmpDir } from './helpers/index.js';
import { createBucket, failNext, getObject, listObjects, s3Spec } from './helpers/s3.js';
import { FileObjects } from '../connectors/file/sink.js';
import type { FileFormat } from '../connectors/file/writers/index.js';
import { rowObjects } from '../connectors/memory.js';
import { objectWriterSettings, type ObjectWriterSpec } from '../connectors/object-writer/settings.js';
import type { ObjectSink, ObjectStream } from '../connectors/object-writer/sink.js';
import { MAX_PENDING, ObjectWriter } from '../connectors/object-writer/writer.js';
import { S3Objects } from '../connectors/s3/sink.js';
import type { S3ConnectionSpec } from '../connectors/s3/client.js';
import { createLogger } from '../lib/logger.js';
import { withTableName } from '../lib/schema.js';
import type { ConnectorContext } from '../lib/connector.js';
import type { CqPipeError } from '../lib/errors.js';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}';
const SYNC_TIME = new Date(Date.UTC(2024, 2, 5, 7, 9, 30));
const TEMP = /\.tmp-[0-9a-f]+$/;

/** One place objects go, and a look at what it holds. */
interface Store {
  ctx: ConnectorContext;
  /** log lines written so far */
  logs: string[];
  /** a fresh sink of this store for `format` */
  sink(format: FileFormat): ObjectSink;
  /** every stored name (relative path, key), sorted; temp files included */
  list(): Promise<string[]>;
  read(name: string): Promise<Buffer>;
  /** how messages name the object stored as `name` */
  location(name: string): string;
  /** the next attempt to finish the object stored as `name` fails for real */
  breakFinish(name: string): Promise<void>;
}

interface Target {
  name: string;
  /** whether a table the format cannot store fails alone */
  schemaErrorsFailTable: boolean;
  /** the verb of a failed finish */
  finishing: string;
  /** logged (debug) when an object is finished */
  written: string;
  /** logged at a checkpoint while no_rotate objects are open */
  warning: string;
  store(t: Test): Promise<Store>;
}

function context(baseDir: string, logs: string[]): ConnectorContext {
  return { name: 'ow', logger: createLogger({ level: 'debug', write: (l) => logs.push(l) }), baseDir, invocationId: 'run-1', syncTime: SYNC_TIME };
}

/** every file under dir (relative paths, sorted) */
async function listFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const e of await readdir(dir, { recursive: true })) if ((await stat(path.join(dir, e))).isFile()) files.push(e);
  return files.sort();
}

const TARGETS: Target[] = [
  {
    name: 'file',
    schemaErrorsFailTable: true,
    finishing: 'finishing',
    written: 'file written',
    warning: 'no_rotate: files are published when the sync ends; a checkpoint before then is not backed by a finished file',
    async store(t) {
      const dir = await tmpDir(t, 'cq-ow-');
      const logs: string[] = [];
      const ctx = context(dir, logs);
      return {
        ctx,
        logs,
        sink: () => new FileObjects(ctx),
        list: () => listFiles(dir),
        read: (name) => readFile(path.join(dir, name)),
        location: (name) => path.join(dir, name),
        // a directory where the file should be renamed to
        breakFinish: (name) => mkdir(path.join(dir, name, 'blocker'), { recursive: true }).then(() => undefined),
      };
    },
  },
  {
    name: 's3',
    schemaErrorsFailTable: false,
    finishing: 'completing',
    written: 'object written',
    warning: 'no_rotate: objects are completed when the sync ends; a checkpoint before then is not backed by a finished object',
    async store() {
      const bucket = await createBucket('ow');
      const spec = (await s3Spec(bucket)) as unknown as S3ConnectionSpec;
      const logs: string[] = [];
      const ctx = context('/nonexistent', logs);
      return {
        ctx,
        logs,
        sink: (format) => new S3Objects(spec, format, ctx),
        list: async () => (await listObjects(bucket)).map((o) => o.key),
        read: (name) => getObject(bucket, name),
        location: (name) => `s3://${bucket}/${name}`,
        // a small object is one PutObject when it ends: refuse it (403 is not retried)
        breakFinish: async (name) => failNext((method, url) => method === 'PUT' && url.startsWith(`/${bucket}/${name}`), 403, 'AccessDenied'),
      };
    },
  },
];

function writer(store: Store, spec: ObjectWriterSpec, sink?: ObjectSink): ObjectWriter {
  const settings = objectWriterSettings(spec, store.ctx.name, '{{TABLE}}/{{UUID}}.{{FORMAT}}');
  return new ObjectWriter(settings, sink ?? store.sink(settings.format), store.ctx);
}

/** the rows of a stored object, parsed by its extension */
async function rowsOf(store: Store, name: string): Promise<Record<string, unknown>[]> {
  const raw = await store.read(name);
  const bytes = name.endsWith('.gz') ? gunzipSync(raw) : raw;
  if (/\.parquet$/.test(name)) return A.tableFromIPC(pw.readParquet(bytes).intoIPCStream()).batches.flatMap((b) => rowObjects(b));
  if (/\.(nd)?json(\.gz)?$/.test(name))
    return bytes
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  if (/\.csv(\.gz)?$/.test(name)) return parseCsv(bytes.toString('utf8'), { columns: true }) as Record<string, unknown>[];
  return A.tableFromIPC(bytes).batches.flatMap((b) => rowObjects(b));
}

const ids = (rows: Record<string, unknown>[]) => rows.map((r) => Number(r.id));
const items = (from: number, n: number, schema: A.Schema = ITEMS) =>
  itemsBatch(
    Array.from({ length: n }, (_, i) => ({ id: from + i, name: `n${from + i}`, value: i })),
    schema,
  );
const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: CqPipeError) => e,
  );

/** a sink whose objects wait for `release()` before they finish; counts finishes running at once */
function gated(inner: ObjectSink) {
  let open!: () => void;
  let gate = new Promise<void>((resolve) => (open = resolve));
  const state = { running: 0, most: 0, fail: false };
  const sink: ObjectSink = {
    words: inner.words,
    schemaErrorsFailTable: inner.schemaErrorsFailTable,
    name: (r) => inner.name(r),
    location: (n) => inner.location(n),
    reason: (e) => inner.reason(e),
    ...(inner.prepare ? { prepare: () => inner.prepare!() } : {}),
    close: () => inner.close?.(),
    async open(name, o) {
      const s = await inner.open(name, o);
      const stream: ObjectStream = {
        path: s.path,
        write: (c) => s.write(c),
        discard: () => s.discard(),
        async end() {
          state.most = Math.max(state.most, ++state.running);
          try {
            await gate;
            if (state.fail) throw new Error('the store refused it');
            await s.end();
          } finally {
            state.running--;
          }
        },
      };
      return stream;
    },
  };
  const release = () => {
    open();
    gate = new Promise<void>((resolve) => (open = resolve));
  };
  return { sink, state, release };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 50));

for (const target of TARGETS) {
  t.test(target.name, async (t) => {
    t.test('sink contract: nothing under the name until end(), then exactly the bytes; discard leaves nothing', async (t) => {
      const store = await target.store(t);
      const sink = store.sink('ndjson');
      const s = await sink.open(sink.name('c/done.ndjson'), { table: 'c', gzip: false, rows: () => 2 });
      await s.write('{"id":1}\n');
      await s.write(Buffer.from('{"id":2}\n'));
      t.notOk((await store.list()).includes('c/done.ndjson'), 'not visible while written');
      await s.end();
      t.same(await store.list(), ['c/done.ndjson'], 'finished: durable under its name, no temp left');
      t.equal((await store.read('c/done.ndjson')).toString(), '{"id":1}\n{"id":2}\n');
      t.match(store.logs.join('\n'), target.written, 'logged at debug');

      const d = await sink.open(sink.name('c/gone.ndjson'), { table: 'c', gzip: true, rows: () => 1 });
      await d.write('{"id":3}\n');
      await d.discard();
      await d.discard();
      t.same(await store.list(), ['c/done.ndjson'], 'discarded: nothing left (discard twice is fine)');
      sink.close?.();
    });

    t.test('rotation: one object per non-empty batch, each finished by commit', async (t) => {
      const store = await target.store(t);
      const w = writer(store, { path: 'out/{{TABLE}}/{{UUID}}.{{FORMAT}}', format: 'ndjson' });
      for (let k = 0; k < 3; k++) await w.writeBatch(ITEMS, [items(k, 1)]);
      await w.writeBatch(ITEMS, [itemsBatch([])]);
      await w.commit();
      const names = await store.list();
      t.equal(names.length, 3, 'commit() waits for every accepted object; an empty batch writes none');
      t.ok(
        names.every((n) => new RegExp(`^out/items/${UUID}\\.ndjson$`).test(n)),
        'named by the template, a new UUID each',
      );
      t.same((await Promise.all(names.map((n) => rowsOf(store, n)))).flatMap(ids).sort(), [0, 1, 2]);
      await w.close();
      t.same(await store.list(), names, 'close adds nothing');
    });

    t.test('finish is durable: after commit every object is complete and readable, per format', async (t) => {
      const store = await target.store(t);
      for (const format of ['parquet', 'ndjson', 'csv', 'arrow'] as const) {
        const w = writer(store, { path: `${format}/{{UUID}}.{{FORMAT}}`, format });
        await w.writeBatch(ITEMS, [items(0, 500), items(500, 500)]);
        await w.writeBatch(ITEMS, [items(1000, 10)]);
        await w.commit();
        const names = (await store.list()).filter((n) => n.startsWith(`${format}/`));
        t.equal(names.length, 2, `${format}: two objects`);
        const all = (await Promise.all(names.map((n) => rowsOf(store, n)))).flatMap(ids).sort((a, b) => a - b);
        t.same(
          all,
          Array.from({ length: 1010 }, (_, i) => i),
          `${format}: every row`,
        );
        await w.close();
      }
    });

    t.test('no_rotate: one object per table, nothing under its name before close, rows in write order', async (t) => {
      const store = await target.store(t);
      const sink = store.sink('csv');
      const w = writer(store, { path: 'out/{{TABLE}}.{{FORMAT}}', format: 'csv', no_rotate: true }, sink);
      const other = withTableName(ITEMS, 'other');
      for (let k = 0; k < 4; k++) {
        await w.writeBatch(ITEMS, [items(k * 25, 25)]);
        await w.writeBatch(other, [items(k, 1, other)]);
      }
      await w.commit();
      t.same(
        (await store.list()).filter((n) => !TEMP.test(n)),
        [],
        'nothing finished before close',
      );
      t.match(store.logs.join('\n'), target.warning, 'a checkpoint warns that no_rotate objects are not finished yet');
      await w.close();
      t.same(await store.list(), ['out/items.csv', 'out/other.csv']);
      t.same(
        ids(await rowsOf(store, 'out/items.csv')),
        Array.from({ length: 100 }, (_, i) => i),
      );
      t.same(ids(await rowsOf(store, 'out/other.csv')), [0, 1, 2, 3]);
    });

    t.test('no_rotate: two tables rendering to one object is a config error naming both', async (t) => {
      const store = await target.store(t);
      // names are made safe for paths, so "a/b" and "a_b" render alike
      const w = writer(store, { path: '{{TABLE}}.ndjson', format: 'ndjson', no_rotate: true });
      await w.writeBatch(withTableName(ITEMS, 'a/b'), [items(0, 1)]);
      const err = await errorOf(w.writeBatch(withTableName(ITEMS, 'a_b'), [items(1, 1)]));
      t.equal(err?.code, 'CQ_ERR_CONFIG_INVALID');
      t.equal(err?.message, `tables a/b and a_b would both be written to ${store.location('a_b.ndjson')}`);
      t.equal(err?.context.keyPath, 'spec.path');
      await w.close(err);
      t.same(await store.list(), [], 'the sync fails: nothing left');
    });

    t.test('a path without {{TABLE}} is a directory of <table>.<format> (CloudQuery), and format json is JSON lines', async (t) => {
      const store = await target.store(t);
      const w = writer(store, { path: 'all', format: 'json', no_rotate: true });
      await w.writeBatch(ITEMS, [items(0, 2)]);
      await w.writeBatch(withTableName(ITEMS, 'other'), [items(2, 1)]);
      await w.close();
      t.same((await store.list()).sort(), ['all/items.json', 'all/other.json']);
      t.same(ids(await rowsOf(store, 'all/items.json')), [0, 1]);
    });

    t.test('path templates: date parts, sync id, table, extension with gzip', async (t) => {
      const store = await target.store(t);
      const template = 'lake/{{SYNC_ID}}/{{YEAR}}/{{MONTH}}/{{DAY}}/{{HOUR}}{{MINUTE}}/{{TABLE}}-{{UUID}}.{{FORMAT}}';
      const w = writer(store, { path: template, format: 'csv', compression: 'gzip' });
      await w.writeBatch(withTableName(ITEMS, 'a/b'), [items(7, 1)]);
      await w.close();
      const names = await store.list();
      t.equal(names.length, 1);
      t.match(names[0], new RegExp(`^lake/run-1/2024/03/05/0709/a_b-${UUID}\\.csv\\.gz$`));
      t.same(ids(await rowsOf(store, names[0]!)), [7]);
    });

    t.test('discard on failure leaves nothing', async (t) => {
      t.test('close(err) discards open no_rotate objects', async (t) => {
        const store = await target.store(t);
        for (const format of ['parquet', 'ndjson'] as const) {
          const w = writer(store, { path: `${format}/{{TABLE}}.{{FORMAT}}`, format, no_rotate: true });
          await w.writeBatch(ITEMS, [items(0, 10)]);
          await w.writeBatch(withTableName(ITEMS, 'other'), [items(0, 10)]);
          await w.close(new Error('boom'));
          t.same(await store.list(), [], `${format}: nothing left`);
        }
      });

      t.test('a batch whose columns change inside one object fails its table and leaves nothing', async (t) => {
        const store = await target.store(t);
        const wide = withTableName(new A.Schema([new A.Field('id', new A.Utf8()), ...ITEMS.fields.slice(1)], ITEMS.metadata), 'items');
        const sb = A.makeBuilder({ type: new A.Utf8() });
        sb.append('x');
        const good = items(0, 1);
        const children = [sb.finish().flush(), good.data.children[1]!, good.data.children[2]!];
        const changed = new A.RecordBatch(wide, A.makeData({ type: new A.Struct(wide.fields), length: 1, nullCount: 0, children }));
        for (const noRotate of [false, true]) {
          const sink = store.sink('arrow');
          const template = noRotate ? 'nr/{{TABLE}}.{{FORMAT}}' : 'r/{{TABLE}}/{{UUID}}.{{FORMAT}}';
          const w = writer(store, { path: template, format: 'arrow', no_rotate: noRotate }, sink);
          if (noRotate) await w.writeBatch(ITEMS, [good]);
          const err = await errorOf(w.writeBatch(ITEMS, noRotate ? [changed] : [good, changed]));
          t.equal(err?.code, 'CQ_ERR_SCHEMA_INCOMPATIBLE');
          t.equal(err?.context.table, 'items');
          t.match(err?.context.file, noRotate ? store.location('nr/items.arrow') : new RegExp(`/r/items/${UUID}\\.arrow$`));
          // the file destination fails only the table; the s3 destination (so far) fails the sync
          t.equal(err?.scope === 'table', target.schemaErrorsFailTable);
          await w.close();
          t.same(await store.list(), [], `${noRotate ? 'no_rotate' : 'rotating'}: nothing left`);
        }
      });

      t.test('a finish that fails discards the object and names it', async (t) => {
        const store = await target.store(t);
        await store.breakFinish('items.ndjson');
        const sink = store.sink('ndjson');
        const w = writer(store, { path: '{{TABLE}}.{{FORMAT}}', format: 'ndjson', no_rotate: true }, sink);
        await w.writeBatch(ITEMS, [items(0, 3)]);
        const err = await errorOf(w.close());
        t.equal(err?.code, 'CQ_ERR_DEST_WRITE');
        t.equal(err?.context.table, 'items');
        t.equal(err?.context.file, store.location('items.ndjson'));
        t.match(err?.message, new RegExp(`^${target.finishing} ${store.location('items.ndjson').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} failed: `));
        t.same(await store.list(), [], 'no object, no temp file');
      });

      t.test('a rotating object whose finish fails: the next batch and commit fail with it, nothing left', async (t) => {
        const store = await target.store(t);
        const g = gated(store.sink('csv'));
        g.state.fail = true;
        const w = writer(store, { format: 'csv' }, g.sink);
        await w.writeBatch(ITEMS, [items(0, 1)]);
        g.release();
        const err = await errorOf(w.commit());
        t.equal(err?.code, 'CQ_ERR_DEST_WRITE');
        t.equal(err?.context.table, 'items');
        t.match(err?.message, new RegExp(`^${target.finishing} .*items/${UUID}\\.csv failed: .*the store refused it$`));
        t.equal(await errorOf(w.writeBatch(ITEMS, [items(1, 1)])), err, 'the next batch fails with it too');
        await w.close(err);
        t.same(await store.list(), []);
      });
    });

    t.test(`backpressure: at most ${MAX_PENDING} objects finish at once; a write waits for room`, async (t) => {
      const store = await target.store(t);
      const g = gated(store.sink('ndjson'));
      const w = writer(store, { format: 'ndjson' }, g.sink);
      await w.writeBatch(ITEMS, [items(0, 1)]);
      await w.writeBatch(ITEMS, [items(1, 1)]);
      await tick();
      t.equal(g.state.running, MAX_PENDING, 'two objects finishing in the background');
      let third = false;
      const p = w.writeBatch(ITEMS, [items(2, 1)]).then(() => (third = true));
      await tick();
      t.notOk(third, 'the third batch waits while two are finishing');
      let committed = false;
      const c = p.then(() => w.commit()).then(() => (committed = true));
      g.release();
      await p;
      t.ok(third, 'room again once they finished');
      await tick();
      t.notOk(committed, 'commit waits for the third');
      g.release();
      await c;
      t.equal(g.state.most, MAX_PENDING, `never more than ${MAX_PENDING} at once`);
      t.equal((await store.list()).length, 3);
      await w.close();
      const late = await errorOf(w.writeBatch(ITEMS, [items(3, 1)]));
      t.equal(late?.code, 'CQ_ERR_DEST_WRITE');
      t.equal(late?.message, 'write after close');
    });
  });
}
