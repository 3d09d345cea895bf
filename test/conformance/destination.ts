/**
 * The destination conformance suite: docs/semantics.md's write-mode, PK-mode and reserved-column semantics
 * as reusable cases, run through the whole engine (runSync). Every destination connector calls
 * `runDestinationSuite(t, adapter)`; cases a connector cannot support are replaced by a check that asking for them is a config error.
 */
import type { Test } from 'tap';
import { runSync } from '../../lib/pipeline.js';
import type { WriteMode, PkMode, SyncMessage } from '../../lib/messages.js';
import { SourceDataError } from '../../lib/errors.js';
import { ITEMS, config, destSpec, itemsBatch, inserts, sourceSpec, staticSource } from '../helpers/index.js';
import { exitCodeOf, exitCodeOfSync } from '../../bin/exit-codes.js';

export interface DestinationAdapter {
  /** connector `path` in config */
  path: string;
  /** a fresh connector spec for one case (e.g. a new temp dir) */
  spec(t: Test): Promise<Record<string, unknown>>;
  /** every row of `table`, as plain JS values */
  read(spec: Record<string, unknown>, destination: string, table: string): Promise<Record<string, unknown>[]>;
  /** deleteRecord: applies a source's delete-record (else it must fail the table with CQ_ERR_UNSUPPORTED) */
  supports: { upsert: boolean; deleteStale: boolean; deleteRecord: boolean };
  /** write mode to use where a case only needs "some" mode */
  defaultWriteMode: WriteMode;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
let counter = 0;

export const num = (v: unknown): number => Number(v);
export const millis = (v: unknown): number =>
  v instanceof Date ? v.getTime() : typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : Date.parse(String(v));

function byId(rows: Record<string, unknown>[]) {
  return [...rows].sort((a, b) => num(a.id) - num(b.id));
}

export function runDestinationSuite(t: Test, adapter: DestinationAdapter): void {
  const setup = async (tt: Test, writeMode: WriteMode, pkMode: PkMode = 'default') => {
    const spec = await adapter.spec(tt);
    const name = `dst_${++counter}`;
    const sync = async (messages: SyncMessage[], over: { sourceName?: string; deterministic?: boolean } = {}) => {
      const { spec: src } = staticSource([ITEMS], messages, {
        destinations: [name],
        name: over.sourceName ?? 'src',
        deterministic_cq_id: over.deterministic ?? false,
      });
      const res = await runSync({ config: config([src], [destSpec({ name, path: adapter.path, write_mode: writeMode, pk_mode: pkMode, spec })]) });
      // distinct _cq_sync_time per sync, even on a fast machine
      await new Promise((r) => setTimeout(r, 3));
      return res;
    };
    const read = async () => byId(await adapter.read(spec, name, 'items'));
    return { sync, read };
  };

  // cases of semantics a destination does not have are not registered; instead the suite asserts
  // that asking for them is a config error before anything runs (docs/semantics.md: file and S3 are append-only)
  const upsertCase = adapter.supports.upsert ? t.test.bind(t) : ((() => undefined) as unknown as typeof t.test);
  const deleteStaleCase = adapter.supports.deleteStale ? t.test.bind(t) : ((() => undefined) as unknown as typeof t.test);
  if (!adapter.supports.upsert) {
    t.test(`${adapter.path}: overwrite write modes are a config error at load`, async (t) => {
      const { loadConfig } = await import('../../index.js');
      const { writeFile, mkdtemp, rm } = await import('node:fs/promises');
      const os = await import('node:os');
      const path = await import('node:path');
      const dir = await mkdtemp(path.join(os.tmpdir(), 'cq-conf-'));
      t.teardown(() => rm(dir, { recursive: true, force: true }));
      for (const mode of ['overwrite', 'overwrite-delete-stale']) {
        const file = path.join(dir, `${mode}.yml`);
        await writeFile(
          file,
          `kind: source\nspec: { name: s, path: test, destinations: [d] }\n---\nkind: destination\nspec:\n  name: d\n  path: ${adapter.path}\n  ` +
            `write_mode: ${mode}\n  spec: ${JSON.stringify(await adapter.spec(t))}\n`,
        );
        const err = await loadConfig([file], { requireDestinations: true, env: {} }).then(
          () => undefined,
          (e: unknown) => e as { context: { keyPath: string } },
        );
        t.equal(exitCodeOf(err), 2, `${mode} exits 2`);
        t.equal(err?.context.keyPath, 'spec.write_mode', `${mode} names spec.write_mode`);
      }
    });
  }

  t.test(`${adapter.path}: reserved columns`, async (t) => {
    const before = Date.now();
    const { sync, read } = await setup(t, adapter.defaultWriteMode);
    const res = await sync(
      inserts(
        'items',
        itemsBatch([
          { id: 1, name: 'a', value: 1 },
          { id: 2, name: 'b', value: 2 },
          { id: 3, name: 'c', value: 3 },
        ]),
      ),
    );
    t.equal(exitCodeOfSync(res), 0);
    const rows = await read();
    t.equal(rows.length, 3);
    const times = new Set(rows.map((r) => millis(r._cq_sync_time)));
    t.equal(times.size, 1, 'one _cq_sync_time per run');
    const [time] = [...times];
    t.ok(time! >= before - 1000 && time! <= Date.now(), 'sync time is the sync start');
    t.same(
      rows.map((r) => r._cq_source_name),
      ['src', 'src', 'src'],
    );
    t.equal(new Set(rows.map((r) => String(r._cq_id))).size, 3, '_cq_id unique');
    t.ok(
      rows.every((r) => UUID.test(String(r._cq_id))),
      '_cq_id is a uuid',
    );
    t.ok(
      rows.every((r) => r._cq_parent_id === null || r._cq_parent_id === undefined),
      '_cq_parent_id null',
    );
    t.same(
      rows.map((r) => [num(r.id), r.name, num(r.value)]),
      [
        [1, 'a', 1],
        [2, 'b', 2],
        [3, 'c', 3],
      ],
    );
  });

  t.test(`${adapter.path}: append accumulates duplicates`, async (t) => {
    const { sync, read } = await setup(t, 'append');
    const batch = itemsBatch([
      { id: 1, name: 'a', value: 1 },
      { id: 2, name: 'b', value: 2 },
    ]);
    t.equal(exitCodeOfSync(await sync(inserts('items', batch))), 0);
    t.equal(exitCodeOfSync(await sync(inserts('items', batch))), 0);
    const rows = await read();
    t.equal(rows.length, 4);
    t.same(
      rows.map((r) => num(r.id)),
      [1, 1, 2, 2],
    );
  });

  t.test(`${adapter.path}: many batches`, async (t) => {
    const { sync, read } = await setup(t, adapter.defaultWriteMode);
    const batches = Array.from({ length: 5 }, (_, b) => itemsBatch(Array.from({ length: 5000 }, (_, i) => ({ id: b * 5000 + i, name: `n${i}`, value: i }))));
    const res = await sync(inserts('items', ...batches));
    t.equal(res.resources, 25000);
    const rows = await read();
    t.equal(rows.length, 25000);
    t.equal(new Set(rows.map((r) => num(r.id))).size, 25000, 'no row lost or duplicated');
  });

  upsertCase(`${adapter.path}: overwrite upserts by primary key, nulls included`, async (t) => {
    const { sync, read } = await setup(t, 'overwrite');
    await sync(
      inserts(
        'items',
        itemsBatch([
          { id: 1, name: 'a', value: 1 },
          { id: 2, name: 'b', value: 2 },
        ]),
      ),
    );
    await sync(
      inserts(
        'items',
        itemsBatch([
          { id: 2, name: 'B', value: null },
          { id: 3, name: 'c', value: 3 },
        ]),
      ),
    );
    const rows = await read();
    t.same(
      rows.map((r) => [num(r.id), r.name, r.value === null ? null : num(r.value)]),
      [
        [1, 'a', 1],
        [2, 'B', null],
        [3, 'c', 3],
      ],
    );
  });

  upsertCase(`${adapter.path}: duplicate keys in one batch, last row wins`, async (t) => {
    const { sync, read } = await setup(t, 'overwrite');
    await sync(
      inserts(
        'items',
        itemsBatch([
          { id: 1, name: 'first', value: 1 },
          { id: 1, name: 'last', value: 2 },
        ]),
      ),
    );
    const rows = await read();
    t.equal(rows.length, 1);
    t.equal(rows[0]!.name, 'last');
  });

  upsertCase(`${adapter.path}: cq-id-only with deterministic _cq_id upserts on _cq_id`, async (t) => {
    const { sync, read } = await setup(t, 'overwrite', 'cq-id-only');
    const batch = itemsBatch([
      { id: 1, name: 'a', value: 1 },
      { id: 2, name: 'b', value: 2 },
    ]);
    await sync(inserts('items', batch), { deterministic: true });
    const first = await read();
    await sync(inserts('items', batch), { deterministic: true });
    const rows = await read();
    t.equal(rows.length, 2, 'same keys, same _cq_id, no duplicates');
    t.same(
      rows.map((r) => r._cq_id),
      first.map((r) => r._cq_id),
      '_cq_id is stable across syncs',
    );
  });

  deleteStaleCase(`${adapter.path}: delete-stale removes only this source's older rows`, async (t) => {
    const { sync, read } = await setup(t, 'overwrite-delete-stale');
    await sync(
      inserts(
        'items',
        itemsBatch([
          { id: 1, name: 'a', value: 1 },
          { id: 2, name: 'b', value: 2 },
          { id: 3, name: 'c', value: 3 },
        ]),
      ),
    );
    await sync(inserts('items', itemsBatch([{ id: 10, name: 'other', value: 10 }])), { sourceName: 'other' });
    await sync(
      inserts(
        'items',
        itemsBatch([
          { id: 1, name: 'a2', value: 1 },
          { id: 2, name: 'b2', value: 2 },
        ]),
      ),
    );
    const rows = await read();
    t.same(
      rows.map((r) => [num(r.id), r.name, r._cq_source_name]),
      [
        [1, 'a2', 'src'],
        [2, 'b2', 'src'],
        [10, 'other', 'other'],
      ],
    );
  });

  deleteStaleCase(`${adapter.path}: no delete-stale after a failed sync`, async (t) => {
    const { sync, read } = await setup(t, 'overwrite-delete-stale');
    await sync(
      inserts(
        'items',
        itemsBatch([
          { id: 1, name: 'a', value: 1 },
          { id: 2, name: 'b', value: 2 },
          { id: 3, name: 'c', value: 3 },
        ]),
      ),
    );
    const res = await sync([
      ...inserts('items', itemsBatch([{ id: 1, name: 'a2', value: 1 }])),
      { kind: 'table-error', table: 'items', error: new SourceDataError('bad record', { table: 'items', file: 'x.ndjson', line: 2 }) },
    ]);
    t.equal(exitCodeOfSync(res), 1);
    const rows = await read();
    t.same(
      rows.map((r) => [num(r.id), r.name]),
      [
        [1, 'a2'],
        [2, 'b'],
        [3, 'c'],
      ],
      'rows of the earlier sync are kept',
    );
  });

  const deletes = adapter.supports.deleteRecord ? 'deletes the matching rows written before it' : 'fails its table (CQ_ERR_UNSUPPORTED)';
  t.test(`${adapter.path}: a delete-record ${deletes}`, async (t) => {
    const { sync, read } = await setup(t, adapter.defaultWriteMode);
    const id = (n: number) => ({ operator: 'eq' as const, column: 'id', value: itemsBatch([{ id: n, name: null, value: null }]).selectAt([0]) });
    const res = await sync([
      ...inserts('items', itemsBatch([1, 2, 3].map((n) => ({ id: n, name: `r${n}`, value: n })))),
      { kind: 'delete-record', table: 'items', where: [{ grouping: 'or', predicates: [id(2), id(3)] }], relations: [] },
      ...inserts('items', itemsBatch([{ id: 3, name: 'again', value: 3 }])),
    ]);
    const rows = (await read()).map((r) => [num(r.id), r.name]);
    if (adapter.supports.deleteRecord) {
      t.equal(exitCodeOfSync(res), 0, res.fatal?.message ?? 'ok');
      t.same(rows, [
        [1, 'r1'],
        [3, 'again'],
      ]);
      return;
    }
    t.equal(exitCodeOfSync(res), 1);
    t.same(
      res.errors.map((e) => `${e.code} ${e.scope} ${e.context.table}`),
      ['CQ_ERR_UNSUPPORTED table items'],
    );
    t.same(
      rows,
      [
        [1, 'r1'],
        [2, 'r2'],
        [3, 'r3'],
      ],
      'the rows before it stay; the table takes no more rows',
    );
  });
}

/** Re-exported so adapters can build source specs the same way. */
export { sourceSpec };
