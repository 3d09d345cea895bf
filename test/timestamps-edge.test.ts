/**
 * Timestamps at the edges (issue 13, item 6): years 0000–0099 stay themselves, dates that do not
 * exist fail, µs stay exact past 2255 (the fast path falls back), and the text round-trips.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { config, destSpec, duckdb, sourceSpec, tmpDir } from './helpers/index.js';
import { runSync } from '../lib/pipeline.js';
import { isoToMicrosNumber, microsToIso, toDays, toMicros } from '../lib/time.js';

const EDGES: [string, bigint][] = [
  ['0001-01-01T00:00:00.000000Z', -62135596800000000n],
  ['0099-12-31T23:59:59.500000Z', -59011459200500000n],
  ['1969-12-31T23:59:59.999999Z', -1n],
  ['2024-02-29T12:00:00.123456Z', 1709208000123456n],
  ['2300-01-01T00:00:00.000001Z', 10413792000000001n],
  ['9999-12-31T23:59:59.999999Z', 253402300799999999n],
];

t.test('toMicros / microsToIso are exact and inverse at the edges', async (t) => {
  for (const [text, us] of EDGES) {
    t.equal(toMicros(text), us, text);
    t.equal(microsToIso(us), text, `${us} formats back`);
  }
  t.equal(toMicros('0001-01-01T01:00:00+01:00'), -62135596800000000n, 'offsets apply in year 1');
  t.equal(toMicros('2024-01-01 00:00:00.1234567'), 1704067200123456n, 'digits past µs are cut');
  t.equal(toMicros('infinity'), 0x7fffffffffffffffn);
  t.equal(microsToIso(-0x7fffffffffffffffn), '-infinity');
  for (const bad of ['2024-02-30T00:00:00Z', '2023-02-29', '2024-04-31 00:00', '2024-01-01T24:00:00Z', '2024-13-01T00:00:00Z', '2024-01-01T00:00:00+25:00']) {
    t.throws(() => toMicros(bad), { code: 'CQ_ERR_SOURCE_DATA' }, `${bad} fails`);
  }
  t.equal(toDays('0001-01-01'), -719162);
  t.ok(Number.isNaN(toDays('2024-02-30')), '2024-02-30 is no date');
});

t.test('the fast path is exact where it answers and declines elsewhere', async (t) => {
  t.equal(isoToMicrosNumber('2024-02-29T12:00:00.123456Z'), 1709208000123456);
  t.equal(isoToMicrosNumber('2255-06-01T00:00:00Z'), 9006768000000000, 'still exact in 2255');
  for (const s of ['0001-01-01T00:00:00Z', '0099-12-31T23:59:59Z', '2300-01-01T00:00:00.000001Z', '9999-12-31T23:59:59.999999Z', '2024-02-30T00:00:00Z'])
    t.ok(Number.isNaN(isoToMicrosNumber(s)), `${s}: falls back`);
  // across its range the fast path agrees with the exact parser
  for (let y = 1690; y <= 2250; y += 7) {
    const s = `${y}-03-01T12:34:56.789012Z`;
    t.equal(BigInt(isoToMicrosNumber(s)), toMicros(s), s);
  }
});

t.test('NDJSON timestamps and dates at the edges through the file source, read back by DuckDB; a nonexistent date fails naming the column', async (t) => {
  const dir = await tmpDir(t);
  const lines = EDGES.map(([ts], i) => JSON.stringify({ id: i, ts, d: ts.slice(0, 10) }));
  await writeFile(path.join(dir, 'ev.ndjson'), lines.join('\n') + '\n');
  const columns = [
    { name: 'id', type: 'int64' },
    { name: 'ts', type: 'timestamp' },
    { name: 'd', type: 'date32' },
  ];
  const src = sourceSpec({ path: 'file', spec: { tables: [{ name: 'ev', files: path.join(dir, 'ev.ndjson'), columns }] } });
  const dst = destSpec({ path: 'file', write_mode: 'append', spec: { path: `${dir}/out/{{TABLE}}/{{UUID}}.{{FORMAT}}`, format: 'parquet' } });
  const res = await runSync({ config: config([src], [dst]) });
  t.equal(res.status, 'succeeded', res.errors.map((e) => e.message).join('; '));
  const rows = await duckdb(
    `SET TimeZone = 'UTC'; SELECT strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ') AS ts, d::VARCHAR AS d FROM read_parquet('${dir}/out/ev/*.parquet') ORDER BY id`,
  );
  t.same(
    rows.map((r) => r.ts),
    EDGES.map(([ts]) => ts),
  );
  t.same(
    rows.map((r) => r.d),
    EDGES.map(([ts]) => ts.slice(0, 10)),
  );

  await writeFile(
    path.join(dir, 'ev.ndjson'),
    '{"id":1,"ts":"2024-02-28T00:00:00Z","d":"2024-02-28"}\n{"id":2,"ts":"2024-02-30T00:00:00Z","d":"2024-02-28"}\n',
  );
  const bad = await runSync({ config: config([src], [dst]) });
  t.equal(bad.status, 'failed');
  const [e] = bad.errors;
  t.equal(e?.code, 'CQ_ERR_SOURCE_DATA');
  t.equal(e?.context.column, 'ts');
  t.equal(e?.context.line, 2);
  t.match(e?.message, /"2024-02-30T00:00:00Z" is not an ISO-8601 timestamp/);
});

t.test('the fast ISO-8601 reader gives toMicros’s value for every offset form toMicros takes (±HH, ±HHMM, ±HH:MM)', async (t) => {
  const bases = ['2024-05-14T14:13:22', '2024-05-14 14:13:22.407268', '1969-12-31T23:59:59.5', '2024-02-29T00:00:00.000001'];
  const zones = ['Z', 'z', '+00', '-00', '+05', '-08', '+0530', '-0945', '+05:30', '-09:45', '+23:59', '+2359', '+23'];
  let same = 0;
  for (const b of bases)
    for (const z of zones) {
      const s = b + z;
      if (isoToMicrosNumber(s) === Number(toMicros(s))) same++;
      else t.fail(`${s}: ${isoToMicrosNumber(s)} against ${toMicros(s)}`);
    }
  t.equal(same, bases.length * zones.length, 'every string the same µs');
  for (const bad of ['2024-05-14T14:13:22+24', '2024-05-14T14:13:22+0560', '2024-05-14T14:13:22+5', '2024-05-14T14:13:22+05:3', '2024-05-14T14:13:22+053'])
    t.ok(Number.isNaN(isoToMicrosNumber(bad)), `${bad}: left to toMicros`);
});
