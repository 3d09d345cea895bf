/**
 * `obfuscate_columns_except` (docs/transformers.md) through the CLI: an NDJSON table synced into Parquet
 * and read back with DuckDB, in each `unmatched` mode, and the refusals CloudQuery makes.
 */
import { createHash } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as A from 'apache-arrow';
import t, { type Test } from 'tap';
import { duckdb, tmpDir } from './helpers/index.js';
import { cliSync } from './helpers/cli.js';
import { goMarshal, parseGoJson } from '../transforms/basic/go-json.js';
import { KINDS } from '../transforms/basic/kinds.js';
import type { Fail } from '../transforms/basic/transformation.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const mark = (s: string) => `Redacted by CloudQuery | ${sha(s)}`;

const ROWS = [
  {
    uid: 'u1',
    name: 'pod-a',
    secret: 's<1',
    count: 7,
    blob: 'aGk=', // "hi"
    created: '2024-01-02T03:04:05Z',
    meta: { b: 1, a: 'x' },
    spec: { z: 2, containers: [{ image: 'nginx', env: [{ name: 'A', value: 'a<b' }], tag: null }, { image: 'redis' }] },
  },
  { uid: 'u2', name: null, secret: 's2', count: 8, blob: null, created: null, meta: null, spec: 5 },
];

function config(transformation: string): string {
  return `kind: source
spec:
  name: k8s
  path: file
  destinations: [lake]
  spec:
    tables:
      - name: pods
        files: ./pods.ndjson
        primary_key: [uid]
        columns:
          - { name: uid, type: utf8 }
          - { name: name, type: utf8 }
          - { name: secret, type: utf8 }
          - { name: count, type: int64 }
          - { name: blob, type: binary }
          - { name: created, type: timestamp }
          - { name: meta, type: json }
          - { name: spec, type: json }
---
kind: destination
spec:
  name: lake
  path: file
  transformers: [allow]
  spec: { path: "./out/{{TABLE}}/{{UUID}}.{{FORMAT}}", format: parquet }
---
kind: transformer
spec:
  name: allow
  path: cloudquery/basic
  spec:
    transformations:
      - ${transformation}
`;
}

async function sync(t: Test, transformation: string) {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'pods.ndjson'), `${ROWS.map((r) => JSON.stringify(r)).join('\n')}\n`);
  await writeFile(path.join(dir, 'cfg.yml'), config(transformation));
  const r = cliSync(['sync', 'cfg.yml'], { cwd: dir });
  const written = await readdir(path.join(dir, 'out')).catch(() => []);
  const rows = async () => {
    const glob = path.join(dir, 'out/pods/*.parquet');
    const cols = (await duckdb(`DESCRIBE SELECT * FROM read_parquet('${glob}')`)).map((x) => x.column_name);
    const data = await duckdb(`SELECT * EXCLUDE (_cq_sync_time, _cq_source_name, _cq_id, _cq_parent_id) FROM read_parquet('${glob}') ORDER BY uid`);
    return { cols, data: data.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString() : v]))) };
  };
  return { ...r, written, rows };
}

const RESERVED = ['_cq_sync_time', '_cq_source_name', '_cq_id', '_cq_parent_id'];

t.test('unmatched: drop (the default) keeps the allowlist and _cq_* columns; JSON keeps only allowlisted paths, keys sorted', async (t) => {
  const r = await sync(t, '{ kind: obfuscate_columns_except, tables: [pods], columns: [uid, name, "spec.containers.#.image"] }');
  t.equal(r.status, 0, r.stderr);
  const { cols, data } = await r.rows();
  t.same(cols, [...RESERVED, 'uid', 'name', 'spec'], 'secret, count, blob, created and meta are dropped');
  t.same(data, [
    { uid: 'u1', name: 'pod-a', spec: '{"containers":[{"image":"nginx"},{"image":"redis"}]}' },
    { uid: 'u2', name: null, spec: 'null' },
  ]);
});

t.test('unmatched: collapse puts one marker per object or array; top-level text, binary and JSON columns are redacted whole', async (t) => {
  const r = await sync(t, '{ kind: obfuscate_columns_except, columns: [uid, "spec.containers.#.image"], unmatched: collapse }');
  t.equal(r.status, 0, r.stderr);
  const { cols, data } = await r.rows();
  t.same(cols, [...RESERVED, 'uid', 'name', 'secret', 'blob', 'meta', 'spec'], 'count (int64) and created (timestamp) are dropped');
  const env = mark('[{"name":"A","value":"a\\u003cb"}]');
  t.same(data, [
    {
      uid: 'u1',
      name: mark('pod-a'),
      secret: mark('s<1'),
      blob: mark('hi'),
      meta: `{"redacted_by_cloudquery":"${sha('{"b":1,"a":"x"}')}"}`,
      spec: `{"containers":[{"env":"${env}","image":"nginx","tag":null},{"image":"redis"}],"z":"${mark('2')}"}`,
    },
    { uid: 'u2', name: null, secret: mark('s2'), blob: null, meta: null, spec: `"${mark('5')}"` },
  ]);
});

t.test('unmatched: redact puts one marker per value (JSON text of the value, HTML-escaped as Go marshals it)', async (t) => {
  const r = await sync(t, '{ kind: obfuscate_columns_except, columns: [uid, "spec.containers.#.image"], unmatched: redact }');
  t.equal(r.status, 0, r.stderr);
  const { data } = await r.rows();
  const env = `[{"name":"${mark('"A"')}","value":"${mark('"a\\u003cb"')}"}]`;
  t.equal(data[0]!.spec, `{"containers":[{"env":${env},"image":"nginx","tag":null},{"image":"redis"}],"z":"${mark('2')}"}`);
  t.equal(data[1]!.spec, `"${mark('5')}"`);
  t.equal(data[0]!.secret, mark('s<1'));
});

t.test('include_sha: false gives the bare marker; an allowlisted primary key may then stay', async (t) => {
  const r = await sync(t, '{ kind: obfuscate_columns_except, columns: [uid], unmatched: redact, include_sha: false }');
  t.equal(r.status, 0, r.stderr);
  const { data } = await r.rows();
  t.same(data[0], {
    uid: 'u1',
    name: 'Redacted by CloudQuery',
    secret: 'Redacted by CloudQuery',
    blob: 'Redacted by CloudQuery',
    meta: '{"redacted_by_cloudquery":"Redacted by CloudQuery"}',
    spec: '{"redacted_by_cloudquery":"Redacted by CloudQuery"}',
  });
});

t.test('a primary key off the allowlist is redacted to distinct hashes under redact with include_sha', async (t) => {
  const r = await sync(t, '{ kind: obfuscate_columns_except, columns: [name], unmatched: redact }');
  t.equal(r.status, 0, r.stderr);
  const { data } = await r.rows();
  t.same(
    data.map((x) => x.uid),
    [mark('u1'), mark('u2')].sort(),
  );
});

t.test('refusals: a primary key dropped or collapsed to one value, an unknown column, a path into a non-JSON column, a bad mode', async (t) => {
  const cases: [string, RegExp][] = [
    ['{ kind: obfuscate_columns_except, columns: [name] }', /primary-key column "uid" is not on the allowlist; with unmatched=drop/],
    [
      '{ kind: obfuscate_columns_except, columns: [name], unmatched: collapse, include_sha: false }',
      /primary-key column "uid" is not on the allowlist; with include_sha=false/,
    ],
    ['{ kind: obfuscate_columns_except, columns: [uid, nope, zzz.a, meta.a] }', /allowlist references unknown column\(s\): nope, zzz/],
    [
      '{ kind: obfuscate_columns_except, columns: [uid, name.first] }',
      /column "name" is referenced with a nested path in the allowlist but is not a JSON column/,
    ],
    ['{ kind: obfuscate_columns_except, columns: [uid], unmatched: hide }', /spec\.spec\.transformations\[0\]\.unmatched/],
    ['{ kind: obfuscate_columns_except, columns: [uid], value: x }', /unknown key "value"/],
  ];
  for (const [transformation, message] of cases) {
    const r = await sync(t, transformation);
    t.equal(r.status, 2, transformation);
    t.match(r.stderr, message, transformation);
    t.same(r.written, [], 'nothing written');
  }
});

t.test('Go JSON: numbers keep their text, keys sort by code point, HTML escaped only when marshalling for a hash', async (t) => {
  const v = parseGoJson('{"b":1.50,"a":[1e5,-0],"\u{1F600}":"<&>","\uFFFF":true} trailing');
  t.equal(goMarshal(v, false), '{"a":[1e5,-0],"b":1.50,"\uFFFF":true,"\u{1F600}":"<&>"}');
  t.equal(goMarshal(v, true), '{"a":[1e5,-0],"b":1.50,"\uFFFF":true,"\u{1F600}":"\\u003c\\u0026\\u003e"}');
  t.throws(() => parseGoJson('12x'));
  t.throws(() => parseGoJson('{"a":}'));
  t.equal(goMarshal(parseGoJson('"\\ud800\\u2028"'), false), '"\uFFFD\\u2028"');
});

t.test('an allowlist that would leave no column is refused (only reachable without _cq_* columns, e.g. an empty list from code)', async (t) => {
  const schema = new A.Schema([new A.Field('count', new A.Int64(), true)], new Map([['cq:table_name', 'counts']]));
  const fail: Fail = (_s, message) => {
    throw new Error(message);
  };
  const compile = KINDS.obfuscate_columns_except.compile({ kind: 'obfuscate_columns_except', tables: ['*'], columns: [], unmatched: 'redact' }, fail);
  t.throws(() => compile(schema), /obfuscate_columns_except would drop every column; allowlist at least one column/);
});
