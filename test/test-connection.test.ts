/** `cq-pipe test-connection` (CloudQuery's): exit 0 when every connector connects, else 1 naming which. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { cli } from './helpers/cli.js';
import { tmpDir } from './helpers/index.js';
import { freshDatabase, query } from './helpers/postgres.js';

const config = (src: string, dst: string) => `kind: source
spec: { name: shop, path: cloudquery/postgresql, version: v6.0.0, tables: ["*"], destinations: [pg, lake], spec: { connection_string: "${src}" } }
---
kind: destination
spec: { name: pg, path: cloudquery/postgresql, version: v8.0.0, spec: { connection_string: "${dst}" } }
---
kind: destination
spec: { name: lake, path: file, spec: { path: "./out/{{TABLE}}/{{UUID}}.{{FORMAT}}" } }
`;

t.test('every connector connects: exit 0, nothing written', async (t) => {
  const [src, dst] = [await freshDatabase(), await freshDatabase()];
  await query(src, 'CREATE TABLE items (id bigint primary key, name text)');
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'c.yml'), config(src, dst));
  const r = await cli(['test-connection', 'c.yml'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /source shop: connection ok/);
  t.match(r.stderr, /destination pg: connection ok/);
  t.match(r.stderr, /Connection test succeeded: 1 source\(s\), 2 destination\(s\)/);
  t.equal((await query(dst, "SELECT * FROM pg_tables WHERE schemaname = 'public'")).length, 0, 'no table created');
});

t.test('a destination that cannot connect: exit 1 naming it, the others still checked', async (t) => {
  const src = await freshDatabase();
  await query(src, 'CREATE TABLE items (id bigint primary key, name text)');
  const dir = await tmpDir(t);
  // a destination whose store refuses the connection at once (the built-in ones retry transient refusals first)
  await writeFile(
    path.join(dir, 'refusing.mjs'),
    `export default { kind: 'destination', name: 'refusing', configSchema: { type: 'object' },
  capabilities: { writeModes: ['append'], batch: { rows: 10, bytes: 1e6, timeoutMs: 1000 } },
  async create() { throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }); } };\n`,
  );
  const body = config(src, src).replace('path: cloudquery/postgresql, version: v8.0.0', 'path: ./refusing.mjs, write_mode: append');
  await writeFile(path.join(dir, 'c.yml'), body);
  const r = await cli(['test-connection', 'c.yml'], { cwd: dir });
  t.equal(r.code, 1, r.stderr);
  t.match(r.stderr, /source shop: connection ok/);
  t.match(r.stderr, /destination pg: cannot connect: connect ECONNREFUSED/);
  t.match(r.stderr, /destination lake: connection ok/);
  t.match(r.stderr, /Connection test failed: destination pg$/m);
});

t.test('a bad config is exit 2, as everywhere', async (t) => {
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'c.yml'), 'kind: source\nspec: { name: s, path: test, version: latest }\n');
  const r = await cli(['test-connection', 'c.yml'], { cwd: dir });
  t.equal(r.code, 2);
});

t.test('a source whose tables pattern matches nothing fails its check and leaves no connection open', async (t) => {
  const [src, dst] = [await freshDatabase(), await freshDatabase()];
  const dir = await tmpDir(t);
  await writeFile(path.join(dir, 'c.yml'), config(src, dst));
  const r = await cli(['test-connection', 'c.yml'], { cwd: dir });
  t.equal(r.code, 1, r.stderr);
  t.match(r.stderr, /source shop: cannot connect: .*matches no table/);
  t.match(r.stderr, /Connection test failed: source shop$/m);
});
