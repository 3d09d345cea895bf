/**
 * A CloudQuery plugin as a cq-pipe destination (connectors/cloudquery-plugin/destination.ts,
 * docs/plugins.md), tested through `cq-pipe sync` against a destination plugin built with the
 * official JavaScript SDK that records every Write message it receives
 * (test/fixtures/plugins/sdk-recorder-destination.ts), served over TCP (`registry: grpc`) and
 * spawned on a unix socket (`registry: local`): the schemas the CloudQuery CLI would send for each
 * write, PK and migrate mode, the rows, delete-stale, failures, and a plugin source into it.
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import type { RecordedEvent, RecordedField } from './fixtures/plugins/sdk-recorder-destination.js';
import { itemRow } from './fixtures/plugins/sdk-source.js';
import { cli } from './helpers/cli.js';
import { ROOT, tmpDir } from './helpers/index.js';
import { servePlugin } from './helpers/sdk-plugin.js';

const RECORDER = path.join(ROOT, 'dist/test/fixtures/plugins/serve-sdk-recorder.js');
const SDK_SOURCE = path.join(ROOT, 'dist/test/fixtures/plugins/serve-sdk-source.js');
const PK = 'cq:extension:primary_key';
const UNIQUE = 'cq:extension:unique';

/** an executable as the CLI expects one (a Go plugin binary in real use): a shell script starting an SDK plugin */
async function executable(dir: string, name: string, entry: string): Promise<string> {
  await writeFile(path.join(dir, name), `#!/bin/sh\nexec "${process.execPath}" "${entry}" "$@"\n`);
  await chmod(path.join(dir, name), 0o755);
  return `./${name}`;
}

async function recorded(file: string): Promise<RecordedEvent[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as RecordedEvent);
}

const of = <K extends RecordedEvent['event']>(events: RecordedEvent[], kind: K) =>
  events.filter((e): e is Extract<RecordedEvent, { event: K }> => e.event === kind);
const keys = (fields: RecordedField[], key: string, value = 'true') => fields.filter((f) => f.metadata[key] === value).map((f) => f.name);
const carrying = (fields: RecordedField[], key: string) => fields.filter((f) => key in f.metadata).map((f) => f.name);

const ITEMS = [
  { id: 1, name: 'one', ref: '00000000-0000-4000-8000-000000000001', payload: { a: 1, b: [true, null] }, at: '2024-01-02T03:04:05.123456Z' },
  { id: 2, name: null, ref: '00000000-0000-4000-8000-000000000002', payload: [1, 2], at: '2024-01-02T03:04:05.000001Z' },
  { id: 3, name: 'thrée', ref: null, payload: null, at: null },
];
/** the µs the file source reads from each `at` above */
const AT_US = ['1704164645123456', '1704164645000001', null];

/** A file source with `items` (PK id; uuid, json, timestamp columns) and `events` (no PK; `bad` makes one line malformed). */
async function fileSource(dir: string, destinations: string[], opts: { bad?: boolean } = {}): Promise<string> {
  await writeFile(path.join(dir, 'items.ndjson'), ITEMS.map((r) => JSON.stringify(r)).join('\n') + '\n');
  await writeFile(path.join(dir, 'events.ndjson'), `{"kind": "a", "n": 1}\n{"kind": "b", "n": ${opts.bad ? '"not a number"' : '2'}}\n`);
  return `kind: source
spec:
  name: shop
  path: file
  tables: ["*"]
  destinations: [${destinations.join(', ')}]
  spec:
    tables:
      - name: items
        files: ./items.ndjson
        format: ndjson
        primary_key: [id]
        columns:
          - { name: id, type: int64, not_null: true }
          - { name: name, type: utf8 }
          - { name: ref, type: uuid }
          - { name: payload, type: json }
          - { name: at, type: timestamp }
      - name: events
        files: ./events.ndjson
        format: ndjson
        columns:
          - { name: kind, type: utf8 }
          - { name: n, type: int64 }
`;
}

interface Dest {
  name: string;
  registry: 'grpc' | 'local';
  path: string;
  writeMode: 'overwrite-delete-stale' | 'overwrite' | 'append';
  pkMode: 'default' | 'cq-id-only';
  migrateMode: 'safe' | 'forced';
  record: string;
  extra?: Record<string, string>;
}

function destination(d: Dest): string {
  const spec = { record: d.record, ...d.extra };
  return `---
kind: destination
spec:
  name: ${d.name}
  registry: ${d.registry}
  path: "${d.path}"
  write_mode: ${d.writeMode}
  pk_mode: ${d.pkMode}
  migrate_mode: ${d.migrateMode}
  spec: ${JSON.stringify(spec)}
`;
}

/** One sync per write mode, four plugin destinations each (PK mode × migrate mode), two over each registry. */
for (const writeMode of ['overwrite-delete-stale', 'overwrite', 'append'] as const) {
  t.test(`write_mode ${writeMode}: every PK and migrate mode receives the CloudQuery CLI's schemas, the rows exactly, and its delete-stale`, async (t) => {
    const dir = await tmpDir(t);
    const local = await executable(dir, 'recorder', RECORDER);
    const combos = [
      { pkMode: 'default', migrateMode: 'safe', registry: 'local' },
      { pkMode: 'default', migrateMode: 'forced', registry: 'grpc' },
      { pkMode: 'cq-id-only', migrateMode: 'safe', registry: 'grpc' },
      { pkMode: 'cq-id-only', migrateMode: 'forced', registry: 'local' },
    ] as const;
    const dests: Dest[] = [];
    for (const [i, c] of combos.entries()) {
      const at = c.registry === 'grpc' ? (await servePlugin(t, RECORDER)).address : local;
      dests.push({ name: `rec${i}`, path: at, writeMode, ...c, record: path.join(dir, `rec${i}.jsonl`) });
    }
    await writeFile(
      path.join(dir, 'c.yml'),
      (await fileSource(
        dir,
        dests.map((d) => d.name),
      )) + dests.map(destination).join(''),
    );
    const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
    t.equal(r.code, 0, r.stderr);

    for (const d of dests) {
      const label = `${d.name} (${d.registry}, ${d.pkMode}, ${d.migrateMode})`;
      const events = await recorded(d.record);
      t.same(of(events, 'init'), [{ event: 'init', spec: JSON.stringify({ record: d.record }) }], `${label}: Init with the nested spec as JSON`);
      const migrations = of(events, 'migrate_table');
      t.same(migrations.map((m) => m.table).sort(), ['events', 'items'], `${label}: one migrate_table per table`);
      t.same(
        migrations.map((m) => m.migrate_force),
        [d.migrateMode === 'forced', d.migrateMode === 'forced'],
        `${label}: migrate_force`,
      );
      for (const m of migrations) {
        const f = m.fields;
        t.same(
          f.slice(0, 2),
          [
            { name: '_cq_sync_time', type: 'timestamp[us, UTC]', nullable: true, metadata: {} },
            { name: '_cq_source_name', type: 'Utf8', nullable: true, metadata: {} },
          ],
          `${label} ${m.table}: _cq_sync_time and _cq_source_name first, as the CLI adds them`,
        );
        t.equal(m.schema_metadata['cq:table_name'], m.table);
        if (writeMode === 'append') {
          t.same([carrying(f, PK), carrying(f, UNIQUE)], [[], []], `${label} ${m.table}: append strips every PK and unique flag`);
        } else if (d.pkMode === 'cq-id-only') {
          t.same(carrying(f, PK), ['_cq_id'], `${label} ${m.table}: cq-id-only: _cq_id is the only field with a PK flag`);
          t.same(keys(f, PK), ['_cq_id']);
          t.same(keys(f, UNIQUE), ['_cq_id'], 'unique flags kept');
        } else {
          t.same(keys(f, PK), m.table === 'items' ? ['id'] : ['_cq_id'], `${label} ${m.table}: the source's key, or _cq_id without one`);
          t.same(keys(f, UNIQUE), ['_cq_id'], 'unique flags kept');
        }
      }
      const inserts = of(events, 'insert');
      t.ok(inserts.length >= 2, `${label}: inserts of both tables`);
      t.ok(
        inserts.every((i) => i.batches === 1 && i.rows.length > 0),
        `${label}: one non-empty batch per insert`,
      );
      for (const i of inserts) {
        t.same(i.fields, migrations.find((m) => m.table === i.table)!.fields, `${label}: insert ${i.table} has the migrated schema`);
      }
      const rows = inserts.filter((i) => i.table === 'items').flatMap((i) => i.rows);
      t.same(
        rows.map((r) => ({ id: r.id, name: r.name, ref: r.ref, payload: r.payload === null ? null : JSON.parse(r.payload as string), at: r.at })),
        ITEMS.map((x, n) => ({ ...x, id: String(x.id), at: AT_US[n] })),
        `${label}: int64, utf8, uuid, json and µs timestamp values exact`,
      );
      const all = inserts.flatMap((i) => i.rows);
      t.same([...new Set(all.map((r) => r._cq_source_name))], ['shop'], `${label}: _cq_source_name`);
      const syncTimes = [...new Set(all.map((r) => r._cq_sync_time))];
      t.equal(syncTimes.length, 1, `${label}: one _cq_sync_time on every row`);
      const deletes = of(events, 'delete');
      if (writeMode === 'overwrite-delete-stale') {
        t.same(
          deletes.map((x) => [x.table_name, x.source_name, x.sync_time_us]).sort(),
          [
            ['events', 'shop', syncTimes[0]],
            ['items', 'shop', syncTimes[0]],
          ],
          `${label}: one delete-stale per table, with the source name and the rows' sync time in µs`,
        );
        t.ok(events.findIndex((e) => e.event === 'delete') > events.findLastIndex((e) => e.event === 'insert'), 'deletes after every insert');
      } else {
        t.same(deletes, [], `${label}: no delete-stale`);
      }
      t.same(
        events.slice(-2).map((e) => e.event),
        ['write_end', 'close'],
        `${label}: the Write stream ended, then Close`,
      );
      t.equal(of(events, 'write_end').length, 1, `${label}: one Write stream`);
    }
  });
}

t.test('a failed source table: the rows of the others arrive, no delete-stale is sent, exit 1', async (t) => {
  const dir = await tmpDir(t);
  const { address } = await servePlugin(t, RECORDER);
  const d: Dest = {
    name: 'rec',
    registry: 'grpc',
    path: address,
    writeMode: 'overwrite-delete-stale',
    pkMode: 'default',
    migrateMode: 'safe',
    record: path.join(dir, 'rec.jsonl'),
  };
  await writeFile(path.join(dir, 'c.yml'), (await fileSource(dir, ['rec'], { bad: true })) + destination(d));
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 1, r.stderr);
  t.match(r.stderr, /table events failed/);
  const events = await recorded(d.record);
  t.equal(
    of(events, 'insert')
      .filter((i) => i.table === 'items')
      .flatMap((i) => i.rows).length,
    3,
    'every items row',
  );
  t.same(of(events, 'delete'), [], 'no delete-stale');
  t.same(
    events.slice(-2).map((e) => e.event),
    ['write_end', 'close'],
  );
});

for (const registry of ['grpc', 'local'] as const) {
  t.test(`registry ${registry}: a plugin that fails a write fails the sync naming it (CQ_ERR_DEST_WRITE), sends no delete-stale, gets Close`, async (t) => {
    const dir = await tmpDir(t);
    const at = registry === 'grpc' ? (await servePlugin(t, RECORDER)).address : await executable(dir, 'recorder', RECORDER);
    const d: Dest = {
      name: 'rec',
      registry,
      path: at,
      writeMode: 'overwrite-delete-stale',
      pkMode: 'default',
      migrateMode: 'safe',
      record: path.join(dir, 'rec.jsonl'),
      extra: { fail_table: 'items' },
    };
    await writeFile(path.join(dir, 'c.yml'), (await fileSource(dir, ['rec'])) + destination(d));
    const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
    t.equal(r.code, 1, r.stderr);
    t.match(r.stderr, /CQ_ERR_DEST_WRITE/);
    t.match(r.stderr, new RegExp(`plugin rec \\(${registry === 'grpc' ? at : '.*recorder'}\\): Write failed .*refuses rows of table items on purpose`));
    const events = await recorded(d.record);
    t.equal(of(events, 'insert').filter((i) => i.table === 'items').length, 1, 'the refused insert');
    t.same(of(events, 'delete'), [], 'no delete-stale');
    t.same(of(events, 'write_end'), [], 'the Write stream ended in error');
    t.equal(events.at(-1)?.event, 'close', 'Close called');
  });
}

async function sockets(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => /^cq-[a-z]{16}\.sock$/.test(f));
}

t.test('registry local: a plugin that dies mid-write fails the sync naming it and its exit code, leaving no process or socket', async (t) => {
  const dir = await tmpDir(t);
  // the sync's own temp dir: other test files make sockets in the shared one at the same time
  const tmp = path.join(dir, 'tmp');
  await mkdir(tmp);
  const d: Dest = {
    name: 'rec',
    registry: 'local',
    path: await executable(dir, 'dying', RECORDER),
    writeMode: 'overwrite-delete-stale',
    pkMode: 'default',
    migrateMode: 'safe',
    record: path.join(dir, 'rec.jsonl'),
    extra: { exit_table: 'items' },
  };
  await writeFile(path.join(dir, 'c.yml'), (await fileSource(dir, ['rec'])) + destination(d));
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir, env: { TMPDIR: tmp } });
  t.equal(r.code, 1, r.stderr);
  t.match(r.stderr, /plugin rec \(.*dying\): .*exited with code 4/);
  t.same(of(await recorded(d.record), 'delete'), [], 'no delete-stale');
  t.same(await sockets(tmp), [], 'the socket is removed');
  const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  t.notOk(
    ps.split('\n').some((l) => l.includes('serve-sdk-recorder.js serve') && l.includes(`--address ${tmp}`)),
    'no plugin process left',
  );
});

t.test('a plugin source into a plugin destination: the SDK source over grpc, the recorder spawned locally', async (t) => {
  const dir = await tmpDir(t);
  const { address } = await servePlugin(t, SDK_SOURCE);
  const d: Dest = {
    name: 'rec',
    registry: 'local',
    path: await executable(dir, 'recorder', RECORDER),
    writeMode: 'overwrite-delete-stale',
    pkMode: 'default',
    migrateMode: 'safe',
    record: path.join(dir, 'rec.jsonl'),
  };
  const src = `kind: source\nspec:\n  name: sdk\n  registry: grpc\n  path: "${address}"\n  destinations: [rec]\n  spec: { rows: 4 }\n`;
  await writeFile(path.join(dir, 'c.yml'), src + destination(d));
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  const events = await recorded(d.record);
  const rowsOf = (table: string) =>
    of(events, 'insert')
      .filter((i) => i.table === table)
      .flatMap((i) => i.rows);
  const items = rowsOf('items').sort((a, b) => Number(a.id) - Number(b.id));
  t.same(
    items.map((r) => ({ id: Number(r.id), name: r.name, ref: r.ref, payload: JSON.parse(r.payload as string), created_at: r.created_at })),
    [1, 2, 3, 4].map((i) => {
      const { id, name, ref, payload, created_at } = itemRow(i);
      return { id, name, ref, payload, created_at: String(created_at.getTime() * 1000) };
    }),
    'the plugin’s values, timestamps in µs',
  );
  const ids = new Set(items.map((r) => r._cq_id));
  const tags = rowsOf('item_tags');
  t.equal(tags.length, 8, 'every relation row');
  t.ok(
    tags.every((x) => ids.has(x._cq_parent_id)),
    'relation rows keep their _cq_parent_id',
  );
  const fields = of(events, 'migrate_table').find((m) => m.table === 'items')!.fields;
  t.same(
    fields.slice(0, 4).map((f) => f.name),
    ['_cq_sync_time', '_cq_source_name', '_cq_id', '_cq_parent_id'],
    'the CLI’s column order: sync time and source name before the source’s columns',
  );
  t.same(
    of(events, 'delete')
      .map((x) => x.table_name)
      .sort(),
    ['events', 'item_tags', 'items'],
    'one delete-stale per table',
  );
});

t.test('checkpoints: each ends the Write stream and awaits the plugin before the state is saved; no delete-stale for incremental tables', async (t) => {
  const dir = await tmpDir(t);
  const { address } = await servePlugin(t, RECORDER);
  const d: Dest = {
    name: 'rec',
    registry: 'grpc',
    path: address,
    writeMode: 'overwrite-delete-stale',
    pkMode: 'default',
    migrateMode: 'safe',
    record: path.join(dir, 'rec.jsonl'),
  };
  const src =
    'kind: source\nspec:\n  name: inc\n  path: test\n  destinations: [rec]\n' +
    '  backend_options: { table_name: cq_state, connection: "file://./state" }\n' +
    '  spec: { num_rows: 200, batch_rows: 50, incremental: true }\n';
  await writeFile(path.join(dir, 'c.yml'), src + destination(d));
  const r = await cli(['sync', 'c.yml', '--no-progress'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  const events = await recorded(d.record);
  t.equal(of(events, 'migrate_table').length, 1, 'one migrate_table');
  t.equal(
    of(events, 'insert').reduce((n, i) => n + i.rows.length, 0),
    200,
    'every row',
  );
  t.equal(of(events, 'write_end').length, 4, 'four checkpoints: four Write streams, each ended and answered');
  t.same(of(events, 'delete'), [], 'no delete-stale for an incremental table with a state backend');
  t.equal(events.at(-1)?.event, 'close');
  const saved = await readdir(path.join(dir, 'state'));
  t.ok(saved.length > 0, `state saved (${saved.join(', ')})`);
});

t.test('backpressure: a plugin that reads nothing holds back the sender; sends do not pile up in memory', async (t) => {
  const dir = await tmpDir(t);
  const { address } = await servePlugin(t, RECORDER);
  const { PluginConnection, v3 } = await import('../connectors/cloudquery-plugin/grpc-client.js');
  const { PluginWriteStream } = await import('../connectors/cloudquery-plugin/write-stream.js');
  const record = path.join(dir, 'rec.jsonl');
  const conn = await PluginConnection.open({ name: 'rec', address, role: 'destination' }, address);
  t.teardown(() => conn.close());
  await conn.init({ record, stall: true }, 'inv');
  const stream = new PluginWriteStream(conn);
  const mib = new Uint8Array(1 << 20);
  const total = 300;
  let done = 0;
  const sending = (async () => {
    for (let i = 0; i < total; i++) {
      await stream.send(new v3.Write.Request({ insert: new v3.Write.MessageInsert({ record: mib }) }));
      done++;
    }
  })();
  sending.catch(() => {});
  // wait until the sender makes no more progress (or has sent everything, which would be the failure)
  let last = -1;
  let still = 0;
  while (done < total && still < 10) {
    await new Promise((r) => setTimeout(r, 100));
    still = done === last ? still + 1 : 0;
    last = done;
  }
  t.same(of(await recorded(record), 'stalled').length, 1, 'the plugin took the stream and reads nothing');
  t.ok(done < 100, `${done} of ${total} 1 MiB messages taken while the plugin reads nothing`);
  stream.cancel();
});

t.test('a destination plugin’s warn and error log lines are counted into its own summary, as the CLI counts them', async (t) => {
  const dir = await tmpDir(t);
  const recorder = await executable(dir, 'recorder', RECORDER);
  const dest = (name: string, extra?: Record<string, string>): Dest => ({
    name,
    registry: 'local',
    path: recorder,
    writeMode: 'append',
    pkMode: 'default',
    migrateMode: 'safe',
    record: path.join(dir, `${name}.jsonl`),
    extra,
  });
  const src = 'kind: source\nspec:\n  name: demo\n  path: test\n  tables: ["*"]\n  destinations: [noisy, quiet]\n  spec: { num_rows: 3 }\n';
  await writeFile(
    path.join(dir, 'c.yml'),
    src + destination(dest('noisy', { log_warn: 'a warning from the destination', log_error: 'an error from the destination' })) + destination(dest('quiet')),
  );
  const r = await cli(['sync', 'c.yml', '--no-progress', '--summary-location', 's.json'], { cwd: dir });
  t.equal(r.code, 0, `error log lines alone do not fail the sync: ${r.stderr}`);
  t.match(r.stderr, /Resources: 3, Errors: 0, Warnings: 0,/, "the last line counts the source's, as the CLI's");
  const summaries = (await readFile(path.join(dir, 's.json'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.same(
    summaries.map((s) => [s.destination_name, s.destination_warnings, s.destination_errors, s.source_warnings, s.source_errors]),
    [
      ['noisy', 1, 1, 0, 0],
      ['quiet', 0, 0, 0, 0],
    ],
  );
  t.same((await recorded(path.join(dir, 'noisy.jsonl'))).filter((e) => e.event === 'insert').length, 1, 'the rows still reached it');
});
