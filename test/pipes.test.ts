/** Unix pipes: read | write equals sync; Singer in and out; ndjson; inspect; TTY and EPIPE behaviour. */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import t from 'tap';
import { readCommand } from '../bin/commands/read.js';
import { tmpDir } from './helpers/index.js';
import { CLI_SHELL, cliSpawn, shell } from './helpers/cli.js';
import { freshDatabase, query } from './helpers/postgres.js';

const sh = (cmd: string, env: NodeJS.ProcessEnv = {}) => shell(cmd, { env });
const cli = CLI_SHELL;

async function pgConfig(dir: string, url: string, name = 'c.yml', extra = ''): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(
    p,
    `kind: source
spec:
  name: demo
  path: test
  destinations: [pg]
  deterministic_cq_id: true
  spec: { num_tables: 2, num_rows: 3000, batch_rows: 700, preset: all-types }
${extra}---
kind: destination
spec: { name: pg, path: postgresql, write_mode: overwrite-delete-stale, spec: { connection_string: "${url}" } }
`,
  );
  return p;
}

/** table contents without the per-run sync time, as one digest per table */
async function digest(url: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const tbl of ['test_table_0', 'test_table_1']) {
    const [r] = await query<{ n: string; d: string }>(
      url,
      `SELECT count(*)::text AS n, md5(string_agg((to_jsonb(x) - '_cq_sync_time')::text, '|' ORDER BY id)) AS d FROM ${tbl} x`,
    );
    out[tbl] = `${r!.n}:${r!.d}`;
  }
  return out;
}

t.test('read | write gives the same destination contents as sync', async (t) => {
  const dir = await tmpDir(t);
  const a = await freshDatabase();
  const b = await freshDatabase();
  const viaSync = sh(`${cli} sync "${await pgConfig(dir, a, 'a.yml')}" --no-progress`);
  t.equal(viaSync.status, 0, viaSync.stderr);
  const cfgB = await pgConfig(dir, b, 'b.yml');
  const viaPipe = sh(`${cli} read "${cfgB}" | ${cli} write "${cfgB}"`);
  t.equal(viaPipe.status, 0, viaPipe.stderr);
  t.match(viaPipe.stderr, /Sync completed successfully\. Resources: 6000/);
  const [da, db] = [await digest(a), await digest(b)];
  t.same(db, da, 'same rows, same values, same _cq_id and _cq_source_name');
  t.equal(da.test_table_0!.split(':')[0], '3000');
  // through the ndjson pipe format too
  const c = await freshDatabase();
  const cfgC = await pgConfig(dir, c, 'c.yml');
  const viaNdjson = sh(`${cli} read "${cfgC}" --format ndjson | ${cli} write "${cfgC}"`);
  t.equal(viaNdjson.status, 0, viaNdjson.stderr);
  t.same(await digest(c), da, 'ndjson pipe format gives the same contents');
});

t.test('a failing read leaves no delete-stale: write sees no sync-end and exits 1', async (t) => {
  const dir = await tmpDir(t);
  const url = await freshDatabase();
  const cfg = await pgConfig(dir, url);
  t.equal(sh(`${cli} read "${cfg}" | ${cli} write "${cfg}"`).status, 0);
  // truncate the stream: the second run's rows stay, the first run's rows are not deleted
  const r = sh(`${cli} read "${cfg}" | head -c 20000 | ${cli} write "${cfg}"`);
  t.not(r.status, 0);
  t.match(r.stderr, /ended before its sync-end|not a valid cq-pipe Arrow stream/);
  const [n] = await query<{ n: string }>(url, 'SELECT count(*)::text AS n FROM test_table_0');
  t.equal(n!.n, '3000', 'nothing deleted');
});

t.test('Singer tap → write: SCHEMA/RECORD/STATE; state persisted after commit and echoed', async (t) => {
  const dir = await tmpDir(t);
  const url = await freshDatabase();
  const cfg = path.join(dir, 's.yml');
  await writeFile(
    cfg,
    `kind: source
spec:
  name: tap
  path: test
  destinations: [pg]
  backend_options: { table_name: st, connection: "file://${dir}/state" }
---
kind: destination
spec: { name: pg, path: postgresql, write_mode: overwrite, spec: { connection_string: "${url}" } }
`,
  );
  const lines = [
    {
      type: 'SCHEMA',
      stream: 'users',
      schema: { properties: { id: { type: 'integer' }, name: { type: ['string', 'null'] }, at: { type: 'string', format: 'date-time' } } },
      key_properties: ['id'],
    },
    ...Array.from({ length: 5 }, (_, i) => ({ type: 'RECORD', stream: 'users', record: { id: i, name: `u${i}`, at: '2024-01-01T00:00:00Z' } })),
    { type: 'STATE', value: { bookmarks: { users: 4 } } },
    { type: 'RECORD', stream: 'users', record: { id: 2, name: 'changed', at: '2024-01-02T00:00:00Z' } },
    { type: 'STATE', value: { bookmarks: { users: 5 } } },
  ];
  await writeFile(path.join(dir, 'tap.out'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const r = sh(`cat "${path.join(dir, 'tap.out')}" | ${cli} write "${cfg}" | tail -1`);
  t.equal(r.status, 0, r.stderr);
  t.same(JSON.parse(r.stdout), { bookmarks: { users: 5 } }, 'the last durable state on stdout');
  const rows = await query<{ id: string; name: string }>(url, 'SELECT id::text, name FROM users ORDER BY id');
  t.same(
    rows.map((x) => [x.id, x.name]),
    [
      ['0', 'u0'],
      ['1', 'u1'],
      ['2', 'changed'],
      ['3', 'u3'],
      ['4', 'u4'],
    ],
  );
  const pk = await query<{ col: string }>(
    url,
    'SELECT a.attname AS col FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = ' +
      "'users'::regclass AND i.indisprimary",
  );
  t.same(
    pk.map((x) => x.col),
    ['id'],
    'key_properties become the primary key',
  );
  const saved = JSON.parse(await readFile(path.join(dir, 'state', 'st.json'), 'utf8')) as Record<string, { value: string }>;
  t.same(JSON.parse(saved.singer_state!.value), { bookmarks: { users: 5 } });
});

t.test('read --format singer feeds Singer targets; inspect summarizes a stream', async (t) => {
  const dir = await tmpDir(t);
  const cfg = path.join(dir, 'x.yml');
  await writeFile(
    cfg,
    'kind: source\nspec: { name: demo, path: test, destinations: [m], spec: { num_rows: 1200, batch_rows: 500, incremental: true } }\n---\nkind: ' +
      'destination\nspec: { name: m, path: memory }\n',
  );
  const singer = sh(`${cli} read "${cfg}" --format singer`);
  t.equal(singer.status, 0, singer.stderr);
  const msgs = singer.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; value?: Record<string, string> });
  t.equal(msgs.filter((m) => m.type === 'SCHEMA').length, 1);
  t.equal(msgs.filter((m) => m.type === 'RECORD').length, 1200);
  t.equal(msgs.filter((m) => m.type === 'STATE').length, 3, 'one STATE per checkpoint');
  const inspect = sh(`${cli} read "${cfg}" | ${cli} inspect`);
  t.equal(inspect.status, 0, inspect.stderr);
  t.match(inspect.stdout, /format: arrow/);
  t.match(inspect.stdout, /table +test_table_0/);
  t.match(inspect.stdout, /test_table_0 +1200 rows in 3 batches/);
  t.match(inspect.stdout, /checkpoint +test_table_0:1200/);
});

t.test('no binary to a terminal; a closed pipe ends quietly', async (t) => {
  const dir = await tmpDir(t);
  const cfg = path.join(dir, 'x.yml');
  await writeFile(
    cfg,
    'kind: source\nspec: { name: demo, path: test, destinations: [m], spec: { num_rows: 200000 } }\n---\nkind: destination\nspec: { name: m, path: memory }\n',
  );
  const tty = Object.assign(new PassThrough(), { isTTY: true });
  const code = await readCommand([cfg], { 'log-level': 'error' }, tty);
  t.equal(code, 2, 'usage error');
  t.equal(tty.read(), null, 'nothing written to the terminal');
  const head = sh(`${cli} read "${cfg}" | head -c 1000 > /dev/null; echo "\${PIPESTATUS[0]}"`);
  t.equal(head.stdout.trim(), '0', 'EPIPE exits 0');
  t.notMatch(head.stderr, /EPIPE|Error/);
});

t.test('read | transform | write equals sync with the transformer on the destination', async (t) => {
  const dir = await tmpDir(t);
  const withT = await freshDatabase();
  const piped = await freshDatabase();
  const src = `kind: source
spec:
  name: demo
  path: test
  destinations: [pg]
  deterministic_cq_id: true
  spec: { num_tables: 1, num_rows: 2000, batch_rows: 500, preset: all-types }
`;
  const transformer = `---
kind: transformer
spec:
  name: shout
  path: basic
  spec:
    transformations:
      - { kind: uppercase, tables: ["*"], columns: [utf8_col] }
      - { kind: remove_columns, tables: ["*"], columns: [binary_col] }
`;
  const dest = (url: string, transformers: string) => `---
kind: destination
spec: { name: pg, path: postgresql, transformers: [${transformers}], spec: { connection_string: "${url}" } }
`;
  await writeFile(path.join(dir, 'a.yml'), src + transformer + dest(withT, 'shout'));
  await writeFile(path.join(dir, 'b.yml'), src + transformer + dest(piped, ''));
  const s = sh(`${cli} sync "${path.join(dir, 'a.yml')}" --no-progress`);
  t.equal(s.status, 0, s.stderr);
  const p = sh(
    `${cli} read "${path.join(dir, 'b.yml')}" | ${cli} transform "${path.join(dir, 'b.yml')}" --transformer shout | ${cli} write "${path.join(dir, 'b.yml')}"`,
  );
  t.equal(p.status, 0, p.stderr);
  const q =
    `SELECT count(*)::text AS n, md5(string_agg((to_jsonb(x) - '_cq_sync_time')::text, '|' ORDER BY id)) AS d, bool_and(utf8_col = ` +
    `upper(utf8_col) OR utf8_col IS NULL) AS up FROM test_table_0 x`;
  const [a] = await query(withT, q);
  t.same(await query(piped, q), [a]);
  t.match(a, { n: '2000', up: true });
  const cols = await query<{ c: string }>(
    piped,
    "SELECT column_name AS c FROM information_schema.columns WHERE table_name = 'test_table_0' AND column_name = 'binary_col'",
  );
  t.equal(cols.length, 0, 'the removed column never reached the table');
  // a bare module path
  await writeFile(
    path.join(dir, 'keep-two.mjs'),
    'export default async function* (messages) { for await (const m of messages) yield m.kind === "insert" ? m.batch.slice(0, 2) : m; }',
  );
  const inspect = sh(`${cli} read "${path.join(dir, 'b.yml')}" | ${cli} transform "${path.join(dir, 'keep-two.mjs')}" | ${cli} inspect`);
  t.equal(inspect.status, 0, inspect.stderr);
  t.match(inspect.stdout, /test_table_0 +8 rows in 4 batches/);
});

t.test('SIGTERM to write: exit 143, the last committed checkpoint kept, never ahead of the rows', async (t) => {
  const dir = await tmpDir(t);
  const url = await freshDatabase();
  const cfg = path.join(dir, 'sig.yml');
  await writeFile(
    cfg,
    `kind: source
spec:
  name: demo
  path: test
  destinations: [pg]
  backend_options: { table_name: st, connection: "file://${dir}/state" }
  spec: { num_rows: 400000, batch_rows: 2000, preset: all-types, incremental: true }
---
kind: destination
spec: { name: pg, path: postgresql, write_mode: overwrite, spec: { connection_string: "${url}", batch_size: 2000 } }
`,
  );
  const { child: reader } = cliSpawn(['read', cfg, '--log-level', 'error'], { collectStdout: false });
  const { child: writer, done } = cliSpawn(['write', cfg, '--log-level', 'error'], { keepStdinOpen: true });
  reader.stdout!.pipe(writer.stdin!);
  writer.stdin!.on('error', () => {});
  const exited = done.then((r) => r.code);
  const count = async () => Number((await query<{ n: string }>(url, 'SELECT count(*)::text AS n FROM test_table_0').catch(() => [{ n: '0' }]))[0]!.n);
  while ((await count()) < 20000) await new Promise((r) => setTimeout(r, 20));
  writer.kill('SIGTERM');
  t.equal(await exited, 143, 'exit code 143');
  reader.kill('SIGKILL');
  const saved = JSON.parse(await readFile(path.join(dir, 'state', 'st.json'), 'utf8')) as Record<string, { value: string }>;
  const cursorRow = Math.round((Date.parse(saved.test_table_0!.value) - Date.UTC(2024, 0, 1)) / 1000);
  const [c] = await query<{ n: string }>(url, 'SELECT count(*)::text AS n FROM test_table_0 WHERE id <= $1', [cursorRow]);
  t.ok(cursorRow >= 19999, `a checkpoint was kept (row ${cursorRow})`);
  t.equal(Number(c!.n), cursorRow + 1, 'every row up to the kept cursor is committed');
  t.ok(cursorRow < 399999, 'stopped before the end');
});

t.test('delete-record round-trips through both pipe formats with exact values; NDJSON types a value by its table', async (t) => {
  const { encodeMessage, decodeArrowStream } = await import('../lib/pipe/arrow-stream.js');
  const { encodeNdjson, decodeNdjson } = await import('../lib/pipe/ndjson-stream.js');
  const { predicateValue } = await import('./helpers/delete-record-source.js');
  const { batchToJsonObjects } = await import('../lib/arrow-json.js');
  const { typeName } = await import('../lib/types.js');
  const { defineTable } = await import('../lib/schema.js');
  type Msg = import('../lib/messages.js').DeleteRecordMessage;
  const values: [string, unknown][] = [
    ['int64', 9007199254740993n],
    ['uint64', 18446744073709551615n],
    ['decimal(38,10)', '1234567890123456789012345678.0123456789'],
    ['timestamp', '1969-12-31T23:59:59.999999Z'],
    ['uuid', '0190b6b2-1c2d-7e3f-8a4b-5c6d7e8f9a0b'],
    ['json', { a: [1, 'x', null], b: { c: 9007199254740993n } }],
    ['binary', Buffer.from([0, 255, 10]).toString('base64')],
    ['date32', '2024-02-29'],
    ['utf8', 'a, "quoted"\nline'],
    ['bool', false],
    ['float64', 0.1],
    ['utf8', null],
  ];
  const msg: Msg = {
    kind: 'delete-record',
    table: 'items',
    where: [
      { grouping: 'or', predicates: values.map(([type, v], i) => ({ operator: 'eq' as const, column: `c${i}`, value: predicateValue(type, v) })) },
      { grouping: 'and', predicates: [] },
    ],
    relations: [{ table: 'items_child', parent: 'items' }],
  };
  const shape = (m: Msg) => ({
    table: m.table,
    relations: m.relations,
    where: m.where.map((g) => ({
      grouping: g.grouping,
      predicates: g.predicates.map((p) => ({
        column: p.column,
        rows: p.value.numRows,
        type: typeName(p.value.schema.fields[0]!),
        value: Object.values(batchToJsonObjects(p.value)[0]!)[0],
      })),
    })),
  });
  const want = shape(msg);
  t.equal(want.where[0]!.predicates[0]!.value, '9007199254740993', 'int64 past 2^53 rendered exactly');

  const fromArrow: unknown[] = [];
  for await (const m of decodeArrowStream(Readable.from([encodeMessage(msg)!]))) fromArrow.push(m);
  t.equal(fromArrow.length, 1);
  t.same(shape(fromArrow[0] as Msg), want, 'arrow: the same message, value for value');

  const fromNdjson: unknown[] = [];
  for await (const m of decodeNdjson(Readable.from([encodeNdjson(msg)!]))) fromNdjson.push(m);
  t.same(shape(fromNdjson[0] as Msg), want, 'ndjson: the same message, value for value');

  // a value without "type" takes its column's type from the table's migrate-table
  const table = defineTable({
    name: 'items',
    columns: [
      { name: 'big', type: 'int64' },
      { name: 'u', type: 'uuid' },
    ],
  });
  const lines = [
    encodeNdjson({ kind: 'migrate-table', table })!,
    '{"kind":"delete-record","table":"items","where":[{"grouping":"and","predicates":[{"operator":"eq","column":"big","value":9007199254740993},' +
      '{"operator":"eq","column":"u","value":"0190b6b2-1c2d-7e3f-8a4b-5c6d7e8f9a0b"}]}]}\n',
  ];
  const typed: unknown[] = [];
  for await (const m of decodeNdjson(Readable.from(lines))) typed.push(m);
  const d = shape(typed[1] as Msg);
  t.same(
    d.where[0]!.predicates.map((p) => [p.type, p.value]),
    [
      ['int64', '9007199254740993'],
      ['uuid', '0190b6b2-1c2d-7e3f-8a4b-5c6d7e8f9a0b'],
    ],
  );
  t.same(d.relations, [], 'relations default to none');

  // bad input names the line and what is wrong
  const bad = async (text: string) => {
    for await (const _ of decodeNdjson(Readable.from([encodeNdjson({ kind: 'migrate-table', table })!, text]))) {
    }
  };
  await t.rejects(bad('{"kind":"delete-record","table":"items","wher":[]}\n'), {
    code: 'CQ_ERR_SOURCE_DATA',
    message: /table "items": "where" must be an array of predicate groups \(\[\] deletes every row of the table\)/,
    context: { line: 2 },
  });
  await t.rejects(bad('{"kind":"delete-record","table":"items","where":[{"grouping":"xor","predicates":[]}]}\n'), {
    code: 'CQ_ERR_SOURCE_DATA',
    message: /where\[0\]\.grouping must be "and" or "or"/,
    context: { line: 2 },
  });
  await t.rejects(bad('{"kind":"delete-record","table":"items","where":[{"grouping":"and","predicates":[{"operator":"eq","column":"nope","value":1}]}]}\n'), {
    code: 'CQ_ERR_SOURCE_DATA',
    message: /column "nope": the column is not in the table's migrate-table/,
  });
  await t.rejects(bad('{"kind":"delete-record","table":"items","where":[{"grouping":"and","predicates":[{"operator":"eq","column":"big","value":"x1"}]}]}\n'), {
    code: 'CQ_ERR_SOURCE_DATA',
    message: /column "big"/,
  });
});
