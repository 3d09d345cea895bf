/**
 * Integers beyond 2^53 (issue 13, item 8): NDJSON, CSV and Singer keep every int64 exactly, CSV infers
 * int64 (not text) for them, and numbers a double cannot hold never become a rounded double.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type * as A from 'apache-arrow';
import t from 'tap';
import { config, destSpec, duckdb, sourceSpec, tmpDir } from './helpers/index.js';
import { runSync } from '../lib/pipeline.js';
import { inferColumns } from '../lib/infer.js';
import { parseJsonExact, stringifyExact } from '../lib/json-exact.js';
import { decodeSinger } from '../lib/pipe/singer.js';

const BIG = ['9007199254740993', '-9223372036854775808', '9223372036854775807', '1234567890123456789'];

t.test('parseJsonExact: unsafe integers as bigint, everything else as JSON.parse', async (t) => {
  t.same(parseJsonExact('{"a":9007199254740993,"b":"9007199254740993","c":[1,-9223372036854775808],"d":0.30000000000000004}'), {
    a: 9007199254740993n,
    b: '9007199254740993',
    c: [1, -9223372036854775808n],
    d: 0.30000000000000004,
  });
  t.equal((parseJsonExact('{"a":9007199254740991}') as { a: unknown }).a, 9007199254740991, 'a safe integer stays a number');
  t.same(parseJsonExact('{"x":NaN,"y":-Infinity,"s":"NaN"}'), { x: NaN, y: -Infinity, s: 'NaN' });
  t.throws(() => parseJsonExact('{"a": 1,'), SyntaxError);
  t.equal(stringifyExact({ a: 9007199254740993n, b: [2n] }), '{"a":9007199254740993,"b":[2]}');
});

t.test('CSV inference: int64 beyond 2^53, decimal(38,0) beyond int64, text for what a double cannot hold', async (t) => {
  const cols = inferColumns(
    [
      { a: '9007199254740993', b: '18446744073709551615', c: '-999999999999999.999', d: '0.1', e: '1e300', f: '1' },
      { a: '1', b: '2', c: '1.5', d: '2', e: '2.5', f: '123456789012345678901234567890123456789' },
    ],
    true,
  );
  t.same(
    cols.map((c) => `${c.name}:${c.type}`),
    ['a:int64', 'b:decimal(38,0)', 'c:utf8', 'd:float64', 'e:float64', 'f:utf8'],
  );
  t.same(
    inferColumns([{ a: 9007199254740993n }, { a: 1 }]).map((c) => c.type),
    ['int64'],
  );
});

t.test('NDJSON, CSV and Singer into int64 columns keep every value exactly (read back by DuckDB)', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'ids.ndjson'), BIG.map((v, i) => `{"id":${i},"snowflake":${v},"j":{"n":${v}}}`).join('\n') + '\n');
  await writeFile(path.join(dir, 'ids.csv'), `id,snowflake\n${BIG.map((v, i) => `${i},${v}`).join('\n')}\n`);
  const src = sourceSpec({
    path: 'file',
    spec: {
      tables: [
        { name: 'nd', files: path.join(dir, 'ids.ndjson') },
        { name: 'cs', files: path.join(dir, 'ids.csv') },
      ],
    },
  });
  const dst = destSpec({ path: 'file', write_mode: 'append', spec: { path: `${dir}/out/{{TABLE}}/{{UUID}}.{{FORMAT}}`, format: 'parquet' } });
  const res = await runSync({ config: config([src], [dst]) });
  t.equal(res.status, 'succeeded', res.errors.map((e) => e.message).join('; '));
  for (const table of ['nd', 'cs']) {
    const rows = await duckdb(`SELECT typeof(snowflake) AS t, snowflake::VARCHAR AS v FROM read_parquet('${dir}/out/${table}/*.parquet') ORDER BY id`);
    t.same(
      rows.map((r) => r.v),
      BIG,
      `${table}: every int64 exact`,
    );
    t.equal(rows[0]!.t, 'BIGINT', `${table}: inferred int64`);
  }
  const [j] = await duckdb(`SELECT j::VARCHAR AS j FROM read_parquet('${dir}/out/nd/*.parquet') ORDER BY id LIMIT 1`);
  t.equal(j!.j, '{"n":9007199254740993}', 'a json column keeps the exact number');

  const singer = [
    JSON.stringify({ type: 'SCHEMA', stream: 'ids', key_properties: ['id'], schema: { properties: { id: { type: 'integer' } } } }),
    ...BIG.map((v) => `{"type":"RECORD","stream":"ids","record":{"id":${v}}}`),
  ].join('\n');
  const ids: string[] = [];
  for await (const m of decodeSinger(Readable.from([singer]))) {
    if (m.kind === 'insert') ids.push(...[...(m.batch.getChild('id') as A.Vector)].map(String));
  }
  t.same(ids, BIG, 'Singer RECORDs keep every int64');
});
