/** --shard n/t: three shards in parallel processes give the same rows as one unsharded run. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { tmpDir } from './helpers/index.js';
import { cli } from './helpers/cli.js';
import { items, writeNdjson } from './helpers/files.js';
import { freshDatabase, query } from './helpers/postgres.js';

const run = (args: string[]) => cli(args);

async function cfg(dir: string, name: string, url: string): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(
    p,
    `kind: source
spec:
  name: shop
  path: file
  destinations: [pg]
  deterministic_cq_id: true
  spec:
    tables:
      - { name: items, files: "${dir}/items-*.ndjson", primary_key: [id] }
      - { name: extra, files: "${dir}/extra-*.ndjson", primary_key: [id] }
---
kind: destination
spec: { name: pg, path: postgresql, spec: { connection_string: "${url}" } }
`,
  );
  return p;
}

t.test('3 shards in parallel = 1 unsharded run; shards write as <name>_<n>_<t>', async (t) => {
  const dir = await tmpDir(t);
  for (let f = 0; f < 7; f++) await writeNdjson(path.join(dir, `items-${f}.ndjson`), items(500, f * 500));
  for (let f = 0; f < 2; f++) await writeNdjson(path.join(dir, `extra-${f}.ndjson`), items(100, f * 100));
  const one = await freshDatabase();
  const sharded = await freshDatabase();
  const r1 = await run(['sync', await cfg(dir, 'one.yml', one), '--no-progress']);
  t.equal(r1.code, 0, r1.stderr);
  const c = await cfg(dir, 'sharded.yml', sharded);
  const shards = await Promise.all([1, 2, 3].map((n) => run(['sync', c, '--shard', `${n}/3`, '--no-progress'])));
  t.same(
    shards.map((s) => s.code),
    [0, 0, 0],
    shards.map((s) => s.stderr).join('\n'),
  );
  for (const table of ['items', 'extra']) {
    const q = `SELECT count(*)::text AS n, md5(string_agg(id::text || title || price::text || _cq_id::text, ',' ORDER BY id)) AS d FROM ${table}`;
    t.same(await query(sharded, q), await query(one, q), `${table}: same rows, values and _cq_id`);
  }
  const names = await query<{ s: string; n: string }>(sharded, 'SELECT _cq_source_name AS s, count(*)::text AS n FROM items GROUP BY 1 ORDER BY 1');
  t.same(
    names.map((x) => x.s),
    ['shop_1_3', 'shop_2_3', 'shop_3_3'],
    'every shard wrote its own files',
  );
  t.equal(
    names.reduce((n, x) => n + Number(x.n), 0),
    3500,
  );
  // a rerun of one shard deletes only its own stale rows
  const again = await run(['sync', c, '--shard', '2/3', '--no-progress']);
  t.equal(again.code, 0);
  const [n] = await query<{ n: string }>(sharded, 'SELECT count(*)::text AS n FROM items');
  t.equal(n!.n, '3500', "shards never delete each other's rows");
});
